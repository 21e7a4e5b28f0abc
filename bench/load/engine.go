package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one flash sale.
type Config struct {
	Scenario  string  // name in the report
	Target    string  // name in the report
	Layout    Layout  // the event on sale
	Profile   Profile // arrivals
	MaxBuyers int     // buyers in flight at most (default 512); arrivals beyond are dropped and counted
	Mix       Mix     // hold kinds
	MaxQty    int     // places per hold: 1..MaxQty, 2 the most common (default 4)
	ThinkMin  time.Duration
	ThinkMax  time.Duration // think time between the hold and the sale or release
	BuyRatio  float64       // share of holds that are bought (the rest released)
	Retries   int           // new attempts after a 409 (another pick; default 2; negative: none)
	Checkout  bool          // pay through an order with the sandbox provider when the driver can
	TTL       time.Duration // hold expiry (default 15 min: no hold expires during a run)
	// StopAtSellOut ends the arrivals once every place is sold (acknowledged).
	StopAtSellOut bool
	Timeout       time.Duration // per request (default 30 s)
	Watch         Watcher       // optional WebSocket watchers, run alongside
	Progress      io.Writer     // one status line a second; nil: none
	Seed          uint64        // random seed (0: from the clock)
	Transport     string        // how the driver reaches the target, for the report (default "http")
}

func (c *Config) defaults() error {
	if err := c.Profile.Validate(); err != nil {
		return err
	}
	if len(c.Layout.Sections) == 0 {
		return errors.New("the layout has no sections")
	}
	if c.Mix.total() == 0 {
		c.Mix = Mix{Pick: 50, Best: 35, GA: 15}
	}
	var seated, ga bool
	for _, s := range c.Layout.Sections {
		if s.Places() <= 0 {
			return fmt.Errorf("section %s has no places", s.ID)
		}
		seated = seated || !s.GA
		ga = ga || s.GA
	}
	if !seated && c.Mix.Pick+c.Mix.Best > 0 || !ga && c.Mix.GA > 0 {
		return fmt.Errorf("mix %s asks for section kinds the layout does not have", c.Mix)
	}
	if c.MaxBuyers <= 0 {
		c.MaxBuyers = 512
	}
	if c.MaxQty <= 0 {
		c.MaxQty = 4
	}
	if c.ThinkMax < c.ThinkMin {
		return errors.New("think time: max below min")
	}
	if c.BuyRatio < 0 || c.BuyRatio > 1 {
		return errors.New("buy ratio must be within 0..1")
	}
	switch {
	case c.Retries == 0:
		c.Retries = 2
	case c.Retries < 0:
		c.Retries = 0
	}
	if c.TTL <= 0 {
		c.TTL = 15 * time.Minute
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	return nil
}

// Watcher runs WebSocket watchers until ctx ends and reports what they saw. It closes
// ready once the watchers are connected: the sale starts then (buyers open the seat map
// before the on-sale).
type Watcher interface {
	Watch(ctx context.Context, ready chan<- struct{}) *WatchStats
}

// Drive drives one flash sale against d and returns what happened; the ledger it returns
// is what the target acknowledged, for Ledger.Check.
func Drive(ctx context.Context, cfg Config, d Driver) (Result, *Ledger, error) {
	if err := cfg.defaults(); err != nil {
		return Result{}, nil, err
	}
	e := &engine{cfg: cfg, d: d, ledger: NewLedger(), places: cfg.Layout.Places()}
	for _, s := range cfg.Layout.Sections {
		if s.GA {
			e.ga = append(e.ga, s)
		} else {
			e.seated = append(e.seated, s)
			e.seatedPlaces += s.Places()
		}
	}
	e.co, _ = d.(Checkouter)
	return e.run(ctx)
}

type engine struct {
	cfg          Config
	d            Driver
	co           Checkouter
	ledger       *Ledger
	rec          *recorder
	seated, ga   []SectionLayout
	seatedPlaces int
	places       int
	sold         atomic.Int64 // places in acknowledged sales
	soldOutAt    atomic.Int64 // µs from the start; 0 until sold out
	soldOut      chan struct{}
	soldOnce     sync.Once
	heldPlaces   atomic.Int64
	progressLine string // the last status line (written by progress only)
}

func (e *engine) run(ctx context.Context) (Result, *Ledger, error) {
	cfg := e.cfg
	start := time.Now()
	e.rec = newRecorder(start)
	e.soldOut = make(chan struct{})
	res := Result{Target: cfg.Target, Started: start, Scenario: Scenario{
		Name: cfg.Scenario, Profile: cfg.Profile.Kind, Rate: cfg.Profile.Rate, PeakRate: cfg.Profile.Peak,
		Duration: cfg.Profile.Duration, MaxBuyers: cfg.MaxBuyers, Places: e.places, Sections: len(cfg.Layout.Sections),
		Mix: cfg.Mix.String(), BuyRatio: cfg.BuyRatio, Think: fmt.Sprintf("%s-%s", cfg.ThinkMin, cfg.ThinkMax),
		Checkout: "direct confirm", Transport: cfg.Transport, TTLSeconds: int(cfg.TTL.Seconds()),
	}}
	if res.Scenario.Transport == "" {
		res.Scenario.Transport = "http"
	}
	if lw, ok := cfg.Watch.(LiveWatchers); ok {
		res.Scenario.Watchers = lw.N
	}
	if cfg.Checkout && e.co != nil {
		res.Scenario.Checkout = "order + sandbox payment"
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var watchWG sync.WaitGroup
	var watch *WatchStats
	if cfg.Watch != nil {
		ready := make(chan struct{})
		watchWG.Add(1)
		go func() { defer watchWG.Done(); watch = cfg.Watch.Watch(runCtx, ready) }()
		select {
		case <-ready:
		case <-time.After(time.Minute):
		case <-ctx.Done():
		}
		start = time.Now()
		e.rec.start = start
		res.Started = start
	}
	progressDone := make(chan struct{})
	go e.progress(runCtx, progressDone)

	// The arrivals: one goroutine launching buyers on the open-model schedule.
	var buyers sync.WaitGroup
	arr := newArrivals(cfg.Profile)
	launched := 0
	seq := 0
	tick := time.NewTicker(time.Millisecond)
	soldOut := e.soldOut
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-soldOut:
			if cfg.StopAtSellOut {
				break loop
			}
			soldOut = nil // closed: would be ready for ever
			continue
		case <-tick.C:
		}
		// A late tick (a starved goroutine) launches every arrival due by now; the last one
		// those due by the end, so no scheduled arrival is lost.
		t := time.Since(start)
		last := t >= cfg.Profile.Duration
		if last {
			t = cfg.Profile.Duration
		}
		due := int(math.Floor(arr.until(t)))
		for ; launched < due; launched++ {
			e.rec.arrival()
			if e.rec.inFlight.Load() >= int64(cfg.MaxBuyers) {
				e.rec.dropped.Add(1)
				continue
			}
			e.rec.inFlight.Add(1)
			buyers.Add(1)
			seq++
			go func(n int) {
				defer buyers.Done()
				defer e.rec.inFlight.Add(-1)
				e.buyer(ctx, n)
			}(seq)
		}
		if last {
			break
		}
	}
	tick.Stop()
	buyers.Wait()
	elapsed := time.Since(start)
	cancel()
	<-progressDone
	watchWG.Wait()

	e.rec.summarise(&res, elapsed)
	res.Elapsed = elapsed.Seconds()
	res.Watchers = watch
	for _, op := range res.Ops {
		switch {
		case op.Op.IsHold():
			res.Holds += op.OK
		case op.Op == OpConfirm:
			res.Sales += op.OK
		case op.Op == OpCheckout:
			res.Sales += op.OK
		}
	}
	res.SoldPlaces = int(e.sold.Load())
	res.HeldPlaces = int(e.heldPlaces.Load())
	window := elapsed.Seconds()
	if at := e.soldOutAt.Load(); at > 0 {
		res.SellOut = float64(at) / 1e6
		window = res.SellOut
	}
	if window > 0 {
		res.HoldsPerSec = float64(res.Holds) / window
		res.SalesPerSec = float64(res.Sales) / window
	}
	if e.progressLine != "" && cfg.Progress != nil {
		fmt.Fprintln(cfg.Progress)
	}
	return res, e.ledger, ctx.Err()
}

