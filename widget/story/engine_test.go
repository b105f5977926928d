package story_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget/story"
)

// openQuestion is a story whose menu and upload stay open until answered.
const openQuestion = `{"bot":"b","version":"1","start":"menu","fallback":"help","blocks":[
	{"id":"menu","kind":"choice","text":"Pick one","options":[
		{"id":"bikes","label":"Rent a  Bike","next":"photo"},
		{"id":"repair","label":"Repair","next":"done"}]},
	{"id":"photo","kind":"upload","text":"A photo of your bike?","accept":["image/*"],
		"skip":{"label":"No photo"},"next":"thanks"},
	{"id":"thanks","kind":"message","text":"Thanks!","next":"done"},
	{"id":"help","kind":"message","text":"Please use the buttons."},
	{"id":"done","kind":"end","text":"Bye"}]}`

func mustParse(t *testing.T, src string) *story.Story {
	t.Helper()
	s, err := story.Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// texts lists the messages' texts, a prompt marked with its options.
func texts(msgs []storage.Message) []string {
	var out []string
	for _, m := range msgs {
		t := m.Block + ":" + m.Text
		for _, o := range m.Options {
			t += " [" + o.ID + "]"
		}
		if m.Upload != nil {
			t += " (upload)"
		}
		out = append(out, t)
	}
	return out
}

func TestEngine_TypedOption(t *testing.T) {
	s := mustParse(t, openQuestion)
	var st storage.State
	s.Begin(&st, time.Now())
	for _, tt := range []struct{ typed, option string }{
		{"Rent a Bike", "bikes"},
		{"  rent A bike ", "bikes"},
		{"rentabike", "bikes"},
		{"REPAIR", "repair"},
		{"bike", ""},
		{"", ""},
		{"bikes", ""}, // an option's ID is not its label
	} {
		block, option := s.TypedOption(&st, tt.typed)
		if option != tt.option || (option != "" && block != "menu") {
			t.Errorf("TypedOption(%q) = %q %q, want menu %q", tt.typed, block, option, tt.option)
		}
	}
	t.Run("SkipLabel", func(t *testing.T) {
		st := st
		if _, _, err := s.Choose(&st, "menu", "bikes", time.Now()); err != nil {
			t.Fatal(err)
		}
		if block, option := s.TypedOption(&st, "no photo"); block != "photo" || option != story.SkipOption {
			t.Errorf("TypedOption(no photo) = %q %q, want photo skip", block, option)
		}
	})
	t.Run("NothingOpen", func(t *testing.T) {
		st := storage.State{}
		if block, option := s.TypedOption(&st, "Repair"); block != "" || option != "" {
			t.Errorf("with nothing open: %q %q", block, option)
		}
	})
}

func TestEngine_FallbackReasks(t *testing.T) {
	s := mustParse(t, openQuestion)
	now := time.Now()
	t.Run("Choice", func(t *testing.T) {
		var st storage.State
		s.Begin(&st, now)
		r, err := s.Text(&st, "hello?", now)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"help:Please use the buttons.", "menu:Pick one [bikes] [repair]"}
		if got := texts(r.Messages); !slices.Equal(got, want) {
			t.Fatalf("reply %q, want %q", got, want)
		}
		if st.Pending != "menu" || st.Current != "menu" || st.Previous != "help" {
			t.Errorf("pending %q current %q previous %q, want the menu open again after help", st.Pending, st.Current, st.Previous)
		}
		// The menu still takes its click.
		if _, r, err := s.Choose(&st, "menu", "bikes", now); err != nil || st.Pending != "photo" {
			t.Fatalf("choose after the fallback: %v, pending %q (%q)", err, st.Pending, texts(r.Messages))
		}
	})
	t.Run("Upload", func(t *testing.T) {
		var st storage.State
		s.Begin(&st, now)
		s.Choose(&st, "menu", "bikes", now)
		r, _ := s.Text(&st, "where do I click?", now)
		want := []string{"help:Please use the buttons.", "photo:A photo of your bike? [skip] (upload)"}
		if got := texts(r.Messages); !slices.Equal(got, want) {
			t.Fatalf("reply %q, want %q", got, want)
		}
		if s.PendingUpload(&st) == nil {
			t.Fatal("the upload is no longer open after the fallback")
		}
	})
	t.Run("FallbackAsksItsOwn", func(t *testing.T) {
		// A fallback that leads to a question opens that one, once.
		s := mustParse(t, `{"bot":"b","version":"1","start":"menu","fallback":"menu","blocks":[
			{"id":"menu","kind":"choice","text":"Pick","options":[{"id":"a","label":"A","next":"done"}]},
			{"id":"done","kind":"end"}]}`)
		var st storage.State
		s.Begin(&st, now)
		r, _ := s.Text(&st, "?", now)
		if got := texts(r.Messages); !slices.Equal(got, []string{"menu:Pick [a]"}) || st.Pending != "menu" {
			t.Errorf("reply %q pending %q, want the menu once", got, st.Pending)
		}
	})
	t.Run("FreeUpload", func(t *testing.T) {
		var st storage.State
		s.Begin(&st, now)
		r := s.Uploaded(&st, storage.FileRef{ID: "F", Name: "x.png"}, now)
		if got := texts(r.Messages); !slices.Equal(got, []string{"menu:Pick one [bikes] [repair]"}) || st.Pending != "menu" {
			t.Errorf("a file while the menu is open: %q pending %q, want the menu again", got, st.Pending)
		}
	})
}

