package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/storetest"
)

func TestSeatMapStore(t *testing.T) {
	storetest.TestSeatMapStore(t, func(t *testing.T) ticketview.SeatMapStore { return openTest(t) })
}

func TestEventDetailsStore(t *testing.T) {
	storetest.TestEventDetailsStore(t, func(t *testing.T) ticketview.EventDetailsStore { return openTest(t) })
}

func TestAuditLog(t *testing.T) {
	storetest.TestAuditLog(t, func(t *testing.T) ticketview.AuditLog { return openTest(t) })
}

// TestPortWritesGoThroughCommitter: seat maps, details and audit entries are written by
// the committer (one request each), and a failed group commit acknowledges none of them:
// each gets EUNAVAILABLE, nothing is visible, the refused map takes no version, and the
// store works on.
func TestPortWritesGoThroughCommitter(t *testing.T) {
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
	id := ticketview.SectionID{Event: "gig-1", Section: "A"}
	before := db.Stats().Requests
	if err := db.PutSeatMap(ctx, storetest.SampleSeatMap("hall-1")); err != nil {
		t.Fatal(err)
	}
	if err := db.PutEventDetails(ctx, storetest.SampleEventDetails("gig-1")); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendAudit(ctx, storetest.SampleAuditEntries(id, 1, 5, storetest.BaseTime)); err != nil {
		t.Fatal(err)
	}
	if n := db.Stats().Requests - before; n != 3 {
		t.Fatalf("3 writes made %d committer requests, want 3", n)
	}
	before = db.Stats().Requests
	if _, err := db.FindSeatMap(ctx, "hall-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SearchEventDetails(ctx, ticketview.DetailsFilter{Tag: "jazz"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AuditTrail(ctx, ticketview.AuditFilter{Event: "gig-1", Seat: "R-1"}); err != nil {
		t.Fatal(err)
	}
	if n := db.Stats().Requests - before; n != 0 {
		t.Fatalf("reads made %d committer requests, want 0", n)
	}

	commitsBefore := db.Stats().Commits
	release := blockCommitter(t, db)
	m := storetest.SampleSeatMap("hall-1")
	d := storetest.SampleEventDetails("gig-2")
	errs := make([]error, 4)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); errs[0] = db.PutSeatMap(ctx, m) }()
	go func() { defer wg.Done(); errs[1] = db.PutEventDetails(ctx, d) }()
	go func() {
		defer wg.Done()
		errs[2] = db.AppendAudit(ctx, storetest.SampleAuditEntries(id, 3, 10, storetest.BaseTime))
	}()
	waitQueued(t, db, 3)
	poison, err := db.submit(ctx, "", func(b *batch) error {
		_, err := b.c.conn.ExecContext(bg, `INSERT INTO poison_child (pid) VALUES (42)`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	release()
	wg.Wait()
	errs[3] = db.await(ctx, poison)
	for i, err := range errs {
		wantUnavailable(t, fmt.Sprintf("request %d of the failed batch", i), err)
	}
	if n := db.Stats().Commits - commitsBefore; n != 2 {
		t.Fatalf("%d transactions, want 2 (the blocker's, then one with the 4 requests)", n)
	}
	if m.Version != 0 || !m.UpdatedAt.IsZero() || !d.UpdatedAt.IsZero() {
		t.Fatalf("a failed Put set Version %d / UpdatedAt %v / %v", m.Version, m.UpdatedAt, d.UpdatedAt)
	}
	if got, err := db.FindSeatMap(ctx, "hall-1"); err != nil || got.Version != 1 {
		t.Fatalf("seat map after a failed replacement: %+v, %v; want version 1", got, err)
	}
	if _, err := db.FindEventDetails(ctx, "gig-2"); !errors.Is(err, ticketview.ErrNotFound) {
		t.Fatalf("details of the failed batch: %v, want not found", err)
	}
	if got, err := db.SearchEventDetails(ctx, ticketview.DetailsFilter{Tag: "jazz"}); err != nil || len(got) != 1 {
		t.Fatalf("search after the failed batch: %d details, %v; want gig-1 only", len(got), err)
	}
	if got, err := db.AuditTrail(ctx, ticketview.AuditFilter{Event: "gig-1"}); err != nil || len(got) != 5 {
		t.Fatalf("audit after the failed batch: %d entries, %v; want 5", len(got), err)
	}
	// The store works on, and the failed Put took no version.
	if err := db.PutSeatMap(ctx, m); err != nil || m.Version != 2 {
		t.Fatalf("put after the failed batch: version %d, %v; want 2", m.Version, err)
	}
	if err := db.AppendAudit(ctx, storetest.SampleAuditEntries(id, 3, 10, storetest.BaseTime)); err != nil {
		t.Fatal(err)
	}
	if got, err := db.AuditTrail(ctx, ticketview.AuditFilter{Event: "gig-1", Seat: "R-5"}); err != nil || len(got) == 0 {
		t.Fatalf("trail by seat after the retry: %d entries, %v", len(got), err)
	}
}

// TestPortQueriesUseIndexes runs every shape of filtered search and trail, then asks SQLite
// how it answers each query it ran: never by scanning a table or sorting.
func TestPortQueriesUseIndexes(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	id := ticketview.SectionID{Event: "gig-1", Section: "A"}
	if err := db.AppendAudit(ctx, storetest.SampleAuditEntries(id, 1, 20, storetest.BaseTime)); err != nil {
		t.Fatal(err)
	}
	for mask := range 1 << 5 {
		f := ticketview.AuditFilter{Event: "gig-1"}
		if mask&1 != 0 {
			f.Section = "A"
		}
		if mask&2 != 0 {
			f.Seat = "R-1"
		}
		if mask&4 != 0 {
			f.Owner = "buyer-1"
		}
		if mask&8 != 0 {
			f.From = storetest.BaseTime
		}
		if mask&16 != 0 {
			f.To = storetest.BaseTime.Add(1e9)
		}
		if _, err := db.AuditTrail(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []ticketview.DetailsFilter{{Tag: "a"}, {Performer: "b"}, {Tag: "a", Performer: "b"}} {
		if _, err := db.SearchEventDetails(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	var queries []string
	db.readStmts.Range(func(q, _ any) bool {
		s := q.(string)
		if strings.Contains(s, "WHERE") && (strings.Contains(s, "audit_log") || strings.Contains(s, "event_details") || strings.Contains(s, "seat_maps")) {
			queries = append(queries, s)
		}
		return true
	})
	if len(queries) < 32+3 {
		t.Fatalf("only %d query shapes ran", len(queries))
	}
	for _, q := range queries {
		args := make([]any, strings.Count(q, "?"))
		for i := range args {
			args[i] = "x"
		}
		rows, err := db.reader.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, "; ")
		if strings.Contains(p, "SCAN") || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("query scans or sorts:\n %s\n plan: %s", q, p)
		}
	}
}

// TestPortsMigrationFromVersion1: a database made before the seat-map, details and audit
// tables existed (schema version 1) gets them on Open and keeps its data. It rolls a new
// database back to version 1 by hand: a later migration must be rolled back here too.
func TestPortsMigrationFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tv.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	if err := db.CreateVenue(ctx, storetest.SampleVenue("hall-1")); err != nil {
		t.Fatal(err)
	}
	// Back to schema version 1, as an older build left it.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var latest int
	if err := db.reader.QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&latest); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, q := range []string{
		// 0008_profile.sql: its columns go with the users table (0003)
		// 0007_analytics.sql
		`DROP TABLE analytics_counters`, `DROP TABLE analytics_applied`, `DROP TABLE analytics_events`,
		// 0006_notifications.sql
		`DROP TABLE reminders`, `DROP TABLE notifications`,
		// 0005_orders.sql
		`DROP TABLE consumer_offsets`, `DROP TABLE outbox`, `DROP TABLE orders`,
		// 0004_bookings.sql
		`DROP TABLE bookings`, `DROP TABLE holds`,
		// 0003_accounts.sql
		`DROP TABLE refresh_tokens`, `DROP TABLE refresh_families`, `DROP TABLE identities`, `DROP TABLE users`,
		`DROP INDEX events_by_genre`, `DROP INDEX events_by_city`, `DROP INDEX events_by_organizer`,
		`ALTER TABLE events DROP COLUMN genre`, `ALTER TABLE events DROP COLUMN city`, `ALTER TABLE events DROP COLUMN organizer`,
		// 0002_maps_details_audit.sql
		`DROP TABLE audit_seats`, `DROP TABLE audit_log`, `DROP TABLE event_detail_performers`,
		`DROP TABLE event_detail_tags`, `DROP TABLE event_details`, `DROP TABLE seat_maps`,
		`DELETE FROM schema_migrations WHERE version >= 2`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	db, err = Open(path)
	if err != nil {
		t.Fatalf("open a version-1 database: %v", err)
	}
	defer db.Close()
	var v int
	if err := db.reader.QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil || v != latest || latest < 4 {
		t.Fatalf("schema version %d, %v; want %d (at least 4)", v, err, latest)
	}
	if _, err := db.FindVenue(ctx, "hall-1"); err != nil {
		t.Fatalf("venue lost in the migration: %v", err)
	}
	m := storetest.SampleSeatMap("hall-1")
	if err := db.PutSeatMap(ctx, m); err != nil || m.Version != 1 {
		t.Fatalf("PutSeatMap after the migration: version %d, %v", m.Version, err)
	}
	if _, err := db.AuditTrail(context.Background(), ticketview.AuditFilter{Event: "gig-1"}); err != nil {
		t.Fatal(err)
	}
}
