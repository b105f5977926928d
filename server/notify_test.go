package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/server/notify"
	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/widgettest"
)

// mail is one email the test's SMTP server received.
type mail struct {
	From string
	To   []string
	Data string
	TLS  bool
	User string
}

// smtpServer is a real SMTP server (emersion/go-smtp) on loopback that
// speaks STARTTLS with httptest's certificate and takes AUTH PLAIN of
// one user; it keeps what it receives.
type smtpServer struct {
	Addr  string
	Roots *x509.CertPool
	mu    sync.Mutex
	mails []mail
	got   chan mail
}

func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	certs := httptest.NewUnstartedServer(nil)
	certs.StartTLS()
	tlsCfg := certs.TLS.Clone()
	roots := x509.NewCertPool()
	roots.AddCert(certs.Certificate())
	certs.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{Addr: ln.Addr().String(), Roots: roots, got: make(chan mail, 16)}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &smtpSession{s: s, c: c}, nil
	}))
	srv.Domain = "localhost"
	srv.TLSConfig = tlsCfg
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

type smtpSession struct {
	s *smtpServer
	c *gosmtp.Conn
	m mail
}

func (ss *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (ss *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "parley" || pass != "s3cret" {
			return errors.New("bad credentials")
		}
		ss.m.User = user
		return nil
	}), nil
}
func (ss *smtpSession) Reset()        { ss.m = mail{User: ss.m.User} }
func (ss *smtpSession) Logout() error { return nil }
func (ss *smtpSession) Mail(from string, _ *gosmtp.MailOptions) error {
	ss.m.From = from
	return nil
}
func (ss *smtpSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	ss.m.To = append(ss.m.To, to)
	return nil
}
func (ss *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, ss.m.TLS = ss.c.TLSConnectionState()
	ss.m.Data = string(b)
	ss.s.mu.Lock()
	ss.s.mails = append(ss.s.mails, ss.m)
	ss.s.mu.Unlock()
	ss.s.got <- ss.m
	return nil
}

// next waits for the next email.
func (s *smtpServer) next(t *testing.T) mail {
	t.Helper()
	select {
	case m := <-s.got:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no email arrived")
		return mail{}
	}
}

// none checks that no email arrives for a while.
func (s *smtpServer) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-s.got:
		t.Errorf("unexpected email: %+v", m)
	case <-time.After(d):
	}
}

func TestNotify_WaitingAndLead(t *testing.T) {
	mx := startSMTP(t)
	_, ts := startAdminServer(t, server.Config{
		Sites:     []*widget.Site{hoSite(t, time.Hour)},
		PublicURL: "https://chat.example.org",
		SMTP: notify.Config{
			Addr: mx.Addr, From: "parley@example.org", Username: "parley", Password: "s3cret",
			TLSConfig: &tls.Config{RootCAs: mx.Roots, ServerName: "example.com"},
		},
	})
	ana := hoAddAgent(t, ts.URL, adminToken, "ana", "Ana")
	status, body := hoCall(t, nil, "POST", ts.URL+"/admin/api/agents", adminToken, map[string]any{"name": "bo", "email": "bo@example.org", "sites": []string{"demo"}})
	if status != 201 {
		t.Fatalf("add bo: %d %s", status, body)
	}
	status, _ = hoCall(t, nil, "POST", ts.URL+"/admin/api/agents", adminToken, map[string]any{"name": "cy", "email": "cy@example.org", "sites": []string{"shop"}})
	if status != 201 {
		t.Fatal(status)
	}
	if status, body := hoCall(t, nil, "POST", ts.URL+"/admin/api/agents", adminToken, map[string]any{"name": "di", "email": "not an address"}); status != 400 {
		t.Errorf("bad email: %d %s", status, body)
	}

	v := widgettest.MustDial(t, widgettest.URL(ts.URL, "demo"), widgettest.Options{Origin: testOrigin})
	sid := v.MustHello(widgettest.Hello{}).Session
	v.UntilPrompt("hi")
	v.MustChoice("c1", "hi", "person")
	v.Expect(widgettest.TypeAck)

	t.Run("Waiting", func(t *testing.T) {
		m := mx.next(t)
		if strings.Join(m.To, ",") != "bo@example.org" || m.From != "parley@example.org" || !m.TLS || m.User != "parley" {
			t.Errorf("email %+v: want to bo only (cy has another site, ana no address), over TLS, signed in", m)
		}
		for _, want := range []string{"Subject: [Parley] ", "waiting for a person on demo", "https://chat.example.org/admin/#/inbox/" + sid} {
			if !strings.Contains(m.Data, want) {
				t.Errorf("email lacks %q:\n%s", want, m.Data)
			}
		}
		v.MustText("c2", "hello?") // still waiting: no second email
		v.Until(widgettest.TypeAck)
		mx.none(t, 300*time.Millisecond)
	})
	t.Run("Lead", func(t *testing.T) {
		c := hoAgentClient(t, ts.URL, "ana", ana)
		if status, body := hoCall(t, c, "POST", ts.URL+"/admin/api/sessions/"+sid+"/take", "", map[string]any{}); status != 200 {
			t.Fatalf("take: %d %s", status, body)
		}
		if status, body := hoCall(t, c, "POST", ts.URL+"/admin/api/sessions/"+sid+"/handback", "", map[string]any{}); status != 204 {
			t.Fatalf("hand back: %d %s", status, body)
		}
		v.UntilPrompt("mail")
		v.MustInput("c3", "mail", "visitor@example.org")
		v.Until(widgettest.TypeAck)
		m := mx.next(t)
		if !strings.Contains(m.Data, "New lead on demo: visitor@example.org") || !strings.Contains(m.Data, `reached the goal "lead"`) {
			t.Errorf("lead email:\n%s", m.Data)
		}
	})
}
