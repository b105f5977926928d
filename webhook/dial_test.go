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

// TestDispatcher_RefusesPrivateTargets: without allowPrivate an endpoint
// on loopback (by address or by a name that resolves there) is refused
// when dialled, and nothing reaches it; a redirect is never followed, not
// even with allowPrivate.
func TestDispatcher_RefusesPrivateTargets(t *testing.T) {
	s := mustStore(t)
	r := newReceiver(t)
	port := r.URL[strings.LastIndex(r.URL, ":")+1:]
	// A "public" endpoint that redirects to the receiver.
	redirect := httptest.NewServer(http.RedirectHandler(r.URL+"/stolen", http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	startDispatcher(t, fastConfig(s),
		endpoint("byaddr", r.URL, false),
		endpoint("byname", "http://localhost:"+port+"/hook", false),
		endpoint("v6", "http://[::1]:"+port+"/hook", false),
		endpoint("mapped", "http://[::ffff:127.0.0.1]:"+port+"/hook", false),
		endpoint("redirect", redirect.URL, true),
	)
	conversation(t, s, 1)
	ctx := context.Background()
	for _, c := range []struct{ name, want string }{
		{"demo/byaddr", "not public"}, {"demo/byname", "not public"}, {"demo/v6", "not public"},
		{"demo/mapped", "not public"}, {"demo/redirect", "not followed"},
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
