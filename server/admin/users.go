package admin

import (
	"net/http"
	"time"

	"github.com/parley-chat/parley/server/respond"
	"github.com/parley-chat/parley/storage"
)

// listJSON is every admin list: its items and the next page's cursor,
// null on the last page.
type listJSON[T any] struct {
	Items []T     `json:"items"`
	Next  *string `json:"next"`
}

// writeList answers a page of rows as a list, each converted by toJSON,
// or the error of the query that fetched it.
func writeList[R, T any](a *Admin, w http.ResponseWriter, r *http.Request, page *storage.Page[R], err error, toJSON func(R) T) {
	if err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	respond.JSON(w, http.StatusOK, listOf(page.Items, page.Next, toJSON))
}

// listOf builds a list answer from a page of rows, converted by toJSON.
func listOf[R, T any](rows []R, next string, toJSON func(R) T) listJSON[T] {
	l := listJSON[T]{Items: make([]T, len(rows))}
	for i, row := range rows {
		l.Items[i] = toJSON(row)
	}
	if next != "" {
		l.Next = &next
	}
	return l
}

// deviceJSON is the visitor's software.
type deviceJSON struct {
	OS      string `json:"os"`
	Browser string `json:"browser"`
	Mobile  bool   `json:"mobile"`
}

func toDevice(d storage.Device) deviceJSON { return deviceJSON{d.OS, d.Browser, d.Mobile} }

// stamp formats a time as the API does: RFC3339, UTC.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// stampOrNull is stamp, or null for a zero time.
func stampOrNull(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := stamp(t)
	return &s
}

// userJSON is one row of the user-sessions overview.
type userJSON struct {
	ID     string     `json:"id"`
	Label  string     `json:"label"`
	Device deviceJSON `json:"device"`
	// LastFileAt and LastInputAt are the visitor's latest upload and input,
	// null when it never gave one (the console shows «No»).
	LastFileAt  *string `json:"lastFileAt"`
	LastInputAt *string `json:"lastInputAt"`
	// LastInteractionAt is the latest activity of the visitor's sessions
	// that match the filters in the period: the list's order.
	LastInteractionAt string `json:"lastInteractionAt"`
	CreatedAt         string `json:"createdAt"`
	// SessionID is the session that gave LastInteractionAt.
	SessionID string `json:"sessionId"`
	// PlatformID is the host site's user ID of an identified visitor.
	PlatformID *string `json:"platformId"`
	// Name, Email and Phone are the visitor's latest (null when never
	// given): the lead's contact, each in a column of its own.
	Name  *string `json:"name"`
	Email *string `json:"email"`
	Phone *string `json:"phone"`
	// Inputs and Tags are those of the session SessionID: what the
	// visitor chose and gave there.
	Inputs []inputJSON `json:"inputs"`
	Tags   []string    `json:"tags"`
	// Sentiment is the tone of the visitor's latest scored text, null
	// when none was.
	Sentiment *sentimentJSON `json:"sentiment"`
}

func toUser(r storage.UserRow) userJSON {
	v := r.Visitor
	u := userJSON{
		ID: v.ID, Label: v.Label(), Device: toDevice(v.Device),
		LastFileAt: stampOrNull(v.LastFileAt), LastInputAt: stampOrNull(v.LastInputAt),
		LastInteractionAt: stamp(r.LastActivityAt), CreatedAt: stamp(v.CreatedAt), SessionID: r.SessionID,
		PlatformID: orNull(v.PlatformID),
		Name:       orNull(v.Name), Email: orNull(v.Email), Phone: orNull(v.Phone), Inputs: []inputJSON{}, Tags: []string{},
		Sentiment: toSentiment(v.LastSentiment),
	}
	if r.Session != nil {
		u.Inputs, u.Tags = toVisitorSession(r.Session).Inputs, nonNilList(r.Session.State.Tags)
	}
	return u
}

// userQuery reads the overview's filters: from, to, engaged, files,
// inputs, q, limit, cursor.
func userQuery(p *params) storage.UserQuery {
	from, to := p.period()
	return storage.UserQuery{From: from, To: to, Flags: p.flags(), Q: p.str("q"), Limit: p.limit(), Cursor: p.str("cursor")}
}

// listUsers serves GET /admin/api/users.
func (a *Admin) listUsers(w http.ResponseWriter, r *http.Request) {
	q, ok := readQuery(a, w, r, userQuery)
	if !ok {
		return
	}
	page, err := a.store.Users(r.Context(), q)
	writeList(a, w, r, page, err, toUser)
}

