package actors

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
	tvcluster "github.com/ticketview/ticketview/cluster"
)

// command is a request to a section actor. run is called inside the actor with the
// section; its result is sent on done once every event the command produced (and every
// event produced before it) is durable. Errors are sent at once: they changed nothing.
type command struct {
	run  func(s *ticketview.Section, now time.Time) (any, error)
	done chan result
	// respond, when set instead of done, takes the answer (a call that came through the
	// cluster: it sends the reply to the remote caller).
	respond func(v any, err error)

	// A hold (the hot path) is a command with run == nil: it places req, stores the
	// result in held (read by the caller only after the reply) and, on failure or an
	// idempotent replay, gives n seats of req.Owner back to led.
	req  ticketview.HoldRequest
	led  *eventLedger
	n    int
	held ticketview.Hold

	replied bool
}

type result struct {
	v   any
	err error
}

// reply answers the command once: a second answer (possible when a panic strikes after
// the command joined a batch, which the restart then fails too) is dropped, so the
// one-slot channel never blocks the actor and the buyer's allowance is not given back
// twice. Every answer is given on the actor's mailbox, so replied needs no lock.
func (c *command) reply(v any, err error) {
	if c.replied {
		return
	}
	c.replied = true
	c.finish(err)
	if c.respond != nil {
		c.respond(v, err)
		return
	}
	c.done <- result{v, err} // buffered, and written once: never blocks
}

// finish settles the command's side effects on its final outcome: a hold that failed or was
// an idempotent replay gives its reservation back.
func (c *command) finish(err error) {
	if c.led != nil && (err != nil || c.held.Replayed) {
		c.led.giveBack(c.req.Owner, c.n)
	}
}

// exec runs the command on the section.
func (c *command) exec(s *ticketview.Section, now time.Time) (any, error) {
	if c.run != nil {
		return c.run(s, now)
	}
	var err error
	c.held, err = s.Hold(c.req, now)
	return nil, err
}

// flushed tells the actor how a group commit ended.
type flushed struct {
	gen     *sectionActor
	inc     uint64
	done    bool
	err     error
	events  []ticketview.SectionEvent
	waiters []*command
	replies []result
	sent    time.Time // when the write was sent: a success proves the epoch was current then
	deltas  []ticketview.SeatDelta
	labels  [][]string // seat labels of each event, when domain events are published
}

type tick struct{ gen *sectionActor }

// sectionActor owns one section. It applies commands to the in-memory section at once and
// answers them after a group commit: while one journal write is in flight, new commands
// are applied and their events collected; when the write ends, the collected events go
// out as the next single write. One write is in flight per section at a time, and the
// store merges writes of different sections.
type sectionActor struct {
	eng   *Engine
	id    ticketview.SectionID
	cfg   ticketview.SectionConfig
	sec   *ticketview.Section
	epoch uint64
	log   *zap.Logger

	pending        []ticketview.SectionEvent
	pendingWaiters []*command
	pendingReplies []result
	pendingDeltas  []ticketview.SeatDelta
	pendingLabels  [][]string // aligned with pending when the engine publishes domain events
	lastDelta      uint64     // Seq of the last delta built (SeatDelta.Prev of the next)
	batchHint      int        // capacity for the next batch's slices: the last batch's size
	inflight       []*flushed // journal writes under way, oldest first
	incarnation    uint64     // bumped when the state is rebuilt: older writes are stale
	stragglers     int        // stale writes of this actor still under way
	sinceSnapshot  int
	snapshotting   atomic.Bool // a snapshot write is under way
	fenced         bool

	// Grains (clustered engine) only.
	grain    bool
	initErr  error     // the section could not be set up (unknown section, catalog down)
	verified time.Time // when this activation last proved it owns the section (lease)
	moving   bool      // handed off: finishing the writes under way, then stopping

	timer   *time.Timer
	timerAt time.Time
}

