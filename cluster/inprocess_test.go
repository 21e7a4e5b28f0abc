//go:build !race

// Tests with several members in one process: protoactor's remote and cluster code has data
// races of its own (a global gRPC logger set by every remote, the block list, the gossip
// state; see the README's known issues), which the race detector reports whatever the
// project's code does. `make test` runs these without -race; the multi-process tests
// (internal/clustertest) cover the same ground with -race on the project's side.

package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/cluster"
	"github.com/ticketview/ticketview/demo"
	"github.com/ticketview/ticketview/internal/testutil"
)

// A member that leaves hands its sections to the other; nothing acknowledged is lost.
func TestInProcessClusterGracefulLeave(t *testing.T) {
	db := openDB(t)
	a := startMember(t, db, nil, 0)
	b := startMember(t, db, []string{a.node.Provider.GossipAddr()}, 0)
	testutil.CheckFor(t, 10*time.Second, func() error {
		if a.node.Cluster.MemberList.Length() != 2 || b.node.Cluster.MemberList.Length() != 2 {
			return errors.New("not both members yet")
		}
		return nil
	})
	ctx := context.Background()
	ids := []ticketview.SectionID{floor, {Event: demo.EventID, Section: demo.Balcony}, {Event: demo.EventID, Section: demo.Standing}}
	tokens := map[ticketview.SectionID]string{}
	for i, id := range ids {
		cmd := ticketview.HoldCommand{Section: id, Owner: "buyer", Quantity: 1, BestAvailable: id.Section != demo.Standing}
		h, err := a.node.Client.Hold(ctx, cmd)
		if err != nil {
			t.Fatalf("hold %d in %s: %v", i, id, err)
		}
		tokens[id] = h.Token
	}
	onA := len(a.node.Lookup.Active(cluster.SectionKind))
	if onA == 0 {
		t.Skip("rendezvous put no demo section on the first member; nothing to hand off")
	}
	a.close(true)
	for id, tok := range tokens {
		h, err := b.node.Client.FindHold(ctx, id, tok, "buyer")
		if err != nil || h.Token != tok {
			t.Fatalf("hold in %s after the leave: %+v, %v", id, h, err)
		}
	}
	if got := len(b.node.Lookup.Active(cluster.SectionKind)); got != len(ids) {
		t.Fatalf("sections active on the remaining member = %d; want %d", got, len(ids))
	}
}

// The per-buyer limit holds across members: holds placed through both members and in
// sections on both count at the one ledger grain of the event. When the member that has
// the ledger leaves, the other builds it again from the sections and still counts them.
func TestInProcessLedgerAcrossMembers(t *testing.T) {
	db := openDB(t)
	a := startMember(t, db, nil, 0)
	b := startMember(t, db, []string{a.node.Provider.GossipAddr()}, 0)
	testutil.CheckFor(t, 10*time.Second, func() error {
		if a.node.Cluster.MemberList.Length() != 2 || b.node.Cluster.MemberList.Length() != 2 {
			return errors.New("not both members yet")
		}
		return nil
	})
	members := []*member{a, b}
	var tokens []string
	for i, id := range sections {
		tokens = append(tokens, mustHold(t, members[i%2].node.Client, holdOf(id, "buyer", 2)).Token)
	}
	for _, m := range members {
		overLimit(t, m.node.Client, "buyer")
	}
	t.Logf("sections on the first member: %v", a.node.Lookup.Active(cluster.SectionKind))

	leave, stay := a, b
	if a.node.Lookup.Owner(cluster.LedgerKind, demo.EventID) != a.node.Address() {
		leave, stay = b, a
	}
	if got := leave.node.Lookup.Active(cluster.LedgerKind); len(got) != 1 {
		t.Fatalf("ledger grains on the ledger's owner = %v; want the event's", got)
	}
	leave.close(true)
	testutil.CheckFor(t, 10*time.Second, func() error {
		if n := stay.node.Cluster.MemberList.Length(); n != 1 {
			return fmt.Errorf("%d members", n)
		}
		return nil
	})
	cl := stay.node.Client
	overLimit(t, cl, "buyer")
	if got := stay.node.Lookup.Active(cluster.LedgerKind); len(got) != 1 || got[0] != demo.EventID {
		t.Fatalf("ledger grains on the remaining member = %v; want [%s]", got, demo.EventID)
	}
	if err := cl.Release(context.Background(), standing, tokens[2], "buyer", ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, cl, holdOf(balcony, "buyer", 2))
	overLimit(t, cl, "buyer")
}
