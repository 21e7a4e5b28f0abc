package actors

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
	tvcluster "github.com/ticketview/ticketview/cluster"
)

// A clustered engine hosts sections as grains of kind tvcluster.SectionKind: the cluster's
// placement activates a section on the member that owns it, and the gateway's cluster
// client sends it tvcluster.SectionCall messages. A grain is the same section actor as on
// a single node (same group commit, same recovery and fencing), plus:
//
//   - it learns its section from its identity (cluster.ClusterInit) and recovers it from
//     the store at once, so a moved or failed-over section serves as soon as it is placed;
//   - it answers from memory only within a lease after it last proved that it owns the
//     section (a committed write, or the store's epoch read back): a process that was
//     paused, and whose sections were activated elsewhere meanwhile, finds itself fenced
//     off before it answers anything;
//   - on a Handoff (its section moved on a join) it finishes the writes under way, answers
//     their callers, refuses new commands with a retryable error, and stops;
//   - calls whose caller has given up (past their deadline) are not executed.

// SectionProps are the props of the section grain kind, for cluster.NewKind.
func (e *Engine) SectionProps() *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &sectionActor{eng: e, grain: true, log: e.log}
	}, actor.WithDispatcher(e.disp))
}

// onInit sets the grain up from its identity and activates the section.
func (a *sectionActor) onInit(ctx actor.Context, m *cluster.ClusterInit) {
	a.eng.metrics.grains.Add(1)
	id, err := tvcluster.ParseIdentity(m.Identity.GetIdentity())
	if err == nil {
		a.id = id
		a.eng.grainActive(id, ctx.Self()) // before the config is read: see Reconfigure
		c, cancel := context.WithTimeout(context.Background(), a.eng.cfg.StoreTimeout)
		a.cfg, err = a.eng.sectionConfig(c, id)
		cancel()
	}
	if err != nil {
		// Answer what is queued already, then stop: the next call tries afresh.
		a.initErr = err
		a.log.Info("section grain not set up", zap.String("identity", m.Identity.GetIdentity()), zap.Error(err))
		ctx.Poison(ctx.Self())
		return
	}
	a.id, a.log = id, a.eng.log.With(zap.Stringer("section", id))
	_ = a.load(ctx) // on failure the first command retries
	a.schedule(ctx)
}

// onCall runs a command that came through the cluster.
func (a *sectionActor) onCall(ctx actor.Context, m *tvcluster.SectionCall) {
	sender, root, op := ctx.Sender(), a.eng.system.Root, m.GetOp()
	send := func(res tvcluster.CallResult, err error) {
		if sender != nil {
			root.Send(sender, tvcluster.NewReply(res, err))
		}
	}
	switch {
	case a.initErr != nil:
		send(tvcluster.CallResult{}, a.initErr)
		return
	case a.moving || a.fenced:
		send(tvcluster.CallResult{}, ticketview.ErrFenced) // the caller finds the new owner
		return
	case m.GetDeadline() != 0 && time.Now().UnixNano() > m.GetDeadline():
		// Nobody waits for the answer; the caller's retry (same idempotency key) comes.
		send(tvcluster.CallResult{}, ticketview.Errorf(ticketview.EUNAVAILABLE, "the call arrived after its deadline"))
		return
	}
	args, err := tvcluster.DecodeArgs(m)
	var c *command
	if err == nil {
		c, err = a.commandFor(op, args)
	}
	if err != nil {
		send(tvcluster.CallResult{}, err)
		return
	}
	c.respond = func(v any, err error) {
		if err != nil {
			send(tvcluster.CallResult{}, err)
			return
		}
		send(resultOf(c, v), nil)
	}
	a.handle(ctx, c)
}

