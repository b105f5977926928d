package widgettest

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"time"

	"github.com/coder/websocket"
)

// TB is the part of testing.TB a Client needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Timeout is how long a Client waits for the server in one call.
const Timeout = 5 * time.Second

// Client is a Conn for tests: each call fails the test on an error, or
// when the server does not answer within Timeout. Welcome is the last
// welcome Hello read.
type Client struct {
	*Conn
	tb      TB
	jar     http.CookieJar
	Welcome Frame
}

// NewJar returns an empty cookie jar: one browser's, to share between
// the sockets of its tabs.
func NewJar() http.CookieJar {
	jar, _ := cookiejar.New(nil) // fails only on options it is not given
	return jar
}

// MustDial dials url (see URL) with o, a new cookie jar when o has none;
// the socket closes when the test ends.
func MustDial(tb TB, url string, o Options) *Client {
	tb.Helper()
	if o.Jar == nil && o.HTTPClient == nil {
		o.Jar = NewJar()
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	conn, resp, err := Dial(ctx, url, o)
	if err != nil {
		tb.Fatalf("%v (answer %v)", err, resp)
	}
	tb.Cleanup(func() { conn.CloseNow() })
	return &Client{Conn: conn, tb: tb, jar: o.Jar}
}

// Jar returns the client's cookie jar.
func (c *Client) Jar() http.CookieJar { return c.jar }

// MustSend sends v as a JSON frame.
func (c *Client) MustSend(v any) {
	c.tb.Helper()
	c.must(func(ctx context.Context) error { return c.Send(ctx, v) })
}

// MustSendRaw sends b as it is.
func (c *Client) MustSendRaw(b []byte) {
	c.tb.Helper()
	c.must(func(ctx context.Context) error { return c.SendRaw(ctx, b) })
}

// MustText sends free text with client ID id.
func (c *Client) MustText(id, text string) {
	c.tb.Helper()
	c.must(func(ctx context.Context) error { return c.Text(ctx, id, text) })
}

// MustChoice clicks option of block.
func (c *Client) MustChoice(id, block, option string) {
	c.tb.Helper()
	c.must(func(ctx context.Context) error { return c.Choice(ctx, id, block, option) })
}

// MustInput answers the input block with value.
func (c *Client) MustInput(id, block, value string) {
	c.tb.Helper()
	c.must(func(ctx context.Context) error { return c.Input(ctx, id, block, value) })
}

// MustVariables sends host-page variables.
func (c *Client) MustVariables(vars map[string]string) {
	c.tb.Helper()
	c.must(func(ctx context.Context) error { return c.Variables(ctx, vars) })
}

// MustTyping says the visitor is typing.
func (c *Client) MustTyping() {
	c.tb.Helper()
	c.must(func(ctx context.Context) error { return c.Typing(ctx) })
}

// MustIdentify sends an identify frame.
func (c *Client) MustIdentify(id string, u User) {
	c.tb.Helper()
	c.must(func(ctx context.Context) error { return c.Identify(ctx, id, u) })
}

// MustSendHello says hello without reading the answer: for a hello the
// server may refuse with an error frame.
func (c *Client) MustSendHello(h Hello) {
	c.tb.Helper()
	c.must(func(ctx context.Context) error { return c.SendHello(ctx, h) })
}

// MustHello says hello and returns the welcome, which it also keeps in
// c.Welcome; anything else first fails the test.
func (c *Client) MustHello(h Hello) Frame {
	c.tb.Helper()
	c.MustSendHello(h)
	f := c.Expect(TypeWelcome)
	c.Welcome = f
	return f
}

// Next reads the next frame.
func (c *Client) Next() Frame {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	f, err := c.Read(ctx)
	if err != nil {
		c.tb.Fatalf("%v", err)
	}
	return f
}

// Expect reads the next frame and fails the test unless it is of type typ.
func (c *Client) Expect(typ string) Frame {
	c.tb.Helper()
	f := c.Next()
	if f.Type != typ {
		c.tb.Fatalf("got frame %+v, want type %q", f, typ)
	}
	return f
}

// Until reads frames up to the first of type typ and returns it; an
// error frame first fails the test (unless typ is "error").
func (c *Client) Until(typ string) Frame {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	f, err := c.Await(ctx, typ)
	if err != nil {
		c.tb.Fatalf("waiting for %s: %v", typ, err)
	}
	return f
}

// UntilPrompt reads frames (acks, messages) up to the next prompt of
// block, any block when block is "", and returns it; an error frame
// first fails the test.
func (c *Client) UntilPrompt(block string) Frame {
	c.tb.Helper()
	for {
		f := c.Next()
		if f.Type == TypeError {
			c.tb.Fatalf("error frame %+v", f)
		}
		if f.IsPrompt() && (block == "" || f.Block == block) {
			return f
		}
	}
}

// ExpectPrompt reads bot messages up to the next prompt and returns it;
// any frame that is not a message first fails the test. Stricter than
// UntilPrompt: for a turn that must answer with messages only.
func (c *Client) ExpectPrompt() Frame {
	c.tb.Helper()
	for {
		if f := c.Expect(TypeMessage); f.IsPrompt() {
			return f
		}
	}
}

// ExpectClose reads until the server closes the socket and fails the test
// unless it closed with status.
func (c *Client) ExpectClose(status websocket.StatusCode) {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	for {
		_, err := c.Read(ctx)
		if err == nil {
			continue
		}
		if got := CloseStatus(err); got != status {
			c.tb.Fatalf("socket ended with %v (status %d), want %d", err, got, status)
		}
		return
	}
}

func (c *Client) must(send func(ctx context.Context) error) {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := send(ctx); err != nil {
		c.tb.Fatalf("%v", err)
	}
}
