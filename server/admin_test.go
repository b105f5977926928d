package server_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget"
)

// Helpers of the admin API tests start with "adm" so they do not collide
// with other tests of package server_test.

const admToken = "admin-test-token-0123456789abcdef"

// admNow is the clock of the admin tests' servers.
var admNow = time.Date(2025, 3, 31, 12, 0, 0, 0, time.UTC)

// admServer starts Parley with an empty store behind httptest.
func admServer(tb testing.TB) (*server.Server, *httptest.Server) {
	tb.Helper()
	return startServer(tb, server.Config{AdminToken: admToken, Now: func() time.Time { return admNow }})
}

// admDo sends a request with the given headers and returns the answer and
// its body.
func admDo(tb testing.TB, method, url string, h map[string]string) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, b
}

var admAuth = map[string]string{"Authorization": "Bearer " + admToken}

// admGet fetches an admin API path with the token, expects 200 and decodes
// the JSON body into v.
func admGet(tb testing.TB, ts *httptest.Server, path string, v any) {
	tb.Helper()
	resp, body := admDo(tb, "GET", ts.URL+path, admAuth)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		tb.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// admAct is one thing a visitor does in a fixture session.
type admAct struct {
	kind, variable, inKind, value string
}

var (
	admChoice = admAct{kind: storage.KindChoice}
	admFile   = admAct{kind: storage.KindFile}
)

func admInput(kind, variable, value string) admAct {
	return admAct{kind: storage.KindInput, inKind: kind, variable: variable, value: value}
}

// admSession writes a session through the real write path: CreateSession,
// the bot's opening, one turn per act a minute apart, and the final state.
func admSession(tb testing.TB, st *storage.Store, visitorID string, start time.Time, state storage.State, acts ...admAct) *storage.Session {
	tb.Helper()
	ctx := context.Background()
	v := &storage.Visitor{ID: visitorID, Site: "demo", Channel: "web", CreatedAt: start,
		Device: storage.Device{OS: "Windows 10", Browser: "Chrome 120"}}
	sess := &storage.Session{ID: storage.NewID(start), Site: "demo", VisitorID: visitorID, Bot: "demo", Version: "1",
		Channel: "web", Device: v.Device, StartedAt: start}
	if err := st.CreateSession(ctx, v, sess); err != nil {
		tb.Fatal(err)
	}
	open := storage.State{Current: "welcome", Reached: []string{"welcome"}}
	if _, _, _, err := st.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, State: &open, Touch: start,
		Messages: []storage.Message{{From: storage.FromBot, Kind: storage.KindBot, At: start, Text: "Hi!", Block: "welcome"}}}); err != nil {
		tb.Fatal(err)
	}
	at := start
	for i, a := range acts {
		at = at.Add(time.Minute)
		m := storage.Message{From: storage.FromVisitor, Kind: a.kind, At: at, Block: fmt.Sprintf("b%d", i)}
		t := &storage.Turn{SessionID: sess.ID, ClientID: fmt.Sprintf("c%d", i)}
		switch a.kind {
		case storage.KindChoice:
			m.Option, m.Text = "yes", "Yes please"
		case storage.KindInput:
			m.Text, m.Value = a.value, a.value
			t.Inputs = []storage.Input{{Block: m.Block, Variable: a.variable, Kind: a.inKind, Value: a.value, At: at}}
		case storage.KindFile:
			m.Text = "scan.pdf"
			m.File = &storage.FileRef{ID: storage.NewID(at), Name: "scan.pdf", Size: 1234, Type: "application/pdf", At: at}
		}
		t.Messages = []storage.Message{m, {From: storage.FromBot, Kind: storage.KindBot, At: at, Text: "Thanks", Block: m.Block}}
		if _, _, _, err := st.RecordTurn(ctx, t); err != nil {
			tb.Fatal(err)
		}
	}
	state.Current, state.Previous = cmpOr(state.Current, "end"), "welcome"
	state.Reached = append([]string{"welcome"}, state.Reached...)
	got, _, _, err := st.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, State: &state})
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// The known data: six visitors of seed 000's cases, in March 2025.
const (
	admV1 = "01JAAAAAAAAAAAAAAAAAAAAAA1" // engaged
	admV2 = "01JAAAAAAAAAAAAAAAAAAAAAA2" // a file in one session, a choice in another
	admV3 = "01JAAAAAAAAAAAAAAAAAAAAAA3" // never interacted
	admV4 = "01JAAAAAAAAAAAAAAAAAAAAAA4" // choice, file and email in one session
	admV5 = "01JAAAAAAAAAAAAAAAAAAAAAA5" // a name, then a phone
	admV6 = "01JAAAAAAAAAAAAAAAAAAAAAA6" // a nickname that looks like a spreadsheet formula
)

