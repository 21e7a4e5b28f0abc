package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/internal/testutil"
	"github.com/ticketview/ticketview/internal/testutil/pgtest"
	"github.com/ticketview/ticketview/persistence/postgres"
	"github.com/ticketview/ticketview/persistence/storetest"
)

var testCategories = []ticketview.PriceCategory{
	{Code: "VIP", Name: "VIP", Price: 9900},
	{Code: "STD", Name: "Standard", Price: 4500},
}

// seatedLayout is 2 rows of 10: row A (VIP) is seats 0-9, row B (STD) seats 10-19.
func seatedLayout() *ticketview.SectionLayout {
	return &ticketview.SectionLayout{ID: "A", Name: "Stalls", Kind: ticketview.Seated,
		Rows: ticketview.GridRows(2, 10, func(r int) string { return []string{"VIP", "STD"}[r] })}
}

func gaLayout() *ticketview.SectionLayout {
	return &ticketview.SectionLayout{ID: "GA", Name: "Floor", Kind: ticketview.GeneralAdmission, Capacity: 100, Category: "STD"}
}

// domainSection drives a domain Section and journals its events in the store, as the
// section actor does.
type domainSection struct {
	t     *testing.T
	db    *postgres.DB
	id    ticketview.SectionID
	epoch uint64
	sec   *ticketview.Section
	now   time.Time
}

