package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/internal/testutil/pgtest"
	"github.com/ticketview/ticketview/persistence/postgres"
	"github.com/ticketview/ticketview/persistence/storetest"
)

type migrationRow struct {
	Version int
	Name    string
}

func appliedMigrations(t testing.TB, ctx context.Context, url string) []migrationRow {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT version, name FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[migrationRow])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wantMigrations(t testing.TB, ctx context.Context, url string) {
	t.Helper()
	got := appliedMigrations(t, ctx, url)
	n := postgres.SchemaVersion()
	if n < 2 || len(got) != n || got[0].Name != "0001_init.sql" || got[1].Name != "0002_accounts.sql" {
		t.Fatalf("schema_migrations %+v (build version %d), want every migration once, in order", got, n)
	}
	for i, m := range got {
		if m.Version != i+1 || !strings.HasPrefix(m.Name, fmt.Sprintf("%04d_", i+1)) {
			t.Fatalf("schema_migrations %+v: entry %d out of order", got, i)
		}
	}
}

// TestMigrationsConcurrentOpen: 8 nodes start at once on a fresh schema. All open, and
// every migration is applied exactly once (a second application would fail: the
// migration's CREATE TABLEs are not IF NOT EXISTS).
func TestMigrationsConcurrentOpen(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	url := pgtest.URL(t)
	const n = 8
	dbs := make([]*postgres.DB, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			dbs[i], errs[i] = postgres.Open(ctx, url, postgres.Options{MaxConns: 2})
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
		} else {
			t.Cleanup(func() { dbs[i].Close() })
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	wantMigrations(t, ctx, url)
	// They all work, on the one schema.
	id := storetest.NewSectionID()
	for i, db := range dbs {
		epoch, _, evs, err := db.Activate(ctx, id)
		if err != nil || epoch != uint64(i+1) || len(evs) != i {
			t.Fatalf("node %d: epoch %d, %d events, %v; want %d, %d", i, epoch, len(evs), err, i+1, i)
		}
		if err := db.Append(ctx, id, epoch, storetest.SampleEvents(uint64(i+1), 1, storetest.BaseTime)); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
}

// TestMigrationLockPerSchema: migrating a schema waits for its migration lock, and only
// for that schema's.
func TestMigrationLockPerSchema(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	urlA, urlB := pgtest.URL(t), pgtest.URL(t)
	conn, err := pgx.Connect(ctx, urlA)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, postgres.MigrationLock); err != nil { // schema A's lock, held
		t.Fatal(err)
	}

	// Another schema migrates meanwhile.
	if err := postgres.Migrate(ctx, urlB); err != nil {
		t.Fatalf("migrating schema B while A's lock is held: %v", err)
	}
	wantMigrations(t, ctx, urlB)

	// Schema A waits for its lock: here, until the caller gives up.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err = postgres.Migrate(short, urlA)
	if err == nil {
		t.Fatal("migrated schema A while another holder had its migration lock")
	}
	if ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("migration waiting for the lock past its deadline: %v (code %q), want EUNAVAILABLE, deadline exceeded", err, ticketview.ErrorCode(err))
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, urlA); err != nil {
		t.Fatalf("migrating schema A after the lock was released: %v", err)
	}
	if err := postgres.Migrate(ctx, urlA); err != nil { // up to date: nothing to do
		t.Fatalf("migrating an up-to-date schema: %v", err)
	}
	wantMigrations(t, ctx, urlA)
}

// TestMigrateRefusesNewerSchema: a schema migrated by a newer build is not touched.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	url := pgtest.URL(t)
	if err := postgres.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(ctx, url, postgres.Options{})
	if err == nil {
		db.Close()
		t.Fatal("opened a schema newer than this build")
	}
	if ticketview.ErrorCode(err) != ticketview.EINTERNAL || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("newer schema: %v (code %q)", err, ticketview.ErrorCode(err))
	}
}
