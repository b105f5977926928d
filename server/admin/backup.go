package admin

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/parley-chat/parley/storage"
)

// backupFiles are the files of the data directory a backup carries beside
// the store: the key that signs visitor tokens, so visitors keep their
// identity across a restore. The admin token is not carried: a restored
// server makes a new one (or takes PARLEY_ADMIN_TOKEN).
var backupFiles = []string{"visitor.key"}

// serveBackup answers GET /admin/api/backup?since=N with a backup of the
// store taken while it serves (storage.Store.Backup): a full one, or with
// since the changes after that version. The backup ends with a trailer
// that proves it whole; if it fails half-way the answer is cut, and
// `parley backup` refuses the partial file. The header Parley-Backup-Since
// echoes since; the new version is in the trailer.
func (a *Admin) serveBackup(w http.ResponseWriter, r *http.Request) {
	b, ok := a.store.(Backuper)
	if !ok {
		a.errs.Error(w, r, http.StatusNotImplemented, "not_supported", "this Parley keeps its records in PostgreSQL: back them up with PostgreSQL's own tools (pg_dump, or the server's replication), as the README's Backup section says")
		return
	}
	var since uint64
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			a.errs.Error(w, r, http.StatusBadRequest, "invalid_parameter", "since must be a backup version (a whole number)")
			return
		}
		since = n
	}
	files, err := ReadBackupFiles(a.dataDir)
	if err != nil {
		a.errs.Internal(w, r, fmt.Errorf("admin: backup: %w", err), "the data directory's files could not be read")
		return
	}
	now := a.now().UTC()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="parley-%s.backup"`, now.Format("20060102T150405Z")))
	h.Set("Parley-Backup-Since", strconv.FormatUint(since, 10))
	info, err := b.Backup(w, storage.BackupHeader{Since: since, CreatedAt: now, Files: files})
	if err != nil {
		a.log.Error("backup failed", "since", since, "err", err)
		panic(http.ErrAbortHandler)
	}
	a.log.Info("backup", "since", since, "version", info.Version, "bytes", info.Bytes)
}

// ReadBackupFiles reads the files of the data directory dir that a backup
// carries beside the store (the offline `parley backup` reads them too).
func ReadBackupFiles(dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, name := range backupFiles {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		files[name] = b
	}
	return files, nil
}

// WriteBackupFiles writes the files a backup carried into dir (`parley
// restore`), only those of backupFiles, mode 0600.
func WriteBackupFiles(dir string, files map[string][]byte) ([]string, error) {
	var wrote []string
	for _, name := range backupFiles {
		b, ok := files[name]
		if !ok {
			continue
		}
		if strings.ContainsAny(name, `/\`) {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return wrote, err
		}
		wrote = append(wrote, name)
	}
	return wrote, nil
}
