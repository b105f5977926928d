package widget

import (
	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget/sentiment"
)

// observe notes what the admin's insight views need of a turn's visitor
// message m, in the turn's state st, before the turn is stored: the tone
// of a free text (unless the site switched scoring off), kept on the
// message and folded into the session's sentiment; and a free text that
// only the story's fallback answered (unanswered), counted in the state
// and returned as the turn's gap for the Knowledge gaps report. Answers to input blocks are values the story
// asked for (a name, an order number), not expressions, and are not
// scored. Scoring costs about 5 µs (widget/sentiment's BenchmarkScore),
// 2–3 % of a turn's server CPU, so it runs here, and the message is
// written and acked once, with its score.
func observe(site *Site, sess *storage.Session, st *storage.State, m *storage.Message, unanswered bool) []storage.Gap {
	if m.Kind == storage.KindText && !site.SentimentOff && m.Text != "" {
		sentiment.Observe(st, m, sess.Lang)
	}
	if !unanswered {
		return nil
	}
	return storage.Unanswered(st, m, len(sess.Gaps))
}
