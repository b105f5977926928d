package admin

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// adminCSP allows the console's own files and nothing else: no inline
// script or style, no framing, API calls to this origin only.
const adminCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// headers sets the security headers of every /admin/ answer, refuses
// a token in the URL and cross-origin unsafe requests.
func (a *Admin) headers(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.errs.Error(w, r, http.StatusForbidden, "cross_origin", "cross-origin requests that change state are refused")
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", adminCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			a.errs.Param(w, r, http.StatusBadRequest, "invalid_parameter", "query", "malformed query string")
			return
		}
		if name := tokenInURL(r); name != "" {
			a.errs.Param(w, r, http.StatusBadRequest, "token_in_url", name,
				"credentials are never accepted in the URL: send the admin token as an Authorization: Bearer header")
			return
		}
		cop.Handler(next).ServeHTTP(w, r)
	})
}

// tokenInURL returns the name of a query parameter that looks like it
// carries a credential, or "".
func tokenInURL(r *http.Request) string {
	for name := range r.URL.Query() {
		switch strings.ToLower(name) {
		case "token", "access_token", "admin_token", "auth", "authorization", "bearer", "key", "api_key", "apikey", "password":
			return name
		}
	}
	return ""
}

// Failed sign-ins: each client address (an IPv6 client by its /64) has
// FailBurst failures, regained one every FailWindow / FailBurst, over
// every route that takes the admin token.
const (
	FailBurst  = 10
	FailWindow = time.Minute
)

// FailureLimiter counts failed sign-ins per client address. On one node
// the count is kept in memory (the default); nodes sharing a PostgreSQL
// store keep it there (storage/postgres's SignInFailures), so an attacker
// who spreads guesses over the nodes meets one budget.
type FailureLimiter interface {
	// Blocked returns how long addr must wait before it may try again, 0
	// if it may now.
	Blocked(ctx context.Context, addr string) (time.Duration, error)
	// Fail counts a failed sign-in from addr and returns 0, or, when addr
	// has no failure left, counts nothing and returns how long it must
	// wait: one step, so concurrent failures never share the last one.
	Fail(ctx context.Context, addr string) (time.Duration, error)
}

// Guard lets a request through only with the admin bearer token,
// compared in constant time, or the session cookie of a signed-in agent
// (signin.go); the handler finds which in the request's Principal. A wrong or missing token gets a 401 JSON
// error and counts against the client's address; an address past its
// failures gets 429 for a wrong token instead, for a while. The right
// token always passes, before any count is asked: a blocked address
// shared with an attacker (an office, a proxy without --trusted-proxies)
// cannot lock the admin out, nor can a store that does not answer, and
// guessing a long random token is hopeless at any rate. Every route
// Guard wraps shares the Admin's one failure count. It includes the
// headers of every /admin/ answer (headers).
func (a *Admin) Guard(next http.Handler) http.Handler {
	want := []byte(a.token)
	return a.headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if ok && len(want) > 0 && subtle.ConstantTimeCompare([]byte(got), want) == 1 {
			next.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), &Principal{Admin: true})))
			return
		}
		// A signed-in agent's console (signin.go), when no token was sent.
		if !ok {
			if p := a.consoleAgent(r); p != nil {
				next.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), p)))
				return
			}
		}
		a.refuseFailed(w, r, "unauthorized", "a valid admin token or agent sign-in is required")
	}))
}

// refuseFailed answers a failed sign-in (a token or an agent's) and counts
// it against the client's address, or answers 429 when the address is past
// its failures. Behind a trusted reverse proxy the client is in
// X-Forwarded-For, as for the widget's per-address caps. When the count
// cannot be kept (the store does not answer) the failure is refused with
// 503: failing closed, so an outage is no window for guessing.
func (a *Admin) refuseFailed(w http.ResponseWriter, r *http.Request, code, msg string) {
	wait, err := a.fails.Fail(r.Context(), a.clientAddr(r))
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	if wait > 0 {
		a.tooMany(w, r, wait)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="parley-admin"`)
	a.errs.Error(w, r, http.StatusUnauthorized, code, msg)
}

// tooMany answers 429 to an address past its failures, saying when to
// try again.
func (a *Admin) tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
	a.errs.Error(w, r, http.StatusTooManyRequests, "too_many_attempts", "too many failed sign-ins from this address; try again later")
}

// unavailable answers 503 to a failed sign-in whose count the store
// could not keep, and logs why.
func (a *Admin) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Retry-After", "5")
	a.errs.Fail(w, r, http.StatusServiceUnavailable, "unavailable",
		"the failed sign-ins cannot be counted while the store does not answer; try again in a moment", err)
}

// failureLimiter is the in-memory FailureLimiter of one node: each
// address has burst failures, regained at one per window/burst; past
// that the address is blocked until it regains one.
type failureLimiter struct {
	mu     sync.Mutex
	burst  float64
	per    time.Duration // time to regain one failure
	now    func() time.Time
	counts map[string]*failures
}

type failures struct {
	left float64
	at   time.Time
}

var _ FailureLimiter = (*failureLimiter)(nil)

func newFailureLimiter(burst int, window time.Duration, now func() time.Time) *failureLimiter {
	return &failureLimiter{burst: float64(burst), per: window / time.Duration(burst), now: now, counts: map[string]*failures{}}
}

// refill brings f's allowance up to now; callers hold mu.
func (l *failureLimiter) refill(f *failures, now time.Time) {
	f.left = min(l.burst, f.left+float64(now.Sub(f.at))/float64(l.per))
	f.at = now
}

// wait is how long f must wait for its next failure; callers hold mu.
func (l *failureLimiter) wait(f *failures) time.Duration {
	if f.left >= 1 {
		return 0
	}
	return time.Duration((1 - f.left) * float64(l.per))
}

// Blocked returns how long addr must wait, 0 if it may try.
func (l *failureLimiter) Blocked(_ context.Context, addr string) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.counts[addr]
	if f == nil {
		return 0, nil
	}
	l.refill(f, l.now())
	return l.wait(f), nil
}

// Fail counts a failure of addr, or returns its wait when it has none left.
func (l *failureLimiter) Fail(_ context.Context, addr string) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.counts) > 10000 {
		// Forget the addresses that have their whole allowance back.
		for k, f := range l.counts {
			if l.refill(f, now); f.left >= l.burst {
				delete(l.counts, k)
			}
		}
	}
	f := l.counts[addr]
	if f == nil {
		f = &failures{left: l.burst, at: now}
		l.counts[addr] = f
	}
	l.refill(f, now)
	if wait := l.wait(f); wait > 0 {
		return wait, nil
	}
	f.left--
	return 0, nil
}