func (a *sectionActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if !a.grain {
			a.load(ctx)
		}
	case *command:
		a.handle(ctx, m)
	case *tvcluster.SectionCall:
		a.onCall(ctx, m)
	case *cluster.ClusterInit:
		a.onInit(ctx, m)
	case *tvcluster.Handoff:
		a.moving = true
		a.log.Info("section moves to another member; finishing its writes")
		a.stopIfDrained(ctx)
	case *flushed:
		a.flushed(ctx, m)
	case *reconfigure:
		ctx.Respond(a.reconfigure(m))

	case *tick:
		if m.gen == a && !a.moving && a.ensureLoaded(ctx) == nil {
			a.timerAt = time.Time{}
			a.expireDue(ctx)
		}
	case *actor.Restarting:
		// After a panic the state is thrown away and rebuilt from the store by the new
		// incarnation. Nobody may be left waiting: writes whose outcome has arrived are
		// answered, commands not yet written fail (writes still under way are answered
		// as stale ones by the new incarnation).
		a.stopTimer()
		for _, g := range a.inflight {
			if g.done {
				a.answer(g)
			}
		}
		err := ticketview.Errorf(ticketview.EUNAVAILABLE, "section %s restarted; try again", a.id)
		for _, c := range a.pendingWaiters {
			c.reply(nil, err)
		}
	case *actor.Stopping:
		a.stopTimer()
	case *actor.Stopped:
		a.eng.forget(a.id, ctx.Self()) // the name is free: the next command activates anew
		if a.grain {
			a.eng.metrics.grains.Add(-1)
			a.eng.grainStopped(a.id, ctx.Self())
		}
	}
}

// load activates the section: a new epoch fences off any older activation, and the state
// is rebuilt from the latest snapshot and the journal. Holds that expired meanwhile are
// released (and that release journaled) before anything else happens.
func (a *sectionActor) load(ctx actor.Context) error {
	started := time.Now()
	c, cancel := context.WithTimeout(context.Background(), a.eng.cfg.StoreTimeout)
	defer cancel()
	epoch, snap, events, err := a.eng.cfg.Store.Activate(c, a.id)
	if err != nil {
		a.sec = nil
		a.log.Warn("section activation failed", zap.Error(err))
		return unavailable(err)
	}
	sec, err := ticketview.NewSection(a.cfg)
	if err == nil && snap != nil {
		err = sec.Restore(snap)
	}
	for i := 0; err == nil && i < len(events); i++ {
		err = sec.Replay(events[i])
	}
	if err != nil {
		a.sec = nil
		a.log.Error("section recovery failed", zap.Error(err))
		return err
	}
	a.sec, a.epoch, a.sinceSnapshot, a.lastDelta = sec, epoch, len(events), sec.Seq()
	a.verified = started
	a.eng.metrics.activations.Add(1)
	if epoch > 1 {
		a.eng.metrics.reactivations.Add(1)
	}
	a.expireDue(ctx)
	return nil
}

// expireDue expires the holds whose time has come and sends their release to the journal.
func (a *sectionActor) expireDue(ctx actor.Context) {
	a.sec.ExpireDue(a.eng.now())
	a.collect(nil, result{})
	a.afterChange(ctx)
}

func (a *sectionActor) ensureLoaded(ctx actor.Context) error {
	if a.fenced {
		return ticketview.ErrFenced
	}
	if a.sec != nil {
		return nil
	}
	return a.load(ctx)
}

func (a *sectionActor) stopTimer() {
	if a.timer != nil {
		a.timer.Stop()
	}
}

