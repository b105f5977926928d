package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parley-chat/parley/server/admin"
	"github.com/parley-chat/parley/server/respond"
	"github.com/parley-chat/parley/storage"
)

func init() {
	commands["backup"] = command{"write a backup of the store, online while Parley serves", runBackup}
	commands["restore"] = command{"load backups into an empty data directory", runRestore}
}

// runBackup is `parley backup --out FILE [--since N] (--url URL | --data DIR)`.
//
// With --url it asks the running server (GET /admin/api/backup) with the
// admin token from PARLEY_ADMIN_TOKEN or --token-file: Badger admits one
// process per directory, so a serving store is backed up by its server.
// With --data it opens a store no server is using. Either way the backup
// is checked whole (trailer and checksum) as it is written to FILE.partial,
// which only then becomes FILE; the new version, to pass as --since to the
// next incremental backup, is printed on stdout.
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("backup", stderr)
	out := fs.String("out", "", "backup file to write (required; - for stdout)")
	since := fs.Uint64("since", 0, "write only what changed after this version (printed by the previous backup); 0 for a full backup")
	rawURL := fs.String("url", getenv("PARLEY_BACKUP_URL"), "base URL of the running Parley, e.g. http://127.0.0.1:8080 (PARLEY_BACKUP_URL)")
	tokenFile := fs.String("token-file", filepath.Join(envOr(getenv, "PARLEY_DATA", "./parley-data"), "admin.token"),
		"file holding the admin token, used with --url when PARLEY_ADMIN_TOKEN is not set")
	dataDir := fs.String("data", "", "data directory of a stopped Parley, to back up without a server")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case *out == "":
		return errors.New("--out FILE is required")
	case *rawURL != "" && *dataDir != "":
		return errors.New("give --url (Parley running) or --data (Parley stopped), not both")
	case *rawURL == "" && *dataDir == "":
		return errors.New("say what to back up: --url http://HOST:PORT of the running Parley, or --data DIR of a stopped one")
	}
	w, err := newBackupFile(*out, stdout)
	if err != nil {
		return err
	}
	defer w.abort()
	var info storage.BackupInfo
	if *rawURL != "" {
		info, err = backupOnline(ctx, *rawURL, *since, getenv, *tokenFile, w)
	} else {
		info, err = backupOffline(*dataDir, *since, w, stderr)
	}
	if err != nil {
		return err
	}
	if err := w.commit(); err != nil {
		return err
	}
	kind := "full"
	if info.Since > 0 {
		kind = fmt.Sprintf("incremental after version %d", info.Since)
	}
	fmt.Fprintf(stderr, "parley backup: wrote %s (%s, %d bytes of data); next incremental: --since %d\n", *out, kind, info.Bytes, info.Version)
	if *out != "-" {
		fmt.Fprintln(stdout, info.Version)
	}
	return nil
}

