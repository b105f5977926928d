package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// ErrExists is returned for a record whose name is already taken.
var ErrExists = errors.New("storage: already exists")

// Agent is a person who answers visitors from the console. The secret
// itself is never stored: SecretHash is its SHA-256, which is enough for a
// random 256-bit secret (nothing to guess from a dictionary).
type Agent struct {
	Name        string    `json:"name"`        // the sign-in name: lower case letters, digits, . _ -
	DisplayName string    `json:"displayName"` // what visitors and transcripts show
	SecretHash  string    `json:"secretHash"`  // hex SHA-256 of the secret
	CreatedAt   time.Time `json:"createdAt"`
	// Email is where the agent hears of conversations waiting for a
	// person and of leads, on Sites (every site when empty); "" for none.
	Email string   `json:"email,omitempty"`
	Sites []string `json:"sites,omitempty"`
}

// ForSite reports whether the agent answers the site's visitors.
func (a *Agent) ForSite(site string) bool {
	return len(a.Sites) == 0 || slices.Contains(a.Sites, site)
}

// validEmail reports whether s is one bare address (no display name).
func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && len(s) <= 254
}

var agentName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ValidAgentName reports whether name can sign in: 1 to 64 lower-case
// letters, digits, dots, underscores and hyphens, starting with a letter
// or digit.
func ValidAgentName(name string) bool { return agentName.MatchString(name) }

// Validate reports whether the agent can be stored.
func (a *Agent) Validate() error {
	switch {
	case !ValidAgentName(a.Name):
		return errors.New("storage: agent: name: want 1-64 lower-case letters, digits, '.', '_' or '-'")
	case a.DisplayName == "" || len(a.DisplayName) > 100:
		return errors.New("storage: agent: display name: want 1-100 bytes")
	case !PlainName(a.DisplayName):
		// Visitors read it: no control characters, no bidi overrides.
		return errors.New("storage: agent: display name: has control characters")
	case len(a.SecretHash) != 64:
		return errors.New("storage: agent: missing secret hash")
	case a.Email != "" && !validEmail(a.Email):
		return errors.New("storage: agent: email: want an address like ana@example.org")
	}
	for _, site := range a.Sites {
		if site == "" || len(site) > 100 || !PlainName(site) {
			return errors.New("storage: agent: sites: want site IDs of 1-100 bytes without control characters")
		}
	}
	return nil
}

// ConsoleSession is a signed-in console of an agent: the browser holds a
// random token in a cookie; the store keeps its SHA-256 only.
type ConsoleSession struct {
	Agent     string    `json:"agent"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// AddAgent stores a new agent; ErrExists when the name is taken.
func (s *Store) AddAgent(ctx context.Context, a *Agent) error {
	if err := a.Validate(); err != nil {
		return err
	}
	err := s.update(ctx, func(txn *badger.Txn) error {
		if _, err := txn.Get(key("ag", a.Name)); err == nil {
			return ErrExists
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		return putJSON(txn, key("ag", a.Name), a)
	})
	if err != nil {
		return fmt.Errorf("storage: add agent: %w", err)
	}
	return nil
}

// Agent returns the agent of that name, or ErrNotFound.
func (s *Store) Agent(ctx context.Context, name string) (*Agent, error) {
	var a Agent
	if err := s.db.View(func(txn *badger.Txn) error { return getJSON(txn, key("ag", name), &a) }); err != nil {
		return nil, fmt.Errorf("storage: agent: %w", err)
	}
	return &a, nil
}

// Agents returns every agent, by name.
func (s *Store) Agents(ctx context.Context) ([]Agent, error) {
	var out []Agent
	err := s.db.View(func(txn *badger.Txn) error {
		return eachValue(ctx, txn, []byte("ag/"), func(_, v []byte) error {
			var a Agent
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("storage: agents: %w", err)
	}
	return out, nil
}

// RevokeAgent deletes the agent and signs out every console it has open;
// ErrNotFound when there is no such agent.
func (s *Store) RevokeAgent(ctx context.Context, name string) error {
	err := s.retryUpdate(ctx, false, func(txn *badger.Txn) error {
		if _, err := txn.Get(key("ag", name)); errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		err := dropConsoles(ctx, txn, func(cs *ConsoleSession, ok bool) bool { return ok && cs.Agent == name })
		if err != nil {
			return err
		}
		return txn.Delete(key("ag", name))
	})
	if err != nil {
		return fmt.Errorf("storage: revoke agent: %w", err)
	}
	return nil
}

// PutConsoleSession stores a signed-in console under the hash of its
// token, and drops the consoles that expired before now, so forgotten
// browsers leave nothing behind.
func (s *Store) PutConsoleSession(ctx context.Context, tokenHash string, cs ConsoleSession, now time.Time) error {
	err := s.update(ctx, func(txn *badger.Txn) error {
		err := dropConsoles(ctx, txn, func(old *ConsoleSession, ok bool) bool { return !ok || !now.Before(old.ExpiresAt) })
		if err != nil {
			return err
		}
		return putJSON(txn, key("ac", tokenHash), cs)
	})
	if err != nil {
		return fmt.Errorf("storage: put console session: %w", err)
	}
	return nil
}

// ConsoleSession returns the signed-in console of the token hash, or
// ErrNotFound; the caller checks ExpiresAt against its own clock.
func (s *Store) ConsoleSession(ctx context.Context, tokenHash string) (ConsoleSession, error) {
	var cs ConsoleSession
	if err := s.db.View(func(txn *badger.Txn) error { return getJSON(txn, key("ac", tokenHash), &cs) }); err != nil {
		return ConsoleSession{}, fmt.Errorf("storage: console session: %w", err)
	}
	return cs, nil
}

// DeleteConsoleSession signs a console out; deleting one that is gone is
// no error.
func (s *Store) DeleteConsoleSession(ctx context.Context, tokenHash string) error {
	err := s.retryUpdate(ctx, false, func(txn *badger.Txn) error { return txn.Delete(key("ac", tokenHash)) })
	if err != nil {
		return fmt.Errorf("storage: delete console session: %w", err)
	}
	return nil
}

// dropConsoles deletes the signed-in consoles (ac/) that drop selects; ok
// says whether the record decoded.
func dropConsoles(ctx context.Context, txn *badger.Txn, drop func(cs *ConsoleSession, ok bool) bool) error {
	var keys [][]byte
	err := eachValue(ctx, txn, []byte("ac/"), func(k, v []byte) error {
		var cs ConsoleSession
		if drop(&cs, json.Unmarshal(v, &cs) == nil) {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
