package admin_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/admin"
	"github.com/parley-chat/parley/server/admin/admintest"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/storagetest"
)

// send makes a request with a JSON body through client, with the admin
// token when tok is set, and returns the status and body.
func send(tb testing.TB, client *http.Client, method, url, tok string, body any) (int, []byte) {
	tb.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	return resp.StatusCode, out.Bytes()
}

// addAgent adds an agent with the admin token and returns its secret.
func addAgent(tb testing.TB, ts *httptest.Server, name, display string) string {
	tb.Helper()
	status, body := send(tb, ts.Client(), "POST", ts.URL+"/admin/api/agents", token, map[string]string{"name": name, "displayName": display})
	if status != http.StatusCreated {
		tb.Fatalf("add agent: %d %s", status, body)
	}
	var a struct{ Secret string }
	json.Unmarshal(body, &a)
	if len(a.Secret) < 40 {
		tb.Fatalf("secret %q: want 256 bits", a.Secret)
	}
	return a.Secret
}

// agentClient returns a client with its own cookie jar, signed in as the
// agent.
func agentClient(tb testing.TB, ts *httptest.Server, name, secret string) *http.Client {
	tb.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: ts.Client().Transport}
	if status, body := send(tb, c, "POST", ts.URL+"/admin/api/signin", "", map[string]string{"name": name, "secret": secret}); status != 200 {
		tb.Fatalf("sign in: %d %s", status, body)
	}
	return c
}

func TestAgents_SignIn(t *testing.T) {
	st, ts, _ := newServer(t)
	secret := addAgent(t, ts, "ana", "Ana Lopez")

	t.Run("SecretStoredHashed", func(t *testing.T) {
		for k, v := range storagetest.Dump(t, st, "ag/") {
			if bytes.Contains(v, []byte(secret)) {
				t.Errorf("%s holds the secret itself", k)
			}
		}
		a, err := st.Agent(t.Context(), "ana")
		if err != nil || a.SecretHash != admin.HashSecret(secret) {
			t.Errorf("stored %+v, %v", a, err)
		}
	})

	t.Run("Cookie", func(t *testing.T) {
		b, _ := json.Marshal(map[string]string{"name": "ana", "secret": secret})
		resp, err := http.Post(ts.URL+"/admin/api/signin", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		sc := resp.Header.Get("Set-Cookie")
		for _, want := range []string{admin.ConsoleCookie + "=", "Path=/admin/", "HttpOnly", "Secure", "SameSite=Strict", "Max-Age=43200", "Expires="} {
			if !strings.Contains(sc, want) {
				t.Errorf("Set-Cookie %q lacks %q", sc, want)
			}
		}
	})

	c := agentClient(t, ts, "ana", secret)
	t.Run("Me", func(t *testing.T) {
		status, body := send(t, c, "GET", ts.URL+"/admin/api/me", "", nil)
		if status != 200 || !strings.Contains(string(body), `"role":"agent"`) || !strings.Contains(string(body), `"displayName":"Ana Lopez"`) {
			t.Errorf("me: %d %s", status, body)
		}
		status, body = send(t, ts.Client(), "GET", ts.URL+"/admin/api/me", token, nil)
		if status != 200 || !strings.Contains(string(body), `"role":"admin"`) {
			t.Errorf("admin me: %d %s", status, body)
		}
	})
	t.Run("CrossSiteRefused", func(t *testing.T) {
		// The cookie is SameSite=Strict, and a state-changing request from
		// another site is refused whatever it carries.
		req, _ := http.NewRequest("POST", ts.URL+"/admin/api/sessions/01JAAAAAAAAAAAAAAAAAAAAAAA/take", strings.NewReader("{}"))
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site take: %d, want 403", resp.StatusCode)
		}
	})
	t.Run("ProfileEditNamesTheAgent", func(t *testing.T) {
		admintest.Fixture(t, st)
		status, body := send(t, c, "PATCH", ts.URL+"/admin/api/users/"+admintest.V5, "", map[string]string{"notes": "Called back."})
		if status != 200 || !strings.Contains(string(body), `"by":"ana"`) {
			t.Errorf("an agent's profile edit: %d %s, want the change by ana", status, body)
		}
	})
	t.Run("AgentMayRead", func(t *testing.T) {
		if status, body := send(t, c, "GET", ts.URL+"/admin/api/users", "", nil); status != 200 {
			t.Errorf("users: %d %s", status, body)
		}
	})
	t.Run("AgentMayNotErase", func(t *testing.T) {
		for _, r := range []struct{ method, path string }{
			{"DELETE", "/admin/api/users/01JAAAAAAAAAAAAAAAAAAAAAAA"},
			{"GET", "/admin/api/backup"},
			{"POST", "/admin/api/agents"},
			{"DELETE", "/admin/api/agents/ana"},
		} {
			status, body := send(t, c, r.method, ts.URL+r.path, "", map[string]string{"name": "eve"})
			if status != http.StatusForbidden || !strings.Contains(string(body), `"admin_only"`) {
				t.Errorf("%s %s: %d %s, want 403 admin_only", r.method, r.path, status, body)
			}
		}
	})
	t.Run("List", func(t *testing.T) {
		status, body := send(t, c, "GET", ts.URL+"/admin/api/agents", "", nil)
		if status != 200 || !strings.Contains(string(body), `"name":"ana"`) || strings.Contains(string(body), "secret") {
			t.Errorf("agents: %d %s", status, body)
		}
	})
	t.Run("Duplicate", func(t *testing.T) {
		status, body := send(t, ts.Client(), "POST", ts.URL+"/admin/api/agents", token, map[string]string{"name": "ana"})
		if status != http.StatusConflict || !strings.Contains(string(body), "agent_exists") {
			t.Errorf("got %d %s", status, body)
		}
	})
	t.Run("BadName", func(t *testing.T) {
		status, body := send(t, ts.Client(), "POST", ts.URL+"/admin/api/agents", token, map[string]string{"name": "Ana Lopez"})
		if status != http.StatusBadRequest || !strings.Contains(string(body), "invalid_agent") {
			t.Errorf("got %d %s", status, body)
		}
	})
	t.Run("SignOut", func(t *testing.T) {
		c2 := agentClient(t, ts, "ana", secret)
		if status, _ := send(t, c2, "POST", ts.URL+"/admin/api/signout", "", nil); status != http.StatusNoContent {
			t.Fatalf("sign out: %d", status)
		}
		if status, _ := send(t, c2, "GET", ts.URL+"/admin/api/me", "", nil); status != 401 {
			t.Errorf("after sign-out: %d, want 401", status)
		}
		if status, _ := send(t, c, "GET", ts.URL+"/admin/api/me", "", nil); status != 200 {
			t.Errorf("the other console: %d, want 200 (signed in on its own)", status)
		}
	})
	t.Run("Revoke", func(t *testing.T) {
		addAgent(t, ts, "bo", "Bo")
		if status, body := send(t, ts.Client(), "DELETE", ts.URL+"/admin/api/agents/ana", token, nil); status != http.StatusNoContent {
			t.Fatalf("revoke: %d %s", status, body)
		}
		if status, _ := send(t, c, "GET", ts.URL+"/admin/api/me", "", nil); status != 401 {
			t.Errorf("revoked agent's console: %d, want 401", status)
		}
		if n := storagetest.CountKeys(t, st, "ac/")["ac/"]; n != 0 {
			t.Errorf("%d console sessions left after revoke", n)
		}
		if _, err := st.Agent(t.Context(), "bo"); err != nil {
			t.Errorf("the other agent: %v", err)
		}
		if status, _ := send(t, ts.Client(), "DELETE", ts.URL+"/admin/api/agents/ana", token, nil); status != 404 {
			t.Errorf("revoke again: %d, want 404", status)
		}
	})
}

