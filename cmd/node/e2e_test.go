package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api"
	"github.com/ticketview/ticketview/api/abuse"
	"github.com/ticketview/ticketview/api/auth/oauthtest"
	"github.com/ticketview/ticketview/demo"
	"github.com/ticketview/ticketview/internal/testutil"
)

// End-to-end tests: a whole node started through cmd/node's Main (embedded mode: SQLite
// in a temporary data directory, the actor engine, the demo data, the HTTP API on a
// loopback port), driven over HTTP and WebSocket only.

// looseLimits keeps the per-second limits out of the way of tests that are not about
// them (one test client sends many requests a second from one address).
var looseLimits = []string{"-limits", "user-rps=10000,ip-rps=100000"}

func eventIDs(l api.EventList) []string {
	ids := make([]string, len(l.Events))
	for i, e := range l.Events {
		ids[i] = e.ID
	}
	return ids
}

// TestE2ECustomerJourney: a customer signs up, browses, holds, buys, cancels, and
// manages their session and profile; another customer cannot touch their hold or
// booking.
func TestE2ECustomerJourney(t *testing.T) {
	n := startE2ENode(t, nil, looseLimits...)
	op := operator("")

	// The catalog: the demo event (in ~60 days, Mumbai venue), a jazz event in Pune in 30
	// days, and a jazz draft nobody may see.
	jazz := n.createEvent(op, "pune-hall", "Pune", map[string]any{"name": "Jazz Under The Stars", "genre": "Jazz",
		"description": "Quartets all night"})
	n.publish(op, jazz.ID)
	draft := n.createEvent(op, "pune-hall", "", map[string]any{"name": "Jazz Rehearsal", "genre": "jazz"})

	// Sign-up, a duplicate, log-in.
	const pwA, pwA2 = "correct horse battery", "new staple battery 2"
	reg := n.register("alice@example.com", pwA, "Alice")
	n.expectErr(anonymous, "POST", "/api/v1/auth/register", map[string]any{"email": "ALICE@example.com", "password": "another password 1"},
		http.StatusConflict, ticketview.ECONFLICT)
	n.expectErr(anonymous, "POST", "/api/v1/auth/login", map[string]any{"email": "alice@example.com", "password": "wrong password!"},
		http.StatusUnauthorized, ticketview.EUNAUTHORIZED)
	n.expectErr(anonymous, "POST", "/api/v1/auth/login", map[string]any{"email": "nobody@example.com", "password": pwA},
		http.StatusUnauthorized, ticketview.EUNAUTHORIZED)
	sess := n.login("alice@example.com", pwA)
	if sess.User.ID != reg.User.ID || sess.AccessToken == reg.AccessToken || sess.RefreshToken == reg.RefreshToken {
		t.Fatalf("login: %+v, registered %+v", sess.User, reg.User)
	}
	alice := sess.as("alice")
	bobTk := n.register("bob@example.com", "bob's password 1", "Bob")
	bob := bobTk.as("bob")

	// Browsing.
	list := func(query url.Values) api.EventList {
		t.Helper()
		var l api.EventList
		n.expect(anonymous, "GET", "/api/v1/events?"+query.Encode(), nil, http.StatusOK, &l)
		return l
	}
	want := func(what string, l api.EventList, total int, ids ...string) {
		t.Helper()
		if l.Total != total || !slices.Equal(eventIDs(l), ids) {
			t.Fatalf("%s: total %d, events %v; want total %d, events %v", what, l.Total, eventIDs(l), total, ids)
		}
	}
	mid := time.Now().Add(45 * 24 * time.Hour).UTC().Format(time.RFC3339)
	want("all", list(nil), 2, jazz.ID, demo.EventID)
	want("q", list(url.Values{"q": {"harbour"}}), 1, demo.EventID)
	want("q in the description", list(url.Values{"q": {"QUARTETS"}}), 1, jazz.ID)
	want("genre", list(url.Values{"genre": {"jazz"}}), 1, jazz.ID)
	want("city", list(url.Values{"city": {"PUNE"}}), 1, jazz.ID)
	want("city elsewhere", list(url.Values{"city": {"Oslo"}}), 0)
	want("from", list(url.Values{"from": {mid}}), 1, demo.EventID)
	want("to", list(url.Values{"to": {mid}}), 1, jazz.ID)
	want("page 1", list(url.Values{"limit": {"1"}}), 2, jazz.ID)
	want("page 2", list(url.Values{"limit": {"1"}, "offset": {"1"}}), 2, demo.EventID)
	want("page 3", list(url.Values{"limit": {"1"}, "offset": {"2"}}), 2)
	n.expectErr(anonymous, "GET", "/api/v1/events?from=yesterday", nil, http.StatusBadRequest, ticketview.EINVALID)
	n.expectErr(anonymous, "GET", "/api/v1/events?limit=0", nil, http.StatusBadRequest, ticketview.EINVALID)
	n.expectErr(anonymous, "GET", "/api/v1/events/"+draft.ID, nil, http.StatusNotFound, ticketview.ENOTFOUND)
	n.expectErr(alice, "GET", "/api/v1/events/"+draft.ID, nil, http.StatusNotFound, ticketview.ENOTFOUND)

	// Event details and a section's seat map.
	var det api.EventDetails
	n.expect(alice, "GET", "/api/v1/events/"+demo.EventID, nil, http.StatusOK, &det)
	if det.Event.ID != demo.EventID || det.Venue.ID != demo.VenueID || len(det.Sections) != 3 || len(det.Categories) != 2 ||
		det.Availability.Capacity != 300+2400+demo.StandingCapacity || det.Availability.Free != det.Availability.Capacity {
		t.Fatalf("event details %+v", det)
	}
	if c := det.Categories[0]; c.Code != demo.VIP || c.Floor != 400000 || c.Ceiling != 900000 || c.Currency != "INR" || c.Free != 300 {
		t.Fatalf("VIP category %+v", c)
	}
	vip := sectionPath(demo.EventID, demo.FloorVIP)
	before := n.seatMap(demo.EventID, demo.FloorVIP)
	if before.Capacity != 300 || before.Free != 300 || len(before.Seats) != 300 {
		t.Fatalf("seat map: capacity %d free %d seats %d", before.Capacity, before.Free, len(before.Seats))
	}

	// Hold two seats, extend, confirm.
	var h ticketview.Hold
	n.expect(alice, "POST", vip+"/holds", map[string]any{"best_available": true, "quantity": 2, "category": demo.VIP}, http.StatusCreated, &h)
	seats := holdSeats(h.Items)
	var sum int64
	for _, it := range h.Items {
		sum += it.UnitPrice
	}
	if h.Token == "" || h.Owner != reg.User.ID || h.Quantity != 2 || len(seats) != 2 || h.Total.Amount != sum || h.Total.Currency != "INR" || sum <= 0 {
		t.Fatalf("hold %+v", h)
	}
	st := seatStatuses(n.seatMap(demo.EventID, demo.FloorVIP))
	for _, s := range seats {
		if st[s] != ticketview.SeatHeld {
			t.Fatalf("seat %s is %s after the hold", s, st[s])
		}
	}
	var got ticketview.Hold
	n.expect(alice, "GET", vip+"/holds/"+h.Token, nil, http.StatusOK, &got)
	if got.Token != h.Token || !slices.Equal(holdSeats(got.Items), seats) {
		t.Fatalf("hold read back %+v", got)
	}
	var ext ticketview.Hold
	n.expect(alice, "POST", vip+"/holds/"+h.Token+"/extend", map[string]any{"seconds": 300}, http.StatusOK, &ext)
	if !ext.ExpiresAt.Equal(h.ExpiresAt.Add(300 * time.Second)) {
		t.Fatalf("extended hold expires at %s, want %s", ext.ExpiresAt, h.ExpiresAt.Add(300*time.Second))
	}
	// Another customer cannot see, extend, release or confirm it: to them it does not exist.
	n.expectErr(bob, "GET", vip+"/holds/"+h.Token, nil, http.StatusNotFound, ticketview.ENOTFOUND)
	n.expectErr(bob, "POST", vip+"/holds/"+h.Token+"/extend", map[string]any{"seconds": 60}, http.StatusNotFound, ticketview.ENOTFOUND)
	n.expectErr(bob, "DELETE", vip+"/holds/"+h.Token, nil, http.StatusNotFound, ticketview.ENOTFOUND)
	n.expectErr(bob, "POST", vip+"/holds/"+h.Token+"/confirm", map[string]any{"payment_ref": "pay-bob"}, http.StatusNotFound, ticketview.ENOTFOUND)

	var b ticketview.Booking
	n.expect(alice, "POST", vip+"/holds/"+h.Token+"/confirm", map[string]any{"payment_ref": "pay-alice-1"}, http.StatusCreated, &b)
	if b.ID == "" || b.Owner != reg.User.ID || b.Status != ticketview.BookingConfirmed || b.PaymentRef != "pay-alice-1" ||
		b.Total != h.Total || !slices.Equal(holdSeats(b.Items), seats) || b.Event != demo.EventID || b.Section != demo.FloorVIP {
		t.Fatalf("booking %+v (hold %+v)", b, h)
	}
	st = seatStatuses(n.seatMap(demo.EventID, demo.FloorVIP))
	for _, s := range seats {
		if st[s] != ticketview.SeatSold {
			t.Fatalf("seat %s is %s after the checkout", s, st[s])
		}
	}
	myBookings := func(c caller) api.BookingList {
		t.Helper()
		var l api.BookingList
		n.expect(c, "GET", "/api/v1/me/bookings", nil, http.StatusOK, &l)
		return l
	}
	if l := myBookings(alice); l.Total != 1 || len(l.Bookings) != 1 || l.Bookings[0].ID != b.ID ||
		l.Bookings[0].Status != ticketview.BookingConfirmed || l.Bookings[0].Total != b.Total {
		t.Fatalf("my bookings %+v", l)
	}
	var filtered api.BookingList
	n.expect(alice, "GET", "/api/v1/me/bookings?event="+jazz.ID, nil, http.StatusOK, &filtered)
	if filtered.Total != 0 {
		t.Fatalf("my bookings of another event %+v", filtered)
	}
	if l := myBookings(bob); l.Total != 0 || len(l.Bookings) != 0 {
		t.Fatalf("bob's bookings %+v", l)
	}
	var gb ticketview.Booking
	n.expect(alice, "GET", vip+"/bookings/"+b.ID, nil, http.StatusOK, &gb)
	if gb.ID != b.ID || !slices.Equal(holdSeats(gb.Items), seats) || gb.Status != ticketview.BookingConfirmed {
		t.Fatalf("booking read back %+v", gb)
	}
	n.expectErr(bob, "GET", vip+"/bookings/"+b.ID, nil, http.StatusNotFound, ticketview.ENOTFOUND)
	n.expectErr(bob, "POST", vip+"/bookings/"+b.ID+"/cancel", nil, http.StatusNotFound, ticketview.ENOTFOUND)
	st = seatStatuses(n.seatMap(demo.EventID, demo.FloorVIP))
	for _, s := range seats {
		if st[s] != ticketview.SeatSold {
			t.Fatalf("seat %s is %s after another customer's cancel", s, st[s])
		}
	}

	// Cancel: the seats are free again.
	var cb ticketview.Booking
	n.expect(alice, "POST", vip+"/bookings/"+b.ID+"/cancel", nil, http.StatusOK, &cb)
	if cb.ID != b.ID || cb.Status != ticketview.BookingCancelled || cb.CancelledAt.IsZero() {
		t.Fatalf("cancelled booking %+v", cb)
	}
	after := n.seatMap(demo.EventID, demo.FloorVIP)
	st = seatStatuses(after)
	for _, s := range seats {
		if st[s] != ticketview.SeatFree {
			t.Fatalf("seat %s is %s after the cancel", s, st[s])
		}
	}
	if after.Free != 300 || after.Sold != 0 || after.Held != 0 {
		t.Fatalf("after the cancel: free %d sold %d held %d", after.Free, after.Sold, after.Held)
	}
	if l := myBookings(alice); l.Total != 1 || l.Bookings[0].ID != b.ID || l.Bookings[0].Status != ticketview.BookingCancelled {
		t.Fatalf("my bookings after the cancel %+v", l)
	}

	// Refresh rotation with reuse detection.
	refresh := func(rt string, want int) tokens {
		t.Helper()
		var tk tokens
		r := n.send(anonymous, "POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": rt})
		if r.status != want {
			t.Fatalf("refresh: status %d, want %d: %s", r.status, want, r.body)
		}
		if want != http.StatusOK {
			d, err := r.apiError()
			if err != nil || d.Code != ticketview.EUNAUTHORIZED {
				t.Fatalf("refresh refused with %+v %v, want code %s", d, err, ticketview.EUNAUTHORIZED)
			}
			return tk
		}
		if err := json.Unmarshal(r.body, &tk); err != nil {
			t.Fatal(err)
		}
		n.checkTokens("refresh", tk)
		return tk
	}
	r2 := refresh(sess.RefreshToken, http.StatusOK)
	if r2.RefreshToken == sess.RefreshToken || r2.User.ID != reg.User.ID {
		t.Fatalf("rotation gave %+v", r2)
	}
	var me ticketview.User
	n.expect(r2.as("alice (refreshed)"), "GET", "/api/v1/me", nil, http.StatusOK, &me)
	if me.ID != reg.User.ID || me.Email != "alice@example.com" {
		t.Fatalf("me %+v", me)
	}
	r3 := refresh(r2.RefreshToken, http.StatusOK)
	refresh(r2.RefreshToken, http.StatusUnauthorized) // reuse: the session ends
	refresh(r3.RefreshToken, http.StatusUnauthorized) // ... its newest token included
	refresh(sess.RefreshToken, http.StatusUnauthorized)

	// Logout ends the session.
	s2 := n.login("alice@example.com", pwA)
	n.expect(anonymous, "POST", "/api/v1/auth/logout", map[string]any{"refresh_token": s2.RefreshToken}, http.StatusNoContent, nil)
	refresh(s2.RefreshToken, http.StatusUnauthorized)
	n.expect(anonymous, "POST", "/api/v1/auth/logout", map[string]any{"refresh_token": s2.RefreshToken}, http.StatusNoContent, nil)

	// Profile and password.
	s3 := n.login("alice@example.com", pwA)
	alice = s3.as("alice")
	var pu ticketview.User
	n.expect(alice, "PATCH", "/api/v1/me", map[string]any{"name": "Alice Liddell", "phone": "+44 20 7946 0000"}, http.StatusOK, &pu)
	if pu.Name != "Alice Liddell" || pu.Phone != "+44 20 7946 0000" || pu.Email != "alice@example.com" {
		t.Fatalf("patched profile %+v", pu)
	}
	n.expectErr(alice, "PATCH", "/api/v1/me", map[string]any{"phone": "call me maybe"}, http.StatusBadRequest, ticketview.EINVALID)
	n.expect(alice, "GET", "/api/v1/me", nil, http.StatusOK, &me)
	if me.Name != "Alice Liddell" || me.Phone != "+44 20 7946 0000" {
		t.Fatalf("profile read back %+v", me)
	}
	n.expectErr(alice, "POST", "/api/v1/me/password", map[string]any{"current": "not my password", "new": pwA2},
		http.StatusForbidden, ticketview.EFORBIDDEN)
	n.expectErr(alice, "POST", "/api/v1/me/password", map[string]any{"current": pwA, "new": "short"},
		http.StatusBadRequest, ticketview.EINVALID)
	n.expect(alice, "POST", "/api/v1/me/password", map[string]any{"current": pwA, "new": pwA2}, http.StatusNoContent, nil)
	n.expectErr(anonymous, "POST", "/api/v1/auth/login", map[string]any{"email": "alice@example.com", "password": pwA},
		http.StatusUnauthorized, ticketview.EUNAUTHORIZED)
	refresh(s3.RefreshToken, http.StatusUnauthorized) // every session ended
	if s4 := n.login("alice@example.com", pwA2); s4.User.ID != reg.User.ID {
		t.Fatalf("login with the new password: %+v", s4.User)
	}
}

