package storage

import (
	"errors"
	"testing"
	"time"
)

// FuzzDecodeCursor feeds outside input to the cursor parser: it must never
// panic, accept only what encodeCursor made for the same list and filters,
// and give back the position sealed in it.
func FuzzDecodeCursor(f *testing.F) {
	pos := sessionSuffix(time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC), "01JAAAAAAAAAAAAAAAAAAAAAA1")
	good := encodeCursor(cursorUsers, 42, pos)
	f.Add(good)
	f.Add("")
	f.Add("not a cursor")
	f.Add(good[:len(good)-1] + "A")
	f.Fuzz(func(t *testing.T, c string) {
		got, err := decodeCursor(c, cursorUsers, 42)
		if err != nil {
			var pe *FieldError
			if !errors.As(err, &pe) || pe.Field != "Cursor" {
				t.Fatalf("error %v is not a FieldError naming Cursor", err)
			}
			return
		}
		if c != "" && (c != good || got != pos) {
			t.Fatalf("accepted %q as %q", c, got)
		}
		if _, err := decodeCursor(c, cursorSessions, 42); c != "" && err == nil {
			t.Fatal("a users cursor was accepted for the sessions list")
		}
	})
}
