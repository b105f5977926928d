package loadtest

import (
	"context"
	"strconv"
	"time"

	"github.com/parley-chat/parley/widget/widgettest"
)

// Stalled is what became of the visitors that stopped reading.
type Stalled struct {
	Count    int   `json:"count"`
	Sent     int64 `json:"sent"`
	Dropped  int   `json:"dropped"`           // their socket failed before the end of the run
	ServerSD int64 `json:"serverSlowDropped"` // the server's parley_slow_clients_dropped_total grew by this
}

// stalledVisitor says hello, reads its welcome, and never reads again.
type stalledVisitor struct {
	ws   *widgettest.Conn
	stop chan struct{}
	done chan struct{}
}

// stall connects o.Stalled visitors that stop reading after their welcome
// and send at StalledRate until their socket fails or the run ends.
func (r *run) stall(ctx context.Context) []*stalledVisitor {
	var out []*stalledVisitor
	for i := range r.o.Stalled {
		ctx, cancel := context.WithTimeout(context.WithValue(ctx, stalledKey{}, true), r.o.Timeout)
		if src := r.source(r.o.Visitors + i); src != "" {
			ctx = context.WithValue(ctx, sourceKey{}, src)
		}
		ws, _, err := widgettest.Dial(ctx, r.url, widgettest.Options{Origin: r.o.Origin, HTTPClient: r.client})
		if err == nil {
			err = ws.SendHello(ctx, widgettest.Hello{})
		}
		if err == nil {
			_, err = ws.Read(ctx) // the welcome, and nothing after it
		}
		cancel()
		if err != nil {
			r.countError("stalled_" + failure(err))
			if ws != nil {
				ws.CloseNow()
			}
			continue
		}
		sv := &stalledVisitor{ws: ws, stop: make(chan struct{}), done: make(chan struct{})}
		go sv.send(r, i)
		out = append(out, sv)
	}
	return out
}

func (sv *stalledVisitor) send(r *run, n int) {
	defer close(sv.done)
	t := time.NewTicker(time.Duration(float64(time.Second) / r.o.StalledRate))
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-sv.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.o.Timeout)
		err := sv.ws.Text(ctx, "s"+strconv.Itoa(i), "are you there? I am not reading ("+strconv.Itoa(n)+")")
		cancel()
		r.mu.Lock()
		if err != nil {
			if !r.stopping.Load() {
				r.stalled.Dropped++
			}
			r.mu.Unlock()
			return
		}
		r.stalled.Sent++
		r.mu.Unlock()
	}
}

func (sv *stalledVisitor) close() {
	close(sv.stop)
	sv.ws.CloseNow()
	<-sv.done
}
