//go:build unix

package widget_test

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/parley-chat/parley/widget"
	"github.com/parley-chat/parley/widget/widgettest"
)

// diskUse is the bytes the files under dir take on disk; Badger's files
// are sparse, so their sizes say nothing.
func diskUse(tb testing.TB, dir string) int64 {
	tb.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += fi.Sys().(*syscall.Stat_t).Blocks * 512
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// storeWrites is the turns the gateway has written to the store.
func storeWrites(tb testing.TB, gw *widget.Gateway) int64 {
	tb.Helper()
	_, n, _ := gw.Stats.StoreWrites() // parley_store_write_seconds_count in /metrics
	return int64(n)
}

// variablesFrame is 50 new host variables of 130 bytes each, named after n.
func variablesFrame(n int) map[string]string {
	vars := make(map[string]string, 50)
	for i := range 50 {
		vars[fmt.Sprintf("k%d_%d", n, i)] = strings.Repeat("v", 130)
	}
	return vars
}

func TestHostVariables_Bounded(t *testing.T) {
	// The attack of issue 11: sockets sending frames of 50 new keys, each
	// frame within the per-frame limit. The session keeps at most the
	// bound; every frame past it is refused and writes nothing, so the data
	// directory stays small; another visitor's turns go on meanwhile.
	const sockets, frames = 4, 60
	e := mustEnv(t, widget.Config{MsgRate: -1})
	before := diskUse(t, e.dir)

	sessions := make([]string, sockets)
	refused := make([]int, sockets)
	var wg sync.WaitGroup
	for s := range sockets {
		c := e.dial(widgettest.NewJar())
		sessions[s] = c.MustHello(widgettest.Hello{}).Session
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range frames {
				c.MustVariables(variablesFrame(s*frames + n))
			}
			c.MustText("done", "done")
			for {
				f := c.Next()
				if f.Type == "error" {
					if f.Code != "too_many_variables" {
						t.Errorf("error %+v, want too_many_variables", f)
					}
					refused[s]++
				}
				if f.Type == "ack" && f.Ref == "done" {
					return
				}
			}
		}()
	}

	// A second visitor talks while the attack runs.
	other := e.dial(widgettest.NewJar())
	other.MustHello(widgettest.Hello{})
	other.ExpectPrompt()
	other.MustChoice("o1", "menu", "demo")
	if ack := other.Expect("ack"); ack.Ref != "o1" {
		t.Fatalf("the other visitor's ack = %+v", ack)
	}
	wg.Wait()

	for s, id := range sessions {
		sess, err := e.store.Session(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		size := 0
		for k, v := range sess.State.HostVariables {
			size += len(k) + len(v)
		}
		// 100 names: two frames fit (13,800 bytes), the rest are refused.
		if n := len(sess.State.HostVariables); n != 100 || size > 16<<10 {
			t.Errorf("session %d keeps %d host variables of %d bytes, want 100 within 16 KiB", s, n, size)
		}
		if refused[s] != frames-2 {
			t.Errorf("socket %d: %d frames refused, want %d", s, refused[s], frames-2)
		}
	}
	grown := diskUse(t, e.dir) - before
	t.Logf("the data directory grew by %d bytes", grown)
	if grown > 8<<20 {
		t.Fatalf("the data directory grew by %d bytes during the attack, want under 8 MiB", grown)
	}
}

func TestHostVariables_IdenticalFramesWriteNothing(t *testing.T) {
	e := mustEnv(t, widget.Config{MsgRate: -1})
	c := e.dial(widgettest.NewJar())
	c.MustHello(widgettest.Hello{})
	c.ExpectPrompt()
	vars := map[string]string{"plan": "pro", "seats": "12"}
	c.MustVariables(vars)
	c.MustText("t1", "sync")
	for c.Next().Type != "ack" {
	}
	writes := storeWrites(t, e.gw)

	// The widget sends its variables again after every welcome: the same
	// values, over and over, must not rewrite the session.
	for range 50 {
		c.MustVariables(vars)
	}
	c.MustVariables(map[string]string{"plan": "pro"})
	c.MustText("t2", "sync")
	for c.Next().Type != "ack" {
	}
	if got := storeWrites(t, e.gw) - writes; got != 1 {
		t.Fatalf("%d store writes for 51 unchanged variables frames and one text, want 1 (the text)", got)
	}

	// A changed value is stored.
	c.MustVariables(map[string]string{"plan": "team"})
	c.MustText("t3", "sync")
	for c.Next().Type != "ack" {
	}
	if got := storeWrites(t, e.gw) - writes; got != 3 {
		t.Fatalf("%d store writes after a change, want 3", got)
	}
}
