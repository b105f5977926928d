package postgres

import (
	"context"
	"testing"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/storage/contract"
	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

// mirror runs the admin suite's reads on PostgreSQL while its writes go
// through the Badger engine's write path and are copied, record by
// record, into PostgreSQL's rows: the reads are tested on exactly the
// records the Badger engine's own suite reads.
type mirror struct {
	*Store
	b *storage.Store
}

func (m *mirror) copy(ctx context.Context, sid string) (*storage.Session, error) {
	sess, err := m.b.Session(ctx, sid)
	if err != nil {
		return nil, err
	}
	v, err := m.b.Visitor(ctx, sess.VisitorID)
	if err != nil {
		return nil, err
	}
	if err := putVisitor(ctx, m.pool, v); err != nil {
		return nil, err
	}
	if err := putSession(ctx, m.pool, sess, 0); err != nil {
		return nil, err
	}
	for _, t := range []string{"inputs", "gaps"} {
		if _, err := m.pool.Exec(ctx, `DELETE FROM `+t+` WHERE session_id = $1`, sid); err != nil {
			return nil, err
		}
	}
	if err := appendInputs(ctx, m.pool, sid, 0, sess.Inputs); err != nil {
		return nil, err
	}
	if err := appendGaps(ctx, m.pool, sid, 0, sess.Gaps); err != nil {
		return nil, err
	}
	return getSession(ctx, m.pool, sid)
}

func (m *mirror) CreateSession(ctx context.Context, v *storage.Visitor, sess *storage.Session) error {
	if err := m.b.CreateSession(ctx, v, sess); err != nil {
		return err
	}
	_, err := m.copy(ctx, sess.ID)
	return err
}

func (m *mirror) RecordTurn(ctx context.Context, t *storage.Turn) (*storage.Session, storage.Ack, bool, error) {
	_, ack, dup, err := m.b.RecordTurn(ctx, t)
	if err != nil {
		return nil, ack, dup, err
	}
	sess, err := m.copy(ctx, t.SessionID)
	return sess, ack, dup, err
}

// Transcript reads the session from PostgreSQL; its messages, which the
// mirror does not copy, from Badger.
func (m *mirror) Transcript(ctx context.Context, id string) (*storage.Session, []storage.Message, error) {
	sess, err := m.Session(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	msgs, err := m.b.Messages(ctx, id, 0)
	return sess, msgs, err
}

func TestMirror_Admin(t *testing.T) {
	contract.TestAdmin(t, func(tb testing.TB) contract.AdminEngine {
		pg, err := Open(context.Background(), postgrestest.URL(tb), Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { pg.Close() })
		b, err := storage.Open("", storage.Options{InMemory: true})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { b.Close() })
		return &mirror{Store: pg, b: b}
	})
}
