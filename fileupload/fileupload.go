// Package fileupload receives the files visitors send from the widget and
// serves them back: POST /v1/upload (streamed, size-capped, type-checked,
// quota-checked), GET /v1/files/{id} for the visitor's own files and
// GET /admin/api/files/{id} for admins.
//
// It owns the HTTP side only. The bytes go to a Store (Badger chunks today,
// an object store tomorrow), the conversation side (what the session
// accepts now, recording the file as a message) to Sessions.
package fileupload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/parley-chat/parley/identity"
	"github.com/parley-chat/parley/storage"
)

// TokenHeader carries the visitor token on uploads and downloads.
const TokenHeader = "X-Parley-Token"

// ErrNoUpload is what Sessions.UploadRules returns (wrapped) when the
// session is not waiting for a file and the site allows no free uploads.
var ErrNoUpload = errors.New("fileupload: the session is not expecting a file")

// Sessions is the conversation side of an upload (the widget gateway).
type Sessions interface {
	// UploadRules returns what the session accepts now: MIME types
	// ("image/*", "application/pdf") and extensions (".pdf"), and the
	// size cap (0 for the default). It returns storage.ErrNotFound for an
	// unknown site or session and ErrNoUpload when no file is expected.
	UploadRules(ctx context.Context, siteID, sessionID string) (accept []string, maxBytes int64, err error)
	// FileUploaded records the stored file as the visitor's message,
	// lets the story go on and pushes both to the session's sockets.
	FileUploaded(ctx context.Context, siteID, sessionID string, f storage.FileRef) (storage.Message, error)
}

// Records reads session records, to check who owns a session.
type Records interface {
	Session(ctx context.Context, id string) (*storage.Session, error)
}

// Store keeps the files' records and bytes.
type Store interface {
	// Put stores r, read to EOF, as the file f and fills in its size,
	// SHA-256 and layout. It returns r's errors as they came and
	// storage.ErrQuotaExceeded past q; on any error nothing remains.
	Put(ctx context.Context, f *storage.File, r io.Reader, q storage.Quota) error
	// File returns a file's record, or storage.ErrNotFound.
	File(ctx context.Context, id string) (*storage.File, error)
	// Open returns a seekable reader of the file's bytes.
	Open(ctx context.Context, f *storage.File) (io.ReadSeekCloser, error)
	// Delete removes a file, or returns storage.ErrNotFound.
	Delete(ctx context.Context, id string) error
	// DayUsage returns what the visitor uploaded on the UTC day of t.
	DayUsage(ctx context.Context, visitorID string, t time.Time) (storage.FileUsage, error)
}

var (
	_ Store   = (*storage.Files)(nil)
	_ Records = (*storage.Store)(nil)
)

// Limits bound what one upload may cost. Zero fields take the defaults;
// a negative quota field means no cap.
type Limits struct {
	// DefaultMaxBytes caps a file when the session's rules name no cap
	// (default 10 MiB).
	DefaultMaxBytes int64
	// MaxParts caps the multipart parts of one request, the file
	// included (default 8).
	MaxParts int
	// MaxPartHeaderBytes caps the headers of one part (default 8 KiB;
	// enforced to within the multipart reader's 4 KiB read-ahead).
	MaxPartHeaderBytes int
	// MaxFieldBytes caps each non-file part, which is read and dropped
	// (default 1 KiB).
	MaxFieldBytes int
	// Quota caps each visitor's files and bytes per UTC day (default 50
	// files, 200 MiB).
	Quota storage.Quota
	// MaxConcurrent caps the uploads streaming at once; more wait for a
	// slot (default 16). Each holds two 256 KiB chunk buffers.
	MaxConcurrent int
	// MaxConcurrentPerVisitor and MaxConcurrentPerAddr cap the slots one
	// visitor and one client address (Config.ClientAddr) may hold at once
	// (default 2 and 4; -1: no cap); past them an upload gets 429 at once,
	// so one of them cannot take every slot.
	MaxConcurrentPerVisitor int
	MaxConcurrentPerAddr    int
	// IdleTimeout ends an upload whose body stops arriving (default 30 s).
	IdleTimeout time.Duration
	// MaxDuration ends an upload still reading its body this long after
	// it got its slot, however steadily bytes trickle in (default 5 min).
	MaxDuration time.Duration
}

// DefaultMaxDuration is Limits.MaxDuration's default.
const DefaultMaxDuration = 5 * time.Minute

