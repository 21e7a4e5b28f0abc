package abuse_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api/abuse"
	"github.com/ticketview/ticketview/internal/testutil"
)

func allow(t testing.TB, l *abuse.Limiter, key string, n, limit int64, window time.Duration) abuse.Decision {
	t.Helper()
	d, err := l.AllowN(testCtx(t), key, n, limit, window)
	if err != nil {
		t.Fatalf("AllowN(%s, %d, %d, %s): %v", key, n, limit, window, err)
	}
	if d.Limit != limit || d.Remaining < 0 || d.Remaining > limit {
		t.Fatalf("AllowN(%s, %d, %d): %+v: wrong limit or remaining out of range", key, n, limit, d)
	}
	if d.ResetIn <= 0 || d.ResetIn > window {
		t.Fatalf("AllowN(%s): ResetIn %s, want in (0, %s]", key, d.ResetIn, window)
	}
	return d
}

func TestAllowExactPerWindow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		c, _ := bk.open(t)
		l := abuse.NewLimiter(c, "lim:")
		const limit, window = 5, time.Minute
		for i := range int64(limit) {
			d, err := l.Allow(testCtx(t), "user:1", limit, window)
			if err != nil || !d.Allowed || d.Remaining != limit-1-i || d.RetryAfter != 0 || d.RetryAfterSeconds() != 0 {
				t.Fatalf("request %d: %+v, %v; want allowed with %d remaining", i+1, d, err, limit-1-i)
			}
		}
		for i := range 3 {
			d := allow(t, l, "user:1", 1, limit, window)
			if d.Allowed || d.Remaining != 0 {
				t.Fatalf("request %d over the limit: %+v, want refused with 0 remaining", limit+1+i, d)
			}
			if d.RetryAfter <= 0 || d.RetryAfter > window || d.RetryAfter != d.ResetIn {
				t.Fatalf("refused: RetryAfter %s, want the time to the reset (%s), in (0, %s]", d.RetryAfter, d.ResetIn, window)
			}
			if s := d.RetryAfterSeconds(); s < 1 || s > 60 {
				t.Fatalf("RetryAfterSeconds %d, want in [1, 60]", s)
			}
		}
		// Other keys, and the same key under another prefix, are other limits.
		if d := allow(t, l, "user:2", 1, limit, window); !d.Allowed || d.Remaining != limit-1 {
			t.Fatalf("user:2: %+v, want its own limit", d)
		}
		if d := allow(t, abuse.NewLimiter(c, "other:"), "user:1", 1, limit, window); !d.Allowed {
			t.Fatalf("user:1 under another prefix: %+v, want allowed", d)
		}
	})
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    abuse.Decision
		want int64
	}{
		{abuse.Decision{Allowed: true, RetryAfter: time.Hour}, 0},
		{abuse.Decision{RetryAfter: time.Millisecond}, 1},
		{abuse.Decision{RetryAfter: 0}, 1},
		{abuse.Decision{RetryAfter: time.Second}, 1},
		{abuse.Decision{RetryAfter: time.Second + time.Nanosecond}, 2},
		{abuse.Decision{RetryAfter: 59500 * time.Millisecond}, 60},
	} {
		if got := tc.d.RetryAfterSeconds(); got != tc.want {
			t.Errorf("%+v: RetryAfterSeconds %d, want %d", tc.d, got, tc.want)
		}
	}
}

func TestAllowNRefusalTakesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		c, _ := bk.open(t)
		l := abuse.NewLimiter(c, "lim:")
		const limit, window = 10, time.Minute
		if d := allow(t, l, "k", 7, limit, window); !d.Allowed || d.Remaining != 3 {
			t.Fatalf("7 of 10: %+v", d)
		}
		for range 5 {
			if d := allow(t, l, "k", 4, limit, window); d.Allowed || d.Remaining != 3 || d.RetryAfter <= 0 {
				t.Fatalf("4 more with 3 left: %+v, want refused with 3 remaining and a RetryAfter", d)
			}
		}
		// The refusals took nothing: exactly 3 are left.
		if d := allow(t, l, "k", 3, limit, window); !d.Allowed || d.Remaining != 0 {
			t.Fatalf("the last 3: %+v, want allowed with 0 remaining", d)
		}
		if d := allow(t, l, "k", 1, limit, window); d.Allowed {
			t.Fatalf("one more after the limit: %+v, want refused", d)
		}
	})
}

