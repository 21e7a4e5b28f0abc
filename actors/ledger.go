package actors

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
	tvcluster "github.com/ticketview/ticketview/cluster"
)

// An event's buyer ledger grain (kind tvcluster.LedgerKind, identity the event id) keeps the
// event's per-buyer limit across the cluster, as eventLedger does on one node:
//
//   - the cluster client reserves a hold's seats there (OpReserve) before it asks the
//     section, and returns them (OpReturn) if the section does not place the hold or
//     replays an earlier request's;
//   - section grains return the seats that come back (holds released or expired, sales
//     cancelled) once that is durable (Engine.returnSeats);
//   - it keeps its counts in memory only: an activation builds them from the sections of
//     the event (OpOwnerCounts through the cluster), blocking its mailbox meanwhile. If
//     that fails it answers EUNAVAILABLE and builds again on the next call.
//
// What an activation does not see: a reservation made at an earlier activation whose hold
// reaches its section after that section was counted (the seats are then not counted),
// and a reservation whose hold never came (a gateway that died in between; counted until
// the next activation). A second activation while the members' views of the topology
// converge counts on its own for that time.

// LedgerProps are the props of the buyer ledger grain kind, for cluster.NewKind.
func (e *Engine) LedgerProps() *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &ledgerActor{eng: e, activation: newID("led_"), log: e.log, keys: map[string]keyed{}}
	}, actor.WithDispatcher(e.disp))
}

// ledgerActor is an event's buyer ledger grain.
type ledgerActor struct {
	eng        *Engine
	event      string
	activation string // names the reservations made here (returns of others are ignored)
	log        *zap.Logger

	led   *ticketview.BuyerLedger // nil until built
	limit int
	seqs  map[string]uint64 // section -> its last event when it was counted

	keys    map[string]keyed // outcomes of calls with an idempotency key, while retries may come
	sweepAt int
	unknown bool // the event does not exist
}

// keyed is the outcome of a call with an idempotency key.
type keyed struct {
	res   tvcluster.CallResult
	err   error
	until time.Time // after this no retry of the call can come
}

// keyGrace is how long after a call's deadline its outcome is kept: a retry sent just
// before the deadline may arrive after it.
const keyGrace = time.Minute

func (a *ledgerActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *cluster.ClusterInit:
		a.event = tvcluster.LedgerIdentity(m.Identity.GetIdentity())
		a.log = a.eng.log.With(zap.String("ledger", a.event))
		_ = a.ensureBuilt() // on failure the first call builds again
		a.stopIfUnknown(ctx)
	case *tvcluster.SectionCall:
		res, err := a.onCall(m)
		if sender := ctx.Sender(); sender != nil {
			a.eng.system.Root.Send(sender, tvcluster.NewReply(res, err))
		}
		a.stopIfUnknown(ctx)
	case *tvcluster.Handoff:
		// The event's ledger now belongs to another member, which builds it afresh.
		ctx.Stop(ctx.Self())
	}
}

// stopIfUnknown stops a grain whose event does not exist, once it has answered what is
// queued, so that unknown ids do not accumulate grains.
func (a *ledgerActor) stopIfUnknown(ctx actor.Context) {
	if a.unknown {
		ctx.Poison(ctx.Self())
	}
}

func (a *ledgerActor) onCall(m *tvcluster.SectionCall) (tvcluster.CallResult, error) {
	op := m.GetOp()
	if op != tvcluster.OpReserve && op != tvcluster.OpReturn {
		return tvcluster.CallResult{}, ticketview.Errorf(ticketview.EINVALID, "unknown buyer ledger op %q", op)
	}
	x, err := tvcluster.DecodeArgs(m)
	if err != nil {
		return tvcluster.CallResult{}, err
	}
	if x.Owner == "" {
		return tvcluster.CallResult{}, ticketview.Errorf(ticketview.EINVALID, "a %s call needs an owner", op)
	}
	if err := a.ensureBuilt(); err != nil {
		return tvcluster.CallResult{}, err
	}
	now := time.Now()
	key := ""
	if x.IdemKey != "" {
		key = op + "\x00" + x.IdemKey
		if k, ok := a.keys[key]; ok {
			return k.res, k.err
		}
	}
	var res tvcluster.CallResult
	switch op {
	case tvcluster.OpReserve:
		if m.GetDeadline() != 0 && now.UnixNano() > m.GetDeadline() {
			// Nobody waits for it: reserving now would only leak the seats.
			return res, ticketview.Errorf(ticketview.EUNAVAILABLE, "the call arrived after its deadline")
		}
		err = a.led.Reserve(x.Owner, x.Quantity, a.limit)
		res.Ledger = a.activation
	case tvcluster.OpReturn:
		// Applied even past its deadline: a return is owed whether or not anyone waits.
		a.giveBack(x)
	}
	if key != "" {
		until := now.Add(keyGrace)
		if d := m.GetDeadline(); d != 0 {
			until = time.Unix(0, d).Add(keyGrace)
		}
		a.remember(key, keyed{res: res, err: err, until: until}, now)
	}
	return res, err
}

