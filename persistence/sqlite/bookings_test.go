package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/storetest"
)

func TestBookingIndex(t *testing.T) {
	storetest.TestBookingIndex(t, func(t *testing.T) (ticketview.SectionStore, ticketview.BookingIndex) {
		db := openTest(t)
		return db, db
	})
}

// indexRows counts the rows of the booking index's tables.
func indexRows(t *testing.T, db *DB) (holds, bookings int) {
	t.Helper()
	if err := db.reader.QueryRow(`SELECT (SELECT count(*) FROM holds), (SELECT count(*) FROM bookings)`).Scan(&holds, &bookings); err != nil {
		t.Fatal(err)
	}
	return holds, bookings
}

// holdAndConfirm are a seated hold of one seat and its confirmation, at seq and seq+1.
func holdAndConfirm(seq uint64, seat int32, booking string) []ticketview.SectionEvent {
	at := storetest.BaseTime
	return []ticketview.SectionEvent{
		{Seq: seq, Type: ticketview.EvHoldPlaced, At: at, Token: "tok-" + booking, Owner: "asha", Seats: []int32{seat},
			Prices: []int64{4500}, Quantity: 1, ExpiresAt: at.Add(ticketview.DefaultHoldTTL)},
		{Seq: seq + 1, Type: ticketview.EvHoldConfirmed, At: at, Token: "tok-" + booking, Owner: "asha", Seats: []int32{seat},
			Quantity: 1, BookingID: booking, Reference: "pay-" + booking},
	}
}

