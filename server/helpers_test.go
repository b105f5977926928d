package server_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/parley-chat/parley/fileupload"
	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/server/admin/admintest"
	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/widgettest"
)

// startServer runs a Parley built from cfg (on a temp data dir when cfg
// names none) behind httptest; both close when the test ends.
func startServer(tb testing.TB, cfg server.Config) (*server.Server, *httptest.Server) {
	tb.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = tb.TempDir()
	}
	s, err := server.Open(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	tb.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		s.Close()
	})
	return s, ts
}

const (
	adminToken   = "server-test-admin-token-0123456789"
	testOrigin   = "http://localhost:5173"
	freeMaxBytes = 1 << 20 // the "free" site's upload cap
)

// adminHeader carries adminToken.
var adminHeader = http.Header{"Authorization": {"Bearer " + adminToken}}

// startAdminServer is startServer with cfg's admin token set to adminToken.
func startAdminServer(tb testing.TB, cfg server.Config) (*server.Server, *httptest.Server) {
	tb.Helper()
	cfg.AdminToken = adminToken
	return startServer(tb, cfg)
}

// adminDo sends an admin request and returns the answer with its body.
func adminDo(tb testing.TB, method, url string) (*http.Response, []byte) {
	tb.Helper()
	return admintest.Do(tb, method, url, admintest.Auth(adminToken))
}

// env is a server with two sites: "demo" (the demo story, 10 MB cap)
// and "free" (free uploads of images and PDFs, 1 MiB cap).
type env struct {
	tb  testing.TB
	s   *server.Server
	srv *httptest.Server
}

func startEnv(tb testing.TB) *env {
	return startEnvWith(tb, fileupload.Limits{})
}

// startEnvWith is startEnv with upload limits other than the defaults.
func startEnvWith(tb testing.TB, limits fileupload.Limits) *env {
	tb.Helper()
	demo := server.DemoSite()
	free := server.DemoSite()
	free.ID, free.FreeUploads, free.UploadMaxBytes = "free", true, freeMaxBytes
	free.FreeUploadAccept = []string{"image/*", "application/pdf"}
	s, srv := startAdminServer(tb, server.Config{Sites: []*widget.Site{demo, free}, UploadLimits: limits})
	return &env{tb: tb, s: s, srv: srv}
}

// siteVisitor is one browser on a site: a protocol client with its own
// cookie jar, welcomed, and the site's upload requests (uploads_test.go).
type siteVisitor struct {
	*widgettest.Client
	e       *env
	site    string
	token   string
	visitor string
	session string
}

// visitor opens a socket on site, says hello and reads the welcome.
func (e *env) visitor(site string) *siteVisitor {
	e.tb.Helper()
	return e.visitorWith(site, nil)
}

// visitorWith is visitor with more handshake headers (a User-Agent).
func (e *env) visitorWith(site string, header http.Header) *siteVisitor {
	e.tb.Helper()
	c := widgettest.MustDial(e.tb, widgettest.URL(e.srv.URL, site), widgettest.Options{Origin: testOrigin, Header: header})
	w := c.MustHello(widgettest.Hello{})
	if w.Token == "" || w.Session == "" {
		e.tb.Fatalf("welcome without token or session: %+v", w)
	}
	return &siteVisitor{Client: c, e: e, site: site, token: w.Token, visitor: w.Visitor, session: w.Session}
}

// walkToUpload walks the demo story to its upload step.
func (v *siteVisitor) walkToUpload() widgettest.Frame {
	v.e.tb.Helper()
	return walkToUpload(v.Client)
}

// walkToUpload answers the demo story from its menu up to its file
// request (c1 to c5) and returns that prompt.
func walkToUpload(c *widgettest.Client) widgettest.Frame {
	c.UntilPrompt("menu")
	c.MustChoice("c1", "menu", "demo")
	c.UntilPrompt("ask_name")
	c.MustText("c2", "Ann")
	c.UntilPrompt("ask_email")
	c.MustInput("c3", "ask_email", "ann@example.org")
	c.UntilPrompt("ask_phone")
	c.MustInput("c4", "ask_phone", "+49 30 1234567")
	c.UntilPrompt("offer_file")
	c.MustChoice("c5", "offer_file", "yes")
	return c.UntilPrompt("ask_file")
}

// postUpload sends one file to base's upload endpoint for the session,
// with the visitor's token, and returns the status and the body.
func postUpload(tb testing.TB, base, session, token, name, typ string, data []byte) (int, []byte) {
	tb.Helper()
	body, ct := multipartBody(filePart(name, typ, data))
	resp, err := http.DefaultClient.Do(newUploadRequest(tb, base, "demo", session, token, bytes.NewReader(body), ct))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, answer
}
