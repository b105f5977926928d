package fileupload

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/identity"
	"github.com/parley-chat/parley/storage"
)

const (
	testSite    = "demo"
	testSession = "01JSESS0000000000000000000"
	testVisitor = "01J00000000000000000000001"
	otherVistor = "01J00000000000000000000002"
)

// fakeSessions stands in for the gateway.
type fakeSessions struct {
	mu       sync.Mutex
	accept   []string
	max      int64
	err      error
	uploaded []storage.FileRef
}

func (f *fakeSessions) UploadRules(ctx context.Context, site, session string) ([]string, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accept, f.max, f.err
}

func (f *fakeSessions) FileUploaded(ctx context.Context, site, session string, ref storage.FileRef) (storage.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.uploaded = append(f.uploaded, ref)
	return storage.Message{ID: storage.NewID(ref.At), From: storage.FromVisitor, Kind: storage.KindFile, File: &ref}, nil
}

type fakeRecords map[string]*storage.Session

func (r fakeRecords) Session(ctx context.Context, id string) (*storage.Session, error) {
	if s, ok := r[id]; ok {
		return s, nil
	}
	return nil, storage.ErrNotFound
}

// testEnv is a handler over a real store with a fake gateway.
type testEnv struct {
	tb       testing.TB
	files    Store
	stored   func(testing.TB) (records, chunks int) // the engine's count of file records and chunks
	keys     *identity.Keyring
	sessions *fakeSessions
	h        *Handler
}

// newTestEnv is a handler over a Badger store (newEngineEnv).
func newTestEnv(tb testing.TB, lim Limits, opts storage.Options) *testEnv {
	tb.Helper()
	return newEngineEnv(tb, engines[0], lim, opts)
}

// newEngineEnv is a handler over an empty store of eng, holding the test
// visitor.
func newEngineEnv(tb testing.TB, eng engine, lim Limits, opts storage.Options) *testEnv {
	tb.Helper()
	files, stored := eng.open(tb, opts)
	keys, err := identity.NewKeyring("k1", map[string][]byte{"k1": bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		tb.Fatal(err)
	}
	e := &testEnv{tb: tb, files: files, stored: stored, keys: keys,
		sessions: &fakeSessions{accept: []string{"image/*", "application/pdf"}, max: 1 << 20}}
	e.h = New(Config{
		Sessions: e.sessions,
		Records:  fakeRecords{testSession: {ID: testSession, Site: testSite, VisitorID: testVisitor}},
		Files:    e.files, Keys: keys, Limits: lim,
	})
	return e
}

// formPart is one part of a test form: raw header lines and a body.
type formPart struct {
	header textproto.MIMEHeader
	body   []byte
}

func filePart(name, typ string, body []byte) formPart {
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, name))
	if typ != "" {
		h.Set("Content-Type", typ)
	}
	return formPart{h, body}
}

func fieldPart(name, value string) formPart {
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q`, name))
	return formPart{h, []byte(value)}
}

// form encodes parts as multipart/form-data.
func encodeForm(tb testing.TB, parts ...formPart) (body []byte, contentType string) {
	tb.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		w, err := mw.CreatePart(p.header)
		if err != nil {
			tb.Fatal(err)
		}
		w.Write(p.body)
	}
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

func (e *testEnv) request(body io.Reader, contentType string) *http.Request {
	r := httptest.NewRequest("POST", "/v1/upload?site="+testSite+"&session="+testSession, body)
	r.Header.Set("Content-Type", contentType)
	r.Header.Set(TokenHeader, e.keys.Sign(testSite, testVisitor))
	return r
}

type answer struct {
	status int
	Code   string `json:"code"`
	ID     string `json:"id"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Type   string `json:"type"`
	SHA256 string `json:"sha256"`
}

func (e *testEnv) do(r *http.Request) answer {
	e.tb.Helper()
	w := httptest.NewRecorder()
	e.h.Upload(w, r)
	a := answer{status: w.Code}
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
		e.tb.Fatalf("answer %d is not JSON: %q", w.Code, w.Body.String())
	}
	if (a.status == http.StatusCreated) != (a.Code == "") {
		e.tb.Fatalf("answer %d with code %q", a.status, a.Code)
	}
	return a
}

