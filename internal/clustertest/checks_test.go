package clustertest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
)

// recordingT records what the checks report instead of failing the test.
type recordingT struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordingT) Helper() {}

func (r *recordingT) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, strings.TrimSpace(strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " ")))
}

func (r *recordingT) Error(args ...any) { r.Errorf("%s", fmt.Sprint(args...)) }

func (r *recordingT) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.errs
	r.errs = nil
	return out
}

// TestExpectedAnswers pins down which answers the load tests accept from the gateway.
func TestExpectedAnswers(t *testing.T) {
	for _, tc := range []struct {
		r    Response
		want bool
	}{
		{Response{Status: 201}, true},
		{Response{Status: 200}, true},
		{Response{Status: 409, Code: ticketview.ESEATTAKEN}, true},
		{Response{Status: 409, Code: ticketview.ESOLDOUT}, true},
		{Response{Status: 422, Code: ticketview.ELIMIT}, true},
		{Response{Status: 503, Code: ticketview.EUNAVAILABLE}, true},
		{Response{Status: 500, Code: ticketview.EINTERNAL}, false},
		{Response{Status: 502}, false},
		{Response{Status: 400, Code: ticketview.EINVALID}, false},
		{Response{Status: 404, Code: ticketview.ENOTFOUND}, false},
		{Response{Status: 503, Code: ""}, false},
		{Response{Err: context.DeadlineExceeded}, false},
	} {
		if got := Expected(tc.r); got != tc.want {
			t.Errorf("Expected(%s) = %v, want %v", tc.r, got, tc.want)
		}
	}
}

// TestChecksCatchViolations: the ledger and invariant checks pass on a healthy cluster and
// report lost holds and sales, double holds, seats held and sold, tickets that disagree
// with their booking, and availability that disagrees with PostgreSQL (made here behind
// the engine's back).
func TestChecksCatchViolations(t *testing.T) {
	skipShort(t)
	c := New(t, Options{Catalog: CatalogSpec{Sections: 3}})
	c.StartNodes(1)
	c.StartGateway()
	c.WaitMembers(1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	api := c.API()
	l := NewLedger()
	hold := func(sec, buyer string, seats ...string) ticketview.Hold {
		t.Helper()
		h, r := api.Hold(ctx, sec, buyer, NewKey("k-"), HoldRequest{Seats: seats})
		if r.Status != http.StatusCreated {
			t.Fatalf("hold %v in %s: %s", seats, sec, r)
		}
		l.AddHold(sec, h)
		return h
	}
	hold("s01", "ana", "A-1", "A-2")
	sold := hold("s01", "ben", "B-1")
	l.ConfirmSent(sold.Token)
	b, r := api.Confirm(ctx, "s01", sold.Token, "ben", NewKey("c-"))
	if r.Status != http.StatusCreated {
		t.Fatalf("confirm: %s", r)
	}
	l.AddSale(sold.Token, b)
	hold("s02", "cho", "C-3")

	rec := &recordingT{TB: t}
	orig := c.T
	c.T = rec
	defer func() { c.T = orig }()
	check := func() []string {
		c.VerifyLedger(ctx, l).ExpectExact(rec)
		c.CheckInvariants(ctx)
		return rec.take()
	}
	if errs := check(); len(errs) > 0 {
		t.Fatalf("violations reported on a healthy cluster:\n%s", strings.Join(errs, "\n"))
	}

	// Acknowledgements the cluster never made.
	l.AddHold("s01", ticketview.Hold{Token: "never-held", Owner: "dan", Items: []ticketview.HoldItem{{Seat: "E-1"}}})
	l.AddHold("s01", ticketview.Hold{Token: "never-sold", Owner: "dan", Items: []ticketview.HoldItem{{Seat: "E-2"}}})
	l.AddSale("never-sold", ticketview.Booking{ID: "no-such-booking"})
	// Seat A-1 of s01 (index 0) held a second time; seat C-3 of s02 (index 22) sold while
	// held, by a booking of 2 seats with one ticket.
	pool := c.DB.Pool()
	ev := c.Catalog.Event
	for _, q := range []string{
		`INSERT INTO holds (event_id, section_id, token, owner, seats, quantity, prices, created_at, expires_at)
			VALUES ($1, 's01', 'forged', 'eve', '{0}', 1, '{100000}', now(), now() + interval '10 minutes')`,
		`INSERT INTO bookings (event_id, section_id, id, owner, hold_token, status, quantity, payment_ref, confirmed_at, confirm_seq)
			VALUES ($1, 's02', 'forged-booking', 'eve', 'forged-hold', 'confirmed', 2, 'x', now(), 999)`,
		`INSERT INTO tickets (event_id, section_id, booking_id, seat_index, price, status, issued_at)
			VALUES ($1, 's02', 'forged-booking', 22, 100000, 'valid', now())`,
	} {
		if _, err := pool.Exec(ctx, q, ev); err != nil {
			t.Fatalf("forging a violation: %v", err)
		}
	}
	errs := check()
	for _, want := range []string{
		"acknowledged hold lost: hold s01/never-held",
		"acknowledged sale lost: booking no-such-booking",
		"seat held twice: section s01 seat A-1",
		"seat held and sold: section s02 seat C-3",
		"tickets disagree with bookings: booking s02/forged-booking",
		"availability disagrees with PostgreSQL: section s01",
		"availability disagrees with PostgreSQL: section s02",
		"PostgreSQL has 1 holds and 1 bookings nobody was told of",
	} {
		found := false
		for _, e := range errs {
			found = found || strings.HasPrefix(e, want)
		}
		if !found {
			t.Errorf("the checks did not report %q; they reported:\n%s", want, strings.Join(errs, "\n"))
		}
	}
	if t.Failed() {
		return
	}
	// A lost sale is not excused as a hold, nor a hold as a sale.
	for _, e := range errs {
		if strings.Contains(e, "/"+sold.Token) || strings.Contains(e, "ana") {
			t.Errorf("a real acknowledgement was reported: %s", e)
		}
	}
}
