package clustertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	ticketview "github.com/ticketview/ticketview"
)

// AckedHold is a hold the API acknowledged (201), and what became of it.
type AckedHold struct {
	Section   string
	Token     string
	Owner     string
	Seats     []string
	At        time.Time // when the acknowledgement arrived
	BookingID string    // set when a confirmation was acknowledged (201)
	Booking   ticketview.Booking
	// ConfirmSent: a confirmation was sent and its outcome is not known to have failed
	// cleanly (it may have happened even without a 201).
	ConfirmSent bool
}

// Ledger records every acknowledged hold and sale. Safe for concurrent use.
type Ledger struct {
	mu    sync.Mutex
	holds map[string]*AckedHold // token -> hold
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{holds: map[string]*AckedHold{}} }

// AddHold records an acknowledged hold.
func (l *Ledger) AddHold(section string, h ticketview.Hold) *AckedHold {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a, ok := l.holds[h.Token]; ok {
		return a // an idempotent replay of one we have
	}
	a := &AckedHold{Section: section, Token: h.Token, Owner: h.Owner, Seats: SeatsOf(h.Items), At: time.Now()}
	l.holds[h.Token] = a
	return a
}

// ConfirmSent marks that a confirmation of the hold was sent.
func (l *Ledger) ConfirmSent(token string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a := l.holds[token]; a != nil {
		a.ConfirmSent = true
	}
}

// AddSale records an acknowledged confirmation.
func (l *Ledger) AddSale(token string, b ticketview.Booking) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a := l.holds[token]; a != nil {
		a.BookingID, a.Booking, a.ConfirmSent = b.ID, b, true
	}
}

// Holds is a copy of every acknowledged hold.
func (l *Ledger) Holds() []AckedHold {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]AckedHold, 0, len(l.holds))
	for _, a := range l.holds {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// Counts are the numbers of acknowledged holds and sales.
func (l *Ledger) Counts() (holds, sales int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.holds {
		holds++
		if a.BookingID != "" {
			sales++
		}
	}
	return holds, sales
}

// Tally counts responses by operation and outcome, and remembers when each outcome was
// last seen. Safe for concurrent use.
type Tally struct {
	mu     sync.Mutex
	counts map[string]int       // "op outcome" -> n
	first  map[string]time.Time // "op outcome" -> first seen
	last   map[string]time.Time
	max    map[string]time.Duration // op -> longest request
	errs   []string                 // samples of unexpected answers
}

// NewTally returns an empty tally.
func NewTally() *Tally {
	return &Tally{counts: map[string]int{}, first: map[string]time.Time{}, last: map[string]time.Time{}, max: map[string]time.Duration{}}
}

// Add counts one response of op.
func (t *Tally) Add(op string, r Response) {
	k := op + " " + r.Outcome()
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts[k]++
	if _, ok := t.first[k]; !ok {
		t.first[k] = now
	}
	t.last[k] = now
	if r.Took > t.max[op] {
		t.max[op] = r.Took
	}
	if !Expected(r) && len(t.errs) < 20 {
		t.errs = append(t.errs, fmt.Sprintf("%s %s: %s", now.Format("15:04:05.000"), op, r))
	}
}

// Expected tells whether a response is one a buyer may get from a healthy cluster under
// failures: a success, a refusal the state of the section explains (409, or 422 for the
// buyer limit), or a retryable 503 unavailable. Anything else (500, 400, 404, a
// transport error or timeout) is not.
func Expected(r Response) bool {
	switch {
	case r.Err != nil:
		return false
	case r.Status >= 200 && r.Status < 300:
		return true
	case r.Status == http.StatusConflict:
		return true
	case r.Status == http.StatusUnprocessableEntity && r.Code == ticketview.ELIMIT:
		return true
	case r.Status == http.StatusServiceUnavailable && r.Code == ticketview.EUNAVAILABLE:
		return true
	}
	return false
}

// Count is how many responses of op had the outcome ("" op: all ops).
func (t *Tally) Count(op, outcome string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, v := range t.counts {
		o, rest, _ := strings.Cut(k, " ")
		if (op == "" || o == op) && rest == outcome {
			n += v
		}
	}
	return n
}

// Total is the number of responses counted.
func (t *Tally) Total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, v := range t.counts {
		n += v
	}
	return n
}

// Unexpected lists the outcomes Expected refuses, with samples.
func (t *Tally) Unexpected() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.errs)
}

// Window is when an outcome ("op outcome", op may be "*") was first and last seen.
func (t *Tally) Window(op, outcome string) (first, last time.Time, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range t.counts {
		o, rest, _ := strings.Cut(k, " ")
		if (op != "*" && o != op) || rest != outcome {
			continue
		}
		n += v
		if f := t.first[k]; first.IsZero() || f.Before(first) {
			first = f
		}
		if l := t.last[k]; l.After(last) {
			last = l
		}
	}
	return first, last, n
}

