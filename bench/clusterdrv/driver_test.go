package clusterdrv_test

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/actors"
	"github.com/ticketview/ticketview/bench/clusterdrv"
	"github.com/ticketview/ticketview/bench/load"
	"github.com/ticketview/ticketview/persistence/journalfile"
	"github.com/ticketview/ticketview/persistence/sqlite"
)

// localEngine opens an engine in this process on embedded storage in dir (seeded with
// Catalog's venue and event of l when seed is set) and returns it with its closer.
func localEngine(t *testing.T, ctx context.Context, dir string, l load.Layout, seed bool) (*actors.Engine, func()) {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(dir, "tv.db"))
	if err != nil {
		t.Fatal(err)
	}
	jf, err := journalfile.Open(filepath.Join(dir, "journal"))
	if err != nil {
		_ = db.Close()
		t.Fatal(err)
	}
	var eng *actors.Engine
	closed := false
	closeAll := func() {
		if closed {
			return
		}
		closed = true
		if eng != nil {
			if err := eng.Close(); err != nil {
				t.Errorf("closing the engine: %v", err)
			}
		}
		if err := jf.Close(); err != nil {
			t.Errorf("closing the journal: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("closing the database: %v", err)
		}
	}
	t.Cleanup(closeAll)
	if seed {
		v, e := clusterdrv.Catalog(l, time.Now())
		if err := db.CreateVenue(ctx, v); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if eng, err = actors.NewEngine(actors.Config{Store: jf, Events: db, Venues: db}); err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return eng, closeAll
}

// TestServiceDriver drives an engine in this process through NewServiceDriver: the
// answers carry the API's status codes, the section reads show what was acknowledged,
// and a new engine on the same files (recovered from the journal) reads the same.
func TestServiceDriver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	eng, closeEngine := localEngine(t, ctx, dir, layout, true)
	d := clusterdrv.NewServiceDriver(eng, layout.Event)
	defer d.Close()

	av, err := d.Section(ctx, "seated")
	if err != nil {
		t.Fatal(err)
	}
	if av.Capacity != 50 || av.Free != 50 || len(av.Seats) != 50 || av.Seats[49].Label != load.SeatLabel(4, 9) {
		t.Fatalf("fresh seated section: %+v", counts(av))
	}

	picked := []string{"A-1", "A-2"}
	h, st := d.Hold(ctx, "alice", "seated", load.HoldRequest{Seats: picked, Quantity: 2, TTLSeconds: 120})
	if st.Code != http.StatusCreated || st.Err != nil {
		t.Fatalf("hold: %+v", st)
	}
	if h.Token == "" || h.Owner != "alice" || h.Section != "seated" || h.Quantity != 2 || !slices.Equal(sorted(h.Seats()), picked) {
		t.Fatalf("hold: %+v", h)
	}
	if left := time.Until(h.ExpiresAt); left <= 0 || left > 121*time.Second {
		t.Errorf("hold expires in %v with a TTL of 120s", left)
	}
	if _, st = d.Hold(ctx, "bob", "seated", load.HoldRequest{Seats: []string{"A-2", "A-3"}}); !st.Conflict() || ticketview.ErrorCode(st.Err) != ticketview.ESEATTAKEN {
		t.Fatalf("overlapping pick: %+v", st)
	}
	b, st := d.Confirm(ctx, "alice", "seated", h.Token)
	if st.Code != http.StatusCreated || b.HoldToken != h.Token || b.Quantity != 2 || b.Status != "confirmed" {
		t.Fatalf("confirm: %+v %+v", b, st)
	}
	best, st := d.Hold(ctx, "dave", "seated", load.HoldRequest{BestAvailable: true, Quantity: 3})
	if st.Code != http.StatusCreated || len(best.Seats()) != 3 {
		t.Fatalf("best available: %+v %+v", best, st)
	}
	if st = d.Release(ctx, "dave", "seated", best.Token); st.Code != http.StatusNoContent {
		t.Fatalf("release: %+v", st)
	}
	ga, st := d.Hold(ctx, "erin", "ga", load.HoldRequest{Quantity: 4})
	if st.Code != http.StatusCreated || ga.Quantity != 4 || len(ga.Items) != 1 || ga.Items[0].Quantity != 4 {
		t.Fatalf("GA hold: %+v %+v", ga, st)
	}
	if _, st = d.Hold(ctx, "frank", "ga", load.HoldRequest{Quantity: 17}); !st.Conflict() || ticketview.ErrorCode(st.Err) != ticketview.ESOLDOUT {
		t.Fatalf("GA hold beyond what is left: %+v", st)
	}

	// Bad input, unknown sections, and another event than the driver's.
	if _, st = d.Hold(ctx, "gina", "seated", load.HoldRequest{}); st.Code != http.StatusBadRequest {
		t.Fatalf("empty hold: %+v", st)
	}
	if _, st = d.Hold(ctx, "gina", "nowhere", load.HoldRequest{Quantity: 1}); st.Code != http.StatusNotFound {
		t.Fatalf("hold in an unknown section: %+v", st)
	}
	if _, err := clusterdrv.NewServiceDriver(eng, "other-event").Section(ctx, "seated"); ticketview.ErrorCode(err) != ticketview.ENOTFOUND {
		t.Fatalf("section of another event: %v", err)
	}

	want := map[string]load.Availability{
		"seated": {Section: "seated", Capacity: 50, Free: 48, Sold: 2},
		"ga":     {Section: "ga", Capacity: 20, Free: 16, Held: 4},
	}
	check := func(d load.Driver, when string) {
		t.Helper()
		for id, w := range want {
			got, err := d.Section(ctx, id)
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if got.Section != w.Section || got.Capacity != w.Capacity || got.Free != w.Free || got.Held != w.Held || got.Sold != w.Sold {
				t.Fatalf("%s: section %s %+v, want %+v", when, id, counts(got), w)
			}
		}
	}
	check(d, "before the restart")

	// A new engine on the same files recovers the same sections from the journal.
	closeEngine()
	eng2, _ := localEngine(t, ctx, dir, layout, false)
	check(clusterdrv.NewServiceDriver(eng2, layout.Event), "after the restart")
}
