package storetest

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
)

// TestBookingIndex checks a ticketview.BookingIndex kept from a store's section journals
// against the contract. open is called once per subtest and must return a section store
// and the booking index kept from its journals (usually the same value), with an empty
// index. The suite drives domain sections (ticketview.Section) and journals their events
// with Append, as the section actors do. The contract:
//
//   - Every acknowledged confirmation (EvHoldConfirmed) is a booking of its section, with
//     the ID, Owner, Event, Section, HoldToken, Quantity (seats, or general-admission
//     places), Total (the sum of its hold's prices; general admission: the unit price
//     times the quantity), PaymentRef (the event's Reference), Status and ConfirmedAt that
//     the engine's own booking has, and no Items. A cancellation (EvSaleCancelled) makes
//     it cancelled, with CancelledAt. A hold placed before a snapshot and confirmed after
//     it is priced all the same.
//   - Total.Currency is the event's currency when the store is also the
//     ticketview.EventStore that has the event, "" when the event is not in the catalog.
//   - Times are in UTC, exact or truncated to the microsecond.
//   - Holds released or expired never become bookings; a token used again after its hold
//     ended prices its booking with the new hold.
//   - ListBookings lists newest first: by ConfirmedAt, then ID, Event and Section, all
//     descending (bytewise), cancelled bookings included; Owner and Event filter exactly;
//     the count is of every matching booking; Limit 0 or negative means 20 and more than
//     100 means 100; a negative Offset means 0.
//   - SalesByEvent sums per event, in event id order, the events asked for (duplicates and
//     events without bookings are ignored), or every event with a booking when the list
//     is nil; an empty list gives no sales. An event whose bookings are all cancelled is
//     listed, with Bookings 0.
//   - The index follows exactly what Append acknowledged: a fenced append, an append whose
//     Seq does not follow on (EINTERNAL), a confirmation without a booking id (EINTERNAL)
//     and one that reuses a booking id of its section (ECONFLICT) write nothing, the
//     journal included, and the index shows nothing of them.
//   - Concurrent appends to many sections are all indexed.
func TestBookingIndex(t *testing.T, open func(t *testing.T) (ticketview.SectionStore, ticketview.BookingIndex)) {
	t.Run("SeatedAndGeneralAdmission", func(t *testing.T) { testBookingTotals(t, open) })
	t.Run("Cancellation", func(t *testing.T) { testBookingCancel(t, open) })
	t.Run("EndedHoldsNeverBook", func(t *testing.T) { testEndedHolds(t, open) })
	t.Run("FiltersPagingOrder", func(t *testing.T) { testBookingListing(t, open) })
	t.Run("SalesByEvent", func(t *testing.T) { testSalesByEvent(t, open) })
	t.Run("RefusedAppendsIndexNothing", func(t *testing.T) { testRefusedAppends(t, open) })
	t.Run("SnapshotKeepsIndex", func(t *testing.T) { testBookingSnapshot(t, open) })
	t.Run("ConcurrentSections", func(t *testing.T) { testBookingConcurrent(t, open) })
}

// bookingCategories have fixed prices, so that totals can be written down.
var bookingCategories = []ticketview.PriceCategory{
	{Code: "VIP", Name: "VIP", Price: 9900},
	{Code: "STD", Name: "Standard", Price: 4500},
}

// seatedLayout is 3 rows of 10: row A (seats 0-9) VIP, rows B and C standard.
func seatedLayout(id string) *ticketview.SectionLayout {
	return &ticketview.SectionLayout{ID: id, Name: "Stalls " + id, Kind: ticketview.Seated,
		Rows: ticketview.GridRows(3, 10, func(r int) string {
			if r == 0 {
				return "VIP"
			}
			return "STD"
		})}
}

// gaLayout is 500 standard places.
func gaLayout(id string) *ticketview.SectionLayout {
	return &ticketview.SectionLayout{ID: id, Name: "Floor " + id, Kind: ticketview.GeneralAdmission, Capacity: 500, Category: "STD"}
}

// bookingClock gives a test's commands their times: a millisecond apart, with the
// nanoseconds of BaseTime.
type bookingClock struct{ now time.Time }

func newBookingClock() *bookingClock { return &bookingClock{now: BaseTime} }

func (c *bookingClock) tick() time.Time {
	c.now = c.now.Add(time.Millisecond)
	return c.now
}

// domainSection is a domain section whose events are journaled in the store under test,
// as its actor would: commands buffer events, flush appends them.
type domainSection struct {
	t     *testing.T
	fail  func(format string, args ...any) // t.Fatalf, or a goroutine's own way out
	ctx   context.Context
	store ticketview.SectionStore
	id    ticketview.SectionID
	epoch uint64
	sec   *ticketview.Section
	clock *bookingClock
	books []string // booking ids confirmed, in order
}

