package server_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-chat/parley/identity"
	"github.com/parley-chat/parley/server/admin/admintest"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
	"github.com/parley-chat/parley/widget/widgettest"
)

// TestPostgres_IdentifyMerges runs `parley serve --store postgres://…`
// with identify on: two browsers chat anonymously, then their pages name
// the same signed-in user. The second browser's visitor merges into the
// first's while its socket is open, its conversation goes on as the
// user's, and the admin views and parley check agree.
func TestPostgres_IdentifyMerges(t *testing.T) {
	addr, url := freeAddr(t), postgrestest.URL(t)
	secret := strings.Repeat("k", 40)
	config := filepath.Join(t.TempDir(), "sites.json")
	sites := `{"sites":[{"id":"demo","origins":["http://localhost:*"],"story":"builtin:demo","identitySecret":"` + secret + `"}]}`
	if err := os.WriteFile(config, []byte(sites), 0o600); err != nil {
		t.Fatal(err)
	}
	stop, logs := runMain(t, []string{"serve", "--addr", addr, "--data", t.TempDir(), "--store", url, "--config", config},
		map[string]string{"PARLEY_ADMIN_TOKEN": adminToken})
	defer func() {
		if code := stop(); code != 0 {
			t.Errorf("exit %d\n%s", code, logs)
		}
	}()
	waitHealthy(t, addr)
	base := "http://" + addr
	user := widgettest.User{ID: "crm-9", Hash: identity.UserHash(secret, "crm-9"), Name: "Ada Lovelace"}

	chat := func(jar http.CookieJar, ref string) (*widgettest.Client, widgettest.Frame) {
		c := widgettest.MustDial(t, widgettest.URL(base, "demo"), widgettest.Options{Origin: testOrigin, Jar: jar})
		w := c.MustHello(widgettest.Hello{})
		c.UntilPrompt("menu")
		c.MustChoice(ref, "menu", "demo")
		c.Until(widgettest.TypeAck)
		return c, w
	}
	a, wa := chat(widgettest.NewJar(), "a1")
	a.MustIdentify("i1", user)
	if got := a.Until(widgettest.TypeIdentified); got.Visitor != wa.Visitor || got.Merged {
		t.Fatalf("first browser: %+v, want its own visitor %s", got, wa.Visitor)
	}
	b, wb := chat(widgettest.NewJar(), "b1")
	b.MustIdentify("i2", user)
	if got := b.Until(widgettest.TypeIdentified); got.Visitor != wa.Visitor || !got.Merged {
		t.Fatalf("second browser: %+v, want a merge into %s", got, wa.Visitor)
	}
	// The conversation goes on, now the user's (the story asked for a
	// name before the identify's answer).
	b.MustText("b2", "Ada")
	b.Until(widgettest.TypeAck)
	a.Close()
	b.Close()

	var users struct {
		Items []struct {
			ID, Name   string
			PlatformID string `json:"platformId"`
		}
	}
	admintest.Get(t, base, adminToken, "/admin/api/users", &users)
	// The name typed after the merge is the user's.
	if len(users.Items) != 1 || users.Items[0].ID != wa.Visitor || users.Items[0].PlatformID != "crm-9" || users.Items[0].Name != "Ada" {
		t.Errorf("users overview: %+v, want only %s, named Ada", users.Items, wa.Visitor)
	}
	var sessions struct {
		Items []struct{ ID string }
	}
	admintest.Get(t, base, adminToken, "/admin/api/users/"+wa.Visitor+"/sessions", &sessions)
	if len(sessions.Items) != 2 {
		t.Errorf("the user's sessions: %+v, want %s and %s", sessions.Items, wa.Session, wb.Session)
	}
	if code, out, errOut := parley(nil, "check", "--store", url); code != 0 || !strings.Contains(out, "1 visitors, 2 sessions") || !strings.Contains(out, "ok:") {
		t.Errorf("parley check: exit %d\n%s%s", code, out, errOut)
	}
}