var admDay0 = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

func admDay(n int) time.Time { return admDay0.Add(time.Duration(n) * 24 * time.Hour) }

// admFixture fills the server's store with the known data.
func admFixture(tb testing.TB, s *server.Server) map[string]*storage.Session {
	tb.Helper()
	st := s.Store
	lead := storage.State{Goals: []string{"lead"}, Tags: []string{"pricing"}, Reached: []string{"ask_email"}}
	return map[string]*storage.Session{
		"v1":  admSession(tb, st, admV1, admDay(0), storage.State{}, admChoice),
		"v2a": admSession(tb, st, admV2, admDay(1), storage.State{}, admFile),
		"v2b": admSession(tb, st, admV2, admDay(2), storage.State{}, admChoice),
		"v3":  admSession(tb, st, admV3, admDay(3), storage.State{}),
		"v4":  admSession(tb, st, admV4, admDay(4), lead, admChoice, admFile, admInput("email", "email", "lee@example.org")),
		"v5a": admSession(tb, st, admV5, admDay(5), storage.State{}, admInput("text", "first_name", "Anna")),
		"v5b": admSession(tb, st, admV5, admDay(6), lead, admInput("phone", "phone", "+49 30 1234567")),
		"v6":  admSession(tb, st, admV6, admDay(7), storage.State{Variables: map[string]string{"city": "Berlin"}}, admInput("text", "nickname", "=cmd()")),
	}
}

// admUser is a row of the overview, as the client sees it.
type admUser struct {
	ID                string  `json:"id"`
	Label             string  `json:"label"`
	LastFileAt        *string `json:"lastFileAt"`
	LastInputAt       *string `json:"lastInputAt"`
	LastInteractionAt string  `json:"lastInteractionAt"`
	CreatedAt         string  `json:"createdAt"`
	Device            struct {
		OS      string `json:"os"`
		Browser string `json:"browser"`
		Mobile  *bool  `json:"mobile"`
	} `json:"device"`
}

type admList[T any] struct {
	Items []T     `json:"items"`
	Next  *string `json:"next"`
}

// admAllUsers pages through the overview with query (without limit and
// cursor) and returns every row, failing on a repeated visitor.
func admAllUsers(tb testing.TB, ts *httptest.Server, query string, limit int) []admUser {
	tb.Helper()
	var all []admUser
	seen := map[string]bool{}
	cursor := ""
	for {
		var page admList[admUser]
		admGet(tb, ts, fmt.Sprintf("/admin/api/users?%s&limit=%d&cursor=%s", query, limit, cursor), &page)
		for _, u := range page.Items {
			if seen[u.ID] {
				tb.Fatalf("%s: visitor %s on two pages", query, u.ID)
			}
			seen[u.ID] = true
		}
		all = append(all, page.Items...)
		if page.Next == nil {
			return all
		}
		if len(page.Items) == 0 {
			tb.Fatalf("%s: empty page with a next cursor", query)
		}
		cursor = *page.Next
	}
}

func admIDs(users []admUser) []string {
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	return ids
}

