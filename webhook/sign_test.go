package webhook_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/parley-chat/parley/webhook"
)

// TestSign_StandardVector: the signature of the Standard Webhooks spec's
// example delivery.
func TestSign_StandardVector(t *testing.T) {
	key, err := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := webhook.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	key, _ := webhook.ParseSecret(testSecret)
	other, _ := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"type":"session.started"}`)
	headers := func(ts int64, sig string) http.Header {
		h := http.Header{}
		h.Set(webhook.HeaderID, "msg_1")
		h.Set(webhook.HeaderTimestamp, itoa(int(ts)))
		h.Set(webhook.HeaderSignature, sig)
		return h
	}
	good := webhook.Sign(key, "msg_1", now.Unix(), body)
	for _, c := range []struct {
		name string
		h    http.Header
		body []byte
		want error
	}{
		{"Good", headers(now.Unix(), good), body, nil},
		{"OneOfSeveral", headers(now.Unix(), "v1,bm90IGl0 "+good), body, nil},
		{"OtherKey", headers(now.Unix(), webhook.Sign(other, "msg_1", now.Unix(), body)), body, webhook.ErrSignature},
		{"BodyChanged", headers(now.Unix(), good), []byte(`{"type":"session.ended"}`), webhook.ErrSignature},
		{"Replayed", headers(now.Unix()-600, webhook.Sign(key, "msg_1", now.Unix()-600, body)), body, webhook.ErrTimestamp},
		{"Future", headers(now.Unix()+600, webhook.Sign(key, "msg_1", now.Unix()+600, body)), body, webhook.ErrTimestamp},
		{"NoHeaders", http.Header{}, body, webhook.ErrNoSignature},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := webhook.Verify(key, c.h, c.body, now); !errors.Is(err, c.want) {
				t.Fatalf("Verify: %v, want %v", err, c.want)
			}
		})
	}
}

func TestParseSecret(t *testing.T) {
	for _, bad := range []string{"", "secret", "whsec_", "whsec_!!!", "whsec_c2hvcnQ=", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"} {
		if _, err := webhook.ParseSecret(bad); err == nil {
			t.Errorf("ParseSecret(%q): no error", bad)
		}
	}
}

// FuzzVerify: headers and bodies from anywhere never panic Verify, and
// only the right signature passes.
func FuzzVerify(f *testing.F) {
	key, _ := webhook.ParseSecret(testSecret)
	now := time.Unix(1_800_000_000, 0)
	f.Add("msg_1", "1800000000", webhook.Sign(key, "msg_1", now.Unix(), []byte("{}")), []byte("{}"))
	f.Add("msg_1", "-1", "v1,", []byte(""))
	f.Add("", "99999999999999999999", "v1,a v2,b", []byte("x"))
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(webhook.HeaderID, id)
		h.Set(webhook.HeaderTimestamp, ts)
		h.Set(webhook.HeaderSignature, sig)
		if webhook.Verify(key, h, body, now) != nil {
			return
		}
		// A pass must be a signature over exactly these values.
		for _, f := range splitFields(sig) {
			if f == webhook.Sign(key, id, parseTS(ts), body) {
				return
			}
		}
		t.Fatalf("Verify passed a forged signature %q", sig)
	})
}
