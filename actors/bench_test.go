package actors

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
)

// BenchmarkDurableHold measures holds through the section actor with durability on: every
// hold is in the SQLite journal (synchronous=FULL) before its caller gets the answer.
// Each hold is one GA place for a distinct buyer in one section, so every operation is a
// real, journaled change. Reports holds/s and p50/p99 latency.
func BenchmarkDurableHold(b *testing.B) {
	for _, callers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			e := newEnv(b, 1<<30, 1<<20)
			e.eng.Close()
			e.startWith(b, e.db, func(c *Config) { c.SnapshotEvery = 0 })
			benchHolds(b, e.eng, callers, func(i int) ticketview.HoldCommand {
				return ticketview.HoldCommand{Section: sid("floor"), Owner: "buyer-" + strconv.Itoa(i), Quantity: 1}
			})
		})
	}
}

func benchHolds(b *testing.B, eng *Engine, callers int, cmd func(i int) ticketview.HoldCommand) {
	ctx := context.Background()
	var next atomic.Int64
	lat := make([][]time.Duration, callers)
	var errs atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if _, err := eng.Hold(ctx, cmd(i)); err != nil {
					errs.Add(1)
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if errs.Load() > 0 {
		b.Fatalf("%d holds failed", errs.Load())
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "holds/s")
	if st := eng.Stats(); st.Commits > 0 {
		b.ReportMetric(float64(st.CommittedEvents)/float64(st.Commits), "events/commit")
	}
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-us")
}
