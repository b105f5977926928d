package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/widget/widgettest"
)

// errNotStored is a step whose frame the server could not store.
var errNotStored = errors.New("not stored")

// storyClient is one browser going through the demo story over a
// WebSocket, noting every ack and every 201-answered upload. After a lost
// connection it reconnects to its session and sends the unacknowledged
// frame again with the same client ID, as the widget does.
type storyClient struct {
	base    string // http://host:port
	name    string
	token   string
	visitor string
	session string
	ws      *widgettest.Conn
	frames  chan widgettest.Frame // from the socket's reader; closed when it fails
	prompt  *widgettest.Frame
	n       int
	steps   int            // frames sent in the current session
	files   bool           // answer "yes" when the story offers to take a file
	pending map[string]any // the frame in flight, resent after a reconnect
	ended   bool           // the story ended: the next step starts a new session

	mu      sync.Mutex
	acked   map[string]string // session + "/" + client ID -> ack ID
	uploads map[string]string // file ID -> session
}

func newStoryClient(base, name string) *storyClient {
	return &storyClient{base: base, name: name, files: true, acked: map[string]string{}, uploads: map[string]string{}}
}

func (c *storyClient) close() {
	if c.ws != nil {
		c.ws.CloseNow()
		c.ws = nil
	}
}

// connect opens the socket and says hello, resuming the client's session.
func (c *storyClient) connect(ctx context.Context) (err error) {
	c.close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ws, _, err := widgettest.Dial(ctx, widgettest.URL(c.base, "demo"), widgettest.Options{Origin: "http://localhost:3000"})
	if err != nil {
		return err
	}
	c.ws = ws
	f, err := ws.Hello(ctx, widgettest.Hello{Token: c.token, Session: c.session})
	if err != nil {
		return err
	}
	// Read the rest in the background, so waits can time out without
	// closing the socket.
	frames := make(chan widgettest.Frame, 256)
	c.frames = frames
	go func() {
		defer close(frames)
		for {
			f, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			frames <- f
		}
	}()
	if f.Session != c.session {
		c.steps = 0
	}
	c.token, c.visitor, c.session = f.Token, f.Visitor, f.Session
	c.prompt = f.Pending()
	if len(f.History) == 0 {
		return c.settle() // a new session's opening messages
	}
	return nil
}

// receive waits up to d for the next frame and notes a bot prompt; ok is
// false on a timeout, err set when the socket is gone.
func (c *storyClient) receive(d time.Duration) (f widgettest.Frame, ok bool, err error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case f, open := <-c.frames:
		if !open {
			return f, false, errors.New("connection lost")
		}
		if f.Type == widgettest.TypeEnded {
			c.ended = true
		}
		if f.Type == widgettest.TypeMessage && f.From == "bot" {
			// The last bot message says what the story waits for.
			c.prompt = nil
			if f.IsPrompt() {
				c.prompt = &f
			}
		}
		return f, true, nil
	case <-t.C:
		return f, false, nil
	}
}

// settle reads the bot's answers to a turn: the first within a second,
// then whatever follows without a pause.
func (c *storyClient) settle() error {
	wait := time.Second
	for {
		f, ok, err := c.receive(wait)
		if err != nil || !ok {
			return err
		}
		if f.Type == widgettest.TypeMessage && f.From == "bot" {
			wait = 30 * time.Millisecond
		}
	}
}

// next returns the frame that answers the pending prompt.
func (c *storyClient) next() map[string]any {
	c.n++
	id := fmt.Sprintf("%s-%d", c.name, c.n)
	p := c.prompt
	switch {
	case p == nil:
		return map[string]any{"type": "text", "id": id, "text": "tell me more"}
	case len(p.Options) > 0:
		opt := p.Options[0].ID
		for _, o := range p.Options {
			if o.ID == "demo" || (o.ID == "yes" && c.files) || (o.ID == "no" && !c.files) {
				opt = o.ID
			}
		}
		return map[string]any{"type": "choice", "id": id, "block": p.Block, "option": opt}
	case p.Input != nil && p.Input.Kind == "email":
		return map[string]any{"type": "input", "id": id, "block": p.Block, "value": c.name + "@example.org"}
	case p.Input != nil && p.Input.Kind == "phone":
		return map[string]any{"type": "input", "id": id, "block": p.Block, "value": "+49 30 1234567"}
	case p.Input != nil:
		// A text input answered by a free text, as people do.
		return map[string]any{"type": "text", "id": id, "text": "Ada " + c.name}
	}
	return nil // an upload
}

// step sends one frame (the pending one first) and waits for its ack or
// error, or uploads a file when the story asks for one. An error means the
// connection is gone.
func (c *storyClient) step(ctx context.Context) error {
	if c.ended && c.pending == nil {
		// An ended session takes no more turns: start a new one, as the
		// widget's "Start a new conversation" does.
		c.ended, c.session = false, ""
		if err := c.connect(ctx); err != nil {
			return err
		}
	}
	if c.pending == nil {
		if c.prompt != nil && c.prompt.Upload != nil {
			return c.upload(ctx)
		}
		c.pending = c.next()
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	id := c.pending["id"].(string)
	if err := c.ws.Send(ctx, c.pending); err != nil {
		return err
	}
	for {
		f, ok, err := c.receive(5 * time.Second)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("no ack within 5 s")
		}
		switch {
		case f.Type == "ack" && f.Ref == id:
			c.mu.Lock()
			c.acked[c.session+"/"+id] = f.ID
			c.mu.Unlock()
			c.pending = nil
			c.steps++
			return c.settle()
		case f.Type == "error" && f.Ref == id && f.Code == "internal":
			// Not stored: keep it to send again.
			return fmt.Errorf("error frame %s: %w", f.Code, errNotStored)
		case f.Type == "error" && f.Ref == id:
			// Refused, nothing stored: move on.
			c.pending = nil
			return nil
		case f.Type == "error":
			return fmt.Errorf("error frame %s", f.Code)
		}
	}
}

// upload sends a small PDF to the session's pending upload block.
func (c *storyClient) upload(ctx context.Context) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "scan.pdf")
	fmt.Fprintf(fw, "%%PDF-1.4\n%% %s %d\n%%%%EOF\n", c.name, c.n)
	mw.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/upload?site=demo&session="+c.session, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("X-Parley-Token", c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var up struct {
		ID string `json:"id"`
	}
	if resp.StatusCode == http.StatusCreated && json.NewDecoder(resp.Body).Decode(&up) == nil && up.ID != "" {
		c.mu.Lock()
		c.uploads[up.ID] = c.session
		c.mu.Unlock()
	} else if resp.StatusCode >= 500 {
		return fmt.Errorf("upload: %s", resp.Status)
	}
	c.prompt = nil
	c.steps++
	return c.settle()
}

// story runs the client through the demo story: hello, the menu, a name,
// an email, a phone number, sometimes a file, until the story ends.
func (c *storyClient) story(tb testing.TB, ctx context.Context) {
	tb.Helper()
	if err := c.connect(ctx); err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < 9 && !c.ended; i++ {
		if err := c.step(ctx); err != nil {
			tb.Fatal(err)
		}
	}
}