func newDomainSection(t *testing.T, store ticketview.SectionStore, id ticketview.SectionID, layout *ticketview.SectionLayout, clock *bookingClock) *domainSection {
	t.Helper()
	sec, err := ticketview.NewSection(ticketview.SectionConfig{ID: id, Layout: layout, Categories: bookingCategories, Currency: "INR"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	epoch, _, _, err := store.Activate(ctx, id)
	if err != nil {
		t.Fatalf("Activate(%s): %v", id, err)
	}
	return &domainSection{t: t, fail: t.Fatalf, ctx: ctx, store: store, id: id, epoch: epoch, sec: sec, clock: clock}
}

func (d *domainSection) must(what string, err error) {
	if err != nil {
		d.fail("%s %s: %v", d.id, what, err)
	}
}

func (d *domainSection) hold(token, owner string, seats ...string) {
	_, err := d.sec.Hold(ticketview.HoldRequest{Token: token, Owner: owner, Seats: seats}, d.clock.tick())
	d.must("hold "+token, err)
}

func (d *domainSection) holdQty(token, owner string, n int) {
	_, err := d.sec.Hold(ticketview.HoldRequest{Token: token, Owner: owner, Quantity: n}, d.clock.tick())
	d.must("hold "+token, err)
}

func (d *domainSection) confirm(token, owner, booking string) {
	d.confirmAt(token, owner, booking, d.clock.tick())
}

func (d *domainSection) confirmAt(token, owner, booking string, at time.Time) {
	_, err := d.sec.Confirm(token, owner, booking, "pay-"+booking, "", at)
	d.must("confirm "+token, err)
	d.books = append(d.books, booking)
}

func (d *domainSection) cancel(booking string) {
	_, err := d.sec.Cancel(booking, "", "", d.clock.tick())
	d.must("cancel "+booking, err)
}

func (d *domainSection) release(token, owner string) {
	d.must("release "+token, d.sec.Release(token, owner, "", d.clock.tick()))
}

// expireAll moves the clock past every live hold's expiry and lets them expire.
func (d *domainSection) expireAll() {
	d.clock.now = d.clock.now.Add(ticketview.MaxHoldTTL + time.Minute)
	if d.sec.ExpireDue(d.clock.tick()) == 0 {
		d.fail("%s: no hold expired", d.id)
	}
}

// flush journals the events made since the last flush, in one append.
func (d *domainSection) flush() {
	d.must("append", d.store.Append(d.ctx, d.id, d.epoch, d.sec.TakeEvents()))
}

// booking is the engine's booking as the index should give it: without items, in the
// currency the catalog has for the event.
func (d *domainSection) booking(id, currency string) ticketview.Booking {
	b, err := d.sec.FindBooking(id, "")
	d.must("find booking "+id, err)
	b.Items, b.Total.Currency = nil, currency
	return b
}

// bookings are the engine's views of every booking the section confirmed.
func (d *domainSection) bookings(currency string) []ticketview.Booking {
	out := make([]ticketview.Booking, len(d.books))
	for i, id := range d.books {
		out[i] = d.booking(id, currency)
	}
	return out
}

// catalogEvent puts an event in the store's catalog when the store is one, and returns
// the currency the index should give its bookings.
func catalogEvent(t *testing.T, store ticketview.SectionStore, id string) string {
	t.Helper()
	es, ok := store.(ticketview.EventStore)
	if !ok {
		return ""
	}
	if err := es.CreateEvent(ctxFor(t), SampleEvent(id, "hall-1", BaseTime)); err != nil {
		t.Fatalf("CreateEvent(%s): %v", id, err)
	}
	return "INR"
}

// sortBookings puts bookings in the index's order.
func sortBookings(bs []ticketview.Booking) {
	slices.SortStableFunc(bs, func(a, b ticketview.Booking) int {
		if c := b.ConfirmedAt.Compare(a.ConfirmedAt); c != 0 {
			return c
		}
		if c := strings.Compare(b.ID, a.ID); c != 0 {
			return c
		}
		if c := strings.Compare(b.Event, a.Event); c != 0 {
			return c
		}
		return strings.Compare(b.Section, a.Section)
	})
}

// sameInstant reports whether got is want, in UTC, exact or truncated to the microsecond.
func sameInstant(got, want time.Time) bool {
	if want.IsZero() {
		return got.IsZero()
	}
	return got.Location() == time.UTC && (got.Equal(want) || got.Equal(want.Truncate(time.Microsecond)))
}

func bookingKeys(bs []ticketview.Booking) string {
	keys := make([]string, len(bs))
	for i, b := range bs {
		keys[i] = b.Event + "/" + b.Section + "/" + b.ID
	}
	return strings.Join(keys, " ")
}

// sameBookings compares a listing with the bookings it should give, in order.
func sameBookings(t *testing.T, what string, got, want []ticketview.Booking) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d bookings, want %d\n got: %s\nwant: %s", what, len(got), len(want), bookingKeys(got), bookingKeys(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if len(g.Items) != 0 {
			t.Fatalf("%s: booking %s has items: %+v", what, g.ID, g.Items)
		}
		if !sameInstant(g.ConfirmedAt, w.ConfirmedAt) || !sameInstant(g.CancelledAt, w.CancelledAt) {
			t.Fatalf("%s: booking %d (%s) confirmed %v, cancelled %v; want %v, %v (UTC, exact or to the microsecond)",
				what, i, g.ID, g.ConfirmedAt, g.CancelledAt, w.ConfirmedAt, w.CancelledAt)
		}
		g.Items, g.ConfirmedAt, g.CancelledAt = nil, w.ConfirmedAt, w.CancelledAt
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("%s: booking %d is\n %+v\nwant\n %+v\n got: %s\nwant: %s", what, i, g, w, bookingKeys(got), bookingKeys(want))
		}
	}
}

