package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// lcTestEraseComplete: an erase takes every row of the visitor and nothing
// of anyone else's, tells OnErase, counts what it deleted, and can be
// repeated; turns on its sessions fail afterwards.
func lcTestEraseComplete(t *testing.T, e LifecycleEngine) {
	ctx := context.Background()
	var mu sync.Mutex
	var told []string
	e.OnErase(func(id string) { mu.Lock(); told = append(told, id); mu.Unlock() })
	// Both are called Ada: their search terms share words.
	gone := lcSeed(t, e, "demo", lcStart, "Ada", "ada@example.org", 3)
	kept := lcSeed(t, e, "demo", lcStart.Add(time.Minute), "Ada", "ada.l@example.com", 2)

	res, err := e.EraseVisitor(ctx, gone.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Visitor || res.Sessions != 3 || res.Files != len(gone.Files) || res.Messages != 3*lcMessagesPer(e) {
		t.Errorf("erase result %+v, want the visitor, 3 sessions, %d files, %d messages", res, len(gone.Files), 3*lcMessagesPer(e))
	}
	lcAssertGone(t, e, gone, nil)
	lcAssertSound(t, e)
	if _, err := e.Visitor(ctx, gone.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Visitor after erase: %v, want ErrNotFound", err)
	}
	for _, sid := range gone.Sessions {
		if _, err := e.Session(ctx, sid); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Session %s after erase: %v, want ErrNotFound", sid, err)
		}
	}
	if fe, ok := e.(FileEngine); ok {
		for _, fid := range gone.Files {
			if _, err := fe.File(ctx, fid); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("File %s after erase: %v, want ErrNotFound", fid, err)
			}
		}
	}
	lcAssertKept(t, e, kept)
	if doc := lcExport(t, e, kept.ID); len(doc.Sessions) != 2 {
		t.Errorf("the other visitor's export has %d sessions, want 2", len(doc.Sessions))
	}
	mu.Lock()
	if len(told) != 1 || told[0] != gone.ID {
		t.Errorf("OnErase told of %v, want %s", told, gone.ID)
	}
	mu.Unlock()

	t.Run("Idempotent", func(t *testing.T) {
		res, err := e.EraseVisitor(ctx, gone.ID)
		if err != nil || res.Visitor || res.Sessions != 0 || res.Files != 0 || res.Messages != 0 {
			t.Errorf("second erase: %+v, %v; want nothing done, no error", res, err)
		}
		if res, err := e.EraseVisitor(ctx, storage.NewID(lcStart)); err != nil || res.Visitor {
			t.Errorf("erase of an unknown visitor: %+v, %v", res, err)
		}
	})
	t.Run("TurnsAfterErase", func(t *testing.T) {
		_, _, _, err := e.RecordTurn(ctx, &storage.Turn{SessionID: gone.Sessions[0], ClientID: "c9",
			Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindText, At: lcStart, Text: "hi", ClientID: "c9"}}})
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("turn on an erased session: %v, want ErrNotFound", err)
		}
		lcAssertGone(t, e, gone, nil)
	})
}

// lcTestEraseBadInput: an ID no visitor can have is refused, and nothing is
// deleted.
func lcTestEraseBadInput(t *testing.T, e LifecycleEngine) {
	ctx := context.Background()
	kept := lcSeed(t, e, "demo", lcStart, "Ada", "ada@example.org", 1)
	for _, id := range []string{"", "a/b", kept.ID + "/"} {
		if res, err := e.EraseVisitor(ctx, id); err == nil || errors.Is(err, storage.ErrNotFound) || res != (storage.EraseResult{}) {
			t.Errorf("EraseVisitor(%q): %+v, %v; want a bad-ID error", id, res, err)
		}
	}
	lcAssertKept(t, e, kept)
}

// lcTestEraseConcurrentTurns erases a visitor while its sessions keep
// recording turns: a turn either lands before the erase, and is erased,
// or fails with ErrNotFound; nothing of the visitor survives.
func lcTestEraseConcurrentTurns(t *testing.T, e LifecycleEngine) {
	ctx := context.Background()
	gone := lcSeed(t, e, "demo", lcStart, "Grace", "grace@example.org", 4)
	var wg sync.WaitGroup
	var mu sync.Mutex
	stop := make(chan struct{})
	turns := 0
	for i, sid := range gone.Sessions {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				cid := fmt.Sprintf("w%d-%d", i, n)
				at := lcStart.Add(time.Duration(n) * time.Second)
				_, _, _, err := e.RecordTurn(ctx, &storage.Turn{SessionID: sid, ClientID: cid, Messages: []storage.Message{
					{From: storage.FromVisitor, Kind: storage.KindText, At: at, Text: "still here", ClientID: cid},
					{From: storage.FromBot, Kind: storage.KindBot, At: at, Text: "ok"},
				}, Inputs: []storage.Input{{Block: "b", Variable: "name", Kind: "text", Value: fmt.Sprintf("Grace %d", n), At: at}}})
				if errors.Is(err, storage.ErrNotFound) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				turns++
				mu.Unlock()
			}
		})
	}
	// Let the writers get going.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := turns
		mu.Unlock()
		if n >= 8 {
			break
		}
	}
	if _, err := e.EraseVisitor(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	lcAssertGone(t, e, gone, nil)
	lcAssertSound(t, e)
}

