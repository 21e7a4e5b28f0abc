package actors

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
)

// This file holds the engine's feeders: they take what the section actors publish after a
// commit (seat deltas, domain events) to the read-side stores (the availability cache,
// the audit log) without ever making an actor wait. A store that is down loses nothing
// that cannot be rebuilt: the journal stays the truth.

// DeltaFanout publishes every delta to each publisher in turn.
type DeltaFanout []ticketview.DeltaPublisher

// PublishDelta implements ticketview.DeltaPublisher.
func (f DeltaFanout) PublishDelta(d ticketview.SeatDelta) {
	for _, p := range f {
		p.PublishDelta(d)
	}
}

// EventFanout publishes every batch of domain events to each publisher in turn.
type EventFanout []ticketview.EventPublisher

// PublishEvents implements ticketview.EventPublisher.
func (f EventFanout) PublishEvents(evs []ticketview.DomainEvent) {
	for _, p := range f {
		p.PublishEvents(evs)
	}
}

// feedQueue is an unbounded-looking but bounded queue between publishers (actors) and one
// feeder goroutine: push never blocks; when the queue is full the item is dropped and
// counted, and the caller decides how to recover.
type feedQueue[T any] struct {
	mu      sync.Mutex
	items   []T
	max     int
	wake    chan struct{}
	dropped atomic.Int64
}

func newFeedQueue[T any](max int) *feedQueue[T] {
	return &feedQueue[T]{max: max, wake: make(chan struct{}, 1)}
}

func (q *feedQueue[T]) push(v ...T) (ok bool) {
	q.mu.Lock()
	if len(q.items)+len(v) > q.max {
		q.mu.Unlock()
		q.dropped.Add(int64(len(v)))
		return false
	}
	q.items = append(q.items, v...)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// take returns up to n queued items, oldest first.
func (q *feedQueue[T]) take(n int) []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.items))
	out := make([]T, n)
	copy(out, q.items)
	rest := copy(q.items, q.items[n:])
	clear(q.items[rest:])
	q.items = q.items[:rest]
	return out
}

func (q *feedQueue[T]) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// ViewKeeper keeps a ticketview.AvailabilityCache current from the engine's seat deltas:
// give it to the engine as (one of) its DeltaPublisher(s). Deltas are applied in batches
// by one goroutine. A section whose view is missing or has lost deltas (the cache says
// stale, the cache was down, or the queue overflowed) is marked dirty and its view is
// rebuilt from the engine's own availability; dirty sections are retried every
// RetryEvery until the cache takes them, so a cache that comes back is refilled.
type ViewKeeper struct {
	cache  ticketview.AvailabilityCache
	source func(ctx context.Context, id ticketview.SectionID) (ticketview.Availability, error)
	log    *zap.Logger
	retry  time.Duration

	q     *feedQueue[ticketview.SeatDelta]
	mu    sync.Mutex
	dirty map[ticketview.SectionID]struct{}

	poke chan struct{}
	stop chan struct{}
	done chan struct{}

	applied, refills, failures atomic.Int64
}

// ViewKeeperStats counts what a ViewKeeper did.
type ViewKeeperStats struct {
	Applied  int64 // deltas the cache took
	Refills  int64 // full availabilities put
	Failures int64 // cache calls that failed
	Dropped  int64 // deltas dropped because the queue was full
	Dirty    int   // sections waiting for a refill
	Queued   int   // deltas waiting
}

// NewViewKeeper starts a keeper of cache; source is the engine's availability with seats
// (Engine.Availability with withSeats true). Close stops it.
func NewViewKeeper(cache ticketview.AvailabilityCache, source func(ctx context.Context, id ticketview.SectionID) (ticketview.Availability, error), log *zap.Logger) *ViewKeeper {
	if log == nil {
		log = zap.NewNop()
	}
	k := &ViewKeeper{cache: cache, source: source, log: log.Named("views"), retry: time.Second,
		q: newFeedQueue[ticketview.SeatDelta](1 << 16), dirty: map[ticketview.SectionID]struct{}{},
		poke: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go k.run()
	return k
}

// EngineSource adapts an engine to a ViewKeeper's source.
func EngineSource(e *Engine) func(ctx context.Context, id ticketview.SectionID) (ticketview.Availability, error) {
	return func(ctx context.Context, id ticketview.SectionID) (ticketview.Availability, error) {
		return e.Availability(ctx, id, true)
	}
}

// PublishDelta implements ticketview.DeltaPublisher. It never blocks.
func (k *ViewKeeper) PublishDelta(d ticketview.SeatDelta) {
	if !k.q.push(d) {
		k.markDirty(d.Section)
	}
}

// Refresh asks for the section's view to be rebuilt soon, for a reader that found none
// (a section that has not changed since its actor started has sent no delta yet).
func (k *ViewKeeper) Refresh(id ticketview.SectionID) {
	k.markDirty(id)
	select {
	case k.poke <- struct{}{}:
	default:
	}
}

// Stats reports the keeper's counters.
func (k *ViewKeeper) Stats() ViewKeeperStats {
	k.mu.Lock()
	dirty := len(k.dirty)
	k.mu.Unlock()
	return ViewKeeperStats{Applied: k.applied.Load(), Refills: k.refills.Load(), Failures: k.failures.Load(),
		Dropped: k.q.dropped.Load(), Dirty: dirty, Queued: k.q.len()}
}

// Close stops the keeper; deltas still queued are dropped (the cache is only a cache).
func (k *ViewKeeper) Close() {
	select {
	case <-k.stop:
	default:
		close(k.stop)
	}
	<-k.done
}

func (k *ViewKeeper) markDirty(ids ...ticketview.SectionID) {
	k.mu.Lock()
	for _, id := range ids {
		k.dirty[id] = struct{}{}
	}
	k.mu.Unlock()
}

func (k *ViewKeeper) run() {
	defer close(k.done)
	tick := time.NewTicker(k.retry)
	defer tick.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-k.q.wake:
			k.drain()
		case <-k.poke:
			k.drain()
			k.refill()
		case <-tick.C:
			k.drain()
			k.refill()
		}
	}
}

