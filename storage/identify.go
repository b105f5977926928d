package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// A verified identify ties a browser's visitor to the host site's own user
// ID (its platform ID):
//
//	pu/{site}/{user}     the user's visitor ID (user path-escaped)
//	vm/{from}            the visitor a merged browser's visitor went into
//	vma/{into}/{from}    the same, from the other side: what an erase drops
//	vp/{visitor}/{id}    the visitor's profile changes (profile.go)
//
// The first browser a user is identified on keeps its visitor, which takes
// the platform ID. Another browser's anonymous visitor identified as the
// same user is merged into that one: its sessions, files and profile
// changes move over, with every index entry, in one transaction, and its
// own record gives way to a vm/ entry, so its cookie still finds the user.

// ErrMerged is returned for a write to a visitor that was merged into
// another (MergedInto names it): it is an ErrNotFound, as the visitor is
// gone.
var ErrMerged = fmt.Errorf("%w: the visitor was merged into another", ErrNotFound)

// MaxPlatformIDLen caps a platform ID in bytes.
const MaxPlatformIDLen = 256

// IdentifyRequest is a verified identify: the host site's backend signed
// UserID, so the browser's visitor VisitorID is that user.
type IdentifyRequest struct {
	Site      string
	VisitorID string // the browser's visitor; it may have no record yet
	UserID    string
	// Profile is what the host page says of the user (name, email,
	// phone), already validated; By and At are set.
	Profile ProfileEdit
	// Device and Channel describe the browser, for a record created now.
	Device  Device
	Channel string
}

// IdentifyResult is what Identify did.
type IdentifyResult struct {
	// VisitorID is the user's visitor: the browser's from now on.
	VisitorID string
	// Merged is the browser's visitor that went into it ("" for none),
	// Sessions the sessions that moved with it.
	Merged   string
	Sessions []string
	// Visitor is the user's visitor record as stored.
	Visitor *Visitor
	// TooLarge says the browser's visitor was not merged, as it has more
	// history than one transaction may move: the browser switched over.
	TooLarge bool
}

func platformKey(site, userID string) []byte {
	return key("pu", url.PathEscape(site), url.PathEscape(userID))
}

// errNeedLock asks Identify to run again holding the committer: a merge
// came up that the first attempt did not expect.
var errNeedLock = errors.New("storage: identify: merge needs the committer")

// Identify makes req.UserID the platform ID of the browser's visitor, or
// merges the browser's visitor into the user's (see the key layout above),
// and applies req.Profile to the user's visitor. A browser whose visitor
// already belongs to another user is not merged: it switches to the user's
// visitor and keeps the other user's history where it is; so does one
// whose history is too large to move in one transaction (TooLarge). It
// returns ErrErasing when either visitor is being erased.
//
// A merge holds the group committer, after folding every committed turn,
// so no turn of the merged visitor is half-way; turns committed after it
// are counted to the user's visitor, and live owners of the moved sessions
// are told (OnMerge) to record as the user's from then on.
func (s *Store) Identify(ctx context.Context, req IdentifyRequest) (*IdentifyResult, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	locked := s.mergeLikely(req)
	res, err := s.identify(ctx, req, locked)
	if errors.Is(err, errNeedLock) {
		res, err = s.identify(ctx, req, true)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: identify: %w", err)
	}
	if res.Merged != "" {
		if fn := s.onMerge.Load(); fn != nil {
			// Not under the committer: an owner may wait on a turn of its own.
			(*fn)(res.Merged, res.VisitorID, res.Sessions)
		}
		s.commits.mu.Lock()
		delete(s.commits.merged, res.Merged)
		s.commits.mu.Unlock()
	}
	return res, nil
}

// Validate reports whether the identify can run: it names a site and a
// visitor, and a user ID of 1 to MaxPlatformIDLen bytes (a *FieldError).
func (req *IdentifyRequest) Validate() error {
	switch {
	case req.Site == "" || req.VisitorID == "":
		return errors.New("storage: identify: missing site or visitor")
	case req.UserID == "" || len(req.UserID) > MaxPlatformIDLen:
		return &FieldError{"UserID", fmt.Sprintf("1 to %d bytes", MaxPlatformIDLen)}
	}
	return nil
}

