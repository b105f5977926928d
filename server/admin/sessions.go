package admin

import (
	"net/http"
	"slices"
	"strings"

	"github.com/parley-chat/parley/server/respond"
	"github.com/parley-chat/parley/storage"
)

// visitorRefJSON names a session's visitor.
type visitorRefJSON struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// sessionJSON is one card of the sessions dashboard (seed 003).
type sessionJSON struct {
	ID              string         `json:"id"`
	Site            string         `json:"site"`
	Visitor         visitorRefJSON `json:"visitor"`
	Status          string         `json:"status"`    // active while a socket is open, else inactive
	Lifecycle       string         `json:"lifecycle"` // active, open or closed (storage.SessionStatus)
	StartedAt       string         `json:"startedAt"`
	LastActivityAt  string         `json:"lastActivityAt"`
	DurationSeconds int64          `json:"durationSeconds"`
	MessageCount    int            `json:"messageCount"`
	HasResponses    bool           `json:"hasResponses"`
	Goals           []string       `json:"goals"`
	Tags            []string       `json:"tags"`
	LastBlock       string         `json:"lastBlock"`
	Bot             string         `json:"bot"`
	Version         string         `json:"version"`
	Channel         string         `json:"channel"`
	Device          deviceJSON     `json:"device"`
	Type            string         `json:"type"`   // the story's declared type, "" for none
	Lang            string         `json:"lang"`   // the visitor's language ("de"), "" when unknown
	Locale          string         `json:"locale"` // with its region ("de-ch")
	HasInputs       bool           `json:"hasInputs"`
	// Sentiment is the session's tone (positive, neutral, negative,
	// unknown), null while none of its texts was scored.
	Sentiment *string `json:"sentiment"`
	// Unanswered counts its texts only the fallback answered.
	Unanswered int `json:"unanswered"`
}

func (a *Admin) toSession(sess *storage.Session, v *storage.Visitor) sessionJSON {
	lifecycle, status := storage.SessionStatus(sess, a.gw, a.now()), storage.StatusInactive
	if lifecycle == storage.StatusActive {
		status = storage.StatusActive
	}
	return sessionJSON{
		ID: sess.ID, Site: sess.Site, Visitor: visitorRefJSON{v.ID, v.Label()}, Status: status, Lifecycle: lifecycle,
		Type: sess.Type, Lang: sess.Lang, Locale: sess.Locale, HasInputs: sess.HasInputs,
		StartedAt: stamp(sess.StartedAt), LastActivityAt: stamp(sess.LastActivityAt),
		DurationSeconds: int64(sess.LastActivityAt.Sub(sess.StartedAt).Seconds()),
		MessageCount:    sess.MessageCount, HasResponses: sess.HasResponses,
		Goals: nonNilList(sess.State.Goals), Tags: nonNilList(sess.State.Tags), LastBlock: sess.State.Current,
		Bot: sess.Bot, Version: sess.Version, Channel: sess.Channel, Device: toDevice(sess.Device),
		Sentiment: sessionSentiment(sess), Unanswered: sess.State.UnansweredCount,
	}
}

// sessionQuery reads the dashboard's filters: from, to, site, channel,
// bot, version, status, responses, goal, block, tag, forms, type, lang,
// sentiment, unanswered, q, limit, cursor.
func (a *Admin) sessionQuery(p *params) storage.SessionQuery {
	from, to := p.period()
	q := storage.SessionQuery{
		From: from, To: to, Site: p.str("site"), Channel: p.str("channel"), Bot: p.str("bot"), Version: p.str("version"),
		Responses: p.flag("responses"), Goal: p.str("goal"), Block: p.str("block"), Tag: p.str("tag"),
		Forms: p.on("forms"), Type: strings.ToLower(p.str("type")), Lang: langParam(p.str("lang")),
		Status: p.str("status"), Live: a.gw, Now: a.now(), Q: p.str("q"), Limit: p.limit(), Cursor: p.str("cursor"),
		Sentiment: p.str("sentiment"), Unanswered: p.on("unanswered"),
	}
	switch q.Sentiment {
	case "", storage.SentimentPositive, storage.SentimentNeutral, storage.SentimentNegative, storage.SentimentUnknown:
	default:
		p.fail("sentiment", "must be positive, neutral, negative or unknown")
	}
	switch q.Status {
	case "", storage.StatusActive, storage.StatusOpen, storage.StatusClosed, storage.StatusInactive:
	default:
		p.fail("status", "must be active, open, closed or inactive")
	}
	return q
}

// langParam is the language a lang filter names: "de" for "de", "DE" or
// "de-CH" (sessions keep the language apart from the locale).
func langParam(v string) string {
	lang, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(v)), "-")
	lang, _, _ = strings.Cut(lang, "_")
	return lang
}

