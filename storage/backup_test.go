package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// backup returns a backup of s from since on.
func backup(tb testing.TB, s *storage.Store, since uint64) ([]byte, storage.BackupInfo) {
	tb.Helper()
	var buf bytes.Buffer
	info, err := s.Backup(&buf, storage.BackupHeader{Since: since, CreatedAt: lcDay, Files: map[string][]byte{"visitor.key": []byte("k1 00ff\n")}})
	if err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes(), info
}

// restore loads backups, in order, into a new store.
func restore(tb testing.TB, backups ...[]byte) *storage.Store {
	tb.Helper()
	s, _ := MustOpen(tb)
	for _, b := range backups {
		br, err := storage.NewBackupReader(bytes.NewReader(b))
		if err != nil {
			tb.Fatal(err)
		}
		if err := s.LoadBackup(br); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

// assertSameStore compares every key and value of two stores.
func assertSameStore(tb testing.TB, got, want *storage.Store) {
	tb.Helper()
	g, w := dumpStore(tb, got), dumpStore(tb, want)
	for k, v := range w {
		if gv, ok := g[k]; !ok {
			tb.Errorf("key %q missing from the restored store", k)
		} else if !bytes.Equal(gv, v) {
			tb.Errorf("key %q: value differs", k)
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			tb.Errorf("key %q is in the restored store only", k)
		}
	}
	if len(w) == 0 {
		tb.Error("nothing to compare")
	}
}

func TestBackup_RestoreEqual(t *testing.T) {
	src, _ := MustOpen(t)
	ctx := context.Background()
	a := lcSeed(t, src, "demo", lcDay, "Ada", "ada@example.org", 2, true)
	lcSeed(t, src, "demo", lcDay.Add(time.Hour), "Bob", "bob@example.org", 1, true)
	full, info := backup(t, src, 0)
	if info.Since != 0 || info.Version == 0 || string(info.Files["visitor.key"]) != "k1 00ff\n" {
		t.Errorf("full backup info %+v", info)
	}
	assertSameStore(t, restore(t, full), src)

	t.Run("Incremental", func(t *testing.T) {
		// New data, changed records and a deletion after the full backup.
		lcSeed(t, src, "demo", lcDay.Add(2*time.Hour), "Cy", "cy@example.org", 1, true)
		if _, err := src.EraseVisitor(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		incr, info2 := backup(t, src, info.Version)
		if info2.Since != info.Version || info2.Version <= info.Version {
			t.Errorf("incremental info %+v after %+v", info2, info)
		}
		if len(incr) >= len(full) {
			t.Errorf("incremental backup is %d bytes, the full one %d: want it smaller", len(incr), len(full))
		}
		got := restore(t, full, incr)
		assertSameStore(t, got, src)
		assertGone(t, got, a, nil)
		assertSound(t, got)

		// Nothing changed: an empty incremental keeps the version.
		empty, info3 := backup(t, src, info2.Version)
		if info3.Version != info2.Version {
			t.Errorf("empty incremental: version %d, want %d", info3.Version, info2.Version)
		}
		assertSameStore(t, restore(t, full, incr, empty), src)
	})
}

func TestBackup_Damaged(t *testing.T) {
	src, _ := MustOpen(t)
	lcSeed(t, src, "demo", lcDay, "Ada", "ada@example.org", 1, true)
	good, _ := backup(t, src, 0)
	if _, err := storage.VerifyBackup(bytes.NewReader(good)); err != nil {
		t.Fatalf("good backup: %v", err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	tests := map[string][]byte{
		"Empty":      nil,
		"NotABackup": []byte("SQLite format 3\x00 and so on"),
		"CutShort":   good[:len(good)*2/3],
		"NoTrailer":  good[:bytes.LastIndexByte(good[:len(good)-1], '\n')+1],
		"Flipped":    flipped,
		"Appended":   append(bytes.Clone(good), "more"...),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := storage.VerifyBackup(bytes.NewReader(b)); !errors.Is(err, storage.ErrBadBackup) {
				t.Errorf("VerifyBackup: %v, want ErrBadBackup", err)
			}
		})
	}
}

// TestBackup_OnlineSnapshot backs up while turns are being written: the
// restored store is one consistent snapshot (every turn whole).
func TestBackup_OnlineSnapshot(t *testing.T) {
	src, _ := MustOpen(t)
	ctx := context.Background()
	var sessions []string
	for i := 0; i < 4; i++ {
		v := lcSeed(t, src, "demo", lcDay.Add(time.Duration(i)*time.Minute), "W", fmt.Sprintf("w%d@example.org", i), 1, false)
		sessions = append(sessions, v.Sessions[0])
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i, sid := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				cid := fmt.Sprintf("b%d-%d", i, n)
				at := lcDay.Add(time.Hour + time.Duration(n)*time.Millisecond)
				_, _, _, err := src.RecordTurn(ctx, &storage.Turn{SessionID: sid, ClientID: cid, Messages: []storage.Message{
					{From: storage.FromVisitor, Kind: storage.KindText, At: at, Text: "busy", ClientID: cid},
					{From: storage.FromBot, Kind: storage.KindBot, At: at, Text: "ok"},
				}})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	time.Sleep(30 * time.Millisecond)
	var backups [][]byte
	for i := 0; i < 3; i++ {
		b, _ := backup(t, src, 0)
		backups = append(backups, b)
	}
	stop.Store(true)
	wg.Wait()
	for _, b := range backups {
		got := restore(t, b)
		if r := assertSound(t, got); r.Messages == 0 {
			t.Error("empty snapshot")
		}
	}
}