// buyer is one arrival: a hold (with new picks after a 409), a think, then a sale or a
// release.
func (e *engine) buyer(ctx context.Context, n int) {
	cfg := e.cfg
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(n)))
	buyer := fmt.Sprintf("b%d-%d", cfg.Seed%100000, n)
	op := cfg.Mix.choose(rng.IntN(cfg.Mix.total()))
	qty := e.quantity(rng)
	var hold Hold
	var ok bool
	for attempt := 0; attempt <= cfg.Retries; attempt++ {
		if e.soldOutAt.Load() > 0 {
			return
		}
		sec, req := e.request(rng, op, qty)
		req.TTLSeconds = int(cfg.TTL.Seconds())
		rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		began := time.Now()
		h, st := e.d.Hold(rctx, buyer, sec.ID, req)
		cancel()
		e.rec.record(op, began, st)
		if st.OK() {
			if h.Section == "" {
				h.Section = sec.ID
			}
			hold, ok = h, true
			break
		}
		if st.Uncertain() {
			e.ledger.noAnswer(qty)
			return
		}
		if !st.Conflict() {
			return
		}
	}
	if !ok {
		return
	}
	e.ledger.held(hold)
	e.rec.holds.Add(1)
	e.heldPlaces.Add(int64(hold.Quantity))
	if cfg.ThinkMax > 0 {
		think := cfg.ThinkMin + time.Duration(rng.Int64N(int64(cfg.ThinkMax-cfg.ThinkMin)+1))
		select {
		case <-time.After(think):
		case <-ctx.Done():
			return
		}
	}
	rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if rng.Float64() >= cfg.BuyRatio {
		began := time.Now()
		st := e.d.Release(rctx, buyer, hold.Section, hold.Token)
		e.rec.record(OpRelease, began, st)
		switch {
		case st.OK():
			e.ledger.released(hold.Section, hold.Token)
		case st.Uncertain():
			e.ledger.unsure(hold.Section, hold.Token)
			e.ledger.noAnswer(0)
		}
		return
	}
	var bookings []Booking
	var st Status
	began := time.Now()
	if cfg.Checkout && e.co != nil {
		bookings, st = e.co.Checkout(rctx, buyer, []Hold{hold})
		e.rec.record(OpCheckout, began, st)
	} else {
		var b Booking
		b, st = e.d.Confirm(rctx, buyer, hold.Section, hold.Token)
		e.rec.record(OpConfirm, began, st)
		bookings = []Booking{b}
	}
	switch {
	case st.OK():
		id := ""
		if len(bookings) > 0 {
			id = bookings[0].ID
		}
		e.ledger.soldHold(hold.Section, hold.Token, id)
		e.rec.sales.Add(1)
		if e.sold.Add(int64(hold.Quantity)) >= int64(e.places) {
			e.soldOnce.Do(func() {
				e.soldOutAt.Store(time.Since(e.rec.start).Microseconds())
				close(e.soldOut)
			})
		}
	case st.Uncertain():
		e.ledger.unsure(hold.Section, hold.Token)
		e.ledger.noAnswer(hold.Quantity)
	}
}