// backupOnline streams a backup from the running server into w, checking
// it whole on the way.
func backupOnline(ctx context.Context, rawURL string, since uint64, getenv func(string) string, tokenFile string, w io.Writer) (storage.BackupInfo, error) {
	base, err := url.Parse(strings.TrimRight(rawURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return storage.BackupInfo{}, fmt.Errorf("--url %q: want http://HOST:PORT", rawURL)
	}
	token := getenv("PARLEY_ADMIN_TOKEN")
	if token == "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return storage.BackupInfo{}, fmt.Errorf("admin token: set PARLEY_ADMIN_TOKEN or pass --token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	u := base.String() + "/admin/api/backup?since=" + strconv.FormatUint(since, 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return storage.BackupInfo{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return storage.BackupInfo{}, fmt.Errorf("is Parley running at %s? %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e respond.Error
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if json.Unmarshal(body, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(body))
		}
		return storage.BackupInfo{}, fmt.Errorf("%s answered %s: %s", base, resp.Status, e.Message)
	}
	info, err := storage.VerifyBackup(io.TeeReader(resp.Body, w))
	if err != nil {
		return info, fmt.Errorf("the backup from %s is incomplete (the server may have failed or stopped; see its log): %w", base, err)
	}
	return info, nil
}

// backupOffline writes a backup of the store in dir, which no server may
// be using, reading it without writing to it (openReadOnly); a note on a
// store that was not closed cleanly goes to note.
func backupOffline(dir string, since uint64, w io.Writer, note io.Writer) (storage.BackupInfo, error) {
	store, closeStore, err := openReadOnly(dir, os.TempDir(), note) // datadir.go
	if errors.Is(err, errHeld) {
		return storage.BackupInfo{}, fmt.Errorf("a running Parley holds %s: back it up through the server with --url http://HOST:PORT (the admin token is in %s)",
			dir, filepath.Join(dir, "admin.token"))
	}
	if err != nil {
		return storage.BackupInfo{}, err
	}
	defer closeStore()
	files, err := admin.ReadBackupFiles(dir)
	if err != nil {
		return storage.BackupInfo{}, err
	}
	return store.Backup(w, storage.BackupHeader{Since: since, CreatedAt: time.Now().UTC(), Files: files})
}

// backupFile writes a backup to path.partial and renames it to path once
// it is whole and synced; "-" writes to stdout instead.
type backupFile struct {
	path string
	f    *os.File
	w    io.Writer
	done bool
}

func newBackupFile(path string, stdout io.Writer) (*backupFile, error) {
	if path == "-" {
		return &backupFile{path: path, w: stdout}, nil
	}
	f, err := os.OpenFile(path+".partial", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	return &backupFile{path: path, f: f, w: f}, nil
}

func (b *backupFile) Write(p []byte) (int, error) { return b.w.Write(p) }

// commit makes the written backup the file at path.
func (b *backupFile) commit() error {
	if b.f == nil {
		b.done = true
		return nil
	}
	if err := b.f.Sync(); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := b.f.Close(); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := os.Rename(b.f.Name(), b.path); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	b.done = true
	return nil
}

// abort removes a backup that did not commit.
func (b *backupFile) abort() {
	if b.done || b.f == nil {
		return
	}
	b.f.Close()
	os.Remove(b.f.Name())
}

// inFlags collects repeated --in flags.
type inFlags []string

func (f *inFlags) String() string     { return strings.Join(*f, ",") }
func (f *inFlags) Set(v string) error { *f = append(*f, v); return nil }

// runRestore is `parley restore --in FILE [--in FILE...] --data DIR [--force]`:
// it loads a full backup and the incremental ones that follow it, in
// order, into DIR. Every file is checked whole before anything is written.
// DIR must be empty or missing, unless --force, which replaces a Parley
// data directory's contents (never one a running Parley holds).
func runRestore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("restore", stderr)
	var ins inFlags
	fs.Var(&ins, "in", "backup file to load; repeat for a full backup followed by its incremental ones, in order")
	dir := fs.String("data", "", "data directory to restore into (required; empty or missing unless --force)")
	force := fs.Bool("force", false, "replace the contents of a non-empty Parley data directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case len(ins) == 0:
		return errors.New("--in FILE is required")
	case *dir == "":
		return errors.New("--data DIR is required")
	}
	// Check every backup and the chain before touching DIR.
	var last storage.BackupInfo
	for i, in := range ins {
		info, err := verifyBackupFile(in)
		if err != nil {
			return err
		}
		switch {
		case i == 0 && info.Since != 0:
			return fmt.Errorf("%s is an incremental backup (after version %d): restore its full backup first, then this one: --in FULL --in %s", in, info.Since, in)
		case i > 0 && info.Since > last.Version:
			return fmt.Errorf("%s follows version %d, but the backups before it end at version %d: an incremental backup is missing in between", in, info.Since, last.Version)
		}
		last = info
	}
	if err := prepareRestoreDir(*dir, *force, stderr); err != nil {
		return err
	}
	store, err := storage.Open(*dir, storage.Options{})
	if err != nil {
		return explainOpenError(*dir, err)
	}
	files := map[string][]byte{}
	for _, in := range ins {
		if err := loadBackupFile(store, in, files); err != nil {
			store.Close()
			return fmt.Errorf("%w\n%s now holds part of the backups: empty it before trying again", err, *dir)
		}
	}
	if err := store.Close(); err != nil {
		return err
	}
	wrote, err := admin.WriteBackupFiles(*dir, files)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "parley restore: loaded %d backup(s) up to version %d into %s", len(ins), last.Version, *dir)
	if len(wrote) > 0 {
		fmt.Fprintf(stdout, ", with %s", strings.Join(wrote, ", "))
	}
	// The sites config is not in a backup; without it only the demo site
	// would serve.
	config := getenv("PARLEY_CONFIG")
	if config == "" {
		config = "SITES.json"
	}
	fmt.Fprintf(stdout, "\nstart it with: parley serve --data %s --config %s (the sites file the backed-up Parley served; a new admin token is made unless PARLEY_ADMIN_TOKEN is set)\n", *dir, config)
	return nil
}

func verifyBackupFile(path string) (storage.BackupInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return storage.BackupInfo{}, fmt.Errorf("--in: %w", err)
	}
	defer f.Close()
	info, err := storage.VerifyBackup(f)
	if err != nil {
		return info, fmt.Errorf("%s: %w", path, err)
	}
	return info, nil
}

func loadBackupFile(store *storage.Store, path string, files map[string][]byte) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--in: %w", err)
	}
	defer f.Close()
	br, err := storage.NewBackupReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for name, b := range br.Header().Files {
		files[name] = b
	}
	if err := store.LoadBackup(br); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// prepareRestoreDir makes dir ready for a restore: created if missing,
// accepted if empty; with force, a Parley data directory that no process
// holds is emptied of the files of Badger and Parley, and any other file
// in it is kept and named on note. A directory that is not a Parley data
// directory is refused, force or not.
func prepareRestoreDir(dir string, force bool, note io.Writer) error {
	d, err := readDataDir(dir) // datadir.go
	if err != nil {
		return err
	}
	switch {
	case !d.exists:
		return os.MkdirAll(dir, 0o700)
	case d.empty():
		return nil
	case !force:
		return fmt.Errorf("%s is not empty: restore into an empty or new directory, or pass --force to replace the Parley data in it", dir)
	case !d.parley():
		return fmt.Errorf("%s holds %s, which Parley did not write, and no visitor.key or admin.token: it is not a Parley data directory, so --force will not touch it; restore into an empty or new directory",
			dir, listNames(d.foreign))
	}
	// Badger's directory lock tells whether a Parley holds it.
	if s, err := storage.Open(dir, storage.Options{ReadOnly: true}); err == nil {
		s.Close()
	} else if isLockError(err) {
		return fmt.Errorf("%s is in use by a running Parley: stop it before restoring into it", dir)
	}
	for _, n := range d.store {
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--force: emptying %s: %w", dir, err)
		}
	}
	if len(d.foreign) > 0 {
		fmt.Fprintf(note, "parley restore: kept %s in %s: not Parley's files\n", listNames(d.foreign), dir)
	}
	return nil
}

// isLockError reports whether opening a store failed on the directory
// lock another process holds.
func isLockError(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Cannot acquire directory lock") || strings.Contains(msg, "resource temporarily unavailable")
}