// lcTestEraseComesBack: a browser that comes back with an erased visitor's
// ID is recorded afresh, as a new visitor with that ID.
func lcTestEraseComesBack(t *testing.T, e LifecycleEngine) {
	ctx := context.Background()
	gone := lcSeed(t, e, "demo", lcStart, "Ada", "ada@example.org", 1)
	if _, err := e.EraseVisitor(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	back := lcStart.Add(48 * time.Hour)
	sess := lcSessionOf(t, e, "demo", gone.ID, back)
	v, err := e.Visitor(ctx, gone.ID)
	if err != nil || !v.CreatedAt.Equal(back) || v.Email != "" || v.Erasing {
		t.Fatalf("visitor after coming back: %+v, %v; want a new one", v, err)
	}
	doc := lcExport(t, e, gone.ID)
	if len(doc.Sessions) != 1 || !strings.Contains(string(doc.Sessions[0]), sess.ID) {
		t.Errorf("export after coming back: %d sessions, want only the new one", len(doc.Sessions))
	}
}

// lcExportDoc is WriteExport's document.
type lcExportDoc struct {
	Format     string            `json:"format"`
	ExportedAt time.Time         `json:"exportedAt"`
	Visitor    storage.Visitor   `json:"visitor"`
	Changes    []json.RawMessage `json:"profileChanges"`
	Sessions   []json.RawMessage `json:"sessions"`
	Files      []struct {
		storage.File
		Download string `json:"download"`
	} `json:"files"`
}

// lcExport reads the visitor's export.
func lcExport(tb testing.TB, e LifecycleEngine, id string) lcExportDoc {
	tb.Helper()
	var buf bytes.Buffer
	if err := e.WriteExport(context.Background(), &buf, id, lcStart, nil); err != nil {
		tb.Fatal(err)
	}
	var doc lcExportDoc
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		tb.Fatalf("export is not JSON: %v\n%s", err, buf.String())
	}
	return doc
}

// lcTestExport: the export holds the visitor, each session with its state,
// inputs and messages, and each file with its download path, in the
// document's order of fields; nothing of anyone else; nothing at all for
// an unknown visitor.
func lcTestExport(t *testing.T, e LifecycleEngine) {
	ctx := context.Background()
	v := lcSeed(t, e, "demo", lcStart, "Ada", "ada@example.org", 2)
	lcSeed(t, e, "demo", lcStart, "Bob", "bob@example.org", 1)
	var buf bytes.Buffer
	at := lcStart.Add(48 * time.Hour)
	if err := e.WriteExport(ctx, &buf, v.ID, at, func(f *storage.File) string { return "/admin/api/files/" + f.ID }); err != nil {
		t.Fatal(err)
	}
	var doc lcExportDoc
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("export is not JSON: %v\n%s", err, buf.String())
	}
	if got, want := lcTopFields(t, buf.Bytes()), "format exportedAt visitor profileChanges sessions files"; got != want {
		t.Errorf("fields %q, want %q", got, want)
	}
	if doc.Format != storage.ExportFormat || !doc.ExportedAt.Equal(at) || doc.Visitor.ID != v.ID || doc.Visitor.Email != "ada@example.org" {
		t.Errorf("head: %q %v %+v", doc.Format, doc.ExportedAt, doc.Visitor)
	}
	if len(doc.Sessions) != 2 {
		t.Fatalf("%d sessions, want 2", len(doc.Sessions))
	}
	for i, raw := range doc.Sessions {
		var es struct {
			storage.Session
			Messages []storage.Message `json:"messages"`
		}
		if err := json.Unmarshal(raw, &es); err != nil {
			t.Fatal(err)
		}
		if es.ID != v.Sessions[i] || len(es.Messages) != es.MessageCount || len(es.Messages) != lcMessagesPer(e) || len(es.Inputs) != 3 || es.State.Variables["first_name"] != "Ada" {
			t.Errorf("session %d: id %s, %d messages (count %d), %d inputs, state %+v", i, es.ID, len(es.Messages), es.MessageCount, len(es.Inputs), es.State)
		}
		for j := 1; j < len(es.Messages); j++ {
			if es.Messages[j].ID <= es.Messages[j-1].ID {
				t.Errorf("session %d: messages out of order at %d", i, j)
			}
		}
	}
	if len(doc.Files) != len(v.Files) {
		t.Errorf("%d files, want %d", len(doc.Files), len(v.Files))
	}
	for i, f := range doc.Files {
		if f.ID != v.Files[i] || f.Download != "/admin/api/files/"+v.Files[i] || f.SHA256 == "" {
			t.Errorf("file %d: %+v", i, f)
		}
	}
	if strings.Contains(buf.String(), "bob@example.org") {
		t.Error("the export holds another visitor's data")
	}

	t.Run("WriterFails", func(t *testing.T) {
		if err := e.WriteExport(ctx, lcFailingWriter{}, v.ID, at, nil); !errors.Is(err, errLcWrite) {
			t.Errorf("export to a failing writer: %v, want its error", err)
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		var buf bytes.Buffer
		if err := e.WriteExport(ctx, &buf, storage.NewID(lcStart), at, nil); !errors.Is(err, storage.ErrNotFound) || buf.Len() != 0 {
			t.Errorf("export of an unknown visitor: %v, %d bytes written; want ErrNotFound, nothing", err, buf.Len())
		}
		if err := e.WriteExport(ctx, &buf, "", at, nil); !errors.Is(err, storage.ErrNotFound) || buf.Len() != 0 {
			t.Errorf("export of no visitor: %v, %d bytes written; want ErrNotFound, nothing", err, buf.Len())
		}
	})
}