// commandFor builds the command of a call.
func (a *sectionActor) commandFor(op string, x tvcluster.CallArgs) (*command, error) {
	switch op {
	case tvcluster.OpHold:
		if x.Hold == nil {
			return nil, ticketview.Errorf(ticketview.EINVALID, "a hold call needs its hold")
		}
		return holdCallCmd(*x.Hold, x)
	case tvcluster.OpExtend:
		return extendCmd(x.Token, x.Owner, x.IdemKey, x.By), nil
	case tvcluster.OpRelease:
		return releaseCmd(x.Token, x.Owner, x.IdemKey), nil
	case tvcluster.OpConfirm:
		return confirmCmd(x.Token, x.Owner, x.PaymentRef, x.IdemKey), nil
	case tvcluster.OpCancel:
		return cancelCmd(x.BookingID, x.Owner, x.IdemKey), nil
	case tvcluster.OpBlock:
		return blockCmd(x.Seats, x.Quantity, x.Reason), nil
	case tvcluster.OpUnblock:
		return unblockCmd(x.Seats, x.Quantity), nil
	case tvcluster.OpAvailability:
		return availabilityCmd(x.WithSeats), nil
	case tvcluster.OpFindHold:
		return findHoldCmd(x.Token, x.Owner), nil
	case tvcluster.OpFindBooking:
		return findBookingCmd(x.BookingID, x.Owner), nil
	case tvcluster.OpTouch:
		return touchCmd(), nil
	case tvcluster.OpOwnerCounts:
		return ownerCountsCmd(), nil
	}
	return nil, ticketview.Errorf(ticketview.EINVALID, "unknown section op %q", op)
}

// holdCallCmd is the command of a hold call. The buyer's seats are reserved by the caller
// at the event's buyer ledger grain (cluster.Client.Hold), not here: the hold is placed as
// it is, or, for a replay-only call (the allowance was used up), the first answer to its
// idempotency key is given (nothing if there is none).
func holdCallCmd(cmd ticketview.HoldCommand, x tvcluster.CallArgs) (*command, error) {
	switch {
	case x.ReplayOnly:
		if cmd.Owner == "" || cmd.IdemKey == "" {
			return nil, ticketview.Errorf(ticketview.EINVALID, "a replay needs the hold's owner and idempotency key")
		}
		return replayHoldCmd(cmd.Owner, cmd.IdemKey, nil), nil
	case !x.Reserved:
		return nil, ticketview.Errorf(ticketview.EINVALID, "a hold through the cluster reserves the buyer's seats at the event's ledger first (cluster.Client.Hold)")
	}
	if _, err := cmd.Size(); err != nil {
		return nil, err
	}
	token := x.Token
	if token == "" {
		token = newID("hold_")
	}
	return newHoldCmd(cmd, token, nil, 0), nil
}

// resultOf is a command's answer as it crosses the wire.
func resultOf(c *command, v any) tvcluster.CallResult {
	if c.run == nil { // a hold placed now
		h := c.held
		return tvcluster.CallResult{Hold: &h, Replayed: h.Replayed}
	}
	switch x := v.(type) {
	case ticketview.Hold:
		return tvcluster.CallResult{Hold: &x, Replayed: x.Replayed}
	case ticketview.Booking:
		return tvcluster.CallResult{Booking: &x, Replayed: x.Replayed}
	case ticketview.Availability:
		return tvcluster.CallResult{Availability: &x}
	case ownerCounts:
		return tvcluster.CallResult{Counts: x.counts, Seq: x.seq}
	}
	return tvcluster.CallResult{}
}

// verify renews the lease: it reads the section's epoch from the store and, if a newer
// activation exists, fences this one off (it answers nothing more and stops).
func (a *sectionActor) verify(ctx actor.Context) error {
	r, ok := a.eng.cfg.Store.(ticketview.EpochReader)
	if !ok {
		return nil // a store of one node: nobody else can activate the section
	}
	started := time.Now()
	c, cancel := context.WithTimeout(context.Background(), a.eng.cfg.StoreTimeout)
	epoch, err := r.Epoch(c, a.id)
	cancel()
	if err != nil {
		return unavailable(err) // unknown: do not answer from memory
	}
	if epoch != a.epoch {
		a.log.Warn("a newer activation owns the section", zap.Uint64("epoch", a.epoch), zap.Uint64("current", epoch))
		a.failed(ctx, ticketview.ErrFenced)
		return ticketview.ErrFenced
	}
	a.verified = started
	return nil
}

// stopIfDrained stops a handed-off grain once none of its writes is under way.
func (a *sectionActor) stopIfDrained(ctx actor.Context) {
	if a.moving && len(a.inflight) == 0 && len(a.pending) == 0 && a.stragglers == 0 {
		ctx.Stop(ctx.Self())
	}
}
