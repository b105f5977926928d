package admin

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/parley-chat/parley/storage"
)

// The CSV exports stream every row a list's filters select, a page of
// storage.MaxLimit at a time, without the limit and cursor of the JSON API.

// writeCSV streams, as the download name-DATE.csv, a header and then the
// cells of every row that fetch pages through, starting from the empty
// cursor. Every cell goes through csvCell, so no value a visitor wrote
// reaches a spreadsheet as a formula. An error on the first page answers
// the request as the JSON API would; a later one can only cut the file
// short, and is logged.
func writeCSV[T any](a *Admin, w http.ResponseWriter, r *http.Request, name string, header []string,
	fetch func(cursor string) (*storage.Page[T], error), cells func(T) []string) {
	page, err := fetch("")
	if err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="parley-%s-%s.csv"`, name, a.now().UTC().Format("20060102")))
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	writeCSVRow(bw, header)
	for {
		for _, row := range page.Items {
			writeCSVRow(bw, cells(row))
		}
		if page.Next == "" {
			return
		}
		if page, err = fetch(page.Next); err != nil {
			a.log.Error("admin export failed", "path", r.URL.Path, "err", err)
			return
		}
	}
}

// writeCSVRow writes one RFC 4180 record with every cell quoted.
func writeCSVRow(w *bufio.Writer, cells []string) {
	for i, c := range cells {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteString(csvCell(c))
	}
	w.WriteByte('\n')
}

// formulaStarts are the characters a spreadsheet may take as the start of
// a formula (OWASP, CSV injection).
const formulaStarts = "=+-@\t\r"

// cellBreaks are where a spreadsheet may start a new cell or row when it
// splits a line its own way: the list separators of other locales and
// import dialogs (, ; tab |) and line ends.
const cellBreaks = ",;\t|\r\n"

// csvCell makes v safe for a spreadsheet, as OWASP's CSV-injection
// guidance says: quoted, quotes doubled, and an apostrophe before a
// formula character that starts the value or follows a cell break (after
// spaces), so a spreadsheet that splits the line on ; | or tab still
// shows text. Values without such a character are only quoted.
func csvCell(v string) string {
	var b strings.Builder
	b.Grow(len(v) + 4)
	b.WriteByte('"')
	start := true // a spreadsheet may begin a cell here
	for i := 0; i < len(v); i++ {
		c := v[i]
		if start && strings.IndexByte(formulaStarts, c) >= 0 {
			b.WriteByte('\'')
		}
		if c == '"' {
			b.WriteByte('"')
		}
		b.WriteByte(c)
		start = strings.IndexByte(cellBreaks, c) >= 0 || (start && c == ' ')
	}
	b.WriteByte('"')
	return b.String()
}

// inputsCell puts a session's inputs in one cell, "name=value" a line
// each, in the order given.
func inputsCell(ins []inputJSON) string {
	lines := make([]string, len(ins))
	for i, in := range ins {
		lines[i] = in.Name + "=" + in.Value
	}
	return strings.Join(lines, "\n")
}

// cellTime is an optional value's cell (a time, a name): empty for null.
func cellTime(t *string) string {
	if t == nil {
		return ""
	}
	return *t
}

// exportUsers serves GET /admin/api/users.csv with the overview's filters.
func (a *Admin) exportUsers(w http.ResponseWriter, r *http.Request) {
	q, ok := readQuery(a, w, r, userQuery)
	if !ok {
		return
	}
	q.Limit = storage.MaxLimit
	writeCSV(a, w, r, "users", []string{"id", "label", "os", "browser", "mobile", "lastFileAt", "lastInputAt", "lastInteractionAt", "createdAt",
		"name", "email", "phone", "sessionId", "inputs", "tags", "sentiment"},
		func(cursor string) (*storage.Page[storage.UserRow], error) {
			q.Cursor = cursor
			return a.store.Users(r.Context(), q)
		},
		func(row storage.UserRow) []string {
			u := toUser(row)
			return []string{u.ID, u.Label, u.Device.OS, u.Device.Browser, strconv.FormatBool(u.Device.Mobile),
				cellTime(u.LastFileAt), cellTime(u.LastInputAt), u.LastInteractionAt, u.CreatedAt,
				cellTime(u.Name), cellTime(u.Email), cellTime(u.Phone), u.SessionID, inputsCell(u.Inputs), strings.Join(u.Tags, " "), cellSentiment(u.Sentiment)}
		})
}

// exportSessions serves GET /admin/api/sessions.csv with the dashboard's
// filters.
func (a *Admin) exportSessions(w http.ResponseWriter, r *http.Request) {
	q, ok := readQuery(a, w, r, a.sessionQuery)
	if !ok {
		return
	}
	writeCSV(a, w, r, "sessions", []string{"id", "visitor", "label", "status", "bot", "version", "channel", "startedAt",
		"lastActivityAt", "durationSeconds", "messages", "hasResponses", "goals", "tags", "lastBlock",
		"lifecycle", "type", "lang", "locale", "hasInputs", "sentiment", "unanswered"},
		a.sessionPages(r, q),
		func(row storage.SessionRow) []string {
			j := a.toSession(row.Session, row.Visitor)
			return []string{j.ID, j.Visitor.ID, j.Visitor.Label, j.Status, j.Bot, j.Version, j.Channel,
				j.StartedAt, j.LastActivityAt, strconv.FormatInt(j.DurationSeconds, 10), strconv.Itoa(j.MessageCount),
				strconv.FormatBool(j.HasResponses), strings.Join(j.Goals, " "), strings.Join(j.Tags, " "), j.LastBlock,
				j.Lifecycle, j.Type, j.Lang, j.Locale, strconv.FormatBool(j.HasInputs),
				cellTime(j.Sentiment), strconv.Itoa(j.Unanswered)}
		})
}

// exportUsageSessions serves GET /admin/api/usage/sessions.csv: the
// sessions the usage report counts (seed 002's underlying data).
func (a *Admin) exportUsageSessions(w http.ResponseWriter, r *http.Request) {
	uq, ok := readQuery(a, w, r, a.usageQuery)
	if !ok {
		return
	}
	q := storage.SessionQuery{From: uq.From, To: uq.To, Site: uq.Site, Bot: uq.Bot, Version: uq.Version, Channel: uq.Channel}
	writeCSV(a, w, r, "usage-sessions", []string{"sessionId", "visitor", "bot", "version", "channel", "startedAt", "conversations", "messages"},
		a.sessionPages(r, q),
		func(row storage.SessionRow) []string {
			sess := row.Session
			// A session is one conversation with one story here.
			return []string{sess.ID, sess.VisitorID, sess.Bot, sess.Version, sess.Channel, stamp(sess.StartedAt), "1", strconv.Itoa(sess.MessageCount)}
		})
}

// sessionPages fetches the pages of the sessions q selects for writeCSV.
func (a *Admin) sessionPages(r *http.Request, q storage.SessionQuery) func(cursor string) (*storage.Page[storage.SessionRow], error) {
	q.Limit = storage.MaxLimit
	return func(cursor string) (*storage.Page[storage.SessionRow], error) {
		q.Cursor = cursor
		return a.store.Sessions(r.Context(), q)
	}
}
