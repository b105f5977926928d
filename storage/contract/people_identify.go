package contract

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// IdentifyEngine is what TestIdentify needs of an engine: verified
// identifies with their merges, and profile edits with their audit list.
type IdentifyEngine interface {
	SessionStarter
	Visitor(ctx context.Context, id string) (*storage.Visitor, error)
	HasVisitor(ctx context.Context, id string) (bool, error)
	Identify(ctx context.Context, req storage.IdentifyRequest) (*storage.IdentifyResult, error)
	MergedInto(ctx context.Context, id string) (string, error)
	PlatformVisitor(ctx context.Context, site, userID string) (string, error)
	OnMerge(fn func(from, into string, sessions []string))
	EditProfile(ctx context.Context, visitorID string, e storage.ProfileEdit) (*storage.Visitor, error)
	ProfileChanges(ctx context.Context, visitorID string, limit int) ([]storage.ProfileChange, error)
	Messages(ctx context.Context, sessionID string, limit int) ([]storage.Message, error)
}

// ppSeeded is a visitor a test made: its ID and sessions.
type ppSeeded struct {
	ID       string
	Sessions []string
}

// ppSeedVisitor makes a visitor of the site with n sessions an hour apart
// from t0, in each of which it says hello and types its name and email.
func ppSeedVisitor(tb testing.TB, s SessionStarter, site string, t0 time.Time, name, email string, n int) ppSeeded {
	tb.Helper()
	out := ppSeeded{ID: storage.NewID(t0)}
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Hour)
		sess := ppStartSession(tb, s, site, out.ID, at)
		out.Sessions = append(out.Sessions, sess.ID)
		typed := at.Add(time.Minute)
		_, _, _, err := s.RecordTurn(context.Background(), &storage.Turn{SessionID: sess.ID,
			Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindText, At: typed, Text: "hello " + name}},
			Inputs: []storage.Input{{Block: "ask", Variable: "name", Kind: "text", Value: name, At: typed},
				{Block: "ask", Variable: "email", Kind: "email", Value: email, At: typed}},
			State: &storage.State{Current: "ask", Reached: []string{"ask"}}})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// ppIdentifyAs identifies the browser's visitor as the user of site demo.
func ppIdentifyAs(tb testing.TB, s IdentifyEngine, visitorID, user string, at time.Time) *storage.IdentifyResult {
	tb.Helper()
	res, err := s.Identify(context.Background(), storage.IdentifyRequest{Site: "demo", VisitorID: visitorID, UserID: user,
		Channel: "web", Profile: storage.ProfileEdit{By: storage.ByIdentify, At: at}})
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// TestIdentify: a verified identify claims, merges or switches as
// storage.PlanIdentify says, racing identifies of one user end with one
// visitor, and profile edits keep their audit list.
func TestIdentify(t *testing.T, open func(testing.TB) IdentifyEngine) {
	// Each on a store of its own, at once: an engine's store may take a
	// while to open (a PostgreSQL database is created for each).
	for _, c := range []struct {
		name string
		test func(*testing.T, IdentifyEngine)
	}{
		{"Merge", testIdentifyMerge},
		{"Browsers", testIdentifyBrowsers},
		{"Race", testIdentifyRace},
		{"EditProfile", testEditProfile},
		{"MergeModel", testIdentifyModel},
		{"MergeUnderLiveTurns", testMergeUnderLiveTurns},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.test(t, open(t))
		})
	}
}

