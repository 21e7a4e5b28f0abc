package sqlite

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/storetest"
)

// Background-write benchmarks: the audit log, the analytics counters and the outbox,
// which the committer writes besides the journals.
//
//	nosync: one caller, synchronous=OFF: the CPU cost of one call (encoding, the
//	        committer's hand-off and transaction, the statements), without the fsync
//	parallel: 64 callers with the store's durability (synchronous=FULL): the committer
//	        merges their calls, and its work per call bounds the throughput

// benchOpen opens a store for a benchmark; nosync turns the writer's fsyncs off.
func benchOpen(b *testing.B, nosync bool) *DB {
	db := openTest(b)
	if nosync {
		// No request was submitted yet: the committer is idle and outside a transaction,
		// where the safety level may change.
		if _, err := db.c.conn.ExecContext(context.Background(), `PRAGMA synchronous = OFF`); err != nil {
			b.Fatal(err)
		}
	}
	return db
}

// benchModes runs f as the nosync and the parallel benchmark.
func benchModes(b *testing.B, f func(b *testing.B, db *DB, next func() int64)) {
	b.Run("nosync", func(b *testing.B) {
		db := benchOpen(b, true)
		var n int64
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			n++
			f(b, db, func() int64 { return n })
		}
	})
	b.Run("parallel", func(b *testing.B) {
		db := benchOpen(b, false)
		var n atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(32) // 32 × GOMAXPROCS callers
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				f(b, db, func() int64 { return i })
			}
		})
	})
}

// BenchmarkAppendAudit appends batches of 64 new audit entries of 4 seats each.
func BenchmarkAppendAudit(b *testing.B) {
	const perCall, seats = 64, 4
	tmpl := make([]ticketview.AuditEntry, perCall)
	for i := range tmpl {
		tmpl[i] = ticketview.AuditEntry{Type: ticketview.EvHoldPlaced, At: storetest.BaseTime.Add(time.Duration(i) * time.Millisecond),
			Owner: fmt.Sprintf("buyer-%d", i%7), Token: fmt.Sprintf("tok-%d", i), Quantity: seats}
		for s := range seats {
			tmpl[i].Seats = append(tmpl[i].Seats, fmt.Sprintf("R%d-%d", i%20, s+4*(i/20)))
		}
	}
	benchModes(b, func(b *testing.B, db *DB, next func() int64) {
		// Call n writes the next entries of one of 8 sections, all new, as the sections'
		// journals grow.
		n := next() - 1
		id := ticketview.SectionID{Event: "gig-1", Section: fmt.Sprintf("S%d", n%8)}
		entries := make([]ticketview.AuditEntry, perCall)
		for i := range entries {
			entries[i] = tmpl[i]
			entries[i].Section, entries[i].Seq = id, uint64(n/8*perCall+int64(i)+1)
		}
		if err := db.AppendAudit(context.Background(), entries); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkAddCounters applies messages of 6 increments (as an order's message adds: the
// event's totals, by buyer and by section), each message new.
func BenchmarkAddCounters(b *testing.B) {
	benchModes(b, func(b *testing.B, db *DB, next func() int64) {
		n := next()
		hour := storetest.BaseTime.Add(time.Duration(n%48) * time.Hour)
		buyer := fmt.Sprintf("buyer-%d", n%100)
		incs := []ticketview.Increment{
			{Event: "gig-1", Hour: hour, Metric: ticketview.MetricOrders, Delta: 1},
			{Event: "gig-1", Hour: hour, Metric: ticketview.MetricSeatsSold, Delta: 4},
			{Event: "gig-1", Hour: hour, Dim: ticketview.DimBuyer, Value: buyer, Metric: ticketview.MetricOrders, Delta: 1},
			{Event: "gig-1", Hour: hour, Dim: ticketview.DimBuyer, Value: buyer, Metric: ticketview.MetricSeatsSold, Delta: 4},
			{Event: "gig-1", Hour: hour, Dim: ticketview.DimCategory, Value: fmt.Sprintf("cat-%d", n%10), Metric: ticketview.MetricOrders, Delta: 1},
			{Event: "gig-1", Hour: hour, Dim: ticketview.DimCategory, Value: fmt.Sprintf("cat-%d", n%10), Metric: ticketview.MetricSeatsSold, Delta: 4},
		}
		applied, err := db.AddCounters(context.Background(), fmt.Sprintf("msg-%d", n), incs)
		if err != nil || !applied {
			b.Fatalf("AddCounters = %v, %v", applied, err)
		}
	})
}

// BenchmarkAppendMessages writes batches of 16 messages to the outbox.
func BenchmarkAppendMessages(b *testing.B) {
	const perCall = 16
	msgs := make([]ticketview.Message, perCall)
	for i := range msgs {
		msgs[i] = ticketview.Message{Topic: "orders", Key: fmt.Sprintf("order-%d", i),
			Value: []byte(fmt.Sprintf(`{"id":"order-%d","status":"confirmed","total":12000}`, i))}
	}
	benchModes(b, func(b *testing.B, db *DB, next func() int64) {
		if err := db.AppendMessages(context.Background(), msgs); err != nil {
			b.Fatal(err)
		}
	})
}
