package cluster

// A protoactor-go ClusterProvider built on hashicorp/memberlist (SWIM gossip).
//
// Each process is one memberlist node named after its protoactor member id
// (ActorSystem.ID, unique per process start). The node's metadata says whether it is a
// cluster member or a client and where its protoactor remote listens. Members and clients
// gossip in the same memberlist; only members are reported to protoactor.
//
// Rules that matter for correctness:
//   - The topology handed to protoactor is every node of role member that memberlist still
//     counts as alive OR suspect. protoactor blocks a member id forever once it leaves the
//     topology, so a node is dropped only when memberlist declares it dead or it left.
//   - Memberlist calls the delegates with its node lock held. The delegates only copy what
//     they need into the provider's own state (a short mutex, nothing slow) and wake the
//     reporter goroutine; topology reports are made by that one goroutine, serialized.
//   - memberlist v0.7.0 never fills Node.State in NotifyLeave (it is shadowed by an
//     unexported field; hashicorp/memberlist#293, PR #321 unmerged), so a graceful leave
//     cannot be told from a failure by the state it reports. A node leaving gracefully
//     first re-advertises its metadata with a "leaving" flag (UpdateNode) and only then
//     calls Leave; peers that saw the flag record "left", others "failed". Should
//     memberlist start filling Node.State, StateLeft is honoured as well.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/hashicorp/memberlist"
	"go.uber.org/zap"
)

// MemberlistConfig configures the provider. Zero values take the defaults given.
type MemberlistConfig struct {
	BindAddr         string        // gossip listen host, an IP (default "127.0.0.1")
	BindPort         int           // gossip listen port (0 = pick a free one)
	AdvertiseAddr    string        // host other nodes reach us at (default BindAddr; for 0.0.0.0 memberlist picks a private IP; a name is resolved at start)
	AdvertisePort    int           // (default the bound port)
	Seeds            []string      // "host:port" gossip addresses of nodes to join through; empty = first node
	HTTPAddr         string        // this process's HTTP address, advertised in the metadata (may be "")
	ProbeInterval    time.Duration // default 400ms
	ProbeTimeout     time.Duration // default 200ms
	SuspicionMult    int           // default 2
	PushPullInterval time.Duration // default 2s
	GossipInterval   time.Duration // default 100ms
	JoinTimeout      time.Duration // how long StartMember/StartClient keep retrying the seeds (default 10s); with seeds given and none reachable, Start returns an error
	LeaveTimeout     time.Duration // graceful leave broadcast wait (default 2s)
	Logger           *zap.Logger   // memberlist's own log goes to it at debug level (nil = nop)
}

// Node roles, as reported by NodeInfo.Role and MembershipChange.Role.
const (
	RoleMember = "member"
	RoleClient = "client"
)

// Node states, as reported by NodeInfo.State.
const (
	NodeAlive   = "alive"
	NodeSuspect = "suspect"
	NodeDead    = "dead"
	NodeLeft    = "left"
)

// Membership changes, as reported by MembershipChange.Change.
const (
	ChangeJoined  = "joined"
	ChangeLeft    = "left"   // graceful leave
	ChangeFailed  = "failed" // declared dead by failure detection
	ChangeUpdated = "updated"
)

// ErrMetadataTooLarge is returned by StartMember/StartClient when the node metadata (kinds,
// addresses) does not fit memberlist's 512-byte limit; memberlist itself would panic.
var ErrMetadataTooLarge = errors.New("memberlist node metadata too large")

// NodeInfo is what this process knows about one memberlist node.
type NodeInfo struct {
	ID       string    `json:"id"`   // protoactor member id (the actor system's ID)
	Role     string    `json:"role"` // "member" or "client" ("unknown" for undecodable metadata)
	Host     string    `json:"host"` // protoactor remote host
	Port     int       `json:"port"` // protoactor remote port
	Kinds    []string  `json:"kinds"`
	HTTPAddr string    `json:"http_addr,omitempty"`
	Gossip   string    `json:"gossip"` // memberlist address
	State    string    `json:"state"`  // "alive", "suspect", "dead", "left"
	Since    time.Time `json:"since"`  // when this node was first seen (its StartedAt from the metadata)
}

// MembershipChange is one entry of History.
type MembershipChange struct {
	At     time.Time `json:"at"`
	Node   string    `json:"node"` // member id
	Role   string    `json:"role"`
	Addr   string    `json:"addr"`   // remote host:port
	Change string    `json:"change"` // "joined", "left" (graceful), "failed" (declared dead), "updated"
}

