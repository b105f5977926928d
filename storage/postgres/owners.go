package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parley-chat/parley/storage"
)

// Several nodes on one database (migrations/0007_nodes.sql): each node
// holds a lease, renewed every few seconds, and owns the live sessions it
// claimed; only the owner records a session's turns. Every commit of
// turns first checks, in its own transaction, that its node's lease has
// not passed (fenceSQL), holding the node's row with FOR SHARE until it
// commits; a node taking a session over from a dead one locks that row
// FOR UPDATE first. So a takeover waits for the dead node's last commit,
// then reads the session after it, and the dead node writes nothing more:
// no two nodes ever write one session, even when one stalls past its
// lease (a pause, a partition) and wakes up later.

// ErrLeaseLost is returned when this node's lease passed before it was
// renewed: its sessions may have been taken over, so it writes no turn
// until it joins again under a new ID.
var ErrLeaseLost = fmt.Errorf("%w: this node's lease has passed", storage.ErrUnavailable)

// errStaleNode fails a turn made under a node ID this process no longer
// has (it joined again after its lease passed).
var errStaleNode = fmt.Errorf("%w: the turn was made under a node ID since replaced", ErrLeaseLost)

// clusterNode is the node this store writes as, once it joined a cluster.
type clusterNode struct {
	id  string
	ttl time.Duration
}

const (
	sqlJoin  = `INSERT INTO nodes (id, name, started_at, lease_until) VALUES ($1, $2, now(), now() + $3 * interval '1 millisecond')`
	sqlRenew = `UPDATE nodes SET lease_until = now() + $2 * interval '1 millisecond' WHERE id = $1 AND lease_until > now()`
	// fenceSQL fails (division by zero) unless the node's lease holds,
	// and keeps the node's row locked until the commit it opens ends.
	fenceSQL = `SELECT 1 / count(*) FROM (SELECT 1 FROM nodes WHERE id = $1 AND lease_until > now() FOR SHARE) AS alive`

	sqlOwnerForUpdate = `SELECT node_id FROM session_owners WHERE session_id = $1 FOR UPDATE`
	sqlNodeAlive      = `SELECT lease_until > now() FROM nodes WHERE id = $1 FOR UPDATE`
	sqlClaimNew       = `INSERT INTO session_owners (session_id, node_id, since) VALUES ($1, $2, now()) ON CONFLICT (session_id) DO NOTHING`
	sqlTakeOver       = `UPDATE session_owners SET node_id = $2, since = now() WHERE session_id = $1`
	sqlRelease        = `DELETE FROM session_owners WHERE node_id = $1 AND session_id = ANY($2)`
	sqlLiveOwned      = `SELECT o.session_id FROM session_owners o JOIN nodes n ON n.id = o.node_id WHERE n.lease_until > now()`
	sqlLiveOwner      = `SELECT o.node_id FROM session_owners o JOIN nodes n ON n.id = o.node_id WHERE o.session_id = $1 AND n.lease_until > now()`
)

// JoinCluster registers the store's process as a new node named name
// (host and process, for operators) with a lease of ttl, and returns its
// ID. From then on every commit of turns checks the lease (ErrLeaseLost
// once it passed). Joining again, after the lease was lost, makes a new
// node: what the old ID owned stays with it until others take it over.
func (s *Store) JoinCluster(ctx context.Context, name string, ttl time.Duration) (string, error) {
	id := storage.NewID(time.Now())
	if _, err := s.pool.Exec(ctx, sqlJoin, id, name, ttl.Milliseconds()); err != nil {
		return "", fmt.Errorf("postgres: join the cluster: %w", unavailable(err))
	}
	s.node.Store(&clusterNode{id: id, ttl: ttl})
	return id, nil
}

// Node returns the ID the store writes as, "" before JoinCluster.
func (s *Store) Node() string {
	if n := s.node.Load(); n != nil {
		return n.id
	}
	return ""
}

// RenewLease extends this node's lease by its ttl, or returns
// ErrLeaseLost when it already passed.
func (s *Store) RenewLease(ctx context.Context) error {
	n := s.node.Load()
	if n == nil {
		return errors.New("postgres: renew the lease: not in a cluster")
	}
	tag, err := s.pool.Exec(ctx, sqlRenew, n.id, n.ttl.Milliseconds())
	if err != nil {
		return fmt.Errorf("postgres: renew the lease: %w", unavailable(err))
	}
	if tag.RowsAffected() == 0 {
		return ErrLeaseLost
	}
	return nil
}

