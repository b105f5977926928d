package webhook_test

import (
	"net/url"
	"testing"

	"github.com/parley-chat/parley/webhook"
)

// FuzzEndpointValidate: whatever a config file holds, Validate does not
// panic, and what it accepts is an http(s) URL with a host, no user
// information, and a usable secret.
func FuzzEndpointValidate(f *testing.F) {
	f.Add("crm", "https://crm.example/hook", testSecret, false)
	f.Add("a", "http://[::ffff:10.0.0.1]:80/", "whsec_", true)
	f.Add("b", "https://user:pw@x.example/#frag", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", false)
	f.Fuzz(func(t *testing.T, id, raw, secret string, allowPrivate bool) {
		ep := webhook.Endpoint{Site: "demo", ID: id, URL: raw, Secret: secret, Events: []string{"session.started"}, AllowPrivate: allowPrivate}
		if len(ep.Validate()) > 0 {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
			t.Fatalf("accepted URL %q", raw)
		}
		if _, err := webhook.ParseSecret(secret); err != nil {
			t.Fatalf("accepted secret %q: %v", secret, err)
		}
		if _, ok := webhook.EndpointName("demo", id); !ok {
			t.Fatalf("accepted id %q", id)
		}
	})
}
