package clustertest

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"time"
)

// FailoverProbe measures how long sections take to answer again through the gateway
// after an event (a kill, a pause): for each section it starts a GET of the section's
// availability every Interval (at most MaxInFlight at once per section) and records, for
// the first request started after Since that is answered 200, the time from Since to
// that answer. Requests still under way when a section has answered are cancelled.
type FailoverProbe struct {
	Since       time.Time
	Interval    time.Duration // default 50ms
	MaxInFlight int           // default 20
	Tally       *Tally        // the probes' answers (op "probe"), cancelled ones excepted
}

// Measure probes the sections until each has answered or timeout passed; it returns the
// time each took (sections missing from the map did not answer within timeout).
func (f *FailoverProbe) Measure(api *Client, sections []string, timeout time.Duration) map[string]time.Duration {
	if f.Interval <= 0 {
		f.Interval = 50 * time.Millisecond
	}
	if f.MaxInFlight <= 0 {
		f.MaxInFlight = 20
	}
	if f.Tally == nil {
		f.Tally = NewTally()
	}
	var mu sync.Mutex
	out := map[string]time.Duration{}
	var wg sync.WaitGroup
	deadline := time.Now().Add(timeout)
	for _, sec := range sections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			answered := make(chan time.Duration, 1)
			sem := make(chan struct{}, f.MaxInFlight)
			var inflight sync.WaitGroup
			defer inflight.Wait()
			tick := time.NewTicker(f.Interval)
			defer tick.Stop()
			for {
				select {
				case sem <- struct{}{}:
					inflight.Add(1)
					go func() {
						defer inflight.Done()
						defer func() { <-sem }()
						_, r := api.Availability(ctx, sec)
						if ctx.Err() != nil && r.Err != nil {
							return // cancelled: we had the answer, or the time is up
						}
						f.Tally.Add("probe", r)
						if r.Status == http.StatusOK && r.Err == nil {
							select {
							case answered <- time.Since(f.Since):
							default:
							}
						}
					}()
				case d := <-answered:
					mu.Lock()
					out[sec] = d
					mu.Unlock()
					cancel()
					return
				case <-ctx.Done():
					return
				}
				select {
				case <-tick.C:
				case d := <-answered:
					mu.Lock()
					out[sec] = d
					mu.Unlock()
					cancel()
					return
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// Longest is the largest of the durations (and its key).
func Longest(m map[string]time.Duration) (string, time.Duration) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var best string
	var d time.Duration
	for _, k := range keys {
		if m[k] >= d {
			best, d = k, m[k]
		}
	}
	return best, d
}
