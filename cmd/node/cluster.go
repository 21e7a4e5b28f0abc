package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	protocluster "github.com/asynkron/protoactor-go/cluster"

	"github.com/ticketview/ticketview/actors"
	tvcluster "github.com/ticketview/ticketview/cluster"
	"github.com/ticketview/ticketview/prom"
)

// ExitPaused is the exit code of a node that was paused past PauseLimit: the cluster may
// have declared it dead and moved its sections; it must start again with a new member id.
const ExitPaused = 75

// joinCluster makes the node a member hosting the section grains and the buyer ledger
// grains of the engine.
func (m *Main) joinCluster(ctx context.Context, system *actor.ActorSystem, st stores) error {
	rhost, rport, err := tvcluster.SplitHostPort(m.Remote, "-remote")
	if err != nil {
		return err
	}
	ghost, gport, err := tvcluster.SplitHostPort(m.Gossip, "-gossip")
	if err != nil {
		return err
	}
	m.node, err = tvcluster.StartMember(tvcluster.Config{
		Host: rhost, Port: rport, AdvertiseHost: m.Advertise, System: system,
		Gossip: tvcluster.MemberlistConfig{BindAddr: ghost, BindPort: gport, AdvertiseAddr: m.Advertise,
			Seeds: m.Seeds, HTTPAddr: m.advertisedHTTP()},
		Kinds: []*protocluster.Kind{protocluster.NewKind(tvcluster.SectionKind, m.engine.SectionProps()),
			protocluster.NewKind(tvcluster.LedgerKind, m.engine.LedgerProps())},
		Logger: m.Logger.Named("cluster"),
	})
	if err != nil {
		return err
	}
	m.node.Client.Observe = m.prom.ObserveCall
	m.engine.SetCluster(m.node.Client) // the ledger grains reach the sections, and the sections the ledgers, through it
	m.prom.RegisterMembership(membersOf(m.node))
	bg, stop := context.WithCancel(context.Background())
	m.stop = stop
	m.fatal = make(chan error, 1)
	go m.node.KeepActive(bg, tvcluster.PlacerConfig{
		Sections: func(ctx context.Context) ([]string, error) {
			return tvcluster.SectionIdentities(ctx, st.events, st.venues)
		},
		Changed: func(c tvcluster.MembershipChange) { m.prom.MembershipChanged(c.Change) },
		Passed: func(n int, took time.Duration, failover bool) {
			if failover && n > 0 {
				m.prom.FailoverObserved(took)
			}
		},
		Logger: m.Logger.Named("placement"),
	})
	go tvcluster.WatchPauses(bg, m.PauseLimit, func(gap time.Duration) {
		m.ready.Store(false)
		err := fmt.Errorf("paused for %v", gap.Round(time.Millisecond))
		// Serve nothing more, activate nothing more: the others may own these sections now.
		m.node.Client.Stop(err)
		go m.node.Lookup.Drain(0)
		select {
		case m.fatal <- fmt.Errorf("the process was paused for %v (over %v): the cluster may have moved its sections; start it again to rejoin with a new member id", gap.Round(time.Millisecond), m.PauseLimit):
		default:
		}
	})
	return nil
}

// advertisedHTTP is the HTTP address the gateway can reach this node's status at.
func (m *Main) advertisedHTTP() string {
	if m.ln == nil {
		return ""
	}
	host, port, _ := net.SplitHostPort(m.ln.Addr().String())
	if m.Advertise != "" {
		host = m.Advertise
	} else if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func membersOf(n *tvcluster.Node) func() []prom.Member {
	return func() []prom.Member {
		var out []prom.Member
		for _, x := range n.Provider.Nodes() {
			out = append(out, prom.Member{ID: x.ID, Role: x.Role, State: x.State})
		}
		return out
	}
}

func engineStats(s actors.Stats) prom.EngineStats {
	return prom.EngineStats{Sections: s.Sections, Activations: s.Activations, Reactivations: s.Reactivations,
		Fenced: s.Fenced, Commits: s.Commits, CommittedEvents: s.CommittedEvents, CommitFailures: s.CommitFailures}
}

// readyCheck is /readyz: serving, and in cluster mode a member of a topology.
func (m *Main) readyCheck(context.Context) error {
	if !m.ready.Load() {
		return errors.New("starting or stopping")
	}
	if m.node != nil && m.node.Cluster.MemberList.Length() == 0 {
		return errors.New("not part of a cluster topology yet")
	}
	return nil
}

// nodeStatus is GET /api/v1/admin/node.
func (m *Main) nodeStatus(context.Context) (any, error) {
	now := time.Now()
	st := m.engine.Stats()
	out := tvcluster.NodeStatus{Role: "single", HTTPAddr: m.HTTPAddr(), ActiveSections: st.Sections,
		RequestsTotal: st.Commands, RequestsPerSec: m.rate.Rate(now, st.Commands), Memory: tvcluster.ReadMemory(),
		Engine: st, Goroutines: runtime.NumGoroutine(), Sections: []string{}}
	if m.node != nil {
		out.Role, out.ID, out.Address, out.Gossip = "member", m.node.ID(), m.node.Address(), m.node.Provider.GossipAddr()
		out.HTTPAddr = m.advertisedHTTP()
		out.StartedAt = m.node.Started.UTC()
		out.UptimeSeconds = now.Sub(m.node.Started).Seconds()
		out.Sections = m.node.Lookup.Active(tvcluster.SectionKind)
		out.ActiveSections = len(out.Sections)
	}
	return out, nil
}
