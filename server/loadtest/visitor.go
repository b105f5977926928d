package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-chat/parley/widget/widgettest"
)

// visitor is one simulated browser: one socket, a goroutine reading it,
// and in the paced mode a timer that sends.
type visitor struct {
	r   *run
	n   int
	ws  *widgettest.Conn
	hi  time.Time     // when hello was sent
	wel chan struct{} // closed on welcome

	mu       sync.Mutex
	seq      int
	sent     []sentFrame // awaiting their ack
	awaiting []time.Time // acked, awaiting the bot's answer
	prompt   prompt      // what the bot asked last
	fresh    bool        // prompt is not answered yet
	over     bool        // the story ended; a new conversation is on its way
	againAt  time.Time   // when the new conversation's hello was sent
	timer    *time.Timer
}

type sentFrame struct {
	id string
	at time.Time
}

// prompt is the bot's latest question.
type prompt struct {
	block   string
	options []string
	input   string // the input kind asked for
	upload  bool
}

// connect dials, says hello and waits for the welcome.
func (v *visitor) connect(ctx context.Context) error {
	r := v.r
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	if src := r.source(v.n); src != "" {
		ctx = context.WithValue(ctx, sourceKey{}, src)
	}
	start := time.Now()
	ws, resp, err := widgettest.Dial(ctx, r.url, widgettest.Options{
		Origin:     r.o.Origin,
		HTTPClient: r.client,
		Header:     http.Header{"User-Agent": {userAgent}},
	})
	if err != nil {
		if resp != nil {
			return fmt.Errorf("handshake: %s", resp.Status)
		}
		return err
	}
	r.connect.Observe(time.Since(start))
	v.ws = ws
	v.wel = make(chan struct{})
	go v.read()
	v.hi = time.Now()
	hello := widgettest.Hello{Page: "http://localhost/loadtest/" + strconv.Itoa(v.n), Lang: "en"}
	if err := ws.SendHello(ctx, hello); err != nil {
		ws.CloseNow()
		return err
	}
	select {
	case <-v.wel:
		return nil
	case <-ctx.Done():
		ws.CloseNow()
		return errors.New("no welcome in time")
	}
}

const userAgent = "Mozilla/5.0 (X11; Linux x86_64) parley-loadtest/1"

// read handles server frames until the socket closes.
func (v *visitor) read() {
	r := v.r
	ctx := context.Background()
	welcomed := false
	for {
		f, err := v.ws.Read(ctx)
		if errors.Is(err, widgettest.ErrNotAFrame) {
			r.countError("bad_server_frame")
			continue
		}
		if err != nil {
			if !r.stopping.Load() {
				r.lost(v, err, welcomed)
			}
			return
		}
		now := time.Now()
		if r.echo {
			// The echo returns what was sent: hello stands for the
			// welcome, any other frame for its ack.
			if f.Type == "hello" {
				f.Type = "welcome"
			} else {
				f.Type, f.Ref = "ack", f.ID
			}
		}
		switch f.Type {
		case widgettest.TypeWelcome:
			if !welcomed {
				welcomed = true
				r.welcome.Observe(now.Sub(v.hi))
				close(v.wel)
				break
			}
			// The new conversation after an end: its opening question
			// (botSaid) sends the next message.
			v.mu.Lock()
			if v.over && !v.againAt.IsZero() {
				r.again.Observe(now.Sub(v.againAt))
			}
			v.over = false
			v.mu.Unlock()
		case widgettest.TypeEnded:
			v.startOver()
		case widgettest.TypeAck:
			v.acked(f.Ref, now)
		case widgettest.TypeError:
			r.countError(f.Code)
			if f.Ref != "" {
				v.refused(f.Ref, f.Code)
			}
		case widgettest.TypeMessage:
			if f.From == "bot" {
				v.botSaid(&f, now)
			}
		}
	}
}

// acked records an ack; against the echo, whose ack is the answer, it
// sends on when sending as fast as acks return.
func (v *visitor) acked(ref string, now time.Time) {
	v.mu.Lock()
	at, ok := v.take(ref)
	if ok {
		if !v.r.echo {
			v.awaiting = append(v.awaiting, at)
		}
	}
	v.mu.Unlock()
	if !ok {
		return
	}
	v.r.ack.Observe(now.Sub(at))
	v.r.acks.Add(1)
	if v.r.echo {
		v.next()
	}
}

// refused forgets a frame the server answered with an error. An invalid
// answer is asked again by the bot; that question counts as the reply. A
// frame refused for the rate was not stored, so its question is answered
// again.
func (v *visitor) refused(ref, code string) {
	v.mu.Lock()
	at, ok := v.take(ref)
	reasked := ok && strings.HasPrefix(code, "invalid_")
	if reasked {
		v.awaiting = append(v.awaiting, at)
	}
	if ok && code == "rate_limited" {
		v.fresh = true // nothing was stored: the question is still to answer
	}
	v.mu.Unlock()
	if ok && !reasked {
		v.next()
	}
}

// next sends the next message at once when sending as fast as the server
// answers: after the bot's reply (the echo's: the ack), so each answer
// goes to the question the bot asked last.
func (v *visitor) next() {
	if v.r.o.Rate < 0 && !v.r.stopping.Load() {
		v.send()
	}
}

// take removes ref from the frames awaiting an ack; callers hold v.mu.
func (v *visitor) take(ref string) (time.Time, bool) {
	for i, s := range v.sent {
		if s.id == ref {
			v.sent = append(v.sent[:i], v.sent[i+1:]...)
			return s.at, true
		}
	}
	return time.Time{}, false
}

