package actors

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/inmem"
	"github.com/ticketview/ticketview/internal/testutil"
)

// switchableCache is the real in-memory cache behind a switch that makes it fail as a
// Redis that is down does.
type switchableCache struct {
	ticketview.AvailabilityCache
	down atomic.Bool
}

func (c *switchableCache) err() error {
	if c.down.Load() {
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "cache down")
	}
	return nil
}

func (c *switchableCache) PutAvailability(ctx context.Context, a ticketview.Availability) error {
	if err := c.err(); err != nil {
		return err
	}
	return c.AvailabilityCache.PutAvailability(ctx, a)
}

func (c *switchableCache) ApplyDeltas(ctx context.Context, ds []ticketview.SeatDelta) ([]ticketview.SectionID, error) {
	if err := c.err(); err != nil {
		return nil, err
	}
	return c.AvailabilityCache.ApplyDeltas(ctx, ds)
}

// sameView checks that the cached availability of a section is the engine's, seat by seat.
func sameView(e *env, cache ticketview.AvailabilityCache, section string) error {
	ctx := context.Background()
	want, err := e.eng.Availability(ctx, sid(section), true)
	if err != nil {
		return err
	}
	got, err := cache.CachedAvailability(ctx, sid(section), true)
	if err != nil {
		return fmt.Errorf("%s: %v", section, err)
	}
	if got.Seq != want.Seq || got.Free != want.Free || got.Held != want.Held || got.Sold != want.Sold || got.Capacity != want.Capacity {
		return fmt.Errorf("%s: cache seq %d free %d held %d sold %d, engine seq %d free %d held %d sold %d",
			section, got.Seq, got.Free, got.Held, got.Sold, want.Seq, want.Free, want.Held, want.Sold)
	}
	if !reflect.DeepEqual(got.Categories, want.Categories) {
		return fmt.Errorf("%s: categories %+v, engine %+v", section, got.Categories, want.Categories)
	}
	if len(got.Seats) != len(want.Seats) {
		return fmt.Errorf("%s: %d seats cached, engine has %d", section, len(got.Seats), len(want.Seats))
	}
	for i := range want.Seats {
		if got.Seats[i] != want.Seats[i] {
			return fmt.Errorf("%s: seat %d cached %+v, engine %+v", section, i, got.Seats[i], want.Seats[i])
		}
	}
	return nil
}

func churn(t *testing.T, e *env, buyers int, tag string) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := ticketview.HoldCommand{Section: sid("stalls"), Owner: fmt.Sprint(tag, i), BestAvailable: true, Quantity: 1}
			if i%3 == 0 {
				cmd = ticketview.HoldCommand{Section: sid("floor"), Owner: fmt.Sprint(tag, i), Quantity: 2}
			}
			h, err := e.eng.Hold(ctx, cmd)
			if err != nil {
				return
			}
			switch i % 4 {
			case 0:
				_ = e.eng.Release(ctx, cmd.Section, h.Token, h.Owner, "")
			case 1:
				_, _ = e.eng.Confirm(ctx, cmd.Section, h.Token, h.Owner, "pay-"+h.Token, "")
			}
		}()
	}
	wg.Wait()
}

// The keeper keeps the cache equal to the engine through a run of holds, releases and
// sales; when the cache goes down, bookings go on, and the views are rebuilt when it
// comes back.
func TestViewKeeperFollowsTheEngineAndRefillsAfterAnOutage(t *testing.T) {
	e := newEnv(t, 500, 100)
	cache := &switchableCache{AvailabilityCache: inmem.NewAvailabilityCache()}
	e.eng.Close()
	var keeper *ViewKeeper
	e.startWith(t, e.store, func(c *Config) {
		keeper = NewViewKeeper(cache, func(ctx context.Context, id ticketview.SectionID) (ticketview.Availability, error) {
			return e.eng.Availability(ctx, id, true)
		}, nil)
		c.Deltas = DeltaFanout{e.bus, keeper}
	})
	t.Cleanup(keeper.Close)

	churn(t, e, 120, "a")
	for _, s := range []string{"stalls", "floor"} {
		testutil.CheckFor(t, 5*time.Second, func() error { return sameView(e, cache, s) })
	}
	if st := keeper.Stats(); st.Applied == 0 || st.Refills < 2 {
		t.Fatalf("keeper stats %+v: want deltas applied and one refill per section (its first delta finds no view)", st)
	}

	cache.down.Store(true)
	churn(t, e, 60, "b") // bookings do not need the cache
	testutil.CheckFor(t, 5*time.Second, func() error {
		if st := keeper.Stats(); st.Failures == 0 || st.Dirty == 0 {
			return fmt.Errorf("keeper has not noticed the outage: %+v", st)
		}
		return nil
	})
	if err := sameView(e, cache, "stalls"); err == nil {
		t.Fatal("the cache followed the engine while down")
	}
	cache.down.Store(false)
	for _, s := range []string{"stalls", "floor"} {
		testutil.CheckFor(t, 5*time.Second, func() error { return sameView(e, cache, s) })
	}
	if st := keeper.Stats(); st.Dirty != 0 {
		t.Fatalf("sections still dirty after the refill: %+v", st)
	}
}