// TestE2EOrganizerAndAdmin: an admin makes organizer accounts; an organizer creates a
// venue and an event, publishes it and follows its sales; other organizers are kept out;
// the admin sees revenue and users and disables a customer.
func TestE2EOrganizerAndAdmin(t *testing.T) {
	n := startE2ENode(t, nil, looseLimits...)
	adm := n.login(e2eAdminEmail, e2eAdminPassword)
	if adm.User.Role != ticketview.RoleAdmin {
		t.Fatalf("bootstrap admin %+v", adm.User)
	}
	admin := adm.as("admin")
	org1 := n.createUser(admin, "olga@example.com", "organizer pass 1", "Olga", ticketview.RoleOrganizer)
	org2 := n.createUser(admin, "otto@example.com", "organizer pass 2", "Otto", ticketview.RoleOrganizer)
	n.expectErr(admin, "POST", "/api/v1/admin/users", map[string]any{"email": "olga@example.com", "password": "organizer pass 9",
		"role": "organizer"}, http.StatusConflict, ticketview.ECONFLICT)
	n.expectErr(admin, "POST", "/api/v1/admin/users", map[string]any{"email": "x@example.com", "password": "organizer pass 9",
		"role": "overlord"}, http.StatusBadRequest, ticketview.EINVALID)
	custTk := n.register("carol@example.com", "customer pass 1", "Carol")
	o1, o2, cust := org1.as("organizer"), org2.as("other organizer"), custTk.as("customer")
	n.expectErr(cust, "POST", "/api/v1/admin/users", map[string]any{"email": "y@example.com", "password": "organizer pass 9",
		"role": "admin"}, http.StatusForbidden, ticketview.EFORBIDDEN)
	n.expectErr(o1, "POST", "/api/v1/admin/users", map[string]any{"email": "y@example.com", "password": "organizer pass 9",
		"role": "admin"}, http.StatusForbidden, ticketview.EFORBIDDEN)
	n.expectErr(cust, "POST", "/api/v1/venues", testVenue("cust-hall", "Porto"), http.StatusForbidden, ticketview.EFORBIDDEN)

	// A venue and a draft event with a dynamically priced category.
	ev := n.createEvent(o1, "olga-hall", "Lisbon", map[string]any{"name": "Fado Night", "genre": "music", "description": "first"})
	if ev.OrganizerID != org1.User.ID || ev.City != "Lisbon" || ev.Currency != "EUR" || len(ev.Categories) != 2 ||
		ev.Categories[0].Floor != 8000 || ev.Categories[0].Ceiling != 15000 {
		t.Fatalf("created event %+v", ev)
	}
	O := "/api/v1/organizer/events/" + ev.ID
	var mine, theirs api.EventList
	n.expect(o1, "GET", "/api/v1/organizer/events", nil, http.StatusOK, &mine)
	if mine.Total != 1 || mine.Events[0].ID != ev.ID || mine.Events[0].Status != ticketview.EventDraft {
		t.Fatalf("organizer's events %+v", mine)
	}
	n.expect(o2, "GET", "/api/v1/organizer/events", nil, http.StatusOK, &theirs)
	if theirs.Total != 0 {
		t.Fatalf("the other organizer's events %+v", theirs)
	}
	n.expectErr(o2, "GET", "/api/v1/organizer/events?organizer="+org1.User.ID, nil, http.StatusForbidden, ticketview.EFORBIDDEN)
	var all api.EventList
	n.expect(admin, "GET", "/api/v1/organizer/events?organizer="+org1.User.ID, nil, http.StatusOK, &all)
	if all.Total != 1 || all.Events[0].ID != ev.ID {
		t.Fatalf("admin's view of the organizer's events %+v", all)
	}
	for _, c := range []caller{anonymous, cust, o2} {
		n.expectErr(c, "GET", "/api/v1/events/"+ev.ID, nil, http.StatusNotFound, ticketview.ENOTFOUND)
		n.expectErr(c, "GET", sectionPath(ev.ID, "stalls"), nil, http.StatusNotFound, ticketview.ENOTFOUND)
	}
	n.expect(o1, "GET", "/api/v1/events/"+ev.ID, nil, http.StatusOK, nil)
	n.expectErr(cust, "POST", sectionPath(ev.ID, "stalls")+"/holds", map[string]any{"seats": []string{"A-1"}},
		http.StatusConflict, ticketview.ENOTONSALE)

	// Publish; the description may change, the terms may not.
	n.publish(o1, ev.ID)
	var pub api.EventDetails
	n.expect(anonymous, "GET", "/api/v1/events/"+ev.ID, nil, http.StatusOK, &pub)
	if pub.Event.Status != ticketview.EventOnSale || len(pub.Categories) != 2 || pub.Categories[0].Code != "PRM" ||
		pub.Categories[0].Floor != 8000 || pub.Categories[0].Ceiling != 15000 || pub.Availability.Capacity != 60 {
		t.Fatalf("published event %+v", pub)
	}
	var patched ticketview.Event
	n.expect(o1, "PATCH", O, map[string]any{"description": "second"}, http.StatusOK, &patched)
	if patched.Description != "second" || patched.Status != ticketview.EventOnSale {
		t.Fatalf("patched event %+v", patched)
	}
	cats := testCategories()
	cats[1].Code = "ECO" // prices may change after publication; the category codes may not
	n.expectErr(o1, "PATCH", O, map[string]any{"categories": cats}, http.StatusConflict, ticketview.ECONFLICT)
	n.expectErr(o1, "PATCH", O, map[string]any{"currency": "USD"}, http.StatusConflict, ticketview.ECONFLICT)
	var ge ticketview.Event
	n.expect(o1, "GET", O, nil, http.StatusOK, &ge)
	if ge.Categories[1].Price != 4000 || ge.Currency != "EUR" || ge.Description != "second" {
		t.Fatalf("event after refused edits %+v", ge)
	}

	// A customer buys; the organizer sees the sale.
	b := n.buy(cust, ev.ID, "stalls", []string{"A-1", "A-2"}, "pay-carol-1")
	if b.Total.Currency != "EUR" || b.Total.Amount < 2*8000 || b.Total.Amount > 2*15000 {
		t.Fatalf("booking total %+v", b.Total)
	}
	var sales api.SalesReport
	n.expect(o1, "GET", O+"/sales", nil, http.StatusOK, &sales)
	if sales.Sales.Bookings != 1 || sales.Sales.Tickets != 2 || sales.Sales.Revenue != b.Total.Amount || sales.Currency != "EUR" ||
		sales.Seats.Sold != 2 || sales.Seats.Capacity != 60 || len(sales.Sections) != 2 {
		t.Fatalf("sales %+v", sales)
	}
	var bl api.BookingList
	n.expect(o1, "GET", O+"/bookings", nil, http.StatusOK, &bl)
	if bl.Total != 1 || bl.Bookings[0].ID != b.ID || bl.Bookings[0].Owner != custTk.User.ID {
		t.Fatalf("event bookings %+v", bl)
	}
	var ob ticketview.Booking
	n.expect(o1, "GET", O+"/sections/stalls/bookings/"+b.ID, nil, http.StatusOK, &ob)
	if ob.ID != b.ID || !slices.Equal(holdSeats(ob.Items), []string{"A-1", "A-2"}) {
		t.Fatalf("organizer's view of the booking %+v", ob)
	}

	// Blocking and unblocking seats.
	var blk ticketview.Availability
	n.expect(o1, "POST", O+"/sections/stalls/block", map[string]any{"seats": []string{"B-1", "B-2"}, "reason": "sound desk"}, http.StatusOK, &blk)
	if blk.Blocked != 2 || blk.Sold != 2 {
		t.Fatalf("after the block %+v", blk)
	}
	if st := seatStatuses(n.seatMap(ev.ID, "stalls")); st["B-1"] != ticketview.SeatBlocked || st["B-2"] != ticketview.SeatBlocked {
		t.Fatalf("blocked seats show as %s and %s", st["B-1"], st["B-2"])
	}
	n.expectErr(cust, "POST", sectionPath(ev.ID, "stalls")+"/holds", map[string]any{"seats": []string{"B-1"}},
		http.StatusConflict, ticketview.ESEATTAKEN)
	n.expect(o1, "POST", O+"/sections/stalls/unblock", map[string]any{"seats": []string{"B-1", "B-2"}}, http.StatusOK, &blk)
	if blk.Blocked != 0 {
		t.Fatalf("after the unblock %+v", blk)
	}
	if st := seatStatuses(n.seatMap(ev.ID, "stalls")); st["B-1"] != ticketview.SeatFree || st["B-2"] != ticketview.SeatFree {
		t.Fatalf("unblocked seats show as %s and %s", st["B-1"], st["B-2"])
	}

	// The other organizer is refused every route of the event, and changes nothing.
	doc := n.openAPI()
	params := map[string]string{"event": ev.ID, "section": "stalls", "booking": b.ID}
	refused := 0
	for _, op := range doc.operations() {
		if !strings.HasPrefix(op.path, "/api/v1/organizer/events/{event}") {
			continue
		}
		var body any
		if op.hasBody || op.method == "POST" {
			body = map[string]any{}
		}
		n.expectErr(o2, op.method, fillPath(op.path, params), body, http.StatusForbidden, ticketview.EFORBIDDEN)
		n.expectErr(cust, op.method, fillPath(op.path, params), body, http.StatusForbidden, ticketview.EFORBIDDEN)
		refused++
	}
	if refused < 12 {
		t.Fatalf("only %d organizer routes of an event in the OpenAPI document", refused)
	}
	n.expect(o1, "GET", O, nil, http.StatusOK, &ge)
	if ge.Status != ticketview.EventOnSale || ge.Description != "second" {
		t.Fatalf("event after the other organizer's tries %+v", ge)
	}
	n.expect(o1, "GET", O+"/sections/stalls/bookings/"+b.ID, nil, http.StatusOK, &ob)
	if ob.Status != ticketview.BookingConfirmed {
		t.Fatalf("booking after the other organizer's tries %+v", ob)
	}

	// Revenue.
	var rev api.RevenueReport
	n.expect(admin, "GET", "/api/v1/admin/revenue", nil, http.StatusOK, &rev)
	i := slices.IndexFunc(rev.Events, func(e api.EventRevenue) bool { return e.Event == ev.ID })
	if i < 0 || rev.Events[i].Revenue != b.Total.Amount || rev.Events[i].Tickets != 2 || rev.Events[i].Name != "Fado Night" ||
		rev.Events[i].Currency != "EUR" || rev.Events[i].OrganizerID != org1.User.ID {
		t.Fatalf("revenue %+v", rev)
	}
	j := slices.IndexFunc(rev.Currencies, func(c api.CurrencyRevenue) bool { return c.Currency == "EUR" })
	if j < 0 || rev.Currencies[j].Revenue != b.Total.Amount || rev.Currencies[j].Bookings != 1 || rev.Currencies[j].Events != 1 {
		t.Fatalf("revenue per currency %+v", rev.Currencies)
	}
	n.expectErr(o1, "GET", "/api/v1/admin/revenue", nil, http.StatusForbidden, ticketview.EFORBIDDEN)

	// Users, with filters.
	users := func(q string) api.UserList {
		t.Helper()
		var l api.UserList
		n.expect(admin, "GET", "/api/v1/admin/users?"+q, nil, http.StatusOK, &l)
		return l
	}
	emails := func(l api.UserList) []string {
		var out []string
		for _, u := range l.Users {
			out = append(out, u.Email)
		}
		slices.Sort(out)
		return out
	}
	if l := users(""); l.Total != 4 {
		t.Fatalf("all users %+v", emails(l))
	}
	if l := users("role=organizer"); l.Total != 2 || !slices.Equal(emails(l), []string{"olga@example.com", "otto@example.com"}) {
		t.Fatalf("organizers %v (total %d)", emails(l), l.Total)
	}
	if l := users("role=customer"); l.Total != 1 || !slices.Equal(emails(l), []string{"carol@example.com"}) {
		t.Fatalf("customers %v", emails(l))
	}
	if l := users("q=OTTO"); l.Total != 1 || !slices.Equal(emails(l), []string{"otto@example.com"}) {
		t.Fatalf("q=OTTO %v", emails(l))
	}
	if l := users("limit=1&offset=1"); l.Total != 4 || len(l.Users) != 1 {
		t.Fatalf("page %+v", l)
	}
	n.expectErr(admin, "GET", "/api/v1/admin/users?role=overlord", nil, http.StatusBadRequest, ticketview.EINVALID)
	n.expectErr(o1, "GET", "/api/v1/admin/users", nil, http.StatusForbidden, ticketview.EFORBIDDEN)
	var gu ticketview.User
	n.expect(admin, "GET", "/api/v1/admin/users/"+custTk.User.ID, nil, http.StatusOK, &gu)
	if gu.Email != "carol@example.com" || gu.Disabled {
		t.Fatalf("user %+v", gu)
	}
	n.expectErr(admin, "GET", "/api/v1/admin/users/u_nobody", nil, http.StatusNotFound, ticketview.ENOTFOUND)

	// Disabling the customer: their token stops working within seconds, their session ends.
	n.expect(cust, "GET", "/api/v1/me", nil, http.StatusOK, nil)
	var du ticketview.User
	n.expect(admin, "PATCH", "/api/v1/admin/users/"+custTk.User.ID, map[string]any{"disabled": true}, http.StatusOK, &du)
	if !du.Disabled || du.ID != custTk.User.ID {
		t.Fatalf("disabled user %+v", du)
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		r := n.send(cust, "GET", "/api/v1/me", nil)
		if d, err := r.apiError(); r.status != http.StatusForbidden || err != nil || d.Code != ticketview.EFORBIDDEN {
			return fmt.Errorf("a disabled customer's token: %d %s", r.status, r.body)
		}
		return nil
	})
	n.expectErr(cust, "GET", "/api/v1/me/bookings", nil, http.StatusForbidden, ticketview.EFORBIDDEN)
	n.expectErr(anonymous, "POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": custTk.RefreshToken},
		http.StatusUnauthorized, ticketview.EUNAUTHORIZED)
	n.expectErr(anonymous, "POST", "/api/v1/auth/login", map[string]any{"email": "carol@example.com", "password": "customer pass 1"},
		http.StatusForbidden, ticketview.EFORBIDDEN)

	// An admin cannot disable or demote themselves.
	n.expectErr(admin, "PATCH", "/api/v1/admin/users/"+adm.User.ID, map[string]any{"disabled": true}, http.StatusConflict, ticketview.ECONFLICT)
	n.expectErr(admin, "PATCH", "/api/v1/admin/users/"+adm.User.ID, map[string]any{"role": "customer"}, http.StatusConflict, ticketview.ECONFLICT)
	n.expect(admin, "GET", "/api/v1/admin/users/"+adm.User.ID, nil, http.StatusOK, &gu)
	if gu.Disabled || gu.Role != ticketview.RoleAdmin {
		t.Fatalf("admin after refused self-changes %+v", gu)
	}
}

