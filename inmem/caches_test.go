package inmem

import (
	"context"
	"fmt"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/storetest"
)

func TestAvailabilityCache(t *testing.T) {
	storetest.TestAvailabilityCache(t, func(t *testing.T) ticketview.AvailabilityCache { return NewAvailabilityCache() })
}

func TestSnapshotCache(t *testing.T) {
	storetest.TestSnapshotCache(t, func(t *testing.T) ticketview.SnapshotCache { return NewSnapshotCache() })
}

func TestRateCounter(t *testing.T) {
	storetest.TestRateCounter(t, func(t *testing.T) ticketview.RateCounter { return NewRateCounter() })
}

func TestDeltaFeed(t *testing.T) {
	storetest.TestDeltaFeed(t, func(t *testing.T) ticketview.DeltaFeed {
		f := NewDeltaFeed(0)
		t.Cleanup(func() { f.Close() })
		return f
	})
}

func TestFeedSlowSubscriberLags(t *testing.T) {
	f := NewDeltaFeed(4)
	defer f.Close()
	ds, err := f.SubscribeDeltas(context.Background(), "ev")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := f.SubscribeDeltas(context.Background(), "other")
	sub := ds.(*FeedSubscription)
	for i := uint64(1); i <= 100; i++ {
		f.PublishDelta(ticketview.SeatDelta{Section: ticketview.SectionID{Event: "ev", Section: "A"}, Seq: i})
	}
	if sub.Lagged() != 96 || len(sub.C()) != 4 {
		t.Fatalf("lagged %d with %d queued, want 96 and 4", sub.Lagged(), len(sub.C()))
	}
	for want := uint64(1); want <= 4; want++ {
		if d := <-sub.C(); d.Seq != want {
			t.Fatalf("kept delta %d, want %d", d.Seq, want)
		}
	}
	if len(other.C()) != 0 || other.(*FeedSubscription).Lagged() != 0 {
		t.Fatal("another event's subscriber got deltas")
	}
}

// The injectable clock: windows are fixed from the first Incr, and expired counters are
// swept as the map grows.
func TestRateCounterClock(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &RateCounter{Now: func() time.Time { return now }}
	ctx := context.Background()
	check := func(key string, n, want int64, wantReset time.Duration) {
		t.Helper()
		v, reset, err := r.Incr(ctx, key, n, time.Minute)
		if err != nil || v != want || reset != wantReset {
			t.Fatalf("Incr(%s, %d) at %s: %d, %s, %v; want %d, %s", key, n, now, v, reset, err, want, wantReset)
		}
	}
	check("k", 2, 2, time.Minute)
	now = now.Add(59 * time.Second)
	check("k", 1, 3, time.Second)
	now = now.Add(time.Second)
	check("k", 1, 1, time.Minute) // the window ended exactly now
	for i := range 5000 {
		check(fmt.Sprint("other-", i), 1, 1, time.Minute)
		now = now.Add(time.Millisecond)
	}
	now = now.Add(2 * time.Minute)
	for i := range 5000 {
		check(fmt.Sprint("later-", i), 1, 1, time.Minute)
	}
	r.mu.Lock()
	n := len(r.counters)
	r.mu.Unlock()
	if n > 5000+minSweep {
		t.Fatalf("%d counters kept, want expired ones swept (at most %d)", n, 5000+minSweep)
	}
}
