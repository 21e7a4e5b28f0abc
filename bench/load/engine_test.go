package load

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// ---- an in-memory target ----

// fakeTarget is a correct, mutex-protected, in-memory implementation of Driver (unless one
// of its faults is switched on): seated sections whose seats are held by label or best
// available (front rows first), general-admission counts, hold tokens, release and
// confirm by the owner, and section reads with every seat's status.
type fakeTarget struct {
	mu     sync.Mutex
	seated map[string]*fakeSection
	ga     map[string]*fakeGA
	holds  map[string]*fakeHold // by token
	next   int

	// Faults.
	delay           time.Duration // every Hold takes this long
	noConflicts     bool          // holds never check the places are free: seats sold twice, GA oversold
	loseSales       bool          // Confirm acknowledges the sale and frees the places instead
	forgetHolds     bool          // Hold acknowledges a hold and does not keep it
	confirmNoAnswer bool          // Confirm does the sale and answers Status{Code: 0}
	refuseAll       bool          // every Hold is a 409

	// What happened.
	holdCalls    int
	buyers       map[string]bool // buyers that asked for a hold
	ackHolds     int             // acknowledged holds
	ackPlaces    int             // places in them
	ackSales     int             // acknowledged confirmations
	soldPlaces   int             // places the store sold
	inHold       int             // Hold calls under way
	maxInHold    int             // at most
	releaseCalls int
}

type fakeSection struct {
	labels []string          // best-available order: row A first
	status map[string]string // label -> free, held, sold
	holder map[string]string // label -> token, while held
}

type fakeGA struct{ capacity, held, sold int }

type fakeHold struct {
	hold  Hold
	buyer string
	done  bool // released or sold
}

func newFakeTarget(l Layout) *fakeTarget {
	f := &fakeTarget{seated: map[string]*fakeSection{}, ga: map[string]*fakeGA{}, holds: map[string]*fakeHold{}, buyers: map[string]bool{}}
	for _, s := range l.Sections {
		if s.GA {
			f.ga[s.ID] = &fakeGA{capacity: s.Capacity}
			continue
		}
		fs := &fakeSection{status: map[string]string{}, holder: map[string]string{}}
		for r := 0; r < s.Rows; r++ {
			for n := 0; n < s.PerRow; n++ {
				fs.labels = append(fs.labels, SeatLabel(r, n))
				fs.status[SeatLabel(r, n)] = "free"
			}
		}
		f.seated[s.ID] = fs
	}
	return f
}

func answer(code int, format string, args ...any) Status {
	return Status{Code: code, Err: fmt.Errorf("%d: "+format, append([]any{code}, args...)...)}
}

