package server_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/server/admin/admintest"
)

// TestAdminSeed_Insight runs `parley seed` and checks that the made-up
// data fills the insight views: sessions of every sentiment, some with
// unanswered questions, and a Knowledge gaps report whose spellings of
// one question are one row.
func TestAdminSeed_Insight(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := server.Main(context.Background(), []string{"seed", "--visitors", "400", "--data", dir, "--seed", "3"}, func(string) string { return "" }, &out, &errb); code != 0 {
		t.Fatalf("seed: exit %d: %s", code, errb.String())
	}
	_, ts := startServer(t, server.Config{DataDir: dir, AdminToken: admToken})
	count := func(query string) int {
		t.Helper()
		n := 0
		for cursor := ""; ; {
			var page admintest.List[struct{ ID string }]
			admintest.Get(t, ts.URL, admToken, "/admin/api/sessions?limit=500&"+query+"&cursor="+cursor, &page)
			n += len(page.Items)
			if page.Next == nil {
				return n
			}
			cursor = *page.Next
		}
	}
	all := count("")
	for _, q := range []string{"sentiment=positive", "sentiment=neutral", "sentiment=negative", "sentiment=unknown", "unanswered=1", "unanswered=1&sentiment=negative"} {
		if n := count(q); n == 0 || n == all {
			t.Errorf("%s: %d of %d sessions, want some but not all", q, n, all)
		}
	}
	var rep struct {
		Items []struct {
			Key   string
			Count int
		}
		Texts, Groups int
	}
	admintest.Get(t, ts.URL, admToken, "/admin/api/gaps?limit=500", &rep)
	keys := map[string]int{}
	for _, r := range rep.Items {
		keys[r.Key] = r.Count
	}
	if keys["pricing"] < 2 || keys["do you ship to austria"] < 2 || rep.Groups >= rep.Texts {
		t.Errorf("gaps: %d texts in %d groups, %v: want the spellings of one question grouped", rep.Texts, rep.Groups, keys)
	}
}