func (a *sectionActor) handle(ctx actor.Context, c *command) {
	a.eng.metrics.commands.Add(1)
	defer func() {
		if r := recover(); r != nil {
			// Answer the caller (and settle its reservation) before the supervisor
			// restarts the actor, whose state can no longer be trusted.
			c.reply(nil, ticketview.Errorf(ticketview.EINTERNAL, "section %s failed on this request", a.id))
			panic(r)
		}
	}()
	if err := a.ensureLoaded(ctx); err != nil {
		c.reply(nil, err)
		return
	}
	if a.grain && time.Since(a.verified) > a.eng.cfg.Lease {
		if err := a.verify(ctx); err != nil {
			c.reply(nil, err)
			return
		}
	}
	v, err := c.exec(a.sec, a.eng.now())
	if err != nil {
		// The command changed nothing, but the expiries it triggered first are real.
		a.collect(nil, result{})
		c.reply(nil, err)
	} else {
		a.collect(c, result{v: v})
	}
	a.afterChange(ctx)
}

// collect takes the section's new events into the next group commit, with the seat deltas
// they make (built now, while the state is exactly after them), and queues the command's
// answer behind them. A command that changed nothing is answered at once unless earlier
// changes are still on their way to the journal.
func (a *sectionActor) collect(c *command, r result) {
	if n := len(a.pending); a.sec.HasEvents() {
		if a.pending == nil {
			a.pending = make([]ticketview.SectionEvent, 0, a.batchHint)
		}
		a.pending = a.sec.AppendEvents(a.pending)
		if a.pendingDeltas == nil && a.eng.cfg.Deltas != nil {
			a.pendingDeltas = make([]ticketview.SeatDelta, 0, a.batchHint)
		}
		a.pendingDeltas = a.appendDeltas(a.pendingDeltas, a.pending[n:])
		if a.eng.cfg.Publisher != nil {
			for i := n; i < len(a.pending); i++ {
				a.pendingLabels = append(a.pendingLabels, a.labelsOf(a.pending[i].Seats))
			}
		}
	}
	if c == nil {
		return
	}
	if len(a.pending) == 0 && len(a.inflight) == 0 {
		c.reply(r.v, r.err)
		return
	}
	if a.pendingWaiters == nil {
		a.pendingWaiters = make([]*command, 0, a.batchHint)
		a.pendingReplies = make([]result, 0, a.batchHint)
	}
	a.pendingWaiters = append(a.pendingWaiters, c)
	a.pendingReplies = append(a.pendingReplies, r)
}

func (a *sectionActor) afterChange(ctx actor.Context) {
	a.maybeFlush(ctx)
	a.schedule(ctx)
}

// maxInflight is how many journal writes of one section may be under way at once. With
// a store that queues appends in order (ticketview.AsyncAppender) it is two: the next
// write is already queued when the previous one commits, so the store never idles
// between them, and a write whose predecessor failed fails too. With a plain
// SectionStore it is one: two writer goroutines calling a synchronous Append could reach
// the store out of order.
//
// A second write starts only when pipelineMin events wait for it: under light load a
// small second write would cost its own disk flush for a few events, and waiting for the
// first to end lets them share one.
const pipelineMin = 8

// maxBatchHint caps the capacity the next batch's slices start with.
const maxBatchHint = 256

func (a *sectionActor) maxInflight() int {
	if _, ok := a.eng.cfg.Store.(ticketview.AsyncAppender); ok {
		return 2
	}
	return 1
}