func (e *testEnv) upload(parts ...formPart) answer {
	e.tb.Helper()
	body, ct := encodeForm(e.tb, parts...)
	return e.do(e.request(bytes.NewReader(body), ct))
}

// expectStored checks the store's counts of file records and chunks.
func (e *testEnv) expectStored(records, chunks int) {
	e.tb.Helper()
	if r, c := e.stored(e.tb); r != records || c != chunks {
		e.tb.Errorf("store holds %d file records and %d chunks, want %d and %d", r, c, records, chunks)
	}
}

// startSlowUpload opens a raw connection to the handler and sends the
// head of a 900 KiB upload and its first 300 KiB (a chunk's worth reaches
// the store), leaving the rest for the test to send or withhold.
func (e *testEnv) startSlowUpload() net.Conn {
	e.tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(e.h.Upload))
	e.tb.Cleanup(srv.Close)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		e.tb.Fatal(err)
	}
	e.tb.Cleanup(func() { conn.Close() })
	const boundary = "slowboundary"
	fmt.Fprintf(conn, "POST /v1/upload?site=%s&session=%s HTTP/1.1\r\nHost: x\r\n%s: %s\r\nContent-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n",
		testSite, testSession, TokenHeader, e.keys.Sign(testSite, testVisitor), boundary, 900<<10)
	conn.Write([]byte("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n"))
	conn.Write(append(samplePNG(e.tb), make([]byte, 300<<10)...))
	return conn
}

// readAnswer reads the handler's answer on a raw connection.
func readAnswer(tb testing.TB, conn net.Conn) (status int, a struct{ Code, Message string }) {
	tb.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(&a)
	return resp.StatusCode, a
}

func (e *testEnv) expectNothingStored() {
	e.tb.Helper()
	e.expectStored(0, 0)
}

func TestUpload_Stored(t *testing.T) {
	onEngines(t, func(t *testing.T, eng engine) {
		e := newEngineEnv(t, eng, Limits{}, storage.Options{})
		png := samplePNG(t)
		a := e.upload(fieldPart("note", "hello"), filePart("../../cat.png", "image/png", png), fieldPart("after", "x"))
		if a.status != http.StatusCreated {
			t.Fatalf("status %d %s", a.status, a.Code)
		}
		sum := sha256.Sum256(png)
		if a.Name != "cat.png" || a.Size != int64(len(png)) || a.Type != "image/png" || a.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("answer %+v", a)
		}
		if len(e.sessions.uploaded) != 1 || e.sessions.uploaded[0].ID != a.ID {
			t.Errorf("gateway told %+v, want the file %s", e.sessions.uploaded, a.ID)
		}
		f, err := e.files.File(context.Background(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if f.VisitorID != testVisitor || f.SessionID != testSession || f.Site != testSite {
			t.Errorf("record %+v", f)
		}
	})
}

func TestUpload_Refused(t *testing.T) {
	onEngines(t, func(t *testing.T, eng engine) {
		png := samplePNG(t)
		big := append(append([]byte{}, png...), make([]byte, 1<<20)...)
		for _, tt := range []struct {
			name   string
			parts  []formPart
			status int
			code   string
		}{
			{"NoFile", []formPart{fieldPart("a", "b")}, 400, "no_file"},
			{"TwoFiles", []formPart{filePart("a.png", "image/png", png), filePart("b.png", "image/png", png)}, 400, "too_many_files"},
			{"FileAfterFile", []formPart{filePart("a.png", "image/png", png), fieldPart("x", "y"), {textproto.MIMEHeader{"Content-Disposition": {`form-data; name="other"; filename="b.png"`}}, png}}, 400, "too_many_files"},
			{"Empty", []formPart{filePart("a.png", "image/png", nil)}, 400, "empty_file"},
			{"TooLarge", []formPart{filePart("a.png", "image/png", big)}, 413, "file_too_large"},
			{"FieldTooLarge", []formPart{fieldPart("a", strings.Repeat("x", 2000)), filePart("a.png", "image/png", png)}, 400, "field_too_large"},
			{"TooManyParts", append(make9Fields(), filePart("a.png", "image/png", png)), 400, "too_many_parts"},
			{"HeaderTooLarge", []formPart{{textproto.MIMEHeader{"Content-Disposition": {`form-data; name="file"; filename="a.png"`}, "X-Pad": {strings.Repeat("p", 20<<10)}}, png}}, 400, "header_too_large"},
			{"BadDisposition", []formPart{{textproto.MIMEHeader{"Content-Disposition": {`form-data; name="file"; filename="a.png`}}, png}}, 400, "bad_multipart"},
			{"HTMLNamedPNG", []formPart{filePart("a.png", "image/png", sampleHTML)}, 415, "type_mismatch"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				e := newEngineEnv(t, eng, Limits{}, storage.Options{})
				a := e.upload(tt.parts...)
				if a.status != tt.status || a.Code != tt.code {
					t.Errorf("got %d %q, want %d %q", a.status, a.Code, tt.status, tt.code)
				}
				e.expectNothingStored()
			})
		}
	})
}