func TestAdminAPI_UsersFlags(t *testing.T) {
	s, ts := admServer(t)
	admFixture(t, s)
	// Every combination of the three toggles, against seed 000: a visitor
	// is listed when one session has every flag asked for.
	want := map[string][]string{
		"":                           {admV6, admV5, admV4, admV3, admV2, admV1},
		"engaged=1":                  {admV4, admV2, admV1},
		"files=1":                    {admV4, admV2},
		"inputs=1":                   {admV6, admV5, admV4},
		"engaged=1&files=1":          {admV4},
		"engaged=1&inputs=1":         {admV4},
		"files=1&inputs=1":           {admV4},
		"engaged=1&files=1&inputs=1": {admV4},
	}
	for query, ids := range want {
		for _, limit := range []int{1, 2, 500} {
			t.Run(fmt.Sprintf("%s/limit%d", query, limit), func(t *testing.T) {
				if got := admIDs(admAllUsers(t, ts, query, limit)); !slices.Equal(got, ids) {
					t.Errorf("got %v, want %v", got, ids)
				}
			})
		}
	}
	t.Run("TogglesOff", func(t *testing.T) {
		got := admIDs(admAllUsers(t, ts, "engaged=0&files=0&inputs=0", 50))
		if !slices.Equal(got, want[""]) {
			t.Errorf("got %v", got)
		}
	})
	t.Run("Period", func(t *testing.T) {
		// v2's file session is on day 1, its engaged one on day 2.
		q := fmt.Sprintf("from=%s&to=%s", admDay(1).Format(time.RFC3339), admDay(2).Format(time.RFC3339))
		if got := admIDs(admAllUsers(t, ts, q+"&files=1", 50)); !slices.Equal(got, []string{admV2}) {
			t.Errorf("files on day 1: %v", got)
		}
		if got := admIDs(admAllUsers(t, ts, q+"&engaged=1", 50)); len(got) != 0 {
			t.Errorf("engaged on day 1: %v", got)
		}
		q = "from=" + admDay(6).Format(time.RFC3339)
		if got := admIDs(admAllUsers(t, ts, q, 50)); !slices.Equal(got, []string{admV6, admV5}) {
			t.Errorf("since day 6: %v", got)
		}
	})
	t.Run("LabelAndNullColumns", func(t *testing.T) {
		rows := map[string]admUser{}
		for _, u := range admAllUsers(t, ts, "", 500) {
			rows[u.ID] = u
		}
		labels := map[string]string{admV1: admV1, admV3: admV3, admV4: "lee@example.org", admV5: "+49 30 1234567", admV6: "=cmd()"}
		for id, label := range labels {
			if got := rows[id].Label; got != label {
				t.Errorf("%s: label %q, want %q", id, got, label)
			}
		}
		for _, id := range []string{admV1, admV3} {
			if rows[id].LastFileAt != nil || rows[id].LastInputAt != nil {
				t.Errorf("%s: file or input date not null: %+v", id, rows[id])
			}
		}
		if rows[admV2].LastFileAt == nil || rows[admV2].LastInputAt != nil {
			t.Errorf("v2 columns: %+v", rows[admV2])
		}
		if rows[admV4].LastFileAt == nil || rows[admV4].LastInputAt == nil {
			t.Errorf("v4 columns: %+v", rows[admV4])
		}
		if rows[admV3].LastInteractionAt == "" || rows[admV3].CreatedAt == "" || rows[admV3].Device.OS != "Windows 10" || rows[admV3].Device.Mobile == nil {
			t.Errorf("v3 columns: %+v", rows[admV3])
		}
	})
	t.Run("NameLabel", func(t *testing.T) {
		// Before the phone, v5 was known by its first name.
		q := "to=" + admDay(6).Format(time.RFC3339)
		for _, u := range admAllUsers(t, ts, q, 50) {
			if u.ID == admV5 && u.Label != "+49 30 1234567" {
				t.Errorf("the label is the visitor's current one, got %q", u.Label)
			}
		}
		var p struct {
			Name *string `json:"name"`
		}
		admGet(t, ts, "/admin/api/users/"+admV5, &p)
		if p.Name == nil || *p.Name != "Anna" {
			t.Errorf("name: %v", p.Name)
		}
	})
	t.Run("Search", func(t *testing.T) {
		for q, ids := range map[string][]string{"anna": {admV5}, "lee%40example": {admV4}, "%2B49%2030": {admV5}, strings.ToLower(admV3): {admV3}, "berlin": nil} {
			if got := admIDs(admAllUsers(t, ts, "q="+q, 1)); !slices.Equal(got, ids) {
				t.Errorf("q=%s: got %v, want %v", q, got, ids)
			}
		}
	})
}

func TestAdminAPI_BadParams(t *testing.T) {
	s, ts := admServer(t)
	admFixture(t, s)
	var first admList[admUser]
	admGet(t, ts, "/admin/api/users?limit=1", &first)
	forged := []byte(*first.Next)
	forged[5] = map[bool]byte{true: 'B', false: 'A'}[forged[5] == 'A']
	tests := []struct{ path, param string }{
		{"/admin/api/users?from=yesterday", "from"},
		{"/admin/api/users?to=2025-13-01T00:00:00Z", "to"},
		{"/admin/api/users?from=2025-03-02T00:00:00Z&to=2025-03-01T00:00:00Z", "from"},
		{"/admin/api/users?limit=0", "limit"},
		{"/admin/api/users?limit=501", "limit"},
		{"/admin/api/users?limit=ten", "limit"},
		{"/admin/api/users?engaged=maybe", "engaged"},
		{"/admin/api/users?cursor=" + string(forged), "cursor"},
		{"/admin/api/users?cursor=garbage", "cursor"},
		{"/admin/api/users?engaged=1&cursor=" + *first.Next, "cursor"},
		{"/admin/api/sessions?cursor=" + *first.Next, "cursor"},
		{"/admin/api/users/" + admV2 + "/sessions?from=x", "from"},
		{"/admin/api/sessions?status=sleeping", "status"},
		{"/admin/api/sessions?responses=2", "responses"},
		{"/admin/api/sessions?limit=1000", "limit"},
		{"/admin/api/usage?from=2025-03-02T00:00:00Z&to=2025-03-01T00:00:00Z", "from"},
		{"/admin/api/usage?from=1990-01-01T00:00:00Z", "from"},
		{"/admin/api/users.csv?to=never", "to"},
		{"/admin/api/users?q=a;b", "query"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := admDo(t, "GET", ts.URL+tt.path, admAuth)
			var e struct{ Code, Message, Param string }
			json.Unmarshal(body, &e)
			if resp.StatusCode != http.StatusBadRequest || e.Param != tt.param || !strings.HasPrefix(e.Message, tt.param+":") {
				t.Errorf("got %d %s, want 400 naming %s", resp.StatusCode, body, tt.param)
			}
		})
	}
	t.Run("NotFound", func(t *testing.T) {
		for _, p := range []string{"/admin/api/users/01JZZZZZZZZZZZZZZZZZZZZZZZ", "/admin/api/users/nope/sessions", "/admin/api/sessions/nope", "/admin/api/nothing"} {
			if resp, body := admDo(t, "GET", ts.URL+p, admAuth); resp.StatusCode != http.StatusNotFound || !json.Valid(body) {
				t.Errorf("%s: %d %s", p, resp.StatusCode, body)
			}
		}
	})
}

