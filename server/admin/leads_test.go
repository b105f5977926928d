package admin_test

import (
	"encoding/csv"
	"slices"
	"strings"
	"testing"

	"github.com/parley-chat/parley/server/admin/admintest"
)

// leadRow is an overview row's lead columns.
type leadRow struct {
	ID        string
	SessionID string
	Name      *string
	Email     *string
	Phone     *string
	Inputs    []struct{ Name, Kind, Value string }
	Tags      []string
}

// TestAdminAPI_Leads: the overview and its CSV carry the name, email and
// phone in columns of their own, and the inputs and tags of the row's
// session.
func TestAdminAPI_Leads(t *testing.T) {
	st, ts, _ := newServer(t)
	sess := admintest.Fixture(t, st)
	var page admintest.List[leadRow]
	getJSON(t, ts, "/admin/api/users?limit=500", &page)
	rows := map[string]leadRow{}
	for _, r := range page.Items {
		rows[r.ID] = r
	}
	str := func(p *string) string {
		if p == nil {
			return "<null>"
		}
		return *p
	}
	v5 := rows[admintest.V5]
	if str(v5.Name) != "Anna" || str(v5.Phone) != "+49 30 1234567" || str(v5.Email) != "<null>" || v5.SessionID != sess["v5b"].ID ||
		len(v5.Inputs) != 1 || v5.Inputs[0].Name != "phone" || v5.Inputs[0].Value != "+49 30 1234567" || !slices.Equal(v5.Tags, []string{"pricing"}) {
		t.Errorf("v5: %+v", v5)
	}
	v4 := rows[admintest.V4]
	if str(v4.Email) != "lee@example.org" || str(v4.Name) != "<null>" || len(v4.Inputs) != 1 || v4.Inputs[0].Kind != "email" {
		t.Errorf("v4: %+v", v4)
	}
	if v1 := rows[admintest.V1]; v1.Name != nil || v1.Inputs == nil || len(v1.Inputs) != 0 || v1.Tags == nil {
		t.Errorf("v1 (no lead): %+v; want nulls and empty lists", v1)
	}

	_, body := do(t, "GET", ts.URL+"/admin/api/users.csv", auth)
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := recs[0]
	if got := head[len(head)-7:]; !slices.Equal(got, []string{"name", "email", "phone", "sessionId", "inputs", "tags", "sentiment"}) {
		t.Fatalf("header ends %v", got)
	}
	col := func(name string) int { return slices.Index(head, name) }
	for _, r := range recs[1:] {
		if r[0] != admintest.V5 {
			continue
		}
		if r[col("name")] != "Anna" || r[col("phone")] != "'+49 30 1234567" || r[col("email")] != "" ||
			r[col("inputs")] != "phone=+49 30 1234567" || r[col("tags")] != "pricing" {
			t.Errorf("v5 CSV row: %q", r)
		}
	}
}
