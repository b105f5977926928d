package storage

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"
)

// ErrBadBackup is returned for a file that is not a Parley backup, or one
// that is cut short or altered.
var ErrBadBackup = errors.New("storage: not a complete Parley backup")

// A backup file is a magic line, a JSON header line, Badger's backup
// stream (DB.Backup's format) cut into length-prefixed frames ended by an
// empty frame, and a JSON trailer line holding the stream's size and
// SHA-256. The trailer proves the file complete: a backup cut short by a
// crash, a full disk or a dropped connection is refused at restore, never
// half-loaded.
const backupMagic = "PARLEY-BACKUP 1\n"

// maxFrame bounds a frame a reader accepts (the writer cuts at 64 KiB;
// one Badger record may be bigger).
const maxFrame = 256 << 20

// BackupHeader opens a backup.
type BackupHeader struct {
	// Since is the store version the backup follows: it holds what was
	// written after it. 0 for a full backup, else the Version of the
	// backup before.
	Since     uint64    `json:"since"`
	CreatedAt time.Time `json:"createdAt"`
	// Files are small files of the data directory that belong with the
	// store (the visitor-token key), by name.
	Files map[string][]byte `json:"files,omitempty"`
}

// BackupTrailer closes a backup.
type BackupTrailer struct {
	// Version is the newest store version in the backup: the Since of
	// the next incremental backup.
	Version uint64 `json:"version"`
	Bytes   int64  `json:"bytes"`  // of the Badger stream
	SHA256  string `json:"sha256"` // of the Badger stream, hex
}

// BackupInfo describes a whole backup.
type BackupInfo struct {
	BackupHeader
	BackupTrailer
}

// Backup writes a consistent snapshot of the store to w, or with h.Since
// set only what changed after that version (deletions included), while
// the store keeps serving. It returns the backup's header and trailer; the
// trailer's Version is the Since of the next incremental backup.
func (s *Store) Backup(w io.Writer, h BackupHeader) (BackupInfo, error) {
	// Fold committed turns first, so the answer is exact (indexer.go).
	if err := s.settle(context.Background()); err != nil {
		return BackupInfo{}, err
	}
	info := BackupInfo{BackupHeader: h}
	bw := bufio.NewWriterSize(w, 64<<10)
	hb, err := json.Marshal(h)
	if err != nil {
		return info, fmt.Errorf("storage: backup: %w", err)
	}
	if _, err := bw.WriteString(backupMagic); err != nil {
		return info, fmt.Errorf("storage: backup: %w", err)
	}
	if _, err := bw.Write(append(hb, '\n')); err != nil {
		return info, fmt.Errorf("storage: backup: %w", err)
	}
	fw := &frameWriter{w: bw, h: sha256.New()}
	stream := s.db.NewStream()
	stream.LogPrefix = "parley backup"
	stream.SinceTs = h.Since
	// One goroutine reads with one transaction: one read timestamp, so the
	// backup is one snapshot (Badger gives each goroutine its own).
	stream.NumGo = 1
	maxVersion, err := stream.Backup(fw, h.Since)
	if err != nil {
		return info, fmt.Errorf("storage: backup: %w", err)
	}
	// Badger's stream takes the versions after SinceTs (not from it, as
	// DB.Backup's comment says), so the next backup starts at the newest
	// version this one holds.
	info.Version = max(h.Since, maxVersion)
	info.Bytes, info.SHA256 = fw.n, hex.EncodeToString(fw.h.Sum(nil))
	tb, err := json.Marshal(info.BackupTrailer)
	if err != nil {
		return info, fmt.Errorf("storage: backup: %w", err)
	}
	if err := fw.close(); err != nil {
		return info, fmt.Errorf("storage: backup: %w", err)
	}
	if _, err := bw.Write(append(tb, '\n')); err != nil {
		return info, fmt.Errorf("storage: backup: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return info, fmt.Errorf("storage: backup: %w", err)
	}
	return info, nil
}

// frameWriter cuts what it is given into frames, hashing it.
type frameWriter struct {
	w *bufio.Writer
	h hash.Hash
	n int64
}

func (f *frameWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), 64<<10)]
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(len(chunk)))
		if _, err := f.w.Write(hdr[:]); err != nil {
			return written, err
		}
		if _, err := f.w.Write(chunk); err != nil {
			return written, err
		}
		f.h.Write(chunk)
		f.n += int64(len(chunk))
		written += len(chunk)
		p = p[len(chunk):]
	}
	return written, nil
}