// Hold implements Driver.
func (f *fakeTarget) Hold(ctx context.Context, buyer, section string, req HoldRequest) (Hold, Status) {
	f.mu.Lock()
	f.holdCalls++
	f.buyers[buyer] = true
	f.inHold++
	f.maxInHold = max(f.maxInHold, f.inHold)
	delay := f.delay
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.inHold--; f.mu.Unlock() }()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return Hold{}, Status{Err: ctx.Err()}
		}
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuseAll {
		return Hold{}, answer(409, "sold out")
	}
	f.next++
	ttl := time.Duration(req.TTLSeconds) * time.Second
	if ttl <= 0 {
		ttl = 15 * time.Minute
	}
	h := Hold{Token: fmt.Sprintf("t%d", f.next), Owner: buyer, Section: section, ExpiresAt: time.Now().Add(ttl)}
	if g := f.ga[section]; g != nil {
		if req.Quantity <= 0 || len(req.Seats) > 0 || req.BestAvailable {
			return Hold{}, answer(400, "a GA hold is a quantity")
		}
		if req.Quantity > g.capacity-g.held-g.sold && !f.noConflicts {
			return Hold{}, answer(409, "not enough places")
		}
		h.Items, h.Quantity = []HoldItem{{Quantity: req.Quantity}}, req.Quantity
		if !f.forgetHolds {
			g.held += req.Quantity
		}
	} else if s := f.seated[section]; s != nil {
		var seats []string
		switch {
		case len(req.Seats) > 0 && !req.BestAvailable:
			for _, l := range req.Seats {
				st, ok := s.status[l]
				if !ok {
					return Hold{}, answer(400, "no seat %s", l)
				}
				if st != "free" && !f.noConflicts {
					return Hold{}, answer(409, "seat %s is taken", l)
				}
				if slices.Contains(seats, l) {
					return Hold{}, answer(400, "seat %s twice", l)
				}
				seats = append(seats, l)
			}
		case req.BestAvailable && req.Quantity > 0 && len(req.Seats) == 0:
			for _, l := range s.labels {
				if s.status[l] == "free" {
					seats = append(seats, l)
				}
				if len(seats) == req.Quantity {
					break
				}
			}
			if len(seats) < req.Quantity {
				return Hold{}, answer(409, "not enough seats")
			}
		default:
			return Hold{}, answer(400, "want seats or best_available")
		}
		for _, l := range seats {
			h.Items = append(h.Items, HoldItem{Seat: l, Quantity: 1})
			if !f.forgetHolds {
				s.status[l], s.holder[l] = "held", h.Token
			}
		}
		h.Quantity = len(seats)
	} else {
		return Hold{}, answer(404, "no section %s", section)
	}
	f.holds[h.Token] = &fakeHold{hold: h, buyer: buyer}
	f.ackHolds++
	f.ackPlaces += h.Quantity
	return h, Status{Code: 201}
}

// take finds the owner's live hold (f.mu held).
func (f *fakeTarget) take(buyer, section, token string) (*fakeHold, Status) {
	fh := f.holds[token]
	switch {
	case fh == nil || fh.hold.Section != section:
		return nil, answer(404, "no hold %s", token)
	case fh.buyer != buyer:
		return nil, answer(403, "hold %s is not yours", token)
	case fh.done:
		return nil, answer(409, "hold %s is over", token)
	}
	fh.done = true
	return fh, Status{}
}

// settle moves a hold's places to status (free or sold), f.mu held.
func (f *fakeTarget) settle(h Hold, status string) {
	if g := f.ga[h.Section]; g != nil {
		g.held -= h.Quantity
		if status == "sold" {
			g.sold += h.Quantity
		}
		return
	}
	s := f.seated[h.Section]
	for _, l := range h.Seats() {
		if status == "sold" || s.holder[l] == h.Token {
			s.status[l] = status
			delete(s.holder, l)
		}
	}
}

// Release implements Driver.
func (f *fakeTarget) Release(_ context.Context, buyer, section, token string) Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.releaseCalls++
	fh, st := f.take(buyer, section, token)
	if fh == nil {
		return st
	}
	f.settle(fh.hold, "free")
	return Status{Code: 204}
}

// Confirm implements Driver.
func (f *fakeTarget) Confirm(_ context.Context, buyer, section, token string) (Booking, Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fh, st := f.take(buyer, section, token)
	if fh == nil {
		return Booking{}, st
	}
	if f.loseSales {
		f.settle(fh.hold, "free")
	} else {
		f.settle(fh.hold, "sold")
		f.soldPlaces += fh.hold.Quantity
	}
	if f.confirmNoAnswer {
		return Booking{}, Status{Err: errors.New("connection reset by peer")}
	}
	f.ackSales++
	return Booking{ID: "bk-" + token, HoldToken: token, Section: section, Items: fh.hold.Items, Quantity: fh.hold.Quantity, Status: "confirmed"}, Status{Code: 201}
}

