package admin

import (
	"cmp"
	"net/http"
	"slices"

	"github.com/parley-chat/parley/server/respond"
	"github.com/parley-chat/parley/storage"
)

// funnelJSON is a story's funnel over a period and the goal conversion of
// every bot version.
type funnelJSON struct {
	From           string           `json:"from"`
	To             string           `json:"to"`
	Bot            string           `json:"bot"`
	Version        string           `json:"version"` // "" for all versions
	Opened         int              `json:"opened"`
	Converted      int              `json:"converted"`
	ConversionRate float64          `json:"conversionRate"` // converted / opened; 0 when none opened
	Blocks         []funnelStepJSON `json:"blocks"`
	Goals          []funnelGoalJSON `json:"goals"`
	Versions       []conversionJSON `json:"versions"`
}

// funnelStepJSON is one block of the funnel: the sessions that reached
// it, their share of those opened, and how many fewer than the block
// before it reached it (the drop-off; 0 for the first).
type funnelStepJSON struct {
	Block       string  `json:"block"`
	Sessions    int64   `json:"sessions"`
	Share       float64 `json:"share"`
	DropOff     int64   `json:"dropOff"`
	DropOffRate float64 `json:"dropOffRate"` // dropOff / the block before's sessions
}

type funnelGoalJSON struct {
	Goal     string  `json:"goal"`
	Sessions int64   `json:"sessions"`
	Rate     float64 `json:"rate"` // sessions / opened
}

type conversionJSON struct {
	Bot            string  `json:"bot"`
	Version        string  `json:"version"`
	Opened         int     `json:"opened"`
	Converted      int     `json:"converted"`
	ConversionRate float64 `json:"conversionRate"`
}

// ratio is n/d, 0 for d = 0.
func ratio[N int | int64](n, d N) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// orderBlocks puts blocks that as many sessions reached in the story's
// order (blocks it no longer has after those), so a funnel reads as the
// story goes: most sessions first stays the order.
func orderBlocks(blocks []storage.Count, order []string) {
	pos := func(id string) int {
		if i := slices.Index(order, id); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(blocks, func(a, b storage.Count) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(pos(a.Key), pos(b.Key)))
	})
}

// funnelQuery reads the funnel's filters: bot (required), version, site,
// and the period as the usage report's (default: the last 30 days).
func (a *Admin) funnelQuery(p *params) storage.FunnelQuery {
	u := a.usageQuery(p)
	q := storage.FunnelQuery{From: u.From, To: u.To, Site: u.Site, Bot: u.Bot, Version: u.Version}
	if q.Bot == "" {
		p.fail("bot", "a funnel is of one bot: name it")
	}
	return q
}

// getFunnel serves GET /admin/api/funnel.
func (a *Admin) getFunnel(w http.ResponseWriter, r *http.Request) {
	q, ok := readQuery(a, w, r, a.funnelQuery)
	if !ok {
		return
	}
	f, err := a.store.Funnel(r.Context(), q)
	if err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	out := funnelJSON{
		From: stamp(q.From), To: stamp(q.To), Bot: q.Bot, Version: q.Version,
		Opened: f.Opened, Converted: f.Converted, ConversionRate: ratio(f.Converted, f.Opened),
		Blocks: []funnelStepJSON{}, Goals: []funnelGoalJSON{}, Versions: []conversionJSON{},
	}
	orderBlocks(f.Blocks, a.gw.StoryOrder(q.Bot))
	for i, b := range f.Blocks {
		step := funnelStepJSON{Block: b.Key, Sessions: b.Count, Share: ratio(b.Count, int64(f.Opened))}
		if i > 0 {
			prev := f.Blocks[i-1].Count
			step.DropOff, step.DropOffRate = prev-b.Count, ratio(prev-b.Count, prev)
		}
		out.Blocks = append(out.Blocks, step)
	}
	for _, g := range f.Goals {
		out.Goals = append(out.Goals, funnelGoalJSON{g.Key, g.Count, ratio(g.Count, int64(f.Opened))})
	}
	for _, v := range f.Versions {
		out.Versions = append(out.Versions, conversionJSON{v.Bot, v.Version, v.Opened, v.Converted, ratio(v.Converted, v.Opened)})
	}
	respond.JSON(w, http.StatusOK, out)
}
