package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/server/admin/admintest"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/webhook/webhooktest"
)

// webhookConfig writes a config file with the demo site and the given
// webhook entries (JSON objects) and returns its path.
func webhookConfig(tb testing.TB, hooks ...string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "sites.json")
	src := fmt.Sprintf(`{"sites": [{"id": "demo", "origins": ["http://localhost:*", "http://127.0.0.1:*"], "story": "builtin:demo",
  "webhooks": [%s]}]}`, strings.Join(hooks, ",\n"))
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// hook is a webhook entry for webhookConfig.
func hook(id, url string, allowPrivate bool) string {
	return fmt.Sprintf(`{"id": %q, "url": %q, "secret": %q, "events": [%s], "allowPrivateNetwork": %v}`,
		id, url, webhooktest.Secret, `"`+strings.Join(storage.EventTypes, `", "`)+`"`, allowPrivate)
}

// startWebhookServer runs Parley with the config at path and fast retries.
func startWebhookServer(tb testing.TB, path string) (*server.Server, string) {
	tb.Helper()
	sc, ps := server.LoadConfig(path)
	if err := ps.Err(); err != nil {
		tb.Fatal(err)
	}
	cfg := server.Config{Sites: sc.Sites, Webhooks: sc.Webhooks, ConfigFile: path}
	cfg.WebhookLimits.BackoffBase = 50 * time.Millisecond
	s, srv := startAdminServer(tb, cfg)
	return s, srv.URL
}