// Section implements Driver.
func (f *fakeTarget) Section(_ context.Context, section string) (Availability, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g := f.ga[section]; g != nil {
		return Availability{Section: section, Capacity: g.capacity, Free: max(0, g.capacity-g.held-g.sold), Held: g.held, Sold: g.sold}, nil
	}
	s := f.seated[section]
	if s == nil {
		return Availability{}, fmt.Errorf("404: no section %s", section)
	}
	av := Availability{Section: section, Capacity: len(s.labels)}
	for _, l := range s.labels {
		st := s.status[l]
		switch st {
		case "free":
			av.Free++
		case "held":
			av.Held++
		case "sold":
			av.Sold++
		}
		av.Seats = append(av.Seats, SeatView{Label: l, Status: st})
	}
	return av, nil
}

// Close implements Driver.
func (f *fakeTarget) Close() error { return nil }

// counts reads the fake's counters.
func (f *fakeTarget) counts() (holdCalls, buyers, ackHolds, ackPlaces, ackSales, soldPlaces, maxInHold int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.holdCalls, len(f.buyers), f.ackHolds, f.ackPlaces, f.ackSales, f.soldPlaces, f.maxInHold
}

// fakeCheckouter pays for holds as TicketView's orders do.
type fakeCheckouter struct{ *fakeTarget }

func (f fakeCheckouter) Checkout(ctx context.Context, buyer string, holds []Hold) ([]Booking, Status) {
	var out []Booking
	for _, h := range holds {
		b, st := f.Confirm(ctx, buyer, h.Section, h.Token)
		if !st.OK() {
			return nil, st
		}
		out = append(out, b)
	}
	return out, Status{Code: 201}
}

// fakeWatcher records that it ran until the sale ended.
type fakeWatcher struct{ ended chan struct{} }

func (w fakeWatcher) Watch(ctx context.Context, ready chan<- struct{}) *WatchStats {
	closeOnce(ready)
	<-ctx.Done()
	close(w.ended)
	return &WatchStats{Connected: 7, Messages: 21}
}

// ---- layouts and configs ----

// smallLayout has 60 places: two seated sections (30 and 10 seats) and 20 GA places.
func smallLayout() Layout {
	return Layout{Event: "ev", Sections: []SectionLayout{
		{ID: "S", Rows: 3, PerRow: 10, Price: 5000},
		{ID: "T", Rows: 2, PerRow: 5, Price: 3000},
		{ID: "G", GA: true, Capacity: 20, Price: 2000},
	}}
}

// bigLayout does not sell out in a short run.
func bigLayout() Layout {
	return Layout{Event: "ev", Sections: []SectionLayout{
		{ID: "S", Rows: 30, PerRow: 20, Price: 5000},
		{ID: "G", GA: true, Capacity: 2000, Price: 2000},
	}}
}

func baseConfig(l Layout) Config {
	return Config{
		Scenario: "test", Target: "fake", Layout: l,
		Profile:  Profile{Kind: "constant", Rate: 300, Duration: time.Second},
		Mix:      Mix{Pick: 40, Best: 30, GA: 30},
		ThinkMax: 10 * time.Millisecond,
		BuyRatio: 1,
		Timeout:  5 * time.Second,
		Seed:     42,
	}
}

func opOf(res Result, op Op) (OpStats, bool) {
	for _, s := range res.Ops {
		if s.Op == op {
			return s, true
		}
	}
	return OpStats{}, false
}

