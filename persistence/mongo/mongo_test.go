package mongo_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/internal/testutil"
	"github.com/ticketview/ticketview/internal/testutil/ferret"
	"github.com/ticketview/ticketview/internal/testutil/tcpproxy"
	"github.com/ticketview/ticketview/persistence/mongo"
	"github.com/ticketview/ticketview/persistence/storetest"
)

var (
	runStamp = time.Now().UnixNano() % (1 << 32)
	dbSeq    atomic.Int64
)

// dbName is a database name no other test of this run uses (FerretDB allows
// [a-zA-Z0-9_-]{1,63}).
func dbName() string { return fmt.Sprintf("tv_%x_%d", runStamp, dbSeq.Add(1)) }

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openStore opens a Store on a database of its own, dropped when the test ends.
func openStore(t testing.TB, uri string) *mongo.Store {
	t.Helper()
	ctx := testCtx(t)
	s, err := mongo.Open(ctx, uri, dbName())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Drop(ctx)
		s.Close(ctx)
	})
	return s
}

func TestSeatMapStore(t *testing.T) {
	t.Parallel()
	storetest.TestSeatMapStore(t, func(t *testing.T) ticketview.SeatMapStore { return openStore(t, ferret.URI(t)) })
}

func TestEventDetailsStore(t *testing.T) {
	t.Parallel()
	storetest.TestEventDetailsStore(t, func(t *testing.T) ticketview.EventDetailsStore { return openStore(t, ferret.URI(t)) })
}

func TestAuditLog(t *testing.T) {
	t.Parallel()
	storetest.TestAuditLog(t, func(t *testing.T) ticketview.AuditLog { return openStore(t, ferret.URI(t)) })
}

// TestOpenAgain: opening a database whose indexes exist changes nothing and keeps the
// data; the indexes the queries rely on are there, the audit's key unique.
func TestOpenAgain(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	uri, name := ferret.URI(t), dbName()
	s, err := mongo.Open(ctx, uri, name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	defer s.Drop(ctx)
	id := ticketview.SectionID{Event: "gig-1", Section: "A"}
	if err := s.AppendAudit(ctx, storetest.SampleAuditEntries(id, 1, 3, storetest.BaseTime)); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		again, err := mongo.Open(ctx, uri, name)
		if err != nil {
			t.Fatalf("Open %d of an existing database: %v", i+2, err)
		}
		got, err := again.AuditTrail(ctx, ticketview.AuditFilter{Event: "gig-1"})
		if err != nil || len(got) != 3 {
			t.Fatalf("after Open %d: %d entries, %v; want 3", i+2, len(got), err)
		}
		again.Close(ctx)
	}
	for coll, want := range map[string]map[string]bool{ // index name -> unique
		"seat_maps":     {"venue_version": true},
		"event_details": {"tags": false, "performers_name": false},
		"audit":         {"event_section_seq": true, "event_seats_at": false, "event_owner_at": false},
	} {
		specs, err := s.IndexSpecs(ctx, coll)
		if err != nil {
			t.Fatal(err)
		}
		for name, unique := range want {
			spec, ok := specs[name]
			if !ok {
				t.Fatalf("%s: no index %s (have %v)", coll, name, specs)
			}
			if u, _ := spec["unique"].(bool); u != unique {
				t.Fatalf("%s: index %s unique=%v, want %v", coll, name, u, unique)
			}
		}
	}
}

func TestOpenInvalid(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	if _, err := mongo.Open(ctx, ferret.URI(t), ""); ticketview.ErrorCode(err) != ticketview.EINVALID {
		t.Fatalf("Open without a database name: %v, want EINVALID", err)
	}
	if _, err := mongo.Open(ctx, "postgres://localhost/x", "db"); ticketview.ErrorCode(err) != ticketview.EINVALID {
		t.Fatalf("Open with a bad URI: %v, want EINVALID", err)
	}
}

// TestOpenUnreachable: Open fails fast with EUNAVAILABLE when nothing listens.
func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	_, err = mongo.Open(context.Background(), "mongodb://"+addr+"/", dbName())
	wantUnavailable(t, "Open with nothing listening", err, start)
}

// wantUnavailable checks that err is an EUNAVAILABLE *ticketview.Error from the adapter
// that came within a few seconds of start.
func wantUnavailable(t *testing.T, what string, err error, start time.Time) {
	t.Helper()
	took := time.Since(start)
	var e *ticketview.Error
	if !errors.As(err, &e) || e.Code != ticketview.EUNAVAILABLE || !strings.HasPrefix(e.Message, "mongo: unavailable: ") {
		t.Fatalf("%s: %v (%T), want a *ticketview.Error with code %s and a message starting with %q", what, err, err, ticketview.EUNAVAILABLE, "mongo: unavailable: ")
	}
	if took > 6*time.Second {
		t.Fatalf("%s: failed after %s, want within a few seconds", what, took)
	}
	t.Logf("%s: failed in %s: %v", what, took.Round(time.Millisecond), err)
}

