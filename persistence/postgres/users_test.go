package postgres_test

import (
	"errors"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/internal/testutil/pgtest"
	"github.com/ticketview/ticketview/persistence/postgres"
	"github.com/ticketview/ticketview/persistence/storetest"
)

func TestUsers(t *testing.T) {
	t.Parallel()
	storetest.TestUsers(t, func(t *testing.T) ticketview.UserStore { return openTest(t) })
}

func TestSessions(t *testing.T) {
	t.Parallel()
	storetest.TestSessions(t, func(t *testing.T) ticketview.SessionStore { return openTest(t) })
}

// TestUserRoleCheck: the database itself takes only the domain's roles.
func TestUserRoleCheck(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := testCtx(t)
	insert := `INSERT INTO users (id, email, role) VALUES ($1, $2, $3)`
	for _, role := range []string{"customer", "organizer", "admin"} {
		if _, err := db.Pool().Exec(ctx, insert, role, role+"@example.com", role); err != nil {
			t.Fatalf("role %s: %v", role, err)
		}
	}
	_, err := db.Pool().Exec(ctx, insert, "b", "b@example.com", "buyer")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23514" || pe.ConstraintName != "users_role_check" {
		t.Fatalf("role buyer: %v, want a check violation of users_role_check", err)
	}
	// A row written without the store (no exact times) reads back with zero times.
	u, err := db.FindUser(ctx, "admin")
	if err != nil || u.Role != ticketview.RoleAdmin || !u.CreatedAt.IsZero() || u.PasswordHash != "" {
		t.Fatalf("FindUser of a raw row: %+v, %v", u, err)
	}
}

// TestAccountsMigrationFromVersion1: a schema at version 1 (made here from 0001_init.sql)
// with a 'buyer' account and an event migrates on Open: the buyer is a customer, the event
// reads back with the new fields zero, and both stores work on the migrated schema.
func TestAccountsMigrationFromVersion1(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	url := pgtest.URL(t)
	body, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	e := storetest.SampleEvent("gig-1", "hall-1", storetest.BaseTime)
	for _, q := range []string{
		string(body),
		`CREATE TABLE schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
		`INSERT INTO schema_migrations (version, name) VALUES (1, '0001_init.sql')`,
		`INSERT INTO users (id, email, password_hash, name) VALUES ('old', 'old@example.com', 'x', 'Old Buyer')`,
		`INSERT INTO events (id, venue_id, name, currency, status, starts_at, starts_at_ns, search)
			VALUES ('gig-1', 'hall-1', 'Concert gig-1', 'INR', 'draft', now(), 0, 'concert')`,
	} {
		if _, err := conn.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	var role string
	if err := conn.QueryRow(ctx, `SELECT role FROM users WHERE id = 'old'`).Scan(&role); err != nil || role != "buyer" {
		t.Fatalf("version 1 default role %q, %v; want buyer", role, err)
	}

	db := openURL(t, url, postgres.Options{})
	var v int
	if err := conn.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil || v != postgres.SchemaVersion() || v < 2 {
		t.Fatalf("schema version %d, %v; want %d", v, err, postgres.SchemaVersion())
	}
	u, err := db.FindUser(ctx, "old")
	if err != nil || u.Role != ticketview.RoleCustomer || u.Name != "Old Buyer" {
		t.Fatalf("the version-1 account after the migration: %+v, %v", u, err)
	}
	got, err := db.FindEvent(ctx, "gig-1")
	if err != nil || got.OrganizerID != "" || got.Genre != "" || got.City != "" || !got.SalesStart.IsZero() || !got.PublishedAt.IsZero() {
		t.Fatalf("the version-1 event after the migration: %+v, %v", got, err)
	}
	e.ID, e.Genre, e.City = "gig-2", "music", "Pune"
	if err := db.CreateEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	if _, total, err := db.ListEvents(ctx, ticketview.EventFilter{Genre: "music", City: "pune"}); err != nil || total != 1 {
		t.Fatalf("filtering on the migrated schema: %d, %v", total, err)
	}
	if err := db.CreateUser(ctx, storetest.SampleUser("new")); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateRefreshToken(ctx, storetest.SampleRefreshToken("t", "f", "new")); err != nil {
		t.Fatal(err)
	}
}
