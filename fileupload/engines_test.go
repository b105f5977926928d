package fileupload

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/postgres"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
	"github.com/parley-chat/parley/storage/storagetest"
)

// engine is a storage engine the upload tests run on.
type engine struct {
	name string
	// open returns an empty store holding the test visitor: its file
	// store and a count of the file records and chunks it holds. opts
	// apply to Badger only.
	open func(tb testing.TB, opts storage.Options) (files Store, stored func(testing.TB) (records, chunks int))
}

// engines are the engines every upload test that touches the store runs
// on: Badger and PostgreSQL (skipped without a server, except under
// CI=true; see postgrestest).
var engines = []engine{
	{"Badger", openBadger},
	{"Postgres", openPostgres},
}

// onEngines runs fn as a subtest on each engine.
func onEngines(t *testing.T, fn func(t *testing.T, eng engine)) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) { fn(t, eng) })
	}
}

// testVisitorRecord is the uploader every engine is opened with: a file
// is stored only for a visitor the store knows.
func testVisitorRecord() *storage.Visitor {
	return &storage.Visitor{ID: testVisitor, Site: testSite, CreatedAt: time.Now()}
}

func openBadger(tb testing.TB, opts storage.Options) (Store, func(testing.TB) (int, int)) {
	tb.Helper()
	dir := ""
	if !opts.InMemory {
		dir = tb.TempDir()
	}
	st, err := storage.Open(dir, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.CreateVisitor(context.Background(), testVisitorRecord()); err != nil {
		tb.Fatal(err)
	}
	return storage.NewFiles(st), func(tb testing.TB) (int, int) {
		tb.Helper()
		keys := storagetest.CountKeys(tb, st, "f/", "fc/", "vf/")
		if keys["vf/"] != keys["f/"] {
			tb.Errorf("%d file records but %d visitor index entries", keys["f/"], keys["vf/"])
		}
		return keys["f/"], keys["fc/"]
	}
}

func openPostgres(tb testing.TB, _ storage.Options) (Store, func(testing.TB) (int, int)) {
	tb.Helper()
	ctx := context.Background()
	url := postgrestest.URL(tb)
	st, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.CreateVisitor(ctx, testVisitorRecord()); err != nil {
		tb.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return postgres.NewFiles(st), func(tb testing.TB) (records, chunks int) {
		tb.Helper()
		err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM file_chunks)`).Scan(&records, &chunks)
		if err != nil {
			tb.Fatal(err)
		}
		return records, chunks
	}
}

// TestDownload_Engines: a file uploaded through the handler downloads
// whole and by ranges (across a chunk boundary, past the end) on each
// engine, only to its visitor and admins, and not once deleted.
func TestDownload_Engines(t *testing.T) {
	onEngines(t, func(t *testing.T, eng engine) {
		e := newEngineEnv(t, eng, Limits{}, storage.Options{})
		const boundary = "dlboundary"
		const n = 2*storage.FileChunkSize + 1000
		a := e.do(e.request(bodyOf(n, boundary), "multipart/form-data; boundary="+boundary))
		if a.status != http.StatusCreated {
			t.Fatalf("upload: %d %s", a.status, a.Code)
		}
		want, err := io.ReadAll(&patternReader{left: n})
		if err != nil {
			t.Fatal(err)
		}
		get := func(serve http.HandlerFunc, id, rng string, visitor string) *httptest.ResponseRecorder {
			r := httptest.NewRequest("GET", "/v1/files/"+id+"?site="+testSite, nil)
			r.SetPathValue("id", id)
			if rng != "" {
				r.Header.Set("Range", rng)
			}
			if visitor != "" {
				r.Header.Set(TokenHeader, e.keys.Sign(testSite, visitor))
			}
			w := httptest.NewRecorder()
			serve(w, r)
			return w
		}
		cs := storage.FileChunkSize
		for _, tc := range []struct {
			name    string
			serve   http.HandlerFunc
			id, rng string
			visitor string
			status  int
			body    []byte
		}{
			{"Admin", e.h.ServeAdminFile, a.ID, "", "", 200, want},
			{"Visitor", e.h.ServeVisitorFile, a.ID, "", testVisitor, 200, want},
			{"AcrossChunks", e.h.ServeAdminFile, a.ID, fmt.Sprintf("bytes=%d-%d", cs-5, cs+4), "", 206, want[cs-5 : cs+5]},
			{"LastBytes", e.h.ServeAdminFile, a.ID, "bytes=-7", "", 206, want[n-7:]},
			{"PastTheEnd", e.h.ServeAdminFile, a.ID, fmt.Sprintf("bytes=%d-", n+10), "", 416, nil},
			{"OtherVisitor", e.h.ServeVisitorFile, a.ID, "", otherVistor, 404, nil},
			{"Unknown", e.h.ServeAdminFile, storage.NewID(time.Now()), "", "", 404, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				w := get(tc.serve, tc.id, tc.rng, tc.visitor)
				if w.Code != tc.status {
					t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
				}
				if tc.body != nil && !bytes.Equal(w.Body.Bytes(), tc.body) {
					t.Errorf("body: %d bytes, not the %d uploaded", w.Body.Len(), len(tc.body))
				}
				if tc.status == 200 && w.Header().Get("ETag") != `"`+a.SHA256+`"` {
					t.Errorf("ETag %q, want the SHA-256 %s", w.Header().Get("ETag"), a.SHA256)
				}
			})
		}
		if err := e.files.Delete(context.Background(), a.ID); err != nil {
			t.Fatal(err)
		}
		if w := get(e.h.ServeAdminFile, a.ID, "", ""); w.Code != 404 {
			t.Errorf("after delete: %d, want 404", w.Code)
		}
		e.expectNothingStored()
	})
}