const (
	defaultBindAddr         = "127.0.0.1"
	defaultProbeInterval    = 400 * time.Millisecond
	defaultProbeTimeout     = 200 * time.Millisecond
	defaultSuspicionMult    = 2
	defaultPushPullInterval = 2 * time.Second
	defaultGossipInterval   = 100 * time.Millisecond
	defaultJoinTimeout      = 10 * time.Second
	defaultLeaveTimeout     = 2 * time.Second

	historySize = 100
	// forgetAfter is how long Nodes keeps a dead or left node after it went.
	forgetAfter = 15 * time.Minute
	// maxJoinBackoff caps the pause between join attempts.
	maxJoinBackoff = time.Second
)

const (
	stateIdle = iota
	stateStarting
	stateRunning
	stateStopped
)

// MemberlistProvider is a protoactor cluster.ClusterProvider whose membership is a
// hashicorp/memberlist gossip cluster. Create it with NewMemberlistProvider; one provider
// serves one StartMember or StartClient call.
type MemberlistProvider struct {
	cfg     MemberlistConfig
	log     *zap.Logger
	meta    atomic.Pointer[[]byte] // what NodeMeta hands memberlist
	kick    chan struct{}          // wakes the reporter; buffered 1, coalescing
	changes chan struct{}          // signalled after each topology report; buffered 1
	quit    chan struct{}          // closed by Shutdown (aborts a start in progress)

	// wrapTransport, when set (tests), wraps the gossip transport.
	wrapTransport func(memberlist.NodeAwareTransport) memberlist.NodeAwareTransport

	mu         sync.Mutex
	state      int
	ml         *memberlist.Memberlist
	gossipAddr string
	stop       chan struct{} // closes the reporter
	done       chan struct{} // closed by the reporter when it returns
	nodes      map[string]*nodeEntry
	history    []MembershipChange // ring of historySize
	histNext   int                // next write position in history once it is full
}

var _ cluster.ClusterProvider = (*MemberlistProvider)(nil)

type nodeEntry struct {
	info    NodeInfo
	leaving bool      // the node announced a graceful leave
	goneAt  time.Time // when it became dead/left
}

// NewMemberlistProvider returns a provider for cfg, defaults applied.
func NewMemberlistProvider(cfg MemberlistConfig) *MemberlistProvider {
	if cfg.BindAddr == "" {
		cfg.BindAddr = defaultBindAddr
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = defaultProbeInterval
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = defaultProbeTimeout
	}
	if cfg.SuspicionMult <= 0 {
		cfg.SuspicionMult = defaultSuspicionMult
	}
	if cfg.PushPullInterval <= 0 {
		cfg.PushPullInterval = defaultPushPullInterval
	}
	if cfg.GossipInterval <= 0 {
		cfg.GossipInterval = defaultGossipInterval
	}
	if cfg.JoinTimeout <= 0 {
		cfg.JoinTimeout = defaultJoinTimeout
	}
	if cfg.LeaveTimeout <= 0 {
		cfg.LeaveTimeout = defaultLeaveTimeout
	}
	cfg.Seeds = slices.Clone(cfg.Seeds)
	lg := cfg.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	return &MemberlistProvider{
		cfg:     cfg,
		log:     lg.With(zap.String("component", "memberlist")),
		kick:    make(chan struct{}, 1),
		changes: make(chan struct{}, 1),
		quit:    make(chan struct{}),
		nodes:   make(map[string]*nodeEntry),
	}
}

// StartMember joins the gossip cluster as a member and starts reporting the topology to c.
func (p *MemberlistProvider) StartMember(c *cluster.Cluster) error { return p.start(c, RoleMember) }

// StartClient joins the gossip cluster as a client: it learns the members and reports them
// to c, but is never itself part of the topology.
func (p *MemberlistProvider) StartClient(c *cluster.Cluster) error { return p.start(c, RoleClient) }

// GossipAddr is the "host:port" memberlist advertises for this node (the bound listener
// unless AdvertiseAddr/AdvertisePort say otherwise); "" before start.
func (p *MemberlistProvider) GossipAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gossipAddr
}

// Changes returns a channel signalled (non-blocking, coalesced, buffered 1) after each
// topology report.
func (p *MemberlistProvider) Changes() <-chan struct{} { return p.changes }

