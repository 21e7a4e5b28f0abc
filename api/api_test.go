package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketview/ticketview/internal/testutil"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api"
	"github.com/ticketview/ticketview/demo"
)

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	var body map[string]string
	res := e.ok(req{Path: "/healthz"}, http.StatusOK, &body)
	if body["status"] != "ok" {
		t.Fatalf("healthz: %v", body)
	}
	if res.Header.Get("X-Request-ID") == "" {
		t.Fatal("no X-Request-ID")
	}
	res = e.ok(req{Path: "/healthz", Headers: map[string]string{"X-Request-ID": "abc-123"}}, http.StatusOK, nil)
	if got := res.Header.Get("X-Request-ID"); got != "abc-123" {
		t.Fatalf("request id %q, want the caller's", got)
	}
}

func TestListEvents(t *testing.T) {
	e := newEnv(t)
	var list api.EventList
	e.ok(req{Path: "/api/v1/events"}, http.StatusOK, &list)
	if list.Total != 1 || len(list.Events) != 1 || list.Events[0].ID != demo.EventID {
		t.Fatalf("events: %+v", list)
	}
	if ev := list.Events[0]; ev.Status != ticketview.EventOnSale || ev.Currency != "INR" || ev.BuyerLimit != 6 {
		t.Fatalf("event: %+v", ev)
	}
	now := time.Now().UTC()
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"status=on_sale", 1},
		{"q=harbour", 1},
		{"q=HARBOUR+nights", 1},
		{"q=opera", 0},
		{"from=" + url.QueryEscape(now.Format(time.RFC3339)), 1},
		{"from=" + url.QueryEscape(now.Add(90*24*time.Hour).Format(time.RFC3339)), 0},
		{"to=" + url.QueryEscape(now.Add(24*time.Hour).Format(time.RFC3339)), 0},
		{"offset=1", 0},
		{"limit=1", 1},
	} {
		var l api.EventList
		e.ok(req{Path: "/api/v1/events?" + tc.query}, http.StatusOK, &l)
		if len(l.Events) != tc.want {
			t.Errorf("?%s: %d events, want %d", tc.query, len(l.Events), tc.want)
		}
		if l.Events == nil {
			t.Errorf("?%s: events is null, want a list", tc.query)
		}
	}
	for _, q := range []string{"status=bogus", "status=draft", "from=yesterday", "to=2027-13-01", "offset=-1", "limit=0", "limit=1000", "limit=ten"} {
		e.fails(req{Path: "/api/v1/events?" + q}, http.StatusBadRequest, ticketview.EINVALID)
	}
}

func TestEventDetails(t *testing.T) {
	e := newEnv(t)
	var d api.EventDetails
	e.ok(req{Path: eventPath}, http.StatusOK, &d)
	if d.Event.ID != demo.EventID || d.Venue.ID != demo.VenueID || d.Venue.Name != "Harbour Arena" {
		t.Fatalf("details: %+v", d)
	}
	want := map[string]struct {
		kind     ticketview.SectionKind
		capacity int
	}{
		demo.FloorVIP: {ticketview.Seated, 300},
		demo.Balcony:  {ticketview.Seated, 2400},
		demo.Standing: {ticketview.GeneralAdmission, 3000},
	}
	if len(d.Sections) != len(want) {
		t.Fatalf("sections: %+v", d.Sections)
	}
	for _, s := range d.Sections {
		w := want[s.ID]
		if s.Kind != w.kind || s.Capacity != w.capacity || s.Free != w.capacity || s.Name == "" {
			t.Errorf("section %+v, want %+v", s, w)
		}
	}
	if d.Availability.Capacity != 5700 || d.Availability.Free != 5700 {
		t.Fatalf("availability %+v", d.Availability)
	}
	prices := map[string]api.CategorySummary{}
	for _, c := range d.Categories {
		prices[c.Code] = c
	}
	// Nothing sold: the dynamic VIP price sits at its floor; General is fixed.
	if c := prices[demo.VIP]; c.BasePrice != 500000 || c.Price != 400000 || c.Ceiling != 900000 || c.Free != 300 || c.Currency != "INR" {
		t.Fatalf("VIP %+v", c)
	}
	if c := prices[demo.General]; c.BasePrice != 150000 || c.Price != 150000 || c.Free != 5400 {
		t.Fatalf("General %+v", c)
	}
	e.fails(req{Path: "/api/v1/events/no-such-event"}, http.StatusNotFound, ticketview.ENOTFOUND)
}

