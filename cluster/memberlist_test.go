package cluster

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/hashicorp/memberlist"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ticketview/ticketview/internal/testutil"
)

// Two harnesses:
//
//   - "lite" nodes: a protoactor Cluster (its MemberList receives the provider's reports)
//     whose remote is never started and whose gossiper never runs; the provider is started
//     directly. No protoactor goroutines run, so these tests check the provider's own
//     concurrency under -race.
//   - "full" nodes: real protoactor StartMember/StartClient with remotes on 127.0.0.1:0, to
//     prove the wiring end to end (grain requests). Under -race these report data races
//     inside protoactor itself (see TestMemberlistProtoactorCluster).

// mlNode is one cluster process of a test (member or client).
type mlNode struct {
	id     string
	client bool
	full   bool
	system *actor.ActorSystem
	c      *cluster.Cluster
	p      *MemberlistProvider
	pause  *pausableTransport // set when started with a pausable transport

	mu      sync.Mutex
	members []string // member ids of the last ClusterTopology event
	left    []string // every member id any ClusterTopology event reported as left

	stopOnce sync.Once
}

// topology is the member ids of this node's protoactor topology. It is read from the
// ClusterTopology events (published by UpdateClusterTopology under protoactor's lock) rather
// than c.MemberList.Members(), which protoactor reads without that lock.
func (n *mlNode) topology() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.members)
}

func (n *mlNode) everLeft(id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Contains(n.left, id)
}

// stop tears the process down abruptly: memberlist shut down without a leave, remote
// killed. Peers see a crash.
func (n *mlNode) stop() {
	n.stopOnce.Do(func() {
		_ = n.p.Shutdown(false)
		if n.full && n.c.Remote != nil {
			n.c.Remote.Shutdown(false)
		}
		n.system.Shutdown()
	})
}

type nodeOpt struct {
	client   bool
	full     bool // real protoactor cluster (remote, gossip) instead of a lite one
	pausable bool
}

// fastConfig: the provider defaults with shorter join and leave timeouts.
func fastConfig(seeds ...string) MemberlistConfig {
	return MemberlistConfig{Seeds: seeds, JoinTimeout: 5 * time.Second, LeaveTimeout: time.Second}
}

func quietSystem() *actor.ActorSystem {
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
}

func echoKind(id string) *cluster.Kind {
	return cluster.NewKind("echo", actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*wrapperspb.StringValue); ok {
			ctx.Respond(wrapperspb.String(id + "|" + m.Value))
		}
	}))
}

// fakeRemotePort numbers the remote addresses lite nodes advertise (nothing listens there).
var fakeRemotePort atomic.Int32

// newNode builds (does not start) a cluster process.
func newNode(t *testing.T, cfg MemberlistConfig, o nodeOpt) *mlNode {
	t.Helper()
	system := quietSystem()
	n := &mlNode{id: system.ID, client: o.client, full: o.full, system: system, p: NewMemberlistProvider(cfg)}
	if o.pausable {
		n.p.wrapTransport = func(inner memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
			n.pause = newPausableTransport(inner)
			return n.pause
		}
	}
	rcfg := remote.Configure("127.0.0.1", 0)
	n.c = cluster.New(system, cluster.Configure("test", n.p, disthash.New(), rcfg, cluster.WithKinds(echoKind(system.ID))))
	if !o.full {
		// What the provider reads before it starts: the remote address, and (for
		// UpdateClusterTopology) the remote's block list.
		system.ProcessRegistry.Address = fmt.Sprintf("127.0.0.1:%d", 20000+fakeRemotePort.Add(1))
		n.c.Remote = remote.NewRemote(system, rcfg)
	}
	system.EventStream.Subscribe(func(evt any) {
		if topo, ok := evt.(*cluster.ClusterTopology); ok {
			ids := make([]string, 0, len(topo.Members))
			for _, m := range topo.Members {
				ids = append(ids, m.Id)
			}
			slices.Sort(ids)
			n.mu.Lock()
			n.members = ids
			for _, m := range topo.Left {
				n.left = append(n.left, m.Id)
			}
			n.mu.Unlock()
		}
	})
	t.Cleanup(n.stop)
	return n
}

