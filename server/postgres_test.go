package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/admin/admintest"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
	"github.com/parley-chat/parley/widget/widgettest"
)

// TestPostgres_Conversation runs `parley serve --store postgres://…` and
// chats through the demo story over a real socket: every message acked,
// the conversation resumed on a new socket with its history, the admin
// views answering from PostgreSQL, the visitor exported and erased, and
// parley check finding the store whole before and after.
func TestPostgres_Conversation(t *testing.T) {
	addr, url := freeAddr(t), postgrestest.URL(t)
	stop, logs := runMain(t, []string{"serve", "--addr", addr, "--data", t.TempDir(), "--store", url},
		map[string]string{"PARLEY_ADMIN_TOKEN": adminToken})
	defer func() {
		if code := stop(); code != 0 {
			t.Errorf("exit %d\n%s", code, logs)
		}
	}()
	waitHealthy(t, addr)
	base := "http://" + addr
	if resp, body := get(t, base+"/readyz", nil); resp.StatusCode != 200 {
		t.Fatalf("readyz: %d %s", resp.StatusCode, body)
	}

	jar := widgettest.NewJar()
	c := widgettest.MustDial(t, widgettest.URL(base, "demo"), widgettest.Options{Origin: testOrigin, Jar: jar})
	w := c.MustHello(widgettest.Hello{})
	c.UntilPrompt("menu")
	c.MustChoice("c1", "menu", "demo")
	c.Until("ack")
	c.UntilPrompt("ask_name")
	c.MustText("c2", "Ann")
	c.Until("ack")
	c.UntilPrompt("ask_email")
	c.MustInput("c3", "ask_email", "ann@example.org")
	c.Until("ack")
	c.UntilPrompt("ask_phone")
	c.Close()

	// The same browser again: the session resumes with its history.
	c = widgettest.MustDial(t, widgettest.URL(base, "demo"), widgettest.Options{Origin: testOrigin, Jar: jar})
	r := c.MustHello(widgettest.Hello{Token: w.Token, Session: w.Session})
	if r.Session != w.Session || r.Resumed == nil || !*r.Resumed || len(r.History) < 6 {
		t.Fatalf("resume: session %s (want %s), resumed %v, %d messages in history", r.Session, w.Session, r.Resumed, len(r.History))
	}
	c.Close()

	var users struct {
		Items []struct {
			ID, Email, Name string
		}
	}
	admintest.Get(t, base, adminToken, "/admin/api/users", &users)
	if len(users.Items) != 1 || users.Items[0].ID != w.Visitor || users.Items[0].Email != "ann@example.org" {
		t.Errorf("users overview: %+v", users.Items)
	}
	var transcript struct {
		Messages []struct{ From, Text string }
	}
	admintest.Get(t, base, adminToken, "/admin/api/sessions/"+w.Session, &transcript)
	if len(transcript.Messages) != len(r.History) {
		t.Errorf("transcript: %d messages, the resumed history %d", len(transcript.Messages), len(r.History))
	}

	// parley check reads the store, running or not, and finds it whole.
	if code, out, errOut := parley(nil, "check", "--store", url); code != 0 || !strings.Contains(out, "1 visitors, 1 sessions") || !strings.Contains(out, "ok:") {
		t.Errorf("parley check: exit %d\n%s%s", code, out, errOut)
	}
	// The visitor's export, then its erasure, through the admin API.
	if resp, body := get(t, base+"/admin/api/users/"+w.Visitor+"/export", adminHeader); resp.StatusCode != 200 || !strings.Contains(body, "ann@example.org") {
		t.Errorf("export: %d %.200s", resp.StatusCode, body)
	}
	if resp, body := adminDo(t, "DELETE", base+"/admin/api/users/"+w.Visitor); resp.StatusCode != 204 {
		t.Errorf("erase: %d %s", resp.StatusCode, body)
	}
	admintest.Get(t, base, adminToken, "/admin/api/users", &users)
	if len(users.Items) != 0 {
		t.Errorf("users after the erase: %+v", users.Items)
	}
	if code, out, errOut := parley(nil, "check", "--store", url); code != 0 || !strings.Contains(out, "0 visitors, 0 sessions, 0 messages") {
		t.Errorf("parley check after the erase: exit %d\n%s%s", code, out, errOut)
	}
	t.Run("CheckOtherSchema", func(t *testing.T) {
		other := postgrestest.URL(t) // empty: no Parley schema
		if code, _, errOut := parley(nil, "check", "--store", other); code == 0 || !strings.Contains(errOut, "is this a Parley database?") {
			t.Errorf("parley check of an empty database: exit %d, %s", code, errOut)
		}
	})
}