func TestSectionAvailability(t *testing.T) {
	e := newEnv(t)
	var a availability
	e.ok(req{Path: floorPath + "?seats=true"}, http.StatusOK, &a)
	if a.Capacity != 300 || a.Free != 300 || len(a.Seats) != 300 || a.Kind != ticketview.Seated {
		t.Fatalf("floor: capacity %d free %d seats %d", a.Capacity, a.Free, len(a.Seats))
	}
	if s := a.Seats[0]; s.Label != "A-1" || s.Row != "A" || s.Category != demo.VIP || s.Status != "free" {
		t.Fatalf("first seat %+v", s)
	}
	a = availability{}
	e.ok(req{Path: floorPath}, http.StatusOK, &a)
	if len(a.Seats) != 0 {
		t.Fatal("seats without ?seats=true")
	}
	a = availability{}
	e.ok(req{Path: balconyPath + "?seats=1"}, http.StatusOK, &a)
	acc := 0
	for _, s := range a.Seats {
		if s.Accessible {
			acc++
		}
	}
	if len(a.Seats) != 2400 || acc == 0 {
		t.Fatalf("balcony: %d seats, %d accessible", len(a.Seats), acc)
	}
	a = availability{}
	e.ok(req{Path: standingPath + "?seats=true"}, http.StatusOK, &a)
	if a.Kind != ticketview.GeneralAdmission || a.Capacity != 3000 || len(a.Seats) != 0 {
		t.Fatalf("standing %+v", a)
	}
	e.fails(req{Path: floorPath + "?seats=maybe"}, http.StatusBadRequest, ticketview.EINVALID)
	e.fails(req{Path: eventPath + "/sections/no-such-section"}, http.StatusNotFound, ticketview.ENOTFOUND)
	e.fails(req{Path: "/api/v1/events/nope/sections/" + demo.FloorVIP}, http.StatusNotFound, ticketview.ENOTFOUND)
}

func TestHoldConfirmCancel(t *testing.T) {
	e := newEnv(t)
	res := e.ok(req{Method: "POST", Path: floorPath + "/holds", Buyer: "alice", Body: api.HoldRequest{Seats: []string{"A-1", "A-2"}}},
		http.StatusCreated, nil)
	var h ticketview.Hold
	if err := json.Unmarshal(res.Body, &h); err != nil {
		t.Fatal(err)
	}
	if h.Token == "" || h.Owner != "alice" || h.Quantity != 2 || !slices.Equal(seatsOf(h), []string{"A-1", "A-2"}) {
		t.Fatalf("hold %+v", h)
	}
	if h.Total.Currency != "INR" || h.Total.Amount != h.Items[0].UnitPrice+h.Items[1].UnitPrice || h.Total.Amount <= 0 {
		t.Fatalf("total %+v", h.Total)
	}
	holdPath := floorPath + "/holds/" + h.Token
	if loc := res.Header.Get("Location"); loc != holdPath {
		t.Fatalf("Location %q, want %q", loc, holdPath)
	}
	if got := e.counts(floorPath); got != [4]int{298, 2, 0, 0} {
		t.Fatalf("counts after hold %v", got)
	}

	// Someone else cannot take A-2, nor see or touch alice's hold.
	e.fails(req{Method: "POST", Path: floorPath + "/holds", Buyer: "bob", Body: api.HoldRequest{Seats: []string{"A-2", "A-3"}}},
		http.StatusConflict, ticketview.ESEATTAKEN)
	e.fails(req{Path: holdPath, Buyer: "bob"}, http.StatusNotFound, ticketview.ENOTFOUND)
	e.fails(req{Method: "POST", Path: holdPath + "/confirm", Buyer: "bob", Body: api.ConfirmRequest{PaymentRef: "x"}},
		http.StatusNotFound, ticketview.ENOTFOUND)

	var got ticketview.Hold
	e.ok(req{Path: holdPath, Buyer: "alice"}, http.StatusOK, &got)
	if got.Token != h.Token || !got.ExpiresAt.Equal(h.ExpiresAt) {
		t.Fatalf("get hold %+v", got)
	}

	var ext ticketview.Hold
	e.ok(req{Method: "POST", Path: holdPath + "/extend", Buyer: "alice", Body: api.ExtendRequest{Seconds: 300}}, http.StatusOK, &ext)
	if d := ext.ExpiresAt.Sub(h.ExpiresAt); d != 300*time.Second {
		t.Fatalf("extended by %s, want 5m", d)
	}

	var b ticketview.Booking
	res = e.ok(req{Method: "POST", Path: holdPath + "/confirm", Buyer: "alice", Body: api.ConfirmRequest{PaymentRef: "pay_123"}},
		http.StatusCreated, &b)
	if b.ID == "" || b.Status != ticketview.BookingConfirmed || b.HoldToken != h.Token || b.PaymentRef != "pay_123" ||
		b.Total != h.Total || !slices.Equal(bookingSeats(b), []string{"A-1", "A-2"}) {
		t.Fatalf("booking %+v", b)
	}
	bookingPath := floorPath + "/bookings/" + b.ID
	if loc := res.Header.Get("Location"); loc != bookingPath {
		t.Fatalf("Location %q, want %q", loc, bookingPath)
	}
	if got := e.counts(floorPath); got != [4]int{298, 0, 2, 0} {
		t.Fatalf("counts after confirm %v", got)
	}
	// The hold is gone: it became the booking.
	e.fails(req{Path: holdPath, Buyer: "alice"}, http.StatusConflict, ticketview.ECONFLICT)
	e.fails(req{Method: "DELETE", Path: holdPath, Buyer: "alice"}, http.StatusConflict, ticketview.ECONFLICT)

	var gb ticketview.Booking
	e.ok(req{Path: bookingPath, Buyer: "alice"}, http.StatusOK, &gb)
	if gb.ID != b.ID || gb.Status != ticketview.BookingConfirmed {
		t.Fatalf("get booking %+v", gb)
	}
	e.fails(req{Path: bookingPath, Buyer: "bob"}, http.StatusNotFound, ticketview.ENOTFOUND)
	e.fails(req{Method: "POST", Path: bookingPath + "/cancel", Buyer: "bob"}, http.StatusNotFound, ticketview.ENOTFOUND)

	var cb ticketview.Booking
	e.ok(req{Method: "POST", Path: bookingPath + "/cancel", Buyer: "alice"}, http.StatusOK, &cb)
	if cb.Status != ticketview.BookingCancelled || cb.CancelledAt.IsZero() {
		t.Fatalf("cancelled booking %+v", cb)
	}
	if got := e.counts(floorPath); got != [4]int{300, 0, 0, 0} {
		t.Fatalf("counts after cancel %v", got)
	}
	// Cancelling again changes nothing; an empty JSON object is a valid body too.
	e.ok(req{Method: "POST", Path: bookingPath + "/cancel", Buyer: "alice", Body: "{}"}, http.StatusOK, &cb)
	if cb.Status != ticketview.BookingCancelled {
		t.Fatalf("cancel again %+v", cb)
	}
	// The seats are free again: bob can have them now.
	e.hold(floorPath, "bob", api.HoldRequest{Seats: []string{"A-2", "A-3"}})
}

