// Package actors runs the seat engine: one protoactor-go actor per section of an event,
// which owns that section's state, serializes every command on it and makes every change
// durable (group commit) before anyone is told it happened.
package actors

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/cluster"
)

// Config wires the engine to its ports.
type Config struct {
	Store     ticketview.SectionStore   // journal and snapshots (required)
	Events    ticketview.EventStore     // required
	Venues    ticketview.VenueStore     // required
	Deltas    ticketview.DeltaPublisher // optional: live seat maps
	Publisher ticketview.EventPublisher // optional: domain events
	Snapshots ticketview.SnapshotCache  // optional: each snapshot is also put here once stored
	Logger    *zap.Logger               // optional
	Now       func() time.Time          // optional: the clock
	// SnapshotEvery is how many journaled events make a new snapshot (default 1000).
	SnapshotEvery int
	// StoreTimeout bounds one journal write or activation (default 5s).
	StoreTimeout time.Duration
	// RequestTimeout bounds a command when the caller's context has no deadline (default 10s).
	RequestTimeout time.Duration

	// Clustered makes the engine a host of section grains (SectionProps) for a
	// protoactor cluster, on the cluster's actor system (System, required then). Its
	// own BookingService methods are then disabled: callers use the cluster client, and a
	// section is activated only where the placement puts it.
	Clustered bool
	System    *actor.ActorSystem
	// Lease is how long a grain may answer from memory after it last proved, by a write
	// or by reading the store's epoch (ticketview.EpochReader), that it still owns its
	// section (default 500ms; it must stay below the time the cluster takes to declare a
	// silent member dead and activate its sections elsewhere).
	Lease time.Duration
	// Cluster is how a clustered engine calls other grains (the node's *cluster.Client):
	// the buyer ledger grains (LedgerProps) rebuild from the sections through it, and the
	// section grains give seats that come back to the ledgers through it. The node exists
	// only after the engine: SetCluster sets it then.
	Cluster ClusterCaller
}

// ClusterCaller calls grains through the cluster (*cluster.Client implements it).
type ClusterCaller interface {
	Call(ctx context.Context, id ticketview.SectionID, op string, args cluster.CallArgs) (cluster.CallResult, error)
	CallLedger(ctx context.Context, eventID, op string, args cluster.CallArgs) (cluster.CallResult, error)
}

// Engine is the seat engine on one node. It implements ticketview.BookingService.
type Engine struct {
	cfg    Config
	system *actor.ActorSystem
	log    *zap.Logger
	disp   *workerDispatcher

	mu       sync.RWMutex
	sections map[ticketview.SectionID]*actor.PID
	closed   bool
	grainPID sync.Map // clustered: section id -> *actor.PID of its grain active here (reconfigure.go)

	ledgers sync.Map       // event id -> *eventLedger (one node)
	writers sync.WaitGroup // journal and snapshot writes under way
	buildMu sync.Mutex

	// Clustered engines only.
	caller  atomic.Pointer[callerBox]
	bg      context.Context // ends at Close: the returns to the ledger grains
	stopBG  context.CancelFunc
	returns sync.WaitGroup // returns to the ledger grains under way

	metrics struct {
		activations, reactivations, commitFailures, commits, committedEvents, fenced, commands atomic.Int64
		grains                                                                                 atomic.Int64
	}
}

var _ ticketview.BookingService = (*Engine)(nil)

