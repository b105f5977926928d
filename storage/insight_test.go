package storage

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestNormalizeGap(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Pricing?", "pricing"},
		{"  pricing ", "pricing"},
		{"PRICING!!", "pricing"},
		{"How do I reset my password?", "how do i reset my password"},
		{"how   do i reset\tmy password", "how do i reset my password"},
		{"Liefert ihr nach Österreich?", "liefert ihr nach österreich"},
		{"Was kostet's?", "was kostet s"},
		{"😡", "😡"},
		{" ??? ", "???"},
		{strings.Repeat("a", 200), strings.Repeat("a", 120)},
	}
	for _, tt := range tests {
		if got := NormalizeGap(tt.in); got != tt.want {
			t.Errorf("NormalizeGap(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzNormalizeGap checks the grouping key of any text a visitor may type:
// it is what it keys on (normalising it again changes nothing), valid
// UTF-8, at most 120 characters, and empty only for an empty text.
func FuzzNormalizeGap(f *testing.F) {
	for _, s := range []string{"Pricing?", "  pricing ", "😡", "???", "Was kostet's?", "\xff", strings.Repeat("ab ", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) {
			text = strings.ToValidUTF8(text, "\uFFFD") // frames arrive as valid UTF-8 (CleanText)
		}
		k := NormalizeGap(text)
		if NormalizeGap(k) != k {
			t.Fatalf("NormalizeGap(%q) = %q, but again %q", text, k, NormalizeGap(k))
		}
		if !utf8.ValidString(k) || utf8.RuneCountInString(k) > 120 || (k == "" && strings.TrimSpace(text) != "") {
			t.Fatalf("NormalizeGap(%q) = %q", text, k)
		}
	})
}

// TestUnanswered_Caps: a session keeps its first MaxSessionGaps texts
// for the report, each cut to MaxGapText characters, and counts them all;
// the message keeps its whole text.
func TestUnanswered_Caps(t *testing.T) {
	var st State
	var kept []Gap
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	long := strings.Repeat("ä", MaxGapText+10)
	for i := range MaxSessionGaps + 10 {
		m := Message{At: at.Add(time.Duration(i) * time.Second), Text: long}
		kept = append(kept, Unanswered(&st, &m, len(kept))...)
		if !m.Unanswered || m.Text != long {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	if st.UnansweredCount != MaxSessionGaps+10 || len(kept) != MaxSessionGaps {
		t.Errorf("count %d, kept %d; want %d and %d", st.UnansweredCount, len(kept), MaxSessionGaps+10, MaxSessionGaps)
	}
	if n := utf8.RuneCountInString(kept[0].Text); n != MaxGapText {
		t.Errorf("kept text of %d characters, want %d", n, MaxGapText)
	}
}

// TestGaps_CrashFolds: unanswered texts whose turns were committed but not
// folded (the process died first) are in the report after the restart,
// each once, with the session's count.
func TestGaps_CrashFolds(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{IndexDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	own := ownedSessions(t, s, 1, t0)[0]
	for i, text := range []string{"Pricing?", "pricing", "Do you ship to Austria?"} {
		turn := textTurn(own, fmt.Sprintf("c%d", i), t0.Add(time.Duration(i+1)*time.Second))
		st := own.State
		turn.Messages[0].Text = text
		turn.Gaps = Unanswered(&st, &turn.Messages[0], len(own.Gaps))
		turn.State = &st
		if own, _, _, err = s.RecordTurn(context.Background(), turn); err != nil {
			t.Fatal(err)
		}
	}
	dieWithoutFolding(t, s) // fold_test.go
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep, err := s.Gaps(context.Background(), GapQuery{})
	if err != nil || rep.Texts != 3 || rep.Groups != 2 || rep.Items[0].Key != "pricing" || rep.Items[0].Count != 2 {
		t.Fatalf("report after the restart: %+v, %v", rep, err)
	}
	got, err := s.Session(context.Background(), own.ID)
	if err != nil || len(got.Gaps) != 3 || got.State.UnansweredCount != 3 {
		t.Fatalf("session after the restart: %+v, %v", got, err)
	}
	if r, err := s.Verify(context.Background()); err != nil || len(r.Problems) > 0 {
		t.Fatalf("verify: %v %v", r.Problems, err)
	}
}
