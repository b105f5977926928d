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
//	m/{session}/{message}               Message record (JSON), oldest first
//	hv/{session}/{name}                 a host variable's value (State.HostVariables,
//	                                    kept out of the session record: hostvars.go)
//	c/{session}/{clientID}              Ack for a client message ID (idempotent sends)
//	f/{file}                            File record (JSON)
//	fc/{file}/{n}                       file bytes, chunk n (uint32, big-endian)
//	vf/{visitor}/{file}                 the visitor's files
//	u/{site}/{yyyymmdd}/{bot}\x00{version}\x00{channel}
//	                                    sessions started that day (uint64, big-endian)
//	ur/{site}/{yyyymmddhh}/{reason}\x00{bot}\x00{version}\x00{channel}
//	                                    session starts refused for a rate limit that
//	                                    hour (uint64, big-endian; refused.go)
//	ia/{mask}/{time}/{session}          sessions by last activity, one entry per
//	                                    subset (mask) of the session's flags (index.go)
//	iv/{visitor}/{time}/{session}       the visitor's sessions by last activity,
//	                                    valued with their flags (one byte)
//	is/{facet}/{time}/{session}         sessions by start, one entry per facet
//	                                    (all, site=, ch=, bot=, ver=, resp=0|1, goal,
//	                                    goal=, tag=, blk=): the sessions dashboard
//	iq/{term}/{visitor}                 search words of names, emails, phones
//	meta/indexes                        the layout of ia/ iv/ is/ iq/ (BuildIndexes)
//	vl/{site}/{lastSeen hour}/{visitor} visitors by last activity (to the hour): what retention
//	                                    sweeps read (retention.go)
//	meta/seen-index                     set once vl/ holds every visitor (BuildSeenIndex)
//
// Every record carries its site, so one store serves many sites. A turn of a
// conversation (the visitor's message, the bot's answers, the new session state,
// the visitor's rollups and the index entries) is written in one transaction, so
// the views never see half a turn.
package storage