// TestBookingIndexFailedGroupCommit: when a group commit fails, the index keeps nothing
// of any of its appends (holds, bookings, cancellations), and the same appends made
// again are indexed as if the failure never happened.
func TestBookingIndexFailedGroupCommit(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	if err := db.do(ctx, "", func(b *batch) error {
		_, err := b.c.conn.ExecContext(bg, `
			CREATE TABLE poison_parent (id INTEGER PRIMARY KEY);
			CREATE TABLE poison_child (pid INTEGER REFERENCES poison_parent (id) DEFERRABLE INITIALLY DEFERRED);`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	const sections = 6
	ids := make([]ticketview.SectionID, sections)
	epochs := make([]uint64, sections)
	for i := range ids {
		ids[i] = storetest.NewSectionID()
		epochs[i], _, _ = mustActivate(t, db, ids[i])
		// A booking (to be cancelled) and a live hold (to be confirmed) before the failure.
		evs := holdAndConfirm(1, 0, "bk-old")
		evs = append(evs, holdAndConfirm(3, 1, "bk-new")[0])
		if err := db.Append(ctx, ids[i], epochs[i], evs); err != nil {
			t.Fatal(err)
		}
	}
	holds0, bookings0 := indexRows(t, db)
	if holds0 != sections || bookings0 != sections {
		t.Fatalf("before: %d holds, %d bookings; want %d, %d", holds0, bookings0, sections, sections)
	}
	// Each section's next append: confirm the live hold, cancel the old booking, place
	// and release a hold, place a new one.
	next := func(i int) []ticketview.SectionEvent {
		at := storetest.BaseTime
		evs := []ticketview.SectionEvent{
			holdAndConfirm(3, 1, "bk-new")[1],
			{Seq: 5, Type: ticketview.EvSaleCancelled, At: at, Owner: "asha", BookingID: "bk-old", Seats: []int32{0}, Quantity: 1},
		}
		evs = append(evs, holdAndConfirm(6, 2, fmt.Sprintf("bk-%d", i))...)
		return append(evs, ticketview.SectionEvent{Seq: 8, Type: ticketview.EvHoldPlaced, At: at, Token: "tok-live",
			Owner: "ravi", Seats: []int32{3}, Prices: []int64{9900}, Quantity: 1, ExpiresAt: at.Add(ticketview.DefaultHoldTTL)})
	}

	release := blockCommitter(t, db)
	var wg sync.WaitGroup
	errs := make([]error, sections+1)
	for i := range sections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Append(ctx, ids[i], epochs[i], next(i))
		}()
	}
	waitQueued(t, db, sections)
	poison, err := db.submit(ctx, "", func(b *batch) error {
		_, err := b.c.conn.ExecContext(bg, `INSERT INTO poison_child (pid) VALUES (42)`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	release()
	wg.Wait()
	errs[sections] = db.await(ctx, poison)
	for i, err := range errs {
		wantUnavailable(t, fmt.Sprintf("request %d of the failed batch", i), err)
	}
	if h, b := indexRows(t, db); h != holds0 || b != bookings0 {
		t.Fatalf("after the failed batch: %d holds, %d bookings; want %d, %d", h, b, holds0, bookings0)
	}
	got, n, err := db.ListBookings(ctx, ticketview.BookingFilter{Limit: 100})
	if err != nil || n != sections {
		t.Fatalf("ListBookings after the failed batch: %d, %v", n, err)
	}
	for _, b := range got {
		if b.ID != "bk-old" || b.Status != ticketview.BookingConfirmed {
			t.Fatalf("after the failed batch: %+v; want bk-old confirmed only", b)
		}
	}

	// The same appends again, all in one group commit.
	release = blockCommitter(t, db)
	for i := range sections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Append(ctx, ids[i], epochs[i], next(i))
		}()
	}
	waitQueued(t, db, sections)
	release()
	wg.Wait()
	for i, err := range errs[:sections] {
		if err != nil {
			t.Fatalf("append %d again: %v", i, err)
		}
	}
	if h, b := indexRows(t, db); h != sections || b != 3*sections {
		t.Fatalf("after the appends: %d holds, %d bookings; want %d (the live ones), %d", h, b, sections, 3*sections)
	}
	sales, err := db.SalesByEvent(ctx, nil)
	if err != nil || len(sales) != sections {
		t.Fatalf("SalesByEvent: %+v, %v", sales, err)
	}
	for _, s := range sales {
		if s != (ticketview.EventSales{Event: s.Event, Bookings: 2, Cancelled: 1, Tickets: 2, Revenue: 9000}) {
			t.Fatalf("sales %+v; want 2 bookings of 4500, 1 cancelled", s)
		}
	}
}

// TestBookingIndexNetsOutABatch: appends merged into one group commit see each other's
// changes: a hold placed by one append and confirmed by the next is priced, a booking
// confirmed by one and cancelled by the next is cancelled, and a booking id taken by one
// is refused to the next (ECONFLICT, that append only).
func TestBookingIndexNetsOutABatch(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	id := storetest.NewSectionID()
	epoch, _, _ := mustActivate(t, db, id)
	hc := holdAndConfirm(1, 7, "bk-1")
	cancel := ticketview.SectionEvent{Seq: 3, Type: ticketview.EvSaleCancelled, At: storetest.BaseTime, BookingID: "bk-1"}
	again := holdAndConfirm(3, 8, "bk-1")
	other := holdAndConfirm(3, 9, "bk-2")

	commits := db.Stats().Commits
	release := blockCommitter(t, db)
	waits := []func() error{
		db.AppendAsync(ctx, id, epoch, hc[:1]),
		db.AppendAsync(ctx, id, epoch, hc[1:]),
		db.AppendAsync(ctx, id, epoch, again), // bk-1 again: refused
		db.AppendAsync(ctx, id, epoch, []ticketview.SectionEvent{cancel}),
		db.AppendAsync(ctx, id, epoch, other), // at seq 3, which the cancellation took
	}
	waitQueued(t, db, len(waits))
	release()
	var errs []string
	for _, w := range waits {
		errs = append(errs, ticketview.ErrorCode(w()))
	}
	if got := strings.Join(errs, ","); got != ",,conflict,,"+ticketview.EINTERNAL {
		t.Fatalf("outcomes %s; want ok, ok, conflict, ok, internal (seq 3 is taken by the cancellation)", got)
	}
	if n := db.Stats().Commits - commits; n != 2 {
		t.Fatalf("%d commits, want 2 (the blocker's and one with every append)", n)
	}
	got, _, err := db.ListBookings(ctx, ticketview.BookingFilter{})
	if err != nil || len(got) != 1 {
		t.Fatalf("ListBookings: %+v, %v", got, err)
	}
	if b := got[0]; b.ID != "bk-1" || b.Owner != "asha" || b.Total.Amount != 4500 || b.Status != ticketview.BookingCancelled ||
		!b.CancelledAt.Equal(storetest.BaseTime) || b.HoldToken != "tok-bk-1" || b.PaymentRef != "pay-bk-1" {
		t.Fatalf("booking %+v; want bk-1 of asha, 4500, cancelled", b)
	}
	if h, _ := indexRows(t, db); h != 0 {
		t.Fatalf("%d holds left; want 0 (the confirmed hold never reached the table)", h)
	}
}

// TestBookingIndexOddInput: owners with any bytes are kept and matched as the journal
// has them; sales of more events than one statement takes are read a chunk at a time,
// in order; after Close, reads answer EUNAVAILABLE.
func TestBookingIndexOddInput(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	const n = 150
	var events []string
	for i := range n {
		id := ticketview.SectionID{Event: fmt.Sprintf("ev-%03d", i), Section: "A"}
		events = append(events, id.Event, "unknown-"+id.Event, id.Event)
		if i%7 != 0 {
			continue
		}
		epoch, _, _ := mustActivate(t, db, id)
		evs := holdAndConfirm(1, int32(i), fmt.Sprintf("bk-%d", i))
		evs[0].Owner, evs[1].Owner = "b\xffad\x00owner", "b\xffad\x00owner"
		if err := db.Append(ctx, id, epoch, evs); err != nil {
			t.Fatal(err)
		}
	}
	slices.Reverse(events)
	sales, err := db.SalesByEvent(ctx, events)
	if err != nil || len(sales) != (n+6)/7 {
		t.Fatalf("SalesByEvent of %d ids: %d sales, %v; want %d", len(events), len(sales), err, (n+6)/7)
	}
	for i, s := range sales {
		if want := (ticketview.EventSales{Event: fmt.Sprintf("ev-%03d", 7*i), Bookings: 1, Tickets: 1, Revenue: 4500}); s != want {
			t.Fatalf("sales %d: %+v, want %+v", i, s, want)
		}
	}
	got, total, err := db.ListBookings(ctx, ticketview.BookingFilter{Owner: "b\xffad\x00owner", Event: "ev-007"})
	if err != nil || total != 1 || len(got) != 1 || got[0].ID != "bk-7" || got[0].Owner != "b\xffad\x00owner" {
		t.Fatalf("ListBookings by an owner with odd bytes: %+v (%d), %v", got, total, err)
	}
	db.Close()
	if _, _, err := db.ListBookings(ctx, ticketview.BookingFilter{}); ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		t.Fatalf("ListBookings after Close: %v", err)
	}
	if _, err := db.SalesByEvent(ctx, []string{"ev-007"}); ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		t.Fatalf("SalesByEvent after Close: %v", err)
	}
}