func make9Fields() []formPart {
	var p []formPart
	for i := range 9 {
		p = append(p, fieldPart(fmt.Sprint("f", i), "v"))
	}
	return p
}

func TestUpload_Access(t *testing.T) {
	png := samplePNG(t)
	body, ct := encodeForm(t, filePart("a.png", "image/png", png))
	for _, tt := range []struct {
		name   string
		mod    func(e *testEnv, r *http.Request)
		status int
		code   string
	}{
		{"NoToken", func(e *testEnv, r *http.Request) { r.Header.Del(TokenHeader) }, 401, "unauthorized"},
		{"ForgedToken", func(e *testEnv, r *http.Request) { r.Header.Set(TokenHeader, r.Header.Get(TokenHeader)+"x") }, 401, "unauthorized"},
		{"TokenOfOtherSite", func(e *testEnv, r *http.Request) { r.Header.Set(TokenHeader, e.keys.Sign("other", testVisitor)) }, 401, "unauthorized"},
		{"OtherVisitor", func(e *testEnv, r *http.Request) { r.Header.Set(TokenHeader, e.keys.Sign(testSite, otherVistor)) }, 403, "forbidden"},
		{"Cookie", func(e *testEnv, r *http.Request) {
			r.Header.Del(TokenHeader)
			r.AddCookie(e.keys.Cookie(testSite, testVisitor))
		}, 201, ""},
		{"StaleTokenGoodCookie", func(e *testEnv, r *http.Request) {
			r.Header.Set(TokenHeader, e.keys.Sign(testSite, otherVistor))
			r.AddCookie(e.keys.Cookie(testSite, testVisitor))
		}, 201, ""},
		{"UnknownSession", func(e *testEnv, r *http.Request) { r.URL.RawQuery = "site=demo&session=01JSESS0000000000000000009" }, 404, "not_found"},
		{"SessionOnOtherSite", func(e *testEnv, r *http.Request) {
			r.URL.RawQuery = "site=other&session=" + testSession
			r.Header.Set(TokenHeader, e.keys.Sign("other", testVisitor))
		}, 404, "not_found"},
		{"NoSession", func(e *testEnv, r *http.Request) { r.URL.RawQuery = "site=demo" }, 400, "bad_request"},
		{"NotExpected", func(e *testEnv, r *http.Request) { e.sessions.err = fmt.Errorf("%w: no", ErrNoUpload) }, 409, "no_upload_expected"},
		{"NotMultipart", func(e *testEnv, r *http.Request) { r.Header.Set("Content-Type", "image/png") }, 400, "not_multipart"},
		{"NotAccepted", func(e *testEnv, r *http.Request) { e.sessions.accept = []string{".pdf"} }, 415, "unsupported_type"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, Limits{}, storage.Options{})
			r := e.request(bytes.NewReader(body), ct)
			tt.mod(e, r)
			a := e.do(r)
			if a.status != tt.status || a.Code != tt.code {
				t.Errorf("got %d %q, want %d %q", a.status, a.Code, tt.status, tt.code)
			}
			if tt.status != 201 {
				e.expectNothingStored()
			}
		})
	}
}

