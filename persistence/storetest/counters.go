package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/internal/testutil"
)

// TestRateCounter checks a ticketview.RateCounter against the contract, on the real
// clock (windows of a few hundred milliseconds). open is called once per subtest and
// must return a working counter (a shared server is fine: the suite uses new keys). The
// contract:
//
//   - Incr adds n (negative too) atomically: concurrent calls return every intermediate
//     value exactly once.
//   - A new counter lives for window from its first Incr; later calls do not extend it;
//     after it, the counter starts again at 0. resetIn is in (0, window] and tells when
//     it resets.
//   - Keys are independent. A window that is not positive is EINVALID.
func TestRateCounter(t *testing.T, open func(t *testing.T) ticketview.RateCounter) {
	t.Run("ConcurrentIncr", func(t *testing.T) { testRateConcurrent(t, open(t)) })
	t.Run("WindowExpires", func(t *testing.T) { testRateExpiry(t, open(t)) })
	t.Run("NegativeN", func(t *testing.T) { testRateNegative(t, open(t)) })
	t.Run("KeysIsolated", func(t *testing.T) { testRateIsolated(t, open(t)) })
	t.Run("InvalidWindow", func(t *testing.T) { testRateInvalid(t, open(t)) })
}

// newKey returns a counter key no other call returns in this process.
func newKey(name string) string { return fmt.Sprintf("%s:%s", NewSectionID().Event, name) }

// incr calls Incr and checks that resetIn is in (0, window].
func incr(t *testing.T, c ticketview.RateCounter, key string, n int64, window time.Duration) (int64, time.Duration) {
	t.Helper()
	v, reset, err := c.Incr(ctxFor(t), key, n, window)
	if err != nil {
		t.Fatalf("Incr(%s, %d, %s): %v", key, n, window, err)
	}
	if reset <= 0 || reset > window {
		t.Fatalf("Incr(%s, %d, %s): resetIn %s, want in (0, %s]", key, n, window, reset, window)
	}
	return v, reset
}

func wantIncr(t *testing.T, c ticketview.RateCounter, key string, n int64, window time.Duration, want int64) time.Duration {
	t.Helper()
	v, reset := incr(t, c, key, n, window)
	if v != want {
		t.Fatalf("Incr(%s, %d): %d, want %d", key, n, v, want)
	}
	return reset
}

func testRateConcurrent(t *testing.T, c ticketview.RateCounter) {
	key := newKey("conc")
	const workers, each = 20, 50
	const window = time.Minute
	var mu sync.Mutex
	var seen []int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []int64
			for range each {
				v, reset, err := c.Incr(ctxFor(t), key, 1, window)
				if err != nil || reset <= 0 || reset > window {
					errs <- fmt.Errorf("Incr: %d, resetIn %s, %v", v, reset, err)
					return
				}
				mine = append(mine, v)
			}
			mu.Lock()
			seen = append(seen, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	slices.Sort(seen)
	for i, v := range seen {
		if v != int64(i+1) {
			t.Fatalf("concurrent Incr returned %d where %d was due: values lost or repeated", v, i+1)
		}
	}
	wantIncr(t, c, key, 0, window, workers*each)
	wantIncr(t, c, key, 7, window, workers*each+7)
}

func testRateExpiry(t *testing.T, c ticketview.RateCounter) {
	key := newKey("exp")
	const window = 300 * time.Millisecond
	const pause = 120 * time.Millisecond
	start := time.Now()
	wantIncr(t, c, key, 3, window, 3)
	time.Sleep(pause)
	// The second call does not extend the window: less than window-pause is left.
	if reset := wantIncr(t, c, key, 2, window, 5); reset > window-pause {
		t.Fatalf("resetIn %s after %s of a %s window: the window was extended", reset, pause, window)
	}
	testutil.CheckFor(t, 5*time.Second, func() error {
		v, _ := incr(t, c, key, 0, window)
		switch v {
		case 5:
			return fmt.Errorf("counter still 5 after %s", time.Since(start))
		case 0:
			return nil
		}
		t.Fatalf("counter is %d, want 5 (in the window) or 0 (after it)", v)
		return nil
	})
	if took := time.Since(start); took < window-10*time.Millisecond {
		t.Fatalf("counter reset after %s, before its %s window", took, window)
	}
	// A new window: the Incr(0) that saw the reset started it.
	wantIncr(t, c, key, 4, window, 4)
}

func testRateNegative(t *testing.T, c ticketview.RateCounter) {
	key := newKey("neg")
	const window = time.Minute
	wantIncr(t, c, key, -3, window, -3)
	wantIncr(t, c, key, 5, window, 2)
	wantIncr(t, c, key, -2, window, 0)
	wantIncr(t, c, key, -1<<40, window, -1<<40)
}

func testRateIsolated(t *testing.T, c ticketview.RateCounter) {
	a, b := newKey("a"), newKey("b")
	const long, short = time.Minute, 250 * time.Millisecond
	wantIncr(t, c, a, 1, long, 1)
	wantIncr(t, c, b, 10, short, 10)
	wantIncr(t, c, a, 1, long, 2)
	wantIncr(t, c, b, 0, short, 10)
	// b's window ends; a's does not.
	testutil.CheckFor(t, 5*time.Second, func() error {
		if v, _ := incr(t, c, b, 0, short); v != 0 {
			return fmt.Errorf("b still %d", v)
		}
		return nil
	})
	if reset := wantIncr(t, c, a, 0, long, 2); reset < long-30*time.Second {
		t.Fatalf("a resets in %s: its window changed with b's", reset)
	}
	// Keys that differ only in case or by a suffix are different keys.
	wantIncr(t, c, a+"x", 1, long, 1)
}

func testRateInvalid(t *testing.T, c ticketview.RateCounter) {
	for _, w := range []time.Duration{0, -time.Second} {
		_, _, err := c.Incr(ctxFor(t), newKey("bad"), 1, w)
		wantCode(t, fmt.Sprintf("Incr with window %s", w), err, ticketview.EINVALID)
	}
}
