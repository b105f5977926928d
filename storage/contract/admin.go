package contract

import (
	"context"
	"testing"

	"github.com/parley-chat/parley/storage"
)

// AdminEngine is what the admin views read, and the write path their
// fixtures are written through.
type AdminEngine interface {
	CreateSession(ctx context.Context, v *storage.Visitor, sess *storage.Session) error
	RecordTurn(ctx context.Context, t *storage.Turn) (*storage.Session, storage.Ack, bool, error)
	Visitor(ctx context.Context, id string) (*storage.Visitor, error)

	Sessions(ctx context.Context, q storage.SessionQuery) (*storage.Page[storage.SessionRow], error)
	VisitorSessions(ctx context.Context, q storage.VisitorSessionQuery) (*storage.Page[*storage.Session], error)
	Users(ctx context.Context, q storage.UserQuery) (*storage.Page[storage.UserRow], error)
	Transcript(ctx context.Context, id string) (*storage.Session, []storage.Message, error)
	Gaps(ctx context.Context, q storage.GapQuery) (*storage.GapReport, error)
	Funnel(ctx context.Context, q storage.FunnelQuery) (*storage.Funnel, error)
	EraseVisitor(ctx context.Context, id string) (storage.EraseResult, error)
}

// TestAdmin runs the admin views' suite: every list against a brute-force
// model over a generated store (filters, their combinations, statuses,
// periods, paging), the search, the Knowledge gaps report, the funnel,
// the transcript, and the errors of bad queries. open returns a new,
// empty engine, closed when the test ends.
func TestAdmin(t *testing.T, open func(testing.TB) AdminEngine) {
	for _, tt := range []struct {
		name string
		test func(*testing.T, func(testing.TB) AdminEngine)
	}{
		{"Users/SeedSemantics", testUsersSeedSemantics},
		{"Users/MatchesBruteForce", testUsersMatchesBruteForce},
		{"Users/BadParams", testUsersBadParams},
		{"Users/Search", testUsersSearch},
		{"Users/SearchErased", testUsersSearchErased},
		{"Users/SearchManyTerms", testUsersSearchManyTerms},
		{"VisitorSessions/Filters", testVisitorSessionsFilters},
		{"Sessions/Filters", testSessionsFilters},
		{"Sessions/EveryFilterCombination", testSessionsEveryFilterCombination},
		{"Sessions/FilterCombinations", testSessionsFilterCombinations},
		{"Sessions/StatusesPartition", testSessionsStatusesPartition},
		{"Sessions/BadParams", testSessionsBadParams},
		{"Transcript", testTranscript},
		{"Visitor/LastSentiment", testVisitorLastSentiment},
		{"Gaps/MatchesBruteForce", testGapsMatchesBruteForce},
		{"Funnel/MatchesBruteForce", testFunnelMatchesBruteForce},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.test(t, open) })
	}
}