// start starts the node: protoactor's StartMember/StartClient for full nodes (their panic
// on a provider error turned into an error), the provider directly for lite ones. Safe off
// the test goroutine.
func (n *mlNode) start() (err error) {
	if !n.full {
		if n.client {
			return n.p.StartClient(n.c)
		}
		return n.p.StartMember(n.c)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("start panicked: %v", r)
		}
	}()
	if n.client {
		n.c.StartClient()
	} else {
		n.c.StartMember()
	}
	return nil
}

// startCluster starts members (the first without seeds, the rest through it) and clients,
// all but the first in parallel (protoactor's StartMember sleeps 1 s).
func startCluster(t *testing.T, members, clients int, mod func(*MemberlistConfig), o nodeOpt) (ms, cs []*mlNode) {
	t.Helper()
	cfg := func(seeds ...string) MemberlistConfig {
		c := fastConfig(seeds...)
		if mod != nil {
			mod(&c)
		}
		return c
	}
	first := newNode(t, cfg(), o)
	if err := first.start(); err != nil {
		t.Fatalf("first member: %v", err)
	}
	seed := first.p.GossipAddr()
	ms = append(ms, first)
	var rest []*mlNode
	for range members - 1 {
		n := newNode(t, cfg(seed), o)
		ms, rest = append(ms, n), append(rest, n)
	}
	for range clients {
		co := o
		co.client = true
		n := newNode(t, cfg(seed), co)
		cs, rest = append(cs, n), append(rest, n)
	}
	errs := make([]error, len(rest))
	var wg sync.WaitGroup
	for i, n := range rest {
		wg.Go(func() { errs[i] = n.start() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return ms, cs
}

func ids(ns []*mlNode) []string {
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, n.id)
	}
	slices.Sort(out)
	return out
}

func hasChange(p *MemberlistProvider, node, change string) (MembershipChange, bool) {
	for _, c := range p.History() {
		if c.Node == node && c.Change == change {
			return c, true
		}
	}
	return MembershipChange{}, false
}

func nodeState(p *MemberlistProvider, id string) string {
	for _, n := range p.Nodes() {
		if n.ID == id {
			return n.State
		}
	}
	return "(unknown)"
}

// waitTopology waits until every node of observers has exactly want as its topology.
func waitTopology(t *testing.T, d time.Duration, observers []*mlNode, want []string) {
	t.Helper()
	testutil.CheckFor(t, d, func() error {
		for _, o := range observers {
			if got := o.topology(); !slices.Equal(got, want) {
				return fmt.Errorf("node %s (client=%v) topology %v, want %v", o.id, o.client, got, want)
			}
		}
		return nil
	})
}

// waitFailed waits (at most d) until every observer has recorded victim as failed and
// dropped it from its topology, and returns how long that took from t0.
func waitFailed(t *testing.T, d time.Duration, t0 time.Time, observers []*mlNode, victim *mlNode) time.Duration {
	t.Helper()
	testutil.CheckFor(t, d, func() error {
		for _, o := range observers {
			if _, ok := hasChange(o.p, victim.id, ChangeFailed); !ok {
				return fmt.Errorf("%s has not recorded %s as failed", o.id, victim.id)
			}
			if slices.Contains(o.topology(), victim.id) {
				return fmt.Errorf("%s still has %s in its topology", o.id, victim.id)
			}
		}
		return nil
	})
	took := time.Since(t0)
	for _, o := range observers {
		c, _ := hasChange(o.p, victim.id, ChangeFailed)
		t.Logf("%s (client=%v) recorded %s failed %v after the stop", o.id, o.client, victim.id, c.At.Sub(t0))
		if st := nodeState(o.p, victim.id); st != NodeDead {
			t.Errorf("%s sees %s as %s, want dead", o.id, victim.id, st)
		}
		if _, ok := hasChange(o.p, victim.id, ChangeLeft); ok {
			t.Errorf("%s recorded a crash as a graceful leave", o.id)
		}
	}
	return took
}

// waitLeft waits until every observer has recorded leaver as left (never failed) and
// dropped it from its topology.
func waitLeft(t *testing.T, d time.Duration, observers []*mlNode, leaver *mlNode) {
	t.Helper()
	testutil.CheckFor(t, d, func() error {
		for _, o := range observers {
			if _, ok := hasChange(o.p, leaver.id, ChangeLeft); !ok {
				return fmt.Errorf("%s history has no left for %s: %+v", o.id, leaver.id, o.p.History())
			}
			if st := nodeState(o.p, leaver.id); st != NodeLeft {
				return fmt.Errorf("%s sees %s as %s", o.id, leaver.id, st)
			}
			if slices.Contains(o.topology(), leaver.id) {
				return fmt.Errorf("%s still has %s in its topology", o.id, leaver.id)
			}
		}
		return nil
	})
	for _, o := range observers {
		if c, ok := hasChange(o.p, leaver.id, ChangeFailed); ok {
			t.Errorf("%s recorded a graceful leave as failed: %+v", o.id, c)
		}
	}
}

func TestMemberlistFormsTopology(t *testing.T) {
	ms, cs := startCluster(t, 3, 1, func(c *MemberlistConfig) { c.HTTPAddr = "127.0.0.1:8080" }, nodeOpt{})
	client := cs[0]
	want := ids(ms)
	all := append(slices.Clone(ms), client)

	waitTopology(t, 5*time.Second, all, want)
	if slices.Contains(client.topology(), client.id) {
		t.Fatalf("client %s is in its own topology", client.id)
	}

	// Every node knows all four processes, with their roles, alive.
	testutil.CheckFor(t, 5*time.Second, func() error {
		for _, o := range all {
			nodes := o.p.Nodes()
			if len(nodes) != 4 {
				return fmt.Errorf("%s knows %d nodes, want 4: %+v", o.id, len(nodes), nodes)
			}
			for _, n := range nodes {
				wantRole := RoleMember
				if n.ID == client.id {
					wantRole = RoleClient
				}
				if n.Role != wantRole || n.State != NodeAlive || n.Gossip == "" || n.Host != "127.0.0.1" || n.Port <= 0 ||
					n.Since.IsZero() || n.HTTPAddr != "127.0.0.1:8080" {
					return fmt.Errorf("%s sees %+v", o.id, n)
				}
			}
		}
		return nil
	})
	for _, o := range all {
		for _, other := range all {
			if _, ok := hasChange(o.p, other.id, ChangeJoined); !ok {
				t.Errorf("%s has no joined entry for %s: %+v", o.id, other.id, o.p.History())
			}
		}
		if !strings.HasPrefix(o.p.GossipAddr(), "127.0.0.1:") {
			t.Errorf("GossipAddr %q", o.p.GossipAddr())
		}
	}
	select {
	case <-client.p.Changes():
	default:
		t.Error("client's Changes channel was never signalled")
	}
}

func TestMemberlistGracefulLeave(t *testing.T) {
	ms, cs := startCluster(t, 3, 1, nil, nodeOpt{})
	waitTopology(t, 5*time.Second, append(slices.Clone(ms), cs...), ids(ms))
	leaver, stay := ms[2], ms[:2]
	observers := append(slices.Clone(stay), cs...)

	start := time.Now()
	if err := leaver.p.Shutdown(true); err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}
	t.Logf("graceful Shutdown took %v", time.Since(start))
	// Idempotent, any mode.
	for _, g := range []bool{true, false} {
		if err := leaver.p.Shutdown(g); err != nil {
			t.Fatal(err)
		}
	}
	waitLeft(t, 3*time.Second, observers, leaver)
	waitTopology(t, time.Second, observers, ids(stay))
}