// quantity draws 1..MaxQty places, 2 the most common.
func (e *engine) quantity(rng *rand.Rand) int {
	if e.cfg.MaxQty == 1 {
		return 1
	}
	r := rng.IntN(100)
	switch {
	case r < 25:
		return 1
	case r < 65:
		return 2
	default:
		return min(e.cfg.MaxQty, 3+rng.IntN(max(1, e.cfg.MaxQty-2)))
	}
}

// request builds a hold of the kind: picks prefer the front rows (a geometric row choice)
// and take adjacent seats.
func (e *engine) request(rng *rand.Rand, op Op, qty int) (SectionLayout, HoldRequest) {
	switch op {
	case OpGA:
		return e.ga[rng.IntN(len(e.ga))], HoldRequest{Quantity: qty}
	case OpBest:
		return e.pickSeated(rng), HoldRequest{BestAvailable: true, AllowSplit: true, Quantity: qty}
	}
	sec := e.pickSeated(rng)
	q := min(qty, sec.PerRow)
	// Row r with probability p(1-p)^r: a third of the picks go to the first 3 rows of 30.
	const p = 0.12
	row := int(math.Log(1-rng.Float64()) / math.Log(1-p))
	row = min(row, sec.Rows-1)
	first := rng.IntN(sec.PerRow - q + 1)
	seats := make([]string, q)
	for i := range seats {
		seats[i] = SeatLabel(row, first+i)
	}
	return sec, HoldRequest{Seats: seats}
}

// pickSeated chooses a seated section in proportion to its size.
func (e *engine) pickSeated(rng *rand.Rand) SectionLayout {
	r := rng.IntN(e.seatedPlaces)
	for _, s := range e.seated {
		if r < s.Places() {
			return s
		}
		r -= s.Places()
	}
	return e.seated[len(e.seated)-1]
}

// progress prints a status line every second until ctx ends.
func (e *engine) progress(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var lastHolds, lastArr int64
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			sec := int(now.Sub(e.rec.start) / time.Second)
			e.rec.inFlightAt.Store(sec-1, int(e.rec.inFlight.Load()))
			if e.cfg.Progress == nil {
				continue
			}
			holds, arr := e.rec.holds.Load(), e.rec.arrived.Load()
			sold := e.sold.Load()
			line := fmt.Sprintf("[%s %s] %3ds/%s  arrivals %s/s  holds %s/s  sold %s/%s (%d%%)  409s %s  errors %s  in flight %d  dropped %s",
				e.cfg.Target, e.cfg.Scenario, sec, e.cfg.Profile.Duration.Round(time.Second),
				Thousands(arr-lastArr), Thousands(holds-lastHolds), Thousands(sold), Thousands(int64(e.places)),
				sold*100/int64(max(1, e.places)), Thousands(e.rec.conflicts.Load()), Thousands(e.rec.errors.Load()),
				e.rec.inFlight.Load(), Thousands(e.rec.dropped.Load()))
			lastHolds, lastArr = holds, arr
			pad := ""
			if len(line) < len(e.progressLine) {
				pad = strings.Repeat(" ", len(e.progressLine)-len(line))
			}
			fmt.Fprint(e.cfg.Progress, "\r"+line+pad)
			e.progressLine = line
		}
	}
}

// Thousands formats n with thousands separators.
func Thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