// Nodes lists every node this process knows, members and clients, including suspect ones
// and dead or left ones for a while (15 minutes) after they went, sorted by id.
//
// "suspect" is best effort: memberlist has no API for a node's suspicion, so a node is
// shown suspect when this process's own probe of it failed (memberlist's log says so), until
// a later probe succeeds or memberlist reports it again. Suspicion raised by other nodes
// is not visible here. Whatever Nodes shows, a suspect node stays in the topology.
func (p *MemberlistProvider) Nodes() []NodeInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]NodeInfo, 0, len(p.nodes))
	for _, e := range p.nodes {
		ni := e.info
		ni.Kinds = slices.Clone(ni.Kinds)
		out = append(out, ni)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// History returns the last 100 membership changes, oldest first.
func (p *MemberlistProvider) History() []MembershipChange {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.history) < historySize {
		return slices.Clone(p.history)
	}
	out := make([]MembershipChange, 0, historySize)
	out = append(out, p.history[p.histNext:]...)
	return append(out, p.history[:p.histNext]...)
}

// Shutdown leaves the gossip cluster. graceful: announce the leave (peers record "left"),
// waiting up to LeaveTimeout, then shut memberlist down; otherwise just shut it down (peers
// detect a failure). Safe before start, twice, and concurrently with a start in progress
// (which then fails). No topology report is made once it returns (unless one was stuck in
// protoactor for longer than LeaveTimeout).
func (p *MemberlistProvider) Shutdown(graceful bool) error {
	p.mu.Lock()
	prev := p.state
	if prev == stateStopped {
		p.mu.Unlock()
		return nil
	}
	p.state = stateStopped
	close(p.quit)
	ml, stop, done := p.ml, p.stop, p.done
	p.mu.Unlock()
	if prev != stateRunning {
		return nil
	}

	close(stop)
	select { // bounded: a topology event handler calling Shutdown would otherwise deadlock
	case <-done:
	case <-time.After(p.cfg.LeaveTimeout):
		p.log.Warn("memberlist topology reporter did not stop in time")
	}

	var errs []error
	if graceful {
		if err := p.leave(ml); err != nil {
			errs = append(errs, err)
		}
	}
	if err := ml.Shutdown(); err != nil {
		errs = append(errs, fmt.Errorf("memberlist shutdown: %w", err))
	}
	p.log.Info("memberlist stopped", zap.Bool("graceful", graceful))
	return errors.Join(errs...)
}

// leave announces a graceful leave: first the metadata flag (so peers can tell a leave from
// a failure, see the file comment), then memberlist's own leave message.
func (p *MemberlistProvider) leave(ml *memberlist.Memberlist) error {
	var errs []error
	start := time.Now()
	if b := p.meta.Load(); b != nil {
		var m nodeMeta
		if json.Unmarshal(*b, &m) == nil {
			m.Leaving = true
			if lb, err := json.Marshal(m); err == nil && len(lb) <= memberlist.MetaMaxSize {
				p.meta.Store(&lb)
				if err := ml.UpdateNode(p.cfg.LeaveTimeout / 2); err != nil {
					errs = append(errs, fmt.Errorf("memberlist: announce leave: %w", err))
				}
			}
		}
	}
	remaining := max(p.cfg.LeaveTimeout-time.Since(start), p.cfg.LeaveTimeout/2)
	if err := ml.Leave(remaining); err != nil {
		errs = append(errs, fmt.Errorf("memberlist leave: %w", err))
	}
	return errors.Join(errs...)
}

