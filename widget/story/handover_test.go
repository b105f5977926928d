package story_test

import (
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget/story"
)

func TestHandover_Check(t *testing.T) {
	_, ps := story.Check("s.json", []byte(`{"bot":"b","version":"1","start":"ho","fallback":"ho","blocks":[
 {"id":"ho","kind":"handover","text":"Wait"}]}`))
	if err := ps.Err(); err == nil || !strings.Contains(err.Error(), `block "ho": handover without a next`) {
		t.Errorf("got %v, want handover without a next", err)
	}
	// A handover waits: a loop through it is no loop without a wait.
	if _, err := story.Parse([]byte(`{"bot":"b","version":"1","start":"ho","fallback":"ho","blocks":[
 {"id":"ho","kind":"handover","text":"Wait","next":"again"},
 {"id":"again","kind":"message","text":"Nobody yet","next":"ho"}]}`)); err != nil {
		t.Errorf("a loop through a handover: %v", err)
	}
}

func TestHandover_Engine(t *testing.T) {
	s, err := story.Parse([]byte(`{"bot":"b","version":"1","start":"q","fallback":"fb","blocks":[
 {"id":"q","kind":"choice","text":"Pick","options":[{"id":"p","label":"Person","next":"ho"}]},
 {"id":"ho","kind":"handover","text":"Connecting…","next":"after"},
 {"id":"after","kind":"message","text":"Back with the bot"},
 {"id":"fb","kind":"message","text":"?"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1e9, 0)
	t.Run("AskedThenTimedOut", func(t *testing.T) {
		var st storage.State
		s.Begin(&st, now)
		_, r, err := s.Choose(&st, "q", "p", now)
		if err != nil || len(r.Messages) != 1 || st.Handover == nil || st.Handover.Status != storage.HandoverWaiting || st.Handover.Block != "ho" {
			t.Fatalf("after the choice: %+v %+v %v", r, st.Handover, err)
		}
		if !story.Paused(&st) {
			t.Error("not paused while waiting")
		}
		r, ok := s.TimedOut(&st, now)
		if !ok || st.Handover != nil || len(r.Messages) != 1 || r.Messages[0].Text != "Back with the bot" {
			t.Errorf("timed out: %+v %v %+v", r, ok, st.Handover)
		}
	})
	t.Run("UnaskedResumesTheQuestion", func(t *testing.T) {
		var st storage.State
		s.Begin(&st, now)
		story.TakeOver(&st, "ana", "Ana", now)
		if st.Pending != "" || st.Handover.Resume != "q" || st.Handover.Status != storage.HandoverHeld {
			t.Fatalf("taken: %+v pending %q", st.Handover, st.Pending)
		}
		if _, ok := s.TimedOut(&st, now); ok {
			t.Error("a held conversation timed out")
		}
		r, err := s.HandBack(&st, "", now)
		if err != nil || st.Pending != "q" || len(r.Messages) != 1 || len(r.Messages[0].Options) != 1 {
			t.Errorf("handed back: %+v pending %q %v", r, st.Pending, err)
		}
	})
	t.Run("Close", func(t *testing.T) {
		var st storage.State
		s.Begin(&st, now)
		story.TakeOver(&st, "ana", "Ana", now)
		story.Close(&st)
		if !st.Ended || st.Handover != nil {
			t.Errorf("closed: %+v", st)
		}
	})
}