func TestUpload_Quota(t *testing.T) {
	onEngines(t, func(t *testing.T, eng engine) {
		png := samplePNG(t)
		t.Run("Files", func(t *testing.T) {
			e := newEngineEnv(t, eng, Limits{Quota: storage.Quota{Files: 2, Bytes: -1}}, storage.Options{})
			for i := range 3 {
				a := e.upload(filePart("a.png", "image/png", png))
				if want := map[bool]int{true: 201, false: 429}[i < 2]; a.status != want {
					t.Fatalf("upload %d: status %d %s, want %d", i, a.status, a.Code, want)
				}
				if i == 2 && a.Code != "quota_exceeded" {
					t.Errorf("code %q, want quota_exceeded", a.Code)
				}
			}
		})
		t.Run("Bytes", func(t *testing.T) {
			// The quota, not the 1 MiB cap, stops the second file mid-way.
			e := newEngineEnv(t, eng, Limits{Quota: storage.Quota{Files: -1, Bytes: int64(len(png)) + 5000}}, storage.Options{})
			if a := e.upload(filePart("a.png", "image/png", png)); a.status != 201 {
				t.Fatalf("first: %d %s", a.status, a.Code)
			}
			big := append(append([]byte{}, png...), make([]byte, 10000)...)
			if a := e.upload(filePart("b.png", "image/png", big)); a.status != 429 || a.Code != "quota_exceeded" {
				t.Fatalf("past the bytes: %d %s, want 429 quota_exceeded", a.status, a.Code)
			}
			e.expectStored(1, 1) // the first file only
		})
	})
}

// FuzzUpload feeds arbitrary bodies to the upload handler: it must answer
// JSON with a known status, and store a file exactly when it answers 201.
func FuzzUpload(f *testing.F) {
	const boundary = "fuzzboundary"
	png := samplePNG(f)
	seed := func(parts ...formPart) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.SetBoundary(boundary)
		for _, p := range parts {
			w, _ := mw.CreatePart(p.header)
			w.Write(p.body)
		}
		mw.Close()
		f.Add(b.Bytes())
	}
	seed(filePart("a.png", "image/png", png))
	seed(fieldPart("x", "y"), filePart("cv.pdf", "application/pdf", samplePDF), fieldPart("z", ""))
	seed(filePart("a.png", "image/png", png), filePart("b.png", "image/png", png))
	seed(filePart("a.png", "image/png", sampleHTML))
	seed(filePart("a\x00.png", "", png))
	f.Add([]byte("--fuzzboundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n\x89PNG\r\n\x1a\n"))
	f.Add([]byte("preamble\r\n--fuzzboundary--\r\n"))

	e := newTestEnv(f, Limits{MaxParts: 4, MaxPartHeaderBytes: 1 << 10, MaxFieldBytes: 64, Quota: storage.Quota{Files: -1, Bytes: -1}},
		storage.Options{InMemory: true})
	e.sessions.max = 64 << 10
	known := map[int]bool{201: true, 400: true, 413: true, 415: true}
	f.Fuzz(func(t *testing.T, body []byte) {
		e.tb = t
		w := httptest.NewRecorder()
		e.h.Upload(w, e.request(bytes.NewReader(body), "multipart/form-data; boundary="+boundary))
		if !known[w.Code] {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		var a answer
		if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
			t.Fatalf("answer %d is not JSON: %q", w.Code, w.Body)
		}
		if w.Code != 201 {
			e.expectNothingStored()
			return
		}
		// The stored bytes are the file part's, whole.
		rec, err := e.files.File(context.Background(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		r, err := e.files.Open(context.Background(), rec)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, r)
		r.Close()
		if err != nil || n != a.Size || hex.EncodeToString(h.Sum(nil)) != a.SHA256 || n > 64<<10 {
			t.Fatalf("stored %d bytes (%v), answer %+v", n, err, a)
		}
		if err := e.files.Delete(context.Background(), a.ID); err != nil {
			t.Fatal(err)
		}
	})
}

