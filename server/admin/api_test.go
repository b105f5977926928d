package admin_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/admin/admintest"
	"github.com/parley-chat/parley/storage"
)

func TestAdminAPI_UsersFlags(t *testing.T) {
	st, ts, _ := newServer(t)
	admintest.Fixture(t, st)
	// Every combination of the three toggles, against seed 000: a visitor
	// is listed when one session has every flag asked for.
	want := map[string][]string{
		"":                           {admintest.V6, admintest.V5, admintest.V4, admintest.V3, admintest.V2, admintest.V1},
		"engaged=1":                  {admintest.V4, admintest.V2, admintest.V1},
		"files=1":                    {admintest.V4, admintest.V2},
		"inputs=1":                   {admintest.V6, admintest.V5, admintest.V4},
		"engaged=1&files=1":          {admintest.V4},
		"engaged=1&inputs=1":         {admintest.V4},
		"files=1&inputs=1":           {admintest.V4},
		"engaged=1&files=1&inputs=1": {admintest.V4},
	}
	for query, ids := range want {
		for _, limit := range []int{1, 2, 500} {
			t.Run(fmt.Sprintf("%s/limit%d", query, limit), func(t *testing.T) {
				if got := admintest.IDs(allUsers(t, ts, query, limit)); !slices.Equal(got, ids) {
					t.Errorf("got %v, want %v", got, ids)
				}
			})
		}
	}
	t.Run("TogglesOff", func(t *testing.T) {
		got := admintest.IDs(allUsers(t, ts, "engaged=0&files=0&inputs=0", 50))
		if !slices.Equal(got, want[""]) {
			t.Errorf("got %v", got)
		}
	})
	t.Run("Period", func(t *testing.T) {
		// v2's file session is on day 1, its engaged one on day 2.
		q := fmt.Sprintf("from=%s&to=%s", admintest.Day(1).Format(time.RFC3339), admintest.Day(2).Format(time.RFC3339))
		if got := admintest.IDs(allUsers(t, ts, q+"&files=1", 50)); !slices.Equal(got, []string{admintest.V2}) {
			t.Errorf("files on day 1: %v", got)
		}
		if got := admintest.IDs(allUsers(t, ts, q+"&engaged=1", 50)); len(got) != 0 {
			t.Errorf("engaged on day 1: %v", got)
		}
		q = "from=" + admintest.Day(6).Format(time.RFC3339)
		if got := admintest.IDs(allUsers(t, ts, q, 50)); !slices.Equal(got, []string{admintest.V6, admintest.V5}) {
			t.Errorf("since day 6: %v", got)
		}
	})
	t.Run("LabelAndNullColumns", func(t *testing.T) {
		rows := map[string]admintest.User{}
		for _, u := range allUsers(t, ts, "", 500) {
			rows[u.ID] = u
		}
		labels := map[string]string{admintest.V1: admintest.V1, admintest.V3: admintest.V3, admintest.V4: "lee@example.org", admintest.V5: "+49 30 1234567", admintest.V6: "=cmd()"}
		for id, label := range labels {
			if got := rows[id].Label; got != label {
				t.Errorf("%s: label %q, want %q", id, got, label)
			}
		}
		for _, id := range []string{admintest.V1, admintest.V3} {
			if rows[id].LastFileAt != nil || rows[id].LastInputAt != nil {
				t.Errorf("%s: file or input date not null: %+v", id, rows[id])
			}
		}
		if rows[admintest.V2].LastFileAt == nil || rows[admintest.V2].LastInputAt != nil {
			t.Errorf("v2 columns: %+v", rows[admintest.V2])
		}
		if rows[admintest.V4].LastFileAt == nil || rows[admintest.V4].LastInputAt == nil {
			t.Errorf("v4 columns: %+v", rows[admintest.V4])
		}
		if rows[admintest.V3].LastInteractionAt == "" || rows[admintest.V3].CreatedAt == "" || rows[admintest.V3].Device.OS != "Windows 10" || rows[admintest.V3].Device.Mobile == nil {
			t.Errorf("v3 columns: %+v", rows[admintest.V3])
		}
	})
	t.Run("NameLabel", func(t *testing.T) {
		// Before the phone, v5 was known by its first name.
		q := "to=" + admintest.Day(6).Format(time.RFC3339)
		for _, u := range allUsers(t, ts, q, 50) {
			if u.ID == admintest.V5 && u.Label != "+49 30 1234567" {
				t.Errorf("the label is the visitor's current one, got %q", u.Label)
			}
		}
		var p struct {
			Name *string `json:"name"`
		}
		getJSON(t, ts, "/admin/api/users/"+admintest.V5, &p)
		if p.Name == nil || *p.Name != "Anna" {
			t.Errorf("name: %v", p.Name)
		}
	})
	t.Run("Search", func(t *testing.T) {
		for q, ids := range map[string][]string{"anna": {admintest.V5}, "lee%40example": {admintest.V4}, "%2B49%2030": {admintest.V5}, strings.ToLower(admintest.V3): {admintest.V3}, "berlin": nil} {
			if got := admintest.IDs(allUsers(t, ts, "q="+q, 1)); !slices.Equal(got, ids) {
				t.Errorf("q=%s: got %v, want %v", q, got, ids)
			}
		}
	})
}