func (l *Limits) setDefaults() {
	if l.DefaultMaxBytes <= 0 {
		l.DefaultMaxBytes = 10 << 20
	}
	if l.MaxParts <= 0 {
		l.MaxParts = 8
	}
	if l.MaxPartHeaderBytes <= 0 {
		l.MaxPartHeaderBytes = 8 << 10
	}
	if l.MaxFieldBytes <= 0 {
		l.MaxFieldBytes = 1 << 10
	}
	if l.Quota.Files == 0 {
		l.Quota.Files = 50
	}
	if l.Quota.Bytes == 0 {
		l.Quota.Bytes = 200 << 20
	}
	if l.MaxConcurrent <= 0 {
		l.MaxConcurrent = 16
	}
	if l.MaxConcurrentPerVisitor == 0 {
		l.MaxConcurrentPerVisitor = 2
	}
	if l.MaxConcurrentPerAddr == 0 {
		l.MaxConcurrentPerAddr = 4
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = 30 * time.Second
	}
	if l.MaxDuration <= 0 {
		l.MaxDuration = DefaultMaxDuration
	}
}

// Config is what a Handler needs.
type Config struct {
	Sessions Sessions
	Records  Records
	Files    Store
	Keys     *identity.Keyring
	Limits   Limits
	// ClientAddr names the client of a request for the per-address share
	// of the upload slots (behind a proxy, the address it names; an IPv6
	// client by its /64). Default: the TCP peer's address.
	ClientAddr func(*http.Request) string
	// WriteError writes an error answer in Parley's one JSON shape and
	// logs the cause of an internal one (nil for none); the server passes
	// its own. Default: a {"code","message"} body, the cause to Logger.
	WriteError func(w http.ResponseWriter, r *http.Request, status int, code, message string, cause error)
	Logger     *slog.Logger
	Now        func() time.Time
}

// Handler serves uploads and downloads. Its methods are http.HandlerFuncs;
// the caller routes them and answers CORS (see the server package).
type Handler struct {
	cfg   Config
	lim   Limits
	log   *slog.Logger
	slots *slots
}

// New returns a handler. Sessions, Records, Files and Keys must be set.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ClientAddr == nil {
		cfg.ClientAddr = peerAddr
	}
	if cfg.WriteError == nil {
		cfg.WriteError = errorWriter(cfg.Logger)
	}
	lim := cfg.Limits
	lim.setDefaults()
	return &Handler{cfg: cfg, lim: lim, log: cfg.Logger, slots: newSlots(lim)}
}

// Error is an answer other than success: an HTTP status and a code the
// widget can show, sent as {"code","message"} by Config.WriteError.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return "fileupload: " + e.Code + ": " + e.Message }

// visitors returns the visitor IDs the request proves: the one in the
// X-Parley-Token header and the ones in parley_vid cookies, for site.
// Either credential may name the session's owner: a page that lost its
// cookie still has its token, and a page whose stored token is stale
// still has the cookie.
func (h *Handler) visitors(r *http.Request, site string) []string {
	var ids []string
	if id, ok := h.cfg.Keys.Verify(site, r.Header.Get(TokenHeader)); ok {
		ids = append(ids, id)
	}
	if id, ok := h.cfg.Keys.VisitorFromRequest(r, site); ok {
		ids = append(ids, id)
	}
	return ids
}

var errUnauthorized = &Error{http.StatusUnauthorized, "unauthorized", "a valid visitor token (X-Parley-Token header or parley_vid cookie) is required"}

// fail answers err as JSON: an *Error as it says, a store that is not
// answering as a 503 (try again), anything else as a 500; both logged.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	var cause error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, storage.ErrUnavailable):
		e, cause = errUnavailable, fmt.Errorf("fileupload: %w", err)
	default:
		e, cause = &Error{http.StatusInternalServerError, "internal", "something went wrong on our side"}, fmt.Errorf("fileupload: %w", err)
	}
	w.Header().Set("Cache-Control", "no-store")
	h.cfg.WriteError(w, r, e.Status, e.Code, e.Message, cause)
}

// errorWriter is Config.WriteError's default: the body a server answers
// in Parley's JSON error shape, and the cause to log.
func errorWriter(log *slog.Logger) func(http.ResponseWriter, *http.Request, int, string, string, error) {
	return func(w http.ResponseWriter, r *http.Request, status int, code, message string, cause error) {
		if cause != nil {
			log.Error("upload: internal error", "method", r.Method, "path", r.URL.Path, "err", cause)
		}
		writeJSON(w, status, map[string]string{"code": code, "message": message})
	}
}

// writeJSON answers status with v as JSON, never cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
