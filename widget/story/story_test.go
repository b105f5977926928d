package story_test

import (
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget/story"
)

func TestParse_Errors(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"NotJSON", `{`, "story:"},
		{"UnknownField", `{"bot":"b","version":"1","start":"a","fallback":"a","blocks":[{"id":"a","kind":"message","txt":"x"}]}`, `unknown field "txt"`},
		{"NoBot", `{"version":"1","start":"a","fallback":"a","blocks":[{"id":"a","kind":"end"}]}`, "missing bot"},
		{"NoVersion", `{"bot":"b","start":"a","fallback":"a","blocks":[{"id":"a","kind":"end"}]}`, "missing version"},
		{"MissingStart", `{"bot":"b","version":"1","start":"x","fallback":"a","blocks":[{"id":"a","kind":"end"}]}`, `start "x": no such block`},
		{"DanglingNext", `{"bot":"b","version":"1","start":"a","fallback":"a","blocks":[{"id":"a","kind":"message","next":"zz"}]}`, `block "a": next "zz": no such block`},
		{"DuplicateID", `{"bot":"b","version":"1","start":"a","fallback":"a","blocks":[{"id":"a","kind":"end"},{"id":"a","kind":"end"}]}`, `block "a": duplicate id`},
		{"UnknownKind", `{"bot":"b","version":"1","start":"a","fallback":"a","blocks":[{"id":"a","kind":"dance"}]}`, `block "a": unknown kind "dance"`},
		{"BadInputKind", `{"bot":"b","version":"1","start":"a","fallback":"a","blocks":[{"id":"a","kind":"input","input":"fax","variable":"v"}]}`, `input kind "fax"`},
		{"BadPattern", `{"bot":"b","version":"1","start":"a","fallback":"a","blocks":[{"id":"a","kind":"condition","variable":"v","op":"matches","value":"(","then":"a","else":"a"}]}`, `block "a": pattern`},
		{"Loop", `{"bot":"b","version":"1","start":"a","fallback":"a","blocks":[{"id":"a","kind":"message","next":"b"},{"id":"b","kind":"tag","tag":"t","next":"a"}]}`, "loops back"},
		{"ChoiceNoOptions", `{"bot":"b","version":"1","start":"a","fallback":"a","blocks":[{"id":"a","kind":"choice"}]}`, "choice without options"},
		{"UploadNoAccept", `{"bot":"b","version":"1","start":"a","fallback":"a","blocks":[{"id":"a","kind":"upload"}]}`, "upload without an accept list"},
		{"SkipNoLabel", `{"bot":"b","version":"1","start":"a","fallback":"a","blocks":[{"id":"a","kind":"upload","accept":["image/*"],"skip":{"next":"a"}}]}`, "upload skip without a label"},
		{"SkipDangling", `{"bot":"b","version":"1","start":"a","fallback":"a","blocks":[{"id":"a","kind":"upload","accept":["image/*"],"skip":{"label":"No","next":"zz"}}]}`, `skip: next "zz": no such block`},
		{"SkipOnChoice", `{"bot":"b","version":"1","start":"a","fallback":"a","blocks":[{"id":"a","kind":"choice","options":[{"id":"o","label":"O","next":"a"}],"skip":{"label":"No"}}]}`, "only upload blocks have one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := story.Parse([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestEngine_Condition(t *testing.T) {
	s, err := story.Parse([]byte(`{"bot":"b","version":"1","start":"ask","fallback":"ask","blocks":[
		{"id":"ask","kind":"input","input":"text","variable":"plan","next":"check"},
		{"id":"check","kind":"condition","variable":"plan","op":"equals","value":"Pro","then":"pro","else":"free"},
		{"id":"pro","kind":"goal","goal":"upsell","next":"done"},
		{"id":"free","kind":"message","text":"Free it is, {{plan}}.","next":"done"},
		{"id":"done","kind":"end","text":"Bye"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, tt := range []struct {
		answer, goal string
		msgs         int
	}{{"pro", "upsell", 1}, {"basic", "", 2}} {
		var st storage.State
		s.Begin(&st, now)
		r, err := s.Answer(&st, "ask", tt.answer, story.InputOptions{}, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Messages) != tt.msgs || !st.Ended {
			t.Errorf("answer %q: %d messages ended=%v, want %d and ended", tt.answer, len(r.Messages), st.Ended, tt.msgs)
		}
		if got := strings.Join(st.Goals, ","); got != tt.goal {
			t.Errorf("answer %q: goals %q, want %q", tt.answer, got, tt.goal)
		}
		if st.Previous == "" || st.Current != "done" {
			t.Errorf("answer %q: current %q previous %q", tt.answer, st.Current, st.Previous)
		}
	}
}

func TestValidateInput(t *testing.T) {
	opts := story.InputOptions{PhoneRegion: "DE", MaxText: 30}
	tests := []struct {
		kind, in, want, code string
	}{
		{"email", "ann@example.org", "ann@example.org", ""},
		{"email", "  ann@example.org ", "ann@example.org", ""},
		{"email", "ann@", "", "invalid_email"},
		{"email", "Ann <ann@example.org>", "", "invalid_email"},
		{"email", "ann@localhost", "", "invalid_email"},
		{"phone", "+49 30 1234567", "+49301234567", ""},
		{"phone", "030 1234567", "+49301234567", ""},
		{"phone", "12", "", "invalid_phone"},
		{"phone", "call me", "", "invalid_phone"},
		{"text", "Ann", "Ann", ""},
		{"text", "   ", "", "invalid_text"},
		{"text", strings.Repeat("a", 31), "", "text_too_long"},
	}
	for _, tt := range tests {
		got, err := story.ValidateInput(tt.kind, tt.in, opts)
		if tt.code != "" {
			if e, ok := err.(*story.Error); !ok || e.Code != tt.code {
				t.Errorf("%s %q: got %q, %v; want code %s", tt.kind, tt.in, got, err, tt.code)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s %q: got %q, %v; want %q", tt.kind, tt.in, got, err, tt.want)
		}
	}
}

func TestDemo_IsValid(t *testing.T) {
	s := story.Demo()
	if s.Bot != "demo" || s.Block("ask_file") == nil || s.Block("ask_file").Kind != story.KindUpload {
		t.Fatalf("demo story lacks its upload step")
	}
}

// FuzzParse checks that the loader never panics and that whatever it
// accepts can be run from its start without panicking.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"bot":"b","version":"1","start":"a","fallback":"a","blocks":[{"id":"a","kind":"end","text":"x"}]}`))
	f.Add([]byte(`{"bot":"b","version":"1","start":"a","fallback":"a","blocks":[{"id":"a","kind":"condition","variable":"v","op":"matches","value":"^x","then":"b","else":"b"},{"id":"b","kind":"choice","options":[{"id":"o","label":"O","next":"a"}]}]}`))
	f.Add([]byte(`{"bot":"b","version":"1","start":"a","fallback":"a","blocks":[{"id":"a","kind":"message","next":"a"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := story.Parse(b)
		if err != nil {
			return
		}
		var st storage.State
		s.Begin(&st, time.Now())
		s.Text(&st, "hi", time.Now())
		s.TypedOption(&st, "hi")
		// A session waiting on a block the story lacks restarts.
		st.Pending = "\x00gone"
		if s.Block(st.Pending) == nil && !s.Lost(&st) {
			t.Fatal("a pending block the story lacks is not lost")
		}
		s.Restart(&st, time.Now())
		if s.Lost(&st) {
			t.Fatalf("still lost after Restart: pending %q", st.Pending)
		}
	})
}