// switchableAudit is the real SQLite audit log behind a switch that makes it fail.
type switchableAudit struct {
	ticketview.AuditLog
	down atomic.Bool
}

func (a *switchableAudit) AppendAudit(ctx context.Context, es []ticketview.AuditEntry) error {
	if a.down.Load() {
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "audit log down")
	}
	return a.AuditLog.AppendAudit(ctx, es)
}

// Every change of a run reaches the audit log exactly once, in order, with its seat
// labels, also when the log was down for part of the run.
func TestAuditFeederRecordsEveryChangeOnce(t *testing.T) {
	e := newEnv(t, 500, 100)
	audit := &switchableAudit{AuditLog: e.db}
	e.eng.Close()
	var feeder *AuditFeeder
	e.startWith(t, e.store, func(c *Config) {
		feeder = NewAuditFeeder(audit, nil)
		c.Publisher = EventFanout{e.bus, feeder}
	})
	t.Cleanup(func() { feeder.Close(context.Background()) })

	churn(t, e, 60, "a")
	audit.down.Store(true)
	churn(t, e, 60, "b")
	testutil.CheckFor(t, 5*time.Second, func() error {
		if feeder.Stats().Failures == 0 {
			return fmt.Errorf("no failed write yet")
		}
		return nil
	})
	audit.down.Store(false)

	ctx := context.Background()
	for _, s := range []string{"stalls", "floor"} {
		want := avail(t, e.eng, s).Seq
		var got []ticketview.AuditEntry
		testutil.CheckFor(t, 10*time.Second, func() error {
			var err error
			got, err = e.db.AuditTrail(ctx, ticketview.AuditFilter{Event: testEvent, Section: s, Limit: 1000})
			if err != nil {
				return err
			}
			if uint64(len(got)) != want {
				return fmt.Errorf("%s: %d audit entries, want %d", s, len(got), want)
			}
			return nil
		})
		for i, en := range got {
			if en.Seq != uint64(i+1) {
				t.Fatalf("%s: entry %d has seq %d", s, i, en.Seq)
			}
			if s == "stalls" && en.Type == ticketview.EvHoldPlaced && (len(en.Seats) != 1 || en.Seats[0] == "") {
				t.Fatalf("%s: hold without its seat label: %+v", s, en)
			}
		}
	}
	if st := feeder.Stats(); st.Dropped != 0 || st.Queued != 0 {
		t.Fatalf("feeder stats %+v", st)
	}
}

// Snapshots the actor stores are put in the snapshot cache too, and restore to the state
// the engine had at their seq.
func TestSnapshotsAlsoGoToTheCache(t *testing.T) {
	e := newEnv(t, 500, 100)
	cache := inmem.NewSnapshotCache()
	e.eng.Close()
	e.startWith(t, e.store, func(c *Config) { c.Snapshots = cache })
	churn(t, e, 120, "a")
	var snap *ticketview.SectionSnapshot
	testutil.CheckFor(t, 5*time.Second, func() error {
		var err error
		snap, err = cache.CachedSnapshot(context.Background(), sid("stalls"))
		return err
	})
	if snap.Seq == 0 || snap.Seq > avail(t, e.eng, "stalls").Seq {
		t.Fatalf("cached snapshot at seq %d, section at %d", snap.Seq, avail(t, e.eng, "stalls").Seq)
	}
}
