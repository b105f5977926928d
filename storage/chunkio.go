package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
)

// This file is how a file store streams a file's bytes in chunks, whatever
// keeps the chunks (Badger's fc/ keys, PostgreSQL's file_chunks): a writer
// holds two chunks and a reader one, never the file.

// ChunkBuffers is a pool of chunk-sized buffers shared by a file store's
// uploads and readers.
type ChunkBuffers struct {
	size int
	pool sync.Pool
}

// NewChunkBuffers returns a pool of buffers of size bytes: the chunk size
// of the files written with it.
func NewChunkBuffers(size int) *ChunkBuffers {
	b := &ChunkBuffers{size: size}
	b.pool.New = func() any { buf := make([]byte, size); return &buf }
	return b
}

func (b *ChunkBuffers) get() *[]byte { return b.pool.Get().(*[]byte) }

// put returns a buffer to the pool, unless a reader of another chunk size
// grew it.
func (b *ChunkBuffers) put(buf *[]byte) {
	if cap(*buf) == b.size {
		*buf = (*buf)[:b.size]
		b.pool.Put(buf)
	}
}

// ChunkWriter starts storing b as chunk n of a file and calls done with
// the result once it is durable. b must not change until done is called.
// An error returned means nothing was started (done is not called).
type ChunkWriter func(n int, b []byte, done func(error)) error

// WriteFileChunks reads r to EOF and hands its bytes to write in chunks of
// the buffers' size, one chunk's write in flight while the next is read
// and hashed; then it fills in f's Size, SHA256, ChunkSize and Chunks.
//
// It returns r's error as it came (so callers can tell a cut connection
// from a too-large body), or ctx's or write's error wrapped. No write is
// in flight when it returns; on an error the caller deletes the chunks.
func WriteFileChunks(ctx context.Context, f *File, r io.Reader, bufs *ChunkBuffers, write ChunkWriter) error {
	// Two buffers: one is read into while the other's chunk commits.
	two := [2]*[]byte{bufs.get(), bufs.get()}
	defer bufs.put(two[0])
	defer bufs.put(two[1])
	cw := &chunkWriter{fn: write, done: make(chan error, 1)}

	h := sha256.New()
	var size int64
	for i := 0; ; i++ {
		// Chunk i-2 used this buffer; its commit ended before chunk
		// i-1's began.
		buf := *two[i%2]
		k, rerr := fill(r, buf)
		if rerr != nil && rerr != io.EOF {
			cw.wait()
			return rerr
		}
		if k > 0 {
			h.Write(buf[:k])
			size += int64(k)
			err := ctx.Err()
			if err == nil {
				err = cw.write(buf[:k])
			}
			if err != nil {
				cw.wait()
				return fmt.Errorf("storage: put file chunk: %w", err)
			}
		}
		if rerr == io.EOF {
			break
		}
	}
	if err := cw.wait(); err != nil {
		return fmt.Errorf("storage: put file chunk: %w", err)
	}
	f.Size, f.SHA256, f.ChunkSize, f.Chunks = size, hex.EncodeToString(h.Sum(nil)), bufs.size, cw.n
	return nil
}

// chunkWriter runs a file's chunk writes, one in flight while the caller
// reads and hashes the next chunk.
type chunkWriter struct {
	fn   ChunkWriter
	n    int        // chunks written
	done chan error // the result of the write in flight
	busy bool       // a write is in flight
}

// write waits for the previous write, then starts writing b as the next
// chunk. b must not change until the next write or wait returns.
func (w *chunkWriter) write(b []byte) error {
	if err := w.wait(); err != nil {
		return err
	}
	if err := w.fn(w.n, b, func(err error) { w.done <- err }); err != nil {
		return err
	}
	w.n++
	w.busy = true
	return nil
}

// wait returns the result of the write in flight, if any.
func (w *chunkWriter) wait() error {
	if !w.busy {
		return nil
	}
	w.busy = false
	return <-w.done
}

// fill reads into buf until it is full or r fails; it returns io.EOF only
// at the end of r, and r's own errors (io.ErrUnexpectedEOF included) as
// they came, unlike io.ReadFull.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// ChunkReader returns chunk n of a file, read into buf's backing array
// when it is large enough, or ErrNotFound.
type ChunkReader func(n int, buf []byte) ([]byte, error)

// OpenFileChunks returns a reader of f's bytes that seeks, loading one
// chunk at a time with read into a buffer from bufs. The caller checks
// that f exists first; a read fails with ErrNotFound if it is deleted
// meanwhile.
func OpenFileChunks(f *File, bufs *ChunkBuffers, read ChunkReader) (io.ReadSeekCloser, error) {
	if f.Chunks > 0 && f.ChunkSize <= 0 {
		return nil, fmt.Errorf("storage: open file %s: bad chunk size %d", f.ID, f.ChunkSize)
	}
	return &fileReader{bufs: bufs, read: read, f: *f, cur: -1}, nil
}

// fileReader reads a file's chunks as an io.ReadSeeker, holding one chunk.
type fileReader struct {
	bufs *ChunkBuffers
	read ChunkReader
	f    File
	off  int64
	cur  int     // index of the chunk in buf, -1 for none
	n    int     // length of that chunk
	buf  *[]byte // from bufs while open
}

func (r *fileReader) Read(p []byte) (int, error) {
	if r.off >= r.f.Size {
		return 0, io.EOF
	}
	cs := int64(r.f.ChunkSize)
	idx := int(r.off / cs)
	if idx != r.cur {
		if err := r.load(idx); err != nil {
			return 0, err
		}
	}
	n := copy(p, (*r.buf)[r.off-int64(idx)*cs:r.n])
	r.off += int64(n)
	return n, nil
}

// load reads chunk idx into the buffer and checks its length.
func (r *fileReader) load(idx int) error {
	if r.buf == nil {
		r.buf = r.bufs.get()
		if cap(*r.buf) < r.f.ChunkSize {
			b := make([]byte, r.f.ChunkSize)
			r.buf = &b
		}
	}
	want := min(int64(r.f.ChunkSize), r.f.Size-int64(idx)*int64(r.f.ChunkSize))
	b, err := r.read(idx, *r.buf)
	if err == nil && int64(len(b)) != want {
		err = fmt.Errorf("chunk %d is %d bytes, want %d", idx, len(b), want)
	}
	if err != nil {
		r.cur = -1
		return fmt.Errorf("storage: read file %s: %w", r.f.ID, err)
	}
	*r.buf, r.n = b[:cap(b)], len(b)
	r.cur = idx
	return nil
}

func (r *fileReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.f.Size
	default:
		return 0, errors.New("storage: seek: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("storage: seek: negative position")
	}
	r.off = offset
	return offset, nil
}

// Close returns the chunk buffer to the pool.
func (r *fileReader) Close() error {
	if r.buf != nil {
		r.bufs.put(r.buf)
		r.buf, r.cur = nil, -1
	}
	return nil
}