const feedBatch = 256

func (k *ViewKeeper) drain() {
	for {
		batch := k.q.take(feedBatch)
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		stale, err := k.cache.ApplyDeltas(ctx, batch)
		cancel()
		if err != nil {
			k.failures.Add(1)
			ids := make([]ticketview.SectionID, len(batch))
			for i := range batch {
				ids[i] = batch[i].Section
			}
			k.markDirty(ids...)
			k.log.Debug("availability cache: deltas not applied", zap.Error(err))
			continue
		}
		k.applied.Add(int64(len(batch)))
		if len(stale) > 0 {
			k.markDirty(stale...)
			k.refill()
		}
	}
}

// refill puts a fresh availability for every dirty section. A section stays dirty until
// the cache takes it.
func (k *ViewKeeper) refill() {
	k.mu.Lock()
	ids := make([]ticketview.SectionID, 0, len(k.dirty))
	for id := range k.dirty {
		ids = append(ids, id)
	}
	k.mu.Unlock()
	for _, id := range ids {
		select {
		case <-k.stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		a, err := k.source(ctx, id)
		if err == nil {
			err = k.cache.PutAvailability(ctx, a)
		}
		cancel()
		if err != nil {
			k.failures.Add(1)
			k.log.Debug("availability cache: refill failed", zap.Stringer("section", id), zap.Error(err))
			return // the cache (or the section) is down: try again at the next tick
		}
		k.refills.Add(1)
		k.mu.Lock()
		delete(k.dirty, id)
		k.mu.Unlock()
	}
}

// AuditFeeder writes the engine's domain events to a ticketview.AuditLog: give it to the
// engine as (one of) its EventPublisher(s). One goroutine writes batches; a failed batch
// is retried (the log is idempotent by section and seq) with backoff until it is taken,
// so a log that is down for a while loses nothing as long as the queue (MaxQueued
// entries) does not overflow; entries that overflow it are counted as dropped.
type AuditFeeder struct {
	log  ticketview.AuditLog
	zlog *zap.Logger
	q    *feedQueue[ticketview.AuditEntry]

	stop chan struct{}
	done chan struct{}

	written, failures atomic.Int64
}

// AuditFeederStats counts what an AuditFeeder did.
type AuditFeederStats struct {
	Written, Failures, Dropped int64
	Queued                     int
}

// MaxQueued is how many audit entries may wait for the audit log.
const MaxQueued = 1 << 18

// NewAuditFeeder starts a feeder of log. Close stops it.
func NewAuditFeeder(log ticketview.AuditLog, zlog *zap.Logger) *AuditFeeder {
	if zlog == nil {
		zlog = zap.NewNop()
	}
	f := &AuditFeeder{log: log, zlog: zlog.Named("audit"), q: newFeedQueue[ticketview.AuditEntry](MaxQueued),
		stop: make(chan struct{}), done: make(chan struct{})}
	go f.run()
	return f
}

// PublishEvents implements ticketview.EventPublisher. It never blocks.
func (f *AuditFeeder) PublishEvents(evs []ticketview.DomainEvent) {
	entries := make([]ticketview.AuditEntry, len(evs))
	for i := range evs {
		entries[i] = evs[i].Audit()
	}
	if !f.q.push(entries...) {
		f.zlog.Warn("audit queue full: entries dropped", zap.Int("entries", len(entries)))
	}
}

// Stats reports the feeder's counters.
func (f *AuditFeeder) Stats() AuditFeederStats {
	return AuditFeederStats{Written: f.written.Load(), Failures: f.failures.Load(), Dropped: f.q.dropped.Load(), Queued: f.q.len()}
}

// Close stops the feeder after one last attempt (bounded by ctx) to write what is queued.
func (f *AuditFeeder) Close(ctx context.Context) {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.done
	for {
		batch := f.q.take(feedBatch)
		if len(batch) == 0 || f.log.AppendAudit(ctx, batch) != nil {
			return
		}
		f.written.Add(int64(len(batch)))
	}
}

func (f *AuditFeeder) run() {
	defer close(f.done)
	var batch []ticketview.AuditEntry
	backoff := 50 * time.Millisecond
	for {
		if batch == nil {
			batch = f.q.take(feedBatch)
		}
		if len(batch) == 0 {
			batch = nil
			select {
			case <-f.stop:
				return
			case <-f.q.wake:
			}
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := f.log.AppendAudit(ctx, batch)
		cancel()
		if err == nil {
			f.written.Add(int64(len(batch)))
			batch, backoff = nil, 50*time.Millisecond
			continue
		}
		f.failures.Add(1)
		if ticketview.ErrorCode(err) == ticketview.EINVALID {
			// Retrying cannot help and would block every later entry.
			f.zlog.Error("audit log refused a batch as invalid; dropping it", zap.Int("entries", len(batch)), zap.Error(err))
			f.q.dropped.Add(int64(len(batch)))
			batch = nil
			continue
		}
		f.zlog.Debug("audit log: batch not written; will retry", zap.Error(err))
		t := time.NewTimer(backoff)
		select {
		case <-f.stop:
			t.Stop()
			// Put the batch back in front for Close's last attempt.
			rest := f.q.take(MaxQueued)
			f.q.push(append(batch, rest...)...)
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
