package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/parley-chat/parley/server/respond"
	"github.com/parley-chat/parley/storage"
)

// ConsoleCookie names the cookie of a signed-in agent's console. It is
// scoped to /admin/, HttpOnly (no script reads it), Secure and
// SameSite=Strict (no other site's page sends it), and expires.
const ConsoleCookie = "parley_console"

// DefaultAgentSession is how long an agent's console stays signed in.
const DefaultAgentSession = 12 * time.Hour

// Principal is who made an admin request: the admin token (automation,
// the operator) or a signed-in agent.
type Principal struct {
	Admin       bool
	Agent       string // the agent's sign-in name; "" for the admin
	DisplayName string // the agent's name as visitors see it
}

// Name is how the principal is named in records: the agent's sign-in
// name, or "admin".
func (p *Principal) Name() string {
	if p.Admin {
		return "admin"
	}
	return p.Agent
}

// Display is the principal's name as a visitor reads it.
func (p *Principal) Display() string {
	if p.Admin {
		return "Support"
	}
	return p.DisplayName
}

type principalKey struct{}

func withPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalOf returns who made the request; Guard sets it. Outside a
// guarded route it returns nil.
func PrincipalOf(r *http.Request) *Principal {
	p, _ := r.Context().Value(principalKey{}).(*Principal)
	return p
}

// adminOnly lets only the admin token through: erasing visitors, backups
// and agents stay with it; an agent gets 403.
func (a *Admin) adminOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p := PrincipalOf(r); p == nil || !p.Admin {
			a.errs.Error(w, r, http.StatusForbidden, "admin_only", "only the admin token may do this; agents may read and reply")
			return
		}
		h(w, r)
	}
}

// HashSecret is the stored form of an agent's secret or a console token:
// hex SHA-256. Both are 256 random bits, so a fast hash is enough.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// NewSecret returns 256 random bits, URL-safe base64.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// consoleAgent returns the agent whose console cookie the request carries,
// or nil: no cookie, an unknown or expired one, a revoked agent.
func (a *Admin) consoleAgent(r *http.Request) *Principal {
	c, err := r.Cookie(ConsoleCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil
	}
	cs, err := a.store.ConsoleSession(r.Context(), HashSecret(c.Value))
	if err != nil || !a.now().Before(cs.ExpiresAt) {
		return nil
	}
	ag, err := a.store.Agent(r.Context(), cs.Agent)
	if err != nil {
		return nil
	}
	return &Principal{Agent: ag.Name, DisplayName: ag.DisplayName}
}

// signInRequest is the body of POST /admin/api/signin.
type signInRequest struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
}

// dummyHash is compared against when the name is unknown, so an unknown
// name takes as long as a wrong secret.
var dummyHash = HashSecret("no such agent")

// signIn answers POST /admin/api/signin {"name","secret"}: an agent's
// console session cookie, or 401 bad_credentials counted against the
// address like a wrong admin token (429 past the limit).
func (a *Admin) signIn(w http.ResponseWriter, r *http.Request) {
	var req signInRequest
	if !a.decode(w, r, &req, `{"name":"…","secret":"…"}`) {
		return
	}
	// A blocked address may not try a secret, not even the right one.
	switch wait, err := a.fails.Blocked(r.Context(), a.clientAddr(r)); {
	case err != nil:
		a.unavailable(w, r, err)
		return
	case wait > 0:
		a.tooMany(w, r, wait)
		return
	}
	want := dummyHash
	ag, err := a.store.Agent(r.Context(), req.Name)
	switch {
	case err == nil:
		want = ag.SecretHash
	case !errors.Is(err, storage.ErrNotFound):
		a.errs.Internal(w, r, err, "the sign-in could not be stored")
		return
	}
	if subtle.ConstantTimeCompare([]byte(HashSecret(req.Secret)), []byte(want)) != 1 || ag == nil {
		a.refuseFailed(w, r, "bad_credentials", "the name or the secret is not right")
		return
	}
	tok := NewSecret()
	expires := a.now().Add(a.agentSession)
	if err := a.store.PutConsoleSession(r.Context(), HashSecret(tok), storage.ConsoleSession{Agent: ag.Name, ExpiresAt: expires}, a.now()); err != nil {
		a.errs.Internal(w, r, err, "the sign-in could not be stored")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: ConsoleCookie, Value: tok, Path: "/admin/", Expires: expires, MaxAge: int(a.agentSession.Seconds()),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode,
	})
	respond.JSON(w, http.StatusOK, me{Role: "agent", Name: ag.Name, DisplayName: ag.DisplayName})
}

// signOut answers POST /admin/api/signout: the console session ends in the
// store and the cookie is cleared; 204 also when none was signed in.
func (a *Admin) signOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(ConsoleCookie); err == nil && c.Value != "" && len(c.Value) <= 100 {
		if err := a.store.DeleteConsoleSession(r.Context(), HashSecret(c.Value)); err != nil {
			a.errs.Internal(w, r, err, "the sign-in could not be stored")
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: ConsoleCookie, Value: "", Path: "/admin/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

// me is who the console is signed in as.
type me struct {
	Role        string `json:"role"` // admin or agent
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
}

// getMe answers GET /admin/api/me.
func (a *Admin) getMe(w http.ResponseWriter, r *http.Request) {
	p := PrincipalOf(r)
	if p.Admin {
		respond.JSON(w, http.StatusOK, me{Role: "admin", Name: p.Name(), DisplayName: p.Display()})
		return
	}
	respond.JSON(w, http.StatusOK, me{Role: "agent", Name: p.Agent, DisplayName: p.DisplayName})
}
