package widget

import (
	"strings"
	"testing"

	"github.com/parley-chat/parley/storage"
)

// TestToFrame_NoTrace: the trace is for admins; a message frame (and so a
// welcome's history) never carries it.
func TestToFrame_NoTrace(t *testing.T) {
	m := storage.Message{ID: "m", From: storage.FromBot, Text: "Hi", Block: "b",
		Trace: []storage.Step{{Block: "check", Kind: "condition", Variable: "email", Value: "kim@example.org"}}}
	if b := encode(toFrame(&m)); strings.Contains(string(b), "trace") || strings.Contains(string(b), "kim@") {
		t.Errorf("frame %s", b)
	}
}
