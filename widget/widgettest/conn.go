package widgettest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/coder/websocket"
)

// Close statuses the server ends a socket with (README, Wire contract).
const (
	StatusGoingAway = websocket.StatusGoingAway       // 1001: the server is stopping
	StatusPolicy    = websocket.StatusPolicyViolation // 1008: a refused hello, no hello in time, too many refused frames
	StatusTooBig    = websocket.StatusMessageTooBig   // 1009: a frame over the read limit
	StatusTryLater  = websocket.StatusTryAgainLater   // 1013: the client stopped reading
	StatusErased    = websocket.StatusCode(4001)      // the visitor's data was erased
)

// URL returns the socket's URL for site on the server at base, an
// http:// or https:// URL.
func URL(base, site string) string {
	return "ws" + strings.TrimPrefix(base, "http") + "/v1/ws?site=" + site
}

// Options say how to dial, as which browser.
type Options struct {
	Origin string         // the page's origin; the server refuses a socket without an allowed one
	Jar    http.CookieJar // keeps parley_vid as a browser does; nil sends no cookie
	// Source is the client address to dial from, a loopback address
	// like 127.0.0.2 for a test of per-address limits; "" lets the
	// system choose.
	Source string
	// HTTPClient dials the handshake (a transport of its own); its Jar is
	// used when Jar is nil. Source, where set, replaces its transport.
	HTTPClient *http.Client
	Header     http.Header // more handshake headers (User-Agent)
	ReadLimit  int64       // the largest frame read; 0 is 1 MiB
}

// Conn is one socket of the widget protocol. Reads and writes may run in
// separate goroutines; one goroutine at a time reads.
type Conn struct {
	ws *websocket.Conn
}

// Dial opens the socket at url (see URL). On a refused handshake it
// returns the server's answer with the error, for its status and body.
func Dial(ctx context.Context, url string, o Options) (*Conn, *http.Response, error) {
	h := http.Header{}
	for k, v := range o.Header {
		h[k] = v
	}
	if o.Origin != "" {
		h.Set("Origin", o.Origin)
	}
	client := o.HTTPClient
	if o.Jar != nil || o.Source != "" {
		c := http.Client{}
		if client != nil {
			c = *client
		}
		if o.Jar != nil {
			c.Jar = o.Jar
		}
		if o.Source != "" {
			ip := net.ParseIP(o.Source)
			if ip == nil {
				return nil, nil, fmt.Errorf("widgettest: dial: source %q is not an IP address", o.Source)
			}
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
			c.Transport = &http.Transport{DialContext: d.DialContext}
		}
		client = &c
	}
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: client, HTTPHeader: h})
	if err != nil {
		if resp != nil {
			return nil, resp, fmt.Errorf("widgettest: dial: handshake %s: %w", resp.Status, err)
		}
		return nil, nil, fmt.Errorf("widgettest: dial: %w", err)
	}
	limit := o.ReadLimit
	if limit == 0 {
		limit = 1 << 20
	}
	ws.SetReadLimit(limit)
	return &Conn{ws: ws}, resp, nil
}

// SendRaw sends b as one text frame, as it is: for frames the protocol
// refuses.
func (c *Conn) SendRaw(ctx context.Context, b []byte) error {
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("widgettest: send: %w", err)
	}
	return nil
}

// Send sends v as one JSON text frame.
func (c *Conn) Send(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("widgettest: send: %w", err)
	}
	return c.SendRaw(ctx, b)
}

// SendHello sends h, the socket's first frame.
func (c *Conn) SendHello(ctx context.Context, h Hello) error {
	return c.Send(ctx, clientFrame{Type: "hello", Hello: h})
}

// Text sends free text (or the answer to a pending input) with client ID id.
func (c *Conn) Text(ctx context.Context, id, text string) error {
	return c.Send(ctx, clientFrame{Type: "text", ID: id, Text: text})
}

// Choice sends a click on option of block.
func (c *Conn) Choice(ctx context.Context, id, block, option string) error {
	return c.Send(ctx, clientFrame{Type: "choice", ID: id, Block: block, Option: option})
}

// Input sends value as the answer to the input block.
func (c *Conn) Input(ctx context.Context, id, block, value string) error {
	return c.Send(ctx, clientFrame{Type: "input", ID: id, Block: block, Value: value})
}

// Variables sends host-page variables.
func (c *Conn) Variables(ctx context.Context, vars map[string]string) error {
	return c.Send(ctx, clientFrame{Type: "variables", Variables: vars})
}

// Identify tells the server who the visitor is, with client ID id.
func (c *Conn) Identify(ctx context.Context, id string, u User) error {
	return c.Send(ctx, clientFrame{Type: "identify", ID: id, Hello: Hello{User: &u}})
}

// Typing says the visitor is typing.
func (c *Conn) Typing(ctx context.Context) error {
	return c.Send(ctx, clientFrame{Type: "typing"})
}

// Read reads the next frame. When the server closed the socket the error
// carries the status: see CloseStatus.
func (c *Conn) Read(ctx context.Context) (Frame, error) {
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return Frame{}, fmt.Errorf("widgettest: read: %w", err)
	}
	var f Frame
	if err := json.Unmarshal(b, &f); err != nil {
		return Frame{}, fmt.Errorf("widgettest: read: %w: %s", ErrNotAFrame, b)
	}
	return f, nil
}

// Drain reads in a goroutine and drops what it reads, as a browser keeps
// reading (so the socket answers pings and the closing handshake), and
// sends on the channel the error that ended the socket: see CloseStatus.
// Nothing else may read the socket meanwhile.
func (c *Conn) Drain() <-chan error {
	ended := make(chan error, 1)
	go func() {
		for {
			_, err := c.Read(context.Background())
			if err != nil && !errors.Is(err, ErrNotAFrame) {
				ended <- err
				return
			}
		}
	}()
	return ended
}

// ErrNotAFrame is a message from the server that is not a JSON frame.
var ErrNotAFrame = errors.New("not a JSON frame")

// Hello says hello and reads up to the welcome. An error frame instead
// (a rate limit's too_many_sessions) is returned as a *FrameError.
func (c *Conn) Hello(ctx context.Context, h Hello) (Frame, error) {
	if err := c.SendHello(ctx, h); err != nil {
		return Frame{}, err
	}
	return c.Await(ctx, TypeWelcome)
}

// Await reads frames up to the first of type typ and returns it. An error
// frame before it is returned as a *FrameError, unless typ is "error".
func (c *Conn) Await(ctx context.Context, typ string) (Frame, error) {
	for {
		f, err := c.Read(ctx)
		if err != nil {
			return f, err
		}
		switch {
		case f.Type == typ:
			return f, nil
		case f.Type == TypeError:
			return f, &FrameError{f}
		}
	}
}

// FrameError is an error frame where another frame was awaited.
type FrameError struct{ Frame Frame }

// Error names the frame's code and message.
func (e *FrameError) Error() string {
	return "widgettest: error frame " + e.Frame.Code + ": " + e.Frame.Message
}

// Close closes the socket with a normal closure.
func (c *Conn) Close() error { return c.ws.Close(websocket.StatusNormalClosure, "") }

// CloseNow closes the socket without the closing handshake.
func (c *Conn) CloseNow() error { return c.ws.CloseNow() }

// CloseStatus returns the close status in err (from Read), or -1 when the
// socket did not close with one.
func CloseStatus(err error) websocket.StatusCode { return websocket.CloseStatus(err) }
