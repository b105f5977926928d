package story

// Order returns the story's block IDs in the order a visitor meets them:
// breadth first from the start (each block's next, branches and options
// in the order written), then the fallback's, then any block nothing
// leads to, as written. Reports list blocks in it (the funnel).
func (s *Story) Order() []string {
	seen := make(map[string]bool, len(s.Blocks))
	var out []string
	for _, from := range []string{s.Start, s.Fallback} {
		queue := []string{from}
		for len(queue) > 0 {
			id := queue[0]
			queue = queue[1:]
			b := s.byID[id]
			if b == nil || seen[id] {
				continue
			}
			seen[id] = true
			out = append(out, id)
			queue = append(queue, b.Next, b.Then, b.Else)
			for _, o := range options(b) {
				queue = append(queue, o.Next)
			}
		}
	}
	for _, b := range s.Blocks {
		if !seen[b.ID] {
			out = append(out, b.ID)
		}
	}
	return out
}
