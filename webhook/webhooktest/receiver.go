// Package webhooktest is a webhook receiver for tests: an httptest server
// that verifies every delivery's signature as a site's backend should
// (webhook.Verify) and records what it accepted.
package webhooktest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/webhook"
)

// Secret is a valid endpoint secret for tests.
var Secret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// Delivery is one request the receiver accepted.
type Delivery struct {
	ID   string // webhook-id
	Type string
	// Data is the payload's data object.
	Data struct {
		Site    string `json:"site"`
		Visitor string `json:"visitor"`
		Session string `json:"session"`
		Message *struct {
			ID   string `json:"id"`
			From string `json:"from"`
			Kind string `json:"kind"`
			Text string `json:"text"`
		} `json:"message"`
		Input *struct {
			Kind  string `json:"kind"`
			Value string `json:"value"`
		} `json:"input"`
		File *struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"file"`
	}
	Body []byte
	// Request is the request's number (from 1, as Behave's n) and At when
	// it was accepted: what a failed ordering check shows.
	Request int
	At      time.Time
}

// Receiver is a running receiver. Behave, if set, picks the answer to
// each verified request (0: 204) and may stall it; n counts requests
// from 1.
type Receiver struct {
	URL string
	Srv *httptest.Server

	key      []byte
	mu       sync.Mutex
	got      []Delivery
	requests int
	badSigs  int
	behave   func(n int, d *Delivery) int
	now      func() time.Time
}

// New starts a receiver, closed when the test ends.
func New(tb testing.TB) *Receiver {
	tb.Helper()
	key, err := webhook.ParseSecret(Secret)
	if err != nil {
		tb.Fatal(err)
	}
	r := &Receiver{key: key, now: time.Now}
	r.Srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.Srv.URL
	tb.Cleanup(r.Srv.Close)
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	now := r.now
	r.mu.Unlock()
	if err := webhook.Verify(r.key, req.Header, body, now()); err != nil {
		r.mu.Lock()
		r.badSigs++
		r.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	d := Delivery{ID: req.Header.Get(webhook.HeaderID), Body: body}
	var p struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &p); err != nil || json.Unmarshal(p.Data, &d.Data) != nil {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	d.Type = p.Type
	r.mu.Lock()
	r.requests++
	n, behave := r.requests, r.behave
	r.mu.Unlock()
	status := 0
	if behave != nil {
		status = behave(n, &d)
	}
	if status == 0 {
		status = http.StatusNoContent
	}
	if status < 300 {
		d.Request, d.At = n, time.Now()
		r.mu.Lock()
		r.got = append(r.got, d)
		r.mu.Unlock()
	}
	w.WriteHeader(status)
}

// SetClock makes the receiver check signature timestamps against now
// instead of the time: the clock of a Parley whose clock a test moves.
func (r *Receiver) SetClock(now func() time.Time) {
	r.mu.Lock()
	r.now = now
	r.mu.Unlock()
}

// Behave sets how the receiver answers from now on (nil: 204 to all).
func (r *Receiver) Behave(f func(n int, d *Delivery) int) {
	r.mu.Lock()
	r.behave = f
	r.mu.Unlock()
}

// Deliveries returns what the receiver accepted so far, in order, repeats
// included.
func (r *Receiver) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.got...)
}

// Unique returns the accepted deliveries without repeats (by webhook-id),
// each where it first came.
func (r *Receiver) Unique() []Delivery {
	seen := map[string]bool{}
	var out []Delivery
	for _, d := range r.Deliveries() {
		if !seen[d.ID] {
			seen[d.ID] = true
			out = append(out, d)
		}
	}
	return out
}

// Requests is how many verified requests came, accepted or not.
func (r *Receiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

// BadSignatures is how many requests failed verification.
func (r *Receiver) BadSignatures() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.badSigs
}

// PrivateName returns a host name that passes the config check (no IP
// literal, not localhost) but resolves to a non-public address here: the
// machine's own name, as /etc/hosts usually has it. It is what a name that
// rebinds to a private address looks like when dialled. The test is
// skipped where no such name exists.
func PrivateName(tb testing.TB) string {
	tb.Helper()
	name, ok := LookupPrivateName()
	if !ok {
		tb.Skip("no host name here resolves to a private address: the dial-time check cannot be exercised")
	}
	return name
}

// LookupPrivateName is PrivateName without the test: ok is false where no
// such name exists.
func LookupPrivateName() (name string, ok bool) {
	own, _ := os.Hostname()
	for _, name := range []string{own, "ip6-localhost", "ip6-loopback", "localhost.localdomain"} {
		if name == "" {
			continue
		}
		addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", name)
		if err != nil || len(addrs) == 0 || webhook.Public(addrs[0]) {
			continue
		}
		ep := webhook.Endpoint{ID: "probe", URL: "https://" + name + "/", Secret: Secret, Events: []string{"session.started"}}
		if len(ep.Validate()) == 0 {
			return name, true
		}
	}
	return "", false
}