// IdentifyPlan is what an identify does, decided from the two visitors
// it read (PlanIdentify); every engine carries it out alike.
type IdentifyPlan struct {
	// Target is the user's visitor from now on: the user's, the
	// browser's, or a new record (New), with a claimed platform ID set.
	Target *Visitor
	New    bool
	// Merge says the browser's visitor goes into Target: its sessions,
	// files and profile changes move, its rollups fold in (Absorb), and
	// its record gives way to a merge entry (MergedInto).
	Merge bool
	// Changes are the audit entries of a platform ID claimed now.
	Changes []ProfileChange
}

// PlanIdentify decides what req does, given the browser's visitor cur and
// the user's visitor owner (nil when there is none), as read in the
// identify's transaction: the user's visitor stays the user's (the
// browser's is merged into it when anonymous, else the browser switches
// over), or the browser's anonymous visitor claims the user, or a new
// visitor does. It returns ErrErasing when either visitor is being erased.
func PlanIdentify(req IdentifyRequest, cur, owner *Visitor) (*IdentifyPlan, error) {
	if (cur != nil && cur.Erasing) || (owner != nil && owner.Erasing) {
		return nil, ErrErasing
	}
	now := req.Profile.At
	p := &IdentifyPlan{Target: owner}
	claim := func(v *Visitor) {
		p.Changes = append(p.Changes, ProfileChange{At: now, By: ByIdentify, Field: "platformId", From: v.PlatformID, To: req.UserID})
		v.PlatformID = req.UserID
	}
	switch {
	case owner != nil && owner.ID == req.VisitorID:
		// Already this user's.
	case owner != nil && cur != nil && cur.PlatformID == "":
		p.Merge = true
	case owner != nil:
		// The browser is new, or another user's: it switches over.
	case cur != nil && cur.PlatformID == "":
		p.Target = cur
		claim(p.Target)
	default:
		// No visitor of the user yet, and the browser's is none or
		// another user's: a new visitor, the browser's ID if it is free.
		id := req.VisitorID
		if cur != nil {
			id = NewID(now)
		}
		p.Target = &Visitor{ID: id, Site: req.Site, Channel: req.Channel, Device: req.Device, CreatedAt: now, LastSeenAt: now}
		p.New = true
		claim(p.Target)
	}
	if p.Target.Site != req.Site {
		return nil, fmt.Errorf("visitor %s is of site %s", p.Target.ID, p.Target.Site)
	}
	return p, nil
}

// mergeLikely reads, outside any transaction, whether the identify is
// going to merge: the user has a visitor, and the browser another.
func (s *Store) mergeLikely(req IdentifyRequest) bool {
	owner := ""
	has := false
	_ = s.db.View(func(txn *badger.Txn) error {
		owner, _ = getString(txn, platformKey(req.Site, req.UserID))
		_, err := txn.Get(key("v", req.VisitorID))
		has = err == nil
		return nil
	})
	return owner != "" && owner != req.VisitorID && has
}

func (s *Store) identify(ctx context.Context, req IdentifyRequest, locked bool) (*IdentifyResult, error) {
	if locked {
		if s.commits == nil {
			return nil, errReadOnly
		}
		s.commits.mu.Lock()
		defer s.commits.mu.Unlock()
		if err := s.settle(ctx); err != nil {
			return nil, err
		}
	}
	var res *IdentifyResult
	err := s.update(ctx, func(txn *badger.Txn) error {
		var err error
		res, err = identifyTxn(txn, req, locked, s.batchBytes)
		return err
	})
	if err != nil {
		return nil, err
	}
	if res.Merged != "" {
		s.commits.merged[res.Merged] = res.VisitorID
	}
	return res, nil
}

