// Package groupcommit is the request queue shared by the stores' group committers: callers
// submit requests and await their outcome; one committer goroutine takes what is queued,
// in queue order, and applies it as one batch (one transaction, one fsync) through the
// store's own apply function.
//
// A caller whose context ends while its request is still queued withdraws it: the request
// will never be applied and the caller gets ctx.Err(). Once the committer has taken a
// request, the caller learns its outcome after the batch's commit. After Close, requests
// still queued fail with the store's closed error.
package groupcommit

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"
)

// Request is the part of a store's request that the queue manages; a store's request
// type embeds it.
type Request struct {
	ctx   context.Context
	state atomic.Int32
	done  chan struct{}

	// Err is the request's outcome, set by the committer before it answers.
	Err error
}

const (
	pending   int32 = iota // queued
	taken                  // the committer has it: it will be answered
	cancelled              // the caller gave up first: it will never run
)

func (r *Request) base() *Request { return r }

// Context is the context the request was submitted with.
func (r *Request) Context() context.Context { return r.ctx }

// Done is closed when the request is answered.
func (r *Request) Done() <-chan struct{} { return r.done }

// Finish answers the request with err.
func (r *Request) Finish(err error) {
	r.Err = err
	close(r.done)
}

// Answer answers the request with the outcome already in Err.
func (r *Request) Answer() { close(r.done) }

// Item is a pointer to a store's request type, which embeds Request.
type Item interface {
	base() *Request
}

// Config describes a store's queue and its commit delay.
//
// Commit delay. Under load, the callers the last commit answered come back at once with
// their next writes, just after the committer has taken what queued meanwhile; without a
// pause the load splits into two half-size batches that take turns, each paying a full
// fsync. So when the last commit answered GatherMin or more requests, the committer waits
// a little for them: until as many requests as it answered have joined, until none came
// for GatherQuiet, or GatherMax at most. A lone writer never waits.
type Config struct {
	Size     int   // requests that may wait in the queue
	MaxBatch int   // most requests taken into one batch
	Closed   error // the outcome of requests made or still queued after Close

	GatherMin   int
	GatherQuiet time.Duration
	GatherMax   time.Duration
}

// Queue is the queue of requests of type R (a pointer type) waiting for the committer.
type Queue[R Item] struct {
	cfg     Config
	ch      chan R
	quit    chan struct{} // closed by Close: stop taking requests
	stopped chan struct{} // closed when the committer has exited
}

// New returns an empty queue; the store starts its committer with go q.Run(apply).
func New[R Item](cfg Config) *Queue[R] {
	return &Queue[R]{
		cfg:     cfg,
		ch:      make(chan R, cfg.Size),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
}

// Len is the number of requests queued.
func (q *Queue[R]) Len() int { return len(q.ch) }

// Close stops the committer and waits for it to exit; requests still queued fail with
// the closed error. Call it once.
func (q *Queue[R]) Close() {
	close(q.quit)
	<-q.stopped
}

// Submit queues r for the committer. Requests are applied in the order they entered the
// queue: a goroutine's submits (or submits ordered by a lock) keep their order.
func (q *Queue[R]) Submit(ctx context.Context, r R) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-q.quit:
		return q.cfg.Closed
	default:
	}
	b := r.base()
	b.ctx = ctx
	b.done = make(chan struct{})
	select {
	case q.ch <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-q.quit:
		return q.cfg.Closed
	}
}

// Await waits for a request's outcome. A caller whose context ends while the request is
// still queued withdraws it (it will never be applied); once the committer has taken it,
// the outcome is known within one commit, and Await reports it.
func (q *Queue[R]) Await(ctx context.Context, r R) error {
	b := r.base()
	select {
	case <-b.done:
		return b.Err
	case <-ctx.Done():
		if b.state.CompareAndSwap(pending, cancelled) {
			return ctx.Err()
		}
	case <-q.stopped:
		if b.state.CompareAndSwap(pending, cancelled) {
			return q.cfg.Closed
		}
	}
	<-b.done
	return b.Err
}

// Do submits r and awaits its outcome.
func (q *Queue[R]) Do(ctx context.Context, r R) error {
	if err := q.Submit(ctx, r); err != nil {
		return err
	}
	return q.Await(ctx, r)
}

// Take appends to live the requests of reqs the committer takes, in order: those not
// withdrawn by their callers. A request whose context has ended is answered with its
// error instead. Every request appended must be answered.
func Take[R Item](live, reqs []R) []R {
	for _, r := range reqs {
		b := r.base()
		if !b.state.CompareAndSwap(pending, taken) {
			continue // withdrawn by its caller
		}
		if err := b.ctx.Err(); err != nil {
			b.Finish(err)
			continue
		}
		live = append(live, r)
	}
	return live
}

// Run is the committer: it takes the first queued request, drains what else is queued (up
// to MaxBatch, after the commit delay), and passes the batch to apply, which answers the
// requests it takes (see Take) and returns how many requests the commit answered. Run
// returns after Close, once it has failed the requests still queued.
func (q *Queue[R]) Run(apply func(reqs []R) (answered int)) {
	defer close(q.stopped)
	reqs := make([]R, 0, q.cfg.MaxBatch)
	answered := 0 // requests answered by the last commit
	for {
		select {
		case <-q.quit:
			q.drainClosed()
			return
		default:
		}
		select {
		case r := <-q.ch:
			reqs = append(reqs[:0], r)
		case <-q.quit:
			q.drainClosed()
			return
		}
		reqs = q.drain(reqs)
		if answered >= q.cfg.GatherMin && len(reqs) < q.cfg.MaxBatch {
			reqs = q.gather(reqs, answered)
		}
		answered = apply(reqs)
		clear(reqs) // let answered requests be collected
	}
}

func (q *Queue[R]) drain(reqs []R) []R {
	for len(reqs) < q.cfg.MaxBatch {
		select {
		case r := <-q.ch:
			reqs = append(reqs, r)
		default:
			return reqs
		}
	}
	return reqs
}

// gather is the commit delay (see Config).
func (q *Queue[R]) gather(reqs []R, answered int) []R {
	want := min(len(reqs)+answered, q.cfg.MaxBatch)
	start := time.Now()
	quietSince, seen := start, len(reqs)+len(q.ch)
	for seen < want {
		runtime.Gosched() // let the answered callers run
		now := time.Now()
		if n := len(reqs) + len(q.ch); n != seen {
			seen, quietSince = n, now
		} else if now.Sub(quietSince) >= q.cfg.GatherQuiet || now.Sub(start) >= q.cfg.GatherMax {
			break
		}
	}
	return q.drain(reqs)
}

func (q *Queue[R]) drainClosed() {
	for {
		select {
		case r := <-q.ch:
			if b := r.base(); b.state.CompareAndSwap(pending, taken) {
				b.Finish(q.cfg.Closed)
			}
		default:
			return
		}
	}
}