// profileJSON is a visitor's profile (seed 001).
type profileJSON struct {
	ID             string     `json:"id"`
	Site           string     `json:"site"`
	Label          string     `json:"label"`
	Name           *string    `json:"name"`
	Email          *string    `json:"email"`
	Phone          *string    `json:"phone"`
	SourcePlatform string     `json:"sourcePlatform"`
	Device         deviceJSON `json:"device"`
	CreatedAt      string     `json:"createdAt"`
	LastSeenAt     string     `json:"lastSeenAt"`
	// LastInteractionAt is null while the visitor never acted.
	LastInteractionAt   *string           `json:"lastInteractionAt"`
	LastFileAt          *string           `json:"lastFileAt"`
	LastInputAt         *string           `json:"lastInputAt"`
	LastMessageReceived *string           `json:"lastMessageReceived"`
	Variables           map[string]string `json:"variables"`
	// PlatformID is the host site's user ID of an identified visitor;
	// Notes an admin's; Changes the newest profile changes, newest first
	// (profile.go).
	PlatformID *string      `json:"platformId"`
	Notes      string       `json:"notes"`
	Changes    []changeJSON `json:"changes"`
	// Sentiment is the tone of the visitor's latest scored text.
	Sentiment *sentimentJSON `json:"sentiment"`
}

func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// getUser serves GET /admin/api/users/{id}.
func (a *Admin) getUser(w http.ResponseWriter, r *http.Request) {
	v, err := a.store.Visitor(r.Context(), r.PathValue("id"))
	if err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	a.writeProfile(w, r, v) // profile.go
}

// toProfile is the visitor's profile, without its changes.
func toProfile(v *storage.Visitor) profileJSON {
	vars := v.Variables
	if vars == nil {
		vars = map[string]string{}
	}
	return profileJSON{
		ID: v.ID, Site: v.Site, Label: v.Label(), Name: orNull(v.Name), Email: orNull(v.Email), Phone: orNull(v.Phone),
		SourcePlatform: v.Channel, Device: toDevice(v.Device),
		CreatedAt: stamp(v.CreatedAt), LastSeenAt: stamp(v.LastSeenAt),
		LastInteractionAt: stampOrNull(v.LastInteractionAt), LastFileAt: stampOrNull(v.LastFileAt),
		LastInputAt: stampOrNull(v.LastInputAt), LastMessageReceived: orNull(v.LastMessage), Variables: vars,
		PlatformID: orNull(v.PlatformID), Notes: v.Notes,
		Sentiment: toSentiment(v.LastSentiment),
	}
}

// inputJSON is a value the visitor typed.
type inputJSON struct {
	Name  string `json:"name"` // the story variable
	Kind  string `json:"kind"`
	Value string `json:"value"`
	Block string `json:"block"`
	At    string `json:"at"`
}

// fileJSON is an uploaded file with its download link.
type fileJSON struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	Type  string `json:"type"`
	At    string `json:"at"`
	URL   string `json:"url"`
	Block string `json:"block,omitempty"`
}

func toFile(f storage.FileRef) fileJSON {
	return fileJSON{ID: f.ID, Name: f.Name, Size: f.Size, Type: f.Type, At: stamp(f.At), URL: "/admin/api/files/" + f.ID, Block: f.Block}
}

// visitorSessionJSON is one session on a visitor's page (seed 000).
type visitorSessionJSON struct {
	ID             string      `json:"id"`
	StartedAt      string      `json:"startedAt"`
	LastActivityAt string      `json:"lastActivityAt"`
	Bot            string      `json:"bot"`
	Version        string      `json:"version"`
	Channel        string      `json:"channel"`
	Device         deviceJSON  `json:"device"`
	MessageCount   int         `json:"messageCount"`
	Engaged        bool        `json:"engaged"`
	HasInputs      bool        `json:"hasInputs"`
	HasFiles       bool        `json:"hasFiles"`
	Inputs         []inputJSON `json:"inputs"`
	Files          []fileJSON  `json:"files"`
	// Sentiment and Unanswered are the session's, as on its card.
	Sentiment  *string `json:"sentiment"`
	Unanswered int     `json:"unanswered"`
}

func toVisitorSession(s *storage.Session) visitorSessionJSON {
	out := visitorSessionJSON{
		ID: s.ID, StartedAt: stamp(s.StartedAt), LastActivityAt: stamp(s.LastActivityAt),
		Bot: s.Bot, Version: s.Version, Channel: s.Channel, Device: toDevice(s.Device), MessageCount: s.MessageCount,
		Engaged: s.Engaged, HasInputs: s.HasInputs, HasFiles: s.HasFiles,
		Inputs: []inputJSON{}, Files: []fileJSON{},
		Sentiment: sessionSentiment(s), Unanswered: s.State.UnansweredCount,
	}
	for _, in := range s.Inputs {
		out.Inputs = append(out.Inputs, inputJSON{Name: in.Variable, Kind: in.Kind, Value: in.Value, Block: in.Block, At: stamp(in.At)})
	}
	for _, f := range s.Files {
		out.Files = append(out.Files, toFile(f))
	}
	return out
}

// listUserSessions serves GET /admin/api/users/{id}/sessions with the
// overview's filters.
func (a *Admin) listUserSessions(w http.ResponseWriter, r *http.Request) {
	uq, ok := readQuery(a, w, r, userQuery)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if _, err := a.store.Visitor(r.Context(), id); err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	page, err := a.store.VisitorSessions(r.Context(), storage.VisitorSessionQuery{
		VisitorID: id, From: uq.From, To: uq.To, Flags: uq.Flags, Limit: uq.Limit, Cursor: uq.Cursor,
	})
	writeList(a, w, r, page, err, toVisitorSession)
}
