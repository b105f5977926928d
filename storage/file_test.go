package storage_test

import "math/rand/v2"

// The files store's tests are the engines' contract suite
// (contract/files.go, run by contract_files_test.go).

// randomBytes returns n bytes that are the same for the same n.
func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