// destructiveRank orders the matrix's operations so that those that change the test
// event's or its bookings' state run last (a cancelled event would turn later answers
// into 404s and 409s, which prove nothing about authorization).
func destructiveRank(op apiOp) int {
	switch {
	case strings.HasSuffix(op.path, "/unpublish"):
		return 1
	case strings.HasSuffix(op.path, "/publish"):
		return 2
	case strings.HasSuffix(op.path, "/holds/{token}") && op.method == "DELETE",
		strings.HasSuffix(op.path, "/holds/{token}/confirm"):
		return 3
	case strings.HasSuffix(op.path, "/bookings/{booking}/cancel"):
		return 4
	case op.path == "/api/v1/organizer/events/{event}/cancel":
		return 5
	}
	return 0
}

// TestE2EAuthorizationMatrix calls every documented operation as every kind of caller and
// checks the answers against the operation's x-roles.
func TestE2EAuthorizationMatrix(t *testing.T) {
	// No CAPTCHA: the matrix sends one signup per caller, and a challenge (403
	// captcha_required) is about traffic, not roles; TestE2ELimitsAndCaptcha covers it.
	n := startE2ENode(t, nil, append(looseLimits, "-captcha", "off")...)
	adm := n.login(e2eAdminEmail, e2eAdminPassword)
	admin := adm.as("admin")
	owner := n.createUser(admin, "owner@example.com", "organizer pass 1", "Owner", ticketview.RoleOrganizer).as("owner")
	other := n.createUser(admin, "other@example.com", "organizer pass 2", "Other", ticketview.RoleOrganizer).as("other-org")
	custTk := n.register("cust@example.com", "customer pass 1", "Cust")
	cust := custTk.as("customer")

	ev := n.createEvent(owner, "owner-hall", "Madrid", map[string]any{"name": "Matrix Night"})
	n.publish(owner, ev.ID)
	b := n.buy(cust, ev.ID, "stalls", []string{"A-1"}, "pay-matrix")
	var h ticketview.Hold
	n.expect(cust, "POST", sectionPath(ev.ID, "stalls")+"/holds", map[string]any{"seats": []string{"B-5"}}, http.StatusCreated, &h)
	params := map[string]string{"event": ev.ID, "section": "stalls", "booking": b.ID, "token": h.Token,
		"user": custTk.User.ID, "venue": "owner-hall", "provider": "google"}

	callers := []caller{anonymous, cust, owner, other, admin}
	ops := n.openAPI().operations()
	slices.SortStableFunc(ops, func(a, b apiOp) int { return destructiveRank(a) - destructiveRank(b) })

	var table strings.Builder
	fmt.Fprintf(&table, "%-7s %-78s %-10s", "method", "path", "x-roles")
	for _, c := range callers {
		fmt.Fprintf(&table, " %-10s", c.name)
	}
	table.WriteString("\n")
	var failures []string
	seen, succeeded := 0, 0
	for _, op := range ops {
		if op.path == "/api/v1/auth/oauth/{provider}" { // a redirect to the provider: TestE2EOAuth2Login
			continue
		}
		seen++
		fmt.Fprintf(&table, "%-7s %-78s %-10s", op.method, op.path, op.roles)
		eventRoute := strings.Contains(op.path, "{event}")
		for _, c := range callers {
			var body any
			if op.hasBody || op.method == "POST" || op.method == "PUT" || op.method == "PATCH" {
				body = map[string]any{}
			}
			r := n.send(c, op.method, fillPath(op.path, params), body)
			mark := ""
			fail := func(format string, args ...any) {
				mark = "!"
				failures = append(failures, fmt.Sprintf("%s as %s: %d: %s: %s", op, c.name, r.status, fmt.Sprintf(format, args...), truncate(r.body)))
			}
			var allowed bool
			switch op.roles {
			case "public":
				allowed = true
			case "signed-in":
				allowed = c.token != ""
			case "customer":
				allowed = c.name == "customer"
			case "organizer":
				allowed = c.name == "owner" || c.name == "admin" || (c.name == "other-org" && !eventRoute)
			case "admin":
				allowed = c.name == "admin"
			default:
				fail("unknown x-roles %q", op.roles)
			}
			switch {
			case r.status >= 500:
				fail("a server error")
			case r.status >= 400:
				if _, err := r.apiError(); err != nil {
					fail("%v", err)
				}
			}
			switch {
			case allowed && (r.status == http.StatusUnauthorized || r.status == http.StatusForbidden):
				// Logging in with no credentials is refused as a wrong password, not for lack of a role.
				if !(op.path == "/api/v1/auth/login" && r.status == http.StatusUnauthorized) {
					fail("refused an allowed caller")
				}
			case !allowed && c.token == "" && r.status != http.StatusUnauthorized:
				fail("want 401 for an anonymous caller")
			case !allowed && c.token != "" && r.status != http.StatusForbidden:
				fail("want 403 for a caller without the role")
			}
			if allowed && r.status < 300 {
				succeeded++
			}
			if strings.HasSuffix(op.path, "/live") && (r.status < 400 || r.status >= 500) {
				fail("a plain GET of the WebSocket route must be a 4xx")
			}
			fmt.Fprintf(&table, " %-10s", fmt.Sprint(r.status, mark))
		}
		table.WriteString("\n")
	}
	if seen < 50 {
		t.Errorf("only %d operations in the OpenAPI document", seen)
	}
	// The parameters name real things: most allowed calls succeed (the others are empty
	// bodies, missing content, or state the earlier calls changed).
	if succeeded < 75 {
		t.Errorf("only %d allowed calls succeeded: are the path parameters right?", succeeded)
	}
	t.Logf("%d operations, %d allowed calls succeeded", seen, succeeded)
	if len(failures) > 0 {
		t.Errorf("%d violations:\n%s\n\n%s", len(failures), strings.Join(failures, "\n"), table.String())
	}
}