func TestAdminAPI_Auth(t *testing.T) {
	_, ts := admServer(t)
	checkHeaders := func(t *testing.T, resp *http.Response) {
		t.Helper()
		h := resp.Header
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("CSP %q", csp)
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
			if got := h.Get(k); got != v {
				t.Errorf("%s: %q, want %q", k, got, v)
			}
		}
	}
	tests := []struct {
		name   string
		method string
		path   string
		h      map[string]string
		status int
		code   string
	}{
		{"NoToken", "GET", "/admin/api/users", nil, 401, "unauthorized"},
		{"WrongToken", "GET", "/admin/api/users", map[string]string{"Authorization": "Bearer " + admToken + "x"}, 401, "unauthorized"},
		{"NotBearer", "GET", "/admin/api/users", map[string]string{"Authorization": "Basic " + admToken}, 401, "unauthorized"},
		{"UnknownPathNeedsToken", "GET", "/admin/api/secret", nil, 401, "unauthorized"},
		{"TokenInURL", "GET", "/admin/api/users?token=" + admToken, admAuth, 400, "token_in_url"},
		{"AccessTokenInURL", "GET", "/admin/api/users?access_token=" + admToken, nil, 400, "token_in_url"},
		{"TokenInConsoleURL", "GET", "/admin/?token=" + admToken, nil, 400, "token_in_url"},
		{"CrossSitePost", "POST", "/admin/api/users", map[string]string{"Authorization": "Bearer " + admToken, "Sec-Fetch-Site": "cross-site"}, 403, "cross_origin"},
		{"SameOriginPost", "POST", "/admin/api/users", admAuth, 405, "method_not_allowed"},
		{"Good", "GET", "/admin/api/users", admAuth, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := admDo(t, tt.method, ts.URL+tt.path, tt.h)
			var e struct{ Code string }
			json.Unmarshal(body, &e)
			if resp.StatusCode != tt.status || e.Code != tt.code {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, body, tt.status, tt.code)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			checkHeaders(t, resp)
		})
	}
	t.Run("Console", func(t *testing.T) {
		resp, body := admDo(t, "GET", ts.URL+"/admin/", nil)
		if resp.StatusCode != 200 || !strings.Contains(string(body), `type="password"`) {
			t.Fatalf("console: %d %.200s", resp.StatusCode, body)
		}
		if strings.Contains(string(body), "<script>") || strings.Contains(string(body), " style=") {
			t.Error("the console page has inline script or style")
		}
		checkHeaders(t, resp)
		for _, f := range []string{"app.js", "chart.js", "app.css"} {
			if resp, _ := admDo(t, "GET", ts.URL+"/admin/"+f, nil); resp.StatusCode != 200 {
				t.Errorf("%s: %d", f, resp.StatusCode)
			}
		}
	})
	t.Run("RateLimit", func(t *testing.T) {
		_, ts := admServer(t)
		wrong := map[string]string{"Authorization": "Bearer wrong"}
		for i := range 10 {
			if resp, _ := admDo(t, "GET", ts.URL+"/admin/api/users", wrong); resp.StatusCode != 401 {
				t.Fatalf("failure %d: %d", i+1, resp.StatusCode)
			}
		}
		for _, h := range []map[string]string{wrong, nil} {
			resp, _ := admDo(t, "GET", ts.URL+"/admin/api/users", h)
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
				t.Errorf("after 10 failures: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
		}
		// The right token still passes: whoever shares the admin's
		// address cannot lock the admin out by failing.
		if resp, body := admDo(t, "GET", ts.URL+"/admin/api/users", admAuth); resp.StatusCode != 200 {
			t.Errorf("the right token from a blocked address: %d %s", resp.StatusCode, body)
		}
	})
}