func TestMemberlistAbruptStopDetectedAsFailed(t *testing.T) {
	ms, cs := startCluster(t, 3, 1, nil, nodeOpt{})
	waitTopology(t, 5*time.Second, append(slices.Clone(ms), cs...), ids(ms))
	victim, stay := ms[1], []*mlNode{ms[0], ms[2]}
	observers := append(slices.Clone(stay), cs...)

	t0 := time.Now()
	victim.stop()
	// Correctness bound: the tuned settings detect a failure in about 2 s.
	took := waitFailed(t, 5*time.Second, t0, observers, victim)
	t.Logf("abrupt stop -> failed everywhere and out of every topology: %v", took)
	waitTopology(t, time.Second, observers, ids(stay))
}

// A node that stops answering for less than the suspicion timeout becomes suspect and must
// stay in every topology (protoactor would block its id forever otherwise).
func TestMemberlistSuspectNodeStaysInTopology(t *testing.T) {
	// Suspicion lasts SuspicionMult * ProbeInterval = 6 s here (no confirmations expected
	// with 3 nodes); the pause is 4 s, long enough for each peer to probe the sleeper
	// (every ~1 s) and fail at least twice, short enough to refute before being declared dead.
	ms, _ := startCluster(t, 3, 0, func(c *MemberlistConfig) { c.SuspicionMult = 12 }, nodeOpt{pausable: true})
	waitTopology(t, 5*time.Second, ms, ids(ms))
	sleeper, peers := ms[2], ms[:2]

	sleeper.pause.paused.Store(true)
	pausedAt := time.Now()
	testutil.CheckFor(t, 3500*time.Millisecond, func() error {
		for _, o := range peers {
			if st := nodeState(o.p, sleeper.id); st != NodeSuspect {
				return fmt.Errorf("%s sees %s as %s", o.id, sleeper.id, st)
			}
		}
		return nil
	})
	t.Logf("suspect on both peers after %v", time.Since(pausedAt))
	for _, o := range peers {
		if !slices.Contains(o.topology(), sleeper.id) {
			t.Fatalf("%s dropped suspect %s from its topology", o.id, sleeper.id)
		}
	}
	time.Sleep(4*time.Second - time.Since(pausedAt)) // keep it silent for the whole pause
	sleeper.pause.paused.Store(false)

	testutil.CheckFor(t, 5*time.Second, func() error {
		for _, o := range peers {
			if st := nodeState(o.p, sleeper.id); st != NodeAlive {
				return fmt.Errorf("%s sees %s as %s", o.id, sleeper.id, st)
			}
		}
		return nil
	})
	waitTopology(t, time.Second, ms, ids(ms))
	for _, o := range ms {
		for _, c := range o.p.History() {
			if c.Change == ChangeFailed || c.Change == ChangeLeft {
				t.Errorf("%s recorded %+v", o.id, c)
			}
		}
		for _, other := range ms {
			if o.everLeft(other.id) {
				t.Errorf("%s's topology lost %s at some point", o.id, other.id)
			}
		}
	}
}

