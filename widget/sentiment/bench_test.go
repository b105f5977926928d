package sentiment_test

import (
	"testing"
	"time"

	"github.com/parley-chat/parley/widget/sentiment"
)

// BenchmarkScore measures one visitor text's scoring: what a text turn adds
// to the ack's path.
func BenchmarkScore(b *testing.B) {
	texts := []string{
		"hi",
		"How much does the pro plan cost per month?",
		"This is NOT working at all, I have been waiting for 20 minutes!!! 😡",
		"Thanks, that was really helpful :)",
	}
	sentiment.Score("warm up", "en", time.Time{})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sentiment.Score(texts[i%len(texts)], "en", time.Time{})
	}
}