func listBookings(t *testing.T, idx ticketview.BookingIndex, f ticketview.BookingFilter) ([]ticketview.Booking, int) {
	t.Helper()
	got, n, err := idx.ListBookings(ctxFor(t), f)
	if err != nil {
		t.Fatalf("ListBookings(%+v): %v", f, err)
	}
	return got, n
}

// wantListing checks a page of a listing and its count.
func wantListing(t *testing.T, idx ticketview.BookingIndex, f ticketview.BookingFilter, all []ticketview.Booking, from, n int) {
	t.Helper()
	got, total := listBookings(t, idx, f)
	if total != len(all) {
		t.Fatalf("ListBookings(%+v): count %d, want %d", f, total, len(all))
	}
	from = min(from, len(all))
	sameBookings(t, fmt.Sprintf("ListBookings(%+v)", f), got, all[from:min(from+n, len(all))])
}

// listEverything reads every page of a filter's listing, 100 at a time.
func listEverything(t *testing.T, idx ticketview.BookingIndex, f ticketview.BookingFilter) []ticketview.Booking {
	t.Helper()
	var out []ticketview.Booking
	for f.Offset, f.Limit = 0, 100; ; f.Offset += 100 {
		page, total := listBookings(t, idx, f)
		out = append(out, page...)
		if len(page) < 100 || f.Offset+100 >= total {
			return out
		}
	}
}

func salesOf(t *testing.T, idx ticketview.BookingIndex, events []string) []ticketview.EventSales {
	t.Helper()
	got, err := idx.SalesByEvent(ctxFor(t), events)
	if err != nil {
		t.Fatalf("SalesByEvent(%q): %v", events, err)
	}
	return got
}

func wantSales(t *testing.T, idx ticketview.BookingIndex, events []string, want []ticketview.EventSales) {
	t.Helper()
	got := salesOf(t, idx, events)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("SalesByEvent(%q) =\n %+v\nwant\n %+v", events, got, want)
	}
}

// salesFrom sums bookings as SalesByEvent should, in event id order.
func salesFrom(bs []ticketview.Booking) []ticketview.EventSales {
	by := map[string]*ticketview.EventSales{}
	var ids []string
	for _, b := range bs {
		s := by[b.Event]
		if s == nil {
			s = &ticketview.EventSales{Event: b.Event}
			by[b.Event] = s
			ids = append(ids, b.Event)
		}
		if b.Status == ticketview.BookingCancelled {
			s.Cancelled++
			continue
		}
		s.Bookings++
		s.Tickets += b.Quantity
		s.Revenue += b.Total.Amount
	}
	slices.Sort(ids)
	out := make([]ticketview.EventSales, len(ids))
	for i, id := range ids {
		out[i] = *by[id]
	}
	return out
}

