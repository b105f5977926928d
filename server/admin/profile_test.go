package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/parley-chat/parley/server/admin/admintest"
	"github.com/parley-chat/parley/storage"
)

// patch sends PATCH path with body and the token and returns the answer.
func patch(tb testing.TB, ts *httptest.Server, path, body string) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPatch, ts.URL+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

type profile struct {
	Label      string  `json:"label"`
	Name       *string `json:"name"`
	Email      *string `json:"email"`
	Phone      *string `json:"phone"`
	Notes      string  `json:"notes"`
	PlatformID *string `json:"platformId"`
	Changes    []struct {
		At, By, Field, From, To string
	} `json:"changes"`
}

func TestPatchUser(t *testing.T) {
	st, ts, _ := newServer(t)
	admintest.Fixture(t, st)
	path := "/admin/api/users/" + admintest.V5

	resp, body := patch(t, ts, path, `{"name":"Anna Schmidt","email":" anna@schmidt.example ","phone":"+49 (30) 555-0100","notes":"Prefers email."}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("patch: %d %s", resp.StatusCode, body)
	}
	var p profile
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if *p.Name != "Anna Schmidt" || *p.Email != "anna@schmidt.example" || *p.Phone != "+49305550100" || p.Notes != "Prefers email." {
		t.Errorf("profile after patch: %s", body)
	}
	if p.Label != "anna@schmidt.example" {
		t.Errorf("label %q, want the edited email", p.Label)
	}
	if len(p.Changes) != 4 || p.Changes[0].By != "admin" || p.Changes[0].At != now.Format("2006-01-02T15:04:05Z") {
		t.Errorf("changes: %+v", p.Changes)
	}
	// The overview shows the new label, and its search finds the new values at once.
	for _, q := range []string{"schmidt", "anna@schmidt.example", "4930555"} {
		users := allUsers(t, ts, "q="+q, 10)
		if len(users) != 1 || users[0].ID != admintest.V5 || users[0].Label != "anna@schmidt.example" {
			t.Errorf("search %q: %+v", q, users)
		}
	}
	var got profile
	getJSON(t, ts, path, &got)
	if len(got.Changes) != 4 || got.Notes != "Prefers email." {
		t.Errorf("GET after patch: %+v", got)
	}

	t.Run("Clear", func(t *testing.T) {
		resp, body := patch(t, ts, path, `{"email":null}`)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"email":null`) || !strings.Contains(string(body), `"label":"+49305550100"`) {
			t.Errorf("clear email: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("Refused", func(t *testing.T) {
		before := dumpVisitor(t, st, admintest.V5)
		tests := []struct{ name, body, code string }{
			{"BadEmail", `{"email":"anna@","name":"Changed"}`, "invalid_email"},
			{"BadPhone", `{"phone":"call me"}`, "invalid_phone"},
			{"LongName", `{"name":"` + strings.Repeat("a", 201) + `"}`, "text_too_long"},
			{"LongNotes", `{"notes":"` + strings.Repeat("n", storage.MaxNotesLen+1) + `"}`, "too_long"},
			{"UnknownField", `{"nickname":"x"}`, "bad_body"},
			{"NotJSON", `name=x`, "bad_body"},
			{"Trailing", `{} {}`, "bad_body"},
			{"NotString", `{"name":5}`, "bad_body"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := patch(t, ts, path, tt.body)
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"code":"`+tt.code+`"`) {
					t.Errorf("got %d %s, want 400 %s", resp.StatusCode, body, tt.code)
				}
			})
		}
		if after := dumpVisitor(t, st, admintest.V5); after != before {
			t.Errorf("a refused edit changed the visitor:\n%s\n%s", before, after)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		if resp, body := patch(t, ts, "/admin/api/users/"+storage.NewID(now), `{"name":"x"}`); resp.StatusCode != http.StatusNotFound {
			t.Errorf("unknown visitor: %d %s", resp.StatusCode, body)
		}
		if resp, _ := patch(t, ts, "/admin/api/users/nope", `{"name":"x"}`); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("bad id: %d", resp.StatusCode)
		}
	})
	t.Run("NoToken", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPatch, ts.URL+path, strings.NewReader(`{"name":"x"}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("without the token: %d", resp.StatusCode)
		}
	})
}

// dumpVisitor is the visitor's record and changes as JSON, to compare.
func dumpVisitor(tb testing.TB, st *storage.Store, id string) string {
	tb.Helper()
	v, err := st.Visitor(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	c, _ := st.ProfileChanges(context.Background(), id, 0)
	b, _ := json.Marshal([]any{v, c})
	return string(b)
}

// FuzzPatchUser sends any body as a profile edit: the answer is 200 or a
// 400 in the error shape, never a failure of the server, and what is
// stored is clean text.
func FuzzPatchUser(f *testing.F) {
	st, ts, _ := newServer(f)
	admintest.Fixture(f, st)
	for _, s := range []string{`{"name":"Ann"}`, `{"email":null,"phone":""}`, `{"notes":"x\u0000y"}`, `{"name":5}`, `{} {}`, `[`, `{"email":"a@b.org","phone":"030 1234567"}`} {
		f.Add(s)
	}
	path := "/admin/api/users/" + admintest.V5
	f.Fuzz(func(t *testing.T, body string) {
		resp, b := patch(t, ts, path, body)
		switch resp.StatusCode {
		case http.StatusOK:
			v, err := st.Visitor(context.Background(), admintest.V5)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{v.Name, v.Email, v.Phone, v.Notes} {
				if storage.CleanText(s) != s {
					t.Fatalf("stored %q", s)
				}
			}
		case http.StatusBadRequest:
			if !strings.Contains(string(b), `"code":`) {
				t.Fatalf("400 without the error shape: %s", b)
			}
		default:
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	})
}

// TestUsers_PlatformID: an identified visitor's user ID is in its overview
// row and profile, and the overview's search finds it.
func TestUsers_PlatformID(t *testing.T) {
	st, ts, _ := newServer(t)
	admintest.Fixture(t, st)
	if _, err := st.Identify(context.Background(), storage.IdentifyRequest{Site: "demo", VisitorID: admintest.V2, UserID: "crm-2024",
		Profile: storage.ProfileEdit{By: storage.ByIdentify, At: now}}); err != nil {
		t.Fatal(err)
	}
	var page struct {
		Items []struct {
			ID         string  `json:"id"`
			PlatformID *string `json:"platformId"`
		} `json:"items"`
	}
	getJSON(t, ts, "/admin/api/users?q=crm-2024", &page)
	if len(page.Items) != 1 || page.Items[0].ID != admintest.V2 || page.Items[0].PlatformID == nil || *page.Items[0].PlatformID != "crm-2024" {
		t.Errorf("search by platform ID: %+v", page.Items)
	}
	var p profile
	getJSON(t, ts, "/admin/api/users/"+admintest.V2, &p)
	if p.PlatformID == nil || *p.PlatformID != "crm-2024" || len(p.Changes) != 1 || p.Changes[0].By != "identify" {
		t.Errorf("profile: %+v", p)
	}
}
