package admin_test

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/admin/admintest"
)

// insightCard is what a session card says of sentiment and unanswered texts.
type insightCard struct {
	ID         string  `json:"id"`
	Sentiment  *string `json:"sentiment"`
	Unanswered int     `json:"unanswered"`
}

type sentimentOut struct {
	Name  string  `json:"name"`
	Score float64 `json:"score"`
	At    string  `json:"at"`
}

func TestAdminAPI_SentimentAndUnanswered(t *testing.T) {
	st, ts, _ := newServer(t)
	sess := admintest.Fixture(t, st)
	for k, v := range admintest.Insight(t, st) {
		sess[k] = v
	}
	ids := func(query string) []string {
		t.Helper()
		var out []string
		for cursor := ""; ; {
			var page admintest.List[insightCard]
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
	tests := map[string][]string{
		"sentiment=negative":                       {sess["v7"].ID},
		"sentiment=positive":                       {sess["v8a"].ID},
		"sentiment=neutral":                        {sess["v8b"].ID},
		"sentiment=unknown":                        {sess["v9"].ID},
		"unanswered=1":                             {sess["v9"].ID, sess["v8b"].ID, sess["v8a"].ID, sess["v7"].ID},
		"unanswered=1&goal=lead":                   {sess["v8a"].ID},
		"sentiment=negative&unanswered=1&bot=demo": {sess["v7"].ID},
		"sentiment=positive&q=kim":                 {sess["v8a"].ID},
		"sentiment=neutral&status=active":          nil,
		"unanswered=1&from=" + admintest.Day(9).Format(time.RFC3339) + "&to=" + admintest.Day(10).Format(time.RFC3339): {sess["v8b"].ID, sess["v8a"].ID},
	}
	for q, want := range tests {
		t.Run(q, func(t *testing.T) {
			if got := ids(q); !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
	t.Run("Cards", func(t *testing.T) {
		var page admintest.List[insightCard]
		getJSON(t, ts, "/admin/api/sessions?limit=500", &page)
		cards := map[string]insightCard{}
		for _, c := range page.Items {
			cards[c.ID] = c
		}
		if c := cards[sess["v7"].ID]; c.Sentiment == nil || *c.Sentiment != "negative" || c.Unanswered != 2 {
			t.Errorf("v7 card: %+v", c)
		}
		if c := cards[sess["v3"].ID]; c.Sentiment != nil || c.Unanswered != 0 {
			t.Errorf("a silent session's card: %+v, want sentiment null and 0 unanswered", c)
		}
	})
	t.Run("Transcript", func(t *testing.T) {
		var tr struct {
			State struct {
				Sentiment *struct {
					Name   string
					Scored int
					Min    float64
					Last   sentimentOut
				}
				Unanswered []struct{ Text, At string }
			}
			Messages []struct {
				From, Kind, Text string
				Sentiment        *sentimentOut
				Unanswered       bool
			}
		}
		getJSON(t, ts, "/admin/api/sessions/"+sess["v7"].ID, &tr)
		s := tr.State.Sentiment
		if s == nil || s.Name != "negative" || s.Scored != 2 || s.Min > -0.5 || s.Last.Name != "negative" || s.Last.At == "" {
			t.Errorf("state.sentiment %+v", s)
		}
		if u := tr.State.Unanswered; len(u) != 2 || u[0].Text != "Pricing?" || u[0].At == "" {
			t.Errorf("state.unanswered %+v", u)
		}
		var texts int
		for _, m := range tr.Messages {
			if m.From == "visitor" && m.Kind == "text" {
				texts++
				if m.Sentiment == nil || m.Sentiment.At != "" || !m.Unanswered {
					t.Errorf("visitor text %+v: want a sentiment without its own time, unanswered", m)
				}
			}
			if m.From == "bot" && (m.Sentiment != nil || m.Unanswered) {
				t.Errorf("bot message %+v has insight fields", m)
			}
		}
		if texts != 2 {
			t.Errorf("%d visitor texts, want 2", texts)
		}
	})
	t.Run("LatestSentimentOfVisitor", func(t *testing.T) {
		var rows admintest.List[struct {
			ID        string
			Sentiment *sentimentOut
		}]
		getJSON(t, ts, "/admin/api/users?limit=500", &rows)
		got := map[string]string{}
		for _, r := range rows.Items {
			if r.Sentiment != nil {
				got[r.ID] = r.Sentiment.Name
			}
		}
		// V8's latest text is the neutral question of its second session.
		want := map[string]string{admintest.V7: "negative", admintest.V8: "neutral", admintest.V9: "unknown"}
		if !sameMap(got, want) {
			t.Errorf("overview sentiments %v, want %v", got, want)
		}
		var p struct{ Sentiment *sentimentOut }
		getJSON(t, ts, "/admin/api/users/"+admintest.V7, &p)
		if p.Sentiment == nil || p.Sentiment.Name != "negative" || p.Sentiment.Score > -0.5 || p.Sentiment.At == "" {
			t.Errorf("profile sentiment %+v", p.Sentiment)
		}
		var vs admintest.List[insightCard]
		getJSON(t, ts, "/admin/api/users/"+admintest.V7+"/sessions", &vs)
		if len(vs.Items) != 1 || vs.Items[0].Sentiment == nil || *vs.Items[0].Sentiment != "negative" || vs.Items[0].Unanswered != 2 {
			t.Errorf("the visitor's sessions: %+v", vs.Items)
		}
		getJSON(t, ts, "/admin/api/users/"+admintest.V1, &p)
		if p.Sentiment != nil {
			t.Errorf("a visitor who typed nothing: sentiment %+v, want null", p.Sentiment)
		}
	})
	t.Run("BadParams", func(t *testing.T) {
		// A cursor belongs to its filters: another sentiment refuses it.
		var first admintest.List[insightCard]
		getJSON(t, ts, "/admin/api/sessions?unanswered=1&limit=1", &first)
		if first.Next == nil {
			t.Fatal("no second page of unanswered sessions")
		}
		for path, param := range map[string]string{
			"/admin/api/sessions?unanswered=1&sentiment=positive&limit=1&cursor=" + *first.Next: "cursor",
			"/admin/api/sessions?limit=1&cursor=" + *first.Next:                                 "cursor",
			"/admin/api/sessions?sentiment=angry":                                               "sentiment",
			"/admin/api/sessions?unanswered=maybe":                                              "unanswered",
			"/admin/api/sessions.csv?sentiment=x":                                               "sentiment",
			"/admin/api/gaps?limit=0":                                                           "limit",
			"/admin/api/gaps?from=2025-03-02T00:00:00Z&to=2025-03-01T00:00:00Z":                 "from",
			"/admin/api/gaps.csv?to=never":                                                      "to",
		} {
			resp, body := do(t, "GET", ts.URL+path, auth)
			var e struct{ Code, Message, Param string }
			json.Unmarshal(body, &e)
			if resp.StatusCode != http.StatusBadRequest || e.Param != param || !strings.HasPrefix(e.Message, param+":") {
				t.Errorf("%s: got %d %s, want 400 naming %s", path, resp.StatusCode, body, param)
			}
		}
	})
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

type gapRow struct {
	Text       string   `json:"text"`
	Key        string   `json:"key"`
	Count      int      `json:"count"`
	Sessions   int      `json:"sessions"`
	FirstAt    string   `json:"firstAt"`
	LastAt     string   `json:"lastAt"`
	SessionIDs []string `json:"sessionIds"`
}

type gapReport struct {
	Items     []gapRow `json:"items"`
	Next      *string  `json:"next"`
	Texts     int      `json:"texts"`
	Groups    int      `json:"groups"`
	Truncated bool     `json:"truncated"`
	Since     *string  `json:"since"`
}

func TestAdminAPI_Gaps(t *testing.T) {
	st, ts, _ := newServer(t)
	admintest.Fixture(t, st)
	sess := admintest.Insight(t, st)
	var rep gapReport
	getJSON(t, ts, "/admin/api/gaps", &rep)
	var keys []string
	for _, r := range rep.Items {
		keys = append(keys, r.Key)
	}
	// "Pricing?" (v7) and "pricing" (v8a) are one question, asked twice;
	// the rest once each, the most recent first.
	want := []string{"pricing", "was kostet das", "how do i reset my password", "this is useless i just want to talk to someone"}
	if !slices.Equal(keys, want) || rep.Texts != 5 || rep.Groups != 4 || rep.Truncated || rep.Since != nil || rep.Next != nil {
		t.Fatalf("report %+v, want rows %v", rep, want)
	}
	p := rep.Items[0]
	if p.Count != 2 || p.Sessions != 2 || p.Text != "pricing" || !slices.Equal(p.SessionIDs, []string{sess["v8a"].ID, sess["v7"].ID}) ||
		p.FirstAt != admintest.Day(8).Add(time.Minute).Format(time.RFC3339) || p.LastAt != admintest.Day(9).Add(time.Minute).Format(time.RFC3339) {
		t.Errorf("pricing row %+v", p)
	}

	getJSON(t, ts, "/admin/api/gaps?from="+admintest.Day(9).Format(time.RFC3339)+"&limit=1", &rep)
	if len(rep.Items) != 1 || rep.Items[0].Key != "was kostet das" || rep.Texts != 3 || rep.Groups != 3 {
		t.Errorf("from day 9, limit 1: %+v", rep)
	}
	getJSON(t, ts, "/admin/api/gaps?bot=nobody", &rep)
	if rep.Items == nil || len(rep.Items) != 0 || rep.Texts != 0 {
		t.Errorf("no such bot: %+v, want an empty list", rep)
	}

	resp, body := do(t, "GET", ts.URL+"/admin/api/gaps.csv", auth)
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil || resp.StatusCode != 200 || len(rows) != 5 ||
		!slices.Equal(rows[0], []string{"text", "key", "count", "sessions", "firstAt", "lastAt", "sessionIds"}) ||
		rows[1][2] != "2" || rows[1][6] != sess["v8a"].ID+" "+sess["v7"].ID {
		t.Errorf("gaps.csv: %d %v %v", resp.StatusCode, rows, err)
	}
}

func TestAdminAPI_InsightCSV(t *testing.T) {
	st, ts, _ := newServer(t)
	admintest.Fixture(t, st)
	sess := admintest.Insight(t, st)
	read := func(path string) [][]string {
		t.Helper()
		_, body := do(t, "GET", ts.URL+path, auth)
		rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	rows := read("/admin/api/sessions.csv?unanswered=1")
	h := rows[0]
	si, ui := slices.Index(h, "sentiment"), slices.Index(h, "unanswered")
	if si < 0 || ui < 0 || len(rows) != 5 {
		t.Fatalf("sessions.csv: %v", rows)
	}
	for _, r := range rows[1:] {
		if r[0] == sess["v7"].ID && (r[si] != "negative" || r[ui] != "2") {
			t.Errorf("v7 row: %v", r)
		}
	}
	users := read("/admin/api/users.csv")
	ui = slices.Index(users[0], "sentiment")
	for _, r := range users[1:] {
		want := map[string]string{admintest.V7: "negative", admintest.V8: "neutral", admintest.V9: "unknown"}[r[0]]
		if ui < 0 || r[ui] != want {
			t.Errorf("users.csv row %v: sentiment %q", r, want)
		}
	}
}