// e2ePublicURL is where the OAuth2 test node says browsers reach it: the providers
// redirect there, and the test's "browser" follows the redirect to the node (as a
// reverse proxy at the public URL would).
const e2ePublicURL = "http://tickets.e2e.test"

// oauthFlow runs a browser's sign-in with provider: start at the node (302 to the
// provider, with the flow cookie), approve at the provider, follow the redirect back to
// the node's callback. tamper may change the callback's query; withCookie false drops
// the flow cookie. It returns the callback's answer.
func (n *e2eNode) oauthFlow(provider string, srv *oauthtest.Server, tamper func(url.Values), withCookie bool) response {
	n.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		n.t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: n.http.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := browser.Get(n.base + "/api/v1/auth/oauth/" + provider)
	if err != nil {
		n.t.Fatal(err)
	}
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(loc, srv.URL()+"/authorize?") {
		n.t.Fatalf("starting the %s sign-in: %d to %q", provider, res.StatusCode, loc)
	}
	base, _ := url.Parse(n.base)
	if cs := jar.Cookies(&url.URL{Scheme: "http", Host: base.Host, Path: "/api/v1/auth/oauth/" + provider + "/callback"}); len(cs) != 1 || cs[0].Value == "" {
		n.t.Fatalf("the %s sign-in set cookies %v", provider, cs)
	}
	cb, err := srv.Authorize(loc)
	if err != nil {
		n.t.Fatalf("authorizing at %s: %v", provider, err)
	}
	u, err := url.Parse(cb)
	if err != nil || !strings.HasPrefix(cb, e2ePublicURL+"/api/v1/auth/oauth/"+provider+"/callback?") {
		n.t.Fatalf("%s redirected back to %q", provider, cb)
	}
	q := u.Query()
	if tamper != nil {
		tamper(q)
	}
	req, err := http.NewRequest("GET", n.base+u.Path+"?"+q.Encode(), nil)
	if err != nil {
		n.t.Fatal(err)
	}
	if !withCookie {
		browser.Jar = nil
	}
	res, err = browser.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		n.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: body}
}