func newDomainSection(t *testing.T, db *postgres.DB, id ticketview.SectionID, layout *ticketview.SectionLayout) *domainSection {
	t.Helper()
	sec, err := ticketview.NewSection(ticketview.SectionConfig{ID: id, Layout: layout, Categories: testCategories, Currency: "INR"})
	if err != nil {
		t.Fatal(err)
	}
	epoch, _, _, err := db.Activate(testCtx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return &domainSection{t: t, db: db, id: id, epoch: epoch, sec: sec, now: storetest.BaseTime}
}

// flush journals the events produced since the last flush.
func (d *domainSection) flush() {
	d.t.Helper()
	if err := d.db.Append(testCtx(d.t), d.id, d.epoch, d.sec.TakeEvents()); err != nil {
		d.t.Fatalf("append: %v", err)
	}
}

func (d *domainSection) hold(token, owner string, seats ...string) ticketview.Hold {
	d.t.Helper()
	d.now = d.now.Add(time.Second)
	h, err := d.sec.Hold(ticketview.HoldRequest{Token: token, Owner: owner, Seats: seats}, d.now)
	if err != nil {
		d.t.Fatalf("hold %v: %v", seats, err)
	}
	d.flush()
	return h
}

func (d *domainSection) holdQty(token, owner string, n int) ticketview.Hold {
	d.t.Helper()
	d.now = d.now.Add(time.Second)
	h, err := d.sec.Hold(ticketview.HoldRequest{Token: token, Owner: owner, Quantity: n}, d.now)
	if err != nil {
		d.t.Fatalf("hold %d: %v", n, err)
	}
	d.flush()
	return h
}

func (d *domainSection) confirm(token, owner, booking string) {
	d.t.Helper()
	d.now = d.now.Add(time.Second)
	if _, err := d.sec.Confirm(token, owner, booking, "pay-"+booking, "", d.now); err != nil {
		d.t.Fatalf("confirm %s: %v", token, err)
	}
	d.flush()
}

func (d *domainSection) cancel(booking string) {
	d.t.Helper()
	d.now = d.now.Add(time.Second)
	if _, err := d.sec.Cancel(booking, "", "", d.now); err != nil {
		d.t.Fatalf("cancel %s: %v", booking, err)
	}
	d.flush()
}

// confirmEvent is a hand-made confirmation of seats for booking, the next event of the
// section: what a faulty or split-brained writer could send.
func (d *domainSection) confirmEvent(booking string, seats ...int32) ticketview.SectionEvent {
	return ticketview.SectionEvent{Seq: d.sec.Seq() + 1, Type: ticketview.EvHoldConfirmed, At: d.now.Add(time.Second),
		Token: "forged-" + booking, Owner: "mallory", Seats: seats, Quantity: int32(len(seats)), BookingID: booking, Reference: "pay-x"}
}

func queryInt(t testing.TB, db *postgres.DB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Pool().QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

type bookingRow struct {
	Status, Owner, Token, Ref string
	Quantity                  int
	Total                     *int64
	Cancelled                 bool
}

func booking(t testing.TB, db *postgres.DB, id ticketview.SectionID, bk string) (bookingRow, bool) {
	t.Helper()
	var b bookingRow
	err := db.Pool().QueryRow(context.Background(), `SELECT status, owner, hold_token, payment_ref, quantity, total, cancelled_at IS NOT NULL
		FROM bookings WHERE event_id = $1 AND section_id = $2 AND id = $3`, id.Event, id.Section, bk).
		Scan(&b.Status, &b.Owner, &b.Token, &b.Ref, &b.Quantity, &b.Total, &b.Cancelled)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, false
	} else if err != nil {
		t.Fatal(err)
	}
	return b, true
}

// tickets lists a booking's tickets as "seat:price:status" (seat "-" for GA).
func tickets(t testing.TB, db *postgres.DB, id ticketview.SectionID, bk string) []string {
	t.Helper()
	rows, err := db.Pool().Query(context.Background(), `SELECT coalesce(seat_index::text, '-'), coalesce(price::text, '?'), status
		FROM tickets WHERE event_id = $1 AND section_id = $2 AND booking_id = $3 ORDER BY id`, id.Event, id.Section, bk)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var seat, price, status string
		if err := rows.Scan(&seat, &price, &status); err != nil {
			t.Fatal(err)
		}
		out = append(out, seat+":"+price+":"+status)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func validTickets(t testing.TB, db *postgres.DB, id ticketview.SectionID, seat int32) int {
	t.Helper()
	return queryInt(t, db, `SELECT count(*) FROM tickets WHERE event_id = $1 AND section_id = $2 AND seat_index = $3 AND status = 'valid'`,
		id.Event, id.Section, seat)
}

func outboxTypes(t testing.TB, db *postgres.DB, id ticketview.SectionID) []string {
	t.Helper()
	rows, err := db.Pool().Query(context.Background(), `SELECT topic, payload FROM outbox WHERE key = $1 ORDER BY id`, id.String())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var prevSeq uint64
	for rows.Next() {
		var topic string
		var payload []byte
		if err := rows.Scan(&topic, &payload); err != nil {
			t.Fatal(err)
		}
		var ev postgres.OutboxEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			t.Fatal(err)
		}
		if topic != postgres.OutboxTopic || ev.V != 1 || ev.Event != id.Event || ev.Section != id.Section || ev.Seq <= prevSeq || ev.At.IsZero() {
			t.Fatalf("outbox row %s %s: wrong topic, version, section, order or time", topic, payload)
		}
		prevSeq = ev.Seq
		out = append(out, ev.Type)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func holdRows(t testing.TB, db *postgres.DB, id ticketview.SectionID) map[string]string {
	t.Helper()
	rows, err := db.Pool().Query(context.Background(), `SELECT token, owner, seats::text, quantity, prices::text FROM holds
		WHERE event_id = $1 AND section_id = $2`, id.Event, id.Section)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for rows.Next() {
		var tok, owner, seats, prices string
		var qty int
		if err := rows.Scan(&tok, &owner, &seats, &qty, &prices); err != nil {
			t.Fatal(err)
		}
		out[tok] = fmt.Sprintf("%s %s x%d %s", owner, seats, qty, prices)
	}
	return out
}

// TestProjection follows holds and sales made by the domain into the holds, bookings,
// tickets and outbox tables.
func TestProjection(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	id := storetest.NewSectionID()
	d := newDomainSection(t, db, id, seatedLayout())

	d.hold("tok-a", "asha", "A-5", "B-1") // seats 4 (VIP 9900) and 10 (STD; dynamic 0: base price)
	if got, want := holdRows(t, db, id), map[string]string{"tok-a": "asha {4,10} x2 {9900,4500}"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("holds %v, want %v", got, want)
	}
	d.confirm("tok-a", "asha", "bk-a")
	b, ok := booking(t, db, id, "bk-a")
	if !ok || b.Status != "confirmed" || b.Owner != "asha" || b.Token != "tok-a" || b.Ref != "pay-bk-a" || b.Quantity != 2 ||
		b.Total == nil || *b.Total != 9900+4500 || b.Cancelled {
		t.Fatalf("booking %+v (found %v), want confirmed, 2 seats, total 14400", b, ok)
	}
	if got, want := tickets(t, db, id, "bk-a"), []string{"4:9900:valid", "10:4500:valid"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("tickets %v, want %v", got, want)
	}
	if len(holdRows(t, db, id)) != 0 {
		t.Fatalf("the confirmed hold is still in holds: %v", holdRows(t, db, id))
	}

	// A released hold and an expired one leave no holds row.
	d.hold("tok-b", "ravi", "A-1")
	d.now = d.now.Add(time.Second)
	if err := d.sec.Release("tok-b", "ravi", "", d.now); err != nil {
		t.Fatal(err)
	}
	d.flush()
	d.hold("tok-c", "ravi", "A-2")
	d.now = d.now.Add(ticketview.DefaultHoldTTL + time.Second)
	if n := d.sec.ExpireDue(d.now); n != 1 {
		t.Fatalf("%d holds expired, want 1", n)
	}
	d.flush()
	if len(holdRows(t, db, id)) != 0 {
		t.Fatalf("ended holds are still in holds: %v", holdRows(t, db, id))
	}

	d.cancel("bk-a")
	if b, _ := booking(t, db, id, "bk-a"); b.Status != "cancelled" || !b.Cancelled {
		t.Fatalf("cancelled booking is %+v", b)
	}
	if got, want := tickets(t, db, id, "bk-a"), []string{"4:9900:cancelled", "10:4500:cancelled"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("tickets after the cancellation %v, want %v", got, want)
	}
	want := []string{"hold_placed", "hold_confirmed", "hold_placed", "hold_released", "hold_placed", "hold_expired", "sale_cancelled"}
	if got := outboxTypes(t, db, id); !reflect.DeepEqual(got, want) {
		t.Fatalf("outbox %v, want %v", got, want)
	}

	// General admission: a ticket per place, without a seat.
	ga := storetest.NewSectionID()
	g := newDomainSection(t, db, ga, gaLayout())
	g.holdQty("tok-g", "asha", 3)
	g.confirm("tok-g", "asha", "bk-g")
	if b, ok := booking(t, db, ga, "bk-g"); !ok || b.Quantity != 3 || b.Total == nil || *b.Total != 3*4500 {
		t.Fatalf("GA booking %+v (found %v), want 3 places, total 13500", b, ok)
	}
	if got, want := tickets(t, db, ga, "bk-g"), []string{"-:4500:valid", "-:4500:valid", "-:4500:valid"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("GA tickets %v, want %v", got, want)
	}

	// Held, confirmed and cancelled within one append: the net effect is written.
	d.now = d.now.Add(time.Second)
	if _, err := d.sec.Hold(ticketview.HoldRequest{Token: "tok-d", Owner: "li", Seats: []string{"B-9"}}, d.now); err != nil {
		t.Fatal(err)
	}
	if _, err := d.sec.Confirm("tok-d", "li", "bk-d", "pay-d", "", d.now); err != nil {
		t.Fatal(err)
	}
	if _, err := d.sec.Cancel("bk-d", "", "", d.now); err != nil {
		t.Fatal(err)
	}
	d.flush()
	if got, want := tickets(t, db, id, "bk-d"), []string{"18:4500:cancelled"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("tickets of a booking made and cancelled in one append %v, want %v", got, want)
	}
	if b, _ := booking(t, db, id, "bk-d"); b.Status != "cancelled" {
		t.Fatalf("booking made and cancelled in one append: %+v", b)
	}
	if len(holdRows(t, db, id)) != 0 {
		t.Fatalf("holds %v after a hold confirmed in its own append", holdRows(t, db, id))
	}
}

// TestDoubleSaleRefused: a confirmation of a seat that has a valid ticket fails with
// ECONFLICT and writes nothing; once the first sale is cancelled, the seat sells again.
// With the checks in Go turned off, the unique index refuses it all the same.
func TestDoubleSaleRefused(t *testing.T) {
	t.Parallel()
	for _, precheck := range []bool{true, false} {
		t.Run(fmt.Sprintf("precheck=%v", precheck), func(t *testing.T) {
			db := openTest(t)
			postgres.SetSeatPrecheck(db, precheck)
			ctx := testCtx(t)
			id := storetest.NewSectionID()
			d := newDomainSection(t, db, id, seatedLayout())
			d.hold("tok-a", "asha", "A-6") // seat 5
			d.confirm("tok-a", "asha", "bk-a")
			outbox := queryInt(t, db, `SELECT count(*) FROM outbox`)

			second := d.confirmEvent("bk-b", 5)
			err := db.Append(ctx, id, d.epoch, []ticketview.SectionEvent{second})
			if code := ticketview.ErrorCode(err); code != ticketview.ECONFLICT {
				t.Fatalf("second sale of seat 5: %v (code %q), want %s", err, code, ticketview.ECONFLICT)
			}
			if _, ok := booking(t, db, id, "bk-b"); ok {
				t.Fatal("the refused sale's booking was written")
			}
			if n := validTickets(t, db, id, 5); n != 1 {
				t.Fatalf("%d valid tickets for seat 5, want 1", n)
			}
			if n := queryInt(t, db, `SELECT count(*) FROM outbox`); n != outbox {
				t.Fatalf("the refused sale wrote %d outbox rows", n-outbox)
			}
			if n := queryInt(t, db, `SELECT last_seq FROM journal_sections WHERE event_id = $1 AND section_id = $2`, id.Event, id.Section); uint64(n) != d.sec.Seq() {
				t.Fatalf("journal at %d after the refused append, want %d", n, d.sec.Seq())
			}
			if s := db.Stats(); !precheck && s.Fallbacks == 0 {
				t.Fatalf("stats %+v: the database did not refuse the double sale itself", s)
			}

			// The same Seq is still free: the refused append left no trace in the journal.
			d.cancel("bk-a")
			again := d.confirmEvent("bk-b", 5)
			if err := db.Append(ctx, id, d.epoch, []ticketview.SectionEvent{again}); err != nil {
				t.Fatalf("selling seat 5 after the cancellation: %v", err)
			}
			if got := tickets(t, db, id, "bk-b"); !reflect.DeepEqual(got, []string{"5:?:valid"}) {
				t.Fatalf("tickets of the resale %v", got)
			}
			if n := validTickets(t, db, id, 5); n != 1 {
				t.Fatalf("%d valid tickets for seat 5 after the resale, want 1", n)
			}
			_, _, evs, err := db.Activate(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != int(again.Seq) || evs[len(evs)-1].BookingID != "bk-b" {
				t.Fatalf("journal has %d events, want %d ending with the resale", len(evs), again.Seq)
			}
		})
	}
}

// TestSameSeatManySections: seat 5 sold in 20 sections of one event at once: every sale
// stands, seats of different sections are different seats.
func TestSameSeatManySections(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := testCtx(t)
	const n = 20
	event := storetest.NewSectionID().Event
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := ticketview.SectionID{Event: event, Section: fmt.Sprintf("S%d", i)}
			epoch, _, _, err := db.Activate(ctx, id)
			if err != nil {
				t.Errorf("activate: %v", err)
				return
			}
			ev := ticketview.SectionEvent{Seq: 1, Type: ticketview.EvHoldConfirmed, At: storetest.BaseTime, Token: "t",
				Owner: "o", Seats: []int32{5}, Quantity: 1, BookingID: "bk", Reference: "r"}
			if err := db.Append(ctx, id, epoch, []ticketview.SectionEvent{ev}); err != nil {
				t.Errorf("sale in section %s: %v", id, err)
			}
		}()
	}
	wg.Wait()
	if got := queryInt(t, db, `SELECT count(*) FROM tickets WHERE event_id = $1 AND seat_index = 5 AND status = 'valid'`, event); got != n {
		t.Fatalf("%d valid tickets for seat 5 across the sections, want %d", got, n)
	}
}

// TestRacingSellersOneSale: 20 writers each activate the same section and try to sell
// seat 5 to their own booking. Only the newest activation may write: one sale, one
// booking, one valid ticket.
func TestRacingSellersOneSale(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := testCtx(t)
	id := storetest.NewSectionID()
	const n = 20
	var activated, wg sync.WaitGroup
	activated.Add(n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			epoch, _, evs, err := db.Activate(ctx, id)
			activated.Done()
			if err != nil {
				errs[i] = err
				return
			}
			activated.Wait()
			ev := ticketview.SectionEvent{Seq: uint64(len(evs)) + 1, Type: ticketview.EvHoldConfirmed, At: storetest.BaseTime,
				Token: fmt.Sprintf("t%d", i), Owner: "o", Seats: []int32{5}, Quantity: 1, BookingID: fmt.Sprintf("bk-%d", i), Reference: "r"}
			errs[i] = db.Append(ctx, id, epoch, []ticketview.SectionEvent{ev})
		}()
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		if err == nil {
			wins++
		} else if !storetest.IsFenced(err) {
			t.Errorf("writer %d: %v, want success or ErrFenced", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d sales acknowledged, want 1", wins)
	}
	if got := validTickets(t, db, id, 5); got != 1 {
		t.Fatalf("%d valid tickets for seat 5, want 1", got)
	}
	if got := queryInt(t, db, `SELECT count(*) FROM bookings WHERE event_id = $1`, id.Event); got != 1 {
		t.Fatalf("%d bookings, want 1", got)
	}
}

// blockCommitter holds the row lock of a section until the returned function is called,
// and has the committer take (and wait in) a batch with one append to that section, so
// that every append queued meanwhile goes into the next batch.
func blockCommitter(t *testing.T, db *postgres.DB) (release func()) {
	t.Helper()
	ctx := testCtx(t)
	id := storetest.NewSectionID()
	epoch, _, _, err := db.Activate(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := tx.QueryRow(ctx, `SELECT pg_backend_pid() FROM journal_sections WHERE event_id = $1 AND section_id = $2 FOR UPDATE`,
		id.Event, id.Section).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	wait := db.AppendAsync(ctx, id, epoch, storetest.SampleEvents(1, 1, storetest.BaseTime))
	testutil.CheckFor(t, 10*time.Second, func() error {
		if queryInt(t, db, `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, pid) == 0 {
			return errors.New("the committer is not waiting for the lock yet")
		}
		return nil
	})
	return func() {
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		conn.Release()
		if err := wait(); err != nil {
			t.Fatalf("the blocking append: %v", err)
		}
	}
}

// TestBatchWithBadRequests puts good appends and bad ones (a Seq gap, a stale epoch, a
// second sale of a seat) into one group commit: the bad ones fail alone, the good ones
// commit. Without the checks in Go, the database's refusal of the double sale makes the
// committer do the batch again request by request, with the same outcome.
func TestBatchWithBadRequests(t *testing.T) {
	t.Parallel()
	for _, precheck := range []bool{true, false} {
		t.Run(fmt.Sprintf("precheck=%v", precheck), func(t *testing.T) {
			// One committer: every section's appends go through the same queue.
			db := openURL(t, pgtest.URL(t), postgres.Options{Committers: 1})
			postgres.SetSeatPrecheck(db, precheck)
			ctx := testCtx(t)

			// Sections: three good ones, a gap, a stale epoch, a double sale.
			good := make([]*domainSection, 3)
			for i := range good {
				good[i] = newDomainSection(t, db, storetest.NewSectionID(), seatedLayout())
			}
			gap := newDomainSection(t, db, storetest.NewSectionID(), seatedLayout())
			gap.hold("tok-g", "asha", "A-1")
			stale := newDomainSection(t, db, storetest.NewSectionID(), seatedLayout())
			if _, _, _, err := db.Activate(ctx, stale.id); err != nil {
				t.Fatal(err)
			}
			double := newDomainSection(t, db, storetest.NewSectionID(), seatedLayout())
			double.hold("tok-d", "asha", "A-6")
			double.confirm("tok-d", "asha", "bk-d")

			before := db.Stats()
			release := blockCommitter(t, db)
			var waits []func() error
			for i, g := range good {
				// A hold and its confirmation as two appends of the same batch: the second
				// needs the first's hold row, written in the same transaction.
				g.now = g.now.Add(time.Second)
				if _, err := g.sec.Hold(ticketview.HoldRequest{Token: "tok", Owner: "o", Seats: []string{"A-6"}}, g.now); err != nil {
					t.Fatal(err)
				}
				waits = append(waits, db.AppendAsync(ctx, g.id, g.epoch, g.sec.TakeEvents()))
				if _, err := g.sec.Confirm("tok", "o", fmt.Sprintf("bk-%d", i), "pay", "", g.now); err != nil {
					t.Fatal(err)
				}
				waits = append(waits, db.AppendAsync(ctx, g.id, g.epoch, g.sec.TakeEvents()))
			}
			badGap := db.AppendAsync(ctx, gap.id, gap.epoch, storetest.SampleEvents(gap.sec.Seq()+2, 1, storetest.BaseTime))
			badStale := db.AppendAsync(ctx, stale.id, stale.epoch, storetest.SampleEvents(1, 1, storetest.BaseTime))
			badDouble := db.AppendAsync(ctx, double.id, double.epoch, []ticketview.SectionEvent{double.confirmEvent("bk-x", 5)})
			release()

			for i, w := range waits {
				if err := w(); err != nil {
					t.Errorf("good append %d: %v", i, err)
				}
			}
			if err := badGap(); ticketview.ErrorCode(err) != ticketview.EINTERNAL || storetest.IsFenced(err) {
				t.Errorf("append with a gap: %v, want EINTERNAL", err)
			}
			if err := badStale(); !storetest.IsFenced(err) {
				t.Errorf("append with a stale epoch: %v, want ErrFenced", err)
			}
			if err := badDouble(); ticketview.ErrorCode(err) != ticketview.ECONFLICT {
				t.Errorf("double sale: %v, want ECONFLICT", err)
			}
			after := db.Stats()
			if c := after.Commits - before.Commits; c != 2 {
				t.Fatalf("%d group commits, want 2 (the blocked one, then everything else together)", c)
			}
			if f := after.Fallbacks - before.Fallbacks; precheck && f != 0 || !precheck && f != 1 {
				t.Fatalf("%d batches redone request by request (precheck %v)", f, precheck)
			}
			for i, g := range good {
				_, _, evs, err := db.Activate(ctx, g.id)
				if err != nil || len(evs) != 2 {
					t.Fatalf("good section %d: %d events, %v; want 2", i, len(evs), err)
				}
				if got := tickets(t, db, g.id, fmt.Sprintf("bk-%d", i)); !reflect.DeepEqual(got, []string{"5:9900:valid"}) {
					t.Fatalf("good section %d: tickets %v", i, got)
				}
			}
			for _, bad := range []*domainSection{gap, stale, double} {
				if n := queryInt(t, db, `SELECT last_seq FROM journal_sections WHERE event_id = $1 AND section_id = $2`, bad.id.Event, bad.id.Section); uint64(n) != bad.sec.Seq() {
					t.Fatalf("section %s: journal at %d, want %d: a refused append was written", bad.id, n, bad.sec.Seq())
				}
			}
			if _, ok := booking(t, db, double.id, "bk-x"); ok {
				t.Fatal("the double sale's booking was written")
			}
		})
	}
}

// TestRefusedAppendInBatch: an append refused half-way through its events (its first
// confirmation fine, its second a double sale) leaves nothing behind, not even in the
// checks of its batch: the same first confirmation, appended next in the same batch,
// goes through.
func TestRefusedAppendInBatch(t *testing.T) {
	t.Parallel()
	db := openURL(t, pgtest.URL(t), postgres.Options{Committers: 1})
	ctx := testCtx(t)
	d := newDomainSection(t, db, storetest.NewSectionID(), seatedLayout())
	d.hold("tok-a", "asha", "A-6") // seat 5
	d.confirm("tok-a", "asha", "bk-a")

	fine := d.confirmEvent("bk-b", 7)
	double := d.confirmEvent("bk-x", 5)
	double.Seq = fine.Seq + 1
	release := blockCommitter(t, db)
	refused := db.AppendAsync(ctx, d.id, d.epoch, []ticketview.SectionEvent{fine, double})
	retried := db.AppendAsync(ctx, d.id, d.epoch, []ticketview.SectionEvent{fine})
	release()
	if err := refused(); ticketview.ErrorCode(err) != ticketview.ECONFLICT {
		t.Fatalf("append with a double sale: %v, want ECONFLICT", err)
	}
	if err := retried(); err != nil {
		t.Fatalf("the refused append's first event alone, in the same batch: %v", err)
	}
	if got := tickets(t, db, d.id, "bk-b"); !reflect.DeepEqual(got, []string{"7:?:valid"}) {
		t.Fatalf("tickets of bk-b %v", got)
	}
	if _, ok := booking(t, db, d.id, "bk-x"); ok {
		t.Fatal("the refused append's booking was written")
	}
	if n := validTickets(t, db, d.id, 5); n != 1 {
		t.Fatalf("%d valid tickets for seat 5", n)
	}
}