// NewEngine returns an engine; Start it before use.
func NewEngine(cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.Events == nil || cfg.Venues == nil {
		return nil, errors.New("actors: Store, Events and Venues are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SnapshotEvery <= 0 {
		cfg.SnapshotEvery = 1000
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 5 * time.Second
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 500 * time.Millisecond
	}
	system := cfg.System
	if cfg.Clustered && system == nil {
		return nil, errors.New("actors: a clustered engine needs the cluster's actor System")
	} else if system == nil {
		system = actor.NewActorSystem(actor.WithLoggerFactory(quietLogger))
	}
	e := &Engine{
		cfg:      cfg,
		system:   system,
		log:      cfg.Logger.Named("engine"),
		disp:     newWorkerDispatcher(max(4, 2*runtime.GOMAXPROCS(0))),
		sections: map[ticketview.SectionID]*actor.PID{},
	}
	e.bg, e.stopBG = context.WithCancel(context.Background())
	if cfg.Cluster != nil {
		e.SetCluster(cfg.Cluster)
	}
	return e, nil
}

type callerBox struct{ c ClusterCaller }

// SetCluster sets Config.Cluster: a clustered engine's grains reach other grains through c
// (the node's client, which exists only once the node has joined). Until it is set, a
// buyer ledger grain answers EUNAVAILABLE and the returns of seats wait.
func (e *Engine) SetCluster(c ClusterCaller) { e.caller.Store(&callerBox{c}) }

// clusterCaller returns the cluster's caller, waiting for SetCluster until ctx ends (nil
// then).
func (e *Engine) clusterCaller(ctx context.Context) ClusterCaller {
	for {
		if b := e.caller.Load(); b != nil && b.c != nil {
			return b.c
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Start activates the sections of every event, recovering them from the store, and builds
// each event's per-buyer ledger from them.
func (e *Engine) Start(ctx context.Context) error {
	if e.cfg.Clustered {
		return nil // sections activate where the placement puts them
	}
	for offset := 0; ; {
		evs, total, err := e.cfg.Events.ListEvents(ctx, ticketview.EventFilter{Offset: offset, Limit: 100})
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if _, err := e.ledgerFor(ctx, ev.ID); err != nil {
				return err
			}
		}
		offset += len(evs)
		if len(evs) == 0 || offset >= total {
			return nil
		}
	}
}

// Close stops every section actor after the commands already sent to it.
func (e *Engine) Close() error {
	e.mu.Lock()
	e.closed = true
	pids := make([]*actor.PID, 0, len(e.sections))
	for _, pid := range e.sections {
		pids = append(pids, pid)
	}
	e.mu.Unlock()
	for _, pid := range pids {
		_ = e.system.Root.PoisonFuture(pid).Wait()
	}
	e.writers.Wait() // no write may reach the store after Close
	e.stopBG()
	e.returns.Wait()
	if e.cfg.System == nil {
		e.system.Shutdown()
	}
	e.disp.stop()
	return nil
}

// Stats are counters for operators.
type Stats struct {
	Sections        int   `json:"sections"` // active sections (grains, when clustered)
	Activations     int64 `json:"activations"`
	Reactivations   int64 `json:"reactivations"`    // activations of sections that had been active before (restart, failover, move)
	Fenced          int64 `json:"fenced"`           // activations that found a newer one and stopped
	Commands        int64 `json:"commands"`         // commands the sections handled
	Commits         int64 `json:"commits"`          // group commits (journal writes) that succeeded
	CommittedEvents int64 `json:"committed_events"` // events in them
	CommitFailures  int64 `json:"commit_failures"`
}

// Stats reports the engine's counters.
func (e *Engine) Stats() Stats {
	e.mu.RLock()
	n := len(e.sections)
	e.mu.RUnlock()
	if e.cfg.Clustered {
		n = int(e.metrics.grains.Load())
	}
	return Stats{Sections: n, Activations: e.metrics.activations.Load(), Reactivations: e.metrics.reactivations.Load(),
		Fenced: e.metrics.fenced.Load(), Commands: e.metrics.commands.Load(), Commits: e.metrics.commits.Load(),
		CommittedEvents: e.metrics.committedEvents.Load(), CommitFailures: e.metrics.commitFailures.Load()}
}

// now is the clock as the domain sees it: UTC, without a monotonic reading, so times read
// back from the journal equal the ones handed out.
func (e *Engine) now() time.Time { return e.cfg.Now().Round(0).UTC() }

// pid returns the section's actor, spawning it (which recovers its state) on first use.
func (e *Engine) pid(ctx context.Context, id ticketview.SectionID) (*actor.PID, error) {
	e.mu.RLock()
	pid, ok := e.sections[id]
	closed := e.closed
	e.mu.RUnlock()
	if ok {
		return pid, nil
	} else if closed {
		return nil, ticketview.Errorf(ticketview.EUNAVAILABLE, "engine is shutting down")
	} else if e.cfg.Clustered {
		// Activating here would fence off the section's owner: commands go through the cluster.
		return nil, ticketview.Errorf(ticketview.EINTERNAL, "a clustered engine takes commands through the cluster only")
	}
	cfg, err := e.sectionConfig(ctx, id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if pid, ok := e.sections[id]; ok {
		return pid, nil
	}
	if e.closed {
		return nil, ticketview.Errorf(ticketview.EUNAVAILABLE, "engine is shutting down")
	}
	props := actor.PropsFromProducer(func() actor.Actor {
		return &sectionActor{eng: e, id: id, cfg: cfg, log: e.log.With(zap.Stringer("section", id))}
	}, actor.WithDispatcher(e.disp))
	pid, err = e.system.Root.SpawnNamed(props, cluster.Identity(id))
	if err != nil && !errors.Is(err, actor.ErrNameExists) {
		return nil, err
	}
	e.sections[id] = pid
	return pid, nil
}

// forget drops a stopped section actor so the next command activates it anew.
func (e *Engine) forget(id ticketview.SectionID, pid *actor.PID) {
	e.mu.Lock()
	if cur, ok := e.sections[id]; ok && cur.Equal(pid) {
		delete(e.sections, id)
	}
	e.mu.Unlock()
}

func (e *Engine) sectionConfig(ctx context.Context, id ticketview.SectionID) (ticketview.SectionConfig, error) {
	ev, err := e.cfg.Events.FindEvent(ctx, id.Event)
	if err != nil {
		return ticketview.SectionConfig{}, err
	}
	v, err := e.cfg.Venues.FindVenue(ctx, ev.VenueID)
	if err != nil {
		return ticketview.SectionConfig{}, err
	}
	layout, ok := v.Section(id.Section)
	if !ok {
		return ticketview.SectionConfig{}, ticketview.Errorf(ticketview.ENOTFOUND, "event %q has no section %q", id.Event, id.Section)
	}
	return ticketview.SectionConfig{ID: id, Layout: layout, Categories: ev.Categories, Currency: ev.Currency}, nil
}

// call sends a command to the section and waits for its answer.
func (e *Engine) call(ctx context.Context, id ticketview.SectionID, c *command) (any, error) {
	pid, err := e.pid(ctx, id)
	if err != nil {
		c.finish(err)
		return nil, err
	}
	// Without a deadline of the caller's, RequestTimeout bounds the wait: a pooled timer
	// does it without the allocations of a context.WithTimeout per call.
	var expired <-chan time.Time
	if _, ok := ctx.Deadline(); !ok {
		t := getTimer(e.cfg.RequestTimeout)
		defer putTimer(t)
		expired = t.C
	}
	c.done = make(chan result, 1)
	e.system.Root.Send(pid, c)
	select {
	case r := <-c.done:
		return r.v, r.err
	case <-ctx.Done():
	case <-expired:
	}
	return nil, ticketview.Errorf(ticketview.EUNAVAILABLE, "section %s did not answer in time", id)
}

// timers are stopped request timers for reuse. Since Go 1.23 a stopped or reset timer
// never delivers a value from before, so a reused timer cannot fire early.
var timers sync.Pool

func getTimer(d time.Duration) *time.Timer {
	if t, ok := timers.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

func putTimer(t *time.Timer) {
	t.Stop()
	timers.Put(t)
}

// published runs after a group commit: it feeds the ports and the buyer ledgers.
func (e *Engine) published(id ticketview.SectionID, evs []ticketview.SectionEvent, deltas []ticketview.SeatDelta, labels [][]string) {
	if e.cfg.Clustered {
		e.returnSeats(id, evs)
	} else if l, ok := e.ledgers.Load(id.Event); ok {
		led := l.(*eventLedger)
		for i := range evs {
			switch evs[i].Type {
			case ticketview.EvHoldReleased, ticketview.EvHoldExpired, ticketview.EvSaleCancelled:
				led.giveBack(evs[i].Owner, int(evs[i].Quantity))
			}
		}
	}
	if e.cfg.Deltas != nil {
		for _, d := range deltas {
			e.cfg.Deltas.PublishDelta(d)
		}
	}
	if e.cfg.Publisher != nil {
		out := make([]ticketview.DomainEvent, len(evs))
		for i := range evs {
			out[i] = ticketview.DomainEvent{Section: id, SectionEvent: evs[i]}
			if i < len(labels) {
				out[i].Labels = labels[i]
			}
		}
		e.cfg.Publisher.PublishEvents(out)
	}
}

// ---- per-buyer limits ----

// returnSeats gives the seats that came back in evs (holds released or expired, sales
// cancelled) to the event's buyer ledger grain. It does not wait: the calls are made from
// another goroutine, off the section actor. Each return names its section and event, so
// that it is applied once, and not at all by a ledger that counted the section after it.
// A return that does not arrive (the ledger unreachable until the call's deadline, the
// member stopping) leaves the buyer's count too high until the ledger grain is activated
// again, when it counts what the sections hold.
func (e *Engine) returnSeats(id ticketview.SectionID, evs []ticketview.SectionEvent) {
	var rets []cluster.CallArgs
	for i := range evs {
		switch evs[i].Type {
		case ticketview.EvHoldReleased, ticketview.EvHoldExpired, ticketview.EvSaleCancelled:
			rets = append(rets, cluster.CallArgs{Owner: evs[i].Owner, Quantity: int(evs[i].Quantity),
				Section: id.Section, Seq: evs[i].Seq, IdemKey: "ret_" + cluster.Identity(id) + "#" + strconv.FormatUint(evs[i].Seq, 10)})
		}
	}
	if len(rets) == 0 {
		return
	}
	e.mu.RLock()
	closed := e.closed
	if !closed {
		e.returns.Add(1)
	}
	e.mu.RUnlock()
	if closed {
		e.log.Warn("engine closed: seats not given back to the buyer ledger", zap.Stringer("section", id), zap.Int("returns", len(rets)))
		return
	}
	go func() {
		defer e.returns.Done()
		for _, r := range rets {
			ctx, cancel := context.WithTimeout(e.bg, e.cfg.RequestTimeout)
			var err error = ticketview.Errorf(ticketview.EUNAVAILABLE, "not part of a cluster yet")
			if cl := e.clusterCaller(ctx); cl != nil {
				_, err = cl.CallLedger(ctx, id.Event, cluster.OpReturn, r)
			}
			cancel()
			if err != nil {
				e.log.Warn("seats not given back to the buyer ledger: the buyer's count stays too high until the ledger grain is activated again",
					zap.Stringer("section", id), zap.String("owner", r.Owner), zap.Int("seats", r.Quantity), zap.Error(err))
			}
		}
	}()
}

type eventLedger struct {
	mu    sync.Mutex
	l     *ticketview.BuyerLedger
	limit int
}

func (l *eventLedger) reserve(owner string, n int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.l.Reserve(owner, n, l.limit)
}

func (l *eventLedger) giveBack(owner string, n int) {
	l.mu.Lock()
	l.l.Return(owner, n)
	l.mu.Unlock()
}

// ledgerFor returns the event's ledger, building it from its sections' counts first. A
// clustered engine has none: the event's buyer ledger grain (LedgerProps) keeps the limit.
func (e *Engine) ledgerFor(ctx context.Context, eventID string) (*eventLedger, error) {
	if e.cfg.Clustered {
		return nil, ticketview.Errorf(ticketview.EINTERNAL, "a clustered engine takes commands through the cluster only")
	}
	if l, ok := e.ledgers.Load(eventID); ok {
		return l.(*eventLedger), nil
	}
	e.buildMu.Lock()
	defer e.buildMu.Unlock()
	if l, ok := e.ledgers.Load(eventID); ok {
		return l.(*eventLedger), nil
	}
	ev, err := e.cfg.Events.FindEvent(ctx, eventID)
	if err != nil {
		return nil, err
	}
	v, err := e.cfg.Venues.FindVenue(ctx, ev.VenueID)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for _, s := range v.Sections {
		res, err := e.call(ctx, ticketview.SectionID{Event: eventID, Section: s.ID}, &command{
			run: func(sec *ticketview.Section, _ time.Time) (any, error) { return sec.OwnerCounts(), nil },
		})
		if err != nil {
			return nil, err
		}
		for o, n := range res.(map[string]int) {
			counts[o] += n
		}
	}
	l := &eventLedger{l: ticketview.NewBuyerLedger(counts), limit: ev.Limit()}
	e.ledgers.Store(eventID, l)
	return l, nil
}

// ---- BookingService ----

// Hold implements ticketview.BookingService: the event's per-buyer limit is reserved
// first and given back if the section refuses or the request was an idempotent retry.
func (e *Engine) Hold(ctx context.Context, cmd ticketview.HoldCommand) (ticketview.Hold, error) {
	c, err := e.holdCommand(ctx, cmd)
	if err != nil {
		return ticketview.Hold{}, err
	}
	v, err := e.call(ctx, cmd.Section, c)
	if err != nil {
		return ticketview.Hold{}, err
	}
	if c.run != nil {
		return v.(ticketview.Hold), nil // a replay
	}
	return c.held, nil // written before the reply was sent
}

// holdCommand checks a hold and reserves the buyer's allowance for it. The command either
// places the hold or, when the allowance is used up and the request carries an
// idempotency key, replays the first answer to that key (the allowance may be used up by
// that very hold).
func (e *Engine) holdCommand(ctx context.Context, cmd ticketview.HoldCommand) (*command, error) {
	n, err := cmd.Size()
	if err != nil {
		return nil, err
	}
	led, err := e.ledgerFor(ctx, cmd.Section.Event)
	if err != nil {
		return nil, err
	}
	if err := led.reserve(cmd.Owner, n); err != nil {
		if cmd.IdemKey == "" {
			return nil, err
		}
		return replayHoldCmd(cmd.Owner, cmd.IdemKey, err), nil
	}
	return newHoldCmd(cmd, newID("hold_"), led, n), nil
}

// newHoldCmd places cmd's hold under token; on failure or an idempotent replay it gives n
// seats back to led (if any).
func newHoldCmd(cmd ticketview.HoldCommand, token string, led *eventLedger, n int) *command {
	return &command{led: led, n: n, req: ticketview.HoldRequest{Token: token, Owner: cmd.Owner,
		IdemKey: cmd.IdemKey, Seats: cmd.Seats, BestAvailable: cmd.BestAvailable, Quantity: cmd.Quantity,
		Category: cmd.Category, Accessible: cmd.Accessible, AllowSplit: cmd.AllowSplit, TTL: cmd.TTL}}
}

// replayHoldCmd answers with the first answer to the owner's hold under idemKey, or else
// with limitErr (nothing when it is nil).
func replayHoldCmd(owner, idemKey string, limitErr error) *command {
	return &command{run: func(s *ticketview.Section, _ time.Time) (any, error) {
		if h, ok := s.ReplayHold(owner, idemKey); ok {
			return h, nil
		}
		return nil, limitErr
	}}
}

func (e *Engine) Extend(ctx context.Context, id ticketview.SectionID, token, owner, idemKey string, by time.Duration) (ticketview.Hold, error) {
	return e.hold(e.call(ctx, id, extendCmd(token, owner, idemKey, by)))
}

func (e *Engine) Release(ctx context.Context, id ticketview.SectionID, token, owner, idemKey string) error {
	_, err := e.call(ctx, id, releaseCmd(token, owner, idemKey))
	return err
}

func (e *Engine) Confirm(ctx context.Context, id ticketview.SectionID, token, owner, paymentRef, idemKey string) (ticketview.Booking, error) {
	return e.booking(e.call(ctx, id, confirmCmd(token, owner, paymentRef, idemKey)))
}

func (e *Engine) Cancel(ctx context.Context, id ticketview.SectionID, bookingID, owner, idemKey string) (ticketview.Booking, error) {
	return e.booking(e.call(ctx, id, cancelCmd(bookingID, owner, idemKey)))
}

func (e *Engine) Block(ctx context.Context, id ticketview.SectionID, seats []string, quantity int, reason string) error {
	_, err := e.call(ctx, id, blockCmd(seats, quantity, reason))
	return err
}

func (e *Engine) Unblock(ctx context.Context, id ticketview.SectionID, seats []string, quantity int) error {
	_, err := e.call(ctx, id, unblockCmd(seats, quantity))
	return err
}

func (e *Engine) Availability(ctx context.Context, id ticketview.SectionID, withSeats bool) (ticketview.Availability, error) {
	v, err := e.call(ctx, id, availabilityCmd(withSeats))
	if err != nil {
		return ticketview.Availability{}, err
	}
	return v.(ticketview.Availability), nil
}

func (e *Engine) FindHold(ctx context.Context, id ticketview.SectionID, token, owner string) (ticketview.Hold, error) {
	return e.hold(e.call(ctx, id, findHoldCmd(token, owner)))
}

func (e *Engine) FindBooking(ctx context.Context, id ticketview.SectionID, bookingID, owner string) (ticketview.Booking, error) {
	return e.booking(e.call(ctx, id, findBookingCmd(bookingID, owner)))
}

func (e *Engine) hold(v any, err error) (ticketview.Hold, error) {
	if err != nil {
		return ticketview.Hold{}, err
	}
	return v.(ticketview.Hold), nil
}

func (e *Engine) booking(v any, err error) (ticketview.Booking, error) {
	if err != nil {
		return ticketview.Booking{}, err
	}
	return v.(ticketview.Booking), nil
}

// workerDispatcher runs the section actors' mailbox passes on long-lived goroutines
// instead of on a new goroutine per pass (protoactor's default dispatcher). A section's
// mailbox often runs dry between commands, and a fresh goroutine had to grow its stack
// through the deep command path on nearly every pass. The mailbox still ensures that one
// pass per actor runs at a time; when no worker is idle, a pass gets its own goroutine as
// before, so a busy or blocked worker never delays another actor.
type workerDispatcher struct {
	work chan func() // unbuffered: a send succeeds only when a worker waits
	quit chan struct{}
	once sync.Once
}

var _ actor.Dispatcher = (*workerDispatcher)(nil)

func newWorkerDispatcher(workers int) *workerDispatcher {
	d := &workerDispatcher{work: make(chan func()), quit: make(chan struct{})}
	for range workers {
		go d.worker()
	}
	return d
}

func (d *workerDispatcher) worker() {
	for {
		select {
		case fn := <-d.work:
			fn()
		case <-d.quit:
			return
		}
	}
}

// Schedule runs fn on an idle worker, or else on a new goroutine.
func (d *workerDispatcher) Schedule(fn func()) {
	if !d.trySchedule(fn) {
		go fn()
	}
}

// trySchedule hands fn to an idle worker, if there is one.
func (d *workerDispatcher) trySchedule(fn func()) bool {
	select {
	case d.work <- fn:
		return true
	default:
		return false
	}
}

// Throughput is protoactor's default: messages per pass before the pass yields.
func (d *workerDispatcher) Throughput() int { return 300 }

// stop ends the idle workers; a worker in a pass ends after it.
func (d *workerDispatcher) stop() { d.once.Do(func() { close(d.quit) }) }

// quietLogger keeps protoactor's own log to warnings and errors, on standard error.
func quietLogger(*actor.ActorSystem) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("lib", "protoactor")
}

// newID returns prefix + 128 random bits in hex: hold tokens are secrets.
func newID(prefix string) string {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	var buf [64]byte
	return string(hex.AppendEncode(append(buf[:0], prefix...), raw[:]))
}
