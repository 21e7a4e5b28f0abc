package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
)

// TestDeltaFeed checks a ticketview.DeltaFeed against the contract. open is called once
// per subtest and must return a working feed (a shared server is fine: the suite uses
// new event names). The contract:
//
//   - A subscription receives every delta of its event published after SubscribeDeltas
//     returned, unchanged and in publish order (when the subscriber keeps up), and no
//     delta of another event. Every subscription of an event receives them.
//   - Close, or the end of the subscription's context, closes C. Closing twice is fine.
//   - PublishDelta never blocks, not even when a subscriber does not read.
func TestDeltaFeed(t *testing.T, open func(t *testing.T) ticketview.DeltaFeed) {
	t.Run("OnlyItsEventInOrder", func(t *testing.T) { testFeedFilter(t, open(t)) })
	t.Run("TwoSubscribers", func(t *testing.T) { testFeedTwo(t, open(t)) })
	t.Run("CloseEndsC", func(t *testing.T) { testFeedClose(t, open(t)) })
	t.Run("PublisherNeverBlocks", func(t *testing.T) { testFeedNeverBlocks(t, open(t)) })
}

// SampleDelta returns a delta of section (event, section) at seq (Prev seq-1) that uses
// every field.
func SampleDelta(event, section string, seq uint64) ticketview.SeatDelta {
	return ticketview.SeatDelta{
		Section: ticketview.SectionID{Event: event, Section: section},
		Seq:     seq, Prev: seq - 1,
		Seats:  []string{fmt.Sprintf("A-%d", seq%40+1), fmt.Sprintf("B-%d", seq%13+1)},
		Status: ticketview.SeatStatus(seq % 4), GAFree: int(seq % 5),
		Categories: []ticketview.CategoryAvailability{
			{Code: "VIP", Capacity: 40, Free: 30, Held: 5, Sold: 4, Blocked: 1, Price: 9900 + int64(seq)},
			{Code: "STD", Capacity: 13, Free: int(seq % 13), Held: 13 - int(seq%13), Price: 4500},
		},
	}
}

