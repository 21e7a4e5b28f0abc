package inmem

import (
	"testing"

	ticketview "github.com/ticketview/ticketview"
)

func delta(seq uint64) ticketview.SeatDelta {
	return ticketview.SeatDelta{Section: ticketview.SectionID{Event: "e", Section: "s"}, Seq: seq}
}

func TestSubscribersGetEveryDeltaInOrder(t *testing.T) {
	b := NewBus()
	s1, s2 := b.SubscribeDeltas(100), b.SubscribeDeltas(100)
	for i := uint64(1); i <= 50; i++ {
		b.PublishDelta(delta(i))
	}
	for _, s := range []*Subscription[ticketview.SeatDelta]{s1, s2} {
		for want := uint64(1); want <= 50; want++ {
			if got := (<-s.C).Seq; got != want {
				t.Fatalf("got seq %d, want %d", got, want)
			}
		}
		if s.Lagged() != 0 {
			t.Fatalf("lagged %d", s.Lagged())
		}
	}
}

// A slow subscriber loses what does not fit its queue, is told so, and never blocks the
// publisher or the other subscribers.
func TestSlowSubscriberLagsWithoutBlocking(t *testing.T) {
	b := NewBus()
	slow, fast := b.SubscribeDeltas(4), b.SubscribeDeltas(1000)
	for i := uint64(1); i <= 100; i++ {
		b.PublishDelta(delta(i)) // must not block although slow is never read
	}
	if slow.Lagged() != 96 {
		t.Fatalf("slow lagged %d, want 96", slow.Lagged())
	}
	if len(fast.C) != 100 || fast.Lagged() != 0 {
		t.Fatalf("fast has %d, lagged %d", len(fast.C), fast.Lagged())
	}
	if first := <-slow.C; first.Seq != 1 {
		t.Fatalf("slow's first delta is %d, want the oldest kept (1)", first.Seq)
	}
}

func TestUnsubscribeAndCloseEndSubscriptions(t *testing.T) {
	b := NewBus()
	d, e := b.SubscribeDeltas(1), b.SubscribeEvents(1)
	b.UnsubscribeDeltas(d)
	b.PublishDelta(delta(1)) // nobody listens: no panic, nothing delivered
	if _, ok := <-d.C; ok {
		t.Fatal("unsubscribed channel still open or delivered")
	}
	b.PublishEvents([]ticketview.DomainEvent{{SectionEvent: ticketview.SectionEvent{Seq: 7}}})
	if ev := <-e.C; ev.Seq != 7 {
		t.Fatalf("event seq %d", ev.Seq)
	}
	b.Close()
	if _, ok := <-e.C; ok {
		t.Fatal("Close left an event subscription open")
	}
	b.PublishEvents([]ticketview.DomainEvent{{}}) // after Close: no panic
}