func TestAllowResetsAfterWindow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		c, _ := bk.open(t)
		l := abuse.NewLimiter(c, "lim:")
		const limit, window = 3, 300 * time.Millisecond
		for range limit {
			if d := allow(t, l, "k", 1, limit, window); !d.Allowed {
				t.Fatalf("within the limit: %+v", d)
			}
		}
		d := allow(t, l, "k", 1, limit, window)
		if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > window || d.RetryAfterSeconds() != 1 {
			t.Fatalf("over the limit: %+v, want refused with RetryAfter in (0, %s] (1 s rounded up)", d, window)
		}
		refusedAt := time.Now()
		testutil.CheckFor(t, 5*time.Second, func() error {
			d, err := l.Allow(testCtx(t), "k", limit, window)
			if err != nil {
				t.Fatal(err)
			}
			if !d.Allowed {
				return fmt.Errorf("still refused %s after the refusal: %+v", time.Since(refusedAt), d)
			}
			// The first request of a new window.
			if d.Remaining != limit-1 {
				t.Fatalf("first request after the reset: %+v, want %d remaining", d, limit-1)
			}
			return nil
		})
		// The new window allows limit again: one taken above, limit-1 more.
		for i := range limit - 1 {
			if d := allow(t, l, "k", 1, limit, time.Minute); !d.Allowed {
				t.Fatalf("request %d of the new window refused: %+v", i+2, d)
			}
		}
	})
}

// TestAllowTwoLimitersAreOne: limiters of two gateways over one counter store share
// every limit, under concurrent use.
func TestAllowTwoLimitersAreOne(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		a, b := bk.open(t)
		limiters := []*abuse.Limiter{abuse.NewLimiter(a, "lim:"), abuse.NewLimiter(b, "lim:")}
		const limit, workers, each = 50, 16, 10
		var allowed atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				l := limiters[w%2]
				for i := range each {
					n := int64(1 + (w+i)%2) // AllowN of 1 and 2 units
					d, err := l.AllowN(testCtx(t), "shared", n, limit, time.Minute)
					if err != nil {
						errs <- err
						return
					}
					if d.Allowed {
						allowed.Add(n)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// 240 units were asked for; the units allowed never exceed the limit, and the
		// last unit refused proves the window is full (refusals took nothing).
		if got := allowed.Load(); got > limit {
			t.Fatalf("%d units allowed across two limiters, limit %d", got, limit)
		}
		left := limit - allowed.Load()
		for i := range left {
			if d := allow(t, limiters[int(i)%2], "shared", 1, limit, time.Minute); !d.Allowed {
				t.Fatalf("unit %d of the %d left refused: %+v", i+1, left, d)
			}
		}
		for _, l := range limiters {
			if d := allow(t, l, "shared", 1, limit, time.Minute); d.Allowed {
				t.Fatalf("a unit beyond the limit allowed: %+v", d)
			}
		}
	})
}

// crossingCounter ends the window of the in-process counter right after each
// increment that pushes a counter over its cap, so that the undo of a refusal lands in
// the next window.
type crossingCounter struct {
	clk *clock
	c   ticketview.RateCounter
	cap int64
}

func (x *crossingCounter) Incr(ctx context.Context, key string, n int64, window time.Duration) (int64, time.Duration, error) {
	v, reset, err := x.c.Incr(ctx, key, n, window)
	if err == nil && n > 0 && v > x.cap {
		x.clk.Add(reset) // the window ends before the undo
	}
	return v, reset, err
}

// TestAllowUndoAcrossWindow: a refusal whose undo lands in the next window leaves that
// window with its full limit, not more.
func TestAllowUndoAcrossWindow(t *testing.T) {
	clk := newClock(time.Unix(1_700_000_000, 0))
	const limit, window = 5, time.Minute
	c := &crossingCounter{clk: clk, c: fakeCounter(clk), cap: limit}
	l := abuse.NewLimiter(c, "lim:")
	if d := allow(t, l, "k", 4, limit, window); !d.Allowed {
		t.Fatalf("4 of 5: %+v", d)
	}
	if d := allow(t, l, "k", 3, limit, window); d.Allowed {
		t.Fatalf("3 more with 1 left: %+v, want refused", d)
	}
	// The undo of the 3 landed in the new window; it must still allow exactly 5.
	c.cap = 1 << 40
	if d := allow(t, l, "k", 5, limit, window); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("the new window's 5: %+v, want allowed with 0 remaining", d)
	}
	if d := allow(t, l, "k", 1, limit, window); d.Allowed {
		t.Fatalf("a 6th unit in the new window: %+v, want refused (the undo left credit behind)", d)
	}
}