func bookingSeats(b ticketview.Booking) []string {
	var out []string
	for _, it := range b.Items {
		out = append(out, it.Seat)
	}
	return out
}

func TestBestAvailableAndRelease(t *testing.T) {
	e := newEnv(t)
	h := e.hold(floorPath, "carol", api.HoldRequest{BestAvailable: true, Quantity: 3, Category: demo.VIP})
	if h.Quantity != 3 || len(h.Items) != 3 {
		t.Fatalf("hold %+v", h)
	}
	// Best available: adjacent seats in the front row, centred.
	if got := seatsOf(h); !slices.Equal(got, []string{"A-14", "A-15", "A-16"}) && !slices.Equal(got, []string{"A-15", "A-16", "A-17"}) {
		t.Fatalf("best available gave %v", got)
	}
	acc := e.hold(balconyPath, "carol", api.HoldRequest{BestAvailable: true, Quantity: 2, Accessible: true})
	for _, it := range acc.Items {
		if !strings.HasPrefix(it.Seat, "A-") {
			t.Fatalf("accessible seat %s off the front row", it.Seat)
		}
	}
	holdPath := floorPath + "/holds/" + h.Token
	e.ok(req{Method: "DELETE", Path: holdPath, Buyer: "carol"}, http.StatusNoContent, nil)
	// Releasing again is harmless; the hold is gone.
	e.ok(req{Method: "DELETE", Path: holdPath, Buyer: "carol"}, http.StatusNoContent, nil)
	e.fails(req{Path: holdPath, Buyer: "carol"}, http.StatusConflict, ticketview.ECONFLICT)
	e.fails(req{Method: "POST", Path: holdPath + "/confirm", Buyer: "carol", Body: api.ConfirmRequest{PaymentRef: "p"}},
		http.StatusConflict, ticketview.ECONFLICT)
	if got := e.counts(floorPath); got != [4]int{300, 0, 0, 0} {
		t.Fatalf("counts after release %v", got)
	}
	// Best available in a category the section does not sell.
	e.fails(req{Method: "POST", Path: floorPath + "/holds", Buyer: "carol",
		Body: api.HoldRequest{BestAvailable: true, Quantity: 1, Category: demo.General}},
		http.StatusConflict, ticketview.ESOLDOUT)
}