// bodyOf is a reader of n bytes of a repeating pattern that starts with a
// PNG signature, framed as a multipart form: a 100 MB upload without
// 100 MB in memory.
func bodyOf(n int64, boundary string) io.Reader {
	head := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.png\"\r\nContent-Type: image/png\r\n\r\n"
	tail := "\r\n--" + boundary + "--\r\n"
	return io.MultiReader(strings.NewReader(head), &patternReader{left: n}, strings.NewReader(tail))
}

// bodyLen is the length of bodyOf(n, boundary).
func bodyLen(n int64, boundary string) int64 {
	b, _ := io.ReadAll(bodyOf(0, boundary))
	return int64(len(b)) + n
}

// patternReader yields left bytes: a PNG signature, then a fixed 64 KiB
// block of pseudo-random bytes over and over.
type patternReader struct {
	left int64
	off  int64
}

var pattern = func() []byte {
	b := make([]byte, 64<<10)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	copy(b, "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	return b
}()

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n := 0
	for n < len(b) {
		k := copy(b[n:], pattern[(p.off+int64(n))%int64(len(pattern)):])
		n += k
	}
	p.left -= int64(n)
	p.off += int64(n)
	return n, nil
}

func TestUpload_LargeStreamed(t *testing.T) {
	onEngines(t, func(t *testing.T, eng engine) {
		// 3 MiB in, read back whole: the pattern body and the sha line up.
		e := newEngineEnv(t, eng, Limits{}, storage.Options{})
		e.sessions.max = 4 << 20
		const boundary = "bigboundary"
		const n = 3<<20 + 123
		a := e.do(e.request(bodyOf(n, boundary), "multipart/form-data; boundary="+boundary))
		if a.status != 201 || a.Size != n {
			t.Fatalf("answer %+v", a)
		}
		h := sha256.New()
		io.Copy(h, &patternReader{left: n})
		if got := hex.EncodeToString(h.Sum(nil)); got != a.SHA256 {
			t.Errorf("sha256 %s, want %s", a.SHA256, got)
		}
		e.expectStored(1, (n+storage.FileChunkSize-1)/storage.FileChunkSize)
	})
}

func TestUpload_Stalled(t *testing.T) {
	onEngines(t, func(t *testing.T, eng engine) {
		// A body that stops arriving ends the upload (and frees its slot)
		// after the idle timeout, leaving nothing.
		e := newEngineEnv(t, eng, Limits{IdleTimeout: 300 * time.Millisecond, MaxConcurrent: 1}, storage.Options{})
		conn := e.startSlowUpload()
		start := time.Now()
		status, a := readAnswer(t, conn)
		if status != http.StatusBadRequest || a.Code != "upload_incomplete" {
			t.Errorf("got %d %q, want 400 upload_incomplete", status, a.Code)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("answered after %v", d)
		}
		e.expectNothingStored()
		// The slot is free again.
		if a := e.upload(filePart("a.png", "image/png", samplePNG(t))); a.status != http.StatusCreated {
			t.Errorf("next upload: %d %s", a.status, a.Code)
		}
	})
}

func TestUpload_Trickle(t *testing.T) {
	onEngines(t, func(t *testing.T, eng engine) {
		// A body that keeps coming a byte at a time, never idle for long, is
		// cut at the overall deadline with 408 upload_too_slow, leaving
		// nothing, and its slot is free again.
		e := newEngineEnv(t, eng, Limits{IdleTimeout: time.Second, MaxDuration: 700 * time.Millisecond, MaxConcurrent: 1}, storage.Options{})
		conn := e.startSlowUpload()
		start := time.Now()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
					if _, err := conn.Write([]byte{0}); err != nil {
						return
					}
				}
			}
		}()
		status, a := readAnswer(t, conn)
		if status != http.StatusRequestTimeout || a.Code != "upload_too_slow" || !strings.Contains(a.Message, "700ms") {
			t.Errorf("got %d %+v, want 408 upload_too_slow", status, a)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("answered after %v, the deadline is 700ms", d)
		}
		e.expectNothingStored()
		if a := e.upload(filePart("a.png", "image/png", samplePNG(t))); a.status != http.StatusCreated {
			t.Errorf("next upload: %d %s", a.status, a.Code)
		}
	})
}
