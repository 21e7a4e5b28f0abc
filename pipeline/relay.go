package pipeline

import (
	"context"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/ticketview/ticketview"
)

// Defaults of RelayConfig.
const (
	DefaultRelayBatch = 500
	DefaultRelayIdle  = 200 * time.Millisecond
	DefaultLockRetry  = 3 * time.Second
)

// markTimeout bounds marking a published batch, which the relay finishes even when its
// context has ended (so that the batch is not published again by the next relay).
const markTimeout = 5 * time.Second

// RelayConfig configures a Relay. Outbox and Sink are required.
type RelayConfig struct {
	Outbox ticketview.Outbox
	Sink   ticketview.MessageSink
	// Batch is the most messages read, published and marked at once (default 500).
	Batch int
	// Idle is the pause between reads when the outbox has nothing pending (default
	// 200 ms); Wake cuts it short.
	Idle time.Duration
	// Lock, if set, is taken before relaying: only its holder relays. Without it, the
	// relay must be the only one running.
	Lock Locker
	// LockRetry is the pause between attempts to take the lock (default 3 s).
	LockRetry time.Duration
	Log       *zap.Logger // default: no logging
}

// Relay publishes the outbox's pending messages to a sink and marks them published:
// batch after batch, in the order they were written. A failure to read, publish or mark
// is retried after a pause (100 ms, doubling up to 5 s): no message is skipped, none is
// published before one written earlier. A batch published but not marked (the outbox
// failed, the process stopped) is published again: at least once.
type Relay struct {
	cfg  RelayConfig
	wake chan struct{} // a token: the idle pause ends

	relayed, errors atomic.Uint64
}

// NewRelay returns a relay; Run runs it.
func NewRelay(cfg RelayConfig) *Relay {
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultRelayBatch
	}
	if cfg.Idle <= 0 {
		cfg.Idle = DefaultRelayIdle
	}
	if cfg.LockRetry <= 0 {
		cfg.LockRetry = DefaultLockRetry
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return &Relay{cfg: cfg, wake: make(chan struct{}, 1)}
}

// Wake tells the relay that messages were written: if it is idle, it reads the outbox
// now. It never blocks.
func (r *Relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Stats reports how many messages were relayed (published and marked), and how many
// attempts failed, since the relay was made.
func (r *Relay) Stats() (relayed, errors uint64) {
	return r.relayed.Load(), r.errors.Load()
}

// Run relays until ctx ends, then returns nil. With a Lock, it relays only while it
// holds the lock: it tries to take it every LockRetry, confirms it before each batch it
// publishes, stops relaying if it is lost, and releases it on the way out. A config
// without Outbox or Sink is EINVALID.
func (r *Relay) Run(ctx context.Context) error {
	if r.cfg.Outbox == nil || r.cfg.Sink == nil {
		return ticketview.Errorf(ticketview.EINVALID, "relay: needs an outbox and a sink")
	}
	if r.cfg.Lock == nil {
		r.relay(ctx)
		return nil
	}
	for ctx.Err() == nil {
		held, err := r.cfg.Lock.TryLock(ctx)
		if err != nil && ctx.Err() == nil {
			r.errors.Add(1)
			r.cfg.Log.Warn("relay: cannot take the lock", zap.Error(err))
		}
		if !held {
			sleep(ctx, r.cfg.LockRetry)
			continue
		}
		r.cfg.Log.Info("relay: took the lock; relaying")
		r.relay(ctx)
		r.unlock(ctx)
	}
	return nil
}

// unlock releases the lock, even though ctx may have ended.
func (r *Relay) unlock(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	if err := r.cfg.Lock.Unlock(ctx); err != nil {
		r.cfg.Log.Warn("relay: releasing the lock", zap.Error(err))
	}
}

// relay publishes batches until ctx ends or the lock (if any) is lost.
func (r *Relay) relay(ctx context.Context) {
	var bo backoff
	var unmarked []int64 // offsets published whose marking failed
	for ctx.Err() == nil {
		if len(unmarked) > 0 {
			if err := r.mark(ctx, unmarked); err != nil {
				r.fail(ctx, &bo, "mark published", err)
				continue
			}
			r.relayed.Add(uint64(len(unmarked)))
			unmarked = nil
		}
		msgs, err := r.cfg.Outbox.PendingMessages(ctx, r.cfg.Batch)
		if err != nil {
			r.fail(ctx, &bo, "read the outbox", err)
			continue
		}
		if len(msgs) == 0 {
			r.idle(ctx)
			continue
		}
		if !r.stillLocked(ctx) {
			return
		}
		if err := r.cfg.Sink.Publish(ctx, msgs); err != nil {
			r.fail(ctx, &bo, "publish", err)
			continue
		}
		offsets := make([]int64, len(msgs))
		for i, m := range msgs {
			offsets[i] = m.Offset
		}
		if err := r.mark(ctx, offsets); err != nil {
			unmarked = offsets
			r.fail(ctx, &bo, "mark published", err)
			continue
		}
		r.relayed.Add(uint64(len(msgs)))
		bo.reset()
	}
}

// mark marks offsets published, finishing even if ctx ends meanwhile.
func (r *Relay) mark(ctx context.Context, offsets []int64) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	return r.cfg.Outbox.MarkPublished(ctx, offsets)
}

// stillLocked confirms that the relay holds its lock (true without a lock).
func (r *Relay) stillLocked(ctx context.Context) bool {
	if r.cfg.Lock == nil {
		return true
	}
	held, err := r.cfg.Lock.TryLock(ctx)
	if err != nil && ctx.Err() == nil {
		r.errors.Add(1)
		r.cfg.Log.Warn("relay: cannot confirm the lock", zap.Error(err))
	}
	if !held && ctx.Err() == nil {
		r.cfg.Log.Warn("relay: lost the lock; stopped relaying")
	}
	return held
}

// idle waits for Idle, a Wake or the end of ctx.
func (r *Relay) idle(ctx context.Context) {
	t := time.NewTimer(r.cfg.Idle)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.wake:
	case <-ctx.Done():
	}
}

// fail counts and logs a failed attempt and pauses before the next.
func (r *Relay) fail(ctx context.Context, bo *backoff, op string, err error) {
	if ctx.Err() != nil {
		return
	}
	r.errors.Add(1)
	d := bo.next()
	r.cfg.Log.Warn("relay: "+op+" failed; retrying", zap.Error(err), zap.Duration("after", d))
	sleep(ctx, d)
}
