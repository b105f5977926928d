package server_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
	"github.com/parley-chat/parley/widget/widgettest"
)

// TestErrors_OneShape asks every kind of endpoint for an error and
// checks each answers the one shape: a JSON object of code, message and
// at most param, served as JSON and not sniffed.
func TestErrors_OneShape(t *testing.T) {
	_, ts := mustServer(t)
	token := http.Header{"Authorization": {"Bearer " + opsToken}}
	origin := http.Header{"Origin": {"https://elsewhere.example"}}
	tests := []struct {
		name   string
		path   string
		h      http.Header
		status int
		code   string
	}{
		{"UnknownEndpoint", "/nothing", nil, 404, "not_found"},
		{"AdminParam", "/admin/api/users?limit=0", token, 400, "invalid_parameter"},
		{"AdminNoToken", "/admin/api/users", nil, 401, "unauthorized"},
		{"ConsoleFile", "/admin/nothing.js", nil, 404, "not_found"},
		{"UploadUnknownSite", "/v1/files/x?site=nope", nil, 404, "not_found"},
		{"DownloadNoToken", "/v1/files/01JAAAAAAAAAAAAAAAAAAAAAAA?site=demo", nil, 401, "unauthorized"},
		{"SocketUnknownSite", "/v1/ws?site=nope", nil, 404, "unknown_site"},
		{"SocketOrigin", "/v1/ws?site=demo", origin, 403, "origin_not_allowed"},
		{"SocketProbe", "/v1/ws?site=demo", http.Header{"Origin": {ts.URL}}, 426, "websocket_required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, ts.URL+tt.path, tt.h)
			var fields map[string]string
			if err := json.Unmarshal([]byte(body), &fields); err != nil {
				t.Fatalf("%d %q is not a JSON object of strings: %v", resp.StatusCode, body, err)
			}
			if resp.StatusCode != tt.status || fields["code"] != tt.code || fields["message"] == "" {
				t.Errorf("got %d %s, want %d %s with a message", resp.StatusCode, body, tt.status, tt.code)
			}
			for k := range fields {
				if k != "code" && k != "message" && k != "param" {
					t.Errorf("field %q in %s", k, body)
				}
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
		})
	}
}

// TestErrors_LoggedThroughTheConfiguredLogger makes the admin API and a
// download fail (the store closed) and finds each failure once, with its
// cause, in the server's own log, not in slog's default logger.
func TestErrors_LoggedThroughTheConfiguredLogger(t *testing.T) {
	var logs syncBuffer
	s, err := server.Open(server.Config{DataDir: t.TempDir(), AdminToken: opsToken, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	s.Store.Close()
	resp, body := get(t, ts.URL+"/admin/api/users", http.Header{"Authorization": {"Bearer " + opsToken}})
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, `"code":"internal"`) {
		t.Fatalf("a query on a closed store: %d %s", resp.StatusCode, body)
	}
	if got := logs.String(); !strings.Contains(got, `"msg":"request failed"`) || !strings.Contains(got, `"path":"/admin/api/users"`) || !strings.Contains(got, `"err":`) {
		t.Errorf("the server's log lacks the failed request with its cause:\n%s", got)
	}
	file := "/v1/files/01JAAAAAAAAAAAAAAAAAAAAAAA"
	token := http.Header{"X-Parley-Token": {s.Keys.Sign("demo", "01JAAAAAAAAAAAAAAAAAAAAAA1")}}
	if resp, body := get(t, ts.URL+file+"?site=demo", token); resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("a download from a closed store: %d %s", resp.StatusCode, body)
	}
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, file) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], `"msg":"request failed"`) || !strings.Contains(lines[0], `"err":`) {
		t.Errorf("want the failed download logged once with its cause, got:\n%s", strings.Join(lines, "\n"))
	}
}

// TestErrors_ForeignIDs: an ID Parley never gives (here with a NUL byte,
// which PostgreSQL cannot hold in text) is an unknown record or a bad
// frame on either engine: never a 500, never "send it again".
func TestErrors_ForeignIDs(t *testing.T)   { testForeignIDs(t, "") }
func TestPostgres_ForeignIDs(t *testing.T) { testForeignIDs(t, postgrestest.URL(t)) }

func testForeignIDs(t *testing.T, store string) {
	_, ts := startAdminServer(t, server.Config{Store: store})
	v := widgettest.MustDial(t, widgettest.URL(ts.URL, "demo"), widgettest.Options{Origin: testOrigin})
	w := v.MustHello(widgettest.Hello{})
	v.UntilPrompt("menu")
	v.MustText("a\x00b", "hello")
	if f := v.Expect(widgettest.TypeError); f.Code != "bad_frame" {
		t.Errorf("a frame whose id holds a NUL byte: %+v, want bad_frame", f)
	}
	auth := http.Header{"Authorization": {"Bearer " + adminToken}}
	for _, p := range []string{"/admin/api/sessions/a%00b", "/admin/api/sessions/a%00b/conversation", "/admin/api/users/a%00b", "/admin/api/users/a%00b/sessions"} {
		if resp, body := get(t, ts.URL+p, auth); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d %s, want 404", p, resp.StatusCode, body)
		}
	}
	for _, p := range []string{"/admin/api/sessions?site=a%00b", "/admin/api/sessions?q=a%00b", "/admin/api/users?q=a%00b", "/admin/api/usage?bot=a%00b", "/admin/api/gaps?site=a%00b"} {
		if resp, body := get(t, ts.URL+p, auth); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "control characters") {
			t.Errorf("GET %s: %d %s, want 400 naming the control characters", p, resp.StatusCode, body)
		}
	}
	if status, body := hoCall(t, nil, "POST", ts.URL+"/admin/api/sessions/a%00b/take", adminToken, map[string]any{}); status != http.StatusNotFound {
		t.Errorf("take: %d %s, want 404", status, body)
	}
	if status, body := hoCall(t, nil, "DELETE", ts.URL+"/admin/api/agents/a%00b", adminToken, nil); status != http.StatusNotFound {
		t.Errorf("revoke: %d %s, want 404", status, body)
	}
	for _, ag := range []map[string]any{{"name": "eve", "displayName": "Eve\x00"}, {"name": "eve", "displayName": "Eve\u202e"}, {"name": "eve", "sites": []string{"demo\x00"}}} {
		if status, body := hoCall(t, nil, "POST", ts.URL+"/admin/api/agents", adminToken, ag); status != http.StatusBadRequest {
			t.Errorf("add agent %q: %d %s, want 400 invalid_agent", ag, status, body)
		}
	}
	if status, body := hoCall(t, nil, "POST", ts.URL+"/admin/api/sessions/"+w.Session+"/conversation", adminToken, map[string]string{"assignee": "a\x00b"}); status != http.StatusBadRequest {
		t.Errorf("assign: %d %s, want 400 unknown_agent", status, body)
	}
	if status, body := hoCall(t, nil, "POST", ts.URL+"/admin/api/signin", "", map[string]string{"name": "a\x00b", "secret": "x"}); status != http.StatusUnauthorized {
		t.Errorf("sign-in: %d %s, want 401 bad_credentials", status, body)
	}
	if status, body := postUpload(t, ts.URL, "a%00b", w.Token, "scan.pdf", "application/pdf", []byte("%PDF-1.4\n%%EOF\n")); status != http.StatusNotFound {
		t.Errorf("upload: %d %s, want 404", status, body)
	}
}
