package storage

// The sessions dashboard's insight facets (index.go's is/ lists): the
// session's sentiment label, and whether a visitor text went unanswered.
const facetUnanswered = "gap"

func (s *Session) insightFacets() []string {
	var f []string
	if st := s.State.Sentiment; st != nil {
		f = append(f, facet("snt", st.Label))
	}
	if s.State.UnansweredCount > 0 {
		f = append(f, facetUnanswered)
	}
	return f
}

func sentimentLabel(s *Session) string {
	if s.State.Sentiment == nil {
		return ""
	}
	return s.State.Sentiment.Label
}

func sameInsightFacets(old, next *Session) bool {
	return sentimentLabel(old) == sentimentLabel(next) && (old.State.UnansweredCount > 0) == (next.State.UnansweredCount > 0)
}