// testBookingTotals: seated and general-admission bookings, confirmed in the append of
// their hold or in a later one, are indexed as the engine has them.
func testBookingTotals(t *testing.T, open func(t *testing.T) (ticketview.SectionStore, ticketview.BookingIndex)) {
	store, idx := open(t)
	clock := newBookingClock()
	ev, other := NewEventID(), NewEventID()
	cur := catalogEvent(t, store, ev)
	seated := newDomainSection(t, store, ticketview.SectionID{Event: ev, Section: "A"}, seatedLayout("A"), clock)
	ga := newDomainSection(t, store, ticketview.SectionID{Event: ev, Section: "GA"}, gaLayout("GA"), clock)
	ga2 := newDomainSection(t, store, ticketview.SectionID{Event: other, Section: "GA"}, gaLayout("GA"), clock)

	if got, n := listBookings(t, idx, ticketview.BookingFilter{}); len(got) != 0 || n != 0 {
		t.Fatalf("a new index lists %d bookings (count %d)", len(got), n)
	}
	seated.hold("t1", "asha", "A-1", "A-2") // hold and confirmation in one append
	seated.confirm("t1", "asha", "bk-1")
	seated.flush()
	seated.hold("t2", "ravi", "B-5") // in two
	seated.flush()
	seated.confirm("t2", "ravi", "bk-2")
	seated.flush()
	ga.holdQty("g1", "asha", 3)
	ga.flush()
	ga.confirm("g1", "asha", "bk-3")
	ga.flush()
	ga2.holdQty("g1", "mei", 2)
	ga2.confirm("g1", "mei", "bk-4")
	ga2.flush()

	want := []ticketview.Booking{ga2.booking("bk-4", ""), ga.booking("bk-3", cur), seated.booking("bk-2", cur), seated.booking("bk-1", cur)}
	got, n := listBookings(t, idx, ticketview.BookingFilter{})
	if n != 4 {
		t.Fatalf("count %d, want 4", n)
	}
	sameBookings(t, "all bookings", got, want)
	for i, w := range []struct {
		qty    int
		amount int64
	}{{2, 9000}, {3, 13500}, {1, 4500}, {2, 19800}} {
		if got[i].Quantity != w.qty || got[i].Total.Amount != w.amount || got[i].Status != ticketview.BookingConfirmed {
			t.Fatalf("booking %s: quantity %d, total %d, status %s; want %d, %d, confirmed",
				got[i].ID, got[i].Quantity, got[i].Total.Amount, got[i].Status, w.qty, w.amount)
		}
	}
}

// testBookingCancel: a cancellation in a later append, or in the append of the booking,
// makes the booking cancelled; it stays listed.
func testBookingCancel(t *testing.T, open func(t *testing.T) (ticketview.SectionStore, ticketview.BookingIndex)) {
	store, idx := open(t)
	clock := newBookingClock()
	ev := NewEventID()
	d := newDomainSection(t, store, ticketview.SectionID{Event: ev, Section: "A"}, seatedLayout("A"), clock)
	d.hold("t1", "asha", "A-1", "B-1")
	d.confirm("t1", "asha", "bk-1")
	d.flush()
	d.cancel("bk-1") // in a later append
	d.flush()
	d.hold("t2", "ravi", "A-3") // all in one append
	d.confirm("t2", "ravi", "bk-2")
	d.cancel("bk-2")
	d.hold("t3", "ravi", "C-1", "C-2", "C-3")
	d.confirm("t3", "ravi", "bk-3")
	d.flush()

	all := d.bookings("")
	sortBookings(all)
	got, n := listBookings(t, idx, ticketview.BookingFilter{Event: ev})
	if n != 3 {
		t.Fatalf("count %d, want 3 (cancelled bookings are listed)", n)
	}
	sameBookings(t, "bookings", got, all)
	for _, b := range got {
		if cancelled := b.ID != "bk-3"; (b.Status == ticketview.BookingCancelled) != cancelled || b.CancelledAt.IsZero() != !cancelled {
			t.Fatalf("booking %s: status %s, cancelled at %v", b.ID, b.Status, b.CancelledAt)
		}
	}
	wantSales(t, idx, []string{ev}, []ticketview.EventSales{{Event: ev, Bookings: 1, Cancelled: 2, Tickets: 3, Revenue: 13500}})
}