func TestMemberlistMetadataTooLarge(t *testing.T) {
	n := newNode(t, MemberlistConfig{HTTPAddr: "http://" + strings.Repeat("x", 500) + ":8080"}, nodeOpt{})
	err := n.start()
	if !errors.Is(err, ErrMetadataTooLarge) {
		t.Fatalf("StartMember = %v, want ErrMetadataTooLarge", err)
	}
	if n.p.GossipAddr() != "" || len(n.p.Nodes()) != 0 {
		t.Fatalf("state after a failed start: %q %+v", n.p.GossipAddr(), n.p.Nodes())
	}

	// Too many kinds are refused the same way (checked on the encoding: protoactor only
	// builds a cluster's kinds inside its own StartMember).
	kinds := make([]string, 40)
	for i := range kinds {
		kinds[i] = fmt.Sprintf("kind-with-a-long-name-%02d", i)
	}
	if _, err := encodeMeta(nodeMeta{Role: "m", Host: "127.0.0.1", Port: 1, Kinds: kinds}); !errors.Is(err, ErrMetadataTooLarge) {
		t.Fatalf("encodeMeta with %d kinds = %v", len(kinds), err)
	}
	b, err := encodeMeta(nodeMeta{Role: "m", Host: "127.0.0.1", Port: 40123, Kinds: []string{"echo", "section"}, HTTP: "127.0.0.1:8080", Started: time.Now().UnixMilli()})
	if err != nil || len(b) > 120 {
		t.Fatalf("typical metadata: %d bytes (%s), %v", len(b), b, err)
	}
}

func TestMemberlistUnreachableSeeds(t *testing.T) {
	// A port nothing listens on (connection refused) and a black-holed address.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	_ = l.Close()
	cfg := MemberlistConfig{Seeds: []string{closed, "192.0.2.1:7946"}, JoinTimeout: 700 * time.Millisecond}

	for _, client := range []bool{false, true} {
		n := newNode(t, cfg, nodeOpt{client: client})
		start := time.Now()
		err := n.start()
		took := time.Since(start)
		if err == nil {
			t.Fatalf("client=%v: start succeeded with unreachable seeds", client)
		}
		if took < cfg.JoinTimeout-50*time.Millisecond || took > cfg.JoinTimeout+time.Second {
			t.Errorf("client=%v: start gave up after %v, JoinTimeout %v", client, took, cfg.JoinTimeout)
		}
		t.Logf("client=%v: gave up after %v: %v", client, took, err)
		if n.p.GossipAddr() != "" || len(n.p.Nodes()) != 0 || len(n.p.History()) != 0 {
			t.Errorf("after failed start: gossip %q, nodes %+v", n.p.GossipAddr(), n.p.Nodes())
		}
		if err := n.p.Shutdown(true); err != nil {
			t.Errorf("Shutdown after failed start: %v", err)
		}
	}
}