// listSessions serves GET /admin/api/sessions.
func (a *Admin) listSessions(w http.ResponseWriter, r *http.Request) {
	q, ok := readQuery(a, w, r, a.sessionQuery)
	if !ok {
		return
	}
	page, err := a.store.Sessions(r.Context(), q)
	writeList(a, w, r, page, err, func(row storage.SessionRow) sessionJSON {
		return a.toSession(row.Session, row.Visitor)
	})
}

// stateJSON is where the story stands in a session.
type stateJSON struct {
	Current       string            `json:"current"`
	Previous      string            `json:"previous"`
	Pending       string            `json:"pending"`
	Ended         bool              `json:"ended"`
	Variables     map[string]string `json:"variables"`
	HostVariables map[string]string `json:"hostVariables"`
	Goals         []string          `json:"goals"`
	Tags          []string          `json:"tags"`
	Reached       []string          `json:"reached"`
	// Sentiment is the session's tone and its last expression's (seed
	// 004's nlp.sentiment), null while none was scored.
	Sentiment *sessionSentimentJSON `json:"sentiment"`
	// Unanswered are the texts only the fallback answered, in order
	// (the first storage.MaxSessionGaps of them).
	Unanswered []gapTextJSON `json:"unanswered"`
	// Handover is set while a person waits for or holds the conversation.
	Handover *storage.Handover `json:"handover"`
}

// messageJSON is one message of a transcript.
type messageJSON struct {
	ID      string           `json:"id"`
	From    string           `json:"from"`
	Kind    string           `json:"kind"`
	At      string           `json:"at"`
	Text    string           `json:"text,omitempty"`
	Block   string           `json:"block,omitempty"`
	Image   string           `json:"image,omitempty"`
	Options []storage.Option `json:"options,omitempty"`
	Choice  *string          `json:"choice,omitempty"` // the option chosen
	Value   *string          `json:"value,omitempty"`  // the input given
	File    *fileJSON        `json:"file,omitempty"`
	// Trace, on a bot message: the story's way to it since the visitor's
	// last message (storage.Step), oldest first; on a visitor message
	// the bot answered with nothing, where the story went.
	Trace []storage.Step `json:"trace,omitempty"`
	// Sentiment is the tone of a visitor's text; Unanswered marks a text
	// only the fallback answered.
	Sentiment  *sentimentJSON `json:"sentiment,omitempty"`
	Unanswered bool           `json:"unanswered,omitempty"`
	// An agent's message: who wrote it (sign-in name) and the name the
	// visitor saw.
	Agent     string `json:"agent,omitempty"`
	AgentName string `json:"agentName,omitempty"`
}

// transcriptJSON is a session with its messages and state.
type transcriptJSON struct {
	Session  sessionJSON    `json:"session"`
	State    stateJSON      `json:"state"`
	Inputs   []inputJSON    `json:"inputs"`
	Files    []fileJSON     `json:"files"`
	Messages []messageJSON  `json:"messages"`
	Visitor  visitorRefJSON `json:"visitor"`
}

// getTranscript serves GET /admin/api/sessions/{id}.
func (a *Admin) getTranscript(w http.ResponseWriter, r *http.Request) {
	sess, msgs, err := a.store.Transcript(r.Context(), r.PathValue("id"))
	if err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	v, err := a.store.Visitor(r.Context(), sess.VisitorID)
	if err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	vs := toVisitorSession(sess)
	st := sess.State
	out := transcriptJSON{
		Session: a.toSession(sess, v), Visitor: visitorRefJSON{v.ID, v.Label()},
		Inputs: vs.Inputs, Files: vs.Files, Messages: make([]messageJSON, 0, len(msgs)),
		State: stateJSON{
			Current: st.Current, Previous: st.Previous, Pending: st.Pending, Ended: st.Ended,
			Variables: nonNilMap(st.Variables), HostVariables: nonNilMap(st.HostVariables),
			Goals: nonNilList(st.Goals), Tags: nonNilList(st.Tags), Reached: nonNilList(st.Reached),
			Sentiment: toSessionSentiment(st.Sentiment), Unanswered: toGapTexts(sess.Gaps),
			Handover: st.Handover,
		},
	}
	var path []storage.Step // since the visitor's last message
	for _, m := range msgs {
		mj := toMessage(m) // inbox.go
		if m.From == storage.FromBot {
			path = append(path, m.Trace...)
			mj.Trace = slices.Clip(path)
		} else if m.From == storage.FromVisitor {
			path = nil
			mj.Trace = m.Trace // where the action led when the bot said nothing
		}
		out.Messages = append(out.Messages, mj)
	}
	respond.JSON(w, http.StatusOK, out)
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func nonNilList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
