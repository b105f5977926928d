package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/fileupload"
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/storagetest"
)

// Tests of uploads and downloads through the whole server: a real Badger
// store, a real HTTP server, a real WebSocket client (env and siteVisitor,
// helpers_test.go).

// formPart is one part of a multipart body.
type formPart struct {
	header textproto.MIMEHeader
	body   []byte
}

// filePart is a file part as browsers send it: the name in UTF-8, with '"'
// and line breaks percent-encoded (the HTML form encoding).
func filePart(name, typ string, body []byte) formPart {
	name = strings.NewReplacer(`"`, "%22", "\r", "%0D", "\n", "%0A").Replace(name)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="`+name+`"`)
	if typ != "" {
		h.Set("Content-Type", typ)
	}
	return formPart{h, body}
}

func multipartBody(parts ...formPart) (body []byte, contentType string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		w, _ := mw.CreatePart(p.header)
		w.Write(p.body)
	}
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

// uploadRequest is a POST /v1/upload of the visitor's session with its token.
func (v *siteVisitor) uploadRequest(body io.Reader, contentType string) *http.Request {
	v.e.tb.Helper()
	return newUploadRequest(v.e.tb, v.e.srv.URL, v.site, v.session, v.token, body, contentType)
}

// newUploadRequest is a POST /v1/upload to base of a session of site,
// with the visitor's token, from the test page's origin.
func newUploadRequest(tb testing.TB, base, site, session, token string, body io.Reader, contentType string) *http.Request {
	tb.Helper()
	r, err := http.NewRequest("POST", base+"/v1/upload?site="+site+"&session="+session, body)
	if err != nil {
		tb.Fatal(err)
	}
	r.Header.Set("Content-Type", contentType)
	r.Header.Set("X-Parley-Token", token)
	r.Header.Set("Origin", testOrigin)
	return r
}

// uploadAnswer is an upload's answer: the file or the error.
type uploadAnswer struct {
	Status  int
	Header  http.Header
	Code    string `json:"code"`
	Message string `json:"message"`
	ID      string `json:"id"`
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	Type    string `json:"type"`
	SHA256  string `json:"sha256"`
}

func (e *env) do(r *http.Request) uploadAnswer {
	e.tb.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		e.tb.Fatalf("%s %s: %v", r.Method, r.URL.Path, err)
	}
	defer resp.Body.Close()
	a := uploadAnswer{Status: resp.StatusCode, Header: resp.Header}
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &a); err != nil {
			e.tb.Fatalf("answer %d: %q: %v", resp.StatusCode, b, err)
		}
	}
	return a
}

func (v *siteVisitor) upload(parts ...formPart) uploadAnswer {
	v.e.tb.Helper()
	body, ct := multipartBody(parts...)
	return v.e.do(v.uploadRequest(bytes.NewReader(body), ct))
}

// get fetches a path with headers; it returns the response and its body.
func (e *env) get(path string, header http.Header) (*http.Response, []byte) {
	e.tb.Helper()
	r, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		e.tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.tb.Fatal(err)
	}
	return resp, b
}

// fileKeys counts the store's keys under f/, fc/ and vf/.
func (e *env) fileKeys() map[string]int {
	e.tb.Helper()
	return storagetest.CountKeys(e.tb, e.s.Store.(*storage.Store), "f/", "fc/", "vf/")
}

func (e *env) expectNothingStored() {
	e.tb.Helper()
	if got := e.fileKeys(); len(got) != 0 {
		e.tb.Errorf("the store holds file keys: %v", got)
	}
}

// waitNothingStored waits for a handler still running to clean up.
func (e *env) waitNothingStored() {
	e.tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(e.fileKeys()) != 0 {
		if time.Now().After(deadline) {
			e.tb.Fatalf("file keys still stored: %v", e.fileKeys())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func samplePNG(tb testing.TB, w, h int) []byte {
	tb.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i*7 + i/3)
	}
	img.Set(0, 0, color.NRGBA{1, 2, 3, 255})
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func TestUpload_DemoStory(t *testing.T) {
	e := startEnv(t)
	v := e.visitor("demo")
	ask := v.walkToUpload()
	if ask.Upload == nil || !strings.Contains(strings.Join(ask.Upload.Accept, ","), "image/*") {
		t.Fatalf("upload prompt %+v", ask)
	}
	img := samplePNG(t, 40, 30)
	a := v.upload(filePart("screenshot.png", "image/png", img))
	if a.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s %s", a.Status, a.Code, a.Message)
	}
	sum := sha256.Sum256(img)
	if a.Name != "screenshot.png" || a.Size != int64(len(img)) || a.Type != "image/png" || a.SHA256 != hex.EncodeToString(sum[:]) || !storage.ValidID(a.ID) {
		t.Errorf("answer %+v", a)
	}
	if got := a.Header.Get("Access-Control-Allow-Origin"); got != testOrigin {
		t.Errorf("Access-Control-Allow-Origin %q, want %q", got, testOrigin)
	}

	// The socket shows the visitor's file message, then the story goes on.
	f := v.Expect("message")
	if f.From != "visitor" || f.File == nil || f.File.ID != a.ID || f.File.Name != "screenshot.png" || f.File.Size != a.Size || f.File.Type != "image/png" {
		t.Errorf("file message %+v (file %+v)", f, f.File)
	}
	if got := v.Expect("message"); got.From != "bot" || got.Text != "Got it, thanks!" {
		t.Errorf("after the file: %+v, want the bot's thanks", got)
	}
	if got := v.Expect("message"); got.Block != "bye" {
		t.Errorf("then: %+v, want the goodbye", got)
	}

	// The session and visitor count as having files, for the overview.
	sess, err := e.s.Store.Session(context.Background(), v.session)
	if err != nil {
		t.Fatal(err)
	}
	if !sess.HasFiles || sess.LastFileAt.IsZero() || len(sess.Files) != 1 || sess.Files[0].ID != a.ID || sess.State.Variables["attachment"] != a.ID {
		t.Errorf("session after the upload: hasFiles %v lastFileAt %v files %+v vars %v", sess.HasFiles, sess.LastFileAt, sess.Files, sess.State.Variables)
	}
	vis, err := e.s.Store.Visitor(context.Background(), sess.VisitorID)
	if err != nil {
		t.Fatal(err)
	}
	if vis.LastFileAt.IsZero() {
		t.Error("visitor's lastFileAt is not set")
	}

	// The story has moved past the upload: another file is not expected.
	if a := v.upload(filePart("again.png", "image/png", img)); a.Status != http.StatusConflict || a.Code != "no_upload_expected" {
		t.Errorf("second upload: %d %s, want 409 no_upload_expected", a.Status, a.Code)
	}

	// The visitor and the admin download identical bytes.
	for _, who := range []struct {
		name   string
		path   string
		header http.Header
	}{
		{"Visitor", "/v1/files/" + a.ID + "?site=demo", http.Header{"X-Parley-Token": {v.token}, "Origin": {testOrigin}}},
		{"Admin", "/admin/api/files/" + a.ID, adminHeader},
	} {
		t.Run(who.name, func(t *testing.T) {
			resp, body := e.get(who.path, who.header)
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, img) {
				t.Fatalf("status %d, %d bytes (want %d)", resp.StatusCode, len(body), len(img))
			}
			checkDownloadHeaders(t, resp.Header, "screenshot.png", a.SHA256, "image/png")
		})
	}
}

// checkDownloadHeaders checks what every download carries.
func checkDownloadHeaders(t *testing.T, h http.Header, name, sha, typ string) {
	t.Helper()
	want := map[string]string{
		"Content-Type":            typ,
		"ETag":                    `"` + sha + `"`,
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "sandbox; default-src 'none'",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	cd := h.Get("Content-Disposition")
	disp, params, err := mime.ParseMediaType(cd)
	if err != nil || disp != "attachment" || params["filename"] != name {
		t.Errorf("Content-Disposition %q: %s %v (%v), want an attachment named %q", cd, disp, params, err, name)
	}
	if !strings.Contains(cd, "filename*=UTF-8''") {
		t.Errorf("Content-Disposition %q has no filename*", cd)
	}
}

func TestUpload_Download(t *testing.T) {
	e := startEnv(t)
	v := e.visitor("free")
	v.Expect("message") // the demo story's opening
	// A PNG spanning a chunk boundary (chunks are 256 KiB).
	img := samplePNG(t, 300, 256)
	if len(img) <= 262150 || len(img) > freeMaxBytes {
		t.Fatalf("sample is %d bytes", len(img))
	}
	a := v.upload(filePart("Grüße \u202eblob.png", "image/png", img))
	if a.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s %s", a.Status, a.Code, a.Message)
	}
	path := "/admin/api/files/" + a.ID
	etag := `"` + a.SHA256 + `"`

	t.Run("Whole", func(t *testing.T) {
		resp, body := e.get(path, adminHeader)
		if resp.StatusCode != 200 || !bytes.Equal(body, img) {
			t.Fatalf("status %d, %d bytes", resp.StatusCode, len(body))
		}
		checkDownloadHeaders(t, resp.Header, "Grüße blob.png", a.SHA256, "image/png")
		if resp.Header.Get("Accept-Ranges") != "bytes" {
			t.Errorf("Accept-Ranges %q", resp.Header.Get("Accept-Ranges"))
		}
	})
	t.Run("IfNoneMatch", func(t *testing.T) {
		resp, body := e.get(path, http.Header{"Authorization": adminHeader["Authorization"], "If-None-Match": {etag}})
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("status %d, %d bytes; want 304 and nothing", resp.StatusCode, len(body))
		}
		resp, _ = e.get(path, http.Header{"Authorization": adminHeader["Authorization"], "If-None-Match": {`"other"`}})
		if resp.StatusCode != 200 {
			t.Errorf("other etag: status %d, want 200", resp.StatusCode)
		}
	})
	n := len(img)
	for _, tt := range []struct {
		rng        string
		start, end int // the slice of img
	}{
		{"bytes=0-9", 0, 10},
		{"bytes=262140-262150", 262140, 262151}, // across the chunk boundary
		{fmt.Sprintf("bytes=%d-", n-100), n - 100, n},
		{"bytes=-7", n - 7, n},
		{"bytes=100-100", 100, 101},
	} {
		t.Run("Range "+tt.rng, func(t *testing.T) {
			resp, body := e.get(path, http.Header{"Authorization": adminHeader["Authorization"], "Range": {tt.rng}})
			if resp.StatusCode != http.StatusPartialContent {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if !bytes.Equal(body, img[tt.start:tt.end]) {
				t.Errorf("got %d bytes, want img[%d:%d]", len(body), tt.start, tt.end)
			}
			if want := fmt.Sprintf("bytes %d-%d/%d", tt.start, tt.end-1, n); resp.Header.Get("Content-Range") != want {
				t.Errorf("Content-Range %q, want %q", resp.Header.Get("Content-Range"), want)
			}
		})
	}
	t.Run("MultiRange", func(t *testing.T) {
		resp, body := e.get(path, http.Header{"Authorization": adminHeader["Authorization"], "Range": {"bytes=0-3,262143-262144"}})
		mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if resp.StatusCode != http.StatusPartialContent || mt != "multipart/byteranges" {
			t.Fatalf("status %d, type %q", resp.StatusCode, mt)
		}
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for _, want := range [][]byte{img[0:4], img[262143:262145]} {
			p, err := mr.NextPart()
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(p)
			if !bytes.Equal(got, want) {
				t.Errorf("part %x, want %x", got, want)
			}
		}
	})
	t.Run("Unsatisfiable", func(t *testing.T) {
		resp, _ := e.get(path, http.Header{"Authorization": adminHeader["Authorization"], "Range": {fmt.Sprintf("bytes=%d-", n+10)}})
		if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
			t.Errorf("status %d, want 416", resp.StatusCode)
		}
	})
	t.Run("Head", func(t *testing.T) {
		r, _ := http.NewRequest("HEAD", e.srv.URL+path, nil)
		r.Header.Set("Authorization", adminHeader.Get("Authorization"))
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ContentLength != int64(n) {
			t.Errorf("HEAD: status %d, length %d", resp.StatusCode, resp.ContentLength)
		}
	})
}

func TestUpload_TooLarge(t *testing.T) {
	big := append(samplePNG(t, 4, 4), make([]byte, freeMaxBytes+1)...)
	t.Run("ContentLength", func(t *testing.T) {
		e := startEnv(t)
		v := e.visitor("free")
		a := v.upload(filePart("big.png", "image/png", big))
		if a.Status != http.StatusRequestEntityTooLarge || a.Code != "file_too_large" {
			t.Errorf("got %d %q, want 413 file_too_large", a.Status, a.Code)
		}
		e.waitNothingStored()
	})
	t.Run("Chunked", func(t *testing.T) {
		// No Content-Length: the cap is found while streaming, after
		// chunks were written, and they go again.
		e := startEnv(t)
		v := e.visitor("free")
		body, ct := multipartBody(filePart("big.png", "image/png", big))
		r := v.uploadRequest(io.MultiReader(bytes.NewReader(body)), ct)
		r.ContentLength = -1
		a := e.do(r)
		if a.Status != http.StatusRequestEntityTooLarge || a.Code != "file_too_large" {
			t.Errorf("got %d %q, want 413 file_too_large", a.Status, a.Code)
		}
		e.waitNothingStored()
	})
	t.Run("JustFits", func(t *testing.T) {
		e := startEnv(t)
		v := e.visitor("free")
		if a := v.upload(filePart("fits.png", "image/png", big[:freeMaxBytes])); a.Status != http.StatusCreated || a.Size != freeMaxBytes {
			t.Errorf("a file of exactly the cap: %d %s, size %d", a.Status, a.Code, a.Size)
		}
	})
}

func TestUpload_Types(t *testing.T) {
	e := startEnv(t)
	v := e.visitor("free")
	for _, tt := range []struct {
		name, file, typ string
		body            []byte
	}{
		{"ELFNamedPNG", "cat.png", "image/png", append([]byte("\x7fELF\x02\x01\x01\x00"), make([]byte, 200)...)},
		{"EXENamedPNG", "cat.png", "image/png", append([]byte("MZ\x90\x00\x03\x00\x00\x00"), make([]byte, 200)...)},
		{"EXENamedPDF", "cv.pdf", "application/pdf", append([]byte("MZ\x90\x00\x03\x00\x00\x00"), make([]byte, 200)...)},
		{"HTMLNamedPNG", "cat.png", "image/png", []byte("<!DOCTYPE html><html><script>alert(1)</script></html>")},
		{"SVGNamedPNG", "cat.png", "image/png", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`)},
		{"SVG", "cat.svg", "image/svg+xml", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`)},
		{"PNGDeclaredPDF", "cat.png", "application/pdf", samplePNG(t, 2, 2)},
		{"PNGNamedPHP", "cat.php", "image/png", samplePNG(t, 2, 2)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := v.upload(filePart(tt.file, tt.typ, tt.body))
			if a.Status != http.StatusUnsupportedMediaType || (a.Code != "type_mismatch" && a.Code != "unsupported_type") {
				t.Errorf("got %d %q, want 415", a.Status, a.Code)
			}
		})
	}
	e.expectNothingStored()
	pdf := []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
	if a := v.upload(filePart("cv.pdf", "application/pdf", pdf)); a.Status != http.StatusCreated || a.Type != "application/pdf" {
		t.Errorf("a PDF: %d %s %s", a.Status, a.Code, a.Type)
	}
}

func TestUpload_Filenames(t *testing.T) {
	e := startEnv(t)
	v := e.visitor("free")
	img := samplePNG(t, 3, 3)
	long := strings.Repeat("x", 10<<10)
	for _, tt := range []struct {
		name        string
		disposition string // the part's Content-Disposition
		status      int
		stored      string // the name stored, for a 201
	}{
		{"Traversal", `form-data; name="file"; filename="../../etc/passwd"`, 201, "passwd"},
		{"WindowsTraversal", `form-data; name="file"; filename="..\\..\\boot.png"`, 201, "boot.png"},
		{"EncodedNUL", `form-data; name="file"; filename*=UTF-8''a%00.png`, 201, "a.png"},
		{"RawNUL", "form-data; name=\"file\"; filename=\"a\x00.png\"", 400, ""},
		{"DoubleExtension", `form-data; name="file"; filename=".jpg.php"`, 415, ""},
		{"HiddenPNG", `form-data; name="file"; filename=".png"`, 201, "png"},
		{"LongName", `form-data; name="file"; filename="` + long + `.png"`, 201, long[:255-4] + ".png"},
		{"RTLOverrideExe", "form-data; name=\"file\"; filename*=UTF-8''cat%E2%80%AEgnp.exe", 415, ""},
		{"RTLOverride", "form-data; name=\"file\"; filename*=UTF-8''cat%E2%80%AEgnp.png", 201, "catgnp.png"},
		{"NoFilename", `form-data; name="file"`, 201, "file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := v.upload(formPart{textproto.MIMEHeader{"Content-Disposition": {tt.disposition}, "Content-Type": {"image/png"}}, img})
			if a.Status != tt.status {
				t.Fatalf("status %d %s %s, want %d", a.Status, a.Code, a.Message, tt.status)
			}
			if tt.status != 201 {
				return
			}
			if a.Name != tt.stored {
				t.Errorf("stored name %q, want %q", a.Name, tt.stored)
			}
			resp, _ := e.get("/admin/api/files/"+a.ID, adminHeader)
			_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
			if err != nil || params["filename"] != tt.stored {
				t.Errorf("download name %q (%v), want %q", params["filename"], err, tt.stored)
			}
		})
	}
}

func TestUpload_Access(t *testing.T) {
	e := startEnv(t)
	ann, bob := e.visitor("free"), e.visitor("free")
	img := samplePNG(t, 3, 3)
	body, ct := multipartBody(filePart("a.png", "image/png", img))
	up := func(v *siteVisitor, mod func(r *http.Request)) uploadAnswer {
		r := v.uploadRequest(bytes.NewReader(body), ct)
		mod(r)
		return e.do(r)
	}
	t.Run("OtherVisitorsSession", func(t *testing.T) {
		a := up(bob, func(r *http.Request) { r.URL.RawQuery = "site=free&session=" + ann.session })
		if a.Status != http.StatusForbidden || a.Code != "forbidden" {
			t.Errorf("got %d %q, want 403 forbidden", a.Status, a.Code)
		}
	})
	t.Run("SessionOnOtherSite", func(t *testing.T) {
		demo := e.visitor("demo")
		a := up(ann, func(r *http.Request) { r.URL.RawQuery = "site=free&session=" + demo.session })
		if a.Status != http.StatusNotFound {
			t.Errorf("got %d %q, want 404", a.Status, a.Code)
		}
	})
	t.Run("UnknownSession", func(t *testing.T) {
		a := up(ann, func(r *http.Request) { r.URL.RawQuery = "site=free&session=01J00000000000000000000000" })
		if a.Status != http.StatusNotFound || a.Code != "not_found" {
			t.Errorf("got %d %q, want 404 not_found", a.Status, a.Code)
		}
	})
	t.Run("UnknownSite", func(t *testing.T) {
		a := up(ann, func(r *http.Request) { r.URL.RawQuery = "site=nope&session=" + ann.session })
		if a.Status != http.StatusNotFound {
			t.Errorf("got %d %q, want 404", a.Status, a.Code)
		}
	})
	for _, tt := range []struct {
		name string
		mod  func(r *http.Request)
	}{
		{"NoToken", func(r *http.Request) { r.Header.Del("X-Parley-Token") }},
		{"ForgedToken", func(r *http.Request) { r.Header.Set("X-Parley-Token", ann.token[:len(ann.token)-2]+"xx") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if a := up(ann, tt.mod); a.Status != http.StatusUnauthorized || a.Code != "unauthorized" {
				t.Errorf("got %d %q, want 401 unauthorized", a.Status, a.Code)
			}
		})
	}
	t.Run("NotWaitingForAFile", func(t *testing.T) {
		demo := e.visitor("demo")
		if a := up(demo, func(*http.Request) {}); a.Status != http.StatusConflict || a.Code != "no_upload_expected" {
			t.Errorf("got %d %q, want 409 no_upload_expected", a.Status, a.Code)
		}
	})
	e.expectNothingStored()

	// Ann's file: hers to fetch, no one else's.
	a := up(ann, func(*http.Request) {})
	if a.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s", a.Status, a.Code)
	}
	for _, tt := range []struct {
		name   string
		path   string
		header http.Header
		status int
	}{
		{"Owner", "/v1/files/" + a.ID + "?site=free", http.Header{"X-Parley-Token": {ann.token}}, 200},
		{"OwnerByCookie", "/v1/files/" + a.ID + "?site=free", http.Header{"Cookie": {vidCookie(t, ann)}}, 200},
		{"OtherVisitor", "/v1/files/" + a.ID + "?site=free", http.Header{"X-Parley-Token": {bob.token}}, 404},
		{"NoToken", "/v1/files/" + a.ID + "?site=free", nil, 401},
		{"UnknownFile", "/v1/files/01J00000000000000000000000?site=free", http.Header{"X-Parley-Token": {ann.token}}, 404},
		{"BadID", "/v1/files/..%2f..%2fetc?site=free", http.Header{"X-Parley-Token": {ann.token}}, 404},
		{"OtherSite", "/v1/files/" + a.ID + "?site=demo", http.Header{"X-Parley-Token": {ann.token}}, 401},
		{"AdminNoToken", "/admin/api/files/" + a.ID, nil, 401},
		{"AdminBadToken", "/admin/api/files/" + a.ID, http.Header{"Authorization": {"Bearer nope"}}, 401},
		{"AdminVisitorToken", "/admin/api/files/" + a.ID, http.Header{"X-Parley-Token": {ann.token}}, 401},
		{"Admin", "/admin/api/files/" + a.ID, adminHeader, 200},
		{"AdminUnknown", "/admin/api/files/01J00000000000000000000000", adminHeader, 404},
	} {
		t.Run("Download"+tt.name, func(t *testing.T) {
			resp, b := e.get(tt.path, tt.header)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if tt.status == 200 && !bytes.Equal(b, img) {
				t.Error("wrong bytes")
			}
			if tt.status != 200 && bytes.Equal(b, img) {
				t.Error("served the file anyway")
			}
		})
	}
}

// vidCookie returns the visitor's parley_vid cookie as a Cookie header.
func vidCookie(tb testing.TB, v *siteVisitor) string {
	tb.Helper()
	u, _ := url.Parse(v.e.srv.URL)
	for _, c := range v.Jar().Cookies(u) {
		if c.Name == "parley_vid" {
			return c.Name + "=" + c.Value
		}
	}
	tb.Fatal("no parley_vid cookie in the jar")
	return ""
}

func TestUpload_CORS(t *testing.T) {
	e := startEnv(t)
	v := e.visitor("free")
	preflight := func(path, origin string) *http.Response {
		r, _ := http.NewRequest("OPTIONS", e.srv.URL+path, nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "POST")
		r.Header.Set("Access-Control-Request-Headers", "x-parley-token")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, path := range []string{"/v1/upload?site=free&session=" + v.session, "/v1/files/01J00000000000000000000000?site=free"} {
		resp := preflight(path, testOrigin)
		h := resp.Header
		if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != testOrigin ||
			h.Get("Access-Control-Allow-Credentials") != "true" || !strings.EqualFold(h.Get("Access-Control-Allow-Headers"), "X-Parley-Token") ||
			!strings.Contains(h.Get("Vary"), "Origin") {
			t.Errorf("preflight %s: %d %v", path, resp.StatusCode, h)
		}
		if resp := preflight(path, "https://evil.example"); resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from a foreign origin: %d %v", resp.StatusCode, resp.Header)
		}
	}
	if resp := preflight("/v1/upload?site=nope", testOrigin); resp.StatusCode != http.StatusNotFound {
		t.Errorf("preflight for an unknown site: %d", resp.StatusCode)
	}

	// The answers carry the headers too, errors included, so the widget
	// can read the code.
	body, ct := multipartBody(filePart("a.html", "text/html", []byte("<html></html>")))
	a := e.do(v.uploadRequest(bytes.NewReader(body), ct))
	if a.Status != http.StatusUnsupportedMediaType || a.Header.Get("Access-Control-Allow-Origin") != testOrigin || a.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("error answer: %d %v", a.Status, a.Header)
	}
	r := v.uploadRequest(bytes.NewReader(body), ct)
	r.Header.Set("Origin", "https://evil.example")
	if a := e.do(r); a.Status != http.StatusForbidden || a.Code != "origin_not_allowed" {
		t.Errorf("upload from a foreign origin: %d %q", a.Status, a.Code)
	}
	resp, _ := e.get("/v1/files/01J00000000000000000000000?site=free", http.Header{"Origin": {"https://evil.example"}, "X-Parley-Token": {v.token}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("download from a foreign origin: %d", resp.StatusCode)
	}
	e.expectNothingStored()
}

func TestUpload_ConnectionCut(t *testing.T) {
	e := startEnv(t)
	v := e.visitor("demo") // 10 MB cap
	v.walkToUpload()
	const boundary = "cutboundary"
	head := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n"
	file := append(samplePNG(t, 4, 4), make([]byte, 2<<20)...)
	u, _ := url.Parse(e.srv.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/upload?site=demo&session=%s HTTP/1.1\r\nHost: %s\r\nX-Parley-Token: %s\r\nContent-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n",
		v.session, u.Host, v.token, boundary, len(head)+len(file)+len(boundary)+8)
	conn.Write([]byte(head))
	conn.Write(file[:700<<10]) // a third of the file
	// Chunks are written as the bytes arrive...
	deadline := time.Now().Add(10 * time.Second)
	for e.fileKeys()["fc/"] == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no chunk was written while the upload streamed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// ...and go when the connection does.
	conn.Close()
	e.waitNothingStored()
	// The story still waits for the file.
	a := v.upload(filePart("a.png", "image/png", samplePNG(t, 4, 4)))
	if a.Status != http.StatusCreated {
		t.Errorf("upload after the cut one: %d %s", a.Status, a.Code)
	}
}

func TestUpload_ManyParts(t *testing.T) {
	e := startEnv(t)
	demo := e.visitor("demo") // 10 MB cap, so the body's length passes
	demo.walkToUpload()
	free := e.visitor("free") // 1 MiB cap
	var parts []formPart
	for i := range 5000 {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="field%d"`, i))
		parts = append(parts, formPart{h, []byte(strings.Repeat("v", 200))})
	}
	parts = append(parts, filePart("a.png", "image/png", samplePNG(t, 3, 3)))
	body, ct := multipartBody(parts...)

	for _, tt := range []struct {
		name    string
		v       *siteVisitor
		chunked bool
	}{
		{"ContentLength", demo, false},
		{"Chunked", free, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.v.uploadRequest(bytes.NewReader(body), ct)
			if tt.chunked {
				r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), -1
			}
			// Allocation across the request stays far below the body's
			// size: the server stops at the part cap, never holding the
			// body.
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			a := e.do(r)
			runtime.ReadMemStats(&after)
			if a.Status != http.StatusBadRequest || a.Code != "too_many_parts" {
				t.Errorf("got %d %q, want 400 too_many_parts", a.Status, a.Code)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("body %d bytes in %d parts; %d bytes allocated serving it", len(body), len(parts), alloc)
			if alloc > uint64(len(body))/4 {
				t.Errorf("allocated %d bytes for a %d-byte body", alloc, len(body))
			}
		})
	}
	e.expectNothingStored()

	// Headers are capped too: one part with 64 KiB of them.
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="a.png"`)
	h.Set("X-Padding", strings.Repeat("p", 64<<10))
	if a := free.upload(formPart{h, samplePNG(t, 3, 3)}); a.Status != http.StatusBadRequest || a.Code != "header_too_large" {
		t.Errorf("huge part header: %d %q, want 400 header_too_large", a.Status, a.Code)
	}
	e.expectNothingStored()
}

func TestUpload_ConfiguredQuota(t *testing.T) {
	// The operator's quota (--upload-quota-files) reaches the upload
	// handler: a second file in a day is refused, and nothing of it stays.
	e := startEnvWith(t, fileupload.Limits{Quota: storage.Quota{Files: 1}})
	v := e.visitor("free")
	v.Expect("message")
	png := samplePNG(t, 8, 8)
	if a := v.upload(filePart("one.png", "image/png", png)); a.Status != http.StatusCreated {
		t.Fatalf("first upload: %d %s %s", a.Status, a.Code, a.Message)
	}
	before := e.fileKeys()
	a := v.upload(filePart("two.png", "image/png", png))
	if a.Status != http.StatusTooManyRequests || a.Code != "quota_exceeded" {
		t.Fatalf("second upload: %d %s %s, want 429 quota_exceeded", a.Status, a.Code, a.Message)
	}
	if after := e.fileKeys(); !maps.Equal(before, after) {
		t.Errorf("file keys %v after the refused upload, %v before", after, before)
	}
}
