package postgres

import (
	"sync"
	"time"
)

// idleSweep is SweepIdle's position between calls: a pass over the
// sessions from the watermark to now can take several calls.
type idleSweep struct {
	mu    sync.Mutex
	began time.Time // the now of the pass's first call; zero: no pass begun
	at    time.Time // the last session looked at in the current pass
	id    string
}