func TestAdminAPI_BadParams(t *testing.T) {
	st, ts, _ := newServer(t)
	admintest.Fixture(t, st)
	var first admintest.List[admintest.User]
	getJSON(t, ts, "/admin/api/users?limit=1", &first)
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
		{"/admin/api/users/" + admintest.V2 + "/sessions?from=x", "from"},
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
			resp, body := do(t, "GET", ts.URL+tt.path, auth)
			var e struct{ Code, Message, Param string }
			json.Unmarshal(body, &e)
			if resp.StatusCode != http.StatusBadRequest || e.Param != tt.param || !strings.HasPrefix(e.Message, tt.param+":") {
				t.Errorf("got %d %s, want 400 naming %s", resp.StatusCode, body, tt.param)
			}
		})
	}
	t.Run("NotFound", func(t *testing.T) {
		for _, p := range []string{"/admin/api/users/01JZZZZZZZZZZZZZZZZZZZZZZZ", "/admin/api/users/nope/sessions", "/admin/api/sessions/nope", "/admin/api/nothing"} {
			if resp, body := do(t, "GET", ts.URL+p, auth); resp.StatusCode != http.StatusNotFound || !json.Valid(body) {
				t.Errorf("%s: %d %s", p, resp.StatusCode, body)
			}
		}
	})
}

func TestAdminAPI_Auth(t *testing.T) {
	_, ts, _ := newServer(t)
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
		{"WrongToken", "GET", "/admin/api/users", map[string]string{"Authorization": "Bearer " + token + "x"}, 401, "unauthorized"},
		{"NotBearer", "GET", "/admin/api/users", map[string]string{"Authorization": "Basic " + token}, 401, "unauthorized"},
		{"UnknownPathNeedsToken", "GET", "/admin/api/secret", nil, 401, "unauthorized"},
		{"TokenInURL", "GET", "/admin/api/users?token=" + token, auth, 400, "token_in_url"},
		{"AccessTokenInURL", "GET", "/admin/api/users?access_token=" + token, nil, 400, "token_in_url"},
		{"TokenInConsoleURL", "GET", "/admin/?token=" + token, nil, 400, "token_in_url"},
		{"CrossSitePost", "POST", "/admin/api/users", map[string]string{"Authorization": "Bearer " + token, "Sec-Fetch-Site": "cross-site"}, 403, "cross_origin"},
		{"SameOriginPost", "POST", "/admin/api/users", auth, 405, "method_not_allowed"},
		{"Good", "GET", "/admin/api/users", auth, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, tt.method, ts.URL+tt.path, tt.h)
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
		resp, body := do(t, "GET", ts.URL+"/admin/", nil)
		if resp.StatusCode != 200 || !strings.Contains(string(body), `type="password"`) {
			t.Fatalf("console: %d %.200s", resp.StatusCode, body)
		}
		if strings.Contains(string(body), "<script>") || strings.Contains(string(body), " style=") {
			t.Error("the console page has inline script or style")
		}
		checkHeaders(t, resp)
		for _, f := range []string{"app.js", "chart.js", "app.css"} {
			if resp, _ := do(t, "GET", ts.URL+"/admin/"+f, nil); resp.StatusCode != 200 {
				t.Errorf("%s: %d", f, resp.StatusCode)
			}
		}
	})
	t.Run("RateLimit", func(t *testing.T) {
		_, ts, _ := newServer(t)
		wrong := map[string]string{"Authorization": "Bearer wrong"}
		for i := range 10 {
			if resp, _ := do(t, "GET", ts.URL+"/admin/api/users", wrong); resp.StatusCode != 401 {
				t.Fatalf("failure %d: %d", i+1, resp.StatusCode)
			}
		}
		for _, h := range []map[string]string{wrong, nil} {
			resp, _ := do(t, "GET", ts.URL+"/admin/api/users", h)
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
				t.Errorf("after 10 failures: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
		}
		// The right token still passes: whoever shares the admin's
		// address cannot lock the admin out by failing.
		if resp, body := do(t, "GET", ts.URL+"/admin/api/users", auth); resp.StatusCode != 200 {
			t.Errorf("the right token from a blocked address: %d %s", resp.StatusCode, body)
		}
	})
}

