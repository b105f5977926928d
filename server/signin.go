package server

import (
	"github.com/parley-chat/parley/server/admin"
	"github.com/parley-chat/parley/storage/postgres"
)

// signInFailures is where the admin side counts failed sign-ins: in
// PostgreSQL when the store is (several nodes may share it, and the
// budget must hold across them), else nil, the admin's own memory.
func signInFailures(st Store) admin.FailureLimiter {
	if pg, ok := st.(*postgres.Store); ok {
		return pg.SignInFailures(admin.FailBurst, admin.FailWindow)
	}
	return nil
}
