package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/story"
)

// hoStory offers a person or the bot; the handover block goes on at
// "nobody" when no person takes the conversation in time, and a lead is
// an email given after that.
const hoStory = `{"bot":"help","version":"1","start":"hi","fallback":"fb","blocks":[
 {"id":"hi","kind":"choice","text":"How can we help?","options":[
   {"id":"person","label":"Talk to a person","next":"ho"},
   {"id":"browse","label":"Just browsing","next":"bye"}]},
 {"id":"ho","kind":"handover","text":"Connecting you to a person…","next":"nobody"},
 {"id":"nobody","kind":"message","text":"Nobody is free right now.","next":"mail"},
 {"id":"mail","kind":"input","input":"email","variable":"email","text":"Your email, so we can write back?","next":"lead"},
 {"id":"lead","kind":"goal","goal":"lead","next":"thanks"},
 {"id":"thanks","kind":"message","text":"Thanks, we will write to you."},
 {"id":"fb","kind":"message","text":"Sorry, please use the buttons."},
 {"id":"bye","kind":"end","text":"Bye!"}]}`

// hoSite is a site "demo" (the host pages' and the test clients' site)
// running hoStory, waiting timeout for a person.
func hoSite(tb testing.TB, timeout time.Duration) *widget.Site {
	tb.Helper()
	st, err := story.Parse([]byte(hoStory))
	if err != nil {
		tb.Fatal(err)
	}
	s := server.DemoSite()
	s.Story, s.HandoverTimeout = st, timeout
	return s
}

// hoCall sends a JSON request through c (the admin token when tok is
// set) and returns the status and the body.
func hoCall(tb testing.TB, c *http.Client, method, url, tok string, body any) (int, []byte) {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// hoAddAgent adds an agent through the admin API and returns its secret.
func hoAddAgent(tb testing.TB, base, tok, name, display string) string {
	tb.Helper()
	status, body := hoCall(tb, nil, "POST", base+"/admin/api/agents", tok, map[string]string{"name": name, "displayName": display})
	if status != http.StatusCreated {
		tb.Fatalf("add agent %s: %d %s", name, status, body)
	}
	var a struct{ Secret string }
	json.Unmarshal(body, &a)
	return a.Secret
}

// hoAgentClient is an HTTP client signed in as the agent (its own jar).
func hoAgentClient(tb testing.TB, base, name, secret string) *http.Client {
	tb.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	if status, body := hoCall(tb, c, "POST", base+"/admin/api/signin", "", map[string]string{"name": name, "secret": secret}); status != 200 {
		tb.Fatalf("sign in %s: %d %s", name, status, body)
	}
	return c
}
