// Package pipeline is the plumbing of TicketView's event pipeline on the root package's
// ports: the outbox Relay, which publishes what the stores wrote to their transactional
// outbox to a ticketview.MessageSink (Kafka, or a MemoryLog) in the order it was written;
// LogSource, which serves consumer groups from an outbox read as a log (the embedded
// default); and MemoryLog and MemoryOutbox, in-memory implementations for a node that
// runs without Kafka and for tests.
//
// Delivery is at least once everywhere: nothing is skipped or reordered when a sink, a
// store or a handler fails (they are retried after a pause that doubles up to a cap),
// and a message may come twice after a crash or a lost connection, so consumers are
// idempotent by message id.
package pipeline

import (
	"context"
	"sync"
	"time"
)

// Locker is a lock shared by the relays of several nodes (a PostgreSQL advisory lock),
// so that only one publishes the outbox at a time.
type Locker interface {
	// TryLock takes the lock if it is free and reports whether the caller holds it. Called
	// again while the caller holds it, it only confirms that it still does (the lock is
	// not taken twice); false means it was lost (a dropped connection) and is held by
	// someone else, or by no one until the next TryLock takes it.
	TryLock(ctx context.Context) (bool, error)
	// Unlock releases the lock if the caller holds it.
	Unlock(ctx context.Context) error
}

// Pauses after failures: the first, and the cap of its doubling.
const (
	retryMin = 100 * time.Millisecond
	retryMax = 5 * time.Second
)

// backoff is a pause that doubles from retryMin up to retryMax after each failure.
type backoff struct{ d time.Duration }

// next returns the pause to make now and doubles the next one.
func (b *backoff) next() time.Duration {
	if b.d <= 0 {
		b.d = retryMin
	}
	d := b.d
	b.d = min(2*b.d, retryMax)
	return d
}

// reset starts again from retryMin after a success.
func (b *backoff) reset() { b.d = 0 }

// sleep waits for d, or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// signal wakes every waiter at once: wait returns a channel that the next notify closes.
// Its zero value is ready to use.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns the channel the next notify closes. Take it before looking at the state
// it signals changes of, so that no change is missed.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// notify wakes the waiters.
func (s *signal) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
