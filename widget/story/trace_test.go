package story_test

import (
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget/story"
)

// nested is a story whose answer goes through a condition nested in
// another's branch, a tag, a message, a goal and an end with no text.
const nested = `{"bot":"b","version":"1","start":"ask","fallback":"help","blocks":[
	{"id":"ask","kind":"input","input":"text","variable":"plan","text":"Which plan?","next":"is_set"},
	{"id":"is_set","kind":"condition","variable":"plan","op":"set","then":"is_pro","else":"ask"},
	{"id":"is_pro","kind":"condition","variable":"plan","op":"matches","value":"(?i)^(pro|team)","then":"is_team","else":"free"},
	{"id":"is_team","kind":"condition","variable":"plan","op":"equals","value":"team","then":"team","else":"tag_pro"},
	{"id":"tag_pro","kind":"tag","tag":"pro","next":"pro"},
	{"id":"pro","kind":"message","text":"Pro it is.","next":"menu"},
	{"id":"menu","kind":"choice","text":"Book a call?","options":[{"id":"yes","label":"Yes","next":"goal"},{"id":"no","label":"No","next":"bye"}]},
	{"id":"goal","kind":"goal","goal":"call","next":"bye"},
	{"id":"team","kind":"message","text":"Team!","next":"bye"},
	{"id":"free","kind":"message","text":"Free it is, {{plan}}.","next":"bye"},
	{"id":"help","kind":"message","text":"Please answer the question."},
	{"id":"bye","kind":"end"}]}`

func TestEngine_Trace(t *testing.T) {
	s := mustParse(t, nested)
	now := time.Now()
	var st storage.State
	begin := s.Begin(&st, now)
	want := [][]storage.Step{{{Block: "ask", Kind: "input"}}}
	checkTrace(t, "begin", begin.Messages, want)

	r, err := s.Answer(&st, "ask", "PRO ", story.InputOptions{}, now)
	if err != nil {
		t.Fatal(err)
	}
	checkTrace(t, "answer", r.Messages, [][]storage.Step{
		{
			{Block: "ask", Kind: "input", Variable: "plan", Value: "PRO", Next: "is_set", Answered: true},
			{Block: "is_set", Kind: "condition", Variable: "plan", Value: "PRO", Op: "set", Branch: "then", Next: "is_pro"},
			{Block: "is_pro", Kind: "condition", Variable: "plan", Value: "PRO", Op: "matches", Want: "(?i)^(pro|team)", Branch: "then", Next: "is_team"},
			{Block: "is_team", Kind: "condition", Variable: "plan", Value: "PRO", Op: "equals", Want: "team", Branch: "else", Next: "tag_pro"},
			{Block: "tag_pro", Kind: "tag", Tag: "pro"},
			{Block: "pro", Kind: "message"},
		},
		{{Block: "menu", Kind: "choice"}},
	})

	// Free text while the menu is open: the fallback, then the menu again.
	r, err = s.Text(&st, "what?", now)
	if err != nil {
		t.Fatal(err)
	}
	checkTrace(t, "fallback", r.Messages, [][]storage.Step{
		{{Block: "help", Kind: "message"}},
		{{Block: "menu", Kind: "choice", Again: true}},
	})

	// The click reaches a goal and an end without text: no message, so
	// the reply's own trace says where it went.
	_, r, err = s.Choose(&st, "menu", "yes", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Messages) != 0 || !st.Ended || !slices.Equal(st.Goals, []string{"call"}) {
		t.Errorf("after yes: %d messages, ended %v, goals %v", len(r.Messages), st.Ended, st.Goals)
	}
	wantSilent := []storage.Step{
		{Block: "menu", Kind: "choice", Value: "Yes", Next: "goal", Answered: true},
		{Block: "goal", Kind: "goal", Goal: "call"},
		{Block: "bye", Kind: "end"},
	}
	if !slices.Equal(r.Trace, wantSilent) {
		t.Errorf("silent turn's trace\n got %+v\nwant %+v", r.Trace, wantSilent)
	}

	t.Run("StepsAfterTheLastMessage", func(t *testing.T) {
		s := mustParse(t, `{"bot":"b","version":"1","start":"hi","fallback":"hi","blocks":[
			{"id":"hi","kind":"message","text":"Hi","next":"g"},
			{"id":"g","kind":"goal","goal":"seen","next":"end"},
			{"id":"end","kind":"end"}]}`)
		var st storage.State
		checkTrace(t, "begin", s.Begin(&st, now).Messages, [][]storage.Step{{
			{Block: "hi", Kind: "message"},
			{Block: "g", Kind: "goal", Goal: "seen", After: true},
			{Block: "end", Kind: "end", After: true},
		}})
	})
	t.Run("OtherBranches", func(t *testing.T) {
		for _, tt := range []struct{ answer, branch, reply string }{{"Team", "team", "Team!"}, {"basic", "free", "Free it is, basic."}} {
			var st storage.State
			s.Begin(&st, now)
			r, err := s.Answer(&st, "ask", tt.answer, story.InputOptions{}, now)
			if err != nil {
				t.Fatal(err)
			}
			tr := r.Messages[0].Trace
			if r.Messages[0].Text != tt.reply || tr[len(tr)-2].Block != tt.branch && tr[len(tr)-1].Block != tt.branch {
				t.Errorf("%q: %q with trace %+v", tt.answer, r.Messages[0].Text, tr)
			}
			if end := tr[len(tr)-1]; end.Kind != "end" || !end.After {
				t.Errorf("%q: last step %+v, want the end, after the message", tt.answer, end)
			}
		}
	})
}

func checkTrace(t *testing.T, what string, msgs []storage.Message, want [][]storage.Step) {
	t.Helper()
	if len(msgs) != len(want) {
		t.Fatalf("%s: %d messages, want %d", what, len(msgs), len(want))
	}
	for i, m := range msgs {
		if !slices.Equal(m.Trace, want[i]) {
			t.Errorf("%s: message %d (%s) trace\n got %+v\nwant %+v", what, i, m.Block, m.Trace, want[i])
		}
	}
}

func TestStory_Order(t *testing.T) {
	s := mustParse(t, nested)
	want := []string{"ask", "is_set", "is_pro", "is_team", "free", "team", "tag_pro", "bye", "pro", "menu", "goal", "help"}
	if got := s.Order(); !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}
