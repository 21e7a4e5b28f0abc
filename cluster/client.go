package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/remote"

	ticketview "github.com/ticketview/ticketview"
)

// Client is ticketview.BookingService over the cluster: each call goes to the section's
// grain on the member that owns it; a hold first reserves the buyer's seats at the event's
// buyer ledger grain (see Hold). It is what the gateway serves the API with.
//
// Every attempt is bounded (AttemptTimeout) and the whole call too (the caller's
// deadline, else MaxWait). Between attempts it backs off exponentially with jitter, so a
// dead member is not hammered while the membership notices it. A call is retried only when
// a retry cannot do it twice: when it certainly did not arrive (no owner yet, the grain
// was gone, the section moved), or when it changes nothing, or when it carries an
// idempotency key — the client gives every hold, extend, release, confirm and cancel one
// when the caller did not. Block and unblock after a lost answer are not retried: their
// outcome is reported unknown (EUNAVAILABLE).
type Client struct {
	c *cluster.Cluster

	AttemptTimeout time.Duration // one attempt (default 1s)
	MaxWait        time.Duration // a call, when ctx has no deadline (default 5s)
	BackoffMin     time.Duration // first back-off (default 20ms)
	BackoffMax     time.Duration // longest back-off (default 500ms)

	// Observe, when set, is told of each call: its op, how long it took, the number of
	// attempts and the final error (nil on success; a domain error is a success of the
	// cluster).
	Observe func(op string, took time.Duration, attempts int, err error)

	stopped atomic.Pointer[error] // set by Stop: every call fails at once
}

// Stop makes every later call fail at once with EUNAVAILABLE and reason: a process that
// may have been expelled from the cluster (a long pause) must not send commands that
// would activate sections on its stale view of the membership.
func (cl *Client) Stop(reason error) { cl.stopped.Store(&reason) }

var _ ticketview.BookingService = (*Client)(nil)

// NewClient returns a client over c with the default timeouts.
func NewClient(c *cluster.Cluster) *Client {
	return &Client{c: c, AttemptTimeout: time.Second, MaxWait: 5 * time.Second,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 500 * time.Millisecond}
}

// errNotDelivered marks an attempt that certainly did not reach a grain.
var errNotDelivered = errors.New("not delivered")

// Call sends one op to the section's grain and returns its result.
func (cl *Client) Call(ctx context.Context, id ticketview.SectionID, op string, args CallArgs) (CallResult, error) {
	return cl.call(ctx, SectionKind, Identity(id), "section "+id.String(), op, args)
}

// CallLedger sends one op (OpReserve, OpReturn) to the buyer ledger grain of an event.
func (cl *Client) CallLedger(ctx context.Context, eventID, op string, args CallArgs) (CallResult, error) {
	return cl.call(ctx, LedgerKind, LedgerIdentity(eventID), "the buyer ledger of event "+eventID, op, args)
}

func (cl *Client) call(ctx context.Context, kind, identity, what, op string, args CallArgs) (CallResult, error) {
	if reason := cl.stopped.Load(); reason != nil {
		return CallResult{}, ticketview.Errorf(ticketview.EUNAVAILABLE, "this process no longer serves the cluster: %v", *reason)
	}
	start := time.Now()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = start.Add(cl.MaxWait)
	}
	idempotent := !Mutating(op) || args.IdemKey != "" || (op == OpHold && args.Hold != nil && args.Hold.IdemKey != "")
	msg, err := NewCall(op, args, deadline)
	if err != nil {
		return CallResult{}, ticketview.Errorf(ticketview.EINVALID, "encoding the call: %v", err)
	}
	backoff := cl.BackoffMin
	attempts := 0
	var res CallResult
	for {
		attempts++
		var retry bool
		res, retry, err = cl.attempt(kind, identity, msg, deadline, idempotent)
		if !retry {
			break
		}
		wait := jitter(backoff)
		if time.Now().Add(wait).After(deadline) || ctx.Err() != nil {
			err = ticketview.Errorf(ticketview.EUNAVAILABLE, "%s is not reachable now (%d attempts): %v", what, attempts, err)
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, cl.BackoffMax)
	}
	if cl.Observe != nil {
		cl.Observe(op, time.Since(start), attempts, err)
	}
	return res, err
}

