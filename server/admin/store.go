package admin

import (
	"context"
	"io"
	"time"

	"github.com/parley-chat/parley/storage"
)

// Store is what the admin side reads and changes: either engine (package
// storage's Badger, package storage/postgres) serves it.
type Store interface {
	// The views.
	Sessions(ctx context.Context, q storage.SessionQuery) (*storage.Page[storage.SessionRow], error)
	Users(ctx context.Context, q storage.UserQuery) (*storage.Page[storage.UserRow], error)
	VisitorSessions(ctx context.Context, q storage.VisitorSessionQuery) (*storage.Page[*storage.Session], error)
	Visitor(ctx context.Context, id string) (*storage.Visitor, error)
	Session(ctx context.Context, id string) (*storage.Session, error)
	Transcript(ctx context.Context, id string) (*storage.Session, []storage.Message, error)
	LatestMessages(ctx context.Context, sessionID string, n int) ([]storage.Message, error)
	Usage(ctx context.Context, q storage.UsageQuery) (*storage.UsageReport, error)
	Gaps(ctx context.Context, q storage.GapQuery) (*storage.GapReport, error)
	Funnel(ctx context.Context, q storage.FunnelQuery) (*storage.Funnel, error)

	// A visitor's data: files, profile, export and erasure.
	VisitorFiles(ctx context.Context, visitorID string) ([]*storage.File, error)
	EditProfile(ctx context.Context, visitorID string, e storage.ProfileEdit) (*storage.Visitor, error)
	ProfileChanges(ctx context.Context, visitorID string, limit int) ([]storage.ProfileChange, error)
	WriteExport(ctx context.Context, w io.Writer, visitorID string, at time.Time, download func(f *storage.File) string) error
	EraseVisitor(ctx context.Context, id string) (storage.EraseResult, error)

	// Agents, their consoles and the inbox.
	AddAgent(ctx context.Context, a *storage.Agent) error
	Agent(ctx context.Context, name string) (*storage.Agent, error)
	Agents(ctx context.Context) ([]storage.Agent, error)
	RevokeAgent(ctx context.Context, name string) error
	PutConsoleSession(ctx context.Context, tokenHash string, cs storage.ConsoleSession, now time.Time) error
	ConsoleSession(ctx context.Context, tokenHash string) (storage.ConsoleSession, error)
	DeleteConsoleSession(ctx context.Context, tokenHash string) error
	Handovers(ctx context.Context) ([]storage.HandoverEntry, error)
	Conversation(ctx context.Context, sid string) (*storage.Conversation, error)
	Conversations(ctx context.Context) ([]storage.Conversation, error)
	UpdateConversation(ctx context.Context, sid string, now time.Time, fn func(c *storage.Conversation)) (*storage.Conversation, error)
	AddNote(ctx context.Context, n *storage.Note) error
	Notes(ctx context.Context, sid string) ([]storage.Note, error)
}

// Files reads the bytes of stored files (a visitor's export carries them).
type Files interface {
	Open(ctx context.Context, f *storage.File) (io.ReadSeekCloser, error)
}

// Backuper is a store the admin API can back up whole (the Badger
// engine); a PostgreSQL store is backed up with PostgreSQL's own tools.
type Backuper interface {
	Backup(w io.Writer, h storage.BackupHeader) (storage.BackupInfo, error)
}

var (
	_ Store    = (*storage.Store)(nil)
	_ Files    = (*storage.Files)(nil)
	_ Backuper = (*storage.Store)(nil)
)
