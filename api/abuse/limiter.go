// Package abuse protects the gateway from abusive traffic: request rate limits
// (Limiter.Allow, Limiter.AllowN), limits on requests in flight (Limiter.Acquire), and
// CAPTCHA challenges for suspicious patterns (Guard, with a Verifier: a proof of work
// or a widget provider's siteverify).
//
// All state lives in a ticketview.RateCounter: with the Redis counter, every gateway
// sharing the server (and the key prefix) sees the same counts, so limits and challenge
// decisions hold across gateways; with the in-process counter they hold per process.
// Nothing here keeps state of its own beyond configuration, and every type is safe for
// concurrent use.
//
// Counter keys, under the prefix given to NewLimiter or NewGuard:
//
//	rl:<key>                     a rate-limit window (Allow, AllowN)
//	if:<ttl ms>:<bucket>:<key>   in-flight slots taken in one time bucket (Acquire)
//	g:<signal>:<subject>         a Guard's count of one signal for one subject
//	gp:<bucket>:<subject>        a Guard's passes granted in one time bucket
//
// and "abuse:pow:<id>" marks a spent proof-of-work challenge.
package abuse

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ticketview/ticketview"
)

// MaxKeyLen bounds a limiter key and a Guard subject, in bytes.
const MaxKeyLen = 256

// undoTimeout bounds the calls that give back what was taken (a refused request's
// increment, a released slot) after the caller's context may have ended.
const undoTimeout = 5 * time.Second

// Decision is the outcome of a limit check.
type Decision struct {
	Allowed bool
	// Remaining is how many more units the limit allows now (after this request, when it
	// was allowed); never negative.
	Remaining int64
	// RetryAfter is set when not allowed: for Allow and AllowN the time until the window
	// resets; for Acquire a short pause (slots free as requests finish). Use
	// RetryAfterSeconds for a Retry-After header.
	RetryAfter time.Duration
	// Limit is the limit that was checked.
	Limit int64
	// ResetIn is the time until the current window resets (Allow and AllowN only).
	ResetIn time.Duration
}

// RetryAfterSeconds is RetryAfter rounded up to whole seconds and at least 1, for a
// Retry-After header; 0 when the request was allowed.
func (d Decision) RetryAfterSeconds() int64 {
	if d.Allowed {
		return 0
	}
	return max(1, int64((d.RetryAfter+time.Second-1)/time.Second))
}

// Limiter enforces rate limits and in-flight limits on a ticketview.RateCounter. Every
// limiter over the same counter store and prefix shares the counts: two gateways with a
// Limiter each over one Redis behave as one limiter.
//
// A key should always be checked with the same limit and window (or ttl): a fixed
// window's length is set by the call that starts it.
type Limiter struct {
	c      ticketview.RateCounter
	prefix string
	now    func() time.Time // the clock of the in-flight buckets; tests replace it
}

// NewLimiter returns a limiter whose counter keys start with prefix (e.g. "abuse:"), so
// that several uses of one counter store stay apart.
func NewLimiter(c ticketview.RateCounter, prefix string) *Limiter {
	return &Limiter{c: c, prefix: prefix, now: time.Now}
}

// Allow takes one unit of key's limit in the current window. See AllowN.
func (l *Limiter) Allow(ctx context.Context, key string, limit int64, window time.Duration) (Decision, error) {
	return l.AllowN(ctx, key, 1, limit, window)
}

// AllowN takes n units of key's limit: at most limit units are allowed per fixed window,
// which starts at the first request after the previous one ended and lasts window.
//
// A refused request takes nothing: its increment is undone, so refused retries do not
// extend the refusal. While a refused increment is being undone, a concurrent request
// may be refused although it would fit (a spurious refusal, never an over-admission).
// If the undo lands in the next window (the window ended in between), the next window
// is restored too, so a refusal never leaves credit behind. If the undo itself fails
// the refusal stands and the window keeps the extra count until it ends.
//
// Errors: EINVALID for an empty or too long key, n < 1, limit < 1, n > limit (such a
// request could never be allowed) or a window that is not positive; the counter's
// errors (EUNAVAILABLE when Redis is down) as they are, for the caller to decide
// whether to fail open or closed.
func (l *Limiter) AllowN(ctx context.Context, key string, n, limit int64, window time.Duration) (Decision, error) {
	switch {
	case l == nil || l.c == nil:
		return Decision{}, ticketview.Errorf(ticketview.EINTERNAL, "abuse: limiter has no rate counter")
	case key == "" || len(key) > MaxKeyLen:
		return Decision{}, ticketview.Errorf(ticketview.EINVALID, "rate limit key must be 1 to %d bytes", MaxKeyLen)
	case n < 1 || limit < 1:
		return Decision{}, ticketview.Errorf(ticketview.EINVALID, "rate limit: n (%d) and limit (%d) must be positive", n, limit)
	case n > limit:
		return Decision{}, ticketview.Errorf(ticketview.EINVALID, "rate limit: %d units exceed the limit of %d", n, limit)
	case window <= 0:
		return Decision{}, ticketview.Errorf(ticketview.EINVALID, "rate limit window must be positive, got %s", window)
	}
	k := l.prefix + "rl:" + key
	v, reset, err := l.c.Incr(ctx, k, n, window)
	if err != nil {
		return Decision{}, err
	}
	if v <= limit {
		return Decision{Allowed: true, Remaining: limit - v, Limit: limit, ResetIn: reset}, nil
	}
	l.undo(ctx, k, n, window)
	return Decision{Remaining: min(limit, max(0, limit-(v-n))), RetryAfter: reset, Limit: limit, ResetIn: reset}, nil
}

