package server

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/parley-chat/parley/storage"
)

// A Parley data directory is one Parley has written: it holds Parley's
// own visitor.key or admin.token, or it holds Badger's MANIFEST and
// nothing but the files of Badger and Parley (a store made by `parley
// seed`). Stores made by any Parley version are such directories. The
// commands that read a stopped store (check, backup --data) refuse any
// other directory, so they never take a website's folder for a store,
// and restore --force refuses it too; in a Parley data directory it
// removes only the files of Badger and Parley, never another file.

// parleyFiles are the files Parley itself keeps in a data directory.
var parleyFiles = map[string]bool{"visitor.key": true, "admin.token": true}

// badgerFiles are the fixed names of Badger's files; its tables, value
// logs and memtables are numbered (badgerNumbered).
var badgerFiles = map[string]bool{
	"MANIFEST": true, "MANIFEST-REWRITE": true, "KEYREGISTRY": true,
	"REWRITE-KEYREGISTRY": true, "DISCARD": true, "LOCK": true,
}

var badgerNumbered = regexp.MustCompile(`^[0-9]+\.(sst|vlog|mem)$`)

// isStoreFile reports whether name is a file Badger or Parley writes in
// a data directory (the write check's temporary file too, which a crash
// may leave).
func isStoreFile(name string) bool {
	return parleyFiles[name] || badgerFiles[name] || badgerNumbered.MatchString(name) ||
		strings.HasPrefix(name, ".parley-write-check-")
}

// dataDir is what a directory holds, sorted into the store's files and
// the rest.
type dataDir struct {
	path    string
	store   []string // Badger's and Parley's files
	foreign []string // anything else
	exists  bool
}

// readDataDir lists dir; a missing directory is no error (exists false).
func readDataDir(dir string) (dataDir, error) {
	d := dataDir{path: dir}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return d, fmt.Errorf("--data: %w", err)
	}
	d.exists = true
	for _, e := range entries {
		switch {
		case e.Name() == "lost+found": // a mount point's, never ours to judge
		case e.Type().IsRegular() && isStoreFile(e.Name()):
			d.store = append(d.store, e.Name())
		default:
			d.foreign = append(d.foreign, e.Name())
		}
	}
	return d, nil
}

// empty reports whether the directory is missing or holds nothing.
func (d dataDir) empty() bool { return len(d.store) == 0 && len(d.foreign) == 0 }

// parley reports whether d is a Parley data directory.
func (d dataDir) parley() bool {
	return d.has("visitor.key") || d.has("admin.token") || d.has("MANIFEST") && len(d.foreign) == 0
}

// requireStore returns an error unless d is a Parley data directory with
// a store in it.
func (d dataDir) requireStore() error {
	switch {
	case !d.exists:
		return fmt.Errorf("--data %s: no such directory", d.path)
	case !d.parley() && len(d.foreign) > 0:
		return fmt.Errorf("%s is not a Parley data directory: it holds %s, which Parley did not write, and no visitor.key or admin.token",
			d.path, listNames(d.foreign))
	case !d.has("MANIFEST"):
		return fmt.Errorf("%s is not a Parley data directory: it holds no store (no MANIFEST)", d.path)
	}
	return nil
}

func (d dataDir) has(name string) bool {
	for _, n := range d.store {
		if n == name {
			return true
		}
	}
	return false
}

// listNames quotes up to five names for a message.
func listNames(names []string) string {
	q := make([]string, 0, 6)
	for i, n := range names {
		if i == 5 {
			q = append(q, fmt.Sprintf("and %d more", len(names)-5))
			break
		}
		q = append(q, fmt.Sprintf("%q", n))
	}
	return strings.Join(q, ", ")
}

// errHeld is openReadOnly's error for a store a running Parley holds.
var errHeld = errors.New("a running Parley holds the data directory")

// openReadOnly opens the store of the Parley data directory dir without
// writing to it. A store a crash left unclean cannot be read in place
// (Badger must first replay its log, which writes), so it is copied into
// a temporary directory under scratch and that copy is opened; note says
// so. close closes the store and removes any copy.
func openReadOnly(dir, scratch string, note io.Writer) (store *storage.Store, close func(), err error) {
	d, err := readDataDir(dir)
	if err != nil {
		return nil, nil, err
	}
	if err := d.requireStore(); err != nil {
		return nil, nil, err
	}
	store, err = storage.Open(dir, storage.Options{ReadOnly: true})
	switch {
	case err == nil:
		return store, func() { store.Close() }, nil
	case isLockError(err):
		return nil, nil, fmt.Errorf("%w (%s): stop it first", errHeld, dir)
	case !errors.Is(err, storage.ErrUnclean):
		return nil, nil, explainOpenError(dir, err)
	}
	tmp, err := os.MkdirTemp(scratch, "parley-check-*")
	if err != nil {
		return nil, nil, fmt.Errorf("%s was not closed cleanly and a copy to read cannot be made: %w", dir, err)
	}
	fmt.Fprintf(note, "%s was not closed cleanly (a crash or a kill): checking a copy in %s, where its log is replayed; %s itself is left as it is (the next start replays it)\n", dir, tmp, dir)
	if err := copyStoreFiles(dir, tmp, d.store); err != nil {
		os.RemoveAll(tmp)
		return nil, nil, fmt.Errorf("copy %s to %s: %w", dir, tmp, err)
	}
	if store, err = storage.Open(tmp, storage.Options{}); err != nil {
		os.RemoveAll(tmp)
		return nil, nil, explainOpenError(dir, err)
	}
	return store, func() { store.Close(); os.RemoveAll(tmp) }, nil
}

// copyStoreFiles copies the named files of src into dst, leaving out the
// lock a crash left behind.
func copyStoreFiles(src, dst string, names []string) error {
	for _, n := range names {
		if n == "LOCK" {
			continue
		}
		if err := copyFile(filepath.Join(src, n), filepath.Join(dst, n)); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// makePrivate takes every permission of group and others off the store's
// files in the data directory (isStoreFile): what an older Parley or a
// copy left readable to other users. The directory itself keeps the mode
// its owner gave it, and files Parley did not write stay as they are. New
// files are private already (the store's umask, storage.Open; the key and
// token are written 0600).
func makePrivate(dir string) error {
	d, err := readDataDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range d.store {
		p := filepath.Join(dir, name)
		info, err := os.Lstat(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			if err := os.Chmod(p, perm&^0o077); err != nil {
				errs = append(errs, fmt.Errorf("make %s private: %w", p, err))
			}
		}
	}
	return errors.Join(errs...)
}
