package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/storetest"
)

func TestUsers(t *testing.T) {
	storetest.TestUsers(t, func(t *testing.T) ticketview.UserStore { return openTest(t) })
}

func TestSessions(t *testing.T) {
	storetest.TestSessions(t, func(t *testing.T) ticketview.SessionStore { return openTest(t) })
}

// TestAccountWritesGoThroughCommitter: the account and session writes are group commits
// of the single writer, like every other write.
func TestAccountWritesGoThroughCommitter(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	before := db.Stats().Requests
	u := storetest.SampleUser("u-1")
	tok := storetest.SampleRefreshToken("t1", "fam-1", "u-1")
	steps := []func() error{
		func() error { return db.CreateUser(ctx, u) },
		func() error {
			_, err := db.UpdateUser(ctx, "u-1", func(u *ticketview.User) error { u.Name = "X"; return nil })
			return err
		},
		func() error {
			return db.LinkIdentity(ctx, ticketview.Identity{Provider: "google", Subject: "s", UserID: "u-1"})
		},
		func() error { return db.CreateRefreshToken(ctx, tok) },
		func() error { _, err := db.UseRefreshToken(ctx, tok.ID, storetest.BaseTime); return err },
		func() error { return db.RevokeFamily(ctx, "fam-1") },
		func() error { return db.RevokeUser(ctx, "u-1") },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if got := db.Stats().Requests - before; got != uint64(len(steps)) {
		t.Fatalf("%d committer requests for %d writes", got, len(steps))
	}
}

// TestUpdateUserPanic: a panicking fn panics on the caller's goroutine, saves nothing, and
// leaves the committer working.
func TestUpdateUserPanic(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	if err := db.CreateUser(ctx, storetest.SampleUser("u-1")); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("recovered %v, want the fn's panic", p)
			}
		}()
		db.UpdateUser(ctx, "u-1", func(u *ticketview.User) error { u.Name = "Not saved"; panic("boom") })
	}()
	u, err := db.FindUser(ctx, "u-1")
	if err != nil || u.Name != storetest.SampleUser("u-1").Name {
		t.Fatalf("after a panicking fn: %+v, %v", u, err)
	}
	if _, err := db.UpdateUser(ctx, "u-1", func(u *ticketview.User) error { u.Name = "Saved"; return nil }); err != nil {
		t.Fatalf("the committer after a panicking fn: %v", err)
	}
}

// TestAccountQueriesUseIndexes: the lookups and listings of accounts, sessions and events
// by the new filters are answered from indexes (text search aside, which reads the rows
// of its order).
func TestAccountQueriesUseIndexes(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	for _, f := range []ticketview.UserFilter{{}, {Role: ticketview.RoleAdmin}} {
		if _, _, err := db.ListUsers(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []ticketview.EventFilter{{Genre: "x"}, {City: "x"}, {Organizer: "x"}} {
		if _, _, err := db.ListEvents(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	queries := []string{qUser, qUserByEmail, qIdentity, qUserTaken, qEmailTaken, qFamily, qToken, qRevokeFamily,
		qRevokeUser, qPageVenues}
	db.readStmts.Range(func(q, _ any) bool {
		s := q.(string)
		if strings.Contains(s, "FROM users WHERE role") || strings.Contains(s, "FROM users ORDER") ||
			strings.Contains(s, "WHERE genre") || strings.Contains(s, "WHERE city") || strings.Contains(s, "WHERE organizer") {
			queries = append(queries, s)
		}
		return true
	})
	if len(queries) < 10+3+3*2 { // the fixed ones, users by role (count and page) and in order, events by each filter
		t.Fatalf("only %d query shapes", len(queries))
	}
	for _, q := range queries {
		args := make([]any, strings.Count(q, "?"))
		for i := range args {
			args[i] = "x"
		}
		plan := explain(t, db.reader, "EXPLAIN QUERY PLAN "+q, args...)
		if strings.Contains(plan, "SCAN") && !strings.Contains(plan, "USING INDEX") && !strings.Contains(plan, "COVERING INDEX") ||
			strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("query scans a table or sorts:\n %s\n plan: %s", q, plan)
		}
	}
}

func explain(t *testing.T, db *sql.DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.Query(q, args...)
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

// TestAccountsMigrationFromVersion2: a database made before accounts existed (schema
// version 2, built here from the first two schema files) gets the tables on Open; its
// events keep their data, and their genre, city and organizer (in their JSON: builds
// with the new domain wrote them before the columns existed) become filterable.
func TestAccountsMigrationFromVersion2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tv.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	e := storetest.SampleEvent("gig-1", "hall-1", storetest.BaseTime)
	e.Genre, e.City, e.OrganizerID = "music", "Pune", "org-1"
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
		applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))`}
	for v, name := range []string{"0001_init.sql", "0002_maps_details_audit.sql"} {
		body, err := schemaFS.ReadFile("schema/" + name)
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(body), fmt.Sprintf(`INSERT INTO schema_migrations (version, name) VALUES (%d, '%s')`, v+1, name))
	}
	for _, q := range stmts {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := raw.Exec(`INSERT INTO events (id, venue_id, status, starts_at, name, search, data) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.VenueID, string(e.Status), e.StartsAt.UnixNano(), e.Name, "concert", string(data)); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db, err := Open(path)
	if err != nil {
		t.Fatalf("open a version-2 database: %v", err)
	}
	defer db.Close()
	ctx := testCtx(t)
	got, err := db.FindEvent(ctx, "gig-1")
	if err != nil {
		t.Fatal(err)
	}
	if g, w := *got, *e; g.Genre != w.Genre || g.City != w.City || g.OrganizerID != w.OrganizerID || g.Name != w.Name {
		t.Fatalf("event after the migration: %+v, want %+v", g, w)
	}
	list, total, err := db.ListEvents(ctx, ticketview.EventFilter{Genre: "music", City: "PUNE", Organizer: "org-1"})
	if err != nil || total != 1 || len(list) != 1 {
		t.Fatalf("listing a migrated event by its new fields: %d of %d, %v", len(list), total, err)
	}
	if err := db.CreateUser(ctx, storetest.SampleUser("u-1")); err != nil {
		t.Fatalf("CreateUser after the migration: %v", err)
	}
}