func (a *sectionActor) maybeFlush(ctx actor.Context) {
	if n := len(a.inflight); n >= a.maxInflight() || n > 0 && len(a.pending) < pipelineMin {
		return
	}
	if len(a.pending) == 0 {
		if len(a.inflight) == 0 {
			// Commands that changed nothing waited only for earlier writes, which are done.
			for i, c := range a.pendingWaiters {
				c.reply(a.pendingReplies[i].v, a.pendingReplies[i].err)
			}
			a.pendingWaiters, a.pendingReplies = nil, nil
		}
		return
	}
	// The next batch's slices start at about this one's size instead of growing step by step.
	a.batchHint = min(max(len(a.pending), len(a.pendingWaiters)), maxBatchHint)
	f := &flushed{gen: a, inc: a.incarnation, sent: time.Now(), events: a.pending, waiters: a.pendingWaiters, replies: a.pendingReplies, deltas: a.pendingDeltas, labels: a.pendingLabels}
	a.pending, a.pendingWaiters, a.pendingReplies, a.pendingDeltas, a.pendingLabels = nil, nil, nil, nil, nil
	a.inflight = append(a.inflight, f)
	a.sinceSnapshot += len(f.events)
	var snap *ticketview.SectionSnapshot
	// Snapshot when the journal since the last one is as long as the state is large (and
	// at least SnapshotEvery events): a snapshot then costs O(1) per event, amortized, and
	// recovery replays at most about as many events as the state has entries.
	if a.sinceSnapshot >= max(a.eng.cfg.SnapshotEvery, a.sec.Size()) && !a.snapshotting.Load() {
		snap = a.sec.Snapshot(a.eng.now()) // the state right after f.events
		a.sinceSnapshot = 0
		a.snapshotting.Store(true)
	}
	store, cache, id, epoch, timeout := a.eng.cfg.Store, a.eng.cfg.Snapshots, a.id, a.epoch, a.eng.cfg.StoreTimeout
	self, root, log, busy := ctx.Self(), a.eng.system.Root, a.log, &a.snapshotting
	c, cancel := context.WithTimeout(context.Background(), timeout)
	var wait func() error
	if q, ok := store.(ticketview.AsyncAppender); ok {
		wait = q.AppendAsync(c, id, epoch, f.events) // queued now, in the actor: in order
	} else {
		wait = func() error { return store.Append(c, id, epoch, f.events) }
	}
	a.eng.writers.Add(1)
	go func() {
		defer a.eng.writers.Done()
		defer cancel()
		f.err = wait()
		root.Send(self, f)
		if snap == nil {
			return
		}
		defer busy.Store(false)
		if f.err == nil {
			// Off the commit path: the next group commit need not wait for it.
			if err := store.SaveSnapshot(c, id, epoch, snap); err != nil {
				log.Warn("snapshot not saved; the journal still has everything", zap.Error(err))
			} else if cache != nil {
				if err := cache.PutSnapshot(c, id, snap); err != nil {
					log.Debug("snapshot not cached", zap.Error(err))
				}
			}
		}
	}()
}

// answer tells a write's callers how it ended and, if it committed, the world.
func (a *sectionActor) answer(f *flushed) {
	if f.err != nil {
		err := unavailable(f.err)
		for _, c := range f.waiters {
			c.reply(nil, err)
		}
		return
	}
	a.eng.metrics.commits.Add(1)
	a.eng.metrics.committedEvents.Add(int64(len(f.events)))
	for i, c := range f.waiters {
		c.reply(f.replies[i].v, f.replies[i].err)
	}
	a.eng.published(a.id, f.events, f.deltas, f.labels)
}

func (a *sectionActor) flushed(ctx actor.Context, f *flushed) {
	if f.gen != a || f.inc != a.incarnation {
		// A write this actor gave up on (after a failure or a panic): its outcome is still
		// true for its callers, but the state has been rebuilt from the store already.
		a.answer(f)
		if f.gen == a {
			a.stragglers--
			if a.fenced && a.stragglers == 0 {
				ctx.Stop(ctx.Self())
			}
		}
		return
	}
	f.done = true
	if f.err == nil && f.sent.After(a.verified) {
		a.verified = f.sent
	}
	// Writes end in order in the store; answer them in order too.
	for len(a.inflight) > 0 && a.inflight[0].done {
		g := a.inflight[0]
		a.inflight = a.inflight[1:]
		a.answer(g)
		if g.err != nil {
			a.failed(ctx, g.err)
			return
		}
	}
	a.maybeFlush(ctx)
	a.stopIfDrained(ctx)
}

