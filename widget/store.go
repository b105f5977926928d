package widget

import (
	"context"

	"github.com/parley-chat/parley/storage"
)

// Store is what the gateway needs of the record store: to start, resume
// and read sessions, to record turns, and to count the starts it refuses.
// *storage.Store is the engine; the gateway holds no other reference to
// it, so another engine (or, in a benchmark, none) can stand in.
type Store interface {
	// StartSession stores a new session with its opening turn and, on
	// return, leaves in sess and v what was stored.
	StartSession(ctx context.Context, v *storage.Visitor, sess *storage.Session, opening *storage.Turn) error
	Session(ctx context.Context, id string) (*storage.Session, error)
	LatestSession(ctx context.Context, visitorID string) (*storage.Session, error)
	HasVisitor(ctx context.Context, id string) (bool, error)
	Messages(ctx context.Context, sessionID string, limit int) ([]storage.Message, error)
	Acks(ctx context.Context, sessionID string) (map[string]storage.Ack, error)
	RecordTurn(ctx context.Context, t *storage.Turn) (*storage.Session, storage.Ack, bool, error)
	CountRefused(r storage.Refusal)
	FlushRefused(ctx context.Context) error
	// OnErase registers the gateway to be told of a visitor whose erasure
	// has begun, so it closes the visitor's sockets first.
	OnErase(fn func(visitorID string))

	// Identify makes a verified user ID the visitor's platform ID, merging
	// the browser's visitor into the user's; MergedInto finds the visitor
	// a merged one went to; OnMerge tells the gateway of each merge, so
	// the owners of the moved live sessions record as the user's.
	Identify(ctx context.Context, req storage.IdentifyRequest) (*storage.IdentifyResult, error)
	MergedInto(ctx context.Context, id string) (string, error)
	OnMerge(fn func(from, into string, sessions []string))

	// Handovers lists the conversations waiting for or held by a person,
	// so a start arms the timeouts of those waiting (agent.go).
	Handovers(ctx context.Context) ([]storage.HandoverEntry, error)
}

var _ Store = (*storage.Store)(nil)
