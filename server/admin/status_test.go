package admin_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/admin/admintest"
	"github.com/parley-chat/parley/storage"
)

// statusCard is a dashboard card's status, forms, type and language.
type statusCard struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	Lifecycle string `json:"lifecycle"`
	Type      string `json:"type"`
	Lang      string `json:"lang"`
	Locale    string `json:"locale"`
	HasInputs bool   `json:"hasInputs"`
}

// TestAdminAPI_SessionStatuses: status active, open, closed and inactive,
// forms, type and lang filter the dashboard and combine with the other
// filters; the cards and the CSV carry them.
func TestAdminAPI_SessionStatuses(t *testing.T) {
	st, ts, gw := newServer(t)
	old := admintest.Fixture(t, st) // March 10 to 17: closed at now (March 31)
	recent := now.Add(-10 * time.Minute)
	ended := storage.State{Ended: true, Goals: []string{"lead"}}
	open := admintest.SessionOf(t, st, storage.Session{VisitorID: "01JAAAAAAAAAAAAAAAAAAAAAB1", StartedAt: recent.Add(-time.Minute),
		Lang: "de", Locale: "de-ch", Type: "lead"}, storage.State{}, admintest.Input("email", "email", "kim@example.org"))
	done := admintest.SessionOf(t, st, storage.Session{VisitorID: "01JAAAAAAAAAAAAAAAAAAAAAB2", StartedAt: recent.Add(-2 * time.Minute),
		Lang: "en", Locale: "en-gb", Type: "support"}, ended, admintest.Choice)
	live := admintest.SessionOf(t, st, storage.Session{VisitorID: "01JAAAAAAAAAAAAAAAAAAAAAB3", StartedAt: recent.Add(-3 * time.Minute),
		Lang: "de", Type: "lead"}, storage.State{}, admintest.Choice)
	gw.setActive(live.ID, true)

	ids := func(query string) []string {
		t.Helper()
		var out []string
		cursor := ""
		for {
			var page admintest.List[statusCard]
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
	oldIDs := []string{old["v6"].ID, old["v5b"].ID, old["v5a"].ID, old["v4"].ID, old["v3"].ID, old["v2b"].ID, old["v2a"].ID, old["v1"].ID}
	tests := map[string][]string{
		"status=active":               {live.ID},
		"status=open":                 {open.ID},
		"status=closed":               append([]string{done.ID}, oldIDs...),
		"status=inactive":             append([]string{open.ID, done.ID}, oldIDs...),
		"status=closed&goal=lead":     {done.ID, old["v5b"].ID, old["v4"].ID},
		"forms=1":                     {open.ID, old["v6"].ID, old["v5b"].ID, old["v5a"].ID, old["v4"].ID},
		"forms=1&status=open":         {open.ID},
		"type=lead":                   {open.ID, live.ID},
		"type=lead&status=active":     {live.ID},
		"type=support&responses=1":    {done.ID},
		"lang=de":                     {open.ID, live.ID},
		"lang=DE&forms=1":             {open.ID},
		"lang=de-AT&type=LEAD":        {open.ID, live.ID},
		"lang=en&status=closed":       {done.ID},
		"lang=de&q=kim":               {open.ID},
		"status=open&q=kim&type=lead": {open.ID},
		"lang=fr":                     nil,
	}
	for q, want := range tests {
		t.Run(q, func(t *testing.T) {
			if got := ids(q); !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
	t.Run("Cards", func(t *testing.T) {
		var page admintest.List[statusCard]
		getJSON(t, ts, "/admin/api/sessions?from="+recent.Add(-time.Hour).Format(time.RFC3339), &page)
		want := []statusCard{
			{open.ID, "inactive", "open", "lead", "de", "de-ch", true},
			{done.ID, "inactive", "closed", "support", "en", "en-gb", false},
			{live.ID, "active", "active", "lead", "de", "", false},
		}
		if !slices.Equal(page.Items, want) {
			t.Errorf("cards:\n got %+v\nwant %+v", page.Items, want)
		}
	})
	t.Run("CSV", func(t *testing.T) {
		_, body := do(t, "GET", ts.URL+"/admin/api/sessions.csv?status=open", auth)
		lines := strings.Split(strings.TrimSpace(string(body)), "\n")
		if len(lines) != 2 || !strings.HasSuffix(strings.TrimSpace(lines[0]), `"lifecycle","type","lang","locale","hasInputs","sentiment","unanswered"`) ||
			!strings.HasSuffix(strings.TrimSpace(lines[1]), `"open","lead","de","de-ch","true","","0"`) {
			t.Errorf("CSV:\n%s", body)
		}
	})
	t.Run("BadStatus", func(t *testing.T) {
		resp, body := do(t, "GET", ts.URL+"/admin/api/sessions?status=sleeping", auth)
		if resp.StatusCode != 400 || !strings.Contains(string(body), `"param":"status"`) || !strings.Contains(string(body), "open, closed") {
			t.Errorf("got %d %s", resp.StatusCode, body)
		}
	})
}