// undo gives back n units taken from key, even when ctx has ended. Within one window a
// counter never goes below zero (every decrement follows its own increment), so a
// negative result proves that the decrement landed in a new window; n is then added
// back, which is exact when the crossing decrement was this one and errs towards
// refusing when it was another's. It reports whether the units were given back.
func (l *Limiter) undo(ctx context.Context, key string, n int64, window time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	v, _, err := l.c.Incr(ctx, key, -n, window)
	if err != nil {
		return false
	}
	if v < 0 {
		_, _, _ = l.c.Incr(ctx, key, n, window)
	}
	return true
}

// Acquire takes one of limit concurrent slots for key: the request holds it while in
// flight and gives it back by calling release (exactly once is the contract; further
// calls do nothing, and a nil error always comes with a non-nil release, a no-op when
// the slot was refused). ttl bounds how long a slot counts, so that a gateway that
// crashes with slots taken does not leak them forever: use one ttl per key, longer than
// any request that holds a slot.
//
// The port only has fixed windows, and a plain counter would forget the slots still
// taken when its window resets (their later releases would then drive the next
// window's count down and let more than limit in). Instead slots are counted in time
// buckets of length ttl (bucket = unix time / ttl): a slot is added to the counter of
// the bucket in which it was taken, and a request in bucket b counts the slots of
// buckets b-1, b and b+1 (b+1 only holds slots of a gateway whose clock is ahead).
// Each bucket's counter lives 4·ttl from its first use, longer than it is ever counted,
// and a release decrements the bucket it took from unless that bucket no longer
// counts, so a release can never subtract from slots taken later. The guarantee:
//
//   - A slot counts from when it is taken for at least ttl and at most 2·ttl.
//   - So while every holder releases within ttl (and gateway clocks agree to well within
//     ttl), at most limit slots are held at any moment. A holder that keeps its slot
//     longer than ttl may stop counting, letting one more in per such holder; a slot
//     never released (a crashed gateway) is free again within 2·ttl.
//   - Concurrent acquirers each add first and check after (the check reads the other
//     buckets after its own increment), so two of them can both be refused when one
//     would fit, but never both be admitted past the limit.
//
// A refused Acquire suggests a retry after a second (ttl when shorter). If release
// cannot reach the counter, the slot counts until it ages out (at most 2·ttl).
//
// Errors: EINVALID for an empty or too long key, limit < 1 or ttl below a millisecond;
// the counter's errors as they are.
func (l *Limiter) Acquire(ctx context.Context, key string, limit int64, ttl time.Duration) (release func(), d Decision, err error) {
	release = func() {}
	switch {
	case l == nil || l.c == nil:
		return release, Decision{}, ticketview.Errorf(ticketview.EINTERNAL, "abuse: limiter has no rate counter")
	case key == "" || len(key) > MaxKeyLen:
		return release, Decision{}, ticketview.Errorf(ticketview.EINVALID, "in-flight key must be 1 to %d bytes", MaxKeyLen)
	case limit < 1:
		return release, Decision{}, ticketview.Errorf(ticketview.EINVALID, "in-flight limit must be positive, got %d", limit)
	case ttl < time.Millisecond:
		return release, Decision{}, ticketview.Errorf(ticketview.EINVALID, "in-flight ttl must be at least 1ms, got %s", ttl)
	}
	ttlMs := int64((ttl + time.Millisecond - 1) / time.Millisecond)
	bucket := l.now().UnixMilli() / ttlMs
	base := l.prefix + "if:" + strconv.FormatInt(ttlMs, 10) + ":"
	keyOf := func(b int64) string { return base + strconv.FormatInt(b, 10) + ":" + key }
	window := 4 * time.Duration(ttlMs) * time.Millisecond

	mine := keyOf(bucket)
	v, _, err := l.c.Incr(ctx, mine, 1, window)
	if err != nil {
		return release, Decision{}, err
	}
	// Read the neighbouring buckets, both at once (after the increment: see above).
	type read struct {
		v   int64
		err error
	}
	next := make(chan read, 1)
	go func() {
		v, _, err := l.c.Incr(ctx, keyOf(bucket+1), 0, window)
		next <- read{v, err}
	}()
	prev, _, err := l.c.Incr(ctx, keyOf(bucket-1), 0, window)
	n := <-next
	if err == nil {
		err = n.err
	}
	if err != nil {
		l.undo(ctx, mine, 1, window)
		return release, Decision{}, err
	}
	total := v + max(0, prev) + max(0, n.v)
	if total > limit {
		l.undo(ctx, mine, 1, window)
		return release, Decision{Remaining: 0, RetryAfter: min(time.Second, ttl), Limit: limit}, nil
	}
	var done atomic.Bool
	release = func() {
		if !done.CompareAndSwap(false, true) {
			return
		}
		// Once the slot's bucket no longer counts, its counter may be gone or about to
		// go: leave it alone.
		if l.now().UnixMilli()/ttlMs >= bucket+2 {
			return
		}
		l.undo(ctx, mine, 1, window)
	}
	return release, Decision{Allowed: true, Remaining: limit - total, Limit: limit}, nil
}