func TestGeneralAdmission(t *testing.T) {
	e := newEnv(t)
	h := e.hold(standingPath, "dan", map[string]any{"quantity": 3})
	if h.Quantity != 3 || len(h.Items) != 1 || h.Items[0].Quantity != 3 || h.Items[0].Category != demo.General ||
		h.Total.Amount != 3*150000 {
		t.Fatalf("GA hold %+v", h)
	}
	if got := e.counts(standingPath); got != [4]int{2997, 3, 0, 0} {
		t.Fatalf("counts %v", got)
	}
	var b ticketview.Booking
	e.ok(req{Method: "POST", Path: standingPath + "/holds/" + h.Token + "/confirm", Buyer: "dan",
		Body: api.ConfirmRequest{PaymentRef: "upi-1"}}, http.StatusCreated, &b)
	if b.Quantity != 3 || b.Status != ticketview.BookingConfirmed {
		t.Fatalf("booking %+v", b)
	}
	if got := e.counts(standingPath); got != [4]int{2997, 0, 3, 0} {
		t.Fatalf("counts %v", got)
	}
	// Seats and best-available make no sense in general admission.
	e.fails(req{Method: "POST", Path: standingPath + "/holds", Buyer: "dan", Body: api.HoldRequest{Seats: []string{"A-1"}}},
		http.StatusBadRequest, ticketview.EINVALID)
	// A seated section needs seats or best_available, not a bare quantity.
	e.fails(req{Method: "POST", Path: floorPath + "/holds", Buyer: "dan", Body: api.HoldRequest{Quantity: 2}},
		http.StatusBadRequest, ticketview.EINVALID)
}

func TestHoldExpires(t *testing.T) {
	e := newEnv(t)
	h := e.hold(floorPath, "erin", api.HoldRequest{Seats: []string{"J-30"}, TTLSeconds: 1})
	if d := h.ExpiresAt.Sub(h.CreatedAt); d != time.Second {
		t.Fatalf("ttl %s", d)
	}
	// The engine releases expired holds by itself.
	testutil.CheckFor(t, 10*time.Second, func() error {
		if got := e.counts(floorPath); got != [4]int{300, 0, 0, 0} {
			return fmt.Errorf("counts %v", got)
		}
		return nil
	})
	e.fails(req{Path: floorPath + "/holds/" + h.Token, Buyer: "erin"}, http.StatusConflict, ticketview.EHOLDEXPIRED)
	e.fails(req{Method: "POST", Path: floorPath + "/holds/" + h.Token + "/confirm", Buyer: "erin",
		Body: api.ConfirmRequest{PaymentRef: "late"}}, http.StatusConflict, ticketview.EHOLDEXPIRED)
}

func TestBuyerLimit(t *testing.T) {
	e := newEnv(t)
	// The limit (6) is per event, across sections.
	ga := e.hold(standingPath, "frank", api.HoldRequest{Quantity: 4})
	e.hold(balconyPath, "frank", api.HoldRequest{BestAvailable: true, Quantity: 2})
	d := e.fails(req{Method: "POST", Path: floorPath + "/holds", Buyer: "frank", Body: api.HoldRequest{Seats: []string{"B-1"}}},
		http.StatusUnprocessableEntity, ticketview.ELIMIT)
	if !strings.Contains(d.Message, "6") {
		t.Fatalf("message %q does not tell the limit", d.Message)
	}
	e.fails(req{Method: "POST", Path: standingPath + "/holds", Buyer: "frank", Body: api.HoldRequest{Quantity: 1}},
		http.StatusUnprocessableEntity, ticketview.ELIMIT)
	// Another buyer is not affected.
	e.hold(floorPath, "grace", api.HoldRequest{Seats: []string{"B-1"}})
	// Releasing gives the allowance back.
	e.ok(req{Method: "DELETE", Path: standingPath + "/holds/" + ga.Token, Buyer: "frank"}, http.StatusNoContent, nil)
	testutil.CheckFor(t, 5*time.Second, func() error {
		res := e.do(req{Method: "POST", Path: floorPath + "/holds", Buyer: "frank", Body: api.HoldRequest{Seats: []string{"C-1", "C-2", "C-3", "C-4"}}})
		if res.Status != http.StatusCreated {
			return fmt.Errorf("status %d: %s", res.Status, res.Body)
		}
		return nil
	})
}