// identifyTxn is Identify's transaction. It reads everything before it
// writes (a Badger iterator sorts the pending writes every time).
func identifyTxn(txn *badger.Txn, req IdentifyRequest, locked bool, maxBytes int) (*IdentifyResult, error) {
	now := req.Profile.At
	pk := platformKey(req.Site, req.UserID)
	owner, err := getString(txn, pk)
	if err != nil {
		return nil, err
	}
	cur, err := readVisitor(txn, req.VisitorID)
	if err != nil {
		return nil, err
	}
	var target *Visitor
	if owner != "" {
		if target, err = readVisitor(txn, owner); err != nil {
			return nil, err
		}
	}
	plan, err := PlanIdentify(req, cur, target)
	if err != nil {
		return nil, err
	}
	target = plan.Target
	res := &IdentifyResult{}
	var m *merge
	switch {
	case plan.Merge:
		if !locked {
			return nil, errNeedLock
		}
		if m, err = readMerge(txn, cur); err != nil {
			return nil, err
		}
		if m.size() > maxBytes {
			// Atomic or not at all: the browser switches over unmerged.
			m, res.TooLarge = nil, true
		}
	case plan.New:
		if err := indexSeen(txn, time.Time{}, target); err != nil {
			return nil, err
		}
	}
	seen := target.LastSeenAt
	changes := plan.Changes
	if m != nil {
		if err := m.write(txn, target); err != nil {
			return nil, err
		}
		res.Merged, res.Sessions = cur.ID, m.sessionIDs()
		changes = append(changes, target.Absorb(cur, now))
	}
	// The claim or merge and the profile's changes in one chain of IDs:
	// listed in the order they were made, even at one instant.
	if err := putChanges(txn, target.ID, append(changes, target.ApplyProfile(req.Profile)...)); err != nil {
		return nil, err
	}
	if err := txn.Set(pk, []byte(target.ID)); err != nil {
		return nil, err
	}
	if err := indexVisitorTerms(txn, target); err != nil {
		return nil, err
	}
	if m != nil && !seen.IsZero() {
		if err := indexSeen(txn, seen, target); err != nil {
			return nil, err
		}
	}
	if err := putJSON(txn, key("v", target.ID), target); err != nil {
		return nil, err
	}
	res.VisitorID, res.Visitor = target.ID, target
	return res, nil
}

