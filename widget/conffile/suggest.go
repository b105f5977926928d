package conffile

import (
	"fmt"
	"strings"
)

// DidYouMean returns ` (did you mean "X"?)` for the name of known closest
// to name, when it is close enough to be a typo of it (a letter or two
// off, a different case), else "".
func DidYouMean(name string, known []string) string {
	if s := Nearest(name, known); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// Nearest returns the name of known closest to name by edit distance,
// ignoring case, or "" when none is within about a third of its length.
func Nearest(name string, known []string) string {
	best, bestDist := "", 0
	lower := strings.ToLower(name)
	for _, k := range known {
		if k == name {
			continue
		}
		d := distance(lower, strings.ToLower(k))
		limit := max(1, len([]rune(k))/3)
		if d <= limit && (best == "" || d < bestDist) {
			best, bestDist = k, d
		}
	}
	return best
}

// distance is the edit distance of a and b in characters, a swap of two
// neighbours counting as one edit (optimal string alignment).
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
