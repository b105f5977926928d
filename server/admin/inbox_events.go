package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// sseHeartbeat is how often an idle event stream says something, so
// proxies keep it open and a dead console is noticed.
const sseHeartbeat = 15 * time.Second

// streamInbox serves GET /admin/api/inbox/events: Server-Sent Events of
// the live conversations, each {"type","session","status",…} as the
// widget's Event: "changed" (reload the entry), "typing" (the visitor
// types) and "goal". The browser's EventSource reconnects by itself
// ("retry" asks for 1 s); it lists the inbox again on every (re)connect,
// since events missed while away are not replayed.
func (a *Admin) streamInbox(w http.ResponseWriter, r *http.Request) {
	if !a.live(w, r) {
		return
	}
	// Through any middleware's writer that unwraps to one that flushes.
	rc := http.NewResponseController(w)
	events, stop := a.liveOpts.Subscribe()
	defer stop()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 1000\n: connected\n\n")
	if err := rc.Flush(); err != nil {
		return // this writer cannot stream; the console falls back to reconnecting
	}
	beat := time.NewTicker(sseHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-a.done:
			return
		case <-beat.C:
			fmt.Fprint(w, ": ping\n\n")
		case ev, ok := <-events:
			if !ok {
				return
			}
			b, _ := json.Marshal(ev)
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, b)
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
