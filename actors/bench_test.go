package actors

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
)

// BenchmarkDurableHold measures holds through the section actor with durability on: every
// hold is in the journal (the append-only journal file with fdatasync, or SQLite with
// synchronous=FULL) before its caller gets the answer.
// Each hold is one GA place for a distinct buyer in one section, so every operation is a
// real, journaled change. Reports holds/s and p50/p99 latency.
func BenchmarkDurableHold(b *testing.B) {
	testSnapshotEvery = 0
	defer func() { testSnapshotEvery = 50 }()
	for _, journal := range journals {
		for _, callers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("journal=%s/callers=%d", journal, callers), func(b *testing.B) {
				e := newEnvWith(b, journal, 1<<30, 1<<20)
				benchHolds(b, e.eng, callers, func(i int) ticketview.HoldCommand {
					return ticketview.HoldCommand{Section: sid("floor"), Owner: "buyer-" + strconv.Itoa(i), Quantity: 1}
				})
			})
		}
	}
}

// BenchmarkDurableHoldSections is the same load from 64 callers spread over the 8
// general-admission sections of one event, as a flash sale spreads over a venue.
func BenchmarkDurableHoldSections(b *testing.B) {
	testSnapshotEvery = 0
	defer func() { testSnapshotEvery = 50 }()
	for _, journal := range journals {
		b.Run("journal="+journal, func(b *testing.B) {
			e := &env{path: filepath.Join(b.TempDir(), "tv.db"), journal: journal}
			e.open(b)
			b.Cleanup(e.close)
			v := &ticketview.Venue{ID: "arena", Name: "Arena"}
			for i := 0; i < 8; i++ {
				v.Sections = append(v.Sections, ticketview.SectionLayout{ID: fmt.Sprint("ga", i), Name: "GA",
					Kind: ticketview.GeneralAdmission, Capacity: 1 << 30, Category: "General"})
			}
			ev := testEventFor(1 << 20)
			ev.VenueID = "arena"
			ctx := context.Background()
			if err := e.db.CreateVenue(ctx, v); err != nil {
				b.Fatal(err)
			}
			if err := e.db.CreateEvent(ctx, ev); err != nil {
				b.Fatal(err)
			}
			e.start(b, e.store)
			benchHolds(b, e.eng, 64, func(i int) ticketview.HoldCommand {
				return ticketview.HoldCommand{Section: sid(fmt.Sprint("ga", i%8)), Owner: "buyer-" + strconv.Itoa(i), Quantity: 1}
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
