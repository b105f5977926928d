package server

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/parley-chat/parley/storage"
)

// The CSV exports stream every row a list's filters select, a page of
// storage.MaxLimit at a time, without the limit and cursor of the JSON API.

// csvWriter starts a CSV download named name-DATE.csv.
func (s *Server) csvWriter(w http.ResponseWriter, name string, header ...string) *csv.Writer {
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="parley-%s-%s.csv"`, name, s.cfg.Now().UTC().Format("20060102")))
	cw := csv.NewWriter(w)
	cw.Write(header)
	return cw
}

// cell makes a value safe for a spreadsheet: text that a spreadsheet would
// run as a formula gets a leading apostrophe.
func cell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

func cellTime(t *string) string {
	if t == nil {
		return ""
	}
	return *t
}

// exportUsers serves GET /admin/api/users.csv with the overview's filters.
func (s *Server) exportUsers(w http.ResponseWriter, r *http.Request) {
	p := &params{r: r}
	q := userQuery(p)
	if !p.check(w) {
		return
	}
	q.Limit, q.Cursor = storage.MaxLimit, ""
	page, err := s.Store.Users(r.Context(), q)
	if err != nil {
		s.writeQueryError(w, r, err)
		return
	}
	cw := s.csvWriter(w, "users", "id", "label", "os", "browser", "mobile", "lastFileAt", "lastInputAt", "lastInteractionAt", "createdAt")
	for {
		for _, row := range page.Items {
			u := toUser(row)
			cw.Write([]string{u.ID, cell(u.Label), cell(u.Device.OS), cell(u.Device.Browser), strconv.FormatBool(u.Device.Mobile),
				cellTime(u.LastFileAt), cellTime(u.LastInputAt), u.LastInteractionAt, u.CreatedAt})
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
		if page, err = s.Store.Users(r.Context(), q); err != nil {
			s.log.Error("admin export failed", "path", r.URL.Path, "err", err)
			break // the body is on its way: a short file is all we can do
		}
	}
	cw.Flush()
}

// exportSessions serves GET /admin/api/sessions.csv with the dashboard's
// filters.
func (s *Server) exportSessions(w http.ResponseWriter, r *http.Request) {
	p := &params{r: r}
	q := s.sessionQuery(p)
	if !p.check(w) {
		return
	}
	var cw *csv.Writer
	s.eachSession(w, r, q, func() {
		cw = s.csvWriter(w, "sessions", "id", "visitor", "label", "status", "bot", "version", "channel", "startedAt",
			"lastActivityAt", "durationSeconds", "messages", "hasResponses", "goals", "tags", "lastBlock")
	}, func(row storage.SessionRow) {
		j := s.toSession(row.Session, row.Visitor)
		cw.Write([]string{j.ID, j.Visitor.ID, cell(j.Visitor.Label), j.Status, cell(j.Bot), cell(j.Version), cell(j.Channel),
			j.StartedAt, j.LastActivityAt, strconv.FormatInt(j.DurationSeconds, 10), strconv.Itoa(j.MessageCount),
			strconv.FormatBool(j.HasResponses), cell(strings.Join(j.Goals, " ")), cell(strings.Join(j.Tags, " ")), cell(j.LastBlock)})
	})
	if cw != nil {
		cw.Flush()
	}
}

// exportUsageSessions serves GET /admin/api/usage/sessions.csv: the
// sessions the usage report counts (seed 002's underlying data).
func (s *Server) exportUsageSessions(w http.ResponseWriter, r *http.Request) {
	p := &params{r: r}
	uq := s.usageQuery(p)
	if !p.check(w) {
		return
	}
	q := storage.SessionQuery{From: uq.From, To: uq.To, Site: uq.Site, Bot: uq.Bot, Version: uq.Version, Channel: uq.Channel}
	var cw *csv.Writer
	s.eachSession(w, r, q, func() {
		cw = s.csvWriter(w, "usage-sessions", "sessionId", "visitor", "bot", "version", "channel", "startedAt", "conversations", "messages")
	}, func(row storage.SessionRow) {
		sess := row.Session
		// A session is one conversation with one story here.
		cw.Write([]string{sess.ID, sess.VisitorID, cell(sess.Bot), cell(sess.Version), cell(sess.Channel), stamp(sess.StartedAt), "1", strconv.Itoa(sess.MessageCount)})
	})
	if cw != nil {
		cw.Flush()
	}
}

// eachSession calls header once the first page is read, then row for
// every session q selects, page by page. An error on the first page
// answers it; a later one cuts the file short.
func (s *Server) eachSession(w http.ResponseWriter, r *http.Request, q storage.SessionQuery, header func(), row func(storage.SessionRow)) {
	q.Limit, q.Cursor = storage.MaxLimit, ""
	for first := true; ; first = false {
		page, err := s.Store.Sessions(r.Context(), q)
		if err != nil {
			if first {
				s.writeQueryError(w, r, err)
			} else {
				s.log.Error("admin export failed", "path", r.URL.Path, "err", err)
			}
			return
		}
		if first {
			header()
		}
		for _, it := range page.Items {
			row(it)
		}
		if page.Next == "" {
			return
		}
		q.Cursor = page.Next
	}
}
