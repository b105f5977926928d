package contract

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// FilePutter stores an upload: an engine's file store.
type FilePutter interface {
	Put(ctx context.Context, f *storage.File, r io.Reader, q storage.Quota) error
}

// IdentifyFilesEngine is what TestIdentifyFiles needs: identify and a
// visitor's files.
type IdentifyFilesEngine interface {
	IdentifyEngine
	VisitorFiles(ctx context.Context, visitorID string) ([]*storage.File, error)
}

// TestIdentifyFiles: a merge moves the browser's files to the user's
// visitor with its sessions; the user's own stay.
func TestIdentifyFiles(t *testing.T, open func(testing.TB) (IdentifyFilesEngine, FilePutter)) {
	ctx := context.Background()
	s, files := open(t)
	put := func(v ppSeeded, at time.Time) string {
		t.Helper()
		f := &storage.File{ID: storage.NewID(at), Site: "demo", VisitorID: v.ID, SessionID: v.Sessions[0],
			Name: "notes.txt", Type: "text/plain", UploadedAt: at}
		if err := files.Put(ctx, f, strings.NewReader("some notes"), storage.Quota{}); err != nil {
			t.Fatal(err)
		}
		return f.ID
	}
	home := ppSeedVisitor(t, s, "demo", ppDay, "Ada", "ada@example.org", 1)
	work := ppSeedVisitor(t, s, "demo", ppDay.Add(time.Hour), "Ada", "ada@work.example", 1)
	want := []string{put(home, ppDay.Add(time.Minute)), put(work, ppDay.Add(2*time.Hour)), put(work, ppDay.Add(3*time.Hour))}
	ppIdentifyAs(t, s, home.ID, "crm-files", ppDay.Add(4*time.Hour))
	if res := ppIdentifyAs(t, s, work.ID, "crm-files", ppDay.Add(5*time.Hour)); res.Merged != work.ID {
		t.Fatalf("merge: %+v", res)
	}
	got, err := s.VisitorFiles(ctx, home.ID)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range got {
		ids = append(ids, f.ID)
		if f.VisitorID != home.ID {
			t.Errorf("file %s still names visitor %s", f.ID, f.VisitorID)
		}
	}
	slices.Sort(ids)
	if !slices.Equal(ids, want) {
		t.Errorf("the user's files %v, want %v", ids, want)
	}
	if left, err := s.VisitorFiles(ctx, work.ID); err != nil || len(left) != 0 {
		t.Errorf("the merged browser's files: %v %v, want none", left, err)
	}
}
