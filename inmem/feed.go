package inmem

import (
	"context"
	"slices"
	"sync"

	ticketview "github.com/ticketview/ticketview"
)

// DeltaFeed is the in-process ticketview.DeltaFeed: it hands each seat delta to the
// subscribers of its event. Publishing never blocks the publisher (a section actor):
// each subscriber has a bounded queue, and one that falls behind loses what does not fit
// and is told so by FeedSubscription.Lagged (live seat maps then resync, as they do when
// SeatDelta.Prev shows a gap).
type DeltaFeed struct {
	buffer int

	mu     sync.RWMutex
	subs   map[string][]*FeedSubscription // by event
	closed bool
}

var _ ticketview.DeltaFeed = (*DeltaFeed)(nil)

// NewDeltaFeed returns a feed whose subscribers each queue up to buffer deltas (1024 when
// buffer is not positive).
func NewDeltaFeed(buffer int) *DeltaFeed {
	if buffer <= 0 {
		buffer = 1024
	}
	return &DeltaFeed{buffer: buffer, subs: map[string][]*FeedSubscription{}}
}

// PublishDelta implements ticketview.DeltaPublisher. It never blocks.
func (f *DeltaFeed) PublishDelta(d ticketview.SeatDelta) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, s := range f.subs[d.Section.Event] {
		s.sub.offer(d)
	}
}

// SubscribeDeltas implements ticketview.DeltaFeed. It fails with EUNAVAILABLE when the
// feed is closed, and with the context's error when ctx has ended.
func (f *DeltaFeed) SubscribeDeltas(ctx context.Context, event string) (ticketview.DeltaSubscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &FeedSubscription{sub: newSub[ticketview.SeatDelta](f.buffer), feed: f, event: event}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, ticketview.Errorf(ticketview.EUNAVAILABLE, "delta feed closed")
	}
	f.subs[event] = append(f.subs[event], s)
	f.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	s.mu.Lock()
	s.stop = stop
	s.mu.Unlock()
	return s, nil
}

// Close ends every subscription; later subscriptions fail and later deltas go nowhere.
func (f *DeltaFeed) Close() error {
	f.mu.Lock()
	subs := f.subs
	f.subs, f.closed = map[string][]*FeedSubscription{}, true
	f.mu.Unlock()
	for _, list := range subs {
		for _, s := range list {
			s.sub.close()
		}
	}
	return nil
}

// FeedSubscription is a subscription to one event's deltas.
type FeedSubscription struct {
	sub   *Subscription[ticketview.SeatDelta]
	feed  *DeltaFeed
	event string

	mu   sync.Mutex
	stop func() bool // stops the context watch
}

// C implements ticketview.DeltaSubscription.
func (s *FeedSubscription) C() <-chan ticketview.SeatDelta { return s.sub.C }

// Lagged is the number of deltas dropped because the subscriber was slow.
func (s *FeedSubscription) Lagged() uint64 { return s.sub.Lagged() }

// Close implements ticketview.DeltaSubscription: it unsubscribes and closes C (after the
// deltas already queued). Closing twice is harmless.
func (s *FeedSubscription) Close() error {
	f := s.feed
	f.mu.Lock()
	f.subs[s.event] = slices.DeleteFunc(f.subs[s.event], func(x *FeedSubscription) bool { return x == s })
	if len(f.subs[s.event]) == 0 {
		delete(f.subs, s.event)
	}
	f.mu.Unlock()
	s.mu.Lock()
	stop := s.stop
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	s.sub.close()
	return nil
}
