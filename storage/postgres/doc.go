// Package postgres keeps Parley's records in PostgreSQL: the engine for
// several nodes sharing one store (parley serve --store postgres://…).
// It implements the same operations as package storage's Badger engine,
// with the same record types and the same errors (storage.ErrNotFound,
// storage.ErrTooLarge, …), so the gateway, uploads and admin run on
// either.
//
// # Schema
//
// The tables are a real schema an operator can read with SQL: one row per
// visitor, session, message, input, file and counter, with the indexes
// the admin views need (migrations/*.sql, applied in order at Open and
// recorded in parley_schema). The SQL stays within what CockroachDB also
// runs: no advisory locks, no LISTEN/NOTIFY, no server-side functions.
//
// # The turn path
//
// A turn costs at most one round trip, amortised: RecordTurn hands the
// turn's rows to a group committer that writes whatever turns queued
// while the last commit ran as one transaction sent as one batch, and
// answers each turn after that commit.
package postgres