func TestEngine_UploadSkip(t *testing.T) {
	s := mustParse(t, openQuestion)
	now := time.Now()
	var st storage.State
	s.Begin(&st, now)
	_, r, _ := s.Choose(&st, "menu", "bikes", now)
	p := r.Messages[len(r.Messages)-1]
	if p.Upload == nil || len(p.Options) != 1 || p.Options[0] != (storage.Option{ID: "skip", Label: "No photo"}) {
		t.Fatalf("upload prompt %+v, want an upload with the skip button", p)
	}
	label, r, err := s.Choose(&st, "photo", story.SkipOption, now)
	if err != nil {
		t.Fatal(err)
	}
	// Without a skip next, the block's next follows.
	if want := []string{"thanks:Thanks!", "done:Bye"}; label != "No photo" || !slices.Equal(texts(r.Messages), want) {
		t.Errorf("skip: %q %q, want No photo then %q", label, texts(r.Messages), want)
	}
	if st.Variables["attachment"] != "" || !st.Ended {
		t.Errorf("after the skip: variables %v ended %v", st.Variables, st.Ended)
	}

	t.Run("SkipNext", func(t *testing.T) {
		s := story.Demo()
		var st storage.State
		s.Begin(&st, now)
		s.Choose(&st, "menu", "demo", now)
		s.Answer(&st, "ask_name", "Ann", story.InputOptions{}, now)
		s.Answer(&st, "ask_email", "ann@example.org", story.InputOptions{}, now)
		s.Answer(&st, "ask_phone", "+49 30 1234567", story.InputOptions{}, now)
		s.Choose(&st, "offer_file", "yes", now)
		_, r, err := s.Choose(&st, "ask_file", story.SkipOption, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := texts(r.Messages); !slices.Equal(got, []string{"bye:Thanks Ann, we'll be in touch soon. Bye!"}) || !slices.Contains(st.Goals, "lead") {
			t.Errorf("demo skip: %q goals %v, want the goal and bye", got, st.Goals)
		}
	})
	t.Run("NoSkip", func(t *testing.T) {
		s := mustParse(t, `{"bot":"b","version":"1","start":"f","fallback":"f","blocks":[
			{"id":"f","kind":"upload","accept":["image/*"],"next":"done"},{"id":"done","kind":"end"}]}`)
		var st storage.State
		s.Begin(&st, now)
		if _, _, err := s.Choose(&st, "f", story.SkipOption, now); !isCode(err, "unknown_option") {
			t.Errorf("skip without a skip button: %v, want unknown_option", err)
		}
	})
}

func TestEngine_Ended(t *testing.T) {
	s := mustParse(t, openQuestion)
	now := time.Now()
	var st storage.State
	s.Begin(&st, now)
	if _, _, err := s.Choose(&st, "menu", "repair", now); err != nil || !st.Ended {
		t.Fatalf("repair: %v ended %v", err, st.Ended)
	}
	if _, err := s.Text(&st, "hello again", now); !isCode(err, "ended") {
		t.Errorf("text after the end: %v, want ended", err)
	}
	if _, _, err := s.Choose(&st, "menu", "bikes", now); !isCode(err, "ended") {
		t.Errorf("choice after the end: %v, want ended", err)
	}
	if _, err := s.Answer(&st, "menu", "x", story.InputOptions{}, now); !isCode(err, "ended") {
		t.Errorf("answer after the end: %v, want ended", err)
	}
	if r := s.Uploaded(&st, storage.FileRef{ID: "F"}, now); len(r.Messages) != 0 {
		t.Errorf("a file after the end got %q", texts(r.Messages))
	}
	if !st.Ended || st.Pending != "" {
		t.Errorf("ended %v pending %q, want still ended", st.Ended, st.Pending)
	}
}

func isCode(err error, code string) bool {
	var e *story.Error
	return errors.As(err, &e) && e.Code == code
}