// lcTopFields lists the names of the document's top-level fields, in order.
func lcTopFields(tb testing.TB, doc []byte) string {
	tb.Helper()
	var fields []string
	dec := json.NewDecoder(bytes.NewReader(doc))
	if _, err := dec.Token(); err != nil {
		tb.Fatal(err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			tb.Fatal(err)
		}
		fields = append(fields, fmt.Sprint(tok))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			tb.Fatal(err)
		}
	}
	return strings.Join(fields, " ")
}

// lcTestEraseConcurrentUpload: a file whose upload commits while its
// visitor is being erased must not outlive the visitor. Either the commit
// lands first, and the erase removes the file, or it fails with
// ErrNotFound; after both, nothing of the file is left.
func lcTestEraseConcurrentUpload(t *testing.T, e LifecycleEngine) {
	fe, ok := e.(FileEngine)
	if !ok {
		t.Skip("the engine keeps no files")
	}
	ctx := context.Background()
	// upload sends a file for v, and adds it to v's files once stored.
	upload := func(v *lcSeeded, at time.Time) error {
		f := &storage.File{ID: storage.NewID(at), Site: "demo", VisitorID: v.ID, SessionID: v.Sessions[0],
			Name: "late.bin", Type: "application/octet-stream", UploadedAt: at}
		err := fe.PutFile(ctx, f, strings.NewReader(strings.Repeat(f.ID, 100)))
		if err == nil {
			v.Files = append(v.Files, f.ID)
		}
		return err
	}

	t.Run("AfterTheErase", func(t *testing.T) {
		v := lcSeed(t, e, "demo", lcStart, "Ann", "ann@example.org", 1)
		files := len(v.Files)
		if _, err := e.EraseVisitor(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
		// The upload began before the erase (its session was there) and
		// commits after it.
		if err := upload(&v, lcStart.Add(time.Hour)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("upload for an erased visitor: %v, want ErrNotFound", err)
		}
		if len(v.Files) != files {
			t.Fatal("the upload for an erased visitor was stored")
		}
		lcAssertGone(t, e, v, nil)
	})

	t.Run("Racing", func(t *testing.T) {
		for round := range 10 {
			v := lcSeed(t, e, "demo", lcStart.Add(time.Duration(round)*time.Minute), "Bo", "bo@example.org", 1)
			var wg sync.WaitGroup
			wg.Go(func() {
				for i := 0; ; i++ {
					at := lcStart.Add(time.Duration(round)*time.Minute + time.Duration(i)*time.Millisecond)
					err := upload(&v, at)
					if errors.Is(err, storage.ErrNotFound) {
						return
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
			time.Sleep(time.Duration(round%5) * time.Millisecond)
			if _, err := e.EraseVisitor(ctx, v.ID); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			// Every file stored, its chunks too, went with the visitor.
			lcAssertGone(t, e, v, nil)
		}
		lcAssertSound(t, e)
	})
}

// errLcWrite is what lcFailingWriter fails with.
var errLcWrite = errors.New("the disk is full")

// lcFailingWriter fails every write: a client that went away.
type lcFailingWriter struct{}

func (lcFailingWriter) Write([]byte) (int, error) { return 0, errLcWrite }
