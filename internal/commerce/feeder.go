package commerce

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
)

// OutboxFeeder appends the engine's domain events to the outbox as section messages, for
// a journal that does not write them in its own transactions (the embedded SQLite one).
// It never makes an actor wait: events queue in memory (bounded; beyond it they are
// dropped and counted) and one goroutine writes them in batches. Unlike the PostgreSQL
// projection's outbox rows, these are best effort: a crash loses what is queued (the
// journal keeps the truth; only analytics' hold counts can miss them).
type OutboxFeeder struct {
	out     ticketview.Outbox
	log     *zap.Logger
	mu      sync.Mutex
	queue   []ticketview.Message
	wake    chan struct{}
	done    chan struct{}
	stopped chan struct{}
	dropped atomic.Int64
	once    sync.Once
}

const feederMax = 1 << 16

// NewOutboxFeeder starts a feeder.
func NewOutboxFeeder(out ticketview.Outbox, log *zap.Logger) *OutboxFeeder {
	f := &OutboxFeeder{out: out, log: log, wake: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	go f.run()
	return f
}

// PublishEvents implements ticketview.EventPublisher.
func (f *OutboxFeeder) PublishEvents(evs []ticketview.DomainEvent) {
	msgs := make([]ticketview.Message, 0, len(evs))
	for i := range evs {
		if m, ok := SectionMessage(&evs[i]); ok {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) == 0 {
		return
	}
	f.mu.Lock()
	if len(f.queue)+len(msgs) > feederMax {
		f.mu.Unlock()
		f.dropped.Add(int64(len(msgs)))
		return
	}
	f.queue = append(f.queue, msgs...)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Dropped is how many messages were dropped because the queue was full.
func (f *OutboxFeeder) Dropped() int64 { return f.dropped.Load() }

func (f *OutboxFeeder) run() {
	defer close(f.stopped)
	for {
		select {
		case <-f.wake:
		case <-f.done:
			f.flush()
			return
		}
		f.flush()
	}
}

func (f *OutboxFeeder) flush() {
	for {
		f.mu.Lock()
		batch := f.queue
		if len(batch) > 1000 {
			batch = batch[:1000]
		}
		f.queue = f.queue[len(batch):]
		f.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		for attempt := 0; ; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := f.out.AppendMessages(ctx, batch)
			cancel()
			if err == nil {
				break
			}
			if attempt == 2 {
				f.dropped.Add(int64(len(batch)))
				f.log.Warn("section messages dropped: the outbox does not take them", zap.Int("messages", len(batch)), zap.Error(err))
				break
			}
			time.Sleep(100 * time.Millisecond << attempt)
		}
	}
}

// Close writes what is queued and stops.
func (f *OutboxFeeder) Close() {
	f.once.Do(func() { close(f.done) })
	<-f.stopped
}

// SectionMessage is the message of a section event, as the PostgreSQL projection writes
// it; false for the types that are not published (extensions, blocks).
func SectionMessage(e *ticketview.DomainEvent) (ticketview.Message, bool) {
	switch e.Type {
	case ticketview.EvHoldPlaced, ticketview.EvHoldReleased, ticketview.EvHoldExpired, ticketview.EvHoldConfirmed, ticketview.EvSaleCancelled:
	default:
		return ticketview.Message{}, false
	}
	v, err := json.Marshal(ticketview.SectionMessage{V: 1, Type: e.Type.String(), Event: e.Section.Event, Section: e.Section.Section,
		Seq: e.Seq, At: e.At.UTC(), Owner: e.Owner, Seats: e.Seats, Prices: e.Prices, Quantity: e.Quantity,
		ExpiresAt: e.ExpiresAt, BookingID: e.BookingID, Reference: e.Reference})
	if err != nil {
		return ticketview.Message{}, false
	}
	return ticketview.Message{Topic: ticketview.TopicSections, Key: e.Section.Event + "/" + e.Section.Section, Value: v}, true
}
