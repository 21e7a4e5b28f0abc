package cluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	protocluster "github.com/asynkron/protoactor-go/cluster"
	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/actors"
	"github.com/ticketview/ticketview/cluster"
	"github.com/ticketview/ticketview/demo"
	"github.com/ticketview/ticketview/internal/testutil/pgtest"
	"github.com/ticketview/ticketview/persistence/postgres"
)

// member is an in-process cluster member: a clustered engine on PostgreSQL.
type member struct {
	node *cluster.Node
	eng  *actors.Engine
}

func startMember(t *testing.T, db *postgres.DB, seeds []string, lease time.Duration) *member {
	t.Helper()
	return startMemberOn(t, db, db, seeds, lease)
}

// startMemberOn starts a member whose sections journal to store.
func startMemberOn(t *testing.T, store ticketview.SectionStore, db *postgres.DB, seeds []string, lease time.Duration) *member {
	t.Helper()
	sys := cluster.NewSystem()
	eng, err := actors.NewEngine(actors.Config{Store: store, Events: db, Venues: db, Clustered: true, System: sys, Lease: lease})
	if err != nil {
		t.Fatal(err)
	}
	n, err := cluster.StartMember(cluster.Config{System: sys, Gossip: cluster.MemberlistConfig{Seeds: seeds},
		Kinds: []*protocluster.Kind{protocluster.NewKind(cluster.SectionKind, eng.SectionProps()),
			protocluster.NewKind(cluster.LedgerKind, eng.LedgerProps())}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	eng.SetCluster(n.Client)
	m := &member{node: n, eng: eng}
	t.Cleanup(func() { m.close(false) })
	return m
}

func (m *member) close(graceful bool) {
	_ = m.node.Close(graceful)
	_ = m.eng.Close()
}

func openDB(t *testing.T) *postgres.DB {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, pgtest.URL(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := demo.Seed(ctx, db, db, time.Now()); err != nil {
		t.Fatal(err)
	}
	return db
}

var floor = ticketview.SectionID{Event: demo.EventID, Section: demo.FloorVIP}

// A grain that another activation has fenced off finds out before it answers from memory
// (the lease ran out, it reads the epoch): the call is retried on the new activation,
// which has recovered everything acknowledged.
func TestGrainFencedOffBeforeItAnswersStale(t *testing.T) {
	db := openDB(t)
	m := startMember(t, db, nil, 50*time.Millisecond)
	cl := m.node.Client
	ctx := context.Background()
	h, err := cl.Hold(ctx, ticketview.HoldCommand{Section: floor, Owner: "alice", Seats: []string{"A-1", "A-2"}})
	if err != nil {
		t.Fatal(err)
	}
	// Another activation (a node that took the section over) takes a newer epoch and
	// holds A-3 there.
	epoch, snap, evs, err := db.Activate(ctx, floor)
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := db.FindEvent(ctx, floor.Event)
	v, _ := db.FindVenue(ctx, ev.VenueID)
	layout, _ := v.Section(floor.Section)
	other, err := ticketview.NewSection(ticketview.SectionConfig{ID: floor, Layout: layout, Categories: ev.Categories, Currency: ev.Currency})
	if err != nil {
		t.Fatal(err)
	}
	if snap != nil {
		if err := other.Restore(snap); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range evs {
		if err := other.Replay(e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := other.Hold(ticketview.HoldRequest{Token: "tok-bob", Owner: "bob", Seats: []string{"A-3"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := db.Append(ctx, floor, epoch, other.AppendEvents(nil)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond) // the lease (50ms) runs out

	// The old grain must not answer from its memory (where A-3 is free).
	a, err := cl.Availability(ctx, floor, true)
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]bool{}
	for _, s := range a.Seats {
		if s.Status == ticketview.SeatHeld {
			held[s.Label] = true
		}
	}
	if !held["A-1"] || !held["A-2"] || !held["A-3"] || len(held) != 3 {
		t.Fatalf("held seats after the takeover = %v; want A-1, A-2 (acknowledged before) and A-3 (the other activation's)", held)
	}
	if st := m.eng.Stats(); st.Fenced < 1 || st.Activations < 2 {
		t.Fatalf("engine stats %+v: want the first activation fenced and a second one", st)
	}
	if _, err := cl.Hold(ctx, ticketview.HoldCommand{Section: floor, Owner: "carol", Seats: []string{"A-3"}}); ticketview.ErrorCode(err) != ticketview.ESEATTAKEN {
		t.Fatalf("holding A-3 again: %v; want %s", err, ticketview.ESEATTAKEN)
	}
	if got, err := cl.FindHold(ctx, floor, h.Token, "alice"); err != nil || len(got.Items) != 2 {
		t.Fatalf("alice's hold after the takeover: %+v, %v", got, err)
	}
}

// The wire contract keeps error codes, fencing and idempotent replays.
func TestContractRoundTrip(t *testing.T) {
	call, err := cluster.NewCall(cluster.OpHold, cluster.CallArgs{Hold: &ticketview.HoldCommand{Owner: "o", Quantity: 2}}, time.Unix(5, 0))
	if err != nil {
		t.Fatal(err)
	}
	args, err := cluster.DecodeArgs(call)
	if err != nil || args.Hold == nil || args.Hold.Quantity != 2 || call.Deadline != 5e9 {
		t.Fatalf("args %+v, %v, deadline %d", args, err, call.Deadline)
	}
	if _, err := cluster.DecodeArgs(&cluster.SectionCall{Op: cluster.OpHold, Args: []byte("{")}); ticketview.ErrorCode(err) != ticketview.EINVALID {
		t.Fatalf("malformed args: %v", err)
	}
	for _, in := range []error{ticketview.Errorf(ticketview.ESEATTAKEN, "seat A-1 is held"), ticketview.ErrFenced} {
		_, out := cluster.NewReply(cluster.CallResult{}, in).Decode()
		if ticketview.ErrorCode(out) != ticketview.ErrorCode(in) || ticketview.ErrorMessage(out) != ticketview.ErrorMessage(in) ||
			errors.Is(out, ticketview.ErrFenced) != errors.Is(in, ticketview.ErrFenced) {
			t.Fatalf("error %v crossed as %v", in, out)
		}
	}
	res, err := cluster.NewReply(cluster.CallResult{Hold: &ticketview.Hold{Token: "t", Replayed: true}, Replayed: true}, nil).Decode()
	if err != nil || res.Hold.Token != "t" || !res.Hold.Replayed {
		t.Fatalf("replayed hold crossed as %+v, %v", res.Hold, err)
	}
}
