package widget_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget"
)

func TestParseClientFrame(t *testing.T) {
	tests := []struct {
		name, in, code string
	}{
		{"Hello", `{"type":"hello","token":"t","session":"s","page":"https://x","lang":"en"}`, ""},
		{"EmptyHello", `{"type":"hello"}`, ""},
		{"Text", `{"type":"text","id":"c1","text":"hi"}`, ""},
		{"Choice", `{"type":"choice","id":"c2","block":"B","option":"O"}`, ""},
		{"Input", `{"type":"input","id":"c3","block":"B","value":"a@b.org"}`, ""},
		{"Typing", `{"type":"typing"}`, ""},
		{"Variables", `{"type":"variables","variables":{"plan":"pro"}}`, ""},
		{"VariableNameControl", `{"type":"variables","variables":{"a\u001bb":"x"}}`, "bad_frame"},
		{"VariableNameBidi", `{"type":"variables","variables":{"a\u202eb":"x"}}`, "bad_frame"},
		{"NoType", `{"id":"c1"}`, "bad_frame"},
		{"Unknown", `{"type":"nope"}`, "unknown_type"},
		{"NotJSON", `hello`, "bad_frame"},
		{"Trailing", `{"type":"typing"} {}`, "bad_frame"},
		{"WrongFieldType", `{"type":"text","id":1}`, "bad_frame"},
		{"ChoiceWithoutOption", `{"type":"choice","id":"c","block":"B"}`, "bad_frame"},
		{"LongID", `{"type":"text","id":"` + string(make([]byte, 65)) + `"}`, "bad_frame"},
		{"IDWithNUL", `{"type":"text","id":"a\u0000b","text":"hi"}`, "bad_frame"},
		{"IDWithBidi", `{"type":"text","id":"a\u202eb","text":"hi"}`, "bad_frame"},
		{"UploadsID", `{"type":"text","id":"file:01KJMMA2G0Z59BES7E2MKV0NST","text":"hi"}`, "bad_frame"},
		{"RepliesID", `{"type":"text","id":"reply:ana/r1","text":"hi"}`, "bad_frame"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := widget.ParseClientFrame([]byte(tt.in))
			var fe *widget.FrameError
			switch {
			case tt.code == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tt.code != "" && (!errors.As(err, &fe) || fe.Code != tt.code):
				t.Fatalf("got %v, want code %s", err, tt.code)
			}
		})
	}
}

// FuzzParseClientFrame checks that any input either parses into a frame of
// a known type or fails with a FrameError, never panics.
func FuzzParseClientFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","token":"t","session":"s"}`,
		`{"type":"text","id":"c1","text":"hello"}`,
		`{"type":"choice","id":"c2","block":"B","option":"O"}`,
		`{"type":"input","id":"c3","block":"B","value":"a@b.org"}`,
		`{"type":"variables","variables":{"a":"b"}}`,
		`{"type":"typing"}`, `{`, `null`, `[]`, `{"type":null}`,
		`{"type":"hello","user":{"id":"crm-42","hash":"00ff","name":"Ada","email":"a@b.org","phone":"+49301234567"}}`,
		`{"type":"identify","id":"u1","user":{"id":"crm-42","hash":"00ff"}}`,
		`{"type":"identify","id":"u1","user":{"id":"crm\u000042","hash":"00ff"}}`,
	} {
		f.Add([]byte(s))
	}
	known := map[string]bool{"hello": true, "text": true, "choice": true, "input": true, "typing": true, "variables": true, "identify": true}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := widget.ParseClientFrame(b)
		if err != nil {
			var fe *widget.FrameError
			if !errors.As(err, &fe) || fe.Code == "" {
				t.Fatalf("error %v is not a FrameError with a code", err)
			}
			return
		}
		if !known[fr.Type] {
			t.Fatalf("accepted unknown type %q", fr.Type)
		}
		if fr.Type != "hello" && fr.Type != "typing" && fr.Type != "variables" && fr.ID == "" {
			t.Fatalf("accepted a %s without id", fr.Type)
		}
		if fr.Type == "identify" && fr.User == nil {
			t.Fatal("accepted an identify without user")
		}
		if fr.User != nil && (fr.User.ID == "" || storage.CleanText(fr.User.ID) != fr.User.ID) {
			t.Fatalf("accepted user ID %q", fr.User.ID)
		}
		for _, s := range []string{fr.Text, fr.Value, fr.Page} {
			if storage.CleanText(s) != s {
				t.Fatalf("kept control characters in %q", s)
			}
		}
		if _, err := json.Marshal(fr); err != nil {
			t.Fatal(err)
		}
	})
}
