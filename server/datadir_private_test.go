package server_test

import (
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/parley-chat/parley/fileupload"
	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/storage/storagetest"
	"github.com/parley-chat/parley/widget"
)

// ddServe starts Parley on data, has a visitor talk and upload a file,
// and stops it. It returns what storagetest.NotPrivate found while Parley served.
func ddServe(t *testing.T, data string) (serving []string) {
	t.Helper()
	free := server.DemoSite()
	free.ID, free.FreeUploads = "free", true
	s, err := server.Open(server.Config{DataDir: data, Sites: []*widget.Site{server.DemoSite(), free}, UploadLimits: fileupload.Limits{}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	e := &env{tb: t, s: s, srv: ts}
	v := e.visitor("free")
	if a := v.upload(filePart("a.png", "image/png", samplePNG(t, 300, 300))); a.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s", a.Status, a.Code)
	}
	serving, _ = storagetest.NotPrivate(t, data)
	v.CloseNow()
	ts.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return serving
}

func TestDataDir_Private(t *testing.T) {
	// A data directory made by someone else with 0755: after a start and
	// some writes every file inside (the store's, visitor.key,
	// admin.token) is 0600 and every directory 0700; the directory
	// itself keeps its mode.
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(data, 0o755)
	if wrong := ddServe(t, data); len(wrong) > 0 {
		t.Errorf("while serving, not private: %v", wrong)
	}
	wrong, files := storagetest.NotPrivate(t, data)
	if len(wrong) > 0 || files < 6 {
		t.Errorf("%d files; not private: %v", files, wrong)
	}
	for _, name := range []string{"visitor.key", "admin.token", "MANIFEST"} {
		if _, err := os.Stat(filepath.Join(data, name)); err != nil {
			t.Error(err)
		}
	}
	if info, _ := os.Stat(data); info.Mode().Perm() != 0o755 {
		t.Errorf("the data directory itself: %v", info.Mode().Perm())
	}

	t.Run("LeftReadable", func(t *testing.T) {
		// The store's files an older Parley or a copy by hand left
		// readable to others are made private at the next start; files
		// Parley did not write are not its to change.
		filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
			if p != data && !d.IsDir() {
				os.Chmod(p, 0o644)
			}
			return err
		})
		os.WriteFile(filepath.Join(data, "notes.txt"), []byte("x"), 0o644)
		os.Chmod(filepath.Join(data, "notes.txt"), 0o644)
		want := fmt.Sprint([]string{filepath.Join(data, "notes.txt") + " -rw-r--r--"})
		if wrong := ddServe(t, data); fmt.Sprint(wrong) != want {
			t.Errorf("while serving, not private: %v, want only the foreign %v", wrong, want)
		}
		if wrong, _ := storagetest.NotPrivate(t, data); fmt.Sprint(wrong) != want {
			t.Errorf("not private: %v, want only the foreign %v", wrong, want)
		}
	})
}