func (p *MemberlistProvider) start(c *cluster.Cluster, role string) (err error) {
	if c == nil || c.ActorSystem == nil || c.MemberList == nil {
		return errors.New("memberlist provider: nil cluster")
	}
	p.mu.Lock()
	switch p.state {
	case stateIdle:
		p.state = stateStarting
	case stateStopped:
		p.mu.Unlock()
		return errors.New("memberlist provider: already shut down")
	default:
		p.mu.Unlock()
		return errors.New("memberlist provider: already started")
	}
	p.mu.Unlock()
	defer func() {
		if err != nil { // a failed start leaves nothing behind
			p.mu.Lock()
			if p.state == stateStarting {
				p.state = stateIdle
			}
			p.nodes = make(map[string]*nodeEntry)
			p.history, p.histNext = nil, 0
			p.mu.Unlock()
		}
	}()

	host, port, err := c.ActorSystem.GetHostPort()
	if err != nil || port <= 0 {
		return fmt.Errorf("memberlist provider: protoactor remote address %q unusable (is the remote started?): %v", c.ActorSystem.Address(), err)
	}
	meta := nodeMeta{
		Role:    roleCode(role),
		Host:    host,
		Port:    port,
		HTTP:    p.cfg.HTTPAddr,
		Started: time.Now().UnixMilli(),
	}
	if role == RoleMember {
		meta.Kinds = c.GetClusterKinds()
		sort.Strings(meta.Kinds)
	}
	metaBytes, err := encodeMeta(meta)
	if err != nil {
		return err
	}
	p.meta.Store(&metaBytes)

	if net.ParseIP(p.cfg.BindAddr) == nil {
		return fmt.Errorf("memberlist provider: BindAddr %q is not an IP address", p.cfg.BindAddr)
	}
	advertise, err := resolveAdvertise(p.cfg.AdvertiseAddr)
	if err != nil {
		return err
	}

	mlLog := log.New(&zapWriter{log: p.log, onSuspect: p.markSuspect}, "", 0)
	nt, err := newNetTransport(p.cfg.BindAddr, p.cfg.BindPort, mlLog)
	if err != nil {
		return fmt.Errorf("memberlist provider: listen on %s:%d: %w", p.cfg.BindAddr, p.cfg.BindPort, err)
	}
	var transport memberlist.NodeAwareTransport = nt
	if p.wrapTransport != nil {
		transport = p.wrapTransport(nt)
	}

	conf := p.memberlistConfig(c.ActorSystem.ID, c.Config.Name, advertise, nt.GetAutoBindPort())
	conf.Logger = mlLog
	conf.Transport = transport
	d := &mlDelegate{p: p}
	conf.Delegate, conf.Events, conf.Ping = d, d, d

	ml, err := memberlist.Create(conf)
	if err != nil {
		_ = transport.Shutdown()
		return fmt.Errorf("memberlist provider: create: %w", err)
	}
	// Safe to read without racing: only UpdateNode (at leave) rewrites the local node.
	gossip := ml.LocalNode().Address()

	if err := p.join(ml, gossip); err != nil {
		_ = ml.Shutdown()
		return err
	}

	p.mu.Lock()
	if p.state != stateStarting { // Shutdown was called meanwhile
		p.mu.Unlock()
		_ = ml.Shutdown()
		return errors.New("memberlist provider: shut down while starting")
	}
	p.state = stateRunning
	p.ml = ml
	p.gossipAddr = gossip
	p.stop = make(chan struct{})
	p.done = make(chan struct{})
	stop, done := p.stop, p.done
	p.mu.Unlock()

	go p.reportLoop(c, stop, done)
	p.kickReport() // first report right away (includes self for a member)
	p.log.Info("memberlist started", zap.String("id", c.ActorSystem.ID), zap.String("role", role),
		zap.String("gossip", gossip), zap.String("remote", net.JoinHostPort(host, strconv.Itoa(port))),
		zap.Int("meta_bytes", len(metaBytes)))
	return nil
}

// memberlistConfig: stock LAN settings with failure detection tuned for a small LAN cluster
// (failover about 2.5 s instead of about 6 s).
func (p *MemberlistProvider) memberlistConfig(name, clusterName, advertise string, boundPort int) *memberlist.Config {
	conf := memberlist.DefaultLANConfig()
	conf.Name = name
	conf.BindAddr = p.cfg.BindAddr
	conf.BindPort = boundPort
	conf.AdvertiseAddr = advertise
	if conf.AdvertiseAddr == "" {
		if ip := net.ParseIP(p.cfg.BindAddr); ip == nil || !ip.IsUnspecified() {
			conf.AdvertiseAddr = p.cfg.BindAddr
		}
	}
	conf.AdvertisePort = p.cfg.AdvertisePort
	if conf.AdvertisePort == 0 {
		conf.AdvertisePort = boundPort
	}
	conf.ProbeInterval = p.cfg.ProbeInterval
	conf.ProbeTimeout = p.cfg.ProbeTimeout
	conf.SuspicionMult = p.cfg.SuspicionMult
	conf.PushPullInterval = p.cfg.PushPullInterval
	conf.GossipInterval = p.cfg.GossipInterval
	// Indirect probes through up to 3 peers keep a blip on the prober's own path from
	// raising a suspicion; with ProbeTimeout at half the ProbeInterval they still complete
	// within the interval.
	conf.IndirectChecks = 3
	// Names are unique per process start, so a name never legitimately moves address; let a
	// dead one be reclaimed quickly anyway rather than being refused for memberlist's default.
	conf.DeadNodeReclaimTime = time.Second
	// Bound a stuck TCP exchange (push/pull, join) to a few seconds, not 10.
	conf.TCPTimeout = 3 * time.Second
	// Packets and streams carry the protoactor cluster name: nodes of another cluster on the
	// same network are refused instead of merged.
	conf.Label = "protoactor/" + clusterName
	if len(conf.Label) > memberlist.LabelMaxSize {
		conf.Label = conf.Label[:memberlist.LabelMaxSize]
	}
	return conf
}

