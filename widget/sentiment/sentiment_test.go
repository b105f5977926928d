package sentiment_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
	"github.com/parley-chat/parley/widget/sentiment"
)

// TestScore_ChatPhrases scores real chat phrases: plain praise and
// complaints, questions, negation, emoji, shouting and other languages.
func TestScore_ChatPhrases(t *testing.T) {
	const (
		pos = storage.SentimentPositive
		neu = storage.SentimentNeutral
		neg = storage.SentimentNegative
		unk = storage.SentimentUnknown
	)
	tests := []struct {
		text, lang, want string
	}{
		{"Thanks, that was really helpful :)", "en", pos},
		{"Great service, love it!", "en-GB", pos},
		{"you guys are awesome", "", pos},
		{"How much does it cost?", "en", neu},
		{"can I talk to a human", "en", neu},
		{"I hate this bot", "en", neg},
		{"I'm really frustrated", "en-US", neg},
		// Negation turns the word around.
		{"this is not good", "en", neg},
		{"I'm not happy", "en", neg},
		{"not bad at all", "en", pos},
		{"Nope, that did not help", "en", neg},
		// Emoji carry their own valence.
		{"😊", "en", pos},
		{"😢", "en", neg},
		{"ok 😞", "en", neg},
		{"love it 😍", "en", pos},
		// Shouting: capitals and exclamation marks stay negative (and
		// grow: TestScore_Shouting).
		{"This is TERRIBLE!!!", "en", neg},
		{"This is useless, I just want to talk to someone!!!", "en", neg},
		// Another language is not guessed.
		{"Das ist schrecklich", "de", unk},
		{"C'est génial, merci !", "fr-FR", unk},
		{"great", "es", unk},
		{"¡Qué mal servicio!", "es_MX", unk},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			got := sentiment.Score(tt.text, tt.lang, time.Time{})
			if got.Label != tt.want {
				t.Errorf("Score(%q, %q) = %s (%.4f), want %s", tt.text, tt.lang, got.Label, got.Score, tt.want)
			}
			if got.Score < -1 || got.Score > 1 || (got.Label == unk && got.Score != 0) {
				t.Errorf("score %v out of range", got.Score)
			}
		})
	}
}

// TestScore_Shouting checks that capitals and "!!!" make a negative text
// more negative, so shouting can make a session negative on its own.
func TestScore_Shouting(t *testing.T) {
	calm := sentiment.Score("this is terrible", "en", time.Time{}).Score
	caps := sentiment.Score("this is TERRIBLE", "en", time.Time{}).Score
	loud := sentiment.Score("this is TERRIBLE!!!", "en", time.Time{}).Score
	if !(loud < caps && caps < calm && calm < 0) {
		t.Errorf("calm %.4f, caps %.4f, caps with !!! %.4f: want each more negative", calm, caps, loud)
	}
	if loud > -0.5 {
		t.Errorf("shouted complaint %.4f: want strongly negative (≤ -0.5)", loud)
	}
}

func TestEnglish(t *testing.T) {
	for lang, want := range map[string]bool{
		"": true, "en": true, "EN": true, "en-GB": true, "en_US": true, " en ": true,
		"de": false, "de-CH": false, "fr": false, "eng": false, "es-419": false, "zh-Hans-CN": false,
	} {
		if got := sentiment.English(lang); got != want {
			t.Errorf("English(%q) = %v, want %v", lang, got, want)
		}
	}
}

// TestAdd checks the session rule: any strongly negative text flags the
// session, else the mean decides; texts in another language count for
// nothing.
func TestAdd(t *testing.T) {
	s := func(label string, score float64) storage.Sentiment {
		return storage.Sentiment{Label: label, Score: score}
	}
	pos, neu, neg, unk := storage.SentimentPositive, storage.SentimentNeutral, storage.SentimentNegative, storage.SentimentUnknown
	tests := []struct {
		name  string
		texts []storage.Sentiment
		want  string
		mean  float64
	}{
		{"OnePositive", []storage.Sentiment{s(pos, 0.6)}, pos, 0.6},
		{"MildComplaintThenThanks", []storage.Sentiment{s(neg, -0.3), s(pos, 0.44)}, pos, 0.07},
		{"MeanNeutral", []storage.Sentiment{s(neg, -0.3), s(pos, 0.3), s(neu, 0)}, neu, 0},
		{"MeanNegative", []storage.Sentiment{s(neg, -0.3), s(neu, 0)}, neg, -0.15},
		{"StronglyNegativeFlags", []storage.Sentiment{s(pos, 0.9), s(neg, -0.6), s(pos, 0.9), s(pos, 0.9)}, neg, 0.525},
		{"OnlyAnotherLanguage", []storage.Sentiment{s(unk, 0), s(unk, 0)}, unk, 0},
		{"AnotherLanguageCountsForNothing", []storage.Sentiment{s(unk, 0), s(pos, 0.5)}, pos, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *storage.SessionSentiment
			for i, x := range tt.texts {
				x.At = time.Unix(int64(i), 0)
				prev := got
				got = sentiment.Add(got, x)
				if prev != nil && prev == got {
					t.Fatal("Add changed its argument")
				}
				if got.Last != x {
					t.Errorf("last expression %+v, want %+v", got.Last, x)
				}
			}
			if got.Label != tt.want || got.Mean != tt.mean {
				t.Errorf("session %s (mean %v), want %s (mean %v)", got.Label, got.Mean, tt.want, tt.mean)
			}
		})
	}
}

func TestObserve(t *testing.T) {
	var st storage.State
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := storage.Message{From: storage.FromVisitor, Kind: storage.KindText, At: at, Text: "I hate this bot"}
	sentiment.Observe(&st, &m, "en")
	if m.Sentiment == nil || m.Sentiment.Label != storage.SentimentNegative || !m.Sentiment.At.IsZero() {
		t.Errorf("message sentiment %+v", m.Sentiment)
	}
	if st.Sentiment == nil || st.Sentiment.Label != storage.SentimentNegative || !st.Sentiment.Last.At.Equal(at) {
		t.Errorf("session sentiment %+v", st.Sentiment)
	}
}

// FuzzScore feeds the model whatever a visitor may type: it must never
// panic (it runs on the turn's path), and its answers stay in range.
func FuzzScore(f *testing.F) {
	for _, s := range []string{"", " ", "I'm NOT happy!!! 😡😡", "but but but", "kind of", "least", "no no no", "😊😢", "\xff\xfe", "ALL CAPS", "?!?!", strings.Repeat("very ", 300) + "bad"} {
		f.Add(s, "en")
	}
	f.Add("schrecklich", "de-AT")
	f.Fuzz(func(t *testing.T, text, lang string) {
		s := sentiment.Score(text, lang, time.Time{})
		switch s.Label {
		case storage.SentimentPositive, storage.SentimentNeutral, storage.SentimentNegative, storage.SentimentUnknown:
		default:
			t.Fatalf("label %q", s.Label)
		}
		if math.IsNaN(s.Score) || s.Score < -1 || s.Score > 1 {
			t.Fatalf("score %v", s.Score)
		}
		st := sentiment.Add(sentiment.Add(nil, s), s)
		if math.IsNaN(st.Mean) || st.Mean < -1 || st.Mean > 1 || st.Min > st.Mean {
			t.Fatalf("session %+v", st)
		}
	})
}