// oauthLogin runs a sign-in that must succeed and returns its tokens.
func (n *e2eNode) oauthLogin(provider string, srv *oauthtest.Server) tokens {
	n.t.Helper()
	r := n.oauthFlow(provider, srv, nil, true)
	if r.status != http.StatusOK {
		n.t.Fatalf("%s sign-in: %d %s", provider, r.status, r.body)
	}
	var tk tokens
	if err := json.Unmarshal(r.body, &tk); err != nil {
		n.t.Fatal(err)
	}
	n.checkTokens(provider+" sign-in", tk)
	return tk
}

// TestE2EOAuth2Login signs in with (test) Google and Facebook through the node: new
// accounts, repeat sign-ins, linking by verified email, and the refusals.
func TestE2EOAuth2Login(t *testing.T) {
	google, facebook := oauthtest.New("google"), oauthtest.New("facebook")
	t.Cleanup(google.Close)
	t.Cleanup(facebook.Close)
	n := startE2ENode(t, func(m *Main) {
		m.Gateway.Providers = append(m.Gateway.Providers,
			google.Provider("google-client", "google-secret", e2ePublicURL+"/api/v1/auth/oauth/google/callback"),
			facebook.Provider("fb-app", "fb-secret", e2ePublicURL+"/api/v1/auth/oauth/facebook/callback"))
	}, append(looseLimits, "-public-url", e2ePublicURL)...)

	var pl api.ProviderList
	n.expect(anonymous, "GET", "/api/v1/auth/providers", nil, http.StatusOK, &pl)
	if !slices.Equal(pl.Providers, []string{"google", "facebook"}) {
		t.Fatalf("providers %v", pl.Providers)
	}

	// A new account, then the same person again.
	google.SetUser(oauthtest.User{Subject: "g-1001", Email: "Gina@Example.com", Name: "Gina", EmailVerified: true})
	g1 := n.oauthLogin("google", google)
	if g1.User.Email != "gina@example.com" || !g1.User.EmailVerified || g1.User.Role != ticketview.RoleCustomer || g1.User.Name != "Gina" {
		t.Fatalf("new account %+v", g1.User)
	}
	g2 := n.oauthLogin("google", google)
	if g2.User.ID != g1.User.ID || g2.RefreshToken == g1.RefreshToken {
		t.Fatalf("second sign-in: %+v, first %+v", g2.User, g1.User)
	}
	var me ticketview.User
	n.expect(g2.as("gina"), "GET", "/api/v1/me", nil, http.StatusOK, &me)
	if me.ID != g1.User.ID {
		t.Fatalf("me %+v", me)
	}
	// Without a password, gina cannot log in with one.
	n.expectErr(anonymous, "POST", "/api/v1/auth/login", map[string]any{"email": "gina@example.com", "password": "any password 1"},
		http.StatusUnauthorized, ticketview.EUNAUTHORIZED)

	// A password account is linked when the provider vouches for its email.
	paul := n.register("paul@example.com", "paul's password 1", "Paul")
	if paul.User.EmailVerified {
		t.Fatalf("registered account is verified: %+v", paul.User)
	}
	google.SetUser(oauthtest.User{Subject: "g-2002", Email: "paul@example.com", Name: "Paul G", EmailVerified: true})
	if pg := n.oauthLogin("google", google); pg.User.ID != paul.User.ID {
		t.Fatalf("google sign-in of paul's email: user %s, want %s", pg.User.ID, paul.User.ID)
	}
	n.expect(paul.as("paul"), "GET", "/api/v1/me", nil, http.StatusOK, &me)
	if !me.EmailVerified {
		t.Fatalf("linked account not verified: %+v", me)
	}
	facebook.SetUser(oauthtest.User{Subject: "fb-3003", Email: "paul@example.com", Name: "Paul F", EmailVerified: true})
	if pf := n.oauthLogin("facebook", facebook); pf.User.ID != paul.User.ID {
		t.Fatalf("facebook sign-in of paul's email: user %s, want %s", pf.User.ID, paul.User.ID)
	}
	if pl := n.login("paul@example.com", "paul's password 1"); pl.User.ID != paul.User.ID {
		t.Fatalf("password login after linking: %+v", pl.User)
	}

	// Refusals: an unverified email of an existing account, a wrong state, no cookie.
	check := func(what string, r response, status int, code string) {
		t.Helper()
		d, err := r.apiError()
		if r.status != status || err != nil || d.Code != code {
			t.Fatalf("%s: %d %s (%v), want %d %s", what, r.status, r.body, err, status, code)
		}
	}
	google.SetUser(oauthtest.User{Subject: "g-4004", Email: "paul@example.com", Name: "Mallory", EmailVerified: false})
	check("unverified email of an account", n.oauthFlow("google", google, nil, true), http.StatusForbidden, ticketview.EFORBIDDEN)
	google.SetUser(oauthtest.User{Subject: "g-5005", Email: "newbie@example.com", Name: "Newbie", EmailVerified: false})
	check("unverified email", n.oauthFlow("google", google, nil, true), http.StatusForbidden, ticketview.EFORBIDDEN)
	google.SetUser(oauthtest.User{Subject: "g-1001", Email: "gina@example.com", Name: "Gina", EmailVerified: true})
	check("wrong state", n.oauthFlow("google", google, func(q url.Values) { q.Set("state", "forged-"+q.Get("state")) }, true),
		http.StatusUnauthorized, ticketview.EUNAUTHORIZED)
	check("no cookie", n.oauthFlow("google", google, nil, false), http.StatusUnauthorized, ticketview.EUNAUTHORIZED)
	check("provider error", n.oauthFlow("google", google, func(q url.Values) { q.Del("code"); q.Set("error", "access_denied") }, true),
		http.StatusUnauthorized, ticketview.EUNAUTHORIZED)
	check("no code", n.oauthFlow("google", google, func(q url.Values) { q.Del("code") }, true), http.StatusBadRequest, ticketview.EINVALID)
	n.expectErr(anonymous, "GET", "/api/v1/auth/oauth/myspace", nil, http.StatusNotFound, ticketview.ENOTFOUND)

	var users api.UserList
	n.expect(operator(""), "GET", "/api/v1/admin/users?role=customer", nil, http.StatusOK, &users)
	if users.Total != 2 {
		t.Fatalf("customers after the sign-ins: %d, want 2 (gina, paul)", users.Total)
	}
}