// attempt makes one attempt; retry tells whether another may follow.
func (cl *Client) attempt(kind, identity string, msg *SectionCall, deadline time.Time, idempotent bool) (res CallResult, retry bool, err error) {
	timeout := min(cl.AttemptTimeout, time.Until(deadline))
	if timeout <= 0 {
		return res, false, ticketview.Errorf(ticketview.EUNAVAILABLE, "deadline passed")
	}
	// The grain's PID is cached (protoactor's PidCache: entries of a member that leaves
	// the topology are dropped with it); only a miss asks the owner's placement.
	pid, ok := cl.c.PidCache.Get(identity, kind)
	if !ok {
		if pid = cl.c.Get(identity, kind); pid == nil {
			return res, true, errNotDelivered // no owner now (membership changing)
		}
		cl.c.PidCache.Set(identity, kind, pid)
	}
	reply, err := cl.c.ActorSystem.Root.RequestFuture(pid, msg, timeout).Result()
	if err != nil {
		cl.c.PidCache.Remove(identity, kind)
		switch {
		case errors.Is(err, actor.ErrDeadLetter) || errors.Is(err, remote.ErrDeadLetter):
			return res, true, errNotDelivered // the grain was gone: nothing ran
		case idempotent:
			return res, true, err
		}
		return res, false, ticketview.Errorf(ticketview.EUNAVAILABLE, "the outcome is unknown: %v", err)
	}
	r, ok := reply.(*SectionReply)
	if !ok {
		return res, false, ticketview.Errorf(ticketview.EINTERNAL, "unexpected reply %T", reply)
	}
	res, err = r.Decode()
	switch {
	case errors.Is(err, ticketview.ErrFenced):
		cl.c.PidCache.Remove(identity, kind)
		return res, true, err // refused, nothing done: the new owner answers
	case ticketview.ErrorCode(err) == ticketview.EUNAVAILABLE && idempotent:
		return res, true, err // e.g. the store failed a commit: nothing acknowledged
	}
	return res, false, err
}

func jitter(d time.Duration) time.Duration {
	var b [1]byte
	_, _ = rand.Read(b[:])
	return d/2 + time.Duration(int64(d)/2*int64(b[0])/255)
}

// idemKey returns key, or a fresh one when it is empty: the retry of a call the client
// made must be recognized as a retry.
func idemKey(key string) (string, bool) {
	if key != "" {
		return key, false
	}
	var raw [12]byte
	_, _ = rand.Read(raw[:])
	return "tvc_" + hex.EncodeToString(raw[:]), true
}

// newKey returns prefix + 128 random bits in hex (hold tokens are secrets).
func newKey(prefix string) string {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	return prefix + hex.EncodeToString(raw[:])
}

// ---- ticketview.BookingService ----

// Hold places a hold under the event's per-buyer limit, which the event's buyer ledger
// grain keeps for the whole cluster: the hold's seats are reserved there first, then the
// section places the hold; if it does not (an error, or a replay of an earlier request's
// hold), the reservation is returned. When the allowance is used up and the caller gave
// an idempotency key, the section is asked for the first answer to that key instead (the
// allowance may be used up by that very hold), else the limit error stands — as on one
// node (actors.Engine.Hold).
func (cl *Client) Hold(ctx context.Context, cmd ticketview.HoldCommand) (ticketview.Hold, error) {
	n, err := cmd.Size()
	if err != nil {
		return ticketview.Hold{}, err
	}
	var generated bool
	cmd.IdemKey, generated = idemKey(cmd.IdemKey)
	rsv := CallArgs{Owner: cmd.Owner, Quantity: n, IdemKey: newKey("rsv_")}
	res, err := cl.CallLedger(ctx, cmd.Section.Event, OpReserve, rsv)
	if err != nil {
		if ticketview.ErrorCode(err) != ticketview.ELIMIT || generated {
			return ticketview.Hold{}, err // a key of ours was never used before: nothing to replay
		}
		replay, rErr := cl.Call(ctx, cmd.Section, OpHold, CallArgs{Hold: &cmd, ReplayOnly: true})
		if rErr != nil {
			return ticketview.Hold{}, rErr
		}
		if replay.Hold == nil {
			return ticketview.Hold{}, err
		}
		return *replay.Hold, nil
	}
	rsv.Ledger = res.Ledger
	token := newKey("hold_")
	h, err := holdOf(cl.Call(ctx, cmd.Section, OpHold, CallArgs{Hold: &cmd, Token: token, Reserved: true}))
	if err != nil || (h.Replayed && h.Token != token) {
		// Not placed, or placed by an earlier request, which had its own reservation.
		// A hold whose outcome is unknown counts as not placed, as on one node.
		cl.giveBack(ctx, cmd.Section.Event, rsv)
	}
	if err == nil && (generated || h.Token == token) {
		h.Replayed = false // placed by this call: a replay was of its own earlier attempt
	}
	return h, err
}

