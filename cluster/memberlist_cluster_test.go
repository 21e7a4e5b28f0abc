//go:build !race

package cluster

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/ticketview/ticketview/internal/testutil"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestInProcessMemberlistProtoactorCluster runs real protoactor clusters (remotes, gossip, disthash)
// on the provider: formation, a grain request from a client, a crash and a graceful leave.
//
// Under -race this test reports data races inside protoactor itself (none in this
// package's code, which only appears as the caller of protoactor's API):
//   - remote.(*Remote).Start calls grpclog.SetLoggerV2, a process-global setter, on every
//     start, racing with gRPC logging of the remotes already running in the process;
//   - remote.(*BlockList).IsBlocked/BlockedMembers read the blocked set without the
//     BlockList's mutex while Block (from MemberList.UpdateClusterTopology or the gossip
//     handler) replaces it under the mutex;
//   - cluster.(*Informer).SendState shuffles with a package-level math/rand.Rand shared by
//     every cluster in the process.
func TestInProcessMemberlistProtoactorCluster(t *testing.T) {
	ms, cs := startCluster(t, 3, 1, nil, nodeOpt{full: true})
	client := cs[0]
	all := append(slices.Clone(ms), client)
	waitTopology(t, 5*time.Second, all, ids(ms))
	for _, n := range client.p.Nodes() {
		if n.Role == RoleMember && !slices.Contains(n.Kinds, "echo") {
			t.Errorf("member %s advertises kinds %v, want echo among them", n.ID, n.Kinds)
		}
		if n.Role == RoleClient && len(n.Kinds) != 0 {
			t.Errorf("client advertises kinds %v", n.Kinds)
		}
	}

	request := func(members []*mlNode, identity string) error {
		res, err := client.c.Request(identity, "echo", wrapperspb.String("hi"), cluster.WithTimeout(time.Second))
		if err != nil {
			return err
		}
		s, ok := res.(*wrapperspb.StringValue)
		if !ok {
			return fmt.Errorf("response %T %v", res, res)
		}
		host, msg, _ := strings.Cut(s.Value, "|")
		if msg != "hi" || !slices.Contains(ids(members), host) {
			return fmt.Errorf("response %q not from one of %v", s.Value, ids(members))
		}
		return nil
	}
	// A grain request from the client reaches a member.
	testutil.CheckFor(t, 10*time.Second, func() error { return request(ms, "grain-1") })

	// Crash of a member: failed within the bound, survivors serve.
	victim, stay := ms[1], []*mlNode{ms[0], ms[2]}
	t0 := time.Now()
	victim.stop()
	took := waitFailed(t, 5*time.Second, t0, append(slices.Clone(stay), client), victim)
	t.Logf("abrupt stop -> failed everywhere: %v", took)
	testutil.CheckFor(t, 10*time.Second, func() error {
		for i := range 5 {
			if err := request(stay, fmt.Sprintf("after-crash-%d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	// Graceful leave of another: left, and the last member serves.
	leaver, last := ms[2], ms[0]
	if err := leaver.p.Shutdown(true); err != nil {
		t.Fatal(err)
	}
	leaver.stop()
	waitLeft(t, 3*time.Second, []*mlNode{last, client}, leaver)
	testutil.CheckFor(t, 10*time.Second, func() error { return request([]*mlNode{last}, "after-leave") })
}