func TestAdminAPI_OneFailureBudget(t *testing.T) {
	// Every route that takes the admin token counts against one budget of
	// 10 failures per address: the API, a file download, the privacy
	// routes (export, erase), the backup, the metrics.
	t.Run("AcrossRoutes", func(t *testing.T) {
		_, ts := admServer(t)
		wrong := map[string]string{"Authorization": "Bearer wrong"}
		id := "01JAAAAAAAAAAAAAAAAAAAAAAA"
		routes := [][2]string{
			{"GET", "/admin/api/users"}, {"GET", "/admin/api/files/" + id}, {"GET", "/admin/api/users/" + id + "/export"},
			{"DELETE", "/admin/api/users/" + id}, {"GET", "/admin/api/backup"}, {"GET", "/admin/api/usage"}, {"GET", "/metrics"},
		}
		for i := range 10 {
			rt := routes[i%len(routes)]
			if resp, body := admDo(t, rt[0], ts.URL+rt[1], wrong); resp.StatusCode != 401 {
				t.Fatalf("failure %d on %s: %d %s", i+1, rt[1], resp.StatusCode, body)
			}
		}
		for _, rt := range routes {
			if resp, _ := admDo(t, rt[0], ts.URL+rt[1], wrong); resp.StatusCode != http.StatusTooManyRequests {
				t.Errorf("%s %s after 10 failures elsewhere: %d, want 429", rt[0], rt[1], resp.StatusCode)
			}
		}
	})
	t.Run("IPv6Per64", func(t *testing.T) {
		// Behind a trusted proxy the client is the address it names; the
		// addresses of one IPv6 /64 share a budget, another /64 has its own.
		proxies, _ := server.ParseTrustedProxies("127.0.0.1")
		_, ts := startServer(t, server.Config{AdminToken: admToken, Limits: widget.Config{ClientIP: proxies.ClientIP}})
		from := func(ip, token string) int {
			resp, _ := admDo(t, "GET", ts.URL+"/admin/api/users", map[string]string{"Authorization": "Bearer " + token, "X-Forwarded-For": ip})
			return resp.StatusCode
		}
		for i := range 10 {
			if got := from(fmt.Sprintf("2001:db8:1:2::%x", i+1), "wrong"); got != 401 {
				t.Fatalf("failure %d: %d", i+1, got)
			}
		}
		if got := from("2001:db8:1:2:ffff::1", "wrong"); got != http.StatusTooManyRequests {
			t.Errorf("another address of the /64: %d, want 429", got)
		}
		if got := from("2001:db8:1:3::1", "wrong"); got != 401 {
			t.Errorf("another /64: %d, want 401", got)
		}
		if got := from("2001:db8:1:2::1", admToken); got != 200 {
			t.Errorf("the right token from the blocked /64: %d", got)
		}
	})
}

func TestAdminToken_MinLength(t *testing.T) {
	t.Run("Config", func(t *testing.T) {
		dir := t.TempDir()
		_, err := server.Open(server.Config{DataDir: dir, AdminToken: "a"})
		if err == nil || !strings.Contains(err.Error(), "PARLEY_ADMIN_TOKEN") || !strings.Contains(err.Error(), "at least 32") {
			t.Errorf("a 1-character token: %v", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("a refused start wrote %d files", len(entries))
		}
	})
	t.Run("Env", func(t *testing.T) {
		var out syncBuffer
		// Bounded, so a start that wrongly succeeds fails the test.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		code := server.Main(ctx, []string{"--addr", freeAddr(t), "--data", t.TempDir()},
			func(k string) string { return map[string]string{"PARLEY_ADMIN_TOKEN": "short-token"}[k] }, &out, &out)
		if code == 0 || !strings.Contains(out.String(), "has 11 characters; it needs at least 32") {
			t.Errorf("PARLEY_ADMIN_TOKEN=short-token: exit %d, %q", code, out.String())
		}
	})
	t.Run("File", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "admin.token"), []byte("0123456789abcdef\n"), 0o600)
		_, err := server.Open(server.Config{DataDir: dir})
		if err == nil || !strings.Contains(err.Error(), "at least 32") {
			t.Errorf("a 16-character admin.token: %v", err)
		}
	})
}

