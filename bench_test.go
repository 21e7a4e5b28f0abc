package ticketview_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	tv "github.com/ticketview/ticketview"
)

// bigSection is a 5,000-seat section: 50 rows of 100 seats, the first 10 rows VIP.
func bigSection(b *testing.B) *tv.Section {
	rows := tv.GridRows(50, 100, func(r int) string {
		if r < 10 {
			return "VIP"
		}
		return "STD"
	})
	s, err := tv.NewSection(tv.SectionConfig{ID: tv.SectionID{Event: "ev", Section: "big"},
		Layout: &tv.SectionLayout{ID: "big", Kind: tv.Seated, Rows: rows}, Categories: testCats, Currency: "INR"})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

const benchBatch = 1000 // holds per batch: 2,000 of the 5,000 seats

type benchInput struct {
	tokens   []string
	pairs    [][]string
	bookings []string
}

func newBenchInput() benchInput {
	in := benchInput{}
	for i := 0; i < benchBatch; i++ {
		in.tokens = append(in.tokens, fmt.Sprintf("tok-%04d", i))
		in.bookings = append(in.bookings, fmt.Sprintf("bk-%04d", i))
		row, seat := (2*i)/100, (2*i)%100
		l := tv.GridRows(50, 1, func(int) string { return "" })[row].Label
		in.pairs = append(in.pairs, []string{fmt.Sprintf("%s-%d", l, seat+1), fmt.Sprintf("%s-%d", l, seat+2)})
	}
	return in
}

// BenchmarkHold measures an explicit 2-seat hold alone: holds run in batches of 1,000 and
// the releases that make room again are not timed.
func BenchmarkHold(b *testing.B) {
	s, in := bigSection(b), newBenchInput()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % benchBatch
		if _, err := s.Hold(tv.HoldRequest{Token: in.tokens[k], Owner: "o", Seats: in.pairs[k]}, t0); err != nil {
			b.Fatal(err)
		}
		s.TakeEvents() // as the section's actor does after every command
		if k == benchBatch-1 || i == b.N-1 {
			b.StopTimer()
			for j := 0; j <= k; j++ {
				if err := s.Release(in.tokens[j], "o", "", t0); err != nil {
					b.Fatal(err)
				}
			}
			s.TakeEvents()
			b.StartTimer()
		}
	}
}

// BenchmarkHoldRelease is one explicit 2-seat hold and its release per op.
func BenchmarkHoldRelease(b *testing.B) {
	s, in := bigSection(b), newBenchInput()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % benchBatch
		if _, err := s.Hold(tv.HoldRequest{Token: in.tokens[k], Owner: "o", Seats: in.pairs[k]}, t0); err != nil {
			b.Fatal(err)
		}
		s.TakeEvents()
		if err := s.Release(in.tokens[k], "o", "", t0); err != nil {
			b.Fatal(err)
		}
		s.TakeEvents()
	}
}

// BenchmarkRelease measures the release of a 2-seat hold; the holds are made untimed.
func BenchmarkRelease(b *testing.B) {
	s, in := bigSection(b), newBenchInput()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % benchBatch
		if k == 0 {
			b.StopTimer()
			for j := 0; j < benchBatch; j++ {
				if _, err := s.Hold(tv.HoldRequest{Token: in.tokens[j], Owner: "o", Seats: in.pairs[j]}, t0); err != nil {
					b.Fatal(err)
				}
			}
			s.TakeEvents()
			b.StartTimer()
		}
		if err := s.Release(in.tokens[k], "o", "", t0); err != nil {
			b.Fatal(err)
		}
		s.TakeEvents()
	}
}

// BenchmarkConfirm measures confirming a 2-seat hold; the holds are made untimed and a
// fresh section is used for every batch.
func BenchmarkConfirm(b *testing.B) {
	in := newBenchInput()
	var s *tv.Section
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % benchBatch
		if k == 0 {
			b.StopTimer()
			s = bigSection(b)
			for j := 0; j < benchBatch; j++ {
				if _, err := s.Hold(tv.HoldRequest{Token: in.tokens[j], Owner: "o", Seats: in.pairs[j]}, t0); err != nil {
					b.Fatal(err)
				}
			}
			s.TakeEvents()
			b.StartTimer()
		}
		if _, err := s.Confirm(in.tokens[k], "o", in.bookings[k], "pay", "", t0); err != nil {
			b.Fatal(err)
		}
		s.TakeEvents()
	}
}