// failed handles a write that did not commit: nothing of it, nor of what was applied after
// it, is acknowledged. The in-memory state is thrown away and rebuilt from the store.
func (a *sectionActor) failed(ctx actor.Context, cause error) {
	a.eng.metrics.commitFailures.Add(1)
	a.incarnation++
	// Later writes whose outcome has already arrived are answered now; those still under
	// way are answered when they end, as stale ones. None may be dropped unanswered.
	for _, g := range a.inflight {
		if g.done {
			a.answer(g)
		} else {
			a.stragglers++
		}
	}
	a.inflight = nil
	err := unavailable(cause)
	for _, c := range a.pendingWaiters {
		c.reply(nil, err)
	}
	a.pending, a.pendingWaiters, a.pendingReplies, a.pendingDeltas, a.pendingLabels = nil, nil, nil, nil, nil
	a.sec = nil
	if errors.Is(cause, ticketview.ErrFenced) {
		a.eng.metrics.fenced.Add(1)
		// A newer activation owns the section: this one must serve nothing more.
		// It stops once the writes still under way have reported, so that their callers
		// are answered; meanwhile every command gets ErrFenced.
		a.fenced = true
		a.log.Warn("section fenced off by a newer activation; stopping")
		if a.stragglers == 0 {
			ctx.Stop(ctx.Self())
		}
		return
	}
	a.log.Warn("group commit failed; reloading section", zap.Error(cause))
	_ = a.load(ctx) // on failure the next command retries
}

// schedule arms the expiry timer for the next hold expiry.
func (a *sectionActor) schedule(ctx actor.Context) {
	if a.sec == nil {
		return
	}
	next, ok := a.sec.NextExpiry()
	if !ok || (!a.timerAt.IsZero() && !next.Before(a.timerAt)) {
		return
	}
	if a.timer != nil {
		a.timer.Stop()
	}
	a.timerAt = next
	d := next.Sub(a.eng.now()) + time.Millisecond
	self, root, msg := ctx.Self(), a.eng.system.Root, &tick{gen: a}
	a.timer = time.AfterFunc(d, func() { root.Send(self, msg) })
}

// appendDeltas builds the seat deltas of evs, which the section has just applied. Each
// carries the section's per-category counts as they are now, after all of evs.
func (a *sectionActor) appendDeltas(out []ticketview.SeatDelta, evs []ticketview.SectionEvent) []ticketview.SeatDelta {
	if a.eng.cfg.Deltas == nil {
		return out
	}
	var cats []ticketview.CategoryAvailability
	for i := range evs {
		e := &evs[i]
		st, ok := deltaStatus(e.Type)
		if !ok {
			continue
		}
		if cats == nil {
			cats = a.sec.Availability(false).Categories
		}
		d := ticketview.SeatDelta{Section: a.id, Seq: e.Seq, Prev: a.lastDelta, Status: st, Categories: cats}
		a.lastDelta = e.Seq
		if a.sec.IsGA() {
			d.GAFree = a.sec.Free()
		} else {
			d.Seats = a.labelsOf(e.Seats)
		}
		out = append(out, d)
	}
	return out
}

func (a *sectionActor) labelsOf(seats []int32) []string {
	if len(seats) == 0 {
		return nil
	}
	out := make([]string, len(seats))
	for j, s := range seats {
		out[j] = a.sec.SeatLabel(s)
	}
	return out
}

func deltaStatus(t ticketview.SectionEventType) (ticketview.SeatStatus, bool) {
	switch t {
	case ticketview.EvHoldPlaced:
		return ticketview.SeatHeld, true
	case ticketview.EvHoldReleased, ticketview.EvHoldExpired, ticketview.EvSaleCancelled, ticketview.EvSeatsUnblocked:
		return ticketview.SeatFree, true
	case ticketview.EvHoldConfirmed:
		return ticketview.SeatSold, true
	case ticketview.EvSeatsBlocked:
		return ticketview.SeatBlocked, true
	}
	return 0, false
}

func unavailable(err error) error {
	var e *ticketview.Error
	if errors.As(err, &e) && e.Code == ticketview.EUNAVAILABLE {
		return e
	}
	return ticketview.Errorf(ticketview.EUNAVAILABLE, "storage unavailable, try again: %v", err)
}
