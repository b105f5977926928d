// Package storage keeps Parley's records in an embedded Badger store:
// visitors, sessions, messages, the client-ID ledger that makes sends
// idempotent, uploaded files and the usage counters, with the secondary
// indexes the admin views read.
//
// # Key layout
//
// Keys are ASCII prefixes followed by fixed-width parts, so byte order is the
// order the views need. IDs are ULIDs (26 characters, time-ordered); times in
// keys are big-endian uint64 Unix nanoseconds (8 bytes), so they sort.
//
//	v/{visitor}                         Visitor record (JSON)
//	s/{session}                         Session record (JSON)
//	vs/{visitor}/{session}              the visitor's sessions, oldest first
//	m/{session}/{message}               Message record (JSON), in the session's own
//	                                    order: each ID sorts after the last (NextID)
//	d/{session}/{seq}                   a turn not yet folded into the session record,
//	                                    the visitor's rollups and the indexes (JSON;
//	                                    turnlog.go, indexer.go); seq 0 is the session's
//	                                    fold mark: the last seq folded, while the
//	                                    folded deltas are being deleted
//	hv/{session}/{name}                 a host variable's value (State.HostVariables,
//	                                    kept out of the session record: hostvars.go)
//	c/{session}/{clientID}              Ack for a client message ID (idempotent sends)
//	f/{file}                            File record (JSON)
//	fc/{file}/{n}                       file bytes, chunk n (uint32, big-endian)
//	vf/{visitor}/{file}                 the visitor's files
//	u/{site}/{yyyymmdd}/{bot}\x00{version}\x00{channel}
//	                                    sessions started that day (uint64, big-endian)
//	uf/{yyyymmdd}/{site}\x00{bot}\x00{version}\x00{shard}
//	                                    the funnel's counts of the sessions stored that
//	                                    started that day: all, goal, goal=, blk= (facet,
//	                                    varint pairs); one shard per kind of writer, which
//	                                    a reader sums (funnel_counts.go)
//	uh/{yyyymmddhh}/{site}\x00{bot}\x00{version}\x00{shard}
//	                                    the same of the sessions started that hour
//	uq/{session}                        a new session not yet added to u/ uf/ uh/: what
//	                                    they count of it as it started (JSON;
//	                                    startcount.go), written with the session
//	ur/{site}/{yyyymmddhh}/{reason}\x00{bot}\x00{version}\x00{channel}
//	                                    session starts refused for a rate limit that
//	                                    hour (uint64, big-endian; refused.go)
//	ia/{mask}/{time}/{session}          sessions by last activity, one entry per
//	                                    subset (mask) of the session's flags (index.go)
//	iv/{visitor}/{time}/{session}       the visitor's sessions by last activity,
//	                                    valued with their flags (one byte)
//	is/{facet}/{time}/{session}         sessions by start, one entry per facet
//	                                    (all, site=, ch=, bot=, ver=, resp=0|1, goal,
//	                                    goal=, tag=, blk=, in=1, type=, lang=, snt=, gap): the
//	                                    sessions dashboard
//	iu/{time}/{session}/{n}             the session's n-th unanswered text by when it
//	                                    was said (site\0bot\0text): the Knowledge
//	                                    gaps report (gaps.go)
//	iq/{term}/{visitor}                 search words of names, emails, phones
//	meta/indexes                        the layout of ia/ iv/ is/ iq/ iu/ (BuildIndexes)
//	meta/funnel                         the layout of uf/ uh/, once they count every session
//	                                    (BuildIndexes)
//	vl/{site}/{lastSeen hour}/{visitor} visitors by last activity (to the hour): what retention
//	                                    sweeps read (retention.go)
//	meta/seen-index                     set once vl/ holds every visitor (BuildSeenIndex)
//	pu/{site}/{user}                    the visitor of the site's user (platform ID,
//	                                    path-escaped; identify.go)
//	vm/{from}                           the visitor a merged browser's visitor went into
//	vma/{into}/{from}                   the same, kept with the visitor it went into
//	vp/{visitor}/{change}               profile changes: who changed what, when (profile.go)
//	wq/{site}/{endpoint}/{seq}          a webhook event waiting for the endpoint: metadata
//	                                    (JSON), '\n', the body as sent; written in the same
//	                                    write as what it reports (outbox.go)
//	wl/{site}/{endpoint}/{seq}          one delivery attempt, the last 100 per endpoint
//	                                    (webhooklog.go)
//	ws/{site}/{endpoint}                the endpoint's delivery state: failing since, paused
//	wv/{visitor}/{wq/ or wl/ key}       the outbox and log entries of a visitor, which its
//	                                    erase deletes with them
//	se/{session}                        session.ended was written for a session that timed
//	                                    out, in the same write as the event (idle.go)
//	sh/{session}                        a session a socket kept open past the idle sweep's
//	                                    watermark, looked at by each pass until it ends (idle.go)
//	meta/idle-swept                     the last activity before which every session was
//	                                    looked at for a timeout (idle.go)
//	meta/copy                           the progress of `parley migrate` copying into this
//	                                    store: its source, the last visitor copied (JSON; load.go)
//	ag/{name}                           Agent record (JSON; agent.go): the secret's SHA-256 only
//	ac/{sha256 of token}                an agent's signed-in console (JSON; agent.go)
//	ho/{session}                        a conversation waiting for or held by a person
//	                                    (JSON; handover.go), written in the commit of the
//	                                    turn that changed it: what the inbox lists
//	cm/{session}                        the inbox's record of a conversation: open or
//	                                    resolved, assignee, read marks (JSON; inbox.go)
//	co/{session}                        an open conversation of the inbox (no value)
//	cn/{session}/{note}                 an agent's private note (JSON; inbox.go)
//
// Every record carries its site, so one store serves many sites.
//
// # The turn path
//
// While a session has sockets, the gateway's owner of it holds the session
// and its acks; a turn reads nothing. RecordTurn appends the turn's
// messages, its ack and a small delta (d/) and hands them to the group
// committer (commit.go), which writes whatever turns of all sessions queued
// meanwhile as one transaction and acks each after that commit. The
// indexer (indexer.go) folds the deltas into the session records, the
// visitors' rollups, the ia/ iv/ is/ iq/ iu/ vl/ entries and the uf/ uh/
// counters behind the turns, one rewrite per session for many turns,
// deleting each delta in the transaction that folds it; every read of
// those records folds what is pending first, and Open folds what a crash
// left. A new session is written with its opening turn in one transaction
// (StartSession), and added to the usage and
// funnel counters a moment later with the sessions started meanwhile (its
// uq/ mark, startcount.go), so new sessions take no store-wide lock. An
// erase first fences the visitor (erase.go): in one step with retention's
// decision, between two group commits, after folding; from then on its
// turns, sessions and files are refused.
package storage
