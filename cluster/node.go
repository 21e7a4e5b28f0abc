package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/remote"
	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Name is the protoactor cluster name of TicketView.
const Name = "ticketview"

// Config is what a process needs to take part in the cluster.
type Config struct {
	// Host and Port are where protoactor's remote listens (Port 0 picks a free one);
	// AdvertiseHost is the host others reach it at (default Host).
	Host          string
	Port          int
	AdvertiseHost string
	// Gossip configures membership (hashicorp/memberlist).
	Gossip MemberlistConfig
	// Kinds are the grain kinds this member hosts (members only).
	Kinds  []*cluster.Kind
	Logger *zap.Logger
	// ActivationTimeout bounds an activation request to an owner (default 300ms).
	ActivationTimeout time.Duration
	// System is the actor system to use (a new one when nil): a member's grains are
	// built before it joins, on the system they will run on.
	System *actor.ActorSystem
}

// NewSystem returns an actor system for Config.System, with protoactor's own log kept to
// warnings.
func NewSystem() *actor.ActorSystem { return actor.NewActorSystem(actor.WithLoggerFactory(libLogger)) }

// Node is this process's part in the cluster: a member (hosts grains) or a client (the
// gateway: calls grains, hosts none).
type Node struct {
	System   *actor.ActorSystem
	Cluster  *cluster.Cluster
	Provider *MemberlistProvider
	Lookup   *Lookup
	Client   *Client
	Started  time.Time
	member   bool

	closeOnce sync.Once
	closeErr  error
	log       *zap.Logger
}

// StartMember joins the cluster as a member hosting cfg.Kinds. It returns once the
// member has joined (protoactor waits about a second more).
func StartMember(cfg Config) (*Node, error) { return start(cfg, true) }

// StartClient joins the cluster as a client.
func StartClient(cfg Config) (*Node, error) { return start(cfg, false) }

func start(cfg Config, member bool) (n *Node, err error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	system := cfg.System
	if system == nil {
		system = NewSystem()
	}
	rcfg := remote.Configure(cfg.Host, cfg.Port)
	if cfg.Port != 0 && cfg.AdvertiseHost != "" {
		rcfg = remote.Configure(cfg.Host, cfg.Port, remote.WithAdvertisedHost(net.JoinHostPort(cfg.AdvertiseHost, strconv.Itoa(cfg.Port))))
	}
	lookup := NewLookup()
	if cfg.ActivationTimeout > 0 {
		lookup.ActivationTimeout = cfg.ActivationTimeout
	}
	if cfg.Gossip.Logger == nil {
		cfg.Gossip.Logger = cfg.Logger.Named("memberlist")
	}
	if cfg.Gossip.BindAddr == "" {
		cfg.Gossip.BindAddr = cfg.Host
	}
	provider := NewMemberlistProvider(cfg.Gossip)
	opts := []cluster.ConfigOption{cluster.WithRequestTimeout(time.Second)}
	if member {
		opts = append(opts, cluster.WithKinds(cfg.Kinds...))
	}
	c := cluster.New(system, cluster.Configure(Name, provider, lookup, rcfg, opts...))
	n = &Node{System: system, Cluster: c, Provider: provider, Lookup: lookup, member: member, log: cfg.Logger}
	// protoactor panics on a provider error (and on a port taken): turn that into an error.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cluster: starting the %s: %v", n.role(), r)
			n.teardown(false)
		}
	}()
	if member {
		c.StartMember()
	} else {
		c.StartClient()
	}
	n.Client = NewClient(c)
	n.Started = time.Now()
	n.log.Info("joined the cluster", zap.String("role", n.role()), zap.String("id", system.ID),
		zap.String("address", system.Address()), zap.String("gossip", provider.GossipAddr()))
	return n, nil
}

func (n *Node) role() string {
	if n.member {
		return "member"
	}
	return "client"
}

// ID is this process's member id (new at every start).
func (n *Node) ID() string { return n.System.ID }

// Address is this process's protoactor address.
func (n *Node) Address() string { return n.System.Address() }

// Close leaves the cluster. Graceful: the others are told first (memberlist leave), so
// they stop sending here; then each grain finishes its writes under way and stops, at most
// drainTimeout; then remote and the actor system stop. Not graceful: everything stops
// now (the others notice a failure). protoactor's own Cluster.Shutdown is not used: it
// stops the actor system first and panics on a client.
func (n *Node) Close(graceful bool) error {
	n.closeOnce.Do(func() { n.closeErr = n.teardown(graceful) })
	return n.closeErr
}

const drainTimeout = 5 * time.Second

func (n *Node) teardown(graceful bool) error {
	var errs []error
	if n.Cluster.Gossip != nil && graceful && n.member {
		n.Cluster.Gossip.SetState(cluster.GracefullyLeftKey, &emptypb.Empty{})
	}
	errs = append(errs, n.Provider.Shutdown(graceful))
	if n.member {
		if graceful {
			n.Lookup.Drain(drainTimeout)
		}
		n.Lookup.Shutdown()
	}
	if n.Cluster.Remote != nil {
		// Not protoactor's graceful remote shutdown: it waits up to 10 s for the other
		// members' connections to this one to close, which they do not while they retry
		// (seen on a node leaving after a pause). The grains were drained above.
		n.Cluster.Remote.Shutdown(false)
	}
	n.System.Shutdown()
	return errors.Join(errs...)
}

// libLogger keeps protoactor's log to warnings and errors, on standard error.
func libLogger(*actor.ActorSystem) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("lib", "protoactor")
}
