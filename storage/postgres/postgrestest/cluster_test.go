package postgrestest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/storage/postgres/postgrestest"
)

func TestCluster_StopStart(t *testing.T) {
	c := postgrestest.NewCluster(t)
	ctx := context.Background()
	ping := func() error {
		conn, err := pgx.Connect(ctx, c.URL())
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	}
	if err := ping(); err != nil {
		t.Fatalf("started cluster: %v", err)
	}
	c.Stop(t)
	if err := ping(); err == nil {
		t.Fatal("stopped cluster answers")
	}
	c.Start(t)
	if err := ping(); err != nil {
		t.Fatalf("restarted cluster: %v", err)
	}
}