// resolveAdvertise turns a host name given as AdvertiseAddr into an IP (memberlist wants
// one), preferring IPv4.
func resolveAdvertise(addr string) (string, error) {
	if addr == "" || net.ParseIP(addr) != nil {
		return addr, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", addr)
	if err != nil || len(ips) == 0 {
		return "", fmt.Errorf("memberlist provider: resolve AdvertiseAddr %q: %v", addr, err)
	}
	for _, ip := range ips {
		if ip.To4() != nil {
			return ip.String(), nil
		}
	}
	return ips[0].String(), nil
}

// join contacts the seeds, retrying with back-off for up to JoinTimeout. No seeds (or only
// our own address) means this node starts a new cluster.
func (p *MemberlistProvider) join(ml *memberlist.Memberlist, self string) error {
	seeds := make([]string, 0, len(p.cfg.Seeds))
	for _, s := range p.cfg.Seeds {
		if s = strings.TrimSpace(s); s != "" && s != self {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return nil
	}
	deadline := time.NewTimer(p.cfg.JoinTimeout)
	defer deadline.Stop()
	backoff := 50 * time.Millisecond
	var lastErr error
	for {
		// Join blocks on network I/O; run it aside so JoinTimeout and Shutdown stay bounded.
		res := make(chan error, 1)
		go func() {
			n, err := ml.Join(seeds)
			if n > 0 {
				err = nil
			} else if err == nil {
				err = errors.New("no seed reachable")
			}
			res <- err
		}()
		select {
		case err := <-res:
			if err == nil {
				return nil
			}
			lastErr = err
			p.log.Debug("memberlist join failed, retrying", zap.Strings("seeds", seeds), zap.Error(err))
		case <-deadline.C:
			return p.joinErr(seeds, lastErr)
		case <-p.quit:
			return errors.New("memberlist provider: shut down while joining")
		}
		select {
		case <-time.After(backoff):
		case <-deadline.C:
			return p.joinErr(seeds, lastErr)
		case <-p.quit:
			return errors.New("memberlist provider: shut down while joining")
		}
		backoff = min(backoff*2, maxJoinBackoff)
	}
}

func (p *MemberlistProvider) joinErr(seeds []string, last error) error {
	if last == nil {
		last = errors.New("join still in progress")
	}
	return fmt.Errorf("memberlist provider: could not join any seed of %v within %s: %w", seeds, p.cfg.JoinTimeout, last)
}

// reportLoop is the only caller of UpdateClusterTopology: one report per (coalesced) kick.
func (p *MemberlistProvider) reportLoop(c *cluster.Cluster, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-stop:
			return
		case <-p.kick:
		}
		select { // Shutdown wins over a pending kick
		case <-stop:
			return
		default:
		}
		c.MemberList.UpdateClusterTopology(p.topology())
		select {
		case p.changes <- struct{}{}:
		default:
		}
	}
}

// topology: every member memberlist has not declared dead or left (alive or suspect).
func (p *MemberlistProvider) topology() []*cluster.Member {
	p.mu.Lock()
	defer p.mu.Unlock()
	members := make([]*cluster.Member, 0, len(p.nodes))
	for _, e := range p.nodes {
		ni := e.info
		if ni.Role != RoleMember || (ni.State != NodeAlive && ni.State != NodeSuspect) || ni.Host == "" || ni.Port <= 0 {
			continue
		}
		members = append(members, &cluster.Member{
			Id:    ni.ID,
			Host:  ni.Host,
			Port:  int32(ni.Port),
			Kinds: slices.Clone(ni.Kinds),
		})
	}
	sort.Slice(members, func(i, j int) bool { return members[i].Id < members[j].Id })
	return members
}

