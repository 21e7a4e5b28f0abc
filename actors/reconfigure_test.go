package actors

import (
	"context"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	protocluster "github.com/asynkron/protoactor-go/cluster"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/cluster"
)

// setPrices changes the event's prices in the catalog, as an organizer's edit does.
func setPrices(t testing.TB, e *env, general, vip int64) {
	t.Helper()
	_, err := e.db.UpdateEvent(context.Background(), testEvent, func(ev *ticketview.Event) error {
		ev.Categories[0].Price, ev.Categories[1].Price = general, vip
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mustHold(t testing.TB, eng *Engine, cmd ticketview.HoldCommand) ticketview.Hold {
	t.Helper()
	h, err := eng.Hold(context.Background(), cmd)
	if err != nil {
		t.Fatalf("hold %+v: %v", cmd, err)
	}
	return h
}

func wantTotal(t testing.TB, what string, h ticketview.Hold, total int64) {
	t.Helper()
	if h.Total.Amount != total {
		t.Fatalf("%s: total %d, want %d: %+v", what, h.Total.Amount, total, h)
	}
}

// TestReconfigureRepricesActiveSections: a price change in the catalog reaches the active
// section actors through Reconfigure; holds made before keep their prices, before and
// after a restart, and a restarted engine prices new holds with the new categories.
func TestReconfigureRepricesActiveSections(t *testing.T) {
	e := newEnv(t, 100, 50)
	ctx := context.Background()
	old := mustHold(t, e.eng, ticketview.HoldCommand{Section: sid("stalls"), Owner: "al", Seats: []string{"A-1", "A-2"}})
	oldGA := mustHold(t, e.eng, ticketview.HoldCommand{Section: sid("floor"), Owner: "al", Quantity: 3})
	wantTotal(t, "hold before the change", old, 2000)
	wantTotal(t, "GA hold before the change", oldGA, 3000)

	setPrices(t, e, 1500, 7000)
	// Until told, the active actors sell on the categories they activated with.
	stale := mustHold(t, e.eng, ticketview.HoldCommand{Section: sid("stalls"), Owner: "bo", Seats: []string{"B-1"}})
	wantTotal(t, "hold before Reconfigure", stale, 1000)

	n, err := e.eng.Reconfigure(ctx, testEvent)
	if err != nil || n != 3 { // Start activated every section of the event (its buyer ledger)
		t.Fatalf("Reconfigure: %d sections, %v; want 3", n, err)
	}
	wantTotal(t, "hold after the change", mustHold(t, e.eng, ticketview.HoldCommand{Section: sid("stalls"), Owner: "cy", Seats: []string{"C-1"}}), 1500)
	wantTotal(t, "VIP hold after the change", mustHold(t, e.eng, ticketview.HoldCommand{Section: sid("circle"), Owner: "cy", Seats: []string{"A-1"}}), 7000)
	wantTotal(t, "GA hold after the change", mustHold(t, e.eng, ticketview.HoldCommand{Section: sid("floor"), Owner: "cy", Quantity: 2}), 3000)
	for _, h := range []ticketview.Hold{old, oldGA, stale} {
		got, err := e.eng.FindHold(ctx, ticketview.SectionID{Event: h.Event, Section: h.Section}, h.Token, h.Owner)
		if err != nil || got.Total != h.Total {
			t.Fatalf("hold %s after the change: %+v, %v; want total %+v", h.Token, got, err, h.Total)
		}
	}
	b, err := e.eng.Confirm(ctx, sid("stalls"), old.Token, "al", "pay-1", "")
	if err != nil || b.Total != old.Total {
		t.Fatalf("booking of the hold before the change: %+v, %v", b, err)
	}
	for _, c := range avail(t, e.eng, "circle").Categories {
		if c.Code == "VIP" && c.Price != 7000 {
			t.Fatalf("VIP availability after the change %+v", c)
		}
	}

	// Other events' sections are not touched.
	if n, err := e.eng.Reconfigure(ctx, "no-such-event"); err != nil || n != 0 {
		t.Fatalf("Reconfigure of an event without active sections: %d, %v", n, err)
	}

	// Recovery: the journal keeps each hold's prices; the catalog gives the new ones.
	e.restart(t)
	if got, err := e.eng.FindHold(ctx, sid("stalls"), stale.Token, "bo"); err != nil || got.Total.Amount != 1000 {
		t.Fatalf("hold before the change, after a restart: %+v, %v", got, err)
	}
	if got, err := e.eng.FindBooking(ctx, sid("stalls"), b.ID, "al"); err != nil || got.Total.Amount != 2000 {
		t.Fatalf("booking before the change, after a restart: %+v, %v", got, err)
	}
	wantTotal(t, "hold after a restart", mustHold(t, e.eng, ticketview.HoldCommand{Section: sid("stalls"), Owner: "di", Seats: []string{"D-1"}}), 1500)
}

// TestReconfigureRefusesOtherCodes: categories whose codes differ from the sections' are
// refused (EINVALID) and the sections keep selling at their prices.
func TestReconfigureRefusesOtherCodes(t *testing.T) {
	e := newEnv(t, 100, 50)
	ctx := context.Background()
	_, err := e.db.UpdateEvent(ctx, testEvent, func(ev *ticketview.Event) error {
		ev.Categories = append(ev.Categories, ticketview.PriceCategory{Code: "Box", Name: "Box", Price: 9000})
		ev.Categories[0].Price = 1500
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.eng.Reconfigure(ctx, testEvent)
	wantCode(t, err, ticketview.EINVALID)
	if n != 0 {
		t.Fatalf("Reconfigure with other codes updated %d sections", n)
	}
	wantTotal(t, "hold after a refused change", mustHold(t, e.eng, ticketview.HoldCommand{Section: sid("stalls"), Owner: "al", Seats: []string{"A-1"}}), 1000)
}

// TestReconfigureGrains: a clustered engine reprices the section grains active on it, and
// forgets a grain once it stops.
func TestReconfigureGrains(t *testing.T) {
	e := newEnv(t, 100, 50)
	e.eng.Close()
	sys := actor.NewActorSystem(actor.WithLoggerFactory(quietLogger))
	t.Cleanup(sys.Shutdown)
	eng, err := NewEngine(Config{Store: e.store, Events: e.db, Venues: e.db, Clustered: true, System: sys})
	if err != nil {
		t.Fatal(err)
	}
	e.eng = eng // closed by the env
	ctx := context.Background()
	pid := sys.Root.Spawn(eng.SectionProps())
	sys.Root.Send(pid, &protocluster.ClusterInit{Identity: protocluster.NewClusterIdentity(cluster.Identity(sid("stalls")), cluster.SectionKind)})
	hold := func(owner, seat string) ticketview.Hold {
		t.Helper()
		c := newHoldCmd(ticketview.HoldCommand{Section: sid("stalls"), Owner: owner, Seats: []string{seat}}, newID("hold_"), nil, 0)
		c.done = make(chan result, 1)
		sys.Root.Send(pid, c)
		select {
		case r := <-c.done:
			if r.err != nil {
				t.Fatalf("grain hold: %v", r.err)
			}
			return c.held
		case <-time.After(10 * time.Second):
			t.Fatal("the grain did not answer")
		}
		return ticketview.Hold{}
	}
	old := hold("al", "A-1")
	wantTotal(t, "grain hold before the change", old, 1000)
	setPrices(t, e, 1500, 7000)
	if n, err := eng.Reconfigure(ctx, testEvent); err != nil || n != 1 {
		t.Fatalf("Reconfigure of the grains: %d, %v; want 1", n, err)
	}
	wantTotal(t, "grain hold after the change", hold("bo", "A-2"), 1500)

	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	// A stopped grain is forgotten (its Stopped runs before the stop is reported).
	if n, err := eng.Reconfigure(ctx, testEvent); err != nil || n != 0 {
		t.Fatalf("Reconfigure after the grain stopped: %d, %v; want 0", n, err)
	}
}
