package baseline_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketview/ticketview/bench/baseline"
	"github.com/ticketview/ticketview/bench/load"
	"github.com/ticketview/ticketview/internal/testutil/pgtest"
	"github.com/ticketview/ticketview/internal/testutil/redistest"
)

// testLayout: a 4 x 5 seated floor, a 1 x 2 seated box, 20 general-admission places.
var testLayout = load.Layout{Event: "gig", Sections: []load.SectionLayout{
	{ID: "floor", Rows: 4, PerRow: 5, Price: 5000},
	{ID: "box", Rows: 1, PerRow: 2, Price: 9000},
	{ID: "pit", GA: true, Capacity: 20, Price: 3000},
}}

// env is a store of one kind on a fresh schema and key prefix of its own.
type env struct {
	kind  string
	store baseline.Store
	cfg   baseline.Config
}

// forEachKind runs f against a fresh store of every kind.
func forEachKind(t *testing.T, f func(t *testing.T, e env)) {
	t.Helper()
	for _, kind := range baseline.Kinds() {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			f(t, openEnv(t, kind))
		})
	}
}

// openEnv opens a store on a fresh schema (dropped when the test ends) and key prefix
// (deleted when the test ends), with testLayout set up.
func openEnv(t *testing.T, kind string) env {
	t.Helper()
	cfg := baseline.Config{
		PostgresURL: pgtest.ServerURL(),
		Schema:      "bl_" + randomHex(6),
		RedisURL:    redistest.ServerURL(),
		Prefix:      redistest.Prefix(t),
		Conns:       16,
	}
	t.Cleanup(func() { dropSchema(t, cfg.Schema) }) // runs after the store is closed
	s := openStore(t, kind, cfg)
	if err := s.Setup(testCtx(t), testLayout); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	return env{kind: kind, store: s, cfg: cfg}
}

// openStore opens a store of the kind on cfg, closing it when the test ends.
func openStore(t *testing.T, kind string, cfg baseline.Config) baseline.Store {
	t.Helper()
	s, err := baseline.Open(testCtx(t), kind, cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", kind, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func dropSchema(t *testing.T, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgtest.ServerURL())
	if err != nil {
		t.Logf("drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		t.Logf("drop schema %s: %v", schema, err)
	}
}

// bookingRows counts the rows of the schema's bookings table for the hold token.
func bookingRows(t *testing.T, schema, token string) int {
	t.Helper()
	ctx := testCtx(t)
	conn, err := pgx.Connect(ctx, pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, "bookings"}.Sanitize()+
		" WHERE hold_token = $1", token).Scan(&n); err != nil {
		t.Fatalf("count bookings: %v", err)
	}
	return n
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func pick(seats ...string) load.HoldRequest { return load.HoldRequest{Seats: seats} }
func best(n int) load.HoldRequest           { return load.HoldRequest{BestAvailable: true, Quantity: n} }
func ga(n int) load.HoldRequest             { return load.HoldRequest{Quantity: n} }

// mustHold holds or fails the test.
func mustHold(t *testing.T, s baseline.Store, buyer, section string, req load.HoldRequest) load.Hold {
	t.Helper()
	h, err := s.Hold(testCtx(t), buyer, section, req)
	if err != nil {
		t.Fatalf("%s holds %+v in %s: %v", buyer, req, section, err)
	}
	if h.Token == "" || h.Owner != buyer || h.Section != section || h.ExpiresAt.Before(time.Now()) {
		t.Fatalf("hold %+v: want a token, owner %s, section %s, a future expiry", h, buyer, section)
	}
	return h
}

// wantErr fails the test unless err is target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: %v, want %v", what, err, target)
	}
}

// read reads the section, checking its counts agree with its seats.
func read(t *testing.T, s baseline.Store, section string) (load.Availability, map[string]string) {
	t.Helper()
	a, err := s.Section(testCtx(t), section)
	if err != nil {
		t.Fatalf("Section(%s): %v", section, err)
	}
	if a.Free+a.Held+a.Sold != a.Capacity || a.Free < 0 || a.Held < 0 || a.Sold < 0 {
		t.Fatalf("section %s: free %d + held %d + sold %d != capacity %d", section, a.Free, a.Held, a.Sold, a.Capacity)
	}
	status := map[string]string{}
	if len(a.Seats) > 0 {
		counts := map[string]int{}
		for _, v := range a.Seats {
			status[v.Label] = v.Status
			counts[v.Status]++
		}
		if len(status) != a.Capacity || counts["free"] != a.Free || counts["held"] != a.Held || counts["sold"] != a.Sold {
			t.Fatalf("section %s: seats %v disagree with the counts %+v", section, counts, a)
		}
	}
	return a, status
}

// wantStatus fails the test unless the seats have the status in a section read.
func wantStatus(t *testing.T, s baseline.Store, section, status string, seats ...string) {
	t.Helper()
	_, st := read(t, s, section)
	for _, l := range seats {
		if st[l] != status {
			t.Fatalf("seat %s of %s is %q, want %q", l, section, st[l], status)
		}
	}
}

// byRank is the best-available order of a seated section's labels, computed here
// independently: front rows first, then nearest the row's centre, the lower number first.
func byRank(sl load.SectionLayout, labels []string) []string {
	type seat struct{ row, dist, n int }
	pos := map[string]seat{}
	for r := range sl.Rows {
		for n := range sl.PerRow {
			d := 2*n - (sl.PerRow - 1)
			pos[load.SeatLabel(r, n)] = seat{r, max(d, -d), n}
		}
	}
	out := slices.Clone(labels)
	slices.SortFunc(out, func(a, b string) int {
		pa, pb := pos[a], pos[b]
		return cmp.Or(cmp.Compare(pa.row, pb.row), cmp.Compare(pa.dist, pb.dist), cmp.Compare(pa.n, pb.n))
	})
	return out
}

// poll calls f until it answers true, failing the test after the deadline.
func poll(t *testing.T, what string, deadline time.Duration, f func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !f() {
		if time.Now().After(end) {
			t.Fatalf("%s: not after %v", what, deadline)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
