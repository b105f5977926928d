package widgettest_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/widget/widgettest"
)

const origin = "http://localhost:5173"

// testing.TB is a widgettest.TB.
var _ widgettest.TB = testing.TB(nil)

// parley starts Parley with its demo site behind httptest and returns
// the demo site's socket URL. Each handshake's client address goes to
// peers, when not nil.
func parley(t *testing.T, peers chan<- string) string {
	t.Helper()
	s, err := server.Open(server.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if peers != nil && r.URL.Path == "/v1/ws" {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			peers <- host
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		s.Close()
	})
	return widgettest.URL(ts.URL, "demo")
}

func TestClient_Conversation(t *testing.T) {
	url := parley(t, nil)
	jar := widgettest.NewJar()
	c := widgettest.MustDial(t, url, widgettest.Options{Origin: origin, Jar: jar})
	w := c.MustHello(widgettest.Hello{Page: "http://localhost:5173/pricing", Lang: "en"})
	if w.Visitor == "" || w.Token == "" || w.Session == "" || w.Resumed == nil || *w.Resumed || c.Welcome.Session != w.Session {
		t.Fatalf("welcome %+v", w)
	}
	if menu := c.UntilPrompt("menu"); len(menu.Options) == 0 || menu.Options[0].Label == "" || menu.ID == "" || menu.From != "bot" {
		t.Errorf("menu %+v", menu)
	}
	// Neither is answered: the next frame is the choice's ack.
	c.MustVariables(map[string]string{"plan": "pro"})
	c.MustTyping()
	c.MustChoice("c1", "menu", "demo")
	if a := c.Expect(widgettest.TypeAck); a.Ref != "c1" || a.ID == "" || a.At == "" {
		t.Errorf("ack %+v", a)
	}
	c.UntilPrompt("ask_name")
	c.MustText("c2", "Ada")
	c.Expect(widgettest.TypeAck)
	if p := c.UntilPrompt("ask_email"); p.Input == nil || p.Input.Kind != "email" {
		t.Fatalf("email prompt %+v", p)
	}
	c.MustInput("c3", "ask_email", "not an address")
	if e := c.Expect(widgettest.TypeError); e.Ref != "c3" || e.Code != "invalid_email" || e.Message == "" {
		t.Errorf("error %+v", e)
	}

	t.Run("ResumeByCookie", func(t *testing.T) {
		// Another tab of the same browser: the same visitor and session,
		// the open question read from the history.
		tab := widgettest.MustDial(t, url, widgettest.Options{Origin: origin, Jar: jar})
		w2 := tab.MustHello(widgettest.Hello{Session: w.Session})
		if w2.Visitor != w.Visitor || w2.Session != w.Session || w2.Resumed == nil || !*w2.Resumed {
			t.Fatalf("welcome %+v, want the session %s resumed", w2, w.Session)
		}
		if p := w2.Pending(); p == nil || p.Block != "ask_email" {
			t.Errorf("pending question %+v, want ask_email", p)
		}
	})
	t.Run("ResumeByToken", func(t *testing.T) {
		// No cookie (another jar): the token names the visitor.
		other := widgettest.MustDial(t, url, widgettest.Options{Origin: origin})
		if w3 := other.MustHello(widgettest.Hello{Token: w.Token}); w3.Visitor != w.Visitor || w3.Session != w.Session {
			t.Errorf("welcome %+v, want visitor %s", w3, w.Visitor)
		}
	})
	t.Run("New", func(t *testing.T) {
		fresh := widgettest.MustDial(t, url, widgettest.Options{Origin: origin, Jar: jar})
		if w4 := fresh.MustHello(widgettest.Hello{New: true}); w4.Visitor != w.Visitor || w4.Session == w.Session || *w4.Resumed {
			t.Errorf("welcome %+v, want a new session of visitor %s", w4, w.Visitor)
		}
		// Only messages up to the new session's first question.
		if p := fresh.ExpectPrompt(); p.Block != "menu" {
			t.Errorf("first prompt %+v, want menu", p)
		}
	})
}

func TestConn_Refusals(t *testing.T) {
	url := parley(t, nil)
	ctx := context.Background()
	t.Run("Handshake", func(t *testing.T) {
		_, resp, err := widgettest.Dial(ctx, url, widgettest.Options{Origin: "https://evil.example"})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("dial from a foreign origin: %v, %v; want 403", resp, err)
		}
	})
	t.Run("HelloFirst", func(t *testing.T) {
		c, _, err := widgettest.Dial(ctx, url, widgettest.Options{Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if err := c.Text(ctx, "c1", "hi"); err != nil {
			t.Fatal(err)
		}
		_, err = c.Await(ctx, widgettest.TypeWelcome)
		var fe *widgettest.FrameError
		if !errors.As(err, &fe) || fe.Frame.Code != "hello_first" {
			t.Errorf("await after text first: %v, want the error frame hello_first", err)
		}
	})
	t.Run("TooBig", func(t *testing.T) {
		c := widgettest.MustDial(t, url, widgettest.Options{Origin: origin})
		c.MustHello(widgettest.Hello{})
		c.MustSendRaw([]byte(`{"type":"text","id":"c1","text":"` + strings.Repeat("x", 9<<10) + `"}`))
		c.ExpectClose(widgettest.StatusTooBig)
	})
	t.Run("Drain", func(t *testing.T) {
		// Frames are read and dropped meanwhile; the close status comes out.
		c := widgettest.MustDial(t, url, widgettest.Options{Origin: origin})
		c.MustHello(widgettest.Hello{})
		ended := c.Drain()
		c.MustSendRaw([]byte(`{"type":"text","id":"c1","text":"` + strings.Repeat("x", 9<<10) + `"}`))
		select {
		case err := <-ended:
			if got := widgettest.CloseStatus(err); got != widgettest.StatusTooBig {
				t.Errorf("drained socket ended with %v, want status 1009", err)
			}
		case <-time.After(widgettest.Timeout):
			t.Fatal("the drained socket did not end")
		}
	})
}

// TestCore_NoTesting keeps package testing out of the load tool: the
// Conn core, and so the parley binary, does not import it.
func TestCore_NoTesting(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/parley-chat/parley/widget/widgettest", "github.com/parley-chat/parley/server/loadtest").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "testing" {
			t.Fatal("widgettest or the load tool imports testing")
		}
	}
}

func TestDial_Source(t *testing.T) {
	peers := make(chan string, 4)
	url := parley(t, peers)
	for _, src := range []string{"127.0.0.2", "127.0.0.3"} {
		c := widgettest.MustDial(t, url, widgettest.Options{Origin: origin, Source: src})
		c.MustHello(widgettest.Hello{})
		if got := <-peers; got != src {
			t.Errorf("the server saw %s, want %s", got, src)
		}
	}
	if _, _, err := widgettest.Dial(context.Background(), url, widgettest.Options{Origin: origin, Source: "nowhere"}); err == nil || !strings.Contains(err.Error(), "not an IP address") {
		t.Errorf("a source that is no address: %v", err)
	}
}
