package fileupload

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/storage"
)

// benchSize is the file of the upload benchmarks: 100 MB.
const benchSize = 100_000_000

// Run both benchmarks together, so the baseline is measured in the same
// run on the same machine:
//
//	go test -run NONE -bench '100MB' -benchtime 5x ./fileupload

// BenchmarkUpload100MB streams a 100 MB multipart body through the upload
// handler into each engine's store (Badger on disk, PostgreSQL; the limit
// raised for it), and reports the throughput and the peak heap while it
// runs.
func BenchmarkUpload100MB(b *testing.B) {
	for _, eng := range engines {
		b.Run(eng.name, func(b *testing.B) { benchmarkUpload(b, eng) })
	}
}

func benchmarkUpload(b *testing.B, eng engine) {
	e := newEngineEnv(b, eng, Limits{Quota: storage.Quota{Files: -1, Bytes: -1}}, storage.Options{})
	e.sessions.max = benchSize
	const boundary = "benchmarkboundary"
	ct := "multipart/form-data; boundary=" + boundary
	length := bodyLen(benchSize, boundary)
	peak := startHeapPeak()
	b.SetBytes(benchSize)
	b.ResetTimer()
	for range b.N {
		r := e.request(bodyOf(benchSize, boundary), ct)
		r.ContentLength = length
		w := httptest.NewRecorder()
		e.h.Upload(w, r)
		if w.Code != 201 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		b.StopTimer()
		a := answerOf(b, w)
		if a.Size != benchSize {
			b.Fatalf("stored %d bytes", a.Size)
		}
		if err := e.files.Delete(context.Background(), a.ID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	heap, idle := peak()
	b.ReportMetric(float64(heap)/1e6, "peak-heap-MB")
	b.ReportMetric(float64(heap-min(heap, idle))/1e6, "heap-over-idle-MB")
}

// BenchmarkCopyDiscard100MB is the baseline: the same body, copied to
// io.Discard.
func BenchmarkCopyDiscard100MB(b *testing.B) {
	const boundary = "benchmarkboundary"
	peak := startHeapPeak()
	b.SetBytes(benchSize)
	b.ResetTimer()
	for range b.N {
		n, err := io.Copy(io.Discard, bodyOf(benchSize, boundary))
		if err != nil || n != bodyLen(benchSize, boundary) {
			b.Fatalf("copied %d bytes: %v", n, err)
		}
	}
	b.StopTimer()
	heap, idle := peak()
	b.ReportMetric(float64(heap)/1e6, "peak-heap-MB")
	b.ReportMetric(float64(heap-min(heap, idle))/1e6, "heap-over-idle-MB")
}

func answerOf(tb testing.TB, w *httptest.ResponseRecorder) answer {
	tb.Helper()
	var a answer
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
		tb.Fatal(err)
	}
	return a
}

// startHeapPeak samples the live heap every millisecond (runtime/metrics
// reads it without stopping the world) until the returned func is
// called; that returns the peak and the heap after a GC at the start.
func startHeapPeak() (stop func() (peak, idle uint64)) {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	idle := s[0].Value.Uint64()
	var mu sync.Mutex
	peak := idle
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				metrics.Read(s)
				mu.Lock()
				peak = max(peak, s[0].Value.Uint64())
				mu.Unlock()
			}
		}
	}()
	return func() (uint64, uint64) {
		close(done)
		wg.Wait()
		return peak, idle
	}
}
