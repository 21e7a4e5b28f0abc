package load

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// checkLayout: a seated section of 2 rows of 3 and a GA section of 4 places.
func checkLayout() Layout {
	return Layout{Event: "ev", Sections: []SectionLayout{
		{ID: "S", Rows: 2, PerRow: 3},
		{ID: "G", GA: true, Capacity: 4},
	}}
}

// script makes requests as the engine's buyers do and records them in the ledger.
type script struct {
	t *testing.T
	l *Ledger
	d Driver
}

func newScript(t *testing.T, d Driver) script { return script{t: t, l: NewLedger(), d: d} }

func (s script) hold(buyer, section string, req HoldRequest) Hold {
	s.t.Helper()
	h, st := s.d.Hold(context.Background(), buyer, section, req)
	if !st.OK() {
		s.t.Fatalf("hold %s %+v: %v", section, req, st.Err)
	}
	s.l.held(h)
	return h
}

func (s script) confirm(buyer string, h Hold) {
	s.t.Helper()
	b, st := s.d.Confirm(context.Background(), buyer, h.Section, h.Token)
	if !st.OK() {
		s.t.Fatalf("confirm %s: %v", h.Token, st.Err)
	}
	s.l.soldHold(h.Section, h.Token, b.ID)
}

func (s script) release(buyer string, h Hold) {
	s.t.Helper()
	if st := s.d.Release(context.Background(), buyer, h.Section, h.Token); !st.OK() {
		s.t.Fatalf("release %s: %v", h.Token, st.Err)
	}
	s.l.released(h.Section, h.Token)
}

func (s script) check() Check {
	return s.l.Check(context.Background(), s.d, checkLayout(), time.Now())
}

// busy makes a bit of every kind of history on a correct target.
func (s script) busy() {
	s.confirm("b1", s.hold("b1", "S", HoldRequest{Seats: []string{"A-1", "A-2"}}))
	s.release("b2", s.hold("b2", "S", HoldRequest{Seats: []string{"A-3"}}))
	s.hold("b3", "S", HoldRequest{BestAvailable: true, Quantity: 2}) // live: A-3, B-1
	s.confirm("b4", s.hold("b4", "G", HoldRequest{Quantity: 2}))
	s.hold("b5", "G", HoldRequest{Quantity: 1}) // live
	s.release("b6", s.hold("b6", "G", HoldRequest{Quantity: 1}))
}

func wantDetail(t *testing.T, c Check, parts ...string) {
	t.Helper()
	for _, d := range c.Details {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(d, p)
		}
		if ok {
			return
		}
	}
	t.Errorf("no detail names %q: %q", parts, c.Details)
}

func TestCheckCorrectTarget(t *testing.T) {
	s := newScript(t, newFakeTarget(checkLayout()))
	s.busy()
	c := s.check()
	checkOK(t, c)
	if n := s.l.SoldPlaces(); n != 4 {
		t.Errorf("SoldPlaces() = %d, want 2 seats + 2 GA places", n)
	}
}

func TestCheckLostSale(t *testing.T) {
	// (a) The store loses acknowledged sales: the seats read free again.
	f := newFakeTarget(checkLayout())
	s := newScript(t, f)
	s.busy()
	f.loseSales = true
	s.confirm("b7", s.hold("b7", "S", HoldRequest{Seats: []string{"B-3"}}))
	s.confirm("b8", s.hold("b8", "G", HoldRequest{Quantity: 1}))
	c := s.check()
	if c.OK() || c.LostSales != 2 || c.SoldTwice != 0 || c.OverCapacity != 0 || c.LostHolds != 0 {
		t.Errorf("lost sales: %+v", c)
	}
	wantDetail(t, c, "S/B-3", `"free"`)
	wantDetail(t, c, "GA G")
}

func TestCheckSoldTwice(t *testing.T) {
	// (b) A target that never checks conflicts confirms two holds of one seat.
	f := newFakeTarget(checkLayout())
	f.noConflicts = true
	s := newScript(t, f)
	h1 := s.hold("b1", "S", HoldRequest{Seats: []string{"A-2"}})
	h2 := s.hold("b2", "S", HoldRequest{Seats: []string{"A-1", "A-2"}})
	s.confirm("b1", h1)
	s.confirm("b2", h2)
	c := s.check()
	if c.OK() || c.SoldTwice != 1 || c.LostSales != 0 {
		t.Errorf("a seat sold twice: %+v", c)
	}
	wantDetail(t, c, "S/A-2", "bk-"+h1.Token, "bk-"+h2.Token)

	// Two live acknowledged holds of one seat are caught too.
	f = newFakeTarget(checkLayout())
	f.noConflicts = true
	s = newScript(t, f)
	s.hold("b3", "S", HoldRequest{Seats: []string{"B-1"}})
	s.hold("b4", "S", HoldRequest{Seats: []string{"B-1"}})
	if c := s.check(); c.OK() || c.SoldTwice == 0 {
		t.Errorf("a seat held twice: %+v", c)
	}
}