// testEndedHolds: released and expired holds, and holds still live, are no bookings; a
// token used again after its hold ended prices its booking with the new hold, whether
// the hold was placed in the append of its confirmation or before.
func testEndedHolds(t *testing.T, open func(t *testing.T) (ticketview.SectionStore, ticketview.BookingIndex)) {
	store, idx := open(t)
	clock := newBookingClock()
	ev := NewEventID()
	a := newDomainSection(t, store, ticketview.SectionID{Event: ev, Section: "A"}, seatedLayout("A"), clock)
	a.hold("t1", "asha", "A-1", "A-2")
	a.flush()
	a.release("t1", "asha")
	a.flush()
	a.hold("t2", "ravi", "A-3")
	a.release("t2", "ravi")
	a.hold("t3", "mei", "A-4")
	a.flush()
	a.expireAll()
	a.flush()
	g := newDomainSection(t, store, ticketview.SectionID{Event: ev, Section: "GA"}, gaLayout("GA"), clock)
	g.holdQty("g1", "asha", 4)
	g.flush()
	g.expireAll()
	g.holdQty("g2", "asha", 2) // live
	g.flush()
	if got, n := listBookings(t, idx, ticketview.BookingFilter{}); len(got) != 0 || n != 0 {
		t.Fatalf("ended and live holds listed as bookings: %s (count %d)", bookingKeys(got), n)
	}
	wantSales(t, idx, nil, nil)
	wantSales(t, idx, []string{ev}, nil)

	// Tokens used again: t1 held 2 VIP seats, then 1 standard seat.
	a.hold("t1", "asha", "B-1")
	a.flush()
	a.confirm("t1", "asha", "bk-1")
	a.flush()
	b := newDomainSection(t, store, ticketview.SectionID{Event: ev, Section: "B"}, seatedLayout("B"), clock)
	b.hold("r", "ravi", "A-1", "A-2", "A-3")
	b.flush()
	b.release("r", "ravi")
	b.hold("r", "ravi", "C-9")
	b.confirm("r", "ravi", "bk-1")
	b.flush()
	b.hold("s", "ravi", "A-5")
	b.release("s", "ravi")
	b.hold("s", "ravi", "A-6", "C-1")
	b.flush()
	b.confirm("s", "ravi", "bk-2")
	b.flush()

	want := append(a.bookings(""), b.bookings("")...)
	sortBookings(want)
	got, _ := listBookings(t, idx, ticketview.BookingFilter{})
	sameBookings(t, "bookings of tokens used again", got, want)
	totals := map[string]int64{"A/bk-1": 4500, "B/bk-1": 4500, "B/bk-2": 9900 + 4500} // the new holds'
	for _, bk := range got {
		if w := totals[bk.Section+"/"+bk.ID]; bk.Total.Amount != w {
			t.Fatalf("booking %s/%s: total %d, want %d (the new hold's)", bk.Section, bk.ID, bk.Total.Amount, w)
		}
	}
}

// testBookingListing: filters by owner and event, counts, pages and the order, with ties
// of time broken by id, then event and section.
func testBookingListing(t *testing.T, open func(t *testing.T) (ticketview.SectionStore, ticketview.BookingIndex)) {
	store, idx := open(t)
	clock := newBookingClock()
	e1, e2 := NewEventID(), NewEventID()
	cur := map[string]string{e1: catalogEvent(t, store, e1), e2: ""}
	owners := []string{"asha", "ravi", "mei"}
	var secs []*domainSection
	sec := func(ev, name string, layout func(string) *ticketview.SectionLayout) *domainSection {
		d := newDomainSection(t, store, ticketview.SectionID{Event: ev, Section: name}, layout(name), clock)
		secs = append(secs, d)
		return d
	}
	big := sec(e1, "GA", gaLayout)
	for i := range 130 {
		tok := fmt.Sprintf("g%d", i)
		owner := owners[i%3]
		big.holdQty(tok, owner, 1+i%3)
		big.confirm(tok, owner, fmt.Sprintf("bk-%03d", i))
		if i%10 == 9 {
			big.flush()
		}
	}
	big.flush()
	a1, a2, g2 := sec(e1, "A", seatedLayout), sec(e2, "A", seatedLayout), sec(e2, "GA", gaLayout)
	// Ties of time: two bookings of one instant in two events, with different ids (by id);
	// three with the same id and instant, in two sections of an event (by section) and in
	// two events (by event).
	a1.hold("x", "ravi", "A-1")
	a2.hold("x", "ravi", "A-1")
	a1.hold("y", "mei", "B-1")
	a2.hold("y", "asha", "B-2")
	g2.holdQty("y", "asha", 2)
	at := clock.tick()
	a1.confirmAt("x", "ravi", "bk-tie-1", at)
	a2.confirmAt("x", "ravi", "bk-tie-2", at)
	at = clock.tick()
	a1.confirmAt("y", "mei", "bk-same", at)
	a2.confirmAt("y", "asha", "bk-same", at)
	g2.confirmAt("y", "asha", "bk-same", at)
	for _, d := range secs[1:] {
		d.flush()
	}
	big.holdQty("last", "mei", 1) // the newest
	big.confirm("last", "mei", "bk-last")
	big.flush()

	var all []ticketview.Booking
	for _, d := range secs {
		all = append(all, d.bookings(cur[d.id.Event])...)
	}
	sortBookings(all)
	if len(all) != 136 {
		t.Fatalf("fixture made %d bookings", len(all))
	}
	filter := func(keep func(ticketview.Booking) bool) []ticketview.Booking {
		var out []ticketview.Booking
		for _, b := range all {
			if keep(b) {
				out = append(out, b)
			}
		}
		return out
	}
	wantListing(t, idx, ticketview.BookingFilter{}, all, 0, 20)
	wantListing(t, idx, ticketview.BookingFilter{Limit: 7, Offset: 3}, all, 3, 7)
	wantListing(t, idx, ticketview.BookingFilter{Limit: 1000}, all, 0, 100)
	wantListing(t, idx, ticketview.BookingFilter{Limit: -3}, all, 0, 20)
	wantListing(t, idx, ticketview.BookingFilter{Offset: -5, Limit: 4}, all, 0, 4)
	wantListing(t, idx, ticketview.BookingFilter{Offset: 120, Limit: 50}, all, 120, 50)
	wantListing(t, idx, ticketview.BookingFilter{Offset: 500}, all, 500, 20)
	sameBookings(t, "every page", listEverything(t, idx, ticketview.BookingFilter{}), all)

	for _, o := range append(owners, "nobody") {
		mine := filter(func(b ticketview.Booking) bool { return b.Owner == o })
		wantListing(t, idx, ticketview.BookingFilter{Owner: o}, mine, 0, 20)
		wantListing(t, idx, ticketview.BookingFilter{Owner: o, Offset: 10, Limit: 5}, mine, 10, 5)
		sameBookings(t, "owner "+o, listEverything(t, idx, ticketview.BookingFilter{Owner: o}), mine)
		for _, e := range []string{e1, e2, "no-such-event"} {
			both := filter(func(b ticketview.Booking) bool { return b.Owner == o && b.Event == e })
			sameBookings(t, "owner "+o+" at "+e, listEverything(t, idx, ticketview.BookingFilter{Owner: o, Event: e}), both)
			wantListing(t, idx, ticketview.BookingFilter{Owner: o, Event: e, Limit: 3}, both, 0, 3)
		}
	}
	for _, e := range []string{e1, e2} {
		of := filter(func(b ticketview.Booking) bool { return b.Event == e })
		wantListing(t, idx, ticketview.BookingFilter{Event: e, Offset: 2, Limit: 9}, of, 2, 9)
		sameBookings(t, "event "+e, listEverything(t, idx, ticketview.BookingFilter{Event: e}), of)
	}
	// The owner and event are matched exactly.
	for _, f := range []ticketview.BookingFilter{{Owner: "ASHA"}, {Owner: "ash"}, {Event: strings.ToUpper(e1)}, {Event: e1[:len(e1)-1]}} {
		wantListing(t, idx, f, nil, 0, 20)
	}
}

