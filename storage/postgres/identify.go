package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parley-chat/parley/storage"
)

// A verified identify ties a browser's visitor to the host site's own user
// ID, its platform ID: visitors.platform_id, unique per site
// (visitors_by_platform_id), so two identifies of one user racing each
// other end with one visitor: the second's write fails on the index, and
// it runs again to find the first's visitor. A merge moves the browser's
// visitor's sessions, files and profile changes to the user's visitor, folds its
// rollups in (storage's rules: Visitor.Absorb), deletes its row and
// records it in visitor_merges, in one transaction.

// identifyAttempts bounds Identify's retries after a conflict with a
// concurrent identify (a unique violation, a deadlock): each retry reads
// what the other committed, so the second attempt normally settles it.
const identifyAttempts = 5

// Identify's queries, each served by an index (explain_people_test.go):
// a user's visitor by the unique index of platform IDs, a visitor's
// sessions, files and profile changes.
const (
	sqlUserVisitor     = `SELECT ` + visitorColumns + ` FROM visitors WHERE site = $1 AND platform_id = $2`
	sqlPlatformVisitor = `SELECT id FROM visitors WHERE site = $1 AND platform_id = $2`
	sqlLockSessions    = `SELECT id FROM sessions WHERE visitor_id = $1 ORDER BY id FOR UPDATE`
	sqlMoveSessions    = `UPDATE sessions SET visitor_id = $2 WHERE visitor_id = $1 RETURNING id`
	sqlMoveChanges     = `UPDATE profile_changes SET visitor_id = $2 WHERE visitor_id = $1`
	sqlMoveFiles       = `UPDATE files SET visitor_id = $2 WHERE visitor_id = $1`
	sqlMergedInto      = `SELECT into_id FROM visitor_merges WHERE from_id = $1`
)

// verifyIdentityChecks are the merges' share of Verify (parley check),
// in verifyChecks' shape: each merged browser's visitor must be gone and
// the visitor it went into there. (A user's one visitor, and the profile
// changes' visitors, are kept by the schema: a unique index, foreign
// keys.)
var verifyIdentityChecks = []struct{ what, sql string }{
	{"merged visitor", `SELECT m.from_id, 'went into ' || m.into_id || ', which has no record' FROM visitor_merges m
		WHERE NOT EXISTS (SELECT 1 FROM visitors v WHERE v.id = m.into_id)`},
	{"merged visitor", `SELECT m.from_id, 'went into ' || m.into_id || ' but still has a record' FROM visitor_merges m
		JOIN visitors v ON v.id = m.from_id`},
}

// Identify makes req.UserID the platform ID of the browser's visitor, or
// merges the browser's visitor into the user's, and applies req.Profile
// to the user's visitor, as storage.PlanIdentify decides. A browser whose
// visitor already belongs to another user switches to the user's visitor
// unmerged. Unlike the Badger engine a merge is never too large
// (TooLarge): PostgreSQL moves any history in one transaction. It returns
// storage.ErrErasing when either visitor is being erased. The OnMerge
// hook is told of a merge after its commit.
func (s *Store) Identify(ctx context.Context, req storage.IdentifyRequest) (*storage.IdentifyResult, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	req.Profile.At = utc(req.Profile.At) // as stored: the result equals the rows
	var res *storage.IdentifyResult
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) (err error) {
			res, err = identifyTx(ctx, tx, req)
			return err
		})
		if err == nil {
			break
		}
		if !(isConflict(err) || errors.Is(err, errReplan)) || attempt == identifyAttempts {
			return nil, fmt.Errorf("postgres: identify: %w", err)
		}
	}
	if res.Merged != "" {
		if fn := s.onMerge.Load(); fn != nil {
			(*fn)(res.Merged, res.VisitorID, res.Sessions)
		}
	}
	return res, nil
}

// errReplan asks Identify to run again: the visitors changed between its
// first read and its locks, and it now merges without having locked the
// browser's sessions first.
var errReplan = errors.New("postgres: identify: the visitors changed; again")

