package storage

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkGaps times a Knowledge gaps report over 20,000 unanswered
// texts: ns per report, and per text read.
func BenchmarkGaps(b *testing.B) {
	s := openQueryStore(b)
	ctx := context.Background()
	texts := []string{"Pricing?", "pricing", "How do I reset my password?", "Do you ship to Austria?", "can I pay cash", "WHERE IS MY ORDER"}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const sessions, perSession = 10000, 2
	wb := s.DB().NewWriteBatch()
	for i := range sessions {
		sess := &Session{ID: NewID(at.Add(time.Duration(i) * time.Minute)), Site: "demo", Bot: "demo"}
		for j := range perSession {
			sess.Gaps = append(sess.Gaps, Gap{At: at.Add(time.Duration(i)*time.Minute + time.Duration(j)*time.Second), Text: fmt.Sprintf("%s %d", texts[(i+j)%len(texts)], i%50)})
		}
		if err := indexGaps(wb, nil, sess); err != nil {
			b.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		rep, err := s.Gaps(ctx, GapQuery{})
		if err != nil || rep.Texts != sessions*perSession {
			b.Fatalf("%+v %v", rep.Texts, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(sessions*perSession), "ns/text")
}
