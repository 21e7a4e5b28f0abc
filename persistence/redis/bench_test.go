package redis_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/redis"
	"github.com/ticketview/ticketview/persistence/storetest"
)

// reportLatency reports the p50 and p99 of per-call durations.
func reportLatency(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkCachedAvailability reads a 2,400-seat section (40 rows of 60): counts only,
// and with every seat.
func BenchmarkCachedAvailability(b *testing.B) {
	c := openTest(b, redis.Options{})
	ctx := testCtx(b)
	id := storetest.NewSectionID()
	a := storetest.SampleAvailability(id, 1, 40, 60)
	if err := c.PutAvailability(ctx, a); err != nil {
		b.Fatal(err)
	}
	for _, withSeats := range []bool{false, true} {
		name := "counts"
		if withSeats {
			name = "with-2400-seats"
		}
		b.Run(name, func(b *testing.B) {
			lat := make([]time.Duration, 0, min(b.N, 1<<20))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				got, err := c.CachedAvailability(ctx, id, withSeats)
				if err != nil || got.Seq != 1 {
					b.Fatalf("%+v, %v", got.Seq, err)
				}
				if len(lat) < cap(lat) {
					lat = append(lat, time.Since(start))
				}
			}
			b.StopTimer()
			reportLatency(b, lat)
		})
	}
}

// BenchmarkCachedAvailabilityParallel reads counts from 8 sections with 16 readers
// per GOMAXPROCS, as gateways under load do.
func BenchmarkCachedAvailabilityParallel(b *testing.B) {
	c := openTest(b, redis.Options{})
	ctx := testCtx(b)
	ids := make([]ticketview.SectionID, 8)
	for i := range ids {
		ids[i] = storetest.NewSectionID()
		if err := c.PutAvailability(ctx, storetest.SampleAvailability(ids[i], 1, 40, 60)); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := ids[next.Add(1)%int64(len(ids))]
		for pb.Next() {
			if _, err := c.CachedAvailability(ctx, id, false); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}

// deltaSource makes consecutive deltas of one 2,400-seat section, each changing two
// seats, in commits of 4 deltas that share their counts, as the engine sends them.
type deltaSource struct {
	id     ticketview.SectionID
	labels []string
	seq    uint64
	cats   []ticketview.CategoryAvailability
}

func newDeltaSource(b *testing.B, c *redis.Client) *deltaSource {
	id := storetest.NewSectionID()
	a := storetest.SampleAvailability(id, 1, 40, 60)
	if err := c.PutAvailability(testCtx(b), a); err != nil {
		b.Fatal(err)
	}
	s := &deltaSource{id: id, seq: 1, cats: a.Categories}
	for _, seat := range a.Seats {
		s.labels = append(s.labels, seat.Label)
	}
	return s
}

func (s *deltaSource) next(out []ticketview.SeatDelta, n int) []ticketview.SeatDelta {
	for range n {
		i := int(s.seq*2) % len(s.labels)
		if s.seq%4 == 1 {
			cats := slices.Clone(s.cats)
			cats[0].Free, cats[0].Held = cats[0].Free-1, cats[0].Held+1
			s.cats = cats
		}
		out = append(out, ticketview.SeatDelta{Section: s.id, Seq: s.seq + 1, Prev: s.seq,
			Seats: s.labels[i : i+2], Status: ticketview.SeatStatus(s.seq % 3), Categories: s.cats})
		s.seq++
	}
	return out
}

// BenchmarkApplyDeltas applies batches of 64 deltas: from one section, and spread over 8
// (8 deltas each, one script call per section, all in one pipeline); then 8 appliers
// at once, each with its own 8 sections.
func BenchmarkApplyDeltas(b *testing.B) {
	const batch = 64
	for _, sections := range []int{1, 8} {
		b.Run(fmt.Sprintf("batch64-%dsections", sections), func(b *testing.B) {
			c := openTest(b, redis.Options{})
			ctx := testCtx(b)
			srcs := make([]*deltaSource, sections)
			for i := range srcs {
				srcs[i] = newDeltaSource(b, c)
			}
			deltas := make([]ticketview.SeatDelta, 0, batch)
			lat := make([]time.Duration, 0, min(b.N, 1<<20))
			b.ResetTimer()
			for range b.N {
				deltas = deltas[:0]
				for _, s := range srcs {
					deltas = s.next(deltas, batch/sections)
				}
				start := time.Now()
				stale, err := c.ApplyDeltas(ctx, deltas)
				if err != nil || len(stale) > 0 {
					b.Fatalf("stale %v, %v", stale, err)
				}
				if len(lat) < cap(lat) {
					lat = append(lat, time.Since(start))
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "deltas/s")
			reportLatency(b, lat)
		})
	}
	b.Run("batch64-8sections-8appliers", func(b *testing.B) {
		c := openTest(b, redis.Options{})
		ctx := testCtx(b)
		const appliers = 8
		srcs := make([][]*deltaSource, appliers)
		for g := range srcs {
			for range 8 {
				srcs[g] = append(srcs[g], newDeltaSource(b, c))
			}
		}
		var wg sync.WaitGroup
		var done atomic.Int64
		b.ResetTimer()
		for g := range appliers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				deltas := make([]ticketview.SeatDelta, 0, batch)
				for done.Add(1) <= int64(b.N) {
					deltas = deltas[:0]
					for _, s := range srcs[g] {
						deltas = s.next(deltas, batch/8)
					}
					if stale, err := c.ApplyDeltas(ctx, deltas); err != nil || len(stale) > 0 {
						b.Errorf("stale %v, %v", stale, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "deltas/s")
	})
}

// BenchmarkIncr is one rate-limit check.
func BenchmarkIncr(b *testing.B) {
	c := openTest(b, redis.Options{})
	ctx := testCtx(b)
	b.ResetTimer()
	for i := range b.N {
		if _, _, err := c.Incr(ctx, fmt.Sprintf("user-%d", i%1000), 1, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}