// readVisitor reads a visitor record, nil when there is none.
func readVisitor(txn *badger.Txn, id string) (*Visitor, error) {
	var v Visitor
	switch err := getJSON(txn, key("v", id), &v); {
	case errors.Is(err, ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &v, nil
}

// getString reads a key's value as a string, "" when it is missing.
func getString(txn *badger.Txn, k []byte) (string, error) {
	item, err := txn.Get(k)
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		return "", nil
	case err != nil:
		return "", err
	}
	b, err := item.ValueCopy(nil)
	return string(b), err
}

// merge is what moves when a visitor goes into another, read first.
type merge struct {
	from     *Visitor
	sessions []*Session
	files    []*File
	fileVals map[string][]byte // the vf/ values (sizes), by file
	changes  [][2][]byte       // the audit entries: key, value
}

// size estimates the bytes the merge writes: each session's record and
// its index entries twice (deleted, written again), the files' records
// and pointers, the audit entries.
func (m *merge) size() int {
	n := 1024
	for _, s := range m.sessions {
		ks, _ := indexKeys(s)
		for _, k := range ks {
			n += 2 * (len(k) + 64)
		}
		n += len(s.raw) + 256
	}
	for _, f := range m.files {
		n += len(f.Name) + 512
	}
	for _, c := range m.changes {
		n += 2*len(c[0]) + len(c[1]) + 128
	}
	return n
}

func (m *merge) sessionIDs() []string {
	ids := make([]string, len(m.sessions))
	for i, s := range m.sessions {
		ids[i] = s.ID
	}
	return ids
}

// readMerge reads the visitor's sessions, files and audit entries.
func readMerge(txn *badger.Txn, from *Visitor) (*merge, error) {
	m := &merge{from: from, fileVals: map[string][]byte{}}
	sids, err := suffixesIn(txn, key("vs", from.ID, ""))
	if err != nil {
		return nil, err
	}
	for _, sid := range sids {
		sess, err := getSession(txn, sid, nil)
		if errors.Is(err, ErrNotFound) {
			continue // a stray pointer, as erase leaves for a while
		}
		if err != nil {
			return nil, err
		}
		m.sessions = append(m.sessions, sess)
	}
	fprefix := key("vf", from.ID, "")
	it := txn.NewIterator(badger.IteratorOptions{Prefix: fprefix, PrefetchValues: true})
	for it.Rewind(); it.Valid(); it.Next() {
		fid := string(it.Item().Key()[len(fprefix):])
		if m.fileVals[fid], err = it.Item().ValueCopy(nil); err != nil {
			break
		}
	}
	it.Close()
	if err != nil {
		return nil, err
	}
	for fid := range m.fileVals {
		var f File
		switch err := getJSON(txn, fileKey(fid), &f); {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return nil, err
		}
		m.files = append(m.files, &f)
	}
	cprefix := key("vp", from.ID, "")
	it = txn.NewIterator(badger.IteratorOptions{Prefix: cprefix, PrefetchValues: true})
	for it.Rewind(); it.Valid(); it.Next() {
		var v []byte
		if v, err = it.Item().ValueCopy(nil); err != nil {
			break
		}
		m.changes = append(m.changes, [2][]byte{it.Item().KeyCopy(nil)[len(cprefix):], v})
	}
	it.Close()
	return m, err
}

// write moves everything of m.from to into; the caller folds m.from's
// rollups into into's record (Visitor.Absorb) and writes it.
func (m *merge) write(txn *badger.Txn, into *Visitor) error {
	from := m.from
	for _, old := range m.sessions {
		next := *old
		next.VisitorID = into.ID
		ks, err := indexKeys(old)
		if err != nil {
			return err
		}
		for _, k := range ks {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		b, err := marshalSession(&next)
		if err != nil {
			return err
		}
		if err := txn.Set(key("s", next.ID), b); err != nil {
			return err
		}
		if err := indexSession(txn, nil, &next); err != nil {
			return err
		}
		if err := moveFunnel(txn, shardOther, old, &next); err != nil { // funnel_counts.go
			return err
		}
		if err := txn.Delete(key("vs", from.ID, next.ID)); err != nil {
			return err
		}
		if err := txn.Set(key("vs", into.ID, next.ID), nil); err != nil {
			return err
		}
	}
	for fid, val := range m.fileVals {
		if err := txn.Delete(visitorFileKey(from.ID, fid)); err != nil {
			return err
		}
		if err := txn.Set(visitorFileKey(into.ID, fid), val); err != nil {
			return err
		}
	}
	for _, f := range m.files {
		f.VisitorID = into.ID
		if err := putJSON(txn, fileKey(f.ID), f); err != nil {
			return err
		}
	}
	for _, c := range m.changes {
		if err := txn.Delete(changeKey(from.ID, string(c[0]))); err != nil {
			return err
		}
		if err := txn.Set(changeKey(into.ID, string(c[0])), c[1]); err != nil {
			return err
		}
	}
	// The merged visitor's own keys: record, retention entry, search
	// terms (its sessions' went with indexKeys above).
	dels := [][]byte{key("v", from.ID), seenKey(from.Site, from.LastSeenAt, from.ID)}
	for _, f := range []string{from.Name, from.Email, from.Phone} {
		for _, t := range contactTerms(f) {
			dels = append(dels, key("iq", escapeTerm(t), from.ID))
		}
	}
	for _, k := range dels {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	if err := txn.Set(key("vm", from.ID), []byte(into.ID)); err != nil {
		return err
	}
	return txn.Set(key("vma", into.ID, from.ID), nil)
}

// Absorb folds a visitor merged into v at now into v's rollups: the
// earliest creation, the latest activity, and the contact fields and
// variables of whichever of the two set them last. It returns the merge's
// entry for v's audit list.
func (v *Visitor) Absorb(from *Visitor, now time.Time) ProfileChange {
	older, newer := from, v
	if from.contactAt().After(v.contactAt()) {
		older, newer = v, from
	}
	own := *v // newer or older may be v: read its fields before they change
	if newer == v {
		newer = &own
	} else {
		older = &own
	}
	if from.CreatedAt.Before(v.CreatedAt) {
		v.CreatedAt = from.CreatedAt
	}
	v.LastSeenAt = laterOf(v.LastSeenAt, from.LastSeenAt)
	v.LastInputAt = laterOf(v.LastInputAt, from.LastInputAt)
	v.LastFileAt = laterOf(v.LastFileAt, from.LastFileAt)
	if from.LastInteractionAt.After(v.LastInteractionAt) {
		v.LastInteractionAt = from.LastInteractionAt
		if from.LastMessage != "" {
			v.LastMessage = from.LastMessage
		}
	}
	v.Name = cmpOrString(newer.Name, older.Name)
	v.Email = cmpOrString(newer.Email, older.Email)
	v.Phone = cmpOrString(newer.Phone, older.Phone)
	v.Contact = cmpOrString(newer.Contact, older.Contact)
	vars := make(map[string]string, len(older.Variables)+len(newer.Variables))
	for _, m := range []map[string]string{older.Variables, newer.Variables} {
		for k, val := range m {
			vars[k] = val
		}
	}
	if len(vars) > 0 {
		v.Variables = vars
	}
	v.ProfileAt = laterOf(v.ProfileAt, from.ProfileAt)
	v.absorbSentiment(from) // sentiment.go
	return ProfileChange{At: now, By: ByIdentify, Field: "merged", From: from.ID, To: v.ID}
}

// contactAt is when the visitor's contact fields were last set, typed or
// edited.
func (v *Visitor) contactAt() time.Time { return laterOf(v.LastInputAt, v.ProfileAt) }

// MergedInto returns the visitor that id was merged into, "" for none: a
// browser whose visitor was merged still finds its user by its cookie.
func (s *Store) MergedInto(ctx context.Context, id string) (string, error) {
	var into string
	err := s.db.View(func(txn *badger.Txn) (err error) {
		into, err = getString(txn, key("vm", id))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("storage: merged into: %w", err)
	}
	return into, nil
}

// PlatformVisitor returns the visitor of the site's user, "" for none.
func (s *Store) PlatformVisitor(ctx context.Context, site, userID string) (string, error) {
	var id string
	err := s.db.View(func(txn *badger.Txn) (err error) {
		id, err = getString(txn, platformKey(site, userID))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("storage: platform visitor: %w", err)
	}
	return id, nil
}

// OnMerge registers fn to be told (on the goroutine identifying) of every
// visitor merged into another, with the sessions that moved, so the owners
// of live ones record as the new visitor.
func (s *Store) OnMerge(fn func(from, into string, sessions []string)) { s.onMerge.Store(&fn) }

// mergedKeys returns the keys an erase of v drops besides its sessions and
// files: its platform ID's entry, the vm/ entries of the browsers merged
// into it and its profile changes.
func mergedKeys(txn *badger.Txn, v *Visitor) [][]byte {
	var ks [][]byte
	if v.PlatformID != "" {
		if owner, _ := getString(txn, platformKey(v.Site, v.PlatformID)); owner == v.ID {
			ks = append(ks, platformKey(v.Site, v.PlatformID))
		}
	}
	for _, k := range keysIn(txn, key("vma", v.ID, "")) {
		from := string(k[len(key("vma", v.ID, "")):])
		ks = append(ks, k, key("vm", from))
	}
	return append(ks, keysIn(txn, key("vp", v.ID, ""))...)
}

// verifyIdentities checks the identify entries: each platform ID names a
// visitor that holds it, each merged browser a visitor that exists, with
// its entry from the other side (Verify).
func verifyIdentities(ctx context.Context, txn *badger.Txn, r *VerifyReport) error {
	err := eachValue(ctx, txn, []byte("pu/"), func(k, val []byte) error {
		var v Visitor
		if err := getJSON(txn, key("v", string(val)), &v); err != nil {
			r.problem("platform ID %q: visitor %s: %v", k, val, err)
		} else if !bytes.Equal(platformKey(v.Site, v.PlatformID), k) {
			r.problem("platform ID %q: visitor %s has platform ID %q", k, val, v.PlatformID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return eachValue(ctx, txn, []byte("vm/"), func(k, val []byte) error {
		from := string(k[len("vm/"):])
		if _, err := txn.Get(key("v", string(val))); err != nil {
			r.problem("merged visitor %s: the visitor it went into, %s: %v", from, val, err)
		}
		if _, err := txn.Get(key("vma", string(val), from)); err != nil {
			r.problem("merged visitor %s: no vma/ entry under %s", from, val)
		}
		return nil
	})
}
