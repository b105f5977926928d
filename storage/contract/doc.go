// Package contract is the storage contract suite: the tests every store
// engine (package storage's Badger engine, package storage/postgres)
// passes, so that both give the same answers. Each area's suite is
// exported as TestAREA(t, open), with the small interface of the methods
// it tests; an engine's package calls it from a test file of its own.
package contract
