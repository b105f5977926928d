package fileupload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"time"

	"github.com/parley-chat/parley/storage"
)

// Upload errors beyond the ones checkType returns.
var (
	errBadRequest    = &Error{http.StatusBadRequest, "bad_request", "the site and session query parameters are required"}
	errNoSession     = &Error{http.StatusNotFound, "not_found", "no such session on this site"}
	errNotOwner      = &Error{http.StatusForbidden, "forbidden", "this session belongs to another visitor"}
	errNotExpected   = &Error{http.StatusConflict, "no_upload_expected", "the conversation is not waiting for a file"}
	errNotMultipart  = &Error{http.StatusBadRequest, "not_multipart", "send the file as multipart/form-data in the field \"file\""}
	errBadMultipart  = &Error{http.StatusBadRequest, "bad_multipart", "the multipart body is malformed"}
	errNoFile        = &Error{http.StatusBadRequest, "no_file", "the form has no file part (field \"file\")"}
	errTooManyFiles  = &Error{http.StatusBadRequest, "too_many_files", "send one file per request"}
	errTooManyParts  = &Error{http.StatusBadRequest, "too_many_parts", "the form has too many parts"}
	errHeaderTooBig  = &Error{http.StatusBadRequest, "header_too_large", "a part's headers are too large"}
	errFieldTooLarge = &Error{http.StatusBadRequest, "field_too_large", "a form field beside the file is too large"}
	errEmptyFile     = &Error{http.StatusBadRequest, "empty_file", "the file is empty"}
	errIncomplete    = &Error{http.StatusBadRequest, "upload_incomplete", "the upload was cut off before it ended"}
	errQuota         = &Error{http.StatusTooManyRequests, "quota_exceeded", "you have sent as many files today as we accept; try again tomorrow"}
	errBusy          = &Error{http.StatusServiceUnavailable, "busy", "too many uploads at once; try again in a moment"}
	errUnavailable   = &Error{http.StatusServiceUnavailable, "unavailable", "we cannot store files just now; try again in a moment"}
)

// errTooSlow is the 408 for an upload past its overall deadline d.
func errTooSlow(d time.Duration) *Error {
	return &Error{http.StatusRequestTimeout, "upload_too_slow",
		fmt.Sprintf("the upload took longer than %s and was stopped; nothing was kept", d)}
}

// errTooLarge is the 413 for a cap of max bytes.
func errTooLarge(max int64) *Error {
	return &Error{http.StatusRequestEntityTooLarge, "file_too_large", fmt.Sprintf("the file is larger than %d bytes", max)}
}

// readAhead is what the multipart reader may buffer beyond the part it
// parses; budgets allow for it.
const readAhead = 4 << 10

// uploaded is the 201 answer.
type uploaded struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Type   string `json:"type"`
	SHA256 string `json:"sha256"`
}

// Upload serves POST /v1/upload?site=SITE&session=SID. The visitor proves
// who it is with X-Parley-Token or the parley_vid cookie; the session must
// be on the site (404) and the visitor's own (403). The body is
// multipart/form-data with one file part (field "file"); it is streamed
// into the store, never held whole. On success the file becomes the
// visitor's message in the session and the answer is 201
// {id,name,size,type,sha256}. Errors are JSON {code,message}; see the
// README's Uploads section for the list.
func (h *Handler) Upload(w http.ResponseWriter, r *http.Request) {
	f, err := h.upload(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, uploaded{ID: f.ID, Name: f.Name, Size: f.Size, Type: f.Type, SHA256: f.SHA256})
}