func TestIdempotentHold(t *testing.T) {
	e := newEnv(t)
	r := req{Method: "POST", Path: floorPath + "/holds", Buyer: "heidi", Idem: "key-1", Body: api.HoldRequest{Seats: []string{"E-5", "E-6"}}}
	var first, second ticketview.Hold
	res := e.ok(r, http.StatusCreated, &first)
	if res.Header.Get(api.HeaderReplayed) != "" {
		t.Fatal("first answer marked replayed")
	}
	res = e.ok(r, http.StatusCreated, &second)
	if res.Header.Get(api.HeaderReplayed) != "true" {
		t.Fatal("retry not marked replayed")
	}
	if first.Token != second.Token || !slices.Equal(seatsOf(first), seatsOf(second)) {
		t.Fatalf("retry gave another hold: %+v vs %+v", first, second)
	}
	if got := e.counts(floorPath); got != [4]int{298, 2, 0, 0} {
		t.Fatalf("counts %v: the retry held seats again", got)
	}
	// The key is the buyer's: another buyer with the same key gets a hold of their own.
	other := e.hold(floorPath, "ivan", map[string]any{"best_available": true, "quantity": 1})
	if other.Token == first.Token {
		t.Fatal("same token for another buyer")
	}
	// Confirm retried with one key makes one booking.
	cr := req{Method: "POST", Path: floorPath + "/holds/" + first.Token + "/confirm", Buyer: "heidi", Idem: "key-2",
		Body: api.ConfirmRequest{PaymentRef: "pay-9"}}
	var b1, b2 ticketview.Booking
	e.ok(cr, http.StatusCreated, &b1)
	e.ok(cr, http.StatusCreated, &b2)
	if b1.ID != b2.ID {
		t.Fatalf("two bookings %s and %s", b1.ID, b2.ID)
	}
	e.fails(req{Method: "POST", Path: floorPath + "/holds", Buyer: "heidi", Idem: strings.Repeat("k", 200),
		Body: api.HoldRequest{Seats: []string{"F-1"}}}, http.StatusBadRequest, ticketview.EINVALID)
}

// A retry must return the first hold even when the buyer is at the limit: the hold being
// retried is what uses the allowance.
func TestIdempotentHoldAtTheLimit(t *testing.T) {
	e := newEnv(t)
	r := req{Method: "POST", Path: standingPath + "/holds", Buyer: "judy", Idem: "all-six", Body: api.HoldRequest{Quantity: 6}}
	var first, second ticketview.Hold
	e.ok(r, http.StatusCreated, &first)
	e.ok(r, http.StatusCreated, &second)
	if first.Token != second.Token {
		t.Fatalf("retry gave another hold")
	}
}

func TestNotOnSale(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	draft := demo.Event(time.Now())
	draft.ID, draft.Name, draft.Status = "harbour-rehearsal", "Harbour Rehearsal", ticketview.EventDraft
	if err := e.db.CreateEvent(ctx, draft); err != nil {
		t.Fatal(err)
	}
	base := "/api/v1/events/" + draft.ID
	// A draft is its organizer's (and admins'): the public does not see it.
	e.fails(req{Path: base}, http.StatusNotFound, ticketview.ENOTFOUND)
	e.fails(req{Path: base + "/sections/" + demo.FloorVIP}, http.StatusNotFound, ticketview.ENOTFOUND)
	var d api.EventDetails
	e.ok(req{Path: base, Admin: "Bearer " + adminToken}, http.StatusOK, &d)
	if d.Event.Status != ticketview.EventDraft {
		t.Fatalf("status %s", d.Event.Status)
	}
	e.fails(req{Method: "POST", Path: base + "/sections/" + demo.FloorVIP + "/holds", Buyer: "kim",
		Body: api.HoldRequest{Seats: []string{"A-1"}}}, http.StatusConflict, ticketview.ENOTONSALE)
	var list api.EventList
	e.ok(req{Path: "/api/v1/events?status=on_sale"}, http.StatusOK, &list)
	if list.Total != 1 {
		t.Fatalf("on sale: %+v", list)
	}
	e.ok(req{Path: "/api/v1/events"}, http.StatusOK, &list)
	if list.Total != 1 {
		t.Fatalf("public listing shows the draft: %+v", list)
	}
	e.ok(req{Path: "/api/v1/organizer/events?status=draft", Admin: "Bearer " + adminToken}, http.StatusOK, &list)
	if list.Total != 1 || list.Events[0].ID != draft.ID {
		t.Fatalf("drafts for an admin: %+v", list)
	}
}

