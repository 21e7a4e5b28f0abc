package cluster

import (
	"sort"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/eventstream"
)

// placementName is the name of the placement actor on every member.
const placementName = "tv-placement"

// DefaultActivationTimeout bounds one activation request to the owner's placement actor.
// protoactor's disthash lookup waits 5 s there, which is most of the failover time when
// the owner has just died; a live placement actor answers in well under a millisecond.
const DefaultActivationTimeout = 300 * time.Millisecond

// Lookup is the cluster's identity lookup: rendezvous hashing over the members of a kind
// (as protoactor's disthash), with what TicketView needs on top:
//
//   - a short, configurable activation timeout (a dead owner costs 300 ms, not 5 s);
//   - an owner refuses to activate an identity its own view of the topology gives to
//     another member (while views converge the caller retries instead of making a
//     second activation);
//   - a grain whose identity moves to another member gets a Handoff, so it can finish
//     the journal writes under way before it stops, instead of being poisoned;
//   - the active grains of this member can be listed (cluster status).
//
// Two activations of one section can still overlap while views converge: the section
// store's epochs fence the older one (see actors).
type Lookup struct {
	ActivationTimeout time.Duration

	c         *cluster.Cluster
	placement *actor.PID
	sub       *eventstream.Subscription

	mu  sync.RWMutex
	rdv *cluster.Rendezvous

	activeMu sync.Mutex
	active   map[string]*actor.PID // key "kind/identity": the grains on this member
}

// drain is sent to the placement actor by Drain.
type drain struct{}

// Drain makes this member refuse new activations and hands every grain off; it returns
// when they have all stopped, or after timeout.
func (l *Lookup) Drain(timeout time.Duration) {
	if l.c == nil {
		return
	}
	l.c.ActorSystem.Root.Send(l.placement, drain{})
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		l.activeMu.Lock()
		n := len(l.active)
		l.activeMu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var _ cluster.IdentityLookup = (*Lookup)(nil)

// NewLookup returns a lookup with the default activation timeout.
func NewLookup() *Lookup {
	return &Lookup{ActivationTimeout: DefaultActivationTimeout, rdv: cluster.NewRendezvous(), active: map[string]*actor.PID{}}
}

// Setup implements cluster.IdentityLookup.
func (l *Lookup) Setup(c *cluster.Cluster, _ []string, _ bool) {
	l.c = c
	if l.ActivationTimeout <= 0 {
		l.ActivationTimeout = DefaultActivationTimeout
	}
	props := actor.PropsFromProducer(func() actor.Actor { return &placementActor{l: l, grains: map[string]grainMeta{}} })
	l.placement, _ = c.ActorSystem.Root.SpawnNamed(props, placementName)
	l.sub = c.ActorSystem.EventStream.Subscribe(func(ev any) {
		if t, ok := ev.(*cluster.ClusterTopology); ok {
			// Published under the member list's lock: only swap the table and pass it on.
			rdv := cluster.NewRendezvous()
			rdv.UpdateMembers(t.Members)
			l.mu.Lock()
			l.rdv = rdv
			l.mu.Unlock()
			c.ActorSystem.Root.Send(l.placement, t)
		}
	})
}

// Shutdown implements cluster.IdentityLookup: every grain here is stopped.
func (l *Lookup) Shutdown() {
	if l.c == nil {
		return
	}
	l.c.ActorSystem.EventStream.Unsubscribe(l.sub)
	_ = l.c.ActorSystem.Root.PoisonFuture(l.placement).Wait()
}

// Owner returns the address of the member that owns kind/identity ("" when no member
// has the kind).
func (l *Lookup) Owner(kind, identity string) string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.rdv.GetByClusterIdentity(&cluster.ClusterIdentity{Kind: kind, Identity: identity})
}

// Get implements cluster.IdentityLookup: it asks the owner's placement actor for the
// grain, which activates it if needed. nil means "not now" (the caller retries).
func (l *Lookup) Get(ci *cluster.ClusterIdentity) *actor.PID {
	owner := l.Owner(ci.Kind, ci.Identity)
	if owner == "" {
		return nil
	}
	res, err := l.c.ActorSystem.Root.RequestFuture(actor.NewPID(owner, placementName),
		&cluster.ActivationRequest{ClusterIdentity: ci}, l.ActivationTimeout).Result()
	if err != nil {
		return nil
	}
	r, ok := res.(*cluster.ActivationResponse)
	if !ok || r.Failed {
		return nil
	}
	return r.Pid
}