func (h *Handler) upload(w http.ResponseWriter, r *http.Request) (*storage.File, error) {
	ctx := r.Context()
	q := r.URL.Query()
	siteID, sessionID := q.Get("site"), q.Get("session")
	if siteID == "" || sessionID == "" {
		return nil, errBadRequest
	}
	sess, err := h.ownSession(r, siteID, sessionID)
	if err != nil {
		return nil, err
	}
	accept, maxBytes, err := h.cfg.Sessions.UploadRules(ctx, siteID, sessionID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, errNoSession
	case errors.Is(err, ErrNoUpload):
		return nil, errNotExpected
	case err != nil:
		return nil, err
	}
	now := h.cfg.Now()
	limit, tooLarge, err := h.fileCap(ctx, sess.VisitorID, maxBytes, now)
	if err != nil {
		return nil, err
	}
	// Room for the boundaries, the part headers and the small fields.
	slack := int64(h.lim.MaxParts) * int64(h.lim.MaxPartHeaderBytes+h.lim.MaxFieldBytes+256)
	if r.ContentLength > limit+slack {
		return nil, tooLarge
	}
	boundary, err := multipartBoundary(r)
	if err != nil {
		return nil, err
	}
	release, err := h.slots.acquire(ctx, sess.VisitorID, h.cfg.ClientAddr(r))
	if err != nil {
		return nil, err
	}
	defer release()

	body := &bodyReader{r: http.MaxBytesReader(w, r.Body, limit+slack), rc: http.NewResponseController(w),
		idle: h.lim.IdleTimeout, end: time.Now().Add(h.lim.MaxDuration)}
	form := newForm(body, boundary, h.lim)
	part, rawName, err := form.nextFile()
	if err != nil {
		return nil, h.classify(err, body, tooLarge)
	}
	name := CleanFilename(rawName)
	file := &limitReader{r: part, left: limit}
	head := make([]byte, sniffLen)
	n, err := fill(file, head)
	if err != nil && err != io.EOF {
		return nil, h.classify(err, body, tooLarge)
	}
	if n == 0 {
		return nil, errEmptyFile
	}
	typ, err := checkType(head[:n], name, part.Header.Get("Content-Type"), accept)
	if err != nil {
		return nil, err
	}

	rec := &storage.File{
		ID: storage.NewID(now), Site: siteID, VisitorID: sess.VisitorID, SessionID: sessionID,
		Name: name, Type: typ, UploadedAt: now,
	}
	// After the file part, the rest of the form must hold only small
	// fields: Put reads it before it commits, so a second file or a
	// malformed end leaves nothing stored.
	src := &trackedReader{r: io.MultiReader(bytes.NewReader(head[:n]), file, endReader(form.rest))}
	if err := h.cfg.Files.Put(ctx, rec, src, h.lim.Quota); err != nil {
		switch {
		case errors.Is(err, storage.ErrQuotaExceeded):
			return nil, errQuota
		case errors.Is(err, storage.ErrNotFound):
			// The visitor was erased while the file came in.
			return nil, errNoSession
		case src.err != nil && errors.Is(err, src.err):
			return nil, h.classify(err, body, tooLarge)
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			// The client went away between chunks.
			return nil, errIncomplete
		}
		return nil, err
	}

	// Every byte is stored: finish even if the client leaves now.
	ctx = context.WithoutCancel(ctx)
	if _, err := h.cfg.Sessions.FileUploaded(ctx, siteID, sessionID, rec.Ref()); err != nil {
		if derr := h.cfg.Files.Delete(ctx, rec.ID); derr != nil {
			h.log.Error("upload: delete file of failed message", "file", rec.ID, "err", derr)
		}
		if errors.Is(err, storage.ErrNotFound) {
			return nil, errNoSession
		}
		return nil, err
	}
	h.log.Info("file uploaded", "site", siteID, "session", sessionID, "file", rec.ID, "size", rec.Size, "type", rec.Type)
	return rec, nil
}