func TestLimiterInvalid(t *testing.T) {
	l := abuse.NewLimiter(fakeCounter(newClock(time.Now())), "lim:")
	ctx := testCtx(t)
	long := string(make([]byte, abuse.MaxKeyLen+1))
	for _, tc := range []struct {
		name        string
		key         string
		n, limit    int64
		window      time.Duration
		skipAcquire bool
	}{
		{"empty key", "", 1, 5, time.Minute, false},
		{"long key", long, 1, 5, time.Minute, false},
		{"zero n", "k", 0, 5, time.Minute, true},
		{"negative n", "k", -1, 5, time.Minute, true},
		{"zero limit", "k", 1, 0, time.Minute, false},
		{"negative limit", "k", 1, -3, time.Minute, false},
		{"n above limit", "k", 6, 5, time.Minute, true},
		{"zero window", "k", 1, 5, 0, false},
		{"negative window", "k", 1, 5, -time.Second, false},
	} {
		_, err := l.AllowN(ctx, tc.key, tc.n, tc.limit, tc.window)
		wantCode(t, "AllowN "+tc.name, err, ticketview.EINVALID)
		if tc.skipAcquire {
			continue // n plays no part in Acquire
		}
		release, _, err := l.Acquire(ctx, tc.key, tc.limit, tc.window)
		wantCode(t, "Acquire "+tc.name, err, ticketview.EINVALID)
		if release == nil {
			t.Fatalf("Acquire %s: nil release", tc.name)
		}
		release()
	}
	_, _, err := l.Acquire(ctx, "k", 1, time.Microsecond)
	wantCode(t, "Acquire with a sub-millisecond ttl", err, ticketview.EINVALID)

	var nilLimiter *abuse.Limiter
	_, err = nilLimiter.Allow(ctx, "k", 1, time.Minute)
	wantCode(t, "nil limiter", err, ticketview.EINTERNAL)
	_, err = abuse.NewLimiter(nil, "").Allow(ctx, "k", 1, time.Minute)
	wantCode(t, "limiter without a counter", err, ticketview.EINTERNAL)
}

func TestLimiterCounterDown(t *testing.T) {
	t.Parallel()
	l := abuse.NewLimiter(downCounter(t), "lim:")
	_, err := l.Allow(testCtx(t), "k", 5, time.Minute)
	wantCode(t, "Allow with Redis down", err, ticketview.EUNAVAILABLE)
	release, d, err := l.Acquire(testCtx(t), "k", 5, time.Minute)
	wantCode(t, "Acquire with Redis down", err, ticketview.EUNAVAILABLE)
	if d.Allowed || release == nil {
		t.Fatalf("Acquire with Redis down: %+v, release %v", d, release != nil)
	}
	release()
}

func acquire(t testing.TB, l *abuse.Limiter, key string, limit int64, ttl time.Duration) (func(), abuse.Decision) {
	t.Helper()
	release, d, err := l.Acquire(testCtx(t), key, limit, ttl)
	if err != nil {
		t.Fatalf("Acquire(%s, %d, %s): %v", key, limit, ttl, err)
	}
	if release == nil || d.Limit != limit || d.Remaining < 0 || d.Remaining > limit {
		t.Fatalf("Acquire(%s, %d): %+v (release %v)", key, limit, d, release != nil)
	}
	return release, d
}

