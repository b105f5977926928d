package admin

import (
	"encoding/csv"
	"strings"
	"testing"
)

// FuzzCSVCell checks csvCell on any text: a CSV reader gets the value
// back with only apostrophes added, and no formula character starts the
// value or follows a cell break.
func FuzzCSVCell(f *testing.F) {
	for _, s := range []string{"", "Bob", "=1+1", "Bob;=cmd|' /C calc'!A0;", "a\t-b", " @x", "\"q\",+", "x\r\n=y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		enc := csvCell(v)
		rows, err := csv.NewReader(strings.NewReader(enc + "\n")).ReadAll()
		if err != nil {
			t.Fatalf("%q encodes as %q, unreadable: %v", v, enc, err)
		}
		got := strings.Join(rows[0], ",")
		// csv.Reader turns \r\n inside a quoted field into \n.
		want := strings.ReplaceAll(v, "\r\n", "\n")
		if strings.ReplaceAll(got, "'", "") != strings.ReplaceAll(want, "'", "") {
			t.Fatalf("%q reads back as %q", v, got)
		}
		start := true
		for i := 1; i < len(enc)-1; i++ {
			c := enc[i]
			if start && strings.IndexByte(formulaStarts, c) >= 0 && enc[i-1] != '\'' {
				t.Fatalf("%q: formula character at %d of %q", v, i, enc)
			}
			start = strings.IndexByte(cellBreaks, c) >= 0 || (start && c == ' ')
		}
	})
}