// ownSession returns the session if the request proves the visitor who
// owns it and it is on the site.
func (h *Handler) ownSession(r *http.Request, siteID, sessionID string) (*storage.Session, error) {
	ids := h.visitors(r, siteID)
	if len(ids) == 0 {
		return nil, errUnauthorized
	}
	if !storage.ValidID(sessionID) {
		return nil, errNoSession // not an ID Parley gives: no store is asked
	}
	sess, err := h.cfg.Records.Session(r.Context(), sessionID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, errNoSession
	case err != nil:
		return nil, err
	case sess.Site != siteID:
		return nil, errNoSession
	case !slices.Contains(ids, sess.VisitorID):
		return nil, errNotOwner
	}
	return sess, nil
}

// fileCap returns how many bytes the visitor's file may have: the rules'
// cap (the default for none), or less when the day's quota has less left;
// and the error for a file past it (413, or 429 when the quota is the
// cap). The quota is as far as committed files tell; Put checks it again
// as it commits, with the real size.
func (h *Handler) fileCap(ctx context.Context, visitorID string, maxBytes int64, now time.Time) (int64, *Error, error) {
	if maxBytes <= 0 {
		maxBytes = h.lim.DefaultMaxBytes
	}
	used, err := h.cfg.Files.DayUsage(ctx, visitorID, now)
	if err != nil {
		return 0, nil, err
	}
	leftFiles, leftBytes := h.lim.Quota.Remaining(used)
	if leftFiles == 0 || leftBytes == 0 {
		return 0, nil, errQuota
	}
	if leftBytes >= 0 && leftBytes < maxBytes {
		return leftBytes, errQuota, nil
	}
	return maxBytes, errTooLarge(maxBytes), nil
}

// multipartBoundary returns the boundary of a multipart/form-data request.
func multipartBoundary(r *http.Request) (string, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return "", errNotMultipart
	}
	return params["boundary"], nil
}

// classify turns an error met while reading the body into the answer.
func (h *Handler) classify(err error, body *bodyReader, tooLarge *Error) error {
	var e *Error
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, errFileTooLarge), errors.As(err, &mbe):
		return tooLarge
	case errors.As(err, &e):
		return e
	case body.err != nil && !time.Now().Before(body.end):
		// The read deadline was the overall one: a trickle, not a stall.
		return errTooSlow(h.lim.MaxDuration)
	case body.err != nil:
		// The connection failed or was cut: the multipart reader's
		// complaint is a symptom.
		return errIncomplete
	}
	return errBadMultipart
}

// errFileTooLarge is limitReader's error.
var errFileTooLarge = errors.New("fileupload: file too large")

// limitReader lets left bytes through and fails with errFileTooLarge if
// there are more.
type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		l.left = -1
		return 0, errFileTooLarge
	}
	l.left -= int64(n)
	return n, err
}

// endReader calls fn at the end of the file part: its error, or the end.
type endReader func() error

func (fn endReader) Read([]byte) (int, error) {
	if err := fn(); err != nil {
		return 0, err
	}
	return 0, io.EOF
}

// trackedReader remembers the error it passed on, so the caller can tell
// the reader's failures from the store's.
type trackedReader struct {
	r   io.Reader
	err error
}

func (t *trackedReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// fill reads into buf until it is full or r fails; unlike io.ReadFull it
// returns r's io.EOF (and io.ErrUnexpectedEOF) as it came.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// bodyReader is the request body under the multipart reader: it records
// the body's failures (a cut connection, the size cap) and pushes the
// read deadline on while bytes keep coming, so a stalled upload ends
// after idle instead of holding its slot, but never past end, so a
// trickle of bytes cannot hold it either.
type bodyReader struct {
	r       io.Reader
	rc      *http.ResponseController
	idle    time.Duration
	end     time.Time
	err     error
	renewAt time.Time
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if now := time.Now(); now.After(b.renewAt) {
		// Not every ResponseWriter supports deadlines (httptest's
		// recorder does not); then there is nothing to push on.
		deadline := now.Add(b.idle)
		if deadline.After(b.end) {
			deadline = b.end
		}
		_ = b.rc.SetReadDeadline(deadline)
		b.renewAt = now.Add(b.idle / 30)
	}
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}
