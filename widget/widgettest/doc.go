// Package widgettest is a client of Parley's widget protocol, the wire
// contract in the README (Wire contract): it dials the socket as a browser
// would (site, Origin, cookie jar, client address), says hello, sends the
// visitor's frames with their client IDs and reads the server's frames
// typed by the contract.
//
// Conn is the core: every call takes a context and returns an error, so a
// program (the load tool) uses it as well as a test. Client wraps a Conn
// for tests: each call fails the test (a TB) on an error or a timeout. The
// package does not import testing; testing.TB satisfies its TB.
package widgettest
