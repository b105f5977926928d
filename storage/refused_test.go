package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// TestUsage_RefusedAcrossClose: refusals still counted in memory are
// stored by Close and reported after a restart (the rest of the usage
// report's tests are the contract suite's, contract_turn_test.go).
func TestUsage_RefusedAcrossClose(t *testing.T) {
	s, dir := MustOpen(t)
	ctx := context.Background()
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for range 3 {
		s.CountRefused(storage.Refusal{Site: "demo", Bot: "demo", Version: "1", Channel: "web", Reason: "visitors_per_ip", At: day.Add(time.Hour)})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Usage(ctx, storage.UsageQuery{From: day, To: day.AddDate(0, 0, 1)})
	if err != nil || r.Refused != 3 {
		t.Fatalf("refused after a restart: %+v, %v; want 3", r, err)
	}
}