func (p *MemberlistProvider) kickReport() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

type nodeEvent int

const (
	evJoin nodeEvent = iota
	evUpdate
	evLeave
)

// onNode records a memberlist event. Called from the delegates with memberlist's node lock
// held: copies, a short lock of our own, a non-blocking kick; no memberlist calls.
func (p *MemberlistProvider) onNode(n *memberlist.Node, ev nodeEvent) {
	now := time.Now()
	info, leaving := nodeInfoFrom(n)
	p.mu.Lock()
	prev := p.nodes[n.Name]
	change := ""
	e := &nodeEntry{info: info, leaving: leaving}
	switch ev {
	case evJoin:
		e.info.State = NodeAlive
		change = ChangeJoined
	case evUpdate:
		e.info.State = NodeAlive
		change = ChangeUpdated
		if prev != nil {
			e.leaving = e.leaving || prev.leaving
			if prev.info.State == NodeAlive || prev.info.State == NodeSuspect {
				if sameAdvertised(prev.info, info) {
					change = "" // only the leaving flag changed
				}
			}
		}
	case evLeave:
		if prev != nil {
			e.leaving = e.leaving || prev.leaving
		}
		e.goneAt = now
		if e.leaving || n.State == memberlist.StateLeft {
			e.info.State, change = NodeLeft, ChangeLeft
		} else {
			e.info.State, change = NodeDead, ChangeFailed
		}
	}
	p.nodes[n.Name] = e
	if change != "" {
		p.recordLocked(MembershipChange{
			At:     now,
			Node:   info.ID,
			Role:   info.Role,
			Addr:   net.JoinHostPort(info.Host, strconv.Itoa(info.Port)),
			Change: change,
		})
	}
	for id, old := range p.nodes {
		if !old.goneAt.IsZero() && now.Sub(old.goneAt) > forgetAfter {
			delete(p.nodes, id)
		}
	}
	p.mu.Unlock()
	p.kickReport()

	if change != "" {
		lvl := p.log.Info
		if change == ChangeUpdated {
			lvl = p.log.Debug
		}
		lvl("memberlist node "+change, zap.String("id", info.ID), zap.String("role", info.Role),
			zap.String("remote", net.JoinHostPort(info.Host, strconv.Itoa(info.Port))), zap.String("gossip", info.Gossip))
	}
}

func (p *MemberlistProvider) recordLocked(c MembershipChange) {
	if len(p.history) < historySize {
		p.history = append(p.history, c)
		return
	}
	p.history[p.histNext] = c
	p.histNext = (p.histNext + 1) % historySize
}

// markSuspect: this node's own probe of name failed (seen in memberlist's log).
func (p *MemberlistProvider) markSuspect(name string) {
	p.mu.Lock()
	if e := p.nodes[name]; e != nil && e.info.State == NodeAlive {
		e.info.State = NodeSuspect
	}
	p.mu.Unlock()
}

// clearSuspect: a probe of name was acknowledged.
func (p *MemberlistProvider) clearSuspect(name string) {
	p.mu.Lock()
	if e := p.nodes[name]; e != nil && e.info.State == NodeSuspect {
		e.info.State = NodeAlive
	}
	p.mu.Unlock()
}

func sameAdvertised(a, b NodeInfo) bool {
	return a.Role == b.Role && a.Host == b.Host && a.Port == b.Port && a.HTTPAddr == b.HTTPAddr &&
		a.Gossip == b.Gossip && slices.Equal(a.Kinds, b.Kinds)
}

// nodeMeta is the memberlist node metadata, kept compact (memberlist's limit is 512 bytes).
type nodeMeta struct {
	Role    string   `json:"r"`           // "m" member, "c" client
	Host    string   `json:"h"`           // protoactor remote host
	Port    int      `json:"p"`           // protoactor remote port
	Kinds   []string `json:"k,omitempty"` // cluster kinds (members)
	HTTP    string   `json:"w,omitempty"` // HTTP address
	Started int64    `json:"t"`           // start, unix milliseconds
	Leaving bool     `json:"l,omitempty"` // graceful leave announced
}

func roleCode(role string) string {
	if role == RoleClient {
		return "c"
	}
	return "m"
}

