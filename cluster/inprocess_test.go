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