func TestAdminAPI_Visitor(t *testing.T) {
	s, ts := admServer(t)
	sessions := admFixture(t, s)
	var p struct {
		ID                  string            `json:"id"`
		Label               string            `json:"label"`
		Name                *string           `json:"name"`
		Email               *string           `json:"email"`
		Phone               *string           `json:"phone"`
		SourcePlatform      string            `json:"sourcePlatform"`
		CreatedAt           string            `json:"createdAt"`
		LastInteractionAt   *string           `json:"lastInteractionAt"`
		LastMessageReceived *string           `json:"lastMessageReceived"`
		Variables           map[string]string `json:"variables"`
	}
	admGet(t, ts, "/admin/api/users/"+admV4, &p)
	if p.Email == nil || *p.Email != "lee@example.org" || p.Phone != nil || p.Name != nil || p.SourcePlatform != "web" ||
		p.LastInteractionAt == nil || p.Variables["email"] != "lee@example.org" || p.CreatedAt != admDay(4).Format(time.RFC3339) {
		t.Errorf("profile: %+v", p)
	}
	admGet(t, ts, "/admin/api/users/"+admV3, &p)
	if p.LastInteractionAt != nil || p.Label != admV3 {
		t.Errorf("silent profile: %+v", p)
	}

	type sessionRow struct {
		ID           string `json:"id"`
		StartedAt    string `json:"startedAt"`
		Bot          string `json:"bot"`
		Version      string `json:"version"`
		Channel      string `json:"channel"`
		MessageCount int    `json:"messageCount"`
		Inputs       []struct{ Name, Kind, Value, At string }
		Files        []struct {
			ID, Name, Type, At, URL string
			Size                    int64
		}
	}
	var list admList[sessionRow]
	admGet(t, ts, "/admin/api/users/"+admV2+"/sessions", &list)
	if len(list.Items) != 2 || list.Items[0].ID != sessions["v2b"].ID || list.Items[1].ID != sessions["v2a"].ID {
		t.Fatalf("v2 sessions: %+v", list.Items)
	}
	admGet(t, ts, "/admin/api/users/"+admV2+"/sessions?files=1", &list)
	if len(list.Items) != 1 || len(list.Items[0].Files) != 1 {
		t.Fatalf("v2 file sessions: %+v", list.Items)
	}
	f := list.Items[0].Files[0]
	if f.Name != "scan.pdf" || f.Size != 1234 || f.URL != "/admin/api/files/"+f.ID || f.At == "" {
		t.Errorf("file: %+v", f)
	}
	admGet(t, ts, "/admin/api/users/"+admV2+"/sessions?engaged=1&files=1", &list)
	if len(list.Items) != 0 {
		t.Errorf("no v2 session is engaged with files: %+v", list.Items)
	}
	admGet(t, ts, "/admin/api/users/"+admV4+"/sessions?inputs=1", &list)
	if len(list.Items) != 1 || len(list.Items[0].Inputs) != 1 || list.Items[0].Inputs[0].Name != "email" ||
		list.Items[0].Inputs[0].Kind != "email" || list.Items[0].Bot != "demo" || list.Items[0].MessageCount != 7 {
		t.Errorf("v4 sessions: %+v", list.Items)
	}
	// Paging one at a time.
	admGet(t, ts, "/admin/api/users/"+admV2+"/sessions?limit=1", &list)
	if len(list.Items) != 1 || list.Next == nil {
		t.Fatalf("page 1: %+v", list)
	}
	admGet(t, ts, "/admin/api/users/"+admV2+"/sessions?limit=1&cursor="+*list.Next, &list)
	if len(list.Items) != 1 || list.Items[0].ID != sessions["v2a"].ID || list.Next != nil {
		t.Errorf("page 2: %+v", list)
	}
}

// admSessionCard is a card of the dashboard, as the client sees it.
type admSessionCard struct {
	ID      string `json:"id"`
	Visitor struct {
		ID    string `json:"id"`
		Label string `json:"label"`
	} `json:"visitor"`
	Status          string   `json:"status"`
	DurationSeconds int64    `json:"durationSeconds"`
	MessageCount    int      `json:"messageCount"`
	HasResponses    bool     `json:"hasResponses"`
	Goals           []string `json:"goals"`
	Tags            []string `json:"tags"`
	LastBlock       string   `json:"lastBlock"`
}