// TestE2ELiveSeatMap: three live seat maps follow a flash sale of concurrent customers;
// each sees the deltas in order and ends with the section's exact state.
func TestE2ELiveSeatMap(t *testing.T) {
	n := startE2ENode(t, nil, looseLimits...)
	section := demo.FloorVIP
	S := sectionPath(demo.EventID, section)
	clients := []*liveClient{
		n.dialLive("ws-1", demo.EventID, section),
		n.dialLive("ws-2", demo.EventID, section),
		n.dialLive("ws-3", demo.EventID, section),
	}
	start := n.seatMap(demo.EventID, section)
	for _, c := range clients {
		testutil.CheckFor(t, 10*time.Second, func() error { return c.matches(start) })
	}

	// The flash sale: each customer holds a few times (best available, or contested front
	// row seats), then confirms, releases or keeps the hold.
	const customers = 40
	type outcome struct {
		sold, held int
		problems   []string
	}
	results := make(chan outcome, customers)
	var wg sync.WaitGroup
	for i := range customers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out outcome
			c := operator(fmt.Sprintf("fan-%02d", i))
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for round := range 3 {
				body := map[string]any{"best_available": true, "quantity": 1 + rng.IntN(2)}
				if round == 0 && i%4 == 0 {
					body = map[string]any{"seats": []string{fmt.Sprintf("A-%d", 1+rng.IntN(3))}}
				}
				r, err := n.try(c, "POST", S+"/holds", body)
				if err != nil {
					out.problems = append(out.problems, err.Error())
					continue
				}
				if r.status != http.StatusCreated {
					if r.status != http.StatusConflict && r.status != http.StatusUnprocessableEntity {
						out.problems = append(out.problems, fmt.Sprintf("hold: %d %s", r.status, r.body))
					}
					continue
				}
				var h ticketview.Hold
				if err := json.Unmarshal(r.body, &h); err != nil {
					out.problems = append(out.problems, err.Error())
					continue
				}
				switch rng.IntN(3) {
				case 0:
					r, err = n.try(c, "POST", S+"/holds/"+h.Token+"/confirm", map[string]any{"payment_ref": "flash-" + h.Token[:8]})
					if err != nil || r.status != http.StatusCreated {
						out.problems = append(out.problems, fmt.Sprintf("confirm: %d %s %v", r.status, r.body, err))
						continue
					}
					out.sold += h.Quantity
				case 1:
					r, err = n.try(c, "DELETE", S+"/holds/"+h.Token, nil)
					if err != nil || r.status != http.StatusNoContent {
						out.problems = append(out.problems, fmt.Sprintf("release: %d %s %v", r.status, r.body, err))
					}
				default:
					out.held += h.Quantity
				}
			}
			results <- out
		}()
	}
	wg.Wait()
	close(results)
	var sold, held int
	for o := range results {
		sold += o.sold
		held += o.held
		for _, p := range o.problems {
			t.Error(p)
		}
	}
	if sold == 0 {
		t.Fatal("the flash sale sold nothing")
	}

	// The section's final state adds up, and every client converges on it.
	final := n.seatMap(demo.EventID, section)
	if final.Sold != sold || final.Held != held || final.Free != 300-sold-held {
		t.Fatalf("after the sale: sold %d held %d free %d; the customers bought %d and kept %d held",
			final.Sold, final.Held, final.Free, sold, held)
	}
	for _, c := range clients {
		testutil.CheckFor(t, 20*time.Second, func() error { return c.matches(final) })
		c.mu.Lock()
		if len(c.problems) > 0 {
			t.Errorf("%s: %d protocol problems:\n%s", c.name, len(c.problems), strings.Join(c.problems, "\n"))
		}
		if c.deltas == 0 {
			t.Errorf("%s: no deltas", c.name)
		}
		t.Logf("%s: %d snapshots, %d deltas, %d gaps resynced", c.name, c.snapshots, c.deltas, c.gaps)
		c.mu.Unlock()
	}
}