func TestAcquireRefuseAndRelease(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		c, _ := bk.open(t)
		l := abuse.NewLimiter(c, "lim:")
		const limit, ttl = 2, time.Minute
		r1, d := acquire(t, l, "k", limit, ttl)
		if !d.Allowed || d.Remaining != 1 {
			t.Fatalf("first slot: %+v", d)
		}
		r2, d := acquire(t, l, "k", limit, ttl)
		if !d.Allowed || d.Remaining != 0 {
			t.Fatalf("second slot: %+v", d)
		}
		r3, d := acquire(t, l, "k", limit, ttl)
		if d.Allowed || d.Remaining != 0 || d.RetryAfter <= 0 || d.RetryAfterSeconds() != 1 {
			t.Fatalf("third slot: %+v, want refused with a RetryAfter of 1 s", d)
		}
		r3() // a refused slot's release does nothing
		r3()
		if _, d := acquire(t, l, "k", limit, ttl); d.Allowed {
			t.Fatalf("after a refused slot's release: %+v, want still refused", d)
		}
		// Releasing twice gives back one slot.
		r1()
		r1()
		r4, d := acquire(t, l, "k", limit, ttl)
		if !d.Allowed || d.Remaining != 0 {
			t.Fatalf("after one release: %+v, want allowed with 0 remaining", d)
		}
		if _, d := acquire(t, l, "k", limit, ttl); d.Allowed {
			t.Fatalf("a double release gave back two slots: %+v", d)
		}
		r2()
		r4()
		r4()
		r2()
		// Everything is back, exactly.
		var rs []func()
		for i := range limit {
			r, d := acquire(t, l, "k", limit, ttl)
			if !d.Allowed {
				t.Fatalf("slot %d after all releases: %+v", i+1, d)
			}
			rs = append(rs, r)
		}
		if _, d := acquire(t, l, "k", limit, ttl); d.Allowed {
			t.Fatalf("slot %d: %+v, want refused", limit+1, d)
		}
		for _, r := range rs {
			r()
		}
	})
}

// TestAcquireNeverExceedsLimit runs many goroutines over two limiters sharing one
// counter store, each taking a slot, holding it briefly and releasing it (twice): at no
// moment do more than limit hold one.
func TestAcquireNeverExceedsLimit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		a, b := bk.open(t)
		limiters := []*abuse.Limiter{abuse.NewLimiter(a, "lim:"), abuse.NewLimiter(b, "lim:")}
		const limit, workers, each, ttl = 3, 16, 25, time.Minute
		var inFlight, peak, admitted, refused atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				l := limiters[w%2]
				for range each {
					release, d, err := l.Acquire(testCtx(t), "conc", limit, ttl)
					if err != nil {
						errs <- err
						return
					}
					if !d.Allowed {
						refused.Add(1)
						release()
						continue
					}
					admitted.Add(1)
					n := inFlight.Add(1)
					for {
						p := peak.Load()
						if n <= p || peak.CompareAndSwap(p, n) {
							break
						}
					}
					time.Sleep(time.Millisecond) // hold the slot while others try
					inFlight.Add(-1)
					release()
					release()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if p := peak.Load(); p > limit {
			t.Fatalf("%d requests in flight at once, limit %d", p, limit)
		}
		if admitted.Load() == 0 || refused.Load() == 0 {
			t.Fatalf("admitted %d, refused %d: want both (16 workers over 3 slots)", admitted.Load(), refused.Load())
		}
		// Every slot was given back exactly once: limit fit again, and no more.
		var rs []func()
		for i := range limit {
			r, d := acquire(t, limiters[i%2], "conc", limit, ttl)
			if !d.Allowed {
				t.Fatalf("slot %d after the run: %+v: a slot leaked", i+1, d)
			}
			rs = append(rs, r)
		}
		if _, d := acquire(t, limiters[0], "conc", limit, ttl); d.Allowed {
			t.Fatalf("slot %d after the run: %+v: double releases freed extra slots", limit+1, d)
		}
		for _, r := range rs {
			r()
		}
	})
}

