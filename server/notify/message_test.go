package notify

import (
	"strings"
	"testing"
	"time"
)

func TestMessage_NoHeaderInjection(t *testing.T) {
	// A visitor's name reaches the subject; a line break must not start
	// a header of its own.
	msg := string(message("parley@example.org", []string{"a@example.org"}, "[Parley] Ann\r\nBcc: evil@example.org is waiting", "body\nline", time.Unix(0, 0)))
	head, body, _ := strings.Cut(msg, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		if strings.HasPrefix(line, "Bcc:") {
			t.Errorf("injected header %q", line)
		}
	}
	if !strings.Contains(head, "Subject: [Parley] Ann Bcc: evil@example.org is waiting") {
		t.Errorf("subject: %q", head)
	}
	if body != "body\r\nline" {
		t.Errorf("body %q", body)
	}
	if m := string(message("p@example.org", []string{"a@example.org"}, "Jürgen wartet", "", time.Unix(0, 0))); !strings.Contains(m, "Subject: =?utf-8?q?J=C3=BCrgen_wartet?=") {
		t.Errorf("non-ASCII subject not encoded: %q", m)
	}
}

func TestConfig_Validate(t *testing.T) {
	for _, c := range []Config{{Addr: "mail.example.org"}, {Addr: "mail.example.org:587"}, {Addr: "mail.example.org:587", From: "p@example.org", TLS: "ssl"}} {
		if c.Validate() == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	for _, c := range []Config{{}, {Addr: "mail.example.org:587", From: "p@example.org"}} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}