// busySection is the 5,000-seat section 60% held at random, the front rows fuller (90% in
// row A, falling to 30% in the last row).
func busySection(b *testing.B) *tv.Section {
	s := bigSection(b)
	rng := rand.New(rand.NewPCG(42, 7))
	var batch []string
	n, held := 0, 0
	flush := func() {
		if len(batch) == 0 {
			return
		}
		n++
		if _, err := s.Hold(tv.HoldRequest{Token: fmt.Sprintf("busy-%d", n), Owner: fmt.Sprintf("o%d", n%97), Seats: batch, TTL: tv.MaxHoldTTL}, t0); err != nil {
			b.Fatal(err)
		}
		held += len(batch)
		batch = nil
	}
	for r, row := range tv.GridRows(50, 100, func(int) string { return "" }) {
		p := 0.9 - 0.6*float64(r)/49
		for _, seat := range row.Seats {
			if rng.Float64() < p {
				batch = append(batch, seat.Label)
				if len(batch) == tv.MaxSeatsPerRequest {
					flush()
				}
			}
		}
	}
	flush()
	s.TakeEvents()
	if a := s.Availability(false); a.Held < 2800 || a.Held > 3200 {
		b.Fatalf("held %d of 5000", a.Held)
	}
	return s
}

// BenchmarkBestAvailable measures choosing n seats in the busy section (a query: it
// changes nothing, so every iteration does the same search).
func BenchmarkBestAvailable(b *testing.B) {
	s := busySection(b)
	for _, tc := range []struct {
		name       string
		n, cat     int
		accessible bool
		split      bool
	}{
		{name: "n=2", n: 2, cat: -1},
		{name: "n=4", n: 4, cat: -1},
		{name: "n=6", n: 6, cat: -1},
		{name: "n=4 STD", n: 4, cat: catIndex("STD")},
		{name: "n=12 none fits", n: 12, cat: -1},
		{name: "n=12 split", n: 12, cat: -1, split: true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if seats := s.BestAvailable(tc.n, tc.cat, tc.accessible, tc.split); seats == nil && tc.n < 12 {
					b.Fatal("nothing found")
				}
			}
		})
	}
}

// BenchmarkHoldBestAvailable is a best-available hold of 2 seats in the busy section and
// its release, per op.
func BenchmarkHoldBestAvailable(b *testing.B) {
	s := busySection(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Hold(tv.HoldRequest{Token: "ba", Owner: "o", BestAvailable: true, Quantity: 2}, t0); err != nil {
			b.Fatal(err)
		}
		s.TakeEvents()
		if err := s.Release("ba", "o", "", t0); err != nil {
			b.Fatal(err)
		}
		s.TakeEvents()
	}
}

func benchEvents() []tv.SectionEvent {
	evs := make([]tv.SectionEvent, 0, 100)
	for i := 0; len(evs) < 100; i++ {
		tok := fmt.Sprintf("tok-%032x", i)
		at := t0.Add(time.Duration(i) * time.Second)
		evs = append(evs,
			tv.SectionEvent{Type: tv.EvHoldPlaced, At: at, Token: tok, Owner: "user-123456", Seats: []int32{int32(2 * i), int32(2*i + 1)},
				Prices: []int64{250000, 250000}, Quantity: 2, ExpiresAt: at.Add(tv.DefaultHoldTTL), IdemKey: fmt.Sprintf("idem-%d", i)},
			tv.SectionEvent{Type: tv.EvHoldConfirmed, At: at, Token: tok, Owner: "user-123456", Seats: []int32{int32(2 * i), int32(2*i + 1)},
				Quantity: 2, BookingID: fmt.Sprintf("bk-%d", i), Reference: "pay_ABCDEFGH"})
	}
	for i := range evs {
		evs[i].Seq = uint64(i + 1)
	}
	return evs
}

// BenchmarkMarshalEvents encodes a 100-event journal record (holds and confirmations).
func BenchmarkMarshalEvents(b *testing.B) {
	evs := benchEvents()
	buf := tv.MarshalEvents(nil, evs)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = tv.MarshalEvents(buf[:0], evs)
	}
}

// BenchmarkUnmarshalEvents decodes the same record.
func BenchmarkUnmarshalEvents(b *testing.B) {
	buf := tv.MarshalEvents(nil, benchEvents())
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tv.UnmarshalEvents(buf); err != nil {
			b.Fatal(err)
		}
	}
}