// testSalesByEvent: the sums per event, which events are listed and in what order.
func testSalesByEvent(t *testing.T, open func(t *testing.T) (ticketview.SectionStore, ticketview.BookingIndex)) {
	store, idx := open(t)
	wantSales(t, idx, nil, nil)
	clock := newBookingClock()
	e1, e2, e3, e4 := NewEventID(), NewEventID(), NewEventID(), NewEventID()
	catalogEvent(t, store, e1)

	a := newDomainSection(t, store, ticketview.SectionID{Event: e1, Section: "A"}, seatedLayout("A"), clock)
	a.hold("t1", "asha", "A-1", "A-2")
	a.confirm("t1", "asha", "bk-1") // 2 tickets, 19800
	a.hold("t2", "ravi", "A-3")     // live
	a.hold("t3", "ravi", "A-4")
	a.release("t3", "ravi")
	a.flush()
	g := newDomainSection(t, store, ticketview.SectionID{Event: e1, Section: "GA"}, gaLayout("GA"), clock)
	g.holdQty("g1", "mei", 3)
	g.confirm("g1", "mei", "bk-1") // 3 tickets, 13500
	g.holdQty("g2", "mei", 1)
	g.flush()
	g.confirm("g2", "mei", "bk-2")
	g.flush()
	g.cancel("bk-2")
	g.flush()
	c := newDomainSection(t, store, ticketview.SectionID{Event: e2, Section: "GA"}, gaLayout("GA"), clock)
	c.holdQty("g", "asha", 5)
	c.confirm("g", "asha", "bk-1")
	c.cancel("bk-1")
	c.flush()
	n := newDomainSection(t, store, ticketview.SectionID{Event: e3, Section: "A"}, seatedLayout("A"), clock)
	n.hold("t", "asha", "C-1")
	n.hold("u", "asha", "C-2")
	n.release("u", "asha")
	n.flush()
	f := newDomainSection(t, store, ticketview.SectionID{Event: e4, Section: "GA"}, gaLayout("GA"), clock)
	f.holdQty("g", "ravi", 2)
	f.flush()
	f.confirm("g", "ravi", "bk-9")
	f.flush()

	s1 := ticketview.EventSales{Event: e1, Bookings: 2, Cancelled: 1, Tickets: 5, Revenue: 33300}
	s2 := ticketview.EventSales{Event: e2, Cancelled: 1}
	s4 := ticketview.EventSales{Event: e4, Bookings: 1, Tickets: 2, Revenue: 9000}
	all := []ticketview.EventSales{s1, s2, s4}
	slices.SortFunc(all, func(x, y ticketview.EventSales) int { return strings.Compare(x.Event, y.Event) })
	wantSales(t, idx, nil, all)
	wantSales(t, idx, []string{e4, e3, "no-such-event", e1, e1, e2}, all)
	pair := []ticketview.EventSales{s1, s4}
	slices.SortFunc(pair, func(x, y ticketview.EventSales) int { return strings.Compare(x.Event, y.Event) })
	wantSales(t, idx, []string{e4, e1}, pair)
	wantSales(t, idx, []string{e2}, []ticketview.EventSales{s2})
	wantSales(t, idx, []string{e3}, nil)
	if got, err := idx.SalesByEvent(ctxFor(t), []string{}); err != nil || len(got) != 0 {
		t.Fatalf("SalesByEvent of no events = %+v, %v; want none", got, err)
	}
	// The sums agree with the bookings listed.
	var listed []ticketview.Booking
	for _, d := range []*domainSection{a, g, c, f} {
		listed = append(listed, d.bookings("")...)
	}
	if got := salesFrom(listed); !reflect.DeepEqual(got, all) {
		t.Fatalf("the engine's bookings sum to %+v, the test expects %+v", got, all)
	}
}