// TestAcquireSlotsAgeOut follows the in-flight buckets on a fake clock: a slot counts
// for ttl to 2·ttl, its late release takes nothing from newer slots, and a gateway whose
// clock is a bucket ahead is still counted.
func TestAcquireSlotsAgeOut(t *testing.T) {
	const limit, ttl = 2, 10 * time.Second
	start := time.Unix(1_700_000_000, 0).Truncate(ttl).Add(time.Second) // 1 s into a bucket
	clk := newClock(start)
	l := abuse.NewLimiter(fakeCounter(clk), "lim:")
	abuse.SetLimiterClock(l, clk.Now)

	var stale []func()
	for range limit {
		r, d := acquire(t, l, "k", limit, ttl)
		if !d.Allowed {
			t.Fatalf("stale slot: %+v", d)
		}
		stale = append(stale, r)
	}
	// Held for ttl (the next bucket): still counted.
	clk.Set(start.Add(ttl))
	if _, d := acquire(t, l, "k", limit, ttl); d.Allowed {
		t.Fatalf("a slot taken %s ago no longer counts: %+v", ttl, d)
	}
	clk.Set(start.Add(2*ttl - 2*time.Second)) // the end of the next bucket
	if _, d := acquire(t, l, "k", limit, ttl); d.Allowed {
		t.Fatalf("a slot taken %s ago no longer counts: %+v", 2*ttl-2*time.Second, d)
	}
	// Two buckets later the stale slots no longer count.
	clk.Set(start.Add(2 * ttl))
	var fresh []func()
	for range limit {
		r, d := acquire(t, l, "k", limit, ttl)
		if !d.Allowed {
			t.Fatalf("fresh slot after the stale ones aged out: %+v", d)
		}
		fresh = append(fresh, r)
	}
	if _, d := acquire(t, l, "k", limit, ttl); d.Allowed {
		t.Fatalf("a slot beyond the limit: %+v", d)
	}
	// The stale slots' releases must not free fresh ones.
	for _, r := range stale {
		r()
		r()
	}
	if _, d := acquire(t, l, "k", limit, ttl); d.Allowed {
		t.Fatalf("after stale releases: %+v, want still refused (%d fresh slots held)", d, limit)
	}
	for _, r := range fresh {
		r()
	}
	if _, d := acquire(t, l, "k", limit, ttl); !d.Allowed || d.Remaining != limit-1 {
		t.Fatalf("after the fresh releases: %+v, want allowed with %d remaining", d, limit-1)
	}
}

// TestAcquireClockAhead: a gateway whose clock is already in the next bucket shares the
// slots with one still in the previous bucket.
func TestAcquireClockAhead(t *testing.T) {
	const limit, ttl = 2, 10 * time.Second
	boundary := time.Unix(1_700_000_000, 0).Truncate(ttl).Add(ttl)
	behind, ahead := newClock(boundary.Add(-time.Second)), newClock(boundary.Add(time.Second))
	c := fakeCounter(behind)
	lb, la := abuse.NewLimiter(c, "lim:"), abuse.NewLimiter(c, "lim:")
	abuse.SetLimiterClock(lb, behind.Now)
	abuse.SetLimiterClock(la, ahead.Now)
	if _, d := acquire(t, lb, "k", limit, ttl); !d.Allowed {
		t.Fatalf("behind: %+v", d)
	}
	if _, d := acquire(t, la, "k", limit, ttl); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("ahead: %+v, want allowed with 0 remaining", d)
	}
	if _, d := acquire(t, lb, "k", limit, ttl); d.Allowed {
		t.Fatalf("behind, a third slot: %+v: the slot taken in the next bucket was not counted", d)
	}
	if _, d := acquire(t, la, "k", limit, ttl); d.Allowed {
		t.Fatalf("ahead, a third slot: %+v", d)
	}
}

// TestAcquireExpiryWithSlotsHeld runs the same on the real clock and both stores: slots
// held past their window stop counting, and releasing them then does not let more than
// limit in.
func TestAcquireExpiryWithSlotsHeld(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		c, _ := bk.open(t)
		l := abuse.NewLimiter(c, "lim:")
		const limit, ttl = 2, 500 * time.Millisecond
		var stale []func()
		for range limit {
			r, d := acquire(t, l, "k", limit, ttl)
			if !d.Allowed {
				t.Fatalf("stale slot: %+v", d)
			}
			stale = append(stale, r)
		}
		// Wait until a new slot is the only one counted: the stale ones aged out.
		var fresh []func()
		var freshAt time.Time
		testutil.CheckFor(t, 10*time.Second, func() error {
			freshAt = time.Now()
			r, d := acquire(t, l, "k", limit, ttl)
			if d.Allowed && d.Remaining == limit-1 {
				fresh = append(fresh, r)
				return nil
			}
			r()
			return fmt.Errorf("stale slots still count: %+v", d)
		})
		for len(fresh) < limit {
			r, d := acquire(t, l, "k", limit, ttl)
			if !d.Allowed {
				t.Fatalf("fresh slot %d: %+v", len(fresh)+1, d)
			}
			fresh = append(fresh, r)
		}
		for _, r := range stale {
			r()
			r()
		}
		_, d := acquire(t, l, "k", limit, ttl)
		if time.Since(freshAt) >= ttl {
			t.Logf("the fresh slots may have aged out (the machine is slow): not checking")
		} else if d.Allowed {
			t.Fatalf("after releasing aged-out slots: %+v, want refused (%d fresh slots held)", d, limit)
		}
		for _, r := range fresh {
			r()
		}
	})
}
