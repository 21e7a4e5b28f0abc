package mongo_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/internal/testutil/ferret"
	"github.com/ticketview/ticketview/persistence/storetest"
)

// The benchmarks run against FerretDB 1.24 with its SQLite handler, in this process. It is
// not MongoDB: FerretDB filters and sorts every query in Go over the whole collection
// (its indexes serve uniqueness only) and writes through SQLite, so these numbers only
// indicate the adapter's own overhead and how it scales with FerretDB; MongoDB, using the
// indexes Open creates, behaves differently.

// BenchmarkAppendAudit appends batches of 100 new entries, one batch at a time, and
// reports entries per second.
func BenchmarkAppendAudit(b *testing.B) {
	s := openStore(b, ferret.URI(b))
	ctx := testCtx(b)
	const batch = 100
	id := ticketview.SectionID{Event: "bench-gig", Section: "A"}
	seq := uint64(1)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		es := storetest.SampleAuditEntries(id, seq, batch, storetest.BaseTime)
		seq += batch
		b.StartTimer()
		if err := s.AppendAudit(ctx, es); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkAuditTrailBySeat asks for the trail of one seat label (the first 100 entries
// that changed it) in an event whose sections hold half of the collection's entries (the
// other half belongs to another event), at three collection sizes, and reports the
// latency's median and 99th percentile. On FerretDB the time grows with the collection
// (every query scans it); on MongoDB the event_seats_at index bounds it.
func BenchmarkAuditTrailBySeat(b *testing.B) {
	for _, total := range []int{2000, 8000, 20000} {
		b.Run(fmt.Sprintf("entries=%d", total), func(b *testing.B) { benchTrailBySeat(b, total) })
	}
}

func benchTrailBySeat(b *testing.B, total int) {
	s := openStore(b, ferret.URI(b))
	ctx := testCtx(b)
	const sections = 10
	perSection := total / 2 / sections
	for k := range sections {
		id := ticketview.SectionID{Event: "bench-gig", Section: fmt.Sprintf("S%02d", k)}
		if err := s.AppendAudit(ctx, storetest.SampleAuditEntries(id, 1, perSection, storetest.BaseTime)); err != nil {
			b.Fatal(err)
		}
		other := ticketview.SectionID{Event: "other-gig", Section: fmt.Sprintf("S%02d", k)}
		if err := s.AppendAudit(ctx, storetest.SampleAuditEntries(other, 1, perSection, storetest.BaseTime)); err != nil {
			b.Fatal(err)
		}
	}
	f := ticketview.AuditFilter{Event: "bench-gig", Seat: "R-3"}
	if got, err := s.AuditTrail(ctx, f); err != nil || len(got) != 100 {
		b.Fatalf("warm-up: %d entries, %v; want 100", len(got), err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := s.AuditTrail(ctx, f); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
