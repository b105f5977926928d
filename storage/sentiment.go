package storage

import "time"

// Sentiment labels of a message, a session and a visitor. Unknown: the text
// was not scored because the conversation is in a language the model does
// not read (see widget/sentiment).
const (
	SentimentPositive = "positive"
	SentimentNeutral  = "neutral"
	SentimentNegative = "negative"
	SentimentUnknown  = "unknown"
)

// Sentiment is the tone of one visitor text: a label and VADER's compound
// score in [-1, 1] (0 for unknown), as the Chatlayer seed's nlp.sentiment
// (name and score).
type Sentiment struct {
	Label string    `json:"name"`
	Score float64   `json:"score"`
	At    time.Time `json:"at,omitzero"` // when it was said (kept on the session and visitor)
}

// SessionSentiment is the tone of a session so far, kept in its state: the
// session's label (the rule is widget/sentiment's, documented in the
// README), the mean and lowest compound score of the texts scored, how
// many, and the last expression's sentiment.
type SessionSentiment struct {
	Label  string    `json:"name"`
	Mean   float64   `json:"mean"`
	Min    float64   `json:"min"`
	Scored int       `json:"scored"`
	Last   Sentiment `json:"last"`
}

// Gap is a visitor's free text that no open question took and that the
// story could only answer with its fallback: an unanswered question, for
// the Knowledge gaps report (gaps.go).
type Gap struct {
	At   time.Time `json:"at"`
	Text string    `json:"text"`
}

// rollSentiment moves the visitor's latest sentiment to the session's last
// expression's when that is newer: the visitor's rollup over its sessions.
func (v *Visitor) rollSentiment(sess *Session) {
	if st := sess.State.Sentiment; st != nil {
		v.takeSentiment(st.Last)
	}
}

// absorbSentiment keeps the later of the two visitors' latest sentiments
// when from is merged into v (identify.go).
func (v *Visitor) absorbSentiment(from *Visitor) {
	if from.LastSentiment != nil {
		v.takeSentiment(*from.LastSentiment)
	}
}

func (v *Visitor) takeSentiment(s Sentiment) {
	if v.LastSentiment == nil || s.At.After(v.LastSentiment.At) {
		v.LastSentiment = &s
	}
}
