package storetest

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	ticketview "github.com/ticketview/ticketview"
)

// Appender is a store the append benchmarks can drive.
type Appender interface {
	ticketview.SectionStore
	ticketview.AsyncAppender
}

// BenchmarkAppend measures a store's group commit with 64 goroutines appending one event
// at a time:
//
//	pipelined-8sections: 8 sections, each goroutine with one AppendAsync in flight
//	pipelined-8sections-depth4: the same with 4 in flight per goroutine
//	sync-64sections: a section per goroutine, plain Append
//	sync-8sections: 8 sections shared, a section's appends serialized by a lock
//	sequential: one goroutine, one section: the commit latency (no batching possible)
//
// commits reports the store's group commits and the requests in them so far, so that the
// mean batch size is reported as appends/commit.
func BenchmarkAppend(b *testing.B, open func(b *testing.B) Appender, commits func(Appender) (n, requests uint64)) {
	b.Run("pipelined-8sections", func(b *testing.B) { benchAppend(b, open(b), commits, 8, 1, true) })
	b.Run("pipelined-8sections-depth4", func(b *testing.B) { benchAppend(b, open(b), commits, 8, 4, true) })
	b.Run("sync-64sections", func(b *testing.B) { benchAppend(b, open(b), commits, 64, 1, false) })
	b.Run("sync-8sections", func(b *testing.B) { benchAppend(b, open(b), commits, 8, 1, false) })
	b.Run("sequential", func(b *testing.B) {
		s := open(b)
		id := NewSectionID()
		epoch := benchActivate(b, s, id)
		ev := SampleEvents(1, 1, BaseTime)[0]
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			e := ev
			e.Seq = uint64(i + 1)
			if err := s.Append(context.Background(), id, epoch, []ticketview.SectionEvent{e}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

func benchActivate(b *testing.B, s ticketview.SectionStore, id ticketview.SectionID) uint64 {
	b.Helper()
	epoch, _, _, err := s.Activate(context.Background(), id)
	if err != nil {
		b.Fatal(err)
	}
	return epoch
}

func benchAppend(b *testing.B, s Appender, commits func(Appender) (uint64, uint64), sections, depth int, pipelined bool) {
	const goroutines = 64
	ctx := context.Background()
	type section struct {
		mu    sync.Mutex
		id    ticketview.SectionID
		epoch uint64
		next  uint64
	}
	secs := make([]*section, sections)
	for i := range secs {
		sec := &section{id: NewSectionID(), next: 1}
		sec.epoch = benchActivate(b, s, sec.id)
		secs[i] = sec
	}
	ev := SampleEvents(1, 1, BaseTime)[0]
	var gid atomic.Int64
	n0, r0 := commits(s)
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((goroutines + procs - 1) / procs)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		sec := secs[int(gid.Add(1)-1)%sections]
		var inflight []func() error
		for pb.Next() {
			sec.mu.Lock()
			e := ev
			e.Seq = sec.next
			sec.next++
			if !pipelined {
				err := s.Append(ctx, sec.id, sec.epoch, []ticketview.SectionEvent{e})
				sec.mu.Unlock()
				if err != nil {
					b.Error(err)
					return
				}
				continue
			}
			inflight = append(inflight, s.AppendAsync(ctx, sec.id, sec.epoch, []ticketview.SectionEvent{e}))
			sec.mu.Unlock()
			if len(inflight) == depth {
				if err := inflight[0](); err != nil {
					b.Error(err)
					return
				}
				inflight = inflight[1:]
			}
		}
		for _, wait := range inflight {
			if err := wait(); err != nil {
				b.Error(err)
			}
		}
	})
	b.StopTimer()
	n1, r1 := commits(s)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if n := n1 - n0; n > 0 {
		b.ReportMetric(float64(r1-r0)/float64(n), "appends/commit")
	}
}
