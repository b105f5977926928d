package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// agentColumns are the agents table's columns in scanAgent's order.
const agentColumns = `name, display_name, secret_hash, created_at, email, sites`

// The agents' queries, each served by an index (explain_people_test.go).
const (
	sqlAgent               = `SELECT ` + agentColumns + ` FROM agents WHERE name = $1`
	sqlAgents              = `SELECT ` + agentColumns + ` FROM agents ORDER BY name`
	sqlConsole             = `SELECT agent, expires_at FROM console_sessions WHERE token_hash = $1`
	sqlDropAgentConsoles   = `DELETE FROM console_sessions WHERE agent = $1`
	sqlDropExpiredConsoles = `DELETE FROM console_sessions WHERE expires_at <= $1`
)

// scanAgent reads a row of agentColumns.
func scanAgent(row pgx.CollectableRow) (storage.Agent, error) {
	var a storage.Agent
	if err := row.Scan(&a.Name, &a.DisplayName, &a.SecretHash, &a.CreatedAt, &a.Email, &a.Sites); err != nil {
		return storage.Agent{}, notFound(err)
	}
	a.CreatedAt = a.CreatedAt.UTC()
	a.Sites = nilIfEmpty(a.Sites)
	return a, nil
}

// AddAgent stores a new agent; storage.ErrExists when the name is taken.
func (s *Store) AddAgent(ctx context.Context, a *storage.Agent) error {
	if err := a.Validate(); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO agents (`+agentColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		a.Name, a.DisplayName, a.SecretHash, utc(a.CreatedAt), a.Email, nonNilSlice(a.Sites))
	if err != nil {
		if isUniqueViolation(err) {
			err = storage.ErrExists
		}
		return fmt.Errorf("postgres: add agent: %w", err)
	}
	return nil
}

// Agent returns the agent of that name, or storage.ErrNotFound.
func (s *Store) Agent(ctx context.Context, name string) (*storage.Agent, error) {
	if !storage.ValidAgentName(name) {
		// No agent has it, and text may not hold it all (a NUL byte).
		return nil, fmt.Errorf("postgres: agent: %w", storage.ErrNotFound)
	}
	rows, _ := s.pool.Query(ctx, sqlAgent, name)
	a, err := pgx.CollectExactlyOneRow(rows, scanAgent)
	if err != nil {
		return nil, fmt.Errorf("postgres: agent: %w", notFound(err))
	}
	return &a, nil
}

// Agents returns every agent, by name.
func (s *Store) Agents(ctx context.Context) ([]storage.Agent, error) {
	rows, _ := s.pool.Query(ctx, sqlAgents)
	out, err := pgx.CollectRows(rows, scanAgent)
	if err != nil {
		return nil, fmt.Errorf("postgres: agents: %w", err)
	}
	return nilIfEmpty(out), nil
}

// RevokeAgent deletes the agent and signs out every console it has open;
// storage.ErrNotFound when there is no such agent.
func (s *Store) RevokeAgent(ctx context.Context, name string) error {
	if !storage.ValidAgentName(name) {
		return fmt.Errorf("postgres: revoke agent: %w", storage.ErrNotFound) // as in Agent
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM agents WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		_, err = tx.Exec(ctx, sqlDropAgentConsoles, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: revoke agent: %w", err)
	}
	return nil
}

// PutConsoleSession stores a signed-in console under the hash of its
// token, and drops the consoles that expired before now, so forgotten
// browsers leave nothing behind.
func (s *Store) PutConsoleSession(ctx context.Context, tokenHash string, cs storage.ConsoleSession, now time.Time) error {
	b := &pgx.Batch{}
	b.Queue(sqlDropExpiredConsoles, utc(now))
	b.Queue(`INSERT INTO console_sessions (token_hash, agent, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (token_hash) DO UPDATE SET agent = excluded.agent, expires_at = excluded.expires_at`,
		tokenHash, cs.Agent, utc(cs.ExpiresAt))
	// One round trip, one transaction: a batch outside a transaction runs
	// as one implicitly.
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres: put console session: %w", err)
	}
	return nil
}

// ConsoleSession returns the signed-in console of the token hash, or
// storage.ErrNotFound; the caller checks ExpiresAt against its own clock.
func (s *Store) ConsoleSession(ctx context.Context, tokenHash string) (storage.ConsoleSession, error) {
	var cs storage.ConsoleSession
	err := s.pool.QueryRow(ctx, sqlConsole, tokenHash).
		Scan(&cs.Agent, &cs.ExpiresAt)
	if err != nil {
		return storage.ConsoleSession{}, fmt.Errorf("postgres: console session: %w", notFound(err))
	}
	cs.ExpiresAt = cs.ExpiresAt.UTC()
	return cs, nil
}

// DeleteConsoleSession signs a console out; deleting one that is gone is
// no error.
func (s *Store) DeleteConsoleSession(ctx context.Context, tokenHash string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM console_sessions WHERE token_hash = $1`, tokenHash); err != nil {
		return fmt.Errorf("postgres: delete console session: %w", err)
	}
	return nil
}
