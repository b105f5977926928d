package identity

import (
	"strings"
	"sync"
	"testing"
)

func TestNewVisitorID(t *testing.T) {
	t.Run("Valid", func(t *testing.T) {
		id := NewVisitorID()
		if !ValidVisitorID(id) {
			t.Fatalf("ValidVisitorID(%q) = false, want true", id)
		}
	})

	t.Run("TimeOrdered", func(t *testing.T) {
		// IDs from different milliseconds sort by time; within one
		// millisecond the order is random, so compare only the time part.
		a := NewVisitorID()
		b := NewVisitorID()
		if got, want := a[:10] <= b[:10], true; got != want {
			t.Fatalf("time part of %q after %q", a, b)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		const n = 1000
		var mu sync.Mutex
		seen := make(map[string]bool, n)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range n / 8 {
					id := NewVisitorID()
					mu.Lock()
					if seen[id] {
						t.Errorf("duplicate ID %q", id)
					}
					seen[id] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	})
}

func TestValidVisitorID(t *testing.T) {
	for _, tt := range []struct {
		name string
		id   string
		want bool
	}{
		{"Valid", "01HQ3Z8Y4K6V2N9D5XW7TBCJMR", true},
		{"Max", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", true},
		{"Zero", "00000000000000000000000000", true},
		{"Empty", "", false},
		{"Short", "01HQ3Z8Y4K6V2N9D5XW7TBCJM", false},
		{"Long", "01HQ3Z8Y4K6V2N9D5XW7TBCJMRR", false},
		{"Overflow", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ", false},
		{"LowerCase", "01hq3z8y4k6v2n9d5xw7tbcjmr", false},
		{"LetterI", "01HQ3Z8Y4K6V2N9D5XW7TBCJMI", false},
		{"LetterL", "01HQ3Z8Y4K6V2N9D5XW7TBCJML", false},
		{"LetterO", "01HQ3Z8Y4K6V2N9D5XW7TBCJMO", false},
		{"LetterU", "01HQ3Z8Y4K6V2N9D5XW7TBCJMU", false},
		{"Dot", "01HQ3Z8Y4K6V2N9D5XW7TBCJM.", false},
		{"NonASCII", "01HQ3Z8Y4K6V2N9D5XW7TBCJ\u00e9", false},
		{"UUID", "6ba7b810-9dad-11d1-80b4-00c04fd430c8", false},
		{"Spaces", strings.Repeat(" ", 26), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidVisitorID(tt.id); got != tt.want {
				t.Errorf("ValidVisitorID(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}
