package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage"
)

// messageDetail is the part of a storage.Message without a column of its
// own: the messages table's detail (JSONB). TestMessages_RoundTrip fills
// every field of storage.Message, so one added there and forgotten here
// fails it.
type messageDetail struct {
	Image      string                `json:"image,omitempty"`
	Agent      string                `json:"agent,omitempty"`
	AgentName  string                `json:"agentName,omitempty"`
	Options    []storage.Option      `json:"options,omitempty"`
	Input      *storage.InputPrompt  `json:"input,omitempty"`
	Upload     *storage.UploadPrompt `json:"upload,omitempty"`
	File       *storage.FileRef      `json:"file,omitempty"`
	Option     string                `json:"option,omitempty"`
	Value      string                `json:"value,omitempty"`
	Trace      []storage.Step        `json:"trace,omitempty"`
	Sentiment  *storage.Sentiment    `json:"sentiment,omitempty"`
	Unanswered bool                  `json:"unanswered,omitempty"`
}

// messageColumns are the messages table's columns in the order
// scanMessage reads them and messageRows writes them.
const messageColumns = `session_id, id, sender, kind, at, text, block, client_id, detail`

// messageRows are the turn's messages as arrays, one per column after
// session_id, for an INSERT … SELECT FROM unnest(…): one statement
// whatever the turn's length.
type messageRows struct {
	ids, senders, kinds, texts, blocks, clients []string
	ats                                         []any
	details                                     [][]byte
}

func (r *messageRows) add(m *storage.Message) error {
	d, err := json.Marshal(messageDetail{
		Image: m.Image, Agent: m.Agent, AgentName: m.AgentName, Options: m.Options, Input: m.Input,
		Upload: m.Upload, File: m.File, Option: m.Option, Value: m.Value, Trace: m.Trace,
		Sentiment: m.Sentiment, Unanswered: m.Unanswered,
	})
	if err != nil {
		return err
	}
	r.ids = append(r.ids, m.ID)
	r.senders = append(r.senders, m.From)
	r.kinds = append(r.kinds, m.Kind)
	r.ats = append(r.ats, utc(m.At))
	r.texts = append(r.texts, m.Text)
	r.blocks = append(r.blocks, m.Block)
	r.clients = append(r.clients, m.ClientID)
	r.details = append(r.details, d)
	return nil
}

// args are the arrays in column order (id … detail).
func (r *messageRows) args() []any {
	return []any{nonNilSlice(r.ids), nonNilSlice(r.senders), nonNilSlice(r.kinds), nonNilSlice(r.ats),
		nonNilSlice(r.texts), nonNilSlice(r.blocks), nonNilSlice(r.clients), jsonArray(r.details)}
}

// jsonArray passes JSON documents as a jsonb[] parameter's elements.
func jsonArray(docs [][]byte) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = string(d)
	}
	return out
}

// insertMessages inserts the arrays of messageRows.args from $2 on, for
// session $1.
const insertMessages = `INSERT INTO messages (` + messageColumns + `)
	SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::text[], $9::jsonb[])`

// scanMessage reads a row of messageColumns.
func scanMessage(row pgx.CollectableRow) (storage.Message, error) {
	var m storage.Message
	var detail []byte
	if err := row.Scan(&m.SessionID, &m.ID, &m.From, &m.Kind, &m.At, &m.Text, &m.Block, &m.ClientID, &detail); err != nil {
		return m, err
	}
	m.At = m.At.UTC()
	var d messageDetail
	if err := json.Unmarshal(detail, &d); err != nil {
		return m, err
	}
	m.Image, m.Agent, m.AgentName, m.Options, m.Input = d.Image, d.Agent, d.AgentName, d.Options, d.Input
	m.Upload, m.File, m.Option, m.Value, m.Trace = d.Upload, d.File, d.Option, d.Value, d.Trace
	m.Sentiment, m.Unanswered = d.Sentiment, d.Unanswered
	return m, nil
}

// Messages returns the session's messages, oldest first, at most limit
// (0 for all).
func (s *Store) Messages(ctx context.Context, sessionID string, limit int) ([]storage.Message, error) {
	if limit <= 0 {
		limit = math.MaxInt32
	}
	rows, _ := s.pool.Query(ctx, selectMessages, sessionID, limit)
	msgs, err := pgx.CollectRows(rows, scanMessage)
	if err != nil {
		return nil, fmt.Errorf("postgres: messages: %w", err)
	}
	return nilIfEmpty(msgs), nil
}

// LatestMessages returns the session's newest messages, newest first, at
// most n.
func (s *Store) LatestMessages(ctx context.Context, sessionID string, n int) ([]storage.Message, error) {
	rows, _ := s.pool.Query(ctx, selectLatestMessages, sessionID, n)
	msgs, err := pgx.CollectRows(rows, scanMessage)
	if err != nil {
		return nil, fmt.Errorf("postgres: latest messages: %w", err)
	}
	return nilIfEmpty(msgs), nil
}

// Ack returns the stored ack for a client message ID in the session, or
// storage.ErrNotFound.
func (s *Store) Ack(ctx context.Context, sessionID, clientID string) (storage.Ack, error) {
	a, err := getAck(ctx, s.pool, sessionID, clientID)
	if err != nil {
		return storage.Ack{}, fmt.Errorf("postgres: ack: %w", err)
	}
	return a, nil
}

func getAck(ctx context.Context, q querier, sessionID, clientID string) (storage.Ack, error) {
	var a storage.Ack
	err := q.QueryRow(ctx, selectAck, sessionID, clientID).
		Scan(&a.ID, &a.At, &a.Text)
	a.At = a.At.UTC()
	return a, notFound(err)
}

// Acks returns the session's client-ID ledger: the ack of every client
// message ID stored in it.
func (s *Store) Acks(ctx context.Context, sessionID string) (map[string]storage.Ack, error) {
	rows, _ := s.pool.Query(ctx, selectAcks, sessionID)
	acks := map[string]storage.Ack{}
	var cid string
	var a storage.Ack
	_, err := pgx.ForEachRow(rows, []any{&cid, &a.ID, &a.At, &a.Text}, func() error {
		a.At = a.At.UTC()
		acks[cid] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: acks: %w", err)
	}
	return acks, nil
}

// The reads of messages and acks, each by its table's primary key.
const (
	selectMessages       = `SELECT ` + messageColumns + ` FROM messages WHERE session_id = $1 ORDER BY id LIMIT $2`
	selectLatestMessages = `SELECT ` + messageColumns + ` FROM messages WHERE session_id = $1 ORDER BY id DESC LIMIT $2`
	selectAck            = `SELECT message_id, at, text FROM acks WHERE session_id = $1 AND client_id = $2`
	selectAcks           = `SELECT client_id, message_id, at, text FROM acks WHERE session_id = $1`
)