func TestAdmin(t *testing.T) {
	e := newEnv(t)
	block := adminPath(demo.FloorVIP) + "/block"
	body := api.BlockRequest{Seats: []string{"D-1", "D-2"}, Reason: "camera"}
	e.fails(req{Method: "POST", Path: block, Body: body}, http.StatusUnauthorized, ticketview.EUNAUTHORIZED)
	e.fails(req{Method: "POST", Path: block, Body: body, Admin: "Basic dXNlcjpwYXNz"}, http.StatusUnauthorized, ticketview.EUNAUTHORIZED)
	e.fails(req{Method: "POST", Path: block, Body: body, Admin: "Bearer wrong"}, http.StatusUnauthorized, ticketview.EUNAUTHORIZED)
	if got := e.counts(floorPath); got != [4]int{300, 0, 0, 0} {
		t.Fatalf("counts %v: refused requests changed something", got)
	}
	bearer := "Bearer " + adminToken
	var a ticketview.Availability
	e.ok(req{Method: "POST", Path: block, Body: body, Admin: bearer}, http.StatusOK, &a)
	if a.Blocked != 2 || a.Free != 298 {
		t.Fatalf("after block %+v", a)
	}
	e.fails(req{Method: "POST", Path: floorPath + "/holds", Buyer: "leo", Body: api.HoldRequest{Seats: []string{"D-2"}}},
		http.StatusConflict, ticketview.ESEATTAKEN)
	e.fails(req{Method: "POST", Path: adminPath(demo.FloorVIP) + "/unblock", Body: body, Admin: bearer}, http.StatusBadRequest, ticketview.EINVALID) // reason is for block only
	e.ok(req{Method: "POST", Path: adminPath(demo.FloorVIP) + "/unblock", Body: api.BlockRequest{Seats: []string{"D-1", "D-2"}}, Admin: bearer},
		http.StatusOK, &a)
	if a.Blocked != 0 || a.Free != 300 {
		t.Fatalf("after unblock %+v", a)
	}
	e.hold(floorPath, "leo", api.HoldRequest{Seats: []string{"D-2"}})

	// General admission is blocked by quantity.
	e.ok(req{Method: "POST", Path: adminPath(demo.Standing) + "/block", Body: api.BlockRequest{Quantity: 100}, Admin: bearer}, http.StatusOK, &a)
	if a.Blocked != 100 || a.Free != 2900 {
		t.Fatalf("GA block %+v", a)
	}
	e.fails(req{Method: "POST", Path: adminPath(demo.Standing) + "/block", Body: api.BlockRequest{Seats: []string{"A-1"}}, Admin: bearer},
		http.StatusBadRequest, ticketview.EINVALID)
	e.fails(req{Method: "POST", Path: adminPath(demo.FloorVIP) + "/block", Body: api.BlockRequest{Quantity: 3}, Admin: bearer},
		http.StatusBadRequest, ticketview.EINVALID)
	e.fails(req{Method: "POST", Path: adminPath("nope") + "/block", Body: body, Admin: bearer}, http.StatusNotFound, ticketview.ENOTFOUND)
	// A sold seat cannot be blocked.
	h := e.hold(floorPath, "mia", api.HoldRequest{Seats: []string{"H-9"}})
	var b ticketview.Booking
	e.ok(req{Method: "POST", Path: floorPath + "/holds/" + h.Token + "/confirm", Buyer: "mia", Body: api.ConfirmRequest{PaymentRef: "r"}},
		http.StatusCreated, &b)
	e.fails(req{Method: "POST", Path: block, Body: api.BlockRequest{Seats: []string{"H-9"}}, Admin: bearer}, http.StatusConflict, ticketview.ESEATTAKEN)

	// The admin sees and cancels any booking.
	bk := adminPath(demo.FloorVIP) + "/bookings/" + b.ID
	e.fails(req{Method: "POST", Path: bk + "/cancel"}, http.StatusUnauthorized, ticketview.EUNAUTHORIZED)
	var got ticketview.Booking
	e.ok(req{Path: bk, Admin: bearer}, http.StatusOK, &got)
	if got.Owner != "mia" {
		t.Fatalf("admin get booking %+v", got)
	}
	e.ok(req{Method: "POST", Path: bk + "/cancel", Admin: bearer}, http.StatusOK, &got)
	if got.Status != ticketview.BookingCancelled {
		t.Fatalf("admin cancel %+v", got)
	}
	e.fails(req{Method: "POST", Path: adminPath(demo.FloorVIP) + "/bookings/bk_nope/cancel", Admin: bearer}, http.StatusNotFound, ticketview.ENOTFOUND)
}

// TestNoOperatorToken: without an operator token (and without accounts) nobody is an
// admin, whatever they send.
func TestNoOperatorToken(t *testing.T) {
	e := newEnvWith(t, "")
	for _, auth := range []string{"", "Bearer ", "Bearer anything", "Bearer " + adminToken} {
		e.fails(req{Method: "POST", Path: adminPath(demo.FloorVIP) + "/block", Admin: auth, Body: api.BlockRequest{Seats: []string{"A-1"}}},
			http.StatusUnauthorized, ticketview.EUNAUTHORIZED)
	}
	if got := e.counts(floorPath); got != [4]int{300, 0, 0, 0} {
		t.Fatalf("counts %v", got)
	}
}

