package postgres

import (
	"context"

	"github.com/parley-chat/parley/storage"
)

// Transcript returns the session and all its messages, oldest first, or
// storage.ErrNotFound.
func (s *Store) Transcript(ctx context.Context, id string) (*storage.Session, []storage.Message, error) {
	sess, err := s.Session(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	msgs, err := s.Messages(ctx, id, 0)
	if err != nil {
		return nil, nil, err
	}
	return sess, msgs, nil
}