// checkAccounts checks that the result's counts add up and agree with the fake's.
func checkAccounts(t *testing.T, res Result, l *Ledger, f *fakeTarget) {
	t.Helper()
	var holds, sales, conflicts, errs int
	for _, s := range res.Ops {
		if s.OK+s.Conflicts+s.Errors != s.Count {
			t.Errorf("%s: %d ok + %d conflicts + %d errors != %d", s.Op, s.OK, s.Conflicts, s.Errors, s.Count)
		}
		n := 0
		for _, c := range s.Counts {
			n += c
		}
		if n != s.Count || len(s.Counts) != len(s.Bounds)+1 {
			t.Errorf("%s: histogram has %d of %d requests (%d counts, %d bounds)", s.Op, n, s.Count, len(s.Counts), len(s.Bounds))
		}
		if s.Count > 0 && !(s.P50 <= s.P95 && s.P95 <= s.P99 && s.P99 <= s.P999 && s.P999 <= s.Max) {
			t.Errorf("%s: percentiles out of order: %+v", s.Op, s)
		}
		if s.Op.IsHold() {
			holds += s.OK
		}
		if s.Op == OpConfirm || s.Op == OpCheckout {
			sales += s.OK
		}
		conflicts += s.Conflicts
		errs += s.Errors
	}
	if res.Holds != holds || res.Sales != sales || res.Conflicts != conflicts || res.Errors != errs {
		t.Errorf("totals: holds %d sales %d 409s %d errors %d; the ops say %d, %d, %d, %d",
			res.Holds, res.Sales, res.Conflicts, res.Errors, holds, sales, conflicts, errs)
	}
	_, buyers, ackHolds, ackPlaces, ackSales, soldPlaces, _ := f.counts()
	if res.Holds != ackHolds || res.HeldPlaces != ackPlaces {
		t.Errorf("holds: %d (%d places) recorded, the target acknowledged %d (%d places)", res.Holds, res.HeldPlaces, ackHolds, ackPlaces)
	}
	if res.Sales != ackSales || res.SoldPlaces != soldPlaces || l.SoldPlaces() != soldPlaces {
		t.Errorf("sales: %d (%d places, ledger %d) recorded, the target acknowledged %d (%d places)",
			res.Sales, res.SoldPlaces, l.SoldPlaces(), ackSales, soldPlaces)
	}
	if served := res.Arrived - res.Dropped; buyers > served {
		t.Errorf("%d buyers asked for holds, only %d were served", buyers, served)
	}

	// The timeline: one entry per (started) second, adding up to the totals.
	if want := int(math.Ceil(res.Elapsed)); len(res.Timeline) != want {
		t.Errorf("timeline has %d seconds, the run took %.3fs", len(res.Timeline), res.Elapsed)
	}
	var sum Second
	peak := 0
	for i, s := range res.Timeline {
		if s.T != i {
			t.Errorf("timeline[%d].T = %d", i, s.T)
		}
		sum.Arrivals += s.Arrivals
		sum.Holds += s.Holds
		sum.Sales += s.Sales
		sum.Conflicts += s.Conflicts
		sum.Errors += s.Errors
		peak = max(peak, s.Holds)
	}
	if sum.Arrivals != res.Arrived || sum.Holds != res.Holds || sum.Sales != res.Sales || sum.Conflicts != res.Conflicts || sum.Errors != res.Errors {
		t.Errorf("timeline sums %+v, totals: arrived %d holds %d sales %d 409s %d errors %d",
			sum, res.Arrived, res.Holds, res.Sales, res.Conflicts, res.Errors)
	}
	if res.PeakHolds != float64(peak) {
		t.Errorf("PeakHolds = %g, the busiest second has %d", res.PeakHolds, peak)
	}
}

func checkOK(t *testing.T, c Check) {
	t.Helper()
	if !c.OK() || !c.Done || c.SoldTwice != 0 || c.OverCapacity != 0 || c.LostHolds != 0 || c.LostSales != 0 || c.Unacked != 0 || c.Uncertain != 0 {
		t.Errorf("check of a correct target: %+v", c)
	}
}

// ---- the tests ----