func testIdentifyMerge(t *testing.T, s IdentifyEngine) {
	ctx := context.Background()
	var mu sync.Mutex
	var hooked []string
	s.OnMerge(func(from, into string, sessions []string) {
		mu.Lock()
		defer mu.Unlock()
		hooked = append([]string{from, into}, sessions...)
	})
	home := ppSeedVisitor(t, s, "demo", ppDay, "Ada", "ada@example.org", 2)
	work := ppSeedVisitor(t, s, "demo", ppDay.Add(48*time.Hour), "Ada L", "ada@work.example", 2)

	res := ppIdentifyAs(t, s, home.ID, "crm-42", ppDay.Add(72*time.Hour))
	if res.VisitorID != home.ID || res.Merged != "" || res.Visitor == nil || res.Visitor.PlatformID != "crm-42" {
		t.Fatalf("first browser: %+v, want it to keep its visitor", res)
	}
	res = ppIdentifyAs(t, s, work.ID, "crm-42", ppDay.Add(73*time.Hour))
	if res.VisitorID != home.ID || res.Merged != work.ID || res.TooLarge || !slices.Equal(slices.Sorted(slices.Values(res.Sessions)), work.Sessions) {
		t.Fatalf("second browser: %+v, want %s merged into %s with %v", res, work.ID, home.ID, work.Sessions)
	}
	mu.Lock()
	if len(hooked) < 2 || hooked[0] != work.ID || hooked[1] != home.ID || !slices.Equal(slices.Sorted(slices.Values(hooked[2:])), work.Sessions) {
		t.Errorf("OnMerge got %v, want %s, %s and %v", hooked, work.ID, home.ID, work.Sessions)
	}
	mu.Unlock()
	v, err := s.Visitor(ctx, home.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The work browser's inputs were the later ones: they win. The
	// earliest creation and the latest activity of the two.
	lastTyped := ppDay.Add(49*time.Hour + time.Minute)
	if v.PlatformID != "crm-42" || v.Email != "ada@work.example" || v.Contact != "ada@work.example" || v.Name != "Ada L" ||
		!v.CreatedAt.Equal(ppDay) || !v.LastSeenAt.Equal(lastTyped) || !v.LastInteractionAt.Equal(lastTyped) ||
		!v.LastInputAt.Equal(lastTyped) || v.LastMessage != "hello Ada L" {
		t.Errorf("merged visitor %+v", v)
	}
	if res.Visitor.Email != v.Email || !res.Visitor.LastSeenAt.Equal(v.LastSeenAt) {
		t.Errorf("the result's visitor %+v is not the one stored %+v", res.Visitor, v)
	}
	if _, err := s.Visitor(ctx, work.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("merged-away visitor: %v, want ErrNotFound", err)
	}
	if ok, err := s.HasVisitor(ctx, work.ID); ok || err != nil {
		t.Errorf("merged-away visitor: has %v %v", ok, err)
	}
	if into, err := s.MergedInto(ctx, work.ID); err != nil || into != home.ID {
		t.Errorf("MergedInto: %q %v", into, err)
	}
	if into, err := s.MergedInto(ctx, home.ID); err != nil || into != "" {
		t.Errorf("MergedInto of the user's visitor: %q %v", into, err)
	}
	if owner, err := s.PlatformVisitor(ctx, "demo", "crm-42"); err != nil || owner != home.ID {
		t.Errorf("PlatformVisitor: %q %v", owner, err)
	}
	for _, sid := range append(home.Sessions, work.Sessions...) {
		if sess, err := s.Session(ctx, sid); err != nil || sess.VisitorID != home.ID {
			t.Errorf("session %s after the merge: %+v %v", sid, sess, err)
		}
	}
	changes, err := s.ProfileChanges(ctx, home.ID, 0)
	if err != nil || len(changes) != 2 || changes[0].Field != "merged" || changes[0].From != work.ID || changes[0].To != home.ID ||
		changes[0].By != storage.ByIdentify || !changes[0].At.Equal(ppDay.Add(73*time.Hour)) ||
		changes[1].Field != "platformId" || changes[1].From != "" || changes[1].To != "crm-42" {
		t.Errorf("audit: %+v %v, want the merge then the platform ID", changes, err)
	}
	if c, err := s.ProfileChanges(ctx, home.ID, 1); err != nil || len(c) != 1 || c[0].Field != "merged" {
		t.Errorf("audit, newest only: %+v %v", c, err)
	}
	if c, err := s.ProfileChanges(ctx, work.ID, 0); err != nil || c == nil || len(c) != 0 {
		t.Errorf("audit of the merged-away visitor: %#v %v, want an empty list", c, err)
	}

	t.Run("Again", func(t *testing.T) {
		res := ppIdentifyAs(t, s, home.ID, "crm-42", ppDay.Add(90*time.Hour))
		if res.VisitorID != home.ID || res.Merged != "" {
			t.Errorf("identify again: %+v", res)
		}
		if c, _ := s.ProfileChanges(ctx, home.ID, 0); len(c) != 2 {
			t.Errorf("identify again changed the audit: %+v", c)
		}
	})
	t.Run("MergedBrowserAgain", func(t *testing.T) {
		// The merged browser's cookie names a visitor that is gone: an
		// identify with it switches to the user's visitor.
		res := ppIdentifyAs(t, s, work.ID, "crm-42", ppDay.Add(91*time.Hour))
		if res.VisitorID != home.ID || res.Merged != "" {
			t.Errorf("identify of the merged browser: %+v", res)
		}
	})
}

func testIdentifyBrowsers(t *testing.T, s IdentifyEngine) {
	ctx := context.Background()
	at := ppDay.Add(time.Hour)
	t.Run("NewBrowserNewUser", func(t *testing.T) {
		id := storage.NewID(at)
		res := ppIdentifyAs(t, s, id, "u-new", at)
		v, err := s.Visitor(ctx, id)
		if res.VisitorID != id || err != nil || v.PlatformID != "u-new" || v.Site != "demo" || v.Channel != "web" || !v.CreatedAt.Equal(at) {
			t.Errorf("got %+v, %+v, %v; want a record for the browser's ID", res, v, err)
		}
		if c, _ := s.ProfileChanges(ctx, id, 0); len(c) != 1 || c[0].Field != "platformId" || c[0].To != "u-new" {
			t.Errorf("audit %+v", c)
		}
	})
	t.Run("NewBrowserKnownUser", func(t *testing.T) {
		owner, _ := s.PlatformVisitor(ctx, "demo", "u-new")
		id := storage.NewID(at)
		if res := ppIdentifyAs(t, s, id, "u-new", at); res.VisitorID != owner || res.Merged != "" {
			t.Errorf("got %+v, want the user's %s", res, owner)
		}
		if ok, _ := s.HasVisitor(ctx, id); ok {
			t.Errorf("the browser's visitor %s was created", id)
		}
	})
	t.Run("OtherUsersBrowser", func(t *testing.T) {
		other := ppSeedVisitor(t, s, "demo", ppDay, "Bo", "bo@example.org", 1)
		ppIdentifyAs(t, s, other.ID, "u-bo", at)
		res := ppIdentifyAs(t, s, other.ID, "u-cy", at)
		if res.VisitorID == other.ID || res.Merged != "" || !storage.ValidID(res.VisitorID) {
			t.Fatalf("got %+v, want a visitor of its own for u-cy", res)
		}
		if v, err := s.Visitor(ctx, other.ID); err != nil || v.PlatformID != "u-bo" {
			t.Errorf("u-bo's visitor after u-cy signed in on its browser: %+v %v", v, err)
		}
		if owner, _ := s.PlatformVisitor(ctx, "demo", "u-cy"); owner != res.VisitorID {
			t.Errorf("u-cy's visitor %q, want %s", owner, res.VisitorID)
		}
	})
	t.Run("OtherSite", func(t *testing.T) {
		res, err := s.Identify(ctx, storage.IdentifyRequest{Site: "shop", VisitorID: storage.NewID(at), UserID: "u-new",
			Profile: storage.ProfileEdit{By: storage.ByIdentify, At: at}})
		if err != nil {
			t.Fatal(err)
		}
		if owner, _ := s.PlatformVisitor(ctx, "demo", "u-new"); res.VisitorID == owner {
			t.Errorf("the same user ID on another site is the same visitor %s", owner)
		}
		if owner, _ := s.PlatformVisitor(ctx, "shop", "u-new"); owner != res.VisitorID {
			t.Errorf("shop's u-new: %q, want %s", owner, res.VisitorID)
		}
		// An anonymous visitor of one site does not become a user of
		// another.
		anon := ppSeedVisitor(t, s, "demo", ppDay, "Eve", "eve@example.org", 1)
		if _, err := s.Identify(ctx, storage.IdentifyRequest{Site: "shop", VisitorID: anon.ID, UserID: "u-eve",
			Profile: storage.ProfileEdit{By: storage.ByIdentify, At: at}}); err == nil {
			t.Errorf("demo's visitor identified on shop")
		}
		if v, err := s.Visitor(ctx, anon.ID); err != nil || v.PlatformID != "" {
			t.Errorf("the refused visitor: %+v %v", v, err)
		}
	})
	t.Run("Profile", func(t *testing.T) {
		name, email := "Dee", "dee@example.org"
		id := storage.NewID(at)
		res, err := s.Identify(ctx, storage.IdentifyRequest{Site: "demo", VisitorID: id, UserID: "u-dee",
			Profile: storage.ProfileEdit{Name: &name, Email: &email, By: storage.ByIdentify, At: at}})
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.Visitor(ctx, res.VisitorID)
		if err != nil || v.Name != name || v.Email != email || v.Contact != email || !v.ProfileAt.Equal(at) {
			t.Errorf("visitor %+v %v, want the host page's name and email", v, err)
		}
		c, _ := s.ProfileChanges(ctx, id, 0)
		if len(c) != 3 || c[0].Field != "email" || c[1].Field != "name" || c[2].Field != "platformId" || c[0].By != storage.ByIdentify {
			t.Errorf("audit %+v, want email, name, platformId", c)
		}
	})
	t.Run("BadInput", func(t *testing.T) {
		var fe *storage.FieldError
		for _, user := range []string{"", strings.Repeat("x", storage.MaxPlatformIDLen+1)} {
			_, err := s.Identify(ctx, storage.IdentifyRequest{Site: "demo", VisitorID: storage.NewID(at), UserID: user})
			if !errors.As(err, &fe) || fe.Field != "UserID" {
				t.Errorf("a %d-byte user ID: %v, want a FieldError", len(user), err)
			}
		}
		for _, req := range []storage.IdentifyRequest{{VisitorID: storage.NewID(at), UserID: "u"}, {Site: "demo", UserID: "u"}} {
			if _, err := s.Identify(ctx, req); err == nil {
				t.Errorf("%+v: no error", req)
			}
		}
		if id, err := s.PlatformVisitor(ctx, "demo", ""); err != nil || id != "" {
			t.Errorf("the visitor of no user: %q %v, want none", id, err)
		}
		if id, err := s.PlatformVisitor(ctx, "demo", "nobody"); err != nil || id != "" {
			t.Errorf("an unknown user's visitor: %q %v", id, err)
		}
		if id, err := s.MergedInto(ctx, ppUnknownSession); err != nil || id != "" {
			t.Errorf("MergedInto of an unknown visitor: %q %v", id, err)
		}
	})
}

// testIdentifyRace identifies browsers as one user at once, anonymous
// visitors with a session each and new browsers: one visitor ends up the
// user's, every other anonymous one merged into it.
func testIdentifyRace(t *testing.T, s IdentifyEngine) {
	ctx := context.Background()
	const browsers = 6
	var seeds []ppSeeded
	for i := range browsers {
		seeds = append(seeds, ppSeedVisitor(t, s, "demo", ppDay.Add(time.Duration(i)*time.Minute), fmt.Sprintf("V%d", i), fmt.Sprintf("v%d@example.org", i), 1))
	}
	ids := make([]string, 0, 2*browsers)
	for _, sd := range seeds {
		ids = append(ids, sd.ID, storage.NewID(ppDay)) // and a new browser
	}
	results := make([]*storage.IdentifyResult, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			results[i], errs[i] = s.Identify(ctx, storage.IdentifyRequest{Site: "demo", VisitorID: id, UserID: "racer",
				Profile: storage.ProfileEdit{By: storage.ByIdentify, At: ppDay.Add(time.Hour)}})
		})
	}
	wg.Wait()
	owner, err := s.PlatformVisitor(ctx, "demo", "racer")
	if err != nil || owner == "" {
		t.Fatalf("the user's visitor: %q %v", owner, err)
	}
	merged := 0
	for i, res := range results {
		if errs[i] != nil {
			t.Fatalf("identify %d: %v", i, errs[i])
		}
		if res.VisitorID != owner {
			t.Errorf("identify of %s: %+v, want %s", ids[i], res, owner)
		}
		if res.Merged != "" {
			merged++
		}
	}
	for _, sd := range seeds {
		if sd.ID == owner {
			continue
		}
		if into, _ := s.MergedInto(ctx, sd.ID); into != owner {
			t.Errorf("browser %s merged into %q, want %s", sd.ID, into, owner)
		}
		if ok, _ := s.HasVisitor(ctx, sd.ID); ok {
			t.Errorf("browser %s still has a visitor", sd.ID)
		}
	}
	for _, id := range ids {
		if ok, _ := s.HasVisitor(ctx, id); ok && id != owner {
			t.Errorf("a second visitor %s for the user", id)
		}
	}
	for _, sd := range seeds {
		if sess, err := s.Session(ctx, sd.Sessions[0]); err != nil || sess.VisitorID != owner {
			t.Errorf("session %s: %+v %v, want it the user's", sd.Sessions[0], sess, err)
		}
	}
	// Every anonymous browser merges, but the one that claimed the user
	// if one did (else a new browser's visitor did).
	want := browsers
	if slices.ContainsFunc(seeds, func(sd ppSeeded) bool { return sd.ID == owner }) {
		want--
	}
	if merged != want {
		t.Errorf("%d merges, want %d", merged, want)
	}
	if c, _ := s.ProfileChanges(ctx, owner, 0); len(c) != merged+1 {
		t.Errorf("the user's audit: %d entries, want %d merges and one claim", len(c), merged)
	}
}