func TestAdminAPI_Sessions(t *testing.T) {
	s, ts := admServer(t)
	sess := admFixture(t, s)
	ids := func(query string) []string {
		t.Helper()
		var out []string
		cursor := ""
		for {
			var page admList[admSessionCard]
			admGet(t, ts, "/admin/api/sessions?limit=2&"+query+"&cursor="+cursor, &page)
			for _, c := range page.Items {
				out = append(out, c.ID)
			}
			if page.Next == nil {
				return out
			}
			cursor = *page.Next
		}
	}
	all := []string{sess["v6"].ID, sess["v5b"].ID, sess["v5a"].ID, sess["v4"].ID, sess["v3"].ID, sess["v2b"].ID, sess["v2a"].ID, sess["v1"].ID}
	tests := map[string][]string{
		"":                            all,
		"status=inactive":             all,
		"status=active":               nil,
		"responses=0":                 {sess["v3"].ID},
		"goal=lead":                   {sess["v5b"].ID, sess["v4"].ID},
		"goal=*":                      {sess["v5b"].ID, sess["v4"].ID},
		"tag=pricing&block=ask_email": {sess["v5b"].ID, sess["v4"].ID},
		"bot=demo&version=1&channel=web&responses=1": slices.Delete(slices.Clone(all), 4, 5),
		"bot=other":         nil,
		"q=anna":            {sess["v5b"].ID, sess["v5a"].ID},
		"q=lee@example.org": {sess["v4"].ID},
		"from=" + admDay(5).Format(time.RFC3339) + "&to=" + admDay(7).Format(time.RFC3339): {sess["v5b"].ID, sess["v5a"].ID},
	}
	for q, want := range tests {
		t.Run(q, func(t *testing.T) {
			if got := ids(q); !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
	t.Run("ActiveWhileSocketOpen", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/v1/ws?site=demo",
			&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {ts.URL}}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if err := wsjson.Write(ctx, c, map[string]string{"type": "hello"}); err != nil {
			t.Fatal(err)
		}
		var welcome struct{ Type, Session string }
		if err := wsjson.Read(ctx, c, &welcome); err != nil || welcome.Type != "welcome" {
			t.Fatalf("welcome: %+v %v", welcome, err)
		}
		if got := ids("status=active"); !slices.Equal(got, []string{welcome.Session}) {
			t.Errorf("active: got %v, want the open session %s", got, welcome.Session)
		}
		if got := ids("status=inactive"); slices.Contains(got, welcome.Session) || len(got) != len(all) {
			t.Errorf("inactive: got %v", got)
		}
		c.Close(websocket.StatusNormalClosure, "")
		for deadline := time.Now().Add(5 * time.Second); len(ids("status=active")) > 0; {
			if time.Now().After(deadline) {
				t.Fatal("the session stays active after its socket closed")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("Card", func(t *testing.T) {
		var page admList[admSessionCard]
		admGet(t, ts, "/admin/api/sessions?goal=lead&limit=1", &page)
		c := page.Items[0]
		if c.Visitor.ID != admV5 || c.Visitor.Label != "+49 30 1234567" || c.Status != "inactive" || c.DurationSeconds != 60 ||
			c.MessageCount != 3 || !c.HasResponses || !slices.Equal(c.Goals, []string{"lead"}) || !slices.Equal(c.Tags, []string{"pricing"}) || c.LastBlock != "end" {
			t.Errorf("card: %+v", c)
		}
	})
	t.Run("Transcript", func(t *testing.T) {
		var tr struct {
			Session admSessionCard `json:"session"`
			State   struct {
				Current, Previous string
				Variables         map[string]string
				Goals, Tags       []string
				Reached           []string
			} `json:"state"`
			Messages []struct {
				ID, From, Kind, At, Text, Block string
				Choice, Value                   *string
				File                            *struct{ ID, Name, URL string }
			} `json:"messages"`
		}
		admGet(t, ts, "/admin/api/sessions/"+sess["v4"].ID, &tr)
		var kinds []string
		for _, m := range tr.Messages {
			kinds = append(kinds, m.From+":"+m.Kind)
		}
		want := []string{"bot:bot", "visitor:choice", "bot:bot", "visitor:file", "bot:bot", "visitor:input", "bot:bot"}
		if !slices.Equal(kinds, want) {
			t.Fatalf("messages %v, want %v", kinds, want)
		}
		if m := tr.Messages[1]; m.Choice == nil || *m.Choice != "yes" || m.Text != "Yes please" {
			t.Errorf("choice: %+v", m)
		}
		if m := tr.Messages[3]; m.File == nil || m.File.URL != "/admin/api/files/"+m.File.ID {
			t.Errorf("file: %+v", m)
		}
		if m := tr.Messages[5]; m.Value == nil || *m.Value != "lee@example.org" {
			t.Errorf("input: %+v", m)
		}
		if tr.State.Current != "end" || tr.State.Previous != "welcome" || !slices.Equal(tr.State.Goals, []string{"lead"}) ||
			!slices.Contains(tr.State.Reached, "ask_email") || tr.Session.ID != sess["v4"].ID {
			t.Errorf("state: %+v", tr.State)
		}
	})
}

func TestAdminAPI_Usage(t *testing.T) {
	s, ts := admServer(t)
	admFixture(t, s)
	// Starts a rate limit refused: counted apart, never in the total.
	for i, reason := range []string{"visitors_per_ip", "visitors_per_ip", "sessions_per_visitor"} {
		s.Store.CountRefused(storage.Refusal{Site: "demo", Bot: "demo", Version: "1", Channel: "web", Reason: reason, At: admDay(10).Add(time.Duration(i) * time.Hour)})
	}
	type usage struct {
		From, To string
		Total    int64
		Days     []struct {
			Date           string
			Count, Refused int64
		}
		Refused        int64
		RefusedReasons []struct {
			Reason string
			Count  int64
		}
		Months []struct {
			Month string
			Count int64
		}
		Bots []struct {
			Bot   string
			Count int64
		}
		Versions []struct {
			Bot, Version string
			Count        int64
		}
		Channels []struct {
			Channel string
			Count   int64
		}
	}
	var u usage
	admGet(t, ts, "/admin/api/usage", &u)
	// The last 30 days up to admNow (March 31st, noon): March 2nd to 31st.
	if u.From != "2025-03-02T00:00:00Z" || u.To != "2025-03-31T12:00:00Z" || len(u.Days) != 30 || u.Total != 8 {
		t.Fatalf("default period: %s..%s, %d days, total %d", u.From, u.To, len(u.Days), u.Total)
	}
	if len(u.Bots) != 1 || u.Bots[0].Bot != "demo" || u.Bots[0].Count != 8 || len(u.Channels) != 1 || u.Channels[0].Count != 8 ||
		len(u.Versions) != 1 || u.Versions[0].Version != "1" || len(u.Months) != 1 || u.Months[0].Count != 8 {
		t.Errorf("buckets: %+v", u)
	}
	for _, d := range u.Days {
		want := int64(0)
		switch d.Date {
		case "2025-03-10", "2025-03-11", "2025-03-12", "2025-03-13", "2025-03-14", "2025-03-15", "2025-03-16", "2025-03-17":
			want = 1
		}
		if d.Count != want {
			t.Errorf("%s: %d, want %d", d.Date, d.Count, want)
		}
		wantRefused := int64(0)
		if d.Date == admDay(10).Format(time.DateOnly) {
			wantRefused = 3
		}
		if d.Refused != wantRefused {
			t.Errorf("%s: %d refused, want %d", d.Date, d.Refused, wantRefused)
		}
	}
	if u.Refused != 3 || len(u.RefusedReasons) != 2 || u.RefusedReasons[0].Reason != "visitors_per_ip" || u.RefusedReasons[0].Count != 2 {
		t.Errorf("refused %d by %+v, want 3: 2 visitors_per_ip, 1 sessions_per_visitor", u.Refused, u.RefusedReasons)
	}
	// A period that cuts days: from day 2 at noon (after v2b's 9:00 start) to day 5 at 9:00 exactly.
	admGet(t, ts, "/admin/api/usage?from="+admDay(2).Add(3*time.Hour).Format(time.RFC3339)+"&to="+admDay(5).Format(time.RFC3339), &u)
	if u.Total != 2 || len(u.Days) != 4 {
		t.Errorf("cut period: total %d over %d days, want 2 over 4", u.Total, len(u.Days))
	}
	admGet(t, ts, "/admin/api/usage?bot=other", &u)
	if u.Total != 0 || len(u.Days) != 30 {
		t.Errorf("other bot: %+v", u)
	}
}

func TestAdminAPI_CSV(t *testing.T) {
	s, ts := admServer(t)
	admFixture(t, s)
	read := func(path string) [][]string {
		t.Helper()
		resp, body := admDo(t, "GET", ts.URL+path, admAuth)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
			!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, resp.Header)
		}
		rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	users := read("/admin/api/users.csv")
	if len(users) != 7 || users[0][0] != "id" || users[1][0] != admV6 {
		t.Fatalf("users.csv: %v", users)
	}
	if users[1][1] != "'=cmd()" {
		t.Errorf("a formula-like label is defused: %q", users[1][1])
	}
	for _, r := range users {
		if r[0] == admV1 && (r[5] != "" || r[6] != "") {
			t.Errorf("null dates are empty cells: %v", r)
		}
	}
	if rows := read("/admin/api/users.csv?files=1"); len(rows) != 3 {
		t.Errorf("users.csv?files=1: %d rows", len(rows))
	}
	if rows := read("/admin/api/sessions.csv?goal=lead"); len(rows) != 3 || rows[1][1] != admV5 || rows[1][3] != "inactive" {
		t.Errorf("sessions.csv: %v", rows)
	}
	rows := read("/admin/api/usage/sessions.csv")
	if len(rows) != 9 || !slices.Equal(rows[0], []string{"sessionId", "visitor", "bot", "version", "channel", "startedAt", "conversations", "messages"}) {
		t.Errorf("usage/sessions.csv: %v", rows)
	}
	if rows := read("/admin/api/usage/sessions.csv?bot=nobody"); len(rows) != 1 {
		t.Errorf("an empty export keeps its header: %v", rows)
	}
}