func subscribe(t *testing.T, f ticketview.DeltaFeed, ctx context.Context, event string) ticketview.DeltaSubscription {
	t.Helper()
	s, err := f.SubscribeDeltas(ctx, event)
	if err != nil {
		t.Fatalf("SubscribeDeltas(%s): %v", event, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// receive waits up to 10 s for the next delta and checks it equals want.
func receive(t *testing.T, s ticketview.DeltaSubscription, what string, want ticketview.SeatDelta) {
	t.Helper()
	select {
	case got, ok := <-s.C():
		if !ok {
			t.Fatalf("%s: C closed, want delta %s seq %d", what, want.Section, want.Seq)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: got delta\n %+v\nwant\n %+v", what, got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no delta within 10s, want %s seq %d", what, want.Section, want.Seq)
	}
}

// waitClosed drains s until C is closed, failing after d.
func waitClosed(t *testing.T, s ticketview.DeltaSubscription, what string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case _, ok := <-s.C():
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("%s: C still open after %s", what, d)
		}
	}
}

func testFeedFilter(t *testing.T, f ticketview.DeltaFeed) {
	ev, other := NewSectionID().Event, NewSectionID().Event
	s := subscribe(t, f, ctxFor(t), ev)
	var want []ticketview.SeatDelta
	for i := uint64(1); i <= 150; i++ {
		mine := SampleDelta(ev, []string{"A", "B", "C"}[i%3], i)
		f.PublishDelta(SampleDelta(other, "A", i))
		f.PublishDelta(mine)
		want = append(want, mine)
		if i%7 == 0 {
			ga := SampleDelta(ev, "GA", 1000+i) // no seats, as a GA delta
			ga.Seats = nil
			f.PublishDelta(ga)
			want = append(want, ga)
		}
	}
	for i, d := range want {
		receive(t, s, fmt.Sprintf("delta %d of %d", i+1, len(want)), d)
	}
	// Nothing of the other event is queued before a last delta of ours.
	f.PublishDelta(SampleDelta(other, "A", 9998))
	last := SampleDelta(ev, "A", 9999)
	f.PublishDelta(last)
	receive(t, s, "last delta", last)
}

func testFeedTwo(t *testing.T, f ticketview.DeltaFeed) {
	ev := NewSectionID().Event
	s1, s2 := subscribe(t, f, ctxFor(t), ev), subscribe(t, f, ctxFor(t), ev)
	var want []ticketview.SeatDelta
	for i := uint64(1); i <= 100; i++ {
		d := SampleDelta(ev, "A", i)
		f.PublishDelta(d)
		want = append(want, d)
	}
	for i, d := range want {
		receive(t, s1, fmt.Sprintf("first subscriber, delta %d", i+1), d)
	}
	for i, d := range want {
		receive(t, s2, fmt.Sprintf("second subscriber, delta %d", i+1), d)
	}
	// One ending does not end the other.
	s1.Close()
	waitClosed(t, s1, "closed subscriber", 5*time.Second)
	d := SampleDelta(ev, "A", 101)
	f.PublishDelta(d)
	receive(t, s2, "second subscriber after the first closed", d)
}

func testFeedClose(t *testing.T, f ticketview.DeltaFeed) {
	ev := NewSectionID().Event
	s := subscribe(t, f, ctxFor(t), ev)
	f.PublishDelta(SampleDelta(ev, "A", 1))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitClosed(t, s, "after Close", 5*time.Second)
	s.Close() // twice: no panic, no hang
	f.PublishDelta(SampleDelta(ev, "A", 2))

	// (Other events from here on: deltas published before a subscription may still reach
	// it when the feed publishes asynchronously.)
	ev2 := NewSectionID().Event
	ctx, cancel := context.WithCancel(ctxFor(t))
	s2 := subscribe(t, f, ctx, ev2)
	d := SampleDelta(ev2, "A", 3)
	f.PublishDelta(d)
	receive(t, s2, "before the context ends", d)
	cancel()
	waitClosed(t, s2, "after the context ended", 5*time.Second)

	// The feed still serves new subscriptions.
	ev3 := NewSectionID().Event
	s3 := subscribe(t, f, ctxFor(t), ev3)
	d = SampleDelta(ev3, "A", 4)
	f.PublishDelta(d)
	receive(t, s3, "a later subscription", d)
}

func testFeedNeverBlocks(t *testing.T, f ticketview.DeltaFeed) {
	ev := NewSectionID().Event
	idle := subscribe(t, f, ctxFor(t), ev) // never read until the end
	const n = 20_000                       // more than any queue holds
	deltas := make([]ticketview.SeatDelta, n)
	for i := range deltas {
		deltas[i] = SampleDelta(ev, "A", uint64(i+1))
	}
	// A publisher that waits for the subscriber would wait forever: give it 10 s.
	published := make(chan struct{})
	go func() {
		defer close(published)
		for _, d := range deltas {
			f.PublishDelta(d)
		}
	}()
	select {
	case <-published:
	case <-time.After(10 * time.Second):
		t.Fatalf("publishing %d deltas to a subscriber that does not read blocked", n)
	}
	// What the subscriber did get is in order, and then it gets new deltas again.
	var last uint64
	for {
		select {
		case d := <-idle.C():
			if d.Seq <= last {
				t.Fatalf("delta %d after %d", d.Seq, last)
			}
			last = d.Seq
			continue
		case <-time.After(500 * time.Millisecond):
		}
		break
	}
	if last == 0 {
		t.Fatal("the idle subscriber received nothing")
	}
	d := SampleDelta(ev, "A", n+1)
	f.PublishDelta(d)
	var got ticketview.SeatDelta
	for got.Seq <= n {
		select {
		case got = <-idle.C():
		case <-time.After(10 * time.Second):
			t.Fatalf("no delta after the burst (last seen %d)", last)
		}
	}
	if !reflect.DeepEqual(got, d) {
		t.Fatalf("after the burst: got %+v, want %+v", got, d)
	}
}
