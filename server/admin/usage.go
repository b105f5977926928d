package admin

import (
	"net/http"
	"time"

	"github.com/parley-chat/parley/server/respond"
	"github.com/parley-chat/parley/storage"
)

// usageJSON is the session usage report (seed 002).
type usageJSON struct {
	From     string             `json:"from"`
	To       string             `json:"to"`
	Total    int64              `json:"total"`
	Days     []dayCountJSON     `json:"days"`
	Months   []monthCountJSON   `json:"months"`
	Bots     []botCountJSON     `json:"bots"`
	Versions []versionCountJSON `json:"versions"`
	Channels []channelCountJSON `json:"channels"`

	// Refused counts the session starts a rate limit refused (new visitors
	// or sessions per address, sessions per visitor): not consumed, shown
	// apart; per day in days[].refused, per limit in refusedReasons.
	Refused        int64             `json:"refused"`
	RefusedReasons []reasonCountJSON `json:"refusedReasons"`
}

type dayCountJSON struct {
	Date    string `json:"date"`
	Count   int64  `json:"count"`
	Refused int64  `json:"refused"`
}

type reasonCountJSON struct {
	Reason string `json:"reason"`
	Count  int64  `json:"count"`
}

type monthCountJSON struct {
	Month string `json:"month"`
	Count int64  `json:"count"`
}

type botCountJSON struct {
	Bot   string `json:"bot"`
	Count int64  `json:"count"`
}

type versionCountJSON struct {
	Bot     string `json:"bot"`
	Version string `json:"version"`
	Count   int64  `json:"count"`
}

type channelCountJSON struct {
	Channel string `json:"channel"`
	Count   int64  `json:"count"`
}

// usageQuery reads the report's filters. A missing to is now; a missing
// from is the start of the UTC day 29 days before to's, so the default is
// the last 30 days, today included.
func (a *Admin) usageQuery(p *params) storage.UsageQuery {
	from, to := p.period()
	if to.IsZero() {
		to = a.now().UTC()
	}
	if from.IsZero() {
		last := to.Add(-time.Nanosecond)
		from = time.Date(last.Year(), last.Month(), last.Day()-29, 0, 0, 0, 0, time.UTC)
	}
	if from.After(to) {
		p.fail("from", "is after to")
	}
	return storage.UsageQuery{From: from, To: to, Site: p.str("site"), Bot: p.str("bot"), Version: p.str("version"), Channel: p.str("channel")}
}

// getUsage serves GET /admin/api/usage.
func (a *Admin) getUsage(w http.ResponseWriter, r *http.Request) {
	q, ok := readQuery(a, w, r, a.usageQuery)
	if !ok {
		return
	}
	rep, err := a.store.Usage(r.Context(), q)
	if err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	out := usageJSON{
		From: stamp(rep.From), To: stamp(rep.To), Total: rep.Total,
		Days: []dayCountJSON{}, Months: []monthCountJSON{}, Bots: []botCountJSON{}, Versions: []versionCountJSON{}, Channels: []channelCountJSON{},
		Refused: rep.Refused, RefusedReasons: []reasonCountJSON{},
	}
	for i, c := range rep.Days {
		out.Days = append(out.Days, dayCountJSON{c.Key, c.Count, rep.RefusedDays[i].Count})
	}
	for _, c := range rep.RefusedReasons {
		out.RefusedReasons = append(out.RefusedReasons, reasonCountJSON{c.Key, c.Count})
	}
	for _, c := range rep.Months {
		out.Months = append(out.Months, monthCountJSON{c.Key, c.Count})
	}
	for _, c := range rep.Bots {
		out.Bots = append(out.Bots, botCountJSON{c.Key, c.Count})
	}
	for _, c := range rep.Versions {
		out.Versions = append(out.Versions, versionCountJSON{c.Bot, c.Version, c.Count})
	}
	for _, c := range rep.Channels {
		out.Channels = append(out.Channels, channelCountJSON{c.Key, c.Count})
	}
	respond.JSON(w, http.StatusOK, out)
}