// testRefusedAppends: appends the store refuses leave nothing in the index (nor in the
// journal), and the same events appended properly afterwards are indexed.
func testRefusedAppends(t *testing.T, open func(t *testing.T) (ticketview.SectionStore, ticketview.BookingIndex)) {
	store, idx := open(t)
	ctx := ctxFor(t)
	clock := newBookingClock()
	ev := NewEventID()
	d := newDomainSection(t, store, ticketview.SectionID{Event: ev, Section: "A"}, seatedLayout("A"), clock)
	d.hold("t1", "asha", "A-1")
	d.confirm("t1", "asha", "bk-1")
	d.flush()
	listed := func(what string) {
		t.Helper()
		want := d.bookings("")
		sortBookings(want)
		got, _ := listBookings(t, idx, ticketview.BookingFilter{Event: ev})
		sameBookings(t, what, got, want)
	}

	// Fenced: a newer activation exists.
	stale := d.epoch
	epoch, _, _, err := store.Activate(ctx, d.id)
	if err != nil {
		t.Fatal(err)
	}
	d.epoch = epoch
	d.hold("t2", "ravi", "A-2")
	d.confirm("t2", "ravi", "bk-2")
	evs := d.sec.TakeEvents()
	if err := store.Append(ctx, d.id, stale, evs); !IsFenced(err) {
		t.Fatalf("append with a stale epoch: %v, want fenced", err)
	}
	if got, _ := listBookings(t, idx, ticketview.BookingFilter{}); len(got) != 1 || got[0].ID != "bk-1" {
		t.Fatalf("after a fenced append: %s, want bk-1 only", bookingKeys(got))
	}
	d.must("append", store.Append(ctx, d.id, d.epoch, evs))
	listed("after the fenced events were appended properly")

	// A Seq that does not follow on.
	d.hold("t3", "mei", "A-3")
	d.confirm("t3", "mei", "bk-3")
	evs = d.sec.TakeEvents()
	gap := slices.Clone(evs)
	for i := range gap {
		gap[i].Seq++
	}
	wantCode(t, "append after a gap", store.Append(ctx, d.id, d.epoch, gap), ticketview.EINTERNAL)
	if got, n := listBookings(t, idx, ticketview.BookingFilter{}); n != 2 || bookingKeys(got) != ev+"/A/bk-2 "+ev+"/A/bk-1" {
		t.Fatalf("after a refused append: %s", bookingKeys(got))
	}
	d.must("append", store.Append(ctx, d.id, d.epoch, evs))
	listed("after the refused events were appended properly")

	// Hand-made appends the domain would never make.
	next := d.sec.Seq() + 1
	at := clock.tick()
	place := func(seq uint64, token string, seat int32) ticketview.SectionEvent {
		return ticketview.SectionEvent{Seq: seq, Type: ticketview.EvHoldPlaced, At: at, Token: token, Owner: "mallory",
			Seats: []int32{seat}, Prices: []int64{4500}, Quantity: 1, ExpiresAt: at.Add(time.Minute)}
	}
	confirm := func(seq uint64, token, booking string, seat int32) ticketview.SectionEvent {
		return ticketview.SectionEvent{Seq: seq, Type: ticketview.EvHoldConfirmed, At: at, Token: token, Owner: "mallory",
			Seats: []int32{seat}, Quantity: 1, BookingID: booking, Reference: "pay-x"}
	}
	for _, c := range []struct {
		what string
		evs  []ticketview.SectionEvent
		code string
	}{
		{"a booking id used again", []ticketview.SectionEvent{place(next, "f1", 25), confirm(next+1, "f1", "bk-1", 25)}, ticketview.ECONFLICT},
		{"a booking id used twice in one append", []ticketview.SectionEvent{place(next, "f1", 25), place(next+1, "f2", 26),
			confirm(next+2, "f1", "bk-twice", 25), confirm(next+3, "f2", "bk-twice", 26)}, ticketview.ECONFLICT},
		{"a confirmation without a booking id", []ticketview.SectionEvent{place(next, "f1", 25), confirm(next+1, "f1", "", 25)}, ticketview.EINTERNAL},
	} {
		wantCode(t, c.what, store.Append(ctx, d.id, d.epoch, c.evs), c.code)
		listed("after " + c.what)
	}
	epoch, _, journal, err := store.Activate(ctx, d.id)
	if err != nil {
		t.Fatal(err)
	}
	if len(journal) != int(d.sec.Seq()) || journal[len(journal)-1].Seq != d.sec.Seq() {
		t.Fatalf("the journal has %d events, want %d: a refused append was written", len(journal), d.sec.Seq())
	}
	d.epoch = epoch
	d.hold("t4", "asha", "C-1")
	d.confirm("t4", "asha", "bk-4")
	d.flush()
	listed("after the refusals")
	wantSales(t, idx, []string{ev}, []ticketview.EventSales{{Event: ev, Bookings: 4, Tickets: 4, Revenue: 9900 + 9900 + 9900 + 4500}})
}