// TestBadInputs sends malformed, ill-typed, oversized and meaningless requests: each gets
// a 4xx in the one error shape, never a 5xx.
func TestBadInputs(t *testing.T) {
	e := newEnv(t)
	holds := floorPath + "/holds"
	huge := `{"seats":["` + strings.Repeat("A", 100<<10) + `"]}`
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	h := e.hold(floorPath, "bad", api.HoldRequest{Seats: []string{"J-1"}})
	hold := floorPath + "/holds/" + h.Token
	cases := []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"malformed JSON", req{Method: "POST", Path: holds, Buyer: "u", Body: `{"seats":`}, 400, ticketview.EINVALID},
		{"not JSON", req{Method: "POST", Path: holds, Buyer: "u", Body: `seats=A-1`}, 400, ticketview.EINVALID},
		{"trailing garbage", req{Method: "POST", Path: holds, Buyer: "u", Body: `{"seats":["A-1"]} x`}, 400, ticketview.EINVALID},
		{"two objects", req{Method: "POST", Path: holds, Buyer: "u", Body: `{"seats":["A-1"]}{}`}, 400, ticketview.EINVALID},
		{"empty body", req{Method: "POST", Path: holds, Buyer: "u", Body: ``}, 400, ticketview.EINVALID},
		{"null", req{Method: "POST", Path: holds, Buyer: "u", Body: `null`}, 400, ticketview.EINVALID},
		{"array", req{Method: "POST", Path: holds, Buyer: "u", Body: `["A-1"]`}, 400, ticketview.EINVALID},
		{"deep nesting", req{Method: "POST", Path: holds, Buyer: "u", Body: `{"seats":` + deep + `}`}, 400, ticketview.EINVALID},
		{"string quantity", req{Method: "POST", Path: holds, Buyer: "u", Body: `{"best_available":true,"quantity":"two"}`}, 400, ticketview.EINVALID},
		{"float quantity", req{Method: "POST", Path: holds, Buyer: "u", Body: `{"best_available":true,"quantity":2.5}`}, 400, ticketview.EINVALID},
		{"huge quantity", req{Method: "POST", Path: holds, Buyer: "u", Body: `{"best_available":true,"quantity":1e30}`}, 400, ticketview.EINVALID},
		{"seats not a list", req{Method: "POST", Path: holds, Buyer: "u", Body: `{"seats":"A-1"}`}, 400, ticketview.EINVALID},
		{"seat not a string", req{Method: "POST", Path: holds, Buyer: "u", Body: `{"seats":[1]}`}, 400, ticketview.EINVALID},
		{"bool as string", req{Method: "POST", Path: holds, Buyer: "u", Body: `{"best_available":"yes","quantity":1}`}, 400, ticketview.EINVALID},
		{"unknown field", req{Method: "POST", Path: holds, Buyer: "u", Body: `{"seat":["A-1"]}`}, 400, ticketview.EINVALID},
		// With Expect: 100-continue the client sends the body only if the server wants it,
		// as careful clients do; without it the server's early 413 and close can reset the
		// connection while the client is still writing.
		{"negative quantity", req{Method: "POST", Path: standingPath + "/holds", Buyer: "u", Body: `{"quantity":-1}`}, 400, ticketview.EINVALID},
		{"zero quantity", req{Method: "POST", Path: standingPath + "/holds", Buyer: "u", Body: `{"quantity":0}`}, 400, ticketview.EINVALID},
		{"too many", req{Method: "POST", Path: standingPath + "/holds", Buyer: "u", Body: `{"quantity":51}`}, 400, ticketview.EINVALID},
		{"nothing asked", req{Method: "POST", Path: holds, Buyer: "u", Body: `{}`}, 400, ticketview.EINVALID},
		{"seats and best", req{Method: "POST", Path: holds, Buyer: "u", Body: `{"seats":["A-1"],"best_available":true,"quantity":1}`}, 400, ticketview.EINVALID},
		{"empty seat label", req{Method: "POST", Path: holds, Buyer: "u", Body: `{"seats":[""]}`}, 400, ticketview.EINVALID},
		{"seat twice", req{Method: "POST", Path: holds, Buyer: "u", Body: `{"seats":["A-1","A-1"]}`}, 400, ticketview.EINVALID},
		{"negative ttl", req{Method: "POST", Path: holds, Buyer: "u", Body: `{"seats":["A-1"],"ttl_seconds":-1}`}, 400, ticketview.EINVALID},
		{"long ttl", req{Method: "POST", Path: holds, Buyer: "u", Body: `{"seats":["A-1"],"ttl_seconds":99999}`}, 400, ticketview.EINVALID},
		{"unknown seat", req{Method: "POST", Path: holds, Buyer: "u", Body: `{"seats":["ZZ-99"]}`}, 404, ticketview.ENOTFOUND},
		{"unknown section", req{Method: "POST", Path: eventPath + "/sections/nope/holds", Buyer: "u", Body: `{"seats":["A-1"]}`}, 404, ticketview.ENOTFOUND},
		{"unknown event", req{Method: "POST", Path: "/api/v1/events/nope/sections/floor-vip/holds", Buyer: "u", Body: `{"seats":["A-1"]}`}, 404, ticketview.ENOTFOUND},
		{"missing buyer", req{Method: "POST", Path: holds, Body: `{"seats":["A-1"]}`}, 401, ticketview.EUNAUTHORIZED},
		{"blank buyer", req{Method: "POST", Path: holds, Headers: map[string]string{api.HeaderBuyerID: "   "}, Body: `{"seats":["A-1"]}`}, 401, ticketview.EUNAUTHORIZED},
		{"long buyer", req{Method: "POST", Path: holds, Buyer: strings.Repeat("b", 500), Body: `{"seats":["A-1"]}`}, 401, ticketview.EUNAUTHORIZED},
		{"missing buyer on get", req{Path: hold}, 401, ticketview.EUNAUTHORIZED},
		{"unknown hold", req{Path: holds + "/hold_nope", Buyer: "bad"}, 404, ticketview.ENOTFOUND},
		{"extend: no body", req{Method: "POST", Path: hold + "/extend", Buyer: "bad"}, 400, ticketview.EINVALID},
		{"extend: negative", req{Method: "POST", Path: hold + "/extend", Buyer: "bad", Body: `{"seconds":-5}`}, 400, ticketview.EINVALID},
		{"extend: too long", req{Method: "POST", Path: hold + "/extend", Buyer: "bad", Body: `{"seconds":7200}`}, 400, ticketview.EINVALID},
		{"extend: string", req{Method: "POST", Path: hold + "/extend", Buyer: "bad", Body: `{"seconds":"300"}`}, 400, ticketview.EINVALID},
		{"confirm: no ref", req{Method: "POST", Path: hold + "/confirm", Buyer: "bad", Body: `{}`}, 400, ticketview.EINVALID},
		{"confirm: blank ref", req{Method: "POST", Path: hold + "/confirm", Buyer: "bad", Body: `{"payment_ref":"  "}`}, 400, ticketview.EINVALID},
		{"confirm: unknown field", req{Method: "POST", Path: hold + "/confirm", Buyer: "bad", Body: `{"payment_ref":"p","amount":1}`}, 400, ticketview.EINVALID},
		{"cancel: unknown field", req{Method: "POST", Path: floorPath + "/bookings/bk_x/cancel", Buyer: "bad", Body: `{"why":"x"}`}, 400, ticketview.EINVALID},
		{"unknown booking", req{Path: floorPath + "/bookings/bk_x", Buyer: "bad"}, 404, ticketview.ENOTFOUND},
		{"unknown route", req{Path: "/api/v1/nothing"}, 404, ticketview.ENOTFOUND},
		{"unknown root route", req{Path: "/favicon.ico"}, 404, ticketview.ENOTFOUND},
		{"wrong method", req{Method: "PUT", Path: "/api/v1/events"}, 404, ticketview.ENOTFOUND},
		{"delete a section", req{Method: "DELETE", Path: floorPath, Buyer: "u"}, 404, ticketview.ENOTFOUND},
		{"bad query", req{Path: "/api/v1/events?limit=-5"}, 400, ticketview.EINVALID},
		{"admin: malformed", req{Method: "POST", Path: adminPath(demo.FloorVIP) + "/block", Admin: "Bearer " + adminToken, Body: `{"seats":[`}, 400, ticketview.EINVALID},
		{"admin: negative", req{Method: "POST", Path: adminPath(demo.Standing) + "/block", Admin: "Bearer " + adminToken, Body: `{"quantity":-3}`}, 400, ticketview.EINVALID},
		{"admin: unknown seat", req{Method: "POST", Path: adminPath(demo.FloorVIP) + "/block", Admin: "Bearer " + adminToken, Body: `{"seats":["Q-1"]}`}, 404, ticketview.ENOTFOUND},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.r.Method == "" {
				tc.r.Method = "GET"
			}
			res := e.do(tc.r)
			checkError(t, tc.r, res, tc.status, tc.code)
		})
	}
	// A body over the limit: the server answers 413 as soon as it has read the headers and
	// may close the connection while the client is still writing, which an http.Client
	// reports as a broken pipe instead of the answer. A raw connection writes and reads at
	// once.
	t.Run("huge body", func(t *testing.T) {
		res := rawPost(t, e.base, holds, map[string]string{api.HeaderBuyerID: "u"}, huge)
		checkError(t, req{Method: "POST", Path: holds}, res, 413, ticketview.EINVALID)
	})
	// None of it changed the section: only the hold made above is there.
	if got := e.counts(floorPath); got != [4]int{299, 1, 0, 0} {
		t.Fatalf("counts %v", got)
	}
	if got := e.counts(standingPath); got != [4]int{3000, 0, 0, 0} {
		t.Fatalf("standing counts %v", got)
	}
}

// rawPost sends a POST over a plain TCP connection, writing the body while it reads the
// answer, and returns the answer.
func rawPost(t *testing.T, base, path string, headers map[string]string, body string) resp {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	var head strings.Builder
	fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n", path, len(body))
	for k, v := range headers {
		fmt.Fprintf(&head, "%s: %s\r\n", k, v)
	}
	head.WriteString("\r\n")
	go func() { _, _ = io.WriteString(conn, head.String()+body) }() // may fail once answered
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{Status: res.StatusCode, Header: res.Header, Body: data}
}
