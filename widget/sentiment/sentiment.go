// Package sentiment scores the tone of what visitors type with VADER
// (github.com/jonreiter/govader, a Go port of the lexicon- and rule-based
// model made for short social-media text: it reads negation, boosters,
// "but", emoji, shouting in capitals and "!!!"), and folds the scores of a
// session into its label. The model is English: text in a conversation in
// another language is labelled unknown rather than guessed.
package sentiment

import (
	"math"
	"strings"
	"sync"
	"time"

	"github.com/jonreiter/govader"

	"github.com/parley-chat/parley/storage"
)

// The thresholds on VADER's compound score: its authors' for a label, and
// ours for a text that alone makes a session negative.
const (
	positiveAt       = 0.05
	negativeAt       = -0.05
	stronglyNegative = -0.5
)

// analyzer is the model, loaded on first use: its lexicon is about 7,500
// words and 3,500 emoji, a few megabytes, which a site with scoring off
// never needs. It is read-only once built, safe for concurrent use.
var analyzer = sync.OnceValue(govader.NewSentimentIntensityAnalyzer)

// English reports whether a conversation whose language tag is lang (the
// session's language: BCP 47 like "en-GB", "de"; "" when the client named
// none) is one the model reads. An unnamed language counts as English, the
// widget's default; any other names a language VADER's lexicon does not
// cover. This is the one place that decides it.
func English(lang string) bool {
	primary, _, _ := strings.Cut(strings.TrimSpace(lang), "-")
	primary, _, _ = strings.Cut(primary, "_")
	return primary == "" || strings.EqualFold(primary, "en")
}

// Score returns the sentiment of one visitor text said at at, in a
// conversation in language lang.
func Score(text, lang string, at time.Time) storage.Sentiment {
	if !English(lang) {
		return storage.Sentiment{Label: storage.SentimentUnknown, At: at}
	}
	c := analyzer().PolarityScores(text).Compound
	c = math.Round(c*1e4) / 1e4 // four digits say all the model knows
	return storage.Sentiment{Label: label(c), Score: c, At: at}
}

func label(compound float64) string {
	switch {
	case compound >= positiveAt:
		return storage.SentimentPositive
	case compound <= negativeAt:
		return storage.SentimentNegative
	}
	return storage.SentimentNeutral
}

// Add folds one more scored text into a session's sentiment (nil for none
// yet) and returns the result; prev is not changed. The session's label:
//
//   - unknown while no text of it could be scored (another language);
//   - negative once any text scored strongly negative (compound ≤ -0.5):
//     one angry message flags the session, whatever came after;
//   - else the label of the mean compound score of its scored texts
//     (positive ≥ 0.05, negative ≤ -0.05, neutral between).
func Add(prev *storage.SessionSentiment, s storage.Sentiment) *storage.SessionSentiment {
	next := &storage.SessionSentiment{Label: storage.SentimentUnknown, Last: s}
	if prev != nil {
		next.Mean, next.Min, next.Scored = prev.Mean, prev.Min, prev.Scored
	}
	if s.Label != storage.SentimentUnknown {
		if next.Scored == 0 || s.Score < next.Min {
			next.Min = s.Score
		}
		next.Mean = (next.Mean*float64(next.Scored) + s.Score) / float64(next.Scored+1)
		next.Mean = math.Round(next.Mean*1e4) / 1e4
		next.Scored++
	}
	switch {
	case next.Scored == 0:
	case next.Min <= stronglyNegative:
		next.Label = storage.SentimentNegative
	default:
		next.Label = label(next.Mean)
	}
	return next
}

// Observe scores the visitor's text m, said in a conversation in language
// lang: the score goes on the message and into the session's sentiment in
// st. The widget's turn and the demo data's seeder both call it, so the
// two cannot drift.
func Observe(st *storage.State, m *storage.Message, lang string) {
	s := Score(m.Text, lang, m.At)
	st.Sentiment = Add(st.Sentiment, s)
	m.Sentiment = &storage.Sentiment{Label: s.Label, Score: s.Score}
}