// TestPostgres_Outage: PostgreSQL stops under a running Parley and comes
// back. Meanwhile /readyz answers 503, a message gets the error frame
// internal and is not stored, an upload 503 unavailable, the outage is in
// the log and the metrics;
// afterwards Parley serves again by itself, no restart.
func TestPostgres_Outage(t *testing.T) {
	db := postgrestest.NewCluster(t)
	addr := freeAddr(t)
	stop, logs := runMain(t, []string{"serve", "--addr", addr, "--data", t.TempDir(), "--store", db.URL(),
		"--store-statement-timeout", "2s"}, map[string]string{"PARLEY_ADMIN_TOKEN": adminToken})
	defer stop()
	waitHealthy(t, addr)
	base := "http://" + addr

	jar := widgettest.NewJar()
	c := widgettest.MustDial(t, widgettest.URL(base, "demo"), widgettest.Options{Origin: testOrigin, Jar: jar})
	w := c.MustHello(widgettest.Hello{})
	c.UntilPrompt("menu")
	c.MustChoice("c1", "menu", "demo")
	c.Until("ack")
	c.UntilPrompt("ask_name")

	db.Stop(t)
	waitUntil(t, 10*time.Second, "readyz 503", func() bool { resp, _ := get(t, base+"/readyz", nil); return resp.StatusCode == 503 })
	c.MustText("c2", "Ann")
	if f := c.Until("error"); f.Code != "internal" || f.Ref != "c2" {
		t.Errorf("a message during the outage: %+v, want the error internal for c2", f)
	}
	waitUntil(t, 5*time.Second, "parley_store_up 0", func() bool { return metric(t, base, "parley_store_up") == "0" })
	status, answer := postUpload(t, base, w.Session, w.Token, "a.pdf", "application/pdf", []byte("%PDF-1.4\n%%EOF\n"))
	if status != 503 || !strings.Contains(string(answer), `"unavailable"`) {
		t.Errorf("an upload during the outage: %d %s, want 503 unavailable", status, answer)
	}

	db.Start(t)
	waitUntil(t, 20*time.Second, "readyz 200", func() bool { resp, _ := get(t, base+"/readyz", nil); return resp.StatusCode == 200 })
	waitUntil(t, 5*time.Second, "parley_store_up 1", func() bool { return metric(t, base, "parley_store_up") == "1" })
	// The widget resends what was not acked, on the same socket or a new one.
	c.Close()
	c = widgettest.MustDial(t, widgettest.URL(base, "demo"), widgettest.Options{Origin: testOrigin, Jar: jar})
	c.MustHello(widgettest.Hello{Token: w.Token, Session: w.Session})
	c.MustText("c2", "Ann")
	if f := c.Until("ack"); f.Ref != "c2" {
		t.Errorf("after the outage: %+v, want the ack of c2", f)
	}
	c.UntilPrompt("ask_email")
	c.Close()

	var transcript struct {
		Messages []struct{ From, Text, ClientID string }
	}
	admintest.Get(t, base, adminToken, "/admin/api/sessions/"+w.Session, &transcript)
	n := 0
	for _, m := range transcript.Messages {
		if m.From == "visitor" && m.Text == "Ann" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the message sent during and after the outage is stored %d times, want once", n)
	}
	if got := metric(t, base, "parley_store_outages_total"); got != "1" {
		t.Errorf("parley_store_outages_total %s, want 1", got)
	}
	for _, want := range []string{"store: not answering", "store: answering again"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q", want)
		}
	}
}

// metric reads one series' value from /metrics ("" when missing).
func metric(tb testing.TB, base, name string) string {
	tb.Helper()
	_, body := get(tb, base+"/metrics", adminHeader)
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}