// TestBookingQueriesUseIndexes asks SQLite how it answers the index's queries: listings
// by owner or event and the sales of given events by an index, without sorting (the
// listing of every booking scans and sorts); the committer's lookups and writes by
// primary key.
func TestBookingQueriesUseIndexes(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	for _, f := range []ticketview.BookingFilter{{}, {Owner: "a"}, {Event: "e"}, {Owner: "a", Event: "e"}} {
		if _, _, err := db.ListBookings(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.SalesByEvent(ctx, []string{"e", "f"}); err != nil {
		t.Fatal(err)
	}
	var queries []string
	db.readStmts.Range(func(q, _ any) bool {
		if s := q.(string); strings.Contains(s, "FROM bookings") && strings.Contains(s, "WHERE") ||
			strings.Contains(s, "ORDER BY b.confirmed_at") {
			queries = append(queries, s)
		}
		return true
	})
	for _, k := range []multiKind{selHolds, selBookings, delHolds, insBookings, putHolds, cancelBookings} {
		queries = append(queries, projectionQuery(k, 3))
	}
	if len(queries) != 4+3+1+6 {
		t.Fatalf("%d query shapes ran", len(queries))
	}
	for _, q := range queries {
		plan := queryPlan(t, db.reader, q)
		if strings.Contains(q, "ORDER BY b.") && !strings.Contains(q, "WHERE") {
			continue // the listing of every booking: scanned and sorted
		}
		for _, step := range strings.Split(plan, "; ") {
			if strings.Contains(step, "TEMP B-TREE") ||
				strings.HasPrefix(step, "SCAN") && !strings.HasSuffix(step, "-ROW VALUES CLAUSE") {
				t.Errorf("query scans or sorts:\n %s\n plan: %s", q, plan)
			}
		}
		byKey := strings.Contains(q, "FROM holds WHERE") || strings.Contains(q, "FROM bookings WHERE (event, section, id)") ||
			strings.HasPrefix(q, "DELETE") || strings.HasPrefix(q, "UPDATE")
		if byKey && !strings.Contains(plan, "USING PRIMARY KEY") {
			t.Errorf("lookup or write not by primary key:\n %s\n plan: %s", q, plan)
		}
	}
}

func queryPlan(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	args := make([]any, strings.Count(q, "?"))
	for i := range args {
		args[i] = "x"
	}
	rows, err := db.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}

// TestMigrationsByVersion: the runner applies every file whose version is not recorded,
// in version order, even below the highest recorded one; it refuses a database with a
// version it does not know, and two files of one version.
func TestMigrationsByVersion(t *testing.T) {
	ctx := testCtx(t)
	raw, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	conn, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	files := fstest.MapFS{
		"schema/0001_a.sql": {Data: []byte(`CREATE TABLE a (x); INSERT INTO a VALUES (1);`)},
		"schema/0004_d.sql": {Data: []byte(`INSERT INTO a VALUES (4);`)},
	}
	if err := migrateFrom(ctx, conn, files); err != nil {
		t.Fatal(err)
	}
	// A build with a file between them (another branch's) applies it, after the others.
	files["schema/0003_c.sql"] = &fstest.MapFile{Data: []byte(`INSERT INTO a VALUES (3);`)}
	files["schema/0005_e.sql"] = &fstest.MapFile{Data: []byte(`INSERT INTO a VALUES (5);`)}
	if err := migrateFrom(ctx, conn, files); err != nil {
		t.Fatal(err)
	}
	if err := migrateFrom(ctx, conn, files); err != nil { // and again: nothing to do
		t.Fatal(err)
	}
	var order, versions string
	if err := conn.QueryRowContext(ctx, `SELECT group_concat(x, ',') FROM (SELECT x FROM a ORDER BY rowid)`).Scan(&order); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRowContext(ctx, `SELECT group_concat(version, ',') FROM (SELECT version FROM schema_migrations ORDER BY version)`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if order != "1,4,3,5" || versions != "1,3,4,5" {
		t.Fatalf("applied %s, recorded %s; want 1,4,3,5 and 1,3,4,5", order, versions)
	}
	// A build without 0003 refuses the database: it is newer than that build.
	delete(files, "schema/0003_c.sql")
	if err := migrateFrom(ctx, conn, files); err == nil || !strings.Contains(err.Error(), "version 3 is newer") {
		t.Fatalf("a build without a recorded version: %v", err)
	}
	files["schema/0003_c.sql"] = &fstest.MapFile{Data: []byte(``)}
	files["schema/0003_other.sql"] = &fstest.MapFile{Data: []byte(``)}
	if err := migrateFrom(ctx, conn, files); err == nil || !strings.Contains(err.Error(), "same version") {
		t.Fatalf("two files of version 3: %v", err)
	}
}

// TestBookingIndexMigration: a database whose journals predate the booking index gets
// the index on Open, built from each section's snapshot and the journal after it: its
// bookings as the engine has them, and its live holds, priced when they are confirmed
// later.
func TestBookingIndexMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tv.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	cats := []ticketview.PriceCategory{{Code: "VIP", Name: "VIP", Price: 9900}, {Code: "STD", Name: "Standard", Price: 4500}}
	seated := &ticketview.SectionLayout{ID: "A", Name: "A", Kind: ticketview.Seated,
		Rows: ticketview.GridRows(2, 10, func(r int) string { return cats[r].Code })}
	ga := &ticketview.SectionLayout{ID: "GA", Name: "GA", Kind: ticketview.GeneralAdmission, Capacity: 100, Category: "STD"}
	event := storetest.NewEventID()
	now := storetest.BaseTime
	type section struct {
		id    ticketview.SectionID
		sec   *ticketview.Section
		epoch uint64
	}
	var secs []*section
	for _, layout := range []*ticketview.SectionLayout{seated, ga} {
		id := ticketview.SectionID{Event: event, Section: layout.ID}
		sec, err := ticketview.NewSection(ticketview.SectionConfig{ID: id, Layout: layout, Categories: cats, Currency: "INR"})
		if err != nil {
			t.Fatal(err)
		}
		epoch, _, _ := mustActivate(t, db, id)
		secs = append(secs, &section{id, sec, epoch})
	}
	step := func(s *section, what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := db.Append(ctx, s.id, s.epoch, s.sec.TakeEvents()); err != nil {
			t.Fatalf("append after %s: %v", what, err)
		}
	}
	tick := func() time.Time { now = now.Add(time.Second); return now }
	hold := func(s *section, token string, req ticketview.HoldRequest) {
		req.Token, req.Owner = token, "asha"
		_, err := s.sec.Hold(req, tick())
		step(s, "hold "+token, err)
	}
	confirm := func(s *section, token, booking string) {
		_, err := s.sec.Confirm(token, "asha", booking, "pay-"+booking, "", tick())
		step(s, "confirm "+token, err)
	}
	cancel := func(s *section, booking string) {
		_, err := s.sec.Cancel(booking, "", "", tick())
		step(s, "cancel "+booking, err)
	}
	a, g := secs[0], secs[1]
	// Before the snapshot: two bookings (one cancelled after it), a live hold.
	hold(a, "t1", ticketview.HoldRequest{Seats: []string{"A-1", "A-2"}})
	confirm(a, "t1", "bk-1")
	hold(a, "t2", ticketview.HoldRequest{Seats: []string{"B-1"}})
	confirm(a, "t2", "bk-2")
	hold(a, "t3", ticketview.HoldRequest{Seats: []string{"A-5", "B-5"}})
	if err := db.SaveSnapshot(ctx, a.id, a.epoch, a.sec.Snapshot(tick())); err != nil {
		t.Fatal(err)
	}
	cancel(a, "bk-1")
	hold(a, "t4", ticketview.HoldRequest{Seats: []string{"B-9"}})
	hold(g, "g1", ticketview.HoldRequest{Quantity: 3})
	confirm(g, "g1", "bk-1")
	hold(g, "g2", ticketview.HoldRequest{Quantity: 2}) // live
	db.Close()

	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TABLE holds`, `DROP TABLE bookings`, `DELETE FROM schema_migrations WHERE version = 4`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	if db, err = Open(path); err != nil {
		t.Fatalf("open a database without the booking index: %v", err)
	}
	defer db.Close()
	if h, b := indexRows(t, db); h != 3 || b != 3 {
		t.Fatalf("backfilled %d holds, %d bookings; want 3 (t3, t4, g2), 3", h, b)
	}
	for _, s := range secs {
		s.epoch, _, _ = mustActivate(t, db, s.id)
	}
	confirm(a, "t3", "bk-3")
	confirm(g, "g2", "bk-2")
	var want []string
	for _, s := range secs {
		for _, id := range []string{"bk-1", "bk-2", "bk-3"} {
			b, err := s.sec.FindBooking(id, "")
			if err != nil {
				continue
			}
			want = append(want, fmt.Sprintf("%s/%s %s %d %d %s", b.Section, b.ID, b.Status, b.Quantity, b.Total.Amount, b.HoldToken))
		}
	}
	got, n, err := db.ListBookings(ctx, ticketview.BookingFilter{Event: event})
	if err != nil || n != len(want) || n != 5 {
		t.Fatalf("ListBookings: %d, %v; want %d", n, err, len(want))
	}
	var have []string
	for _, b := range got {
		s := secs[0]
		if b.Section == "GA" {
			s = secs[1]
		}
		e, err := s.sec.FindBooking(b.ID, "")
		if err != nil || !b.ConfirmedAt.Equal(e.ConfirmedAt) || !b.CancelledAt.Equal(e.CancelledAt) || b.Owner != e.Owner || b.PaymentRef != e.PaymentRef {
			t.Fatalf("booking %+v, engine has %+v (%v)", b, e, err)
		}
		have = append(have, fmt.Sprintf("%s/%s %s %d %d %s", b.Section, b.ID, b.Status, b.Quantity, b.Total.Amount, b.HoldToken))
	}
	slices.Sort(want)
	slices.Sort(have)
	if !slices.Equal(have, want) {
		t.Fatalf("after the migration:\n%s\nwant\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
	}
}

// cpuTime is the CPU time the process has used (user and system): what a benchmark
// costs, whatever else the machine runs meanwhile.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAppendMixed is BenchmarkAppend's sync-64sections and pipelined-8sections-depth4
// with events of every type (storetest.SampleEvents: holds placed, extended, released,
// expired, confirmed, sales cancelled, seats blocked and unblocked, in turn), so that
// the booking index is written too; the nosync variants run with synchronous=OFF, which
// leaves the committer's own work as the limit. cpu-µs/event is the CPU time the whole
// process spent per event (callers, committer and SQLite), which other load on the
// machine does not change much, unlike events/s.
func BenchmarkAppendMixed(b *testing.B) {
	for _, durable := range []bool{true, false} {
		suffix := ""
		if !durable {
			suffix = "-nosync"
		}
		b.Run("sync-64sections"+suffix, func(b *testing.B) { benchMixed(b, 64, 1, durable) })
		b.Run("pipelined-8sections-depth4"+suffix, func(b *testing.B) { benchMixed(b, 8, 4, durable) })
	}
}

// BenchmarkAppendSales is a flash sale as the booking index sees it: in 64 sections of
// one event at once, holds of two seats under random tokens, each confirmed by the
// section's next append under a random booking id, for owners among 10,000; with
// synchronous=FULL and =OFF. Every event changes the index.
func BenchmarkAppendSales(b *testing.B) {
	sales := func(seq uint64, rnd *rand.Rand, sec *salesSection) []ticketview.SectionEvent {
		at := storetest.BaseTime.Add(time.Duration(seq) * time.Millisecond)
		if seq%2 == 1 {
			sec.token, sec.owner = fmt.Sprintf("hold_%016x%016x", rnd.Uint64(), rnd.Uint64()), fmt.Sprintf("user-%d", rnd.IntN(10000))
			seat := int32(seq % 10000)
			return []ticketview.SectionEvent{{Seq: seq, Type: ticketview.EvHoldPlaced, At: at, Token: sec.token, Owner: sec.owner,
				Seats: []int32{seat, seat + 1}, Prices: []int64{4500, 4500}, Quantity: 2, ExpiresAt: at.Add(10 * time.Minute)}}
		}
		seat := int32((seq - 1) % 10000)
		return []ticketview.SectionEvent{{Seq: seq, Type: ticketview.EvHoldConfirmed, At: at, Token: sec.token, Owner: sec.owner,
			Seats: []int32{seat, seat + 1}, Quantity: 2, BookingID: fmt.Sprintf("bk_%016x%016x", rnd.Uint64(), rnd.Uint64()), Reference: "pay"}}
	}
	b.Run("sync-64sections", func(b *testing.B) { benchEvents(b, 64, 1, true, true, sales) })
	b.Run("sync-64sections-nosync", func(b *testing.B) { benchEvents(b, 64, 1, false, true, sales) })
}

type salesSection struct{ token, owner string }

func benchMixed(b *testing.B, sections, depth int, durable bool) {
	benchEvents(b, sections, depth, durable, false, func(seq uint64, _ *rand.Rand, _ *salesSection) []ticketview.SectionEvent {
		return storetest.SampleEvents(seq, 1, storetest.BaseTime)
	})
}

// benchEvents appends one event at a time, made by next, from 64 goroutines to the
// sections (of one event if oneEvent), with depth appends in flight per goroutine.
func benchEvents(b *testing.B, sections, depth int, durable, oneEvent bool,
	next func(seq uint64, rnd *rand.Rand, sec *salesSection) []ticketview.SectionEvent) {
	if !durable {
		prev := synchronous
		synchronous = "OFF"
		defer func() { synchronous = prev }()
	}
	db := openTest(b)
	ctx := context.Background()
	type section struct {
		mu    sync.Mutex
		id    ticketview.SectionID
		epoch uint64
		next  uint64
		rnd   *rand.Rand
		sales salesSection
	}
	secs := make([]*section, sections)
	event := storetest.NewEventID()
	for i := range secs {
		s := &section{id: storetest.NewSectionID(), next: 1, rnd: rand.New(rand.NewPCG(uint64(i), 1))}
		if oneEvent {
			s.id = ticketview.SectionID{Event: event, Section: fmt.Sprintf("S%d", i)}
		}
		s.epoch, _, _ = mustActivate(b, db, s.id)
		secs[i] = s
	}
	var gid atomic.Int64
	s0, cpu0 := db.Stats(), cpuTime(b)
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((64 + procs - 1) / procs)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		sec := secs[int(gid.Add(1)-1)%sections]
		var inflight []func() error
		for pb.Next() {
			sec.mu.Lock()
			evs := next(sec.next, sec.rnd, &sec.sales)
			sec.next++
			inflight = append(inflight, db.AppendAsync(ctx, sec.id, sec.epoch, evs))
			if depth == 1 {
				err := inflight[0]()
				sec.mu.Unlock()
				inflight = inflight[:0]
				if err != nil {
					b.Error(err)
					return
				}
				continue
			}
			sec.mu.Unlock()
			if len(inflight) == depth {
				if err := inflight[0](); err != nil {
					b.Error(err)
					return
				}
				inflight = inflight[1:]
			}
		}
		for _, wait := range inflight {
			if err := wait(); err != nil {
				b.Error(err)
			}
		}
	})
	b.StopTimer()
	s1, cpu1 := db.Stats(), cpuTime(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(cpu1-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/event")
	if n := s1.Commits - s0.Commits; n > 0 {
		b.ReportMetric(float64(s1.Requests-s0.Requests)/float64(n), "appends/commit")
	}
}