// encodeMeta encodes m, refusing metadata that would not fit memberlist's limit, including
// once the leaving flag is added.
func encodeMeta(m nodeMeta) ([]byte, error) {
	withLeave := m
	withLeave.Leaving = true
	b, err := json.Marshal(withLeave)
	if err != nil {
		return nil, fmt.Errorf("memberlist provider: encode metadata: %w", err)
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("%w: %d bytes over the %d-byte limit (%d kinds, http address %d bytes)",
			ErrMetadataTooLarge, len(b), memberlist.MetaMaxSize, len(m.Kinds), len(m.HTTP))
	}
	m.Leaving = false
	return json.Marshal(m)
}

// nodeInfoFrom decodes a memberlist node (state left for the caller to set).
func nodeInfoFrom(n *memberlist.Node) (NodeInfo, bool) {
	info := NodeInfo{ID: n.Name, Gossip: n.Address(), Role: "unknown"}
	var m nodeMeta
	if len(n.Meta) == 0 || json.Unmarshal(n.Meta, &m) != nil {
		return info, false
	}
	switch m.Role {
	case "m":
		info.Role = RoleMember
	case "c":
		info.Role = RoleClient
	}
	info.Host, info.Port, info.HTTPAddr = m.Host, m.Port, m.HTTP
	info.Kinds = m.Kinds
	if info.Kinds == nil {
		info.Kinds = []string{}
	}
	if m.Started > 0 {
		info.Since = time.UnixMilli(m.Started)
	}
	return info, m.Leaving
}

// mlDelegate implements memberlist's Delegate, EventDelegate and PingDelegate without
// exporting those methods on the provider.
type mlDelegate struct{ p *MemberlistProvider }

func (d *mlDelegate) NodeMeta(limit int) []byte {
	b := d.p.meta.Load()
	if b == nil || len(*b) > limit { // never: checked at start; never panic memberlist
		return nil
	}
	return *b
}
func (d *mlDelegate) NotifyMsg([]byte)                           {}
func (d *mlDelegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *mlDelegate) LocalState(join bool) []byte                { return nil }
func (d *mlDelegate) MergeRemoteState(buf []byte, join bool)     {}

func (d *mlDelegate) NotifyJoin(n *memberlist.Node)   { d.p.onNode(n, evJoin) }
func (d *mlDelegate) NotifyUpdate(n *memberlist.Node) { d.p.onNode(n, evUpdate) }
func (d *mlDelegate) NotifyLeave(n *memberlist.Node)  { d.p.onNode(n, evLeave) }

func (d *mlDelegate) AckPayload() []byte { return nil }
func (d *mlDelegate) NotifyPingComplete(other *memberlist.Node, _ time.Duration, _ []byte) {
	d.p.clearSuspect(other.Name)
}

// newNetTransport binds memberlist's UDP+TCP transport; with port 0 the kernel's pick for
// TCP may be taken for UDP, so retry a few times as memberlist itself does.
func newNetTransport(bindAddr string, bindPort int, logger *log.Logger) (*memberlist.NetTransport, error) {
	nc := &memberlist.NetTransportConfig{BindAddrs: []string{bindAddr}, BindPort: bindPort, Logger: logger}
	attempts := 1
	if bindPort == 0 {
		attempts = 10
	}
	var err error
	for range attempts {
		var nt *memberlist.NetTransport
		if nt, err = memberlist.NewNetTransport(nc); err == nil {
			return nt, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, err
}

// zapWriter receives memberlist's log lines ("[LEVEL] memberlist: ...") and passes them to
// zap at debug level. It also spots the line memberlist writes when this node's probe of
// another fails, the only local sign of a suspicion memberlist gives.
type zapWriter struct {
	log       *zap.Logger
	onSuspect func(name string)
}

const (
	suspectPrefix = "memberlist: Suspect "
	suspectSuffix = " has failed, no acks received"
)

func (w *zapWriter) Write(b []byte) (int, error) {
	line := strings.TrimSpace(string(b))
	level := ""
	if strings.HasPrefix(line, "[") {
		if i := strings.IndexByte(line, ']'); i > 0 {
			level, line = line[1:i], strings.TrimSpace(line[i+1:])
		}
	}
	if w.onSuspect != nil && strings.HasPrefix(line, suspectPrefix) && strings.HasSuffix(line, suspectSuffix) {
		w.onSuspect(strings.TrimSuffix(strings.TrimPrefix(line, suspectPrefix), suspectSuffix))
	}
	w.log.Debug(line, zap.String("memberlist_level", level))
	return len(b), nil
}