// wantRateLimited checks a 429 answer: code rate_limited and a Retry-After of at least a
// second.
func wantRateLimited(t *testing.T, what string, r response) {
	t.Helper()
	d, err := r.apiError()
	if r.status != http.StatusTooManyRequests || err != nil || d.Code != ticketview.ERATELIMITED {
		t.Fatalf("%s: %d %s (%v), want 429 %s", what, r.status, r.body, err, ticketview.ERATELIMITED)
	}
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("%s: Retry-After %q, want a whole number of seconds >= 1", what, r.header.Get("Retry-After"))
	}
}

// TestE2ELimitsAndCaptcha runs a node with tight limits and a proof-of-work CAPTCHA.
func TestE2ELimitsAndCaptcha(t *testing.T) {
	n := startE2ENode(t, nil, "-limits", "user-rps=5,ip-rps=1000,holds-in-flight=1,seats-per-ip=6,logins=3",
		"-captcha", "pow", "-captcha-difficulty", "8")
	op := operator("")
	c1 := n.register("dora@example.com", "dora's password 1", "Dora") // signup 1 from this address

	// A burst over user-rps.
	burst := func(c caller, k int) (ok int, limited []response) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range k {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := n.try(c, "GET", "/api/v1/me", nil)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					t.Errorf("burst: %v", err)
				case r.status == http.StatusOK:
					ok++
				default:
					limited = append(limited, r)
				}
			}()
		}
		wg.Wait()
		return ok, limited
	}
	ok, limited := burst(c1.as("dora"), 30)
	if ok < 1 || len(limited) < 1 {
		t.Fatalf("a burst of 30: %d ok, %d refused, want both", ok, len(limited))
	}
	for _, r := range limited {
		wantRateLimited(t, "over user-rps", r)
	}
	// The operator token is exempt from the limits.
	var wg sync.WaitGroup
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r, err := n.try(op, "GET", "/api/v1/admin/users", nil); err != nil || r.status != http.StatusOK {
				t.Errorf("operator burst: %d %v", r.status, err)
			}
		}()
	}
	wg.Wait()

	// Logins: three tries a minute per address and email, then 429 even with the right password.
	for range 3 {
		n.expectErr(anonymous, "POST", "/api/v1/auth/login", map[string]any{"email": "dora@example.com", "password": "not the password"},
			http.StatusUnauthorized, ticketview.EUNAUTHORIZED)
	}
	wantRateLimited(t, "fourth login", n.send(anonymous, "POST", "/api/v1/auth/login",
		map[string]any{"email": "dora@example.com", "password": "dora's password 1"}))

	// Seats per event per address, across customers.
	ev := n.createEvent(op, "limits-hall", "Rome", map[string]any{"name": "Limits Night", "buyer_limit": 20})
	n.publish(op, ev.ID)
	lawn := sectionPath(ev.ID, "lawn") + "/holds"
	c2 := n.register("eve@example.com", "eve's password 1", "Eve")    // signup 2
	c3 := n.register("fred@example.com", "fred's password 1", "Fred") // signup 3
	eve, fred := c2.as("eve"), c3.as("fred")
	n.expect(eve, "POST", lawn, map[string]any{"quantity": 4}, http.StatusCreated, nil)
	wantRateLimited(t, "4+3 seats from one address", n.send(fred, "POST", lawn, map[string]any{"quantity": 3}))
	n.expect(fred, "POST", lawn, map[string]any{"quantity": 2}, http.StatusCreated, nil)
	wantRateLimited(t, "a seventh seat from one address", n.send(fred, "POST", lawn, map[string]any{"quantity": 1}))
	n.expect(operator("buyer-x"), "POST", lawn, map[string]any{"quantity": 10}, http.StatusCreated, nil) // the operator is exempt
	// One hold larger than the whole allowance is refused as well.
	ev2 := n.createEvent(op, "limits-hall", "", map[string]any{"name": "Limits Matinee", "buyer_limit": 20})
	n.publish(op, ev2.ID)
	wantRateLimited(t, "7 seats at once from one address", n.send(eve, "POST", sectionPath(ev2.ID, "lawn")+"/holds",
		map[string]any{"quantity": 7}))

	// The CAPTCHA: the sixth signup from one address in an hour is challenged.
	for range 2 { // signups 4 and 5: refused as duplicates, but counted
		n.expectErr(anonymous, "POST", "/api/v1/auth/register", map[string]any{"email": "dora@example.com", "password": "dora's password 1"},
			http.StatusConflict, ticketview.ECONFLICT)
	}
	signup := map[string]any{"email": "gus@example.com", "password": "gus's password 1", "name": "Gus"}
	d := n.expectErr(anonymous, "POST", "/api/v1/auth/register", signup, http.StatusForbidden, ticketview.ECAPTCHA)
	ch := d.Challenge
	if ch == nil || ch.Kind != abuse.KindProofOfWork || ch.Token == "" || ch.Difficulty != 8 || !ch.ExpiresAt.After(time.Now()) {
		t.Fatalf("challenge %+v", ch)
	}
	// A wrong solution: refused, with a new challenge.
	wrong := "x" + ch.Token + ":1"
	d2 := n.expectErr(anonymous.with(api.HeaderCaptcha, wrong), "POST", "/api/v1/auth/register", signup, http.StatusForbidden, ticketview.ECAPTCHA)
	if d2.Challenge == nil || d2.Challenge.Token == "" || d2.Challenge.Token == ch.Token {
		t.Fatalf("challenge after a wrong solution %+v (first %+v)", d2.Challenge, ch)
	}
	// The right solution of the new challenge lets the signup through.
	sol := abuse.SolveProofOfWork(*d2.Challenge)
	if sol == "" {
		t.Fatalf("cannot solve %+v", d2.Challenge)
	}
	var gus tokens
	n.expect(anonymous.with(api.HeaderCaptcha, sol), "POST", "/api/v1/auth/register", signup, http.StatusCreated, &gus)
	n.checkTokens("signup with the solution", gus)
	// Solving gave the address a pass: the next signup is not challenged.
	n.expectErr(anonymous, "POST", "/api/v1/auth/register", map[string]any{"email": "eve@example.com", "password": "eve's password 1"},
		http.StatusConflict, ticketview.ECONFLICT)
}