// TestServerDownAndBack puts a TCP proxy between the store and FerretDB. With the proxy
// down (connections cut, new ones refused) every call fails within a few seconds with
// EUNAVAILABLE; once it is up the same Store works again and nothing acknowledged is lost.
func TestServerDownAndBack(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(ferret.URI(t))
	if err != nil {
		t.Fatal(err)
	}
	p := tcpproxy.New(t, u.Host)
	u.Host = p.Addr()
	s := openStore(t, u.String())
	ctx := testCtx(t)

	id := ticketview.SectionID{Event: "gig-1", Section: "A"}
	m := storetest.SampleSeatMap("hall-1")
	if err := s.PutSeatMap(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := s.PutEventDetails(ctx, storetest.SampleEventDetails("gig-1")); err != nil {
		t.Fatal(err)
	}
	entries := storetest.SampleAuditEntries(id, 1, 20, storetest.BaseTime)
	if err := s.AppendAudit(ctx, entries[:10]); err != nil {
		t.Fatal(err)
	}

	calls := map[string]func(context.Context) error{
		"PutSeatMap": func(ctx context.Context) error { return s.PutSeatMap(ctx, storetest.SampleSeatMap("hall-1")) },
		"FindSeatMap": func(ctx context.Context) error {
			_, err := s.FindSeatMap(ctx, "hall-1")
			return err
		},
		"PutEventDetails": func(ctx context.Context) error {
			return s.PutEventDetails(ctx, storetest.SampleEventDetails("gig-2"))
		},
		"FindEventDetails": func(ctx context.Context) error {
			_, err := s.FindEventDetails(ctx, "gig-1")
			return err
		},
		"SearchEventDetails": func(ctx context.Context) error {
			_, err := s.SearchEventDetails(ctx, ticketview.DetailsFilter{Tag: "jazz"})
			return err
		},
		"AppendAudit": func(ctx context.Context) error { return s.AppendAudit(ctx, entries[5:]) },
		"AuditTrail": func(ctx context.Context) error {
			_, err := s.AuditTrail(ctx, ticketview.AuditFilter{Event: "gig-1", Seat: "R-1"})
			return err
		},
	}

	p.Down()
	errs := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for name, call := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// No deadline from the caller: the store's own timeouts must end the call.
			err := call(context.Background())
			mu.Lock()
			errs[name] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	for name, err := range errs {
		wantUnavailable(t, name+" with the server down", err, start)
	}

	p.Up()
	testutil.CheckFor(t, 20*time.Second, func() error { return calls["FindSeatMap"](ctx) })
	for name, call := range calls {
		if err := call(ctx); err != nil {
			t.Fatalf("%s after the server came back: %v", name, err)
		}
	}
	got, err := s.FindSeatMap(ctx, "hall-1")
	if err != nil || got.Version < 2 {
		t.Fatalf("seat map after the outage: %+v, %v; want version 2 or more", got, err)
	}
	trail, err := s.AuditTrail(ctx, ticketview.AuditFilter{Event: "gig-1", Limit: 1000})
	if err != nil || len(trail) != 20 {
		t.Fatalf("audit after the outage and a redelivery: %d entries, %v; want 20, each once", len(trail), err)
	}
	for i, e := range trail {
		if e.Seq != uint64(i+1) {
			t.Fatalf("audit entry %d has seq %d", i, e.Seq)
		}
	}
}

// TestSeatMapVersionsStay: the versions a Put replaced stay as stubs without the map, so
// that no later Put can take their number again; only the highest is a whole map.
func TestSeatMapVersionsStay(t *testing.T) {
	t.Parallel()
	s := openStore(t, ferret.URI(t))
	ctx := testCtx(t)
	for range 3 {
		if err := s.PutSeatMap(ctx, storetest.SampleSeatMap("hall-1")); err != nil {
			t.Fatal(err)
		}
	}
	docs, err := s.SeatMapDocs(ctx, "hall-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 3 {
		var ids []any
		for _, d := range docs {
			ids = append(ids, d["_id"])
		}
		t.Fatalf("%d documents for 3 versions (%v), want 3", len(docs), ids)
	}
	for i, d := range docs {
		_, hasMap := d["sections"]
		superseded, _ := d["superseded"].(bool)
		if d["_id"] != fmt.Sprintf("hall-1@%d", i+1) || d["version"] != int64(i+1) {
			t.Fatalf("document %d: _id %v, version %v", i, d["_id"], d["version"])
		}
		if last := i == 2; hasMap != last || superseded == last {
			t.Fatalf("version %d: map kept %v, superseded %v; want only the last whole", i+1, hasMap, superseded)
		}
	}
}
