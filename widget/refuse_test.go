package widget_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/widgettest"
)

func TestHandshake_Refused(t *testing.T) {
	var logs lockedBuffer
	e := mustEnv(t, widget.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	dial := func(site, origin string) int {
		t.Helper()
		_, resp, err := widgettest.Dial(context.Background(), widgettest.URL(e.srv.URL, site), widgettest.Options{Origin: origin})
		if err == nil || resp == nil {
			t.Fatalf("dial %s from %s: %v, want a refusal", site, origin, err)
		}
		return resp.StatusCode
	}
	for range 30 {
		if got := dial("demo", "https://evil.example"); got != http.StatusForbidden {
			t.Fatalf("wrong origin: %d, want 403", got)
		}
	}
	for range 5 {
		if got := dial("nope", testOrigin); got != http.StatusNotFound {
			t.Fatalf("unknown site: %d, want 404", got)
		}
	}

	t.Run("Metrics", func(t *testing.T) {
		if got := e.gw.Stats.Refused("origin_not_allowed"); got != 30 {
			t.Errorf("refused origin_not_allowed = %d, want 30", got)
		}
		if got := e.gw.Stats.Refused("unknown_site"); got != 5 {
			t.Errorf("refused unknown_site = %d, want 5", got)
		}
		// What server/metrics exports as parley_connections_refused_total.
		if got := e.gw.Stats.RefusedByReason(); got["origin_not_allowed"] != 30 || got["unknown_site"] != 5 {
			t.Errorf("refused by reason %v, want origin_not_allowed 30 and unknown_site 5", got)
		}
	})
	t.Run("LogRateLimited", func(t *testing.T) {
		// One line per reason for the burst, not one per refusal.
		lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
		var origin, site int
		for _, l := range lines {
			switch {
			case strings.Contains(l, "handshake refused") && strings.Contains(l, "reason=origin_not_allowed"):
				origin++
				if !strings.Contains(l, "origin=https://evil.example") || !strings.Contains(l, "site=demo") {
					t.Errorf("log line lacks the origin or site: %s", l)
				}
			case strings.Contains(l, "handshake refused") && strings.Contains(l, "reason=unknown_site"):
				site++
			}
		}
		if origin != 1 || site != 1 {
			t.Errorf("logged %d origin and %d site refusals, want 1 each:\n%s", origin, site, logs.String())
		}
	})
	t.Run("Probe", func(t *testing.T) {
		// A plain GET tells a page why, readable cross-origin, and is
		// neither counted nor logged.
		before := logs.String()
		for _, tt := range []struct {
			site, origin string
			status       int
			code         string
		}{
			{"demo", "https://evil.example", 403, "origin_not_allowed"},
			{"nope", testOrigin, 404, "unknown_site"},
			{"demo", testOrigin, 426, "websocket_required"},
		} {
			req, _ := http.NewRequest("GET", e.srv.URL+"/v1/ws?site="+tt.site, nil)
			req.Header.Set("Origin", tt.origin)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body struct{ Code, Message string }
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != tt.status || body.Code != tt.code || body.Message == "" {
				t.Errorf("GET %s from %s: %d %+v (%v), want %d %s", tt.site, tt.origin, resp.StatusCode, body, err, tt.status, tt.code)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("GET %s from %s: Access-Control-Allow-Origin %q, want *", tt.site, tt.origin, got)
			}
		}
		if got := e.gw.Stats.Refused("origin_not_allowed"); got != 30 {
			t.Errorf("probes counted as refusals: %d, want 30", got)
		}
		if logs.String() != before {
			t.Errorf("probes were logged:\n%s", strings.TrimPrefix(logs.String(), before))
		}
	})
}