func TestAdminAPI_Visitor(t *testing.T) {
	st, ts, _ := newServer(t)
	sessions := admintest.Fixture(t, st)
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
	getJSON(t, ts, "/admin/api/users/"+admintest.V4, &p)
	if p.Email == nil || *p.Email != "lee@example.org" || p.Phone != nil || p.Name != nil || p.SourcePlatform != "web" ||
		p.LastInteractionAt == nil || p.Variables["email"] != "lee@example.org" || p.CreatedAt != admintest.Day(4).Format(time.RFC3339) {
		t.Errorf("profile: %+v", p)
	}
	getJSON(t, ts, "/admin/api/users/"+admintest.V3, &p)
	if p.LastInteractionAt != nil || p.Label != admintest.V3 {
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
	var list admintest.List[sessionRow]
	getJSON(t, ts, "/admin/api/users/"+admintest.V2+"/sessions", &list)
	if len(list.Items) != 2 || list.Items[0].ID != sessions["v2b"].ID || list.Items[1].ID != sessions["v2a"].ID {
		t.Fatalf("v2 sessions: %+v", list.Items)
	}
	getJSON(t, ts, "/admin/api/users/"+admintest.V2+"/sessions?files=1", &list)
	if len(list.Items) != 1 || len(list.Items[0].Files) != 1 {
		t.Fatalf("v2 file sessions: %+v", list.Items)
	}
	f := list.Items[0].Files[0]
	if f.Name != "scan.pdf" || f.Size != 1234 || f.URL != "/admin/api/files/"+f.ID || f.At == "" {
		t.Errorf("file: %+v", f)
	}
	getJSON(t, ts, "/admin/api/users/"+admintest.V2+"/sessions?engaged=1&files=1", &list)
	if len(list.Items) != 0 {
		t.Errorf("no v2 session is engaged with files: %+v", list.Items)
	}
	getJSON(t, ts, "/admin/api/users/"+admintest.V4+"/sessions?inputs=1", &list)
	if len(list.Items) != 1 || len(list.Items[0].Inputs) != 1 || list.Items[0].Inputs[0].Name != "email" ||
		list.Items[0].Inputs[0].Kind != "email" || list.Items[0].Bot != "demo" || list.Items[0].MessageCount != 7 {
		t.Errorf("v4 sessions: %+v", list.Items)
	}
	// Paging one at a time.
	getJSON(t, ts, "/admin/api/users/"+admintest.V2+"/sessions?limit=1", &list)
	if len(list.Items) != 1 || list.Next == nil {
		t.Fatalf("page 1: %+v", list)
	}
	getJSON(t, ts, "/admin/api/users/"+admintest.V2+"/sessions?limit=1&cursor="+*list.Next, &list)
	if len(list.Items) != 1 || list.Items[0].ID != sessions["v2a"].ID || list.Next != nil {
		t.Errorf("page 2: %+v", list)
	}
}

// sessionCard is a card of the dashboard, as the client sees it.
type sessionCard struct {
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
	st, ts, gw := newServer(t)
	sess := admintest.Fixture(t, st)
	ids := func(query string) []string {
		t.Helper()
		var out []string
		cursor := ""
		for {
			var page admintest.List[sessionCard]
			getJSON(t, ts, "/admin/api/sessions?limit=2&"+query+"&cursor="+cursor, &page)
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
		"from=" + admintest.Day(5).Format(time.RFC3339) + "&to=" + admintest.Day(7).Format(time.RFC3339): {sess["v5b"].ID, sess["v5a"].ID},
	}
	for q, want := range tests {
		t.Run(q, func(t *testing.T) {
			if got := ids(q); !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
	t.Run("Active", func(t *testing.T) {
		// The gateway says which sessions have a socket open (the
		// server's TestAdminAPI_ActiveWhileSocketOpen opens a real one).
		gw.setActive(sess["v3"].ID, true)
		defer gw.setActive(sess["v3"].ID, false)
		if got := ids("status=active"); !slices.Equal(got, []string{sess["v3"].ID}) {
			t.Errorf("active: got %v, want %s", got, sess["v3"].ID)
		}
		if got := ids("status=inactive"); slices.Contains(got, sess["v3"].ID) || len(got) != len(all)-1 {
			t.Errorf("inactive: got %v", got)
		}
	})
	t.Run("Card", func(t *testing.T) {
		var page admintest.List[sessionCard]
		getJSON(t, ts, "/admin/api/sessions?goal=lead&limit=1", &page)
		c := page.Items[0]
		if c.Visitor.ID != admintest.V5 || c.Visitor.Label != "+49 30 1234567" || c.Status != "inactive" || c.DurationSeconds != 60 ||
			c.MessageCount != 3 || !c.HasResponses || !slices.Equal(c.Goals, []string{"lead"}) || !slices.Equal(c.Tags, []string{"pricing"}) || c.LastBlock != "end" {
			t.Errorf("card: %+v", c)
		}
	})
	t.Run("Transcript", func(t *testing.T) {
		var tr struct {
			Session sessionCard `json:"session"`
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
		getJSON(t, ts, "/admin/api/sessions/"+sess["v4"].ID, &tr)
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
	st, ts, _ := newServer(t)
	admintest.Fixture(t, st)
	// Starts a rate limit refused: counted apart, never in the total.
	for i, reason := range []string{"visitors_per_ip", "visitors_per_ip", "sessions_per_visitor"} {
		st.CountRefused(storage.Refusal{Site: "demo", Bot: "demo", Version: "1", Channel: "web", Reason: reason, At: admintest.Day(10).Add(time.Duration(i) * time.Hour)})
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
	getJSON(t, ts, "/admin/api/usage", &u)
	// The last 30 days up to now (March 31st, noon): March 2nd to 31st.
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
		if d.Date == admintest.Day(10).Format(time.DateOnly) {
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
	getJSON(t, ts, "/admin/api/usage?from="+admintest.Day(2).Add(3*time.Hour).Format(time.RFC3339)+"&to="+admintest.Day(5).Format(time.RFC3339), &u)
	if u.Total != 2 || len(u.Days) != 4 {
		t.Errorf("cut period: total %d over %d days, want 2 over 4", u.Total, len(u.Days))
	}
	getJSON(t, ts, "/admin/api/usage?bot=other", &u)
	if u.Total != 0 || len(u.Days) != 30 {
		t.Errorf("other bot: %+v", u)
	}
}

func TestAdminAPI_CSV(t *testing.T) {
	st, ts, _ := newServer(t)
	admintest.Fixture(t, st)
	read := func(path string) [][]string {
		t.Helper()
		resp, body := do(t, "GET", ts.URL+path, auth)
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
	if len(users) != 7 || users[0][0] != "id" || users[1][0] != admintest.V6 {
		t.Fatalf("users.csv: %v", users)
	}
	if users[1][1] != "'=cmd()" {
		t.Errorf("a formula-like label is defused: %q", users[1][1])
	}
	for _, r := range users {
		if r[0] == admintest.V1 && (r[5] != "" || r[6] != "") {
			t.Errorf("null dates are empty cells: %v", r)
		}
	}
	if rows := read("/admin/api/users.csv?files=1"); len(rows) != 3 {
		t.Errorf("users.csv?files=1: %d rows", len(rows))
	}
	if rows := read("/admin/api/sessions.csv?goal=lead"); len(rows) != 3 || rows[1][1] != admintest.V5 || rows[1][3] != "inactive" {
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
