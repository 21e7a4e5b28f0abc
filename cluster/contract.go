package cluster

import (
	"encoding/json"
	"errors"
	"time"

	ticketview "github.com/ticketview/ticketview"
)

// The ops of a SectionCall to a section grain: one per ticketview.BookingService method,
// plus OpTouch, which only activates the section (placement warms up the sections a member
// owns), and OpOwnerCounts, which the buyer ledger rebuilds from.
const (
	OpHold         = "hold"
	OpExtend       = "extend"
	OpRelease      = "release"
	OpConfirm      = "confirm"
	OpCancel       = "cancel"
	OpBlock        = "block"
	OpUnblock      = "unblock"
	OpAvailability = "availability"
	OpFindHold     = "find_hold"
	OpFindBooking  = "find_booking"
	OpTouch        = "touch"
	OpOwnerCounts  = "owner_counts" // CallResult.Counts and .Seq: seats held and owned per buyer
)

// The ops of a SectionCall to an event's buyer ledger grain (LedgerKind), which keeps the
// event's per-buyer limit across the cluster.
const (
	// OpReserve takes Quantity seats of Owner's allowance, or fails with ELIMIT. With an
	// IdemKey, a retry gets the first outcome. CallResult.Ledger names the ledger's
	// activation, for the OpReturn of the reservation.
	OpReserve = "reserve"
	// OpReturn gives Quantity seats back to Owner's allowance; it never fails. A return
	// of a reservation names its Ledger activation (another activation ignores it: the
	// reservation was not counted there); a return of seats a section gave back (a hold
	// released or expired, a sale cancelled) names the Section and its event's Seq (a
	// ledger that counted that section after the event ignores it). With an IdemKey a
	// retry is not applied twice.
	OpReturn = "return"
)

// CallArgs are the arguments of every op; each op reads the fields it needs.
type CallArgs struct {
	Hold       *ticketview.HoldCommand `json:"hold,omitempty"`
	Token      string                  `json:"token,omitempty"`
	Owner      string                  `json:"owner,omitempty"`
	IdemKey    string                  `json:"idem_key,omitempty"`
	PaymentRef string                  `json:"payment_ref,omitempty"`
	BookingID  string                  `json:"booking_id,omitempty"`
	Reason     string                  `json:"reason,omitempty"`
	By         time.Duration           `json:"by,omitempty"`
	Seats      []string                `json:"seats,omitempty"`
	Quantity   int                     `json:"quantity,omitempty"`
	WithSeats  bool                    `json:"with_seats,omitempty"`

	// OpHold: Reserved says the caller has reserved the hold's seats at the event's
	// ledger grain (the section does not), ReplayOnly asks only for the first answer to
	// the hold's idempotency key (an empty result when there is none), and Token, when
	// set, is the token of the new hold (the caller can tell its own hold from another's
	// in a replay).
	Reserved   bool `json:"reserved,omitempty"`
	ReplayOnly bool `json:"replay_only,omitempty"`
	// OpReturn: see OpReturn.
	Ledger  string `json:"ledger,omitempty"`
	Section string `json:"section,omitempty"`
	Seq     uint64 `json:"seq,omitempty"`
}

// CallResult is the result of an op: at most one of its values is set (Counts and Seq
// together).
type CallResult struct {
	Hold         *ticketview.Hold         `json:"hold,omitempty"`
	Booking      *ticketview.Booking      `json:"booking,omitempty"`
	Availability *ticketview.Availability `json:"availability,omitempty"`
	Replayed     bool                     `json:"replayed,omitempty"` // Hold/Booking.Replayed
	Counts       map[string]int           `json:"counts,omitempty"`   // OpOwnerCounts
	Seq          uint64                   `json:"seq,omitempty"`      // OpOwnerCounts: the section's last event then
	Ledger       string                   `json:"ledger,omitempty"`   // OpReserve: the ledger's activation
}

// Mutating tells whether op changes the section: the cluster client gives such a call an
// idempotency key before it may retry it.
func Mutating(op string) bool {
	switch op {
	case OpHold, OpExtend, OpRelease, OpConfirm, OpCancel, OpBlock, OpUnblock, OpReserve, OpReturn:
		return true
	}
	return false
}

// NewCall encodes a call.
func NewCall(op string, args CallArgs, deadline time.Time) (*SectionCall, error) {
	b, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	c := &SectionCall{Op: op, Args: b}
	if !deadline.IsZero() {
		c.Deadline = deadline.UnixNano()
	}
	return c, nil
}

// DecodeArgs decodes a call's arguments; malformed ones are EINVALID.
func DecodeArgs(c *SectionCall) (CallArgs, error) {
	var a CallArgs
	if len(c.GetArgs()) > 0 {
		if err := json.Unmarshal(c.GetArgs(), &a); err != nil {
			return a, ticketview.Errorf(ticketview.EINVALID, "malformed %s call: %v", c.GetOp(), err)
		}
	}
	return a, nil
}

// NewReply encodes a grain's answer: a result, or an error (whose code and message cross
// the wire; ErrFenced keeps its identity).
func NewReply(res CallResult, err error) *SectionReply {
	if err != nil {
		return &SectionReply{Code: ticketview.ErrorCode(err), Message: ticketview.ErrorMessage(err), Fenced: errors.Is(err, ticketview.ErrFenced)}
	}
	b, mErr := json.Marshal(res)
	if mErr != nil {
		return &SectionReply{Code: ticketview.EINTERNAL, Message: "encoding the result: " + mErr.Error()}
	}
	return &SectionReply{Result: b}
}

// Decode returns the reply's result or its error.
func (r *SectionReply) Decode() (CallResult, error) {
	var res CallResult
	if r.GetFenced() {
		return res, ticketview.ErrFenced
	}
	if r.GetCode() != "" {
		return res, &ticketview.Error{Code: r.GetCode(), Message: r.GetMessage()}
	}
	if len(r.GetResult()) > 0 {
		if err := json.Unmarshal(r.GetResult(), &res); err != nil {
			return res, ticketview.Errorf(ticketview.EINTERNAL, "malformed reply: %v", err)
		}
	}
	if res.Hold != nil {
		res.Hold.Replayed = res.Replayed
	}
	if res.Booking != nil {
		res.Booking.Replayed = res.Replayed
	}
	return res, nil
}

// Handoff is sent (in process) by the placement to a section grain whose section now
// belongs to another member: the grain finishes the journal writes under way, answers
// their callers, and stops; commands that arrive meanwhile get a retryable error.
type Handoff struct{}