// giveBack returns a reservation to the ledger, even when the caller has given up.
func (cl *Client) giveBack(ctx context.Context, eventID string, rsv CallArgs) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cl.MaxWait)
	defer cancel()
	// A return that does not arrive leaves the buyer's count too high until the ledger
	// grain is activated again (it then counts what the sections hold).
	_, _ = cl.CallLedger(ctx, eventID, OpReturn, rsv)
}

func (cl *Client) Extend(ctx context.Context, id ticketview.SectionID, token, owner, idem string, by time.Duration) (ticketview.Hold, error) {
	key, generated := idemKey(idem)
	h, err := holdOf(cl.Call(ctx, id, OpExtend, CallArgs{Token: token, Owner: owner, IdemKey: key, By: by}))
	if generated {
		h.Replayed = false
	}
	return h, err
}

func (cl *Client) Release(ctx context.Context, id ticketview.SectionID, token, owner, idem string) error {
	key, _ := idemKey(idem)
	_, err := cl.Call(ctx, id, OpRelease, CallArgs{Token: token, Owner: owner, IdemKey: key})
	return err
}

func (cl *Client) Confirm(ctx context.Context, id ticketview.SectionID, token, owner, paymentRef, idem string) (ticketview.Booking, error) {
	key, generated := idemKey(idem)
	b, err := bookingOf(cl.Call(ctx, id, OpConfirm, CallArgs{Token: token, Owner: owner, PaymentRef: paymentRef, IdemKey: key}))
	if generated {
		b.Replayed = false
	}
	return b, err
}

func (cl *Client) Cancel(ctx context.Context, id ticketview.SectionID, bookingID, owner, idem string) (ticketview.Booking, error) {
	key, generated := idemKey(idem)
	b, err := bookingOf(cl.Call(ctx, id, OpCancel, CallArgs{BookingID: bookingID, Owner: owner, IdemKey: key}))
	if generated {
		b.Replayed = false
	}
	return b, err
}

func (cl *Client) Block(ctx context.Context, id ticketview.SectionID, seats []string, quantity int, reason string) error {
	_, err := cl.Call(ctx, id, OpBlock, CallArgs{Seats: seats, Quantity: quantity, Reason: reason})
	return err
}

func (cl *Client) Unblock(ctx context.Context, id ticketview.SectionID, seats []string, quantity int) error {
	_, err := cl.Call(ctx, id, OpUnblock, CallArgs{Seats: seats, Quantity: quantity})
	return err
}

func (cl *Client) Availability(ctx context.Context, id ticketview.SectionID, withSeats bool) (ticketview.Availability, error) {
	res, err := cl.Call(ctx, id, OpAvailability, CallArgs{WithSeats: withSeats})
	if err != nil {
		return ticketview.Availability{}, err
	}
	if res.Availability == nil {
		return ticketview.Availability{}, ticketview.Errorf(ticketview.EINTERNAL, "empty availability reply")
	}
	return *res.Availability, nil
}

func (cl *Client) FindHold(ctx context.Context, id ticketview.SectionID, token, owner string) (ticketview.Hold, error) {
	return holdOf(cl.Call(ctx, id, OpFindHold, CallArgs{Token: token, Owner: owner}))
}

func (cl *Client) FindBooking(ctx context.Context, id ticketview.SectionID, bookingID, owner string) (ticketview.Booking, error) {
	return bookingOf(cl.Call(ctx, id, OpFindBooking, CallArgs{BookingID: bookingID, Owner: owner}))
}

// Touch activates the section on its owner (placement warm-up, failover probes).
func (cl *Client) Touch(ctx context.Context, id ticketview.SectionID) error {
	_, err := cl.Call(ctx, id, OpTouch, CallArgs{})
	return err
}

func holdOf(res CallResult, err error) (ticketview.Hold, error) {
	if err != nil {
		return ticketview.Hold{}, err
	}
	if res.Hold == nil {
		return ticketview.Hold{}, ticketview.Errorf(ticketview.EINTERNAL, "empty hold reply")
	}
	return *res.Hold, nil
}

func bookingOf(res CallResult, err error) (ticketview.Booking, error) {
	if err != nil {
		return ticketview.Booking{}, err
	}
	if res.Booking == nil {
		return ticketview.Booking{}, ticketview.Errorf(ticketview.EINTERNAL, "empty booking reply")
	}
	return *res.Booking, nil
}