func TestDriveSellsOut(t *testing.T) {
	l := smallLayout()
	f := newFakeTarget(l)
	cfg := baseConfig(l)
	cfg.MaxQty = 1 // single places: the last free place always finds a buyer
	res, ledger, err := Drive(context.Background(), cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []Op{OpPick, OpBest, OpGA, OpConfirm} {
		if s, ok := opOf(res, op); !ok || s.Count == 0 {
			t.Errorf("no %s requests: %+v", op, res.Ops)
		}
	}
	if _, ok := opOf(res, OpRelease); ok {
		t.Errorf("BuyRatio 1 released holds")
	}
	checkAccounts(t, res, ledger, f)
	if res.Errors != 0 || len(res.ErrorSample) != 0 {
		t.Errorf("errors against a correct target: %d %v", res.Errors, res.ErrorSample)
	}
	if res.Conflicts == 0 {
		t.Errorf("300 buyers for 60 places and no 409")
	}
	if res.SoldPlaces != l.Places() {
		t.Fatalf("sold %d of %d places", res.SoldPlaces, l.Places())
	}
	if res.SellOut <= 0 || res.SellOut > res.Elapsed {
		t.Errorf("sell-out at %gs of %gs", res.SellOut, res.Elapsed)
	}
	if want := float64(res.Holds) / res.SellOut; !near(res.HoldsPerSec, want, 1e-9*want) {
		t.Errorf("HoldsPerSec = %g, want holds until the sell-out %g", res.HoldsPerSec, want)
	}
	// Without StopAtSellOut the arrivals go on to the end of the profile.
	if e := cfg.Profile.Expected(); float64(res.Arrived) < 0.95*e || float64(res.Arrived) > e {
		t.Errorf("arrived %d, the profile has %g", res.Arrived, e)
	}
	sc := res.Scenario
	if sc.Places != 60 || sc.Sections != 3 || sc.Profile != "constant" || sc.Rate != 300 || sc.Mix != "pick=40,best=30,ga=30" ||
		sc.MaxBuyers != 512 || sc.TTLSeconds != 900 || sc.Checkout != "direct confirm" || res.Target != "fake" || sc.Name != "test" {
		t.Errorf("scenario: %+v", sc)
	}
	checkOK(t, ledger.Check(context.Background(), f, l, time.Now()))
}

func TestDriveStopAtSellOut(t *testing.T) {
	l := smallLayout()
	f := newFakeTarget(l)
	cfg := baseConfig(l)
	cfg.MaxQty = 1
	cfg.Profile.Duration = 20 * time.Second
	cfg.StopAtSellOut = true
	res, ledger, err := Drive(context.Background(), cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	if res.SellOut <= 0 || res.SoldPlaces != l.Places() {
		t.Fatalf("sold %d of %d places, sell-out at %g", res.SoldPlaces, l.Places(), res.SellOut)
	}
	// 6000 buyers in the profile; the arrivals stopped with the sell-out.
	if e := cfg.Profile.Expected(); float64(res.Arrived) >= e/2 {
		t.Errorf("arrived %d of the profile's %g: the arrivals did not stop at the sell-out", res.Arrived, e)
	}
	checkAccounts(t, res, ledger, f)
	checkOK(t, ledger.Check(context.Background(), f, l, time.Now()))
}

func TestDriveBuysAndReleases(t *testing.T) {
	l := bigLayout()
	f := newFakeTarget(l)
	cfg := baseConfig(l)
	cfg.Profile = Profile{Kind: "ramp", Rate: 100, Peak: 300, Duration: time.Second}
	cfg.BuyRatio = 0.5
	cfg.ThinkMin, cfg.ThinkMax = 5*time.Millisecond, 20*time.Millisecond
	w := fakeWatcher{ended: make(chan struct{})}
	cfg.Watch = w
	res, ledger, err := Drive(context.Background(), cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	checkAccounts(t, res, ledger, f)
	rel, _ := opOf(res, OpRelease)
	conf, _ := opOf(res, OpConfirm)
	if rel.OK == 0 || conf.OK == 0 {
		t.Errorf("BuyRatio 0.5: %d releases, %d confirmations", rel.OK, conf.OK)
	}
	if rel.Count+conf.Count != res.Holds || rel.Errors+conf.Errors != 0 {
		t.Errorf("%d holds ended in %d releases and %d confirmations", res.Holds, rel.Count, conf.Count)
	}
	if res.SellOut != 0 {
		t.Errorf("sell-out at %g without a sell-out", res.SellOut)
	}
	if res.SoldPlaces == 0 || res.HeldPlaces <= res.Holds {
		t.Errorf("%d places in %d holds, %d sold", res.HeldPlaces, res.Holds, res.SoldPlaces)
	}
	select {
	case <-w.ended:
	default:
		t.Error("the watchers were still running when Drive returned")
	}
	if res.Watchers == nil || res.Watchers.Connected != 7 {
		t.Errorf("watchers: %+v", res.Watchers)
	}
	checkOK(t, ledger.Check(context.Background(), f, l, time.Now()))
	// Everything bought is sold, everything released is free again.
	held := 0
	for _, s := range l.Sections {
		av, _ := f.Section(context.Background(), s.ID)
		held += av.Held
	}
	if held != 0 {
		t.Errorf("%d places still held after every buyer bought or let go", held)
	}
}

func TestDriveCheckout(t *testing.T) {
	l := bigLayout()
	f := newFakeTarget(l)
	cfg := baseConfig(l)
	cfg.Profile.Duration = 300 * time.Millisecond
	cfg.Checkout = true
	res, ledger, err := Drive(context.Background(), cfg, fakeCheckouter{f})
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := opOf(res, OpCheckout); !ok || s.OK == 0 {
		t.Errorf("no checkouts: %+v", res.Ops)
	}
	if _, ok := opOf(res, OpConfirm); ok {
		t.Error("confirmations besides the checkouts")
	}
	if res.Scenario.Checkout != "order + sandbox payment" {
		t.Errorf("scenario checkout %q", res.Scenario.Checkout)
	}
	checkAccounts(t, res, ledger, f)
	checkOK(t, ledger.Check(context.Background(), f, l, time.Now()))
}

func TestDriveDropsBeyondMaxBuyers(t *testing.T) {
	l := bigLayout()
	f := newFakeTarget(l)
	f.delay = 30 * time.Millisecond
	cfg := baseConfig(l)
	cfg.Profile = Profile{Kind: "constant", Rate: 200, Duration: 500 * time.Millisecond}
	cfg.MaxBuyers = 1
	cfg.ThinkMax = 0
	res, ledger, err := Drive(context.Background(), cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	_, buyers, _, _, _, _, maxIn := f.counts()
	if res.Dropped == 0 || res.Dropped >= res.Arrived {
		t.Errorf("dropped %d of %d arrivals with one buyer at a time against a slow target", res.Dropped, res.Arrived)
	}
	if buyers != res.Arrived-res.Dropped {
		t.Errorf("%d buyers served, %d arrived and %d dropped", buyers, res.Arrived, res.Dropped)
	}
	if maxIn != 1 {
		t.Errorf("%d holds at once with MaxBuyers 1", maxIn)
	}
	checkAccounts(t, res, ledger, f)
	checkOK(t, ledger.Check(context.Background(), f, l, time.Now()))
}

func TestDriveRetries(t *testing.T) {
	for _, c := range []struct {
		retries, attempts int
	}{
		{0, 3}, // the documented default: 2 new attempts after a 409
		{1, 2},
		{-1, 1}, // no retry
	} {
		t.Run(fmt.Sprint(c.retries), func(t *testing.T) {
			l := bigLayout()
			f := newFakeTarget(l)
			f.refuseAll = true
			cfg := baseConfig(l)
			cfg.Profile.Duration = 200 * time.Millisecond
			cfg.Retries = c.retries
			res, _, err := Drive(context.Background(), cfg, f)
			if err != nil {
				t.Fatal(err)
			}
			calls, buyers, _, _, _, _, _ := f.counts()
			if buyers == 0 || calls != c.attempts*buyers || res.Conflicts != calls {
				t.Errorf("Retries %d: %d buyers made %d holds (%d 409s), want %d each", c.retries, buyers, calls, res.Conflicts, c.attempts)
			}
			if res.Holds != 0 || res.Sales != 0 {
				t.Errorf("holds %d sales %d from a target that refuses everything", res.Holds, res.Sales)
			}
		})
	}
}

func TestDriveUncertainConfirm(t *testing.T) {
	l := bigLayout()
	f := newFakeTarget(l)
	f.confirmNoAnswer = true
	cfg := baseConfig(l)
	cfg.Profile.Duration = 300 * time.Millisecond
	res, ledger, err := Drive(context.Background(), cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	conf, _ := opOf(res, OpConfirm)
	if conf.Count == 0 || conf.Errors != conf.Count || res.Sales != 0 {
		t.Errorf("confirmations without an answer: %+v, sales %d", conf, res.Sales)
	}
	if len(res.ErrorSample) == 0 || !strings.HasPrefix(res.ErrorSample[0], "confirm: ") {
		t.Errorf("error sample %q", res.ErrorSample)
	}
	_, _, _, _, _, sold, _ := f.counts()
	c := ledger.Check(context.Background(), f, l, time.Now())
	if sold == 0 || c.Unacked != sold || c.Unacked > c.Uncertain || !c.OK() || c.LostHolds != 0 || c.LostSales != 0 {
		t.Errorf("the store sold %d places nobody acknowledged: %+v", sold, c)
	}
}

func TestDriveCanceled(t *testing.T) {
	l := bigLayout()
	f := newFakeTarget(l)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, ledger, err := Drive(ctx, baseConfig(l), f)
	if !errors.Is(err, context.Canceled) || ledger == nil {
		t.Fatalf("Drive on a canceled context: %v (ledger %v)", err, ledger)
	}
	if calls, _, _, _, _, _, _ := f.counts(); calls != 0 || res.Arrived != 0 {
		t.Errorf("%d holds, %d arrivals on a canceled context", calls, res.Arrived)
	}
}

func TestDriveBadConfig(t *testing.T) {
	seatedOnly := Layout{Event: "ev", Sections: []SectionLayout{{ID: "S", Rows: 2, PerRow: 2}}}
	gaOnly := Layout{Event: "ev", Sections: []SectionLayout{{ID: "G", GA: true, Capacity: 10}}}
	for name, mod := range map[string]func(*Config){
		"no sections":              func(c *Config) { c.Layout.Sections = nil },
		"GA mix without GA":        func(c *Config) { c.Layout = seatedOnly; c.Mix = Mix{Pick: 1, GA: 1} },
		"seated mix without seats": func(c *Config) { c.Layout = gaOnly; c.Mix = Mix{Best: 1} },
		"default mix, GA only":     func(c *Config) { c.Layout = gaOnly; c.Mix = Mix{} },
		"BuyRatio 2":               func(c *Config) { c.BuyRatio = 2 },
		"BuyRatio -0.1":            func(c *Config) { c.BuyRatio = -0.1 },
		"bad profile":              func(c *Config) { c.Profile.Kind = "zigzag" },
		"no duration":              func(c *Config) { c.Profile.Duration = 0 },
		"think max below min":      func(c *Config) { c.ThinkMin, c.ThinkMax = time.Second, time.Millisecond },
		"empty section": func(c *Config) {
			c.Layout.Sections = append(c.Layout.Sections, SectionLayout{ID: "X", Rows: 0, PerRow: 10})
		},
	} {
		cfg := baseConfig(smallLayout())
		mod(&cfg)
		f := newFakeTarget(smallLayout())
		if _, ledger, err := Drive(context.Background(), cfg, f); err == nil || ledger != nil {
			t.Errorf("%s: Drive accepted it (ledger %v)", name, ledger)
		}
		if calls, _, _, _, _, _, _ := f.counts(); calls != 0 {
			t.Errorf("%s: %d requests from a bad config", name, calls)
		}
	}
	// A GA-only layout runs with a GA-only mix.
	cfg := baseConfig(gaOnly)
	cfg.Mix = Mix{GA: 1}
	cfg.Profile.Duration = 100 * time.Millisecond
	f := newFakeTarget(gaOnly)
	if _, _, err := Drive(context.Background(), cfg, f); err != nil {
		t.Errorf("GA-only sale: %v", err)
	}
}

func TestQuantity(t *testing.T) {
	for _, maxQty := range []int{1, 2, 3, 4, 8} {
		e := &engine{cfg: Config{MaxQty: maxQty, Seed: 1}}
		rng := newTestRand(uint64(maxQty))
		seen := map[int]int{}
		for range 2000 {
			q := e.quantity(rng)
			if q < 1 || q > maxQty {
				t.Fatalf("MaxQty %d: quantity %d", maxQty, q)
			}
			seen[q]++
		}
		if maxQty >= 2 && (seen[2] < seen[1] || len(seen) != maxQty) {
			t.Errorf("MaxQty %d: quantities %v: want every one of 1..%d, 2 the most common", maxQty, seen, maxQty)
		}
	}
}

func TestRequest(t *testing.T) {
	l := smallLayout()
	e := &engine{cfg: Config{Layout: l}}
	for _, s := range l.Sections {
		if s.GA {
			e.ga = append(e.ga, s)
		} else {
			e.seated = append(e.seated, s)
			e.seatedPlaces += s.Places()
		}
	}
	rng := newTestRand(7)
	bySection := map[string]int{}
	for range 4000 {
		sec, req := e.request(rng, OpPick, 4)
		bySection[sec.ID]++
		if sec.GA || len(req.Seats) != 4 || req.BestAvailable || req.Quantity != 0 {
			t.Fatalf("pick: %s %+v", sec.ID, req)
		}
		// Adjacent seats of one row of the section.
		row := strings.Split(req.Seats[0], "-")[0]
		var first int
		fmt.Sscanf(strings.Split(req.Seats[0], "-")[1], "%d", &first)
		for i, s := range req.Seats {
			if want := fmt.Sprintf("%s-%d", row, first+i); s != want {
				t.Fatalf("pick %v: seat %d is %s, want %s", req.Seats, i, s, want)
			}
		}
		if _, ok := seatPos(sec, req.Seats[3]); !ok {
			t.Fatalf("pick %v: not in section %s", req.Seats, sec.ID)
		}
	}
	// In proportion to the sections' sizes: S has 30 seats, T 10.
	if r := float64(bySection["S"]) / float64(bySection["T"]); r < 2.4 || r > 3.6 {
		t.Errorf("picks by section %v: want about 3:1", bySection)
	}
	sec, req := e.request(rng, OpBest, 3)
	// allow_split: every design refuses only when fewer than 3 seats are free.
	if sec.GA || !req.BestAvailable || !req.AllowSplit || req.Quantity != 3 || len(req.Seats) != 0 {
		t.Errorf("best: %s %+v", sec.ID, req)
	}
	sec, req = e.request(rng, OpGA, 2)
	if sec.ID != "G" || req.Quantity != 2 || req.BestAvailable || req.AllowSplit || len(req.Seats) != 0 {
		t.Errorf("GA: %s %+v", sec.ID, req)
	}
}

// seatPos finds the seat label's row and number in the section.
func seatPos(sec SectionLayout, label string) ([2]int, bool) {
	for r := 0; r < sec.Rows; r++ {
		for n := 0; n < sec.PerRow; n++ {
			if SeatLabel(r, n) == label {
				return [2]int{r, n}, true
			}
		}
	}
	return [2]int{}, false
}

func newTestRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234", -999: "-999"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestLabels(t *testing.T) {
	for r, want := range map[int]string{0: "A", 25: "Z", 26: "AA", 27: "AB", 51: "AZ", 52: "BA", 701: "ZZ", 702: "AAA"} {
		if got := RowLabel(r); got != want {
			t.Errorf("RowLabel(%d) = %q, want %q", r, got, want)
		}
	}
	if got := SeatLabel(1, 11); got != "B-12" {
		t.Errorf("SeatLabel(1, 11) = %q", got)
	}
}