// identifyTx is Identify's transaction: it plans, locks and plans again
// on what it locked, and carries the plan out. A merge locks the
// browser's sessions before the two visitors, in the order a turn takes
// them (its session, then its visitor), so a turn of a session being
// moved waits for the merge, or the merge for it, and neither deadlocks.
func identifyTx(ctx context.Context, tx pgx.Tx, req storage.IdentifyRequest) (*storage.IdentifyResult, error) {
	now := req.Profile.At
	owner, cur, err := identifyVisitors(ctx, tx, req, false)
	if err != nil {
		return nil, err
	}
	plan, err := storage.PlanIdentify(req, cur, owner)
	if err != nil {
		return nil, err
	}
	sessionsLocked := plan.Merge
	if sessionsLocked {
		if _, err := tx.Exec(ctx, sqlLockSessions, cur.ID); err != nil {
			return nil, err
		}
	}
	if owner, cur, err = identifyVisitors(ctx, tx, req, true); err != nil {
		return nil, err
	}
	if plan, err = storage.PlanIdentify(req, cur, owner); err != nil {
		return nil, err
	}
	if plan.Merge && !sessionsLocked {
		return nil, errReplan
	}
	target := plan.Target
	res := &storage.IdentifyResult{VisitorID: target.ID, Visitor: target}
	changes := plan.Changes
	if plan.Merge {
		if res.Sessions, err = mergeVisitor(ctx, tx, cur, target, now); err != nil {
			return nil, err
		}
		res.Merged = cur.ID
		changes = append(changes, target.Absorb(cur, now))
	}
	changes = append(changes, target.ApplyProfile(req.Profile)...)
	if plan.New {
		err = insertVisitor(ctx, tx, target)
	} else {
		err = putVisitor(ctx, tx, target)
	}
	if err != nil {
		return nil, err
	}
	if err := insertChanges(ctx, tx, target.ID, changes); err != nil {
		return nil, err
	}
	return res, nil
}

// identifyVisitors reads the user's visitor and the browser's (nil for
// none), locked with lock: the user's first, so two identifies of one
// user take turns.
func identifyVisitors(ctx context.Context, tx pgx.Tx, req storage.IdentifyRequest, lock bool) (owner, cur *storage.Visitor, err error) {
	sql := sqlUserVisitor
	if lock {
		sql += ` FOR UPDATE`
	}
	owner, err = scanVisitor(tx.QueryRow(ctx, sql, req.Site, req.UserID))
	if errors.Is(err, storage.ErrNotFound) {
		owner, err = nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	cur, err = getVisitor(ctx, tx, req.VisitorID, lock)
	if errors.Is(err, storage.ErrNotFound) {
		cur, err = nil, nil
	}
	return owner, cur, err
}

// mergeVisitor moves everything of from to into, records the merge and
// deletes from's row; it returns the sessions that moved. The caller
// folds from's rollups into into's row (Visitor.Absorb) and writes it.
func mergeVisitor(ctx context.Context, tx pgx.Tx, from, into *storage.Visitor, now time.Time) ([]string, error) {
	rows, _ := tx.Query(ctx, sqlMoveSessions, from.ID, into.ID)
	sessions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	b.Queue(sqlMoveChanges, from.ID, into.ID)
	b.Queue(sqlMoveFiles, from.ID, into.ID)
	b.Queue(`INSERT INTO visitor_merges (from_id, into_id, merged_at) VALUES ($1, $2, $3)`, from.ID, into.ID, now)
	b.Queue(`DELETE FROM visitors WHERE id = $1`, from.ID)
	b.Queue(deleteTerms, from.ID) // query_users.go
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return nilIfEmpty(sessions), nil
}

// insertVisitor creates v's row: a taken ID, or platform ID of the site,
// is a unique violation (isConflict).
func insertVisitor(ctx context.Context, q querier, v *storage.Visitor) error {
	args, err := visitorArgs(v)
	if err != nil {
		return err
	}
	if _, err = q.Exec(ctx, `INSERT INTO visitors (`+visitorColumns+`) VALUES (`+params(len(args))+`)`, args...); err != nil {
		return err
	}
	return addVisitorTerms(ctx, q, v) // query_users.go: the search box
}

// params is "$1, $2, …, $n".
func params(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(i))
	}
	return b.String()
}

// isConflict reports whether err is a conflict with a concurrent
// transaction that a retry resolves: a unique violation, a deadlock or a
// serialization failure (CockroachDB's usual answer).
func isConflict(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "40P01" || pe.Code == "40001")
}

// MergedInto returns the visitor that id was merged into, "" for none: a
// browser whose visitor was merged still finds its user by its cookie.
func (s *Store) MergedInto(ctx context.Context, id string) (string, error) {
	var into string
	err := s.pool.QueryRow(ctx, sqlMergedInto, id).Scan(&into)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("postgres: merged into: %w", err)
	}
	return into, nil
}

// PlatformVisitor returns the visitor of the site's user, "" for none.
func (s *Store) PlatformVisitor(ctx context.Context, site, userID string) (string, error) {
	if userID == "" {
		return "", nil // every anonymous visitor has '': no user's
	}
	var id string
	err := s.pool.QueryRow(ctx, sqlPlatformVisitor, site, userID).Scan(&id)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("postgres: platform visitor: %w", err)
	}
	return id, nil
}

// OnMerge registers fn to be told (on the goroutine identifying, after
// the merge committed) of every visitor merged into another, with the
// sessions that moved, so the owners of live ones record as the new
// visitor.
func (s *Store) OnMerge(fn func(from, into string, sessions []string)) { s.onMerge.Store(&fn) }
