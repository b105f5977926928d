package admin

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/parley-chat/parley/server/respond"
	"github.com/parley-chat/parley/storage"
)

// sentimentJSON is the tone of one text (seed 004's nlp.sentiment: name
// and score), with when it was said where that is not the message's own
// time.
type sentimentJSON struct {
	Name  string  `json:"name"`
	Score float64 `json:"score"`
	At    string  `json:"at,omitempty"`
}

func toSentiment(s *storage.Sentiment) *sentimentJSON {
	if s == nil {
		return nil
	}
	out := &sentimentJSON{Name: s.Label, Score: s.Score}
	if !s.At.IsZero() {
		out.At = stamp(s.At)
	}
	return out
}

// sessionSentimentJSON is a session's tone: its label, the mean and lowest
// score of its scored texts, how many were scored, and the last one's.
type sessionSentimentJSON struct {
	Name   string        `json:"name"`
	Mean   float64       `json:"mean"`
	Min    float64       `json:"min"`
	Scored int           `json:"scored"`
	Last   sentimentJSON `json:"last"`
}

func toSessionSentiment(s *storage.SessionSentiment) *sessionSentimentJSON {
	if s == nil {
		return nil
	}
	return &sessionSentimentJSON{Name: s.Label, Mean: s.Mean, Min: s.Min, Scored: s.Scored, Last: *toSentiment(&s.Last)}
}

func sessionSentiment(sess *storage.Session) *string {
	if sess.State.Sentiment == nil {
		return nil
	}
	return &sess.State.Sentiment.Label
}

func cellSentiment(s *sentimentJSON) string {
	if s == nil {
		return ""
	}
	return s.Name
}

// gapTextJSON is one unanswered text of a session.
type gapTextJSON struct {
	Text string `json:"text"`
	At   string `json:"at"`
}

func toGapTexts(gs []storage.Gap) []gapTextJSON {
	out := make([]gapTextJSON, len(gs))
	for i, g := range gs {
		out[i] = gapTextJSON{g.Text, stamp(g.At)}
	}
	return out
}

// gapJSON is one row of the Knowledge gaps report: a question the story
// could not answer, normalised, with how often and when it was asked and
// the sessions that asked it.
type gapJSON struct {
	Text       string   `json:"text"` // the latest wording
	Key        string   `json:"key"`  // the normalised text the row groups by
	Count      int      `json:"count"`
	Sessions   int      `json:"sessions"`
	FirstAt    string   `json:"firstAt"`
	LastAt     string   `json:"lastAt"`
	SessionIDs []string `json:"sessionIds"` // the latest ten
}

// gapsJSON is the report: a list (never more than one page) with its
// totals.
type gapsJSON struct {
	listJSON[gapJSON]
	Texts     int     `json:"texts"`
	Groups    int     `json:"groups"`
	Truncated bool    `json:"truncated"`
	Since     *string `json:"since"`
}

func toGap(g storage.GapRow) gapJSON {
	return gapJSON{Text: g.Text, Key: g.Key, Count: g.Count, Sessions: g.Sessions,
		FirstAt: stamp(g.FirstAt), LastAt: stamp(g.LastAt), SessionIDs: g.SessionIDs}
}

// gapQuery reads the report's filters: from, to, site, bot, limit.
func (a *Admin) gapQuery(p *params) storage.GapQuery {
	from, to := p.period()
	return storage.GapQuery{From: from, To: to, Site: p.str("site"), Bot: p.str("bot"), Limit: p.limit(), MaxScan: a.gapScan}
}

// listGaps serves GET /admin/api/gaps.
func (a *Admin) listGaps(w http.ResponseWriter, r *http.Request) {
	q, ok := readQuery(a, w, r, a.gapQuery)
	if !ok {
		return
	}
	rep, err := a.store.Gaps(r.Context(), q)
	if err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	respond.JSON(w, http.StatusOK, gapsJSON{
		listJSON: listOf(rep.Items, "", toGap), Texts: rep.Texts, Groups: rep.Groups,
		Truncated: rep.Truncated, Since: stampOrNull(rep.Since),
	})
}

// exportGaps serves GET /admin/api/gaps.csv: the report's rows, up to
// storage.MaxLimit of them.
func (a *Admin) exportGaps(w http.ResponseWriter, r *http.Request) {
	q, ok := readQuery(a, w, r, a.gapQuery)
	if !ok {
		return
	}
	q.Limit = storage.MaxLimit
	writeCSV(a, w, r, "gaps", []string{"text", "key", "count", "sessions", "firstAt", "lastAt", "sessionIds"},
		func(string) (*storage.Page[storage.GapRow], error) {
			rep, err := a.store.Gaps(r.Context(), q)
			if err != nil {
				return nil, err
			}
			return &storage.Page[storage.GapRow]{Items: rep.Items}, nil
		},
		func(g storage.GapRow) []string {
			j := toGap(g)
			return []string{j.Text, j.Key, strconv.Itoa(j.Count), strconv.Itoa(j.Sessions), j.FirstAt, j.LastAt, strings.Join(j.SessionIDs, " ")}
		})
}