// TestWebhooks_Conversation: a visitor going through the demo story (a
// choice, a name, an email, a phone, a file, the end) and then erased:
// the endpoint gets every event, signed, in the order it happened, each
// message as stored; an endpoint on a private address without
// allowPrivateNetwork gets nothing and its log says why.
func TestWebhooks_Conversation(t *testing.T) {
	r := webhooktest.New(t)
	private := webhooktest.New(t)
	hooks := []string{hook("crm", r.URL, true)}
	// A name that resolves to the private receiver's address: refused when
	// dialled, as a DNS rebinding would be.
	privateName, withPrivate := webhooktest.LookupPrivateName()
	if withPrivate {
		port := private.URL[strings.LastIndex(private.URL, ":")+1:]
		hooks = append(hooks, hook("private", "http://"+privateName+":"+port+"/hook", false))
	} else {
		t.Log("no host name here resolves to a private address: the dial-time refusal is not checked")
	}
	path := webhookConfig(t, hooks...)
	s, base := startWebhookServer(t, path)
	ctx := context.Background()

	c := newStoryClient(base, "hooked")
	c.story(t, ctx)
	if !c.ended {
		t.Fatal("the story did not end")
	}
	waitUntil(t, 10*time.Second, "session.ended", func() bool {
		u := r.Unique()
		return len(u) > 0 && u[len(u)-1].Type == storage.EventSessionEnded
	})
	msgs, err := s.Store.Messages(ctx, c.session, 0)
	if err != nil {
		t.Fatal(err)
	}
	var types, msgIDs []string
	var inputs []string
	var fileIDs []string
	for _, d := range r.Unique() {
		if d.Data.Session != c.session || d.Data.Visitor != c.visitor || d.Data.Site != "demo" {
			t.Fatalf("delivery %s of %+v", d.Type, d.Data)
		}
		types = append(types, d.Type)
		switch d.Type {
		case storage.EventMessageCreated:
			msgIDs = append(msgIDs, d.Data.Message.ID)
		case storage.EventInputSubmitted:
			inputs = append(inputs, d.Data.Input.Kind)
		case storage.EventFileUploaded:
			fileIDs = append(fileIDs, d.Data.File.ID)
		}
	}
	var stored []string
	for _, m := range msgs {
		stored = append(stored, m.ID)
	}
	if !slices.Equal(msgIDs, stored) {
		t.Fatalf("message.created IDs %v, the session's messages %v", msgIDs, stored)
	}
	if types[0] != storage.EventSessionStarted || !slices.Contains(inputs, "email") || !slices.Contains(inputs, "phone") {
		t.Fatalf("events %v, inputs %v", types, inputs)
	}
	var uploaded []string
	for fid := range c.uploads {
		uploaded = append(uploaded, fid)
	}
	if !slices.Equal(fileIDs, uploaded) {
		t.Fatalf("file.uploaded %v, uploads %v", fileIDs, uploaded)
	}
	if n := r.BadSignatures(); n != 0 {
		t.Fatalf("%d bad signatures", n)
	}

	t.Run("AdminAPI", func(t *testing.T) {
		var list struct{ Items []map[string]any }
		admintest.Get(t, base, adminToken, "/admin/api/webhooks", &list)
		if len(list.Items) != len(hooks) || list.Items[0]["id"] != "crm" || list.Items[0]["waiting"] != 0.0 || list.Items[0]["secret"] != nil {
			t.Fatalf("webhooks: %+v", list.Items)
		}
		if withPrivate {
			waitUntil(t, 5*time.Second, "the private endpoint's refusal", func() bool {
				var log struct{ Items []storage.Attempt }
				admintest.Get(t, base, adminToken, "/admin/api/webhooks/demo/private/deliveries", &log)
				return len(log.Items) > 0 && strings.Contains(log.Items[0].Error, "not public")
			})
			if len(private.Deliveries()) != 0 {
				t.Fatal("the private endpoint got a delivery")
			}
		}
		var log struct {
			Items []struct {
				storage.Attempt
				Payload json.RawMessage `json:"payload"`
			}
		}
		waitUntil(t, 5*time.Second, "every delivery logged", func() bool {
			admintest.Get(t, base, adminToken, "/admin/api/webhooks/demo/crm/deliveries?limit=500", &log)
			return len(log.Items) >= len(r.Deliveries())
		})
		if len(log.Items) != len(r.Deliveries()) || log.Items[0].Outcome != storage.OutcomeDelivered || !json.Valid(log.Items[0].Payload) {
			t.Fatalf("%d logged, %d delivered; newest %+v", len(log.Items), len(r.Deliveries()), log.Items[0])
		}
		first := log.Items[len(log.Items)-1]
		resp, body := adminDo(t, http.MethodPost, base+"/admin/api/webhooks/demo/crm/deliveries/"+first.ID+"/resend")
		if resp.StatusCode != http.StatusAccepted || !strings.Contains(string(body), first.EventID) {
			t.Fatalf("resend: %d %s", resp.StatusCode, body)
		}
		waitUntil(t, 5*time.Second, "the resent event", func() bool {
			d := r.Deliveries()
			return d[len(d)-1].ID == first.EventID
		})
		for _, c := range []struct {
			method, path string
			status       int
		}{
			{http.MethodPost, "/admin/api/webhooks/demo/crm/deliveries/00000000000000ff/resend", http.StatusNotFound},
			{http.MethodPost, "/admin/api/webhooks/demo/crm/deliveries/nonsense/resend", http.StatusNotFound},
			{http.MethodGet, "/admin/api/webhooks/demo/nope", http.StatusNotFound},
			{http.MethodGet, "/admin/api/webhooks/other/crm/deliveries", http.StatusNotFound},
			{http.MethodGet, "/admin/api/webhooks/demo/crm/deliveries?limit=0", http.StatusBadRequest},
			{http.MethodPost, "/admin/api/webhooks/demo/crm/resume", http.StatusNoContent},
		} {
			if resp, body := adminDo(t, c.method, base+c.path); resp.StatusCode != c.status {
				t.Errorf("%s %s: %d %s, want %d", c.method, c.path, resp.StatusCode, body, c.status)
			}
		}
		if resp, _ := admintest.Do(t, http.MethodPost, base+"/admin/api/webhooks/demo/crm/resume", nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("resume without the token: %d", resp.StatusCode)
		}
		// The receiver has the resent event before the dispatcher has its
		// answer and takes it off the backlog.
		var metrics []byte
		waitUntil(t, 5*time.Second, "an empty backlog in /metrics", func() bool {
			_, metrics = adminDo(t, http.MethodGet, base+"/metrics")
			return strings.Contains(string(metrics), `parley_webhook_events_waiting{endpoint="demo/crm"} 0`)
		})
		for _, want := range []string{`parley_webhook_attempts_total{outcome="delivered"}`, `parley_webhook_attempts_total{outcome="failed"}`,
			`parley_webhook_endpoint_paused{endpoint="demo/crm"} 0`} {
			if !strings.Contains(string(metrics), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})

	t.Run("Erase", func(t *testing.T) {
		if resp, body := adminDo(t, http.MethodDelete, base+"/admin/api/users/"+c.visitor); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("erase: %d %s", resp.StatusCode, body)
		}
		waitUntil(t, 5*time.Second, "visitor.erased", func() bool {
			d := r.Deliveries()
			return d[len(d)-1].Type == storage.EventVisitorErased && d[len(d)-1].Data.Visitor == c.visitor
		})
		// The erased visitor's data is gone from the delivery log too.
		var log struct{ Items []storage.Attempt }
		waitUntil(t, 5*time.Second, "the log of visitor.erased", func() bool {
			admintest.Get(t, base, adminToken, "/admin/api/webhooks/demo/crm/deliveries?limit=500", &log)
			return len(log.Items) > 0
		})
		if len(log.Items) != 1 || log.Items[0].Type != storage.EventVisitorErased {
			t.Fatalf("log after the erase: %+v", log.Items)
		}
	})
}

// waitUntil polls cond every 20 ms until it holds or d passes.
func waitUntil(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWebhooks_ConfigProblems: bad webhook entries are refused with their
// place in the file and what is wrong.
func TestWebhooks_ConfigProblems(t *testing.T) {
	path := webhookConfig(t,
		`{"id": "a", "url": "ftp://x.example/", "secret": "whsec_c2hvcnQ=", "events": ["message.created", "message.sent"]}`,
		`{"id": "a", "url": "https://user:pw@x.example/", "secret": "nope", "events": []}`,
		`{"id": "b/c", "url": "https://x.example/", "secret": "`+webhooktest.Secret+`", "events": ["session.started"], "allowPrivate": true}`,
		`{"id": "lan", "url": "https://10.1.2.3/hook", "secret": "`+webhooktest.Secret+`", "events": ["session.started"]}`,
		`{"id": "local", "url": "http://localhost:9000/hook", "secret": "`+webhooktest.Secret+`", "events": ["session.started"]}`,
		`{"id": "plain", "url": "http://crm.example/hook", "secret": "`+webhooktest.Secret+`", "events": ["session.started"]}`,
		`{"id": "ok", "url": "http://127.0.0.1:9000/hook", "secret": "`+webhooktest.Secret+`", "events": ["session.started"], "allowPrivateNetwork": true}`,
	)
	_, ps := server.CheckConfig(path)
	got := strings.Join(ps.Strings(), "\n")
	for _, want := range []string{
		`webhooks[0]: url: "ftp://x.example/": want an http:// or https:// URL`,
		`webhooks[0]: secret: 5 bytes of key; want 24 to 64`,
		`webhooks[0]: events: unknown event "message.sent"`,
		`webhooks[1]: duplicate id "a"`,
		`webhooks[1]: url: "https://user:pw@x.example/": no user:password`,
		`webhooks[1]: secret: want "whsec_"`,
		`webhooks[1]: events: list the events`,
		`webhooks[2]: id: want 1 to 64 letters`,
		`webhooks[2]: unknown field "allowPrivate"`,
		`webhooks[3]: url: "10.1.2.3" is not a public address; deliveries to it are refused unless the endpoint sets allowPrivateNetwork`,
		`webhooks[4]: url: "localhost" is not a public address`,
		`warning: site demo: webhooks[5]: url: "http://crm.example/hook" is http: the events (names, emails, messages) travel unencrypted; use https`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "webhooks[6]") {
		t.Errorf("the allowed private endpoint has a problem:\n%s", got)
	}
	if !strings.Contains(got, "sites.json:3:") {
		t.Errorf("problems lack a line number:\n%s", got)
	}
}

// TestWebhooks_Reload: a config reload changes the endpoints at once: a
// removed one gets no new event and leaves the admin list, a new one gets
// the events written from then on.
func TestWebhooks_Reload(t *testing.T) {
	a, b := webhooktest.New(t), webhooktest.New(t)
	path := webhookConfig(t, hook("a", a.URL, true))
	s, base := startWebhookServer(t, path)
	ctx := context.Background()
	first := newStoryClient(base, "first")
	if err := first.connect(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "a's session.started", func() bool { return len(a.Unique()) > 0 })

	src, err := os.ReadFile(webhookConfig(t, hook("b", b.URL, true)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	gotA := len(a.Deliveries())
	second := newStoryClient(base, "second")
	if err := second.connect(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "b's session.started", func() bool {
		for _, d := range b.Unique() {
			if d.Type == storage.EventSessionStarted && d.Data.Session == second.session {
				return true
			}
		}
		return false
	})
	time.Sleep(100 * time.Millisecond)
	if n := len(a.Deliveries()); n != gotA {
		t.Errorf("the removed endpoint got %d more deliveries", n-gotA)
	}
	var list struct{ Items []map[string]any }
	admintest.Get(t, base, adminToken, "/admin/api/webhooks", &list)
	if len(list.Items) != 1 || list.Items[0]["id"] != "b" {
		t.Fatalf("webhooks after the reload: %+v", list.Items)
	}
}
