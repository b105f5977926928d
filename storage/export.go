package storage

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// ExportFormat names the layout of WriteExport's document.
const ExportFormat = "parley-visitor-export/1"

// ExportSession is a session in an export: the record (state, variables,
// inputs, files) with its messages, oldest first.
type ExportSession struct {
	*Session
	Messages []Message `json:"messages"`
	// Conversation and Notes are what the inbox kept of it (inbox.go):
	// agents' notes on a person are data about them too.
	Conversation *Conversation `json:"conversation,omitempty"`
	Notes        []Note        `json:"notes,omitempty"`
}

// ExportFile is a file in an export: its record and the path an admin
// downloads it from.
type ExportFile struct {
	*File
	Download string `json:"download,omitempty"`
}

// WriteExport writes everything recorded of the visitor as one JSON
// document to w: the format, the time of the export, the visitor record,
// every session with its state and messages, and every file's record with
// its download path (download(file), nil for none). It reads one
// snapshot of the store, session by session, so its memory does not grow
// with the visitor's history. It returns ErrNotFound, having written
// nothing, for an unknown visitor.
func (s *Store) WriteExport(ctx context.Context, w io.Writer, visitorID string, at time.Time, download func(f *File) string) error {
	// Fold committed turns first, so the answer is exact (indexer.go).
	if err := s.settle(ctx); err != nil {
		return err
	}
	err := s.db.View(func(txn *badger.Txn) error {
		var v Visitor
		if err := getJSON(txn, key("v", visitorID), &v); err != nil {
			return err
		}
		changes, err := profileChangesIn(txn, visitorID, 0) // profile.go
		if err != nil {
			return err
		}
		slices.Reverse(changes) // oldest first, as the sessions
		doc := NewExportDoc(w, at, &v, changes)
		sids, err := suffixesIn(txn, key("vs", visitorID, ""))
		if err != nil {
			return err
		}
		for _, sid := range sids {
			if err := ctx.Err(); err != nil {
				return err
			}
			var sess Session
			switch err := getJSON(txn, key("s", sid), &sess); {
			case errors.Is(err, ErrNotFound):
				continue // erased meanwhile
			case err != nil:
				return err
			}
			if err := loadHostVariables(txn, &sess); err != nil {
				return err
			}
			msgs, err := messagesIn(txn, sid)
			if err != nil {
				return err
			}
			conv, notes, err := inboxIn(ctx, txn, sid) // inbox.go
			if err != nil {
				return err
			}
			doc.Session(ExportSession{Session: &sess, Messages: msgs, Conversation: conv, Notes: notes})
		}
		files, err := visitorFiles(txn, visitorID)
		if err != nil {
			return err
		}
		return doc.Close(files, download)
	})
	if err != nil {
		return fmt.Errorf("storage: export visitor %s: %w", visitorID, err)
	}
	return nil
}

// ExportDoc writes WriteExport's document piece by piece, so every engine
// writes the same bytes: NewExportDoc writes the head, Session each
// session, Close the files and the end. It keeps the first write error
// and returns it from Close.
type ExportDoc struct {
	ew exportWriter
}

// NewExportDoc begins the export of v at the time at, with the visitor's
// profile changes (oldest first), on w.
func NewExportDoc(w io.Writer, at time.Time, v *Visitor, changes []ProfileChange) *ExportDoc {
	d := &ExportDoc{ew: exportWriter{w: bufio.NewWriterSize(w, 32<<10)}}
	ew := &d.ew
	ew.raw("{\n")
	ew.field("format", ExportFormat, true)
	ew.field("exportedAt", at.UTC(), true)
	ew.field("visitor", v, true)
	ew.field("profileChanges", changes, true)
	ew.raw(`  "sessions": [`)
	return d
}

// Session writes the next session, its messages oldest first.
func (d *ExportDoc) Session(es ExportSession) { d.ew.item(es) }

// Close writes the visitor's files, each with its download path
// (download(f), nil for none), ends the document and flushes it.
func (d *ExportDoc) Close(files []*File, download func(f *File) string) error {
	ew := &d.ew
	ew.end("],\n")
	ew.raw(`  "files": [`)
	for _, f := range files {
		ef := ExportFile{File: f}
		if download != nil {
			ef.Download = download(f)
		}
		ew.item(ef)
	}
	ew.end("]\n}\n")
	return ew.flush()
}

// exportWriter writes an indented JSON document piece by piece, keeping
// the first error.
type exportWriter struct {
	w   *bufio.Writer
	err error
	n   int // items written in the current list
}

func (e *exportWriter) raw(s string) {
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

func (e *exportWriter) json(prefix string, v any) {
	if e.err != nil {
		return
	}
	b, err := json.MarshalIndent(v, prefix, "  ")
	if err != nil {
		e.err = err
		return
	}
	_, e.err = e.w.Write(b)
}

func (e *exportWriter) field(name string, v any, comma bool) {
	e.raw(`  "` + name + `": `)
	e.json("  ", v)
	if comma {
		e.raw(",")
	}
	e.raw("\n")
}

// item writes the next element of the current list.
func (e *exportWriter) item(v any) {
	if e.n > 0 {
		e.raw(",")
	}
	e.raw("\n    ")
	e.json("    ", v)
	e.n++
}

// end closes the current list with closing.
func (e *exportWriter) end(closing string) {
	if e.n > 0 {
		e.raw("\n  ")
	}
	e.raw(closing)
	e.n = 0
}

func (e *exportWriter) flush() error {
	if e.err != nil {
		return e.err
	}
	return e.w.Flush()
}

// suffixesIn returns what follows prefix in each key under it.
func suffixesIn(txn *badger.Txn, prefix []byte) ([]string, error) {
	var out []string
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		out = append(out, string(it.Item().Key()[len(prefix):]))
	}
	return out, nil
}

// messagesIn returns the session's messages, oldest first.
func messagesIn(txn *badger.Txn, sid string) ([]Message, error) {
	msgs := []Message{}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: key("m", sid, ""), PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		var m Message
		if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &m) }); err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}