// close writes the empty frame that ends the stream.
func (f *frameWriter) close() error {
	_, err := f.w.Write([]byte{0, 0, 0, 0})
	return err
}

// BackupReader reads a backup: its header at once, then the Badger stream
// through Read, which returns io.EOF only once the trailer is read and
// matches the stream (else an error wrapping ErrBadBackup).
type BackupReader struct {
	r       *bufio.Reader
	header  BackupHeader
	trailer BackupTrailer
	h       hash.Hash
	n       int64
	left    int // bytes left in the current frame
	done    bool
	err     error
}

// NewBackupReader reads the header of the backup in r. It returns an error
// wrapping ErrBadBackup if r does not start like a Parley backup.
func NewBackupReader(r io.Reader) (*BackupReader, error) {
	br := &BackupReader{r: bufio.NewReaderSize(r, 64<<10), h: sha256.New()}
	magic := make([]byte, len(backupMagic))
	if _, err := io.ReadFull(br.r, magic); err != nil || string(magic) != backupMagic {
		return nil, fmt.Errorf("%w: no Parley backup header", ErrBadBackup)
	}
	line, err := br.r.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrBadBackup, err)
	}
	if err := json.Unmarshal(line, &br.header); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrBadBackup, err)
	}
	return br, nil
}

// Header returns the backup's header.
func (b *BackupReader) Header() BackupHeader { return b.header }

// Trailer returns the backup's trailer once Read has returned io.EOF.
func (b *BackupReader) Trailer() BackupTrailer { return b.trailer }

// Read reads the Badger stream.
func (b *BackupReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.done {
		return 0, io.EOF
	}
	for b.left == 0 {
		var hdr [4]byte
		if _, err := io.ReadFull(b.r, hdr[:]); err != nil {
			return 0, b.fail("cut short in the data")
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 {
			return 0, b.finish()
		}
		if n > maxFrame {
			return 0, b.fail("bad frame")
		}
		b.left = int(n)
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.h.Write(p[:n])
	b.n += int64(n)
	b.left -= n
	if err != nil && n == 0 {
		return 0, b.fail("cut short in the data")
	}
	return n, nil
}

// finish reads and checks the trailer.
func (b *BackupReader) finish() error {
	line, err := b.r.ReadBytes('\n')
	if err != nil {
		return b.fail("no trailer: the backup is cut short")
	}
	if err := json.Unmarshal(line, &b.trailer); err != nil {
		return b.fail("bad trailer")
	}
	if b.trailer.Bytes != b.n || b.trailer.SHA256 != hex.EncodeToString(b.h.Sum(nil)) {
		return b.fail("the data does not match its checksum")
	}
	if _, err := b.r.ReadByte(); err != io.EOF {
		return b.fail("data after the trailer")
	}
	b.done = true
	return io.EOF
}

func (b *BackupReader) fail(msg string) error {
	b.err = fmt.Errorf("%w: %s", ErrBadBackup, msg)
	return b.err
}

// VerifyBackup reads a whole backup and checks it is complete and intact,
// without loading it anywhere.
func VerifyBackup(r io.Reader) (BackupInfo, error) {
	br, err := NewBackupReader(r)
	if err != nil {
		return BackupInfo{}, err
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return BackupInfo{BackupHeader: br.header}, err
	}
	return BackupInfo{BackupHeader: br.header, BackupTrailer: br.trailer}, nil
}

// LoadBackup loads a backup into the store: a full one into an empty
// store, then the incremental ones that follow it, in order. Nothing else
// may use the store meanwhile. A backup that turns out cut short or
// altered fails with ErrBadBackup after loading part of it: verify files
// with VerifyBackup first.
func (s *Store) LoadBackup(br *BackupReader) error {
	if err := s.db.Load(br, 256); err != nil {
		return fmt.Errorf("storage: load backup: %w", err)
	}
	// A backup of a live store holds the turns not yet folded then, and
	// the sessions not yet counted.
	if s.commits != nil {
		if _, err := s.recoverTurns(context.Background()); err != nil {
			return fmt.Errorf("storage: load backup: %w", err)
		}
		if err := s.recoverStarts(); err != nil {
			return fmt.Errorf("storage: load backup: %w", err)
		}
	}
	return nil
}