func testEditProfile(t *testing.T, s IdentifyEngine) {
	ctx := context.Background()
	v := ppSeedVisitor(t, s, "demo", ppDay, "Ada", "ada@example.org", 1)
	str := func(s string) *string { return &s }
	at := ppDay.Add(24 * time.Hour)
	got, err := s.EditProfile(ctx, v.ID, storage.ProfileEdit{Name: str("Ada Lovelace"), Email: str("ada@lovelace.example"),
		Notes: str("VIP"), By: "admin", At: at})
	if err != nil {
		t.Fatal(err)
	}
	if got.Label() != "ada@lovelace.example" || got.Name != "Ada Lovelace" || got.Notes != "VIP" || !got.ProfileAt.Equal(at) {
		t.Errorf("after edit: %+v", got)
	}
	if stored, err := s.Visitor(ctx, v.ID); err != nil || stored.Label() != got.Label() || stored.Notes != "VIP" || !stored.ProfileAt.Equal(at) {
		t.Errorf("stored after edit: %+v %v", stored, err)
	}
	got, err = s.EditProfile(ctx, v.ID, storage.ProfileEdit{Phone: str("+44 20 7946 0000"), By: "admin", At: at.Add(time.Second)})
	if err != nil || got.Label() != "+44 20 7946 0000" {
		t.Errorf("after setting the phone: %+v %v", got, err)
	}
	// Clearing the phone gives the label back to the email.
	got, err = s.EditProfile(ctx, v.ID, storage.ProfileEdit{Phone: str(""), By: "admin", At: at.Add(time.Minute)})
	if err != nil || got.Label() != "ada@lovelace.example" || got.Phone != "" {
		t.Errorf("after clearing the phone: %+v %v", got, err)
	}
	changes, err := s.ProfileChanges(ctx, v.ID, 0)
	if err != nil || len(changes) != 5 {
		t.Fatalf("audit: %+v %v, want 5 changes", changes, err)
	}
	if c := changes[0]; c.Field != "phone" || c.From != "+44 20 7946 0000" || c.To != "" || c.By != "admin" || !c.At.Equal(at.Add(time.Minute)) {
		t.Errorf("newest change %+v", c)
	}
	if c := changes[4]; c.Field != "name" || c.From != "Ada" || c.To != "Ada Lovelace" {
		t.Errorf("oldest change %+v", c)
	}
	t.Run("NoChange", func(t *testing.T) {
		got, err := s.EditProfile(ctx, v.ID, storage.ProfileEdit{Name: str("Ada Lovelace"), By: "admin", At: at.Add(time.Hour)})
		if err != nil || got.Name != "Ada Lovelace" || !got.ProfileAt.Equal(at.Add(time.Minute)) {
			t.Fatalf("%+v %v", got, err)
		}
		if c, _ := s.ProfileChanges(ctx, v.ID, 0); len(c) != 5 {
			t.Errorf("an edit that changes nothing was recorded: %d changes", len(c))
		}
	})
	t.Run("NotesTooLong", func(t *testing.T) {
		_, err := s.EditProfile(ctx, v.ID, storage.ProfileEdit{Name: str("Lost"), Notes: str(strings.Repeat("n", storage.MaxNotesLen+1)), By: "admin", At: at})
		var fe *storage.FieldError
		if !errors.As(err, &fe) || fe.Field != "Notes" {
			t.Errorf("got %v, want a FieldError for Notes", err)
		}
		if got, _ := s.Visitor(ctx, v.ID); got.Name != "Ada Lovelace" || got.Notes != "VIP" {
			t.Errorf("a refused edit changed the visitor: %+v", got)
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		if _, err := s.EditProfile(ctx, storage.NewID(at), storage.ProfileEdit{Name: str("x"), By: "admin", At: at}); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("got %v, want ErrNotFound", err)
		}
	})
}