// botSaid times the bot's first answer to the oldest acked frame and
// remembers a question. As fast as answered, the visitor sends on when the
// bot has asked its next question and nothing of the visitor's is still
// waiting: a reply's first message may be followed by more, and after the
// story's last message comes its end, so sending on the first message
// would run into the end (error ended) or answer a question the server
// has moved past (not_pending).
func (v *visitor) botSaid(f *widgettest.Frame, now time.Time) {
	v.mu.Lock()
	var at time.Time
	if len(v.awaiting) > 0 {
		at = v.awaiting[0]
		v.awaiting = v.awaiting[1:]
	}
	asked := f.IsPrompt()
	if asked {
		p := prompt{block: f.Block, upload: f.Upload != nil}
		for _, o := range f.Options {
			p.options = append(p.options, o.ID)
		}
		if f.Input != nil {
			p.input = f.Input.Kind
		}
		v.prompt, v.fresh = p, true
	}
	idle := len(v.awaiting) == 0 && len(v.sent) == 0
	v.mu.Unlock()
	if !at.IsZero() {
		v.r.reply.Observe(now.Sub(at))
	}
	if asked && idle {
		v.next()
	}
}

// startOver begins a new conversation on the same socket after the
// story's end, as a visitor clicking "Start a new conversation" does;
// nothing is sent until its welcome.
func (v *visitor) startOver() {
	v.mu.Lock()
	v.over, v.prompt, v.fresh, v.awaiting = true, prompt{}, false, nil
	v.mu.Unlock()
	if v.r.stopping.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), v.r.o.Timeout)
	v.mu.Lock()
	v.againAt = time.Now()
	v.mu.Unlock()
	v.ws.SendHello(ctx, widgettest.Hello{New: true})
	cancel()
}

// send sends the visitor's next frame: the answer to the bot's latest
// question (its choice, its input, or now and then free text instead of a
// choice), as a person does, on their turn only. While the visitor's last
// message is not yet acked and answered, or the bot has asked nothing new
// (its story ended and the next conversation's question has not come),
// the turn passes (counted in the report): sending then would answer a
// question the server has moved past (not_pending), put free text into an
// input (invalid_…) or talk into an ended story (ended), errors of the
// tool's own making when the server lags. The echo asks nothing; its
// visitors send on every turn.
func (v *visitor) send() {
	v.mu.Lock()
	v.forgetStale(time.Now())
	if !v.r.echo && (v.over || !v.fresh || len(v.sent) > 0 || len(v.awaiting) > 0) {
		v.mu.Unlock()
		if v.r.o.Rate > 0 {
			v.r.passed.Add(1)
		}
		return
	}
	v.seq++
	id := "c" + strconv.Itoa(v.seq)
	p := v.prompt
	var send func(ctx context.Context) error
	switch {
	case v.r.echo:
		send = func(ctx context.Context) error {
			return v.ws.Text(ctx, id, "how much does it cost? (visitor "+strconv.Itoa(v.n)+")")
		}
	case p.input != "":
		send = func(ctx context.Context) error { return v.ws.Input(ctx, id, p.block, inputValue(p.input, v.n)) }
	case len(p.options) > 0 && v.seq%5 != 0:
		option := p.options[rand.IntN(len(p.options))]
		send = func(ctx context.Context) error { return v.ws.Choice(ctx, id, p.block, option) }
	default:
		send = func(ctx context.Context) error { return v.ws.Text(ctx, id, "how much does it cost?") }
	}
	v.fresh = false
	now := time.Now()
	v.sent = append(v.sent, sentFrame{id, now})
	v.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), v.r.o.Timeout)
	err := send(ctx)
	cancel()
	if err != nil {
		return // the reader sees the socket go
	}
	v.r.sent.Add(1)
}

// forgetStale stops waiting for acks and answers older than the tool's
// timeout, counting them as errors (no_ack, no_reply), so a visitor whose
// message was never answered takes its turn again. Callers hold v.mu.
func (v *visitor) forgetStale(now time.Time) {
	limit := now.Add(-v.r.o.Timeout)
	for len(v.sent) > 0 && v.sent[0].at.Before(limit) {
		v.sent = v.sent[1:]
		v.r.countError("no_ack")
	}
	for len(v.awaiting) > 0 && v.awaiting[0].Before(limit) {
		v.awaiting = v.awaiting[1:]
		v.fresh = true // answer the question again
		v.r.countError("no_reply")
	}
}

func inputValue(kind string, n int) string {
	switch kind {
	case "email":
		return "visitor" + strconv.Itoa(n) + "@example.org"
	case "phone":
		return "+49 30 1234567"
	case "text":
		return "Ada"
	}
	return "42"
}

// pace sends at the visitor's rate from a timer, starting at a random
// point of the first interval so visitors do not send in step.
func (v *visitor) pace() {
	interval := time.Duration(float64(time.Second) / v.r.o.Rate)
	next := time.Now().Add(rand.N(interval))
	var tick func()
	tick = func() {
		if v.r.stopping.Load() {
			return
		}
		v.send()
		next = next.Add(interval)
		v.mu.Lock()
		v.timer = time.AfterFunc(max(time.Until(next), 0), tick)
		v.mu.Unlock()
	}
	v.mu.Lock()
	v.timer = time.AfterFunc(time.Until(next), tick)
	v.mu.Unlock()
}

// close stops the visitor's timer and closes its socket.
func (v *visitor) close() {
	v.mu.Lock()
	if v.timer != nil {
		v.timer.Stop()
	}
	v.mu.Unlock()
	if v.ws != nil {
		v.ws.CloseNow()
	}
}