// giveBack applies a return, unless this activation never counted what it gives back.
func (a *ledgerActor) giveBack(x tvcluster.CallArgs) {
	if x.Ledger != "" && x.Ledger != a.activation {
		return // reserved at an earlier activation: not counted here
	}
	if x.Section != "" {
		if seq, ok := a.seqs[x.Section]; ok && x.Seq <= seq {
			return // the section's count this activation started from is after it
		}
	}
	if x.Quantity > 0 {
		a.led.Return(x.Owner, x.Quantity)
	}
}

// remember keeps an outcome for the call's retries; expired ones are swept now and then.
func (a *ledgerActor) remember(key string, k keyed, now time.Time) {
	a.keys[key] = k
	if len(a.keys) < a.sweepAt {
		return
	}
	for key, k := range a.keys {
		if now.After(k.until) {
			delete(a.keys, key)
		}
	}
	a.sweepAt = max(1024, 2*len(a.keys))
}

// ensureBuilt builds the ledger from the event's sections if it is not built yet.
func (a *ledgerActor) ensureBuilt() error {
	if a.led != nil {
		return nil
	}
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), a.eng.cfg.StoreTimeout)
	defer cancel()
	limit, counts, seqs, err := a.build(ctx)
	if err != nil {
		a.log.Warn("buyer ledger not built; the next call tries again", zap.Error(err))
		if code := ticketview.ErrorCode(err); code == ticketview.ENOTFOUND || code == ticketview.EINVALID {
			a.unknown = true
			return err
		}
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "the buyer ledger of event %s is not available, try again: %s", a.event, ticketview.ErrorMessage(err))
	}
	a.led, a.limit, a.seqs = ticketview.NewBuyerLedger(counts), limit, seqs
	a.log.Info("buyer ledger built from the sections", zap.Int("sections", len(seqs)), zap.Int("buyers", len(counts)),
		zap.Duration("took", time.Since(started)))
	return nil
}

// build reads the event's limit and asks each of its sections, through the cluster, for
// the seats each buyer holds and owns there.
func (a *ledgerActor) build(ctx context.Context) (int, map[string]int, map[string]uint64, error) {
	cl := a.eng.clusterCaller(ctx)
	if cl == nil {
		return 0, nil, nil, ticketview.Errorf(ticketview.EUNAVAILABLE, "not part of a cluster yet")
	}
	ev, err := a.eng.cfg.Events.FindEvent(ctx, a.event)
	if err != nil {
		return 0, nil, nil, err
	}
	v, err := a.eng.cfg.Venues.FindVenue(ctx, ev.VenueID)
	if err != nil {
		return 0, nil, nil, err
	}
	type part struct {
		res tvcluster.CallResult
		err error
	}
	parts := make([]part, len(v.Sections))
	var wg sync.WaitGroup
	for i, s := range v.Sections {
		wg.Go(func() {
			id := ticketview.SectionID{Event: a.event, Section: s.ID}
			parts[i].res, parts[i].err = cl.Call(ctx, id, tvcluster.OpOwnerCounts, tvcluster.CallArgs{})
		})
	}
	wg.Wait()
	counts := map[string]int{}
	seqs := make(map[string]uint64, len(v.Sections))
	for i, s := range v.Sections {
		if err := parts[i].err; err != nil {
			return 0, nil, nil, fmt.Errorf("counting section %s: %w", s.ID, err)
		}
		for o, n := range parts[i].res.Counts {
			counts[o] += n
		}
		seqs[s.ID] = parts[i].res.Seq
	}
	return ev.Limit(), counts, seqs, nil
}