// ClaimSession makes this node the owner of the session, unless a live
// node owns it, and returns the owner: this node's ID, or the other's. A
// session whose owner's lease passed is taken over once that node's last
// commit has ended (see above).
func (s *Store) ClaimSession(ctx context.Context, sessionID string) (string, error) {
	me := s.Node()
	if me == "" {
		return "", errors.New("postgres: claim a session: not in a cluster")
	}
	var owner string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for range 2 { // a claim racing another's first claim reads it again
			err := tx.QueryRow(ctx, sqlOwnerForUpdate, sessionID).Scan(&owner)
			if errors.Is(err, pgx.ErrNoRows) {
				tag, err := tx.Exec(ctx, sqlClaimNew, sessionID, me)
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 1 {
					owner = me
					return nil
				}
				continue
			}
			if err != nil || owner == me {
				return err
			}
			var alive bool
			err = tx.QueryRow(ctx, sqlNodeAlive, owner).Scan(&alive)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if alive {
				return nil
			}
			owner = me
			_, err = tx.Exec(ctx, sqlTakeOver, sessionID, me)
			return err
		}
		return errors.New("the owner's row came and went")
	})
	if err != nil {
		return "", fmt.Errorf("postgres: claim session %s: %w", sessionID, unavailable(err))
	}
	return owner, nil
}

// ReleaseSessions gives up this node's ownership of the sessions (it has
// no socket on them any more).
func (s *Store) ReleaseSessions(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, sqlRelease, s.Node(), ids); err != nil {
		return fmt.Errorf("postgres: release %d sessions: %w", len(ids), unavailable(err))
	}
	return nil
}

// LeaveCluster ends this node's lease and releases its sessions, on a
// graceful stop after its sockets closed: the others claim them at once
// rather than after the lease. A turn still on its way after it (a call
// from another node, say) is refused as after a lost lease: the node's
// row is gone.
func (s *Store) LeaveCluster(ctx context.Context) error {
	n := s.node.Load()
	if n == nil {
		return nil
	}
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM session_owners WHERE node_id = $1`, n.id)
	b.Queue(`DELETE FROM nodes WHERE id = $1`, n.id)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres: leave the cluster: %w", unavailable(err))
	}
	return nil
}

// OwnedSessions returns the sessions a live node owns: those with a
// socket (or an upload) on some node.
func (s *Store) OwnedSessions(ctx context.Context) ([]string, error) {
	rows, _ := s.pool.Query(ctx, sqlLiveOwned)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: owned sessions: %w", unavailable(err))
	}
	return ids, nil
}

// SessionOwner returns the live node owning the session, "" for none.
func (s *Store) SessionOwner(ctx context.Context, sessionID string) (string, error) {
	var node string
	err := s.pool.QueryRow(ctx, sqlLiveOwner, sessionID).Scan(&node)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("postgres: session owner: %w", unavailable(err))
	}
	return node, nil
}

// SweepDeadNodes deletes the nodes whose lease passed more than grace ago
// and the ownership rows left with them (sessions nobody took over: no
// socket came back). It returns how many nodes it deleted.
func (s *Store) SweepDeadNodes(ctx context.Context, grace time.Duration) (int, error) {
	const sweep = `WITH dead AS (
		DELETE FROM nodes WHERE lease_until < now() - $1 * interval '1 millisecond' RETURNING id
	), owned AS (
		DELETE FROM session_owners WHERE node_id IN (SELECT id FROM dead)
	)
	SELECT count(*) FROM dead`
	var n int
	if err := s.pool.QueryRow(ctx, sweep, grace.Milliseconds()).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: sweep dead nodes: %w", unavailable(err))
	}
	return n, nil
}

// refuses reports whether turn w was made under another node than n: an
// ID this process had before its lease passed and it joined again. Such a
// turn can never commit; the committer refuses it before the batch.
func (n *clusterNode) refuses(w *turnWrite) bool {
	return n != nil && w.node != "" && w.node != n.id
}

// fence queues the lease check that opens a commit of turns, when the
// store is in a cluster (n is not nil), and reports whether it did.
func (n *clusterNode) fence(b *pgx.Batch) bool {
	if n == nil {
		return false
	}
	b.Queue(fenceSQL, n.id)
	return true
}