// testBookingSnapshot: a snapshot (which may compact the journal) changes nothing in the
// index, and a hold placed before it is priced when it is confirmed after it.
func testBookingSnapshot(t *testing.T, open func(t *testing.T) (ticketview.SectionStore, ticketview.BookingIndex)) {
	store, idx := open(t)
	clock := newBookingClock()
	ev := NewEventID()
	d := newDomainSection(t, store, ticketview.SectionID{Event: ev, Section: "A"}, seatedLayout("A"), clock)
	d.hold("t1", "asha", "A-1")
	d.confirm("t1", "asha", "bk-1")
	d.hold("t2", "ravi", "A-2", "B-2")
	d.flush()
	d.must("snapshot", store.SaveSnapshot(d.ctx, d.id, d.epoch, d.sec.Snapshot(clock.tick())))
	d.confirm("t2", "ravi", "bk-2")
	d.cancel("bk-1")
	d.flush()
	want := d.bookings("")
	sortBookings(want)
	got, _ := listBookings(t, idx, ticketview.BookingFilter{})
	sameBookings(t, "after a snapshot", got, want)
	if got[0].ID != "bk-2" || got[0].Total.Amount != 14400 {
		t.Fatalf("booking of a hold placed before the snapshot: %s total %d, want bk-2 total 14400", got[0].ID, got[0].Total.Amount)
	}
}

// testBookingConcurrent: sections appending at once, each its holds, confirmations,
// cancellations and releases, are all indexed.
func testBookingConcurrent(t *testing.T, open func(t *testing.T) (ticketview.SectionStore, ticketview.BookingIndex)) {
	store, idx := open(t)
	const sections, rounds = 8, 24
	events := []string{NewEventID(), NewEventID()}
	cur := map[string]string{events[0]: catalogEvent(t, store, events[0]), events[1]: ""}
	secs := make([]*domainSection, sections)
	for i := range secs {
		id := ticketview.SectionID{Event: events[i%2], Section: fmt.Sprintf("S%d", i)}
		if i%2 == 0 {
			secs[i] = newDomainSection(t, store, id, seatedLayout(id.Section), newBookingClock())
		} else {
			secs[i] = newDomainSection(t, store, id, gaLayout(id.Section), newBookingClock())
		}
	}
	var wg sync.WaitGroup
	for i, d := range secs {
		d.fail = func(format string, args ...any) {
			t.Errorf(format, args...)
			runtime.Goexit()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				tok, owner := fmt.Sprintf("t%d", r), fmt.Sprintf("buyer-%d", (i+r)%5)
				if d.sec.IsGA() {
					d.holdQty(tok, owner, 1+r%4)
				} else {
					d.hold(tok, owner, fmt.Sprintf("%c-%d", 'A'+r%3, 1+r/3))
				}
				if r%2 == 0 {
					d.flush() // the confirmation in the next append
				}
				switch r % 4 {
				case 3:
					d.release(tok, owner)
				default:
					d.confirm(tok, owner, fmt.Sprintf("bk-%d-%d", i, r))
				}
				if r%5 == 4 {
					d.cancel(d.books[len(d.books)-2])
				}
				d.flush()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	var all []ticketview.Booking
	for _, d := range secs {
		all = append(all, d.bookings(cur[d.id.Event])...)
	}
	sortBookings(all)
	sameBookings(t, "every booking", listEverything(t, idx, ticketview.BookingFilter{}), all)
	wantSales(t, idx, nil, salesFrom(all))
}