func (t *Tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.counts))
	for k := range t.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-45s %6d\n", k, t.counts[k])
	}
	ops := make([]string, 0, len(t.max))
	for op := range t.max {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		fmt.Fprintf(&b, "  longest %-37s %v\n", op, t.max[op].Round(time.Millisecond))
	}
	return b.String()
}

// LoadConfig shapes the buyers of RunLoad.
type LoadConfig struct {
	Buyers       int           // concurrent buyers (goroutines)
	Sections     []string      // the sections they buy in (default: all of the catalog)
	ThinkMin     time.Duration // pause between a buyer's steps: uniform in [ThinkMin, ThinkMax]
	ThinkMax     time.Duration
	ConfirmRatio float64 // share of acknowledged holds the buyer confirms
	// Retries is how many times a buyer resends a request answered 503 (with the same
	// Idempotency-Key), after a pause of about ThinkMin.
	Retries int
	// BuyerPrefix names the buyers ("<prefix><n>").
	BuyerPrefix string
}

// Load is a running RunLoad.
type Load struct {
	Ledger *Ledger
	Tally  *Tally

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// Stop makes the buyers finish the step they are in and returns once they have: every
// request sent is answered (or timed out) and recorded.
func (l *Load) Stop() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// RunLoad starts buyers against the gateway. Each buyer in turn holds one or two seats in
// a random section (best available, or explicit adjacent seats picked at random, which
// collide with other buyers'), retrying a 503 with the same Idempotency-Key, and confirms
// an acknowledged hold with probability ConfirmRatio. Every response is tallied, every
// acknowledged hold and sale recorded.
func (c *Cluster) RunLoad(cfg LoadConfig) *Load {
	if cfg.Buyers <= 0 {
		cfg.Buyers = 1
	}
	if len(cfg.Sections) == 0 {
		cfg.Sections = c.Catalog.Sections
	}
	if cfg.ThinkMax < cfg.ThinkMin {
		cfg.ThinkMax = cfg.ThinkMin
	}
	if cfg.BuyerPrefix == "" {
		cfg.BuyerPrefix = "buyer-"
	}
	api := c.API()
	l := &Load{Ledger: NewLedger(), Tally: NewTally(), stop: make(chan struct{})}
	cat := c.Catalog
	for i := range cfg.Buyers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			buyer := fmt.Sprintf("%s%d", cfg.BuyerPrefix, i)
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))
			think := func() bool {
				d := cfg.ThinkMin
				if cfg.ThinkMax > cfg.ThinkMin {
					d += time.Duration(rng.Int64N(int64(cfg.ThinkMax - cfg.ThinkMin)))
				}
				select {
				case <-l.stop:
					return false
				case <-time.After(d):
					return true
				}
			}
			// Stagger the start.
			if !think() {
				return
			}
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				sec := cfg.Sections[rng.IntN(len(cfg.Sections))]
				var req HoldRequest
				n := 1 + rng.IntN(2)
				if rng.IntN(2) == 0 {
					req = HoldRequest{BestAvailable: true, Quantity: n}
				} else {
					row := rng.IntN(cat.Rows)
					first := rng.IntN(cat.PerRow - n + 1)
					for k := range n {
						req.Seats = append(req.Seats, cat.Seats[sec][row*cat.PerRow+first+k])
					}
				}
				key := NewKey("h-")
				var h ticketview.Hold
				var r Response
				for attempt := 0; ; attempt++ {
					h, r = api.Hold(context.Background(), sec, buyer, key, req)
					l.Tally.Add("hold", r)
					if r.Status != http.StatusServiceUnavailable || attempt >= cfg.Retries || !think() {
						break
					}
				}
				if r.Status == http.StatusCreated && r.Err == nil {
					l.Ledger.AddHold(sec, h)
					if rng.Float64() < cfg.ConfirmRatio && think() {
						ckey := NewKey("c-")
						for attempt := 0; ; attempt++ {
							l.Ledger.ConfirmSent(h.Token)
							b, cr := api.Confirm(context.Background(), sec, h.Token, buyer, ckey)
							l.Tally.Add("confirm", cr)
							if cr.Status == http.StatusCreated && cr.Err == nil {
								l.Ledger.AddSale(h.Token, b)
								break
							}
							if cr.Status != http.StatusServiceUnavailable || attempt >= cfg.Retries || !think() {
								break
							}
						}
					}
				}
				if !think() {
					return
				}
			}
		}()
	}
	return l
}