func TestCheckSoldTwiceUnderLoad(t *testing.T) {
	// The same through the engine: 2 seats, picks of one seat, buyers thinking long enough
	// to all hold before the first one buys.
	l := Layout{Event: "ev", Sections: []SectionLayout{{ID: "S", Rows: 1, PerRow: 2}}}
	f := newFakeTarget(l)
	f.noConflicts = true
	cfg := baseConfig(l)
	cfg.Profile = Profile{Kind: "constant", Rate: 500, Duration: 200 * time.Millisecond}
	cfg.Mix = Mix{Pick: 1}
	cfg.MaxQty = 1
	cfg.ThinkMin, cfg.ThinkMax = 30*time.Millisecond, 30*time.Millisecond
	_, ledger, err := Drive(context.Background(), cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	c := ledger.Check(context.Background(), f, l, time.Now())
	if c.OK() || c.SoldTwice == 0 {
		t.Errorf("oversold under load: %+v", c)
	}
	wantDetail(t, c, "acknowledged bookings")
}

func TestCheckOverCapacity(t *testing.T) {
	// (c) A GA section sold beyond its capacity.
	f := newFakeTarget(checkLayout())
	f.noConflicts = true
	s := newScript(t, f)
	s.confirm("b1", s.hold("b1", "G", HoldRequest{Quantity: 3}))
	s.confirm("b2", s.hold("b2", "G", HoldRequest{Quantity: 2}))
	c := s.check()
	if c.OK() || c.OverCapacity != 1 || c.LostSales != 0 {
		t.Errorf("5 of 4 places sold: %+v", c)
	}
	wantDetail(t, c, "section G", "5 sold of 4")

	// Held and sold together beyond it, too.
	f = newFakeTarget(checkLayout())
	f.noConflicts = true
	s = newScript(t, f)
	s.confirm("b1", s.hold("b1", "G", HoldRequest{Quantity: 3}))
	s.hold("b2", "G", HoldRequest{Quantity: 3})
	if c := s.check(); c.OK() || c.OverCapacity != 1 {
		t.Errorf("3 sold + 3 held of 4: %+v", c)
	}
}

func TestCheckLostHolds(t *testing.T) {
	// (d) The store forgets acknowledged live holds.
	f := newFakeTarget(checkLayout())
	s := newScript(t, f)
	s.busy()
	f.forgetHolds = true
	h := s.hold("b7", "S", HoldRequest{Seats: []string{"B-3"}})
	s.hold("b8", "G", HoldRequest{Quantity: 1})
	c := s.check()
	if c.OK() || c.LostHolds != 2 || c.LostSales != 0 || c.SoldTwice != 0 {
		t.Errorf("forgotten holds: %+v", c)
	}
	wantDetail(t, c, "S/B-3", h.Token)
	wantDetail(t, c, "GA G", "acknowledged live holds")

	// Once they have expired, they are no longer owed.
	if c := s.l.Check(context.Background(), f, checkLayout(), time.Now().Add(time.Hour)); !c.OK() || c.LostHolds != 0 {
		t.Errorf("expired holds counted as lost: %+v", c)
	}
}

func TestCheckUnacked(t *testing.T) {
	// A store that sells a place nobody bought: unacknowledged, and no request went
	// unanswered to explain it.
	f := newFakeTarget(checkLayout())
	s := newScript(t, f)
	s.busy()
	h, st := f.Hold(context.Background(), "ghost", "S", HoldRequest{Seats: []string{"B-3"}})
	if !st.OK() {
		t.Fatal(st.Err)
	}
	if _, st := f.Confirm(context.Background(), "ghost", "S", h.Token); !st.OK() {
		t.Fatal(st.Err)
	}
	c := s.check()
	if c.OK() || c.Unacked != 1 || c.Uncertain != 0 {
		t.Errorf("a sale nobody acknowledged: %+v", c)
	}
	// With an unanswered request for a place, it may be that one.
	s.l.noAnswer(1)
	if c := s.check(); !c.OK() || c.Unacked != 1 || c.Uncertain != 1 {
		t.Errorf("a sale explained by an unanswered request: %+v", c)
	}
}

func TestCheckUncertainConfirm(t *testing.T) {
	// The confirmation does the sale and gets no answer: the engine marks it unsure.
	f := newFakeTarget(checkLayout())
	s := newScript(t, f)
	s.busy()
	f.confirmNoAnswer = true
	for _, h := range []Hold{s.hold("b7", "S", HoldRequest{Seats: []string{"B-2", "B-3"}}), s.hold("b8", "G", HoldRequest{Quantity: 1})} {
		if _, st := f.Confirm(context.Background(), h.Owner, h.Section, h.Token); st.Code != 0 || !st.Uncertain() {
			t.Fatalf("confirm answered %+v", st)
		}
		s.l.unsure(h.Section, h.Token)
		s.l.noAnswer(h.Quantity)
	}
	c := s.check()
	if !c.OK() || c.Unacked != 3 || c.Uncertain != 3 || c.LostHolds != 0 || c.LostSales != 0 {
		t.Errorf("uncertain sales: %+v", c)
	}
}

func TestCheckReadError(t *testing.T) {
	s := newScript(t, brokenRead{newFakeTarget(checkLayout())})
	s.busy()
	c := s.check()
	if c.OK() || c.Done {
		t.Errorf("a check that could not read the store: %+v", c)
	}
	wantDetail(t, c, "read section", "store down")
}

// brokenRead cannot read sections.
type brokenRead struct{ *fakeTarget }

func (brokenRead) Section(context.Context, string) (Availability, error) {
	return Availability{}, errors.New("store down")
}

func TestCheckDuplicateSeatInStore(t *testing.T) {
	f := dupSeat{newFakeTarget(checkLayout())}
	s := newScript(t, f)
	s.busy()
	c := s.check()
	if c.OK() || c.SoldTwice != 1 {
		t.Errorf("a store listing a seat twice: %+v", c)
	}
	wantDetail(t, c, "lists seat A-1 twice")
}

// dupSeat lists seat A-1 twice, sold both times.
type dupSeat struct{ *fakeTarget }

func (d dupSeat) Section(ctx context.Context, section string) (Availability, error) {
	av, err := d.fakeTarget.Section(ctx, section)
	if i := slices.IndexFunc(av.Seats, func(s SeatView) bool { return s.Label == "A-1" }); i >= 0 {
		av.Seats = append(av.Seats, av.Seats[i])
	}
	return av, err
}