// testMergeUnderLiveTurns merges a visitor while its session's owner keeps
// recording turns (each from the session as the last turn returned it,
// as the gateway's owner does); OnMerge re-points the owner as the
// gateway does. Every turn lands, counted to the user's visitor.
func testMergeUnderLiveTurns(t *testing.T, s IdentifyEngine) {
	ctx := context.Background()
	home := ppSeedVisitor(t, s, "demo", ppDay, "Ada", "ada@example.org", 1)
	ppIdentifyAs(t, s, home.ID, "crm-live", ppDay.Add(time.Hour))
	work := ppSeedVisitor(t, s, "demo", ppDay.Add(2*time.Hour), "Ada", "ada@work.example", 1)

	var mu sync.Mutex // the owner's lock
	sess, err := s.Session(ctx, work.Sessions[0])
	if err != nil {
		t.Fatal(err)
	}
	s.OnMerge(func(from, into string, sessions []string) {
		mu.Lock()
		sess.VisitorID = into
		mu.Unlock()
	})
	var n atomic.Int64 // turns recorded
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		at := ppDay.Add(3 * time.Hour)
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			mu.Lock()
			id := fmt.Sprintf("t%d", i)
			next, _, _, err := s.RecordTurn(ctx, &storage.Turn{SessionID: sess.ID, Prev: sess, ClientID: id,
				Messages: []storage.Message{{From: storage.FromVisitor, Kind: storage.KindText, At: at.Add(time.Duration(i) * time.Second), Text: "turn " + id, ClientID: id}}})
			if err == nil {
				sess = next
			}
			mu.Unlock()
			if err != nil {
				done <- err
				return
			}
			n.Add(1)
		}
	}()
	waitTurns := func(min int64) {
		for deadline := time.Now().Add(10 * time.Second); n.Load() < min; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("only %d turns recorded, want %d", n.Load(), min)
			}
		}
	}
	waitTurns(20)
	if res := ppIdentifyAs(t, s, work.ID, "crm-live", ppDay.Add(4*time.Hour)); res.Merged != work.ID {
		t.Fatalf("merge: %+v", res)
	}
	waitTurns(n.Load() + 20) // turns after the merge too
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	turns := int(n.Load())
	v, err := s.Visitor(ctx, home.ID)
	if err != nil || v.LastMessage != fmt.Sprintf("turn t%d", turns-1) {
		t.Errorf("user's visitor after the turns: last message %q, %v; want turn t%d", v.LastMessage, err, turns-1)
	}
	got, err := s.Session(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := s.Messages(ctx, sess.ID, 0)
	if got.VisitorID != home.ID || got.MessageCount != len(msgs) || len(msgs) != turns+1 {
		t.Errorf("session after the turns: visitor %s, %d messages counted, %d stored, want %d", got.VisitorID, got.MessageCount, len(msgs), turns+1)
	}
	if ok, _ := s.HasVisitor(ctx, work.ID); ok {
		t.Errorf("the merged visitor %s came back", work.ID)
	}
}