// RemovePid implements cluster.IdentityLookup.
func (l *Lookup) RemovePid(ci *cluster.ClusterIdentity, pid *actor.PID) {
	l.c.MemberList.BroadcastEvent(&cluster.ActivationTerminated{Pid: pid, ClusterIdentity: ci}, true)
}

// Active returns the identities of the grains of kind active on this member, sorted.
func (l *Lookup) Active(kind string) []string {
	l.activeMu.Lock()
	defer l.activeMu.Unlock()
	var out []string
	prefix := kind + "/"
	for k := range l.active {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			out = append(out, k[len(prefix):])
		}
	}
	sort.Strings(out)
	return out
}

func (l *Lookup) setActive(key string, pid *actor.PID) {
	l.activeMu.Lock()
	if pid == nil {
		delete(l.active, key)
	} else {
		l.active[key] = pid
	}
	l.activeMu.Unlock()
}

type grainMeta struct {
	ci      *cluster.ClusterIdentity
	pid     *actor.PID
	leaving bool // handed off: stopping after its writes under way
}

// placementActor activates the grains this member owns and hands them off when they move.
type placementActor struct {
	l        *Lookup
	draining bool
	grains   map[string]grainMeta // key "kind/identity"
	rdv      *cluster.Rendezvous  // the topology as this actor last saw it
}

func (p *placementActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *cluster.ActivationRequest:
		p.activate(ctx, m)
	case drain:
		p.draining = true
		for key, g := range p.grains {
			if !g.leaving {
				g.leaving = true
				p.grains[key] = g
				ctx.Send(g.pid, &Handoff{})
			}
		}
	case *cluster.ClusterTopology:
		p.rdv = cluster.NewRendezvous()
		p.rdv.UpdateMembers(m.Members)
		me := p.l.c.ActorSystem.Address()
		for key, g := range p.grains {
			if g.leaving || p.rdv.GetByClusterIdentity(g.ci) == me {
				continue
			}
			g.leaving = true
			p.grains[key] = g
			ctx.Send(g.pid, &Handoff{})
		}
	case *actor.Terminated:
		for key, g := range p.grains {
			if g.pid.Equal(m.Who) {
				delete(p.grains, key)
				p.l.setActive(key, nil)
				if k := p.l.c.GetClusterKind(g.ci.Kind); k != nil {
					k.Dec()
				}
				p.l.c.MemberList.BroadcastEvent(&cluster.ActivationTerminated{Pid: m.Who, ClusterIdentity: g.ci}, true)
				break
			}
		}
	case *actor.Stopping:
		futures := make([]actor.Future, 0, len(p.grains))
		for _, g := range p.grains {
			futures = append(futures, ctx.PoisonFuture(g.pid))
		}
		for _, f := range futures {
			_ = f.Wait()
		}
	}
}

func (p *placementActor) activate(ctx actor.Context, m *cluster.ActivationRequest) {
	key := m.ClusterIdentity.AsKey()
	if g, ok := p.grains[key]; ok && !g.leaving {
		ctx.Respond(&cluster.ActivationResponse{Pid: g.pid})
		return
	}
	kind := p.l.c.GetClusterKind(m.ClusterIdentity.Kind)
	me := p.l.c.ActorSystem.Address()
	switch {
	case kind == nil || p.draining:
		ctx.Respond(&cluster.ActivationResponse{Failed: true})
		return
	case p.rdv != nil && p.rdv.GetByClusterIdentity(m.ClusterIdentity) != me:
		// The caller's view of the topology is not ours: it retries once they agree.
		ctx.Respond(&cluster.ActivationResponse{Failed: true})
		return
	case p.grains[key].leaving:
		// Still finishing its writes here; the next attempt finds it gone.
		ctx.Respond(&cluster.ActivationResponse{Failed: true})
		return
	}
	pid := ctx.SpawnPrefix(cluster.WithClusterIdentity(kind.Props, m.ClusterIdentity), m.ClusterIdentity.Identity)
	kind.Inc()
	p.grains[key] = grainMeta{ci: m.ClusterIdentity, pid: pid}
	p.l.setActive(key, pid)
	ctx.Respond(&cluster.ActivationResponse{Pid: pid})
}