func TestMemberlistShutdownBeforeStart(t *testing.T) {
	n := newNode(t, MemberlistConfig{}, nodeOpt{})
	for _, g := range []bool{true, false, true} {
		if err := n.p.Shutdown(g); err != nil {
			t.Fatal(err)
		}
	}
	if n.p.GossipAddr() != "" || len(n.p.Nodes()) != 0 || len(n.p.History()) != 0 {
		t.Fatal("provider state before start")
	}
	// A shut-down provider refuses to start.
	if err := n.start(); err == nil {
		t.Fatal("start after shutdown succeeded")
	}
}

func TestMemberlistHistoryRing(t *testing.T) {
	p := NewMemberlistProvider(MemberlistConfig{})
	for i := range historySize + 7 {
		p.recordLocked(MembershipChange{Node: fmt.Sprint(i), Change: ChangeJoined})
	}
	h := p.History()
	if len(h) != historySize || h[0].Node != "7" || h[historySize-1].Node != fmt.Sprint(historySize+6) {
		t.Fatalf("history: %d entries, first %s last %s", len(h), h[0].Node, h[len(h)-1].Node)
	}
}

func TestMemberlistLogAdapterSpotsSuspicion(t *testing.T) {
	var got []string
	w := &zapWriter{log: NewMemberlistProvider(MemberlistConfig{}).log, onSuspect: func(n string) { got = append(got, n) }}
	fmt.Fprintf(w, "[INFO] memberlist: Suspect %s has failed, no acks received\n", "abc123")
	fmt.Fprintf(w, "[DEBUG] memberlist: Failed UDP ping: %s (timeout reached)\n", "abc123")
	if !slices.Equal(got, []string{"abc123"}) {
		t.Fatalf("suspects %v", got)
	}
}

// pausableTransport drops everything in and out while paused: the node looks hung.
type pausableTransport struct {
	memberlist.NodeAwareTransport
	paused  atomic.Bool
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{}
	once    sync.Once
}

var errPaused = errors.New("paused")

func newPausableTransport(inner memberlist.NodeAwareTransport) *pausableTransport {
	t := &pausableTransport{
		NodeAwareTransport: inner,
		packets:            make(chan *memberlist.Packet),
		streams:            make(chan net.Conn),
		done:               make(chan struct{}),
	}
	go func() {
		for {
			select {
			case pk := <-inner.PacketCh():
				if t.paused.Load() {
					continue
				}
				select {
				case t.packets <- pk:
				case <-t.done:
					return
				}
			case <-t.done:
				return
			}
		}
	}()
	go func() {
		for {
			select {
			case conn := <-inner.StreamCh():
				if t.paused.Load() {
					_ = conn.Close()
					continue
				}
				select {
				case t.streams <- conn:
				case <-t.done:
					_ = conn.Close()
					return
				}
			case <-t.done:
				return
			}
		}
	}()
	return t
}

func (t *pausableTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }
func (t *pausableTransport) StreamCh() <-chan net.Conn           { return t.streams }

func (t *pausableTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.paused.Load() {
		return time.Now(), nil
	}
	return t.NodeAwareTransport.WriteTo(b, addr)
}

func (t *pausableTransport) WriteToAddress(b []byte, addr memberlist.Address) (time.Time, error) {
	if t.paused.Load() {
		return time.Now(), nil
	}
	return t.NodeAwareTransport.WriteToAddress(b, addr)
}

func (t *pausableTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if t.paused.Load() {
		return nil, errPaused
	}
	return t.NodeAwareTransport.DialTimeout(addr, timeout)
}

func (t *pausableTransport) DialAddressTimeout(addr memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.paused.Load() {
		return nil, errPaused
	}
	return t.NodeAwareTransport.DialAddressTimeout(addr, timeout)
}

func (t *pausableTransport) Shutdown() error {
	t.once.Do(func() { close(t.done) })
	return t.NodeAwareTransport.Shutdown()
}