func TestAgents_FailedSignInsLimited(t *testing.T) {
	_, ts, _ := newServer(t)
	secret := addAgent(t, ts, "ana", "Ana")
	for i := range 10 {
		status, body := send(t, ts.Client(), "POST", ts.URL+"/admin/api/signin", "", map[string]string{"name": "ana", "secret": "wrong"})
		if status != 401 || !strings.Contains(string(body), "bad_credentials") {
			t.Fatalf("attempt %d: %d %s", i, status, body)
		}
	}
	status, _ := send(t, ts.Client(), "POST", ts.URL+"/admin/api/signin", "", map[string]string{"name": "ana", "secret": secret})
	if status != http.StatusTooManyRequests {
		t.Errorf("after 10 failures: %d, want 429 even for the right secret", status)
	}
	// The failures are the same count as the admin token's.
	if status, _ := send(t, ts.Client(), "GET", ts.URL+"/admin/api/users", "wrong", nil); status != http.StatusTooManyRequests {
		t.Errorf("wrong token after failed sign-ins: %d, want 429", status)
	}
	if status, _ := send(t, ts.Client(), "GET", ts.URL+"/admin/api/users", token, nil); status != 200 {
		t.Errorf("right token: %d, want 200 (never locked out)", status)
	}
	if status, body := send(t, ts.Client(), "POST", ts.URL+"/admin/api/signin", "", "not an object"); status != 400 {
		t.Errorf("bad body: %d %s", status, body)
	}
}

func TestAgents_SessionExpires(t *testing.T) {
	dir := t.TempDir()
	st, err := storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var skew atomic.Int64
	mux := http.NewServeMux()
	clock := func() time.Time { return now.Add(time.Duration(skew.Load())) }
	admin.New(admin.Config{Store: st, Files: storage.NewFiles(st), Gateway: &gateway{}, Token: token, AgentSession: time.Hour, Now: clock}).Routes(mux)
	ts := httptest.NewServer(mux)
	defer ts.Close()
	c := agentClient(t, ts, "ana", addAgent(t, ts, "ana", "Ana"))
	if status, _ := send(t, c, "GET", ts.URL+"/admin/api/me", "", nil); status != 200 {
		t.Fatalf("signed in: %d", status)
	}
	skew.Store(int64(time.Hour))
	if status, _ := send(t, c, "GET", ts.URL+"/admin/api/me", "", nil); status != 401 {
		t.Errorf("after the session's time: %d, want 401", status)
	}
}
