package webhook_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/webhook"
	"github.com/parley-chat/parley/webhook/webhooktest"
)

func TestPublic(t *testing.T) {
	for _, c := range []struct {
		addr string
		want bool
	}{
		{"93.184.215.14", true}, {"2606:2800:21f:cb07:6820:80da:af6b:8b2c", true}, {"8.8.8.8", true},
		{"127.0.0.1", false}, {"127.9.9.9", false}, {"::1", false}, {"10.1.2.3", false}, {"172.16.0.1", false},
		{"172.31.255.255", false}, {"192.168.1.1", false}, {"169.254.169.254", false}, {"fe80::1", false},
		{"fc00::1", false}, {"fd12::1", false}, {"0.0.0.0", false}, {"::", false}, {"100.64.0.1", false},
		{"224.0.0.1", false}, {"255.255.255.255", false}, {"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false},
		{"64:ff9b::a00:1", false}, {"2002:7f00:1::", false}, {"198.18.0.1", false}, {"0.1.2.3", false},
	} {
		if got := webhook.Public(netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("Public(%s) = %v, want %v", c.addr, got, c.want)
		}
	}
}

// TestEndpoint_RefusesPrivateURLs: an endpoint whose URL names a non-public
// address (or localhost) is refused by the config check, unless it allows
// private addresses.
func TestEndpoint_RefusesPrivateURLs(t *testing.T) {
	for _, u := range []string{
		"http://127.0.0.1:8080/hook", "https://[::1]/hook", "https://[::ffff:127.0.0.1]/hook", "https://10.1.2.3/",
		"http://169.254.169.254/latest/meta-data/", "https://[fe80::1%25eth0]/", "https://localhost/hook", "https://app.localhost./",
	} {
		ep := endpoint("x", u, false)
		if errs := ep.Validate(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "not a public address") {
			t.Errorf("%s: %v, want refused as not public", u, errs)
		}
		ep.AllowPrivate = true
		if errs := ep.Validate(); len(errs) != 0 {
			t.Errorf("%s with allowPrivateNetwork: %v", u, errs)
		}
	}
	ep := endpoint("x", "https://crm.example/hook", false)
	if errs := ep.Validate(); len(errs) != 0 {
		t.Errorf("a public name: %v", errs)
	}
}

// TestDispatcher_RefusesPrivateTargets: an endpoint whose name passes the
// config check but resolves to a private address when dialled (as after a
// DNS rebinding) is refused at the dial, and nothing reaches it; a
// redirect is never followed, not even with allowPrivateNetwork.
func TestDispatcher_RefusesPrivateTargets(t *testing.T) {
	s := mustStore(t)
	r := newReceiver(t)
	port := r.URL[strings.LastIndex(r.URL, ":")+1:]
	// An endpoint that redirects to the receiver.
	redirect := httptest.NewServer(http.RedirectHandler(r.URL+"/stolen", http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	startDispatcher(t, fastConfig(s),
		endpoint("byname", "http://"+webhooktest.PrivateName(t)+":"+port+"/hook", false),
		endpoint("redirect", redirect.URL, true),
	)
	conversation(t, s, 1)
	ctx := context.Background()
	for _, c := range []struct{ name, want string }{
		{"demo/byname", "not public"}, {"demo/redirect", "not followed"},
	} {
		waitFor(t, 5*time.Second, c.name+" refused", func() bool {
			log, err := s.DeliveryLog(ctx, c.name, 10)
			return err == nil && len(log) > 0
		})
		log, _ := s.DeliveryLog(ctx, c.name, 10)
		if a := log[len(log)-1]; a.Outcome != storage.OutcomeFailed || !strings.Contains(a.Error, c.want) {
			t.Errorf("%s: first attempt %s %q, want failed with %q", c.name, a.Outcome, a.Error, c.want)
		}
	}
	if got := r.deliveries(); len(got) != 0 {
		t.Fatalf("the private receiver got %d deliveries", len(got))
	}
}

func splitFields(s string) []string { return strings.Fields(s) }

func parseTS(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