// wrongValue is a JSON value of another type than the schema's.
func wrongValue(schema map[string]any) (any, bool) {
	if _, ok := schema["$ref"]; ok {
		return "not an object", true
	}
	switch schema["type"] {
	case "string":
		return 12345, true
	case "integer", "number":
		return "seven", true
	case "boolean":
		return "yes", true
	case "array":
		return map[string]any{"not": "an array"}, true
	case "object":
		return []any{1, 2}, true
	}
	return nil, false
}

// TestE2EMalformedInput sends malformed bodies to every route that takes one: each is
// refused with a 4xx in the error shape, never a 5xx.
func TestE2EMalformedInput(t *testing.T) {
	n := startE2ENode(t, nil, "-limits", "off")
	cust := n.register("mal@example.com", "customer pass 1", "Mal")
	params := map[string]string{"event": demo.EventID, "section": demo.FloorVIP, "booking": "b-nonexistent", "token": "h-nonexistent",
		"user": cust.User.ID, "venue": demo.VenueID, "provider": "google"}
	doc := n.openAPI()
	huge := rawBody(`{"name":"` + strings.Repeat("x", api.BodyLimit+1024) + `"}`)
	type attempt struct {
		what string
		body rawBody
		want int // 0: 400
	}
	checked := 0
	for _, op := range doc.operations() {
		if op.method != "POST" && op.method != "PUT" && op.method != "PATCH" {
			continue
		}
		if strings.Contains(op.path, "/webhooks/") {
			continue // the provider's own payload, checked by its signature (payments/*)
		}
		checked++
		var c caller
		switch op.roles {
		case "public":
			c = anonymous
		case "signed-in":
			c = cust.as("customer")
		case "customer":
			c = operator("malformed-buyer")
		default:
			c = operator("")
		}
		attempts := []attempt{
			{"malformed JSON", rawBody(`{"name": `), 0},
			{"broken JSON", rawBody(`{"name" "x"}`), 0},
			{"unknown field", rawBody(`{"zz_unknown_field": true}`), 0},
			{"a JSON array", rawBody(`[{}]`), 0},
			{"a JSON string", rawBody(`"hello"`), 0},
			{"null", rawBody(`null`), 0},
			{"two objects", rawBody(`{}{}`), 0},
			{"not JSON", rawBody(`name=x&y=z`), 0},
			{"a huge body", huge, http.StatusRequestEntityTooLarge},
		}
		if props, ok := op.bodySchema["properties"].(map[string]any); ok {
			for name, ps := range props {
				if v, ok := wrongValue(doc.resolve(asSchema(ps))); ok {
					b, _ := json.Marshal(map[string]any{name: v})
					attempts = append(attempts, attempt{"wrong type of " + name, rawBody(b), 0})
				}
			}
		} else if op.hasBody {
			t.Errorf("%s: the body schema has no properties: %v", op, op.bodySchema)
		}
		for _, a := range attempts {
			want := a.want
			if want == 0 {
				want = http.StatusBadRequest
			}
			var r response
			var err error
			if a.want == http.StatusRequestEntityTooLarge {
				r, err = n.tryRaw(c, op.method, fillPath(op.path, params), a.body)
			} else {
				r, err = n.try(c, op.method, fillPath(op.path, params), a.body)
			}
			if err != nil {
				t.Errorf("%s with %s: %v", op, a.what, err)
				continue
			}
			d, derr := r.apiError()
			switch {
			case r.status >= 500:
				t.Errorf("%s with %s: a server error %d: %s", op, a.what, r.status, truncate(r.body))
			case derr != nil:
				t.Errorf("%s with %s: %v", op, a.what, derr)
			case r.status != want || d.Code != ticketview.EINVALID:
				t.Errorf("%s with %s: %d %s, want %d %s", op, a.what, r.status, truncate(r.body), want, ticketview.EINVALID)
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d routes with a body checked", checked)
	}
	// The malformed requests changed nothing.
	if a := n.seatMap(demo.EventID, demo.FloorVIP); a.Free != 300 {
		t.Errorf("floor seats free after the malformed requests: %d", a.Free)
	}
}

func asSchema(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
