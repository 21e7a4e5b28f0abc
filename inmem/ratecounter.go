package inmem

import (
	"context"
	"sync"
	"time"

	ticketview "github.com/ticketview/ticketview"
)

// RateCounter is the in-process ticketview.RateCounter: fixed windows in a map. It counts
// for this process only; the Redis counter shares its counts across gateways. Expired
// counters are swept as the map grows, so keys seen once do not accumulate.
type RateCounter struct {
	// Now is the clock; nil means time.Now. Tests may set it before the first Incr.
	Now func() time.Time

	mu        sync.Mutex
	counters  map[string]*rateWindow
	nextSweep int
}

type rateWindow struct {
	value   int64
	expires time.Time
}

var _ ticketview.RateCounter = (*RateCounter)(nil)

// NewRateCounter returns a counter on the real clock.
func NewRateCounter() *RateCounter { return &RateCounter{} }

const minSweep = 1024

// Incr implements ticketview.RateCounter. A window that is not positive is EINVALID.
func (r *RateCounter) Incr(ctx context.Context, key string, n int64, window time.Duration) (int64, time.Duration, error) {
	if window <= 0 {
		return 0, 0, ticketview.Errorf(ticketview.EINVALID, "rate window must be positive, got %s", window)
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	t := now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counters == nil {
		r.counters, r.nextSweep = map[string]*rateWindow{}, minSweep
	}
	w := r.counters[key]
	if w == nil || !t.Before(w.expires) {
		if w == nil && len(r.counters) >= r.nextSweep {
			r.sweep(t)
		}
		w = &rateWindow{expires: t.Add(window)}
		r.counters[key] = w
	}
	w.value += n
	return w.value, w.expires.Sub(t), nil
}

// sweep drops expired counters and sets the map size of the next sweep to twice what is
// left, so sweeping costs O(1) per Incr.
func (r *RateCounter) sweep(t time.Time) {
	for k, w := range r.counters {
		if !t.Before(w.expires) {
			delete(r.counters, k)
		}
	}
	r.nextSweep = max(minSweep, 2*len(r.counters))
}
