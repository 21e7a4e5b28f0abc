package clusterdrv_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/bench/clusterdrv"
	"github.com/ticketview/ticketview/bench/load"
)

var layout = load.Layout{Event: "cd-sale", Sections: []load.SectionLayout{
	{ID: "seated", Rows: 5, PerRow: 10, Price: 250000},
	{ID: "ga", GA: true, Capacity: 20, Price: 90000},
}}

func TestDriver(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := clusterdrv.Start(ctx, clusterdrv.Options{Nodes: 1, Layout: layout, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	d := c.Driver()
	defer d.Close()

	// Fresh event: everything free, labels as load.SeatLabel makes them.
	av, err := d.Section(ctx, "seated")
	if err != nil {
		t.Fatal(err)
	}
	if av.Capacity != 50 || av.Free != 50 || av.Sold != 0 || len(av.Seats) != 50 {
		t.Fatalf("fresh seated section: %+v", av)
	}
	if av.Seats[0].Label != load.SeatLabel(0, 0) || av.Seats[49].Label != load.SeatLabel(4, 9) || av.Seats[0].Status != "free" {
		t.Fatalf("seat views: first %+v, last %+v", av.Seats[0], av.Seats[49])
	}

	// Pick two seats and buy them.
	picked := []string{"A-1", "A-2"}
	h, st := d.Hold(ctx, "alice", "seated", load.HoldRequest{Seats: picked, TTLSeconds: 120})
	if st.Code != http.StatusCreated || st.Err != nil {
		t.Fatalf("hold: %+v", st)
	}
	if h.Token == "" || h.Owner != "alice" || h.Section != "seated" || h.Quantity != 2 || !slices.Equal(sorted(h.Seats()), picked) {
		t.Fatalf("hold: %+v", h)
	}
	if left := time.Until(h.ExpiresAt); left <= 0 || left > 121*time.Second {
		t.Errorf("hold expires in %v with a TTL of 120s", left)
	}

	// Another buyer picking an overlapping seat loses cleanly.
	_, st = d.Hold(ctx, "bob", "seated", load.HoldRequest{Seats: []string{"A-2", "A-3"}})
	if !st.Conflict() || st.Err == nil || ticketview.ErrorCode(st.Err) != ticketview.ESEATTAKEN {
		t.Fatalf("overlapping pick: %+v", st)
	}

	b, st := d.Confirm(ctx, "alice", "seated", h.Token)
	if st.Code != http.StatusCreated {
		t.Fatalf("confirm: %+v", st)
	}
	if b.ID == "" || b.HoldToken != h.Token || b.Quantity != 2 || b.Status != "confirmed" || len(b.Items) != 2 {
		t.Fatalf("booking: %+v", b)
	}
	// A sold seat cannot be held any more, and a confirmed hold cannot be confirmed by
	// someone else.
	if _, st = d.Hold(ctx, "carol", "seated", load.HoldRequest{Seats: []string{"A-1"}}); !st.Conflict() {
		t.Fatalf("pick of a sold seat: %+v", st)
	}
	if _, st = d.Confirm(ctx, "mallory", "seated", h.Token); st.OK() {
		t.Fatalf("confirm of alice's hold by another buyer: %+v", st)
	}

	// Best available, then released.
	best, st := d.Hold(ctx, "dave", "seated", load.HoldRequest{BestAvailable: true, Quantity: 3})
	if st.Code != http.StatusCreated || best.Quantity != 3 || len(best.Seats()) != 3 {
		t.Fatalf("best available: %+v %+v", best, st)
	}
	for _, s := range best.Seats() {
		if slices.Contains(picked, s) {
			t.Fatalf("best available gave sold seat %s: %v", s, best.Seats())
		}
	}
	av, err = d.Section(ctx, "seated")
	if err != nil {
		t.Fatal(err)
	}
	if av.Sold != 2 || av.Held != 3 || av.Free != 45 {
		t.Fatalf("after a sale and a best-available hold: %+v", counts(av))
	}
	if st = d.Release(ctx, "dave", "seated", best.Token); st.Code != http.StatusNoContent {
		t.Fatalf("release: %+v", st)
	}
	if st = d.Release(ctx, "dave", "seated", "hold_no-such-token"); st.OK() || st.Uncertain() {
		t.Fatalf("release of an unknown hold: %+v", st)
	}

	// The store shows the sold seats, and nothing else taken.
	av, err = d.Section(ctx, "seated")
	if err != nil {
		t.Fatal(err)
	}
	if av.Sold != 2 || av.Held != 0 || av.Free != 48 {
		t.Fatalf("after the release: %+v", counts(av))
	}
	var sold []string
	for _, s := range av.Seats {
		switch s.Status {
		case "sold":
			sold = append(sold, s.Label)
		case "free":
		default:
			t.Errorf("seat %s is %s", s.Label, s.Status)
		}
	}
	if !slices.Equal(sorted(sold), picked) {
		t.Fatalf("sold seats %v, want %v", sold, picked)
	}

	// General admission: hold, buy, then ask for more than is left.
	ga, st := d.Hold(ctx, "erin", "ga", load.HoldRequest{Quantity: 4})
	if st.Code != http.StatusCreated || ga.Quantity != 4 || len(ga.Seats()) != 0 {
		t.Fatalf("GA hold: %+v %+v", ga, st)
	}
	if _, st = d.Confirm(ctx, "erin", "ga", ga.Token); st.Code != http.StatusCreated {
		t.Fatalf("GA confirm: %+v", st)
	}
	if _, st = d.Hold(ctx, "frank", "ga", load.HoldRequest{Quantity: 17}); !st.Conflict() || ticketview.ErrorCode(st.Err) != ticketview.ESOLDOUT {
		t.Fatalf("GA hold beyond what is left: %+v", st)
	}
	gav, err := d.Section(ctx, "ga")
	if err != nil {
		t.Fatal(err)
	}
	if gav.Capacity != 20 || gav.Sold != 4 || gav.Held != 0 || gav.Free != 16 {
		t.Fatalf("GA section: %+v", counts(gav))
	}

	// Killed (SIGKILL) and started again: the sections come back from the journal, and
	// the same driver goes on through the new client.
	if err := c.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	av, err = d.Section(ctx, "seated")
	if err != nil {
		t.Fatal(err)
	}
	if av.Sold != 2 || av.Held != 0 || av.Free != 48 {
		t.Fatalf("seated after a restart: %+v", counts(av))
	}
	if gav, err = d.Section(ctx, "ga"); err != nil || gav.Sold != 4 || gav.Free != 16 {
		t.Fatalf("GA after a restart: %+v, %v", counts(gav), err)
	}
	if _, st = d.Hold(ctx, "carol", "seated", load.HoldRequest{Seats: []string{"A-1"}}); !st.Conflict() {
		t.Fatalf("pick of a sold seat after a restart: %+v", st)
	}
	if _, st = d.Hold(ctx, "carol", "seated", load.HoldRequest{Seats: []string{"A-3"}}); st.Code != http.StatusCreated {
		t.Fatalf("pick of a free seat after a restart: %+v", st)
	}

	// Bad input and unknown sections.
	if _, st = d.Hold(ctx, "gina", "seated", load.HoldRequest{Seats: []string{"Z-99"}}); st.Code != http.StatusBadRequest && st.Code != http.StatusNotFound {
		t.Fatalf("hold of a seat that does not exist: %+v", st)
	}
	if _, st = d.Hold(ctx, "gina", "seated", load.HoldRequest{}); st.Code != http.StatusBadRequest {
		t.Fatalf("empty hold: %+v", st)
	}
	if _, st = d.Hold(ctx, "gina", "nowhere", load.HoldRequest{Quantity: 1}); st.Code != http.StatusNotFound {
		t.Fatalf("hold in an unknown section: %+v", st)
	}
}

func TestStartRejectsBadLayouts(t *testing.T) {
	for _, l := range []load.Layout{
		{Sections: layout.Sections},
		{Event: "e"},
		{Event: "e", Sections: []load.SectionLayout{{ID: "s", Rows: 0, PerRow: 10}}},
		{Event: "e", Sections: []load.SectionLayout{{ID: "g", GA: true, Capacity: 5, Price: -1}}},
	} {
		if c, err := clusterdrv.Start(context.Background(), clusterdrv.Options{NodeBin: "/nonexistent", Layout: l}); err == nil {
			_ = c.Close()
			t.Errorf("Start(%+v) succeeded", l)
		}
	}
}

func TestStatusOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{nil, http.StatusOK},
		{ticketview.ErrSeatTaken, http.StatusConflict},
		{ticketview.ErrSoldOut, http.StatusConflict},
		{ticketview.ErrConflict, http.StatusConflict},
		{ticketview.ErrHoldExpired, http.StatusConflict},
		{ticketview.ErrNotFound, http.StatusNotFound},
		{ticketview.ErrInvalid, http.StatusBadRequest},
		{ticketview.ErrLimit, http.StatusUnprocessableEntity},
		{ticketview.ErrFenced, http.StatusServiceUnavailable},
		{errors.New("boom"), http.StatusInternalServerError},
	} {
		st := clusterdrv.StatusOf(tc.err)
		if st.Code != tc.code || (tc.err != nil) != (st.Err != nil) {
			t.Errorf("StatusOf(%v) = %+v, want %d", tc.err, st, tc.code)
		}
	}
	if !clusterdrv.StatusOf(ticketview.ErrUnavailable).Uncertain() {
		t.Error("an unavailable error is not uncertain")
	}
}

func TestCatalog(t *testing.T) {
	v, e := clusterdrv.Catalog(load.Layout{Event: "big", Sections: []load.SectionLayout{
		{ID: "s", Rows: 28, PerRow: 3, Price: 100},
		{ID: "g", GA: true, Capacity: 7, Price: 50},
	}}, time.Now())
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	s, ok := v.Section("s")
	if !ok || s.SeatCount() != 84 || s.Rows[26].Label != "AA" || s.Rows[27].Seats[2].Label != "AB-3" {
		t.Fatalf("seated section: %+v", s)
	}
	g, ok := v.Section("g")
	if !ok || g.Kind != ticketview.GeneralAdmission || g.Capacity != 7 || g.Category != clusterdrv.CategoryOf("g") {
		t.Fatalf("GA section: %+v", g)
	}
	if c, ok := e.Category(clusterdrv.CategoryOf("s")); !ok || c.Price != 100 {
		t.Fatalf("category of s: %+v", c)
	}
	if e.Status != ticketview.EventOnSale || e.Limit() < 1000 {
		t.Fatalf("event: %+v", e)
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func counts(a load.Availability) load.Availability {
	a.Seats = nil
	return a
}
