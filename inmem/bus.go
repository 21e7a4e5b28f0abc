// Package inmem holds in-process implementations of the engine's messaging ports, the
// embedded default when no Kafka or Redis is configured.
package inmem

import (
	"sync"

	ticketview "github.com/ticketview/ticketview"
)

// Bus fans seat deltas and domain events out to subscribers in process. Publishing never
// blocks the publisher (a section actor): each subscriber has a bounded queue, and a
// subscriber that falls behind by more than its queue loses messages and is told so
// through its Lagged counter (live seat maps then resync from a fresh availability read).
type Bus struct {
	mu     sync.RWMutex
	deltas []*Subscription[ticketview.SeatDelta]
	events []*Subscription[ticketview.DomainEvent]
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{} }

// Subscription delivers messages in publish order on C.
type Subscription[T any] struct {
	C      <-chan T
	c      chan T
	mu     sync.Mutex
	lagged uint64
	closed bool
}

// Lagged is the number of messages dropped because the subscriber was slow.
func (s *Subscription[T]) Lagged() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lagged
}

func (s *Subscription[T]) offer(v T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	select {
	case s.c <- v:
	default:
		s.lagged++
	}
}

func (s *Subscription[T]) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.c)
	}
}

func newSub[T any](buffer int) *Subscription[T] {
	if buffer <= 0 {
		buffer = 1024
	}
	c := make(chan T, buffer)
	return &Subscription[T]{C: c, c: c}
}

// SubscribeDeltas returns a subscription to every seat delta.
func (b *Bus) SubscribeDeltas(buffer int) *Subscription[ticketview.SeatDelta] {
	s := newSub[ticketview.SeatDelta](buffer)
	b.mu.Lock()
	b.deltas = append(b.deltas, s)
	b.mu.Unlock()
	return s
}

// SubscribeEvents returns a subscription to every domain event.
func (b *Bus) SubscribeEvents(buffer int) *Subscription[ticketview.DomainEvent] {
	s := newSub[ticketview.DomainEvent](buffer)
	b.mu.Lock()
	b.events = append(b.events, s)
	b.mu.Unlock()
	return s
}

// UnsubscribeDeltas stops and closes a delta subscription.
func (b *Bus) UnsubscribeDeltas(s *Subscription[ticketview.SeatDelta]) {
	b.mu.Lock()
	b.deltas = remove(b.deltas, s)
	b.mu.Unlock()
	s.close()
}

// UnsubscribeEvents stops and closes an event subscription.
func (b *Bus) UnsubscribeEvents(s *Subscription[ticketview.DomainEvent]) {
	b.mu.Lock()
	b.events = remove(b.events, s)
	b.mu.Unlock()
	s.close()
}

func remove[T any](subs []*Subscription[T], s *Subscription[T]) []*Subscription[T] {
	out := subs[:0:0]
	for _, x := range subs {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// PublishDelta implements ticketview.DeltaPublisher.
func (b *Bus) PublishDelta(d ticketview.SeatDelta) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, s := range b.deltas {
		s.offer(d)
	}
}

// PublishEvents implements ticketview.EventPublisher.
func (b *Bus) PublishEvents(evs []ticketview.DomainEvent) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, s := range b.events {
		for _, e := range evs {
			s.offer(e)
		}
	}
}

// Close closes every subscription.
func (b *Bus) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.deltas {
		s.close()
	}
	for _, s := range b.events {
		s.close()
	}
	b.deltas, b.events = nil, nil
}
