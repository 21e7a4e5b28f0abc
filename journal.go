package ticketview

import (
	"context"
	"encoding/binary"
	"time"
)

// SectionEventType names what happened in a section.
type SectionEventType uint8

const (
	EvHoldPlaced     SectionEventType = iota + 1 // seats or a GA quantity held under a token
	EvHoldExtended                               // a hold's expiry moved
	EvHoldReleased                               // the holder let the hold go
	EvHoldExpired                                // the hold's time passed
	EvHoldConfirmed                              // the hold became a sale (booking)
	EvSaleCancelled                              // a sale was cancelled or refunded; seats free again
	EvSeatsBlocked                               // organizer or admin took seats off sale
	EvSeatsUnblocked                             // and put them back
)

var eventTypeNames = [...]string{"", "hold_placed", "hold_extended", "hold_released", "hold_expired",
	"hold_confirmed", "sale_cancelled", "seats_blocked", "seats_unblocked"}

func (t SectionEventType) String() string {
	if int(t) < len(eventTypeNames) {
		return eventTypeNames[t]
	}
	return "unknown"
}

// SectionEvent is one state transition of a section: the unit of the journal, of replay,
// and of the domain events published to the rest of the system.
type SectionEvent struct {
	Seq       uint64           // position in the section's journal, from 1
	Type      SectionEventType //
	At        time.Time        // when it happened
	Token     string           // hold token
	Owner     string           // buyer
	Seats     []int32          // seated: indexes of the seats the event changes (informative after HoldPlaced)
	Prices    []int64          // HoldPlaced: price of each seat, or the unit price for GA
	Quantity  int32            // number of seats (or GA places) the event changes
	ExpiresAt time.Time        // HoldPlaced, HoldExtended
	BookingID string           // HoldConfirmed, SaleCancelled
	Reference string           // HoldConfirmed: payment reference; SeatsBlocked: reason
	IdemKey   string           // the idempotency key of the command that caused it
}

// SectionID identifies a section of an event: the identity of its actor.
type SectionID struct {
	Event   string
	Section string
}

func (id SectionID) String() string { return id.Event + "/" + id.Section }

// SectionStore keeps each section's journal and snapshots. Implementations must be safe
// for concurrent use and should merge concurrent appends into one durable write.
type SectionStore interface {
	// Activate takes a new activation epoch for the section (fencing off older ones) and
	// returns it with the latest snapshot (nil if none) and the journal after it.
	Activate(ctx context.Context, id SectionID) (epoch uint64, snap *SectionSnapshot, events []SectionEvent, err error)
	// Append durably adds events (consecutive Seq) to the journal. It fails with ErrFenced
	// when a newer epoch exists, and then writes nothing.
	Append(ctx context.Context, id SectionID, epoch uint64, events []SectionEvent) error
	// SaveSnapshot stores a snapshot and may drop journal entries it covers.
	SaveSnapshot(ctx context.Context, id SectionID, epoch uint64, snap *SectionSnapshot) error
}

// EpochReader is implemented by a section store that several nodes share. Epoch reads the
// section's current activation epoch (0 if it was never activated), so that an activation
// that has not written for a while can check it still owns the section before it answers
// from memory (a paused process must not serve what it had).
type EpochReader interface {
	Epoch(ctx context.Context, id SectionID) (uint64, error)
}

// AsyncAppender is implemented by a SectionStore that can queue a section's appends in
// the order they are made and report each outcome later, so that the section's owner can
// have a second write queued while the first commits. An append whose predecessor failed
// fails too. The wait function returns what Append would.
type AsyncAppender interface {
	AppendAsync(ctx context.Context, id SectionID, epoch uint64, events []SectionEvent) (wait func() error)
}

// SeatDelta is a small change of a section's seat map, for live seat maps.
//
// Prev and Seq let a reader detect a lost delta: the events between Prev and Seq changed
// no seat, so a reader that has applied everything up to Prev (or later, up to Seq-1) has
// missed nothing; one that stands before Prev has lost deltas and must resync from a full
// Availability.
type SeatDelta struct {
	Section SectionID  `json:"section"`
	Seq     uint64     `json:"seq"`             // the section event that caused it
	Prev    uint64     `json:"prev"`            // Seq of the section's previous delta (or of its state when its actor started)
	Seats   []string   `json:"seats,omitempty"` // labels of seats whose status changed
	Status  SeatStatus `json:"status"`          // their new status
	GAFree  int        `json:"ga_free"`         // GA sections: free places after the change
	// Categories are the section's counts per category after the commit that carried the
	// delta (shared by every delta of that commit).
	Categories []CategoryAvailability `json:"categories,omitempty"`
}

// DeltaPublisher receives seat deltas after they are durable, in order per section.
type DeltaPublisher interface {
	PublishDelta(d SeatDelta)
}

// DomainEvent is a section event with its section, for consumers outside the engine.
type DomainEvent struct {
	Section SectionID
	SectionEvent
	Labels []string // labels of SectionEvent.Seats, in the same order
}

// Audit is the audit-log entry of the event.
func (e *DomainEvent) Audit() AuditEntry {
	return AuditEntry{Section: e.Section, Seq: e.Seq, Type: e.Type, At: e.At, Owner: e.Owner,
		Token: e.Token, BookingID: e.BookingID, Seats: e.Labels, Quantity: e.Quantity,
		Reference: e.Reference}
}

// EventPublisher receives domain events after they are durable, in order per section.
type EventPublisher interface {
	PublishEvents(evs []DomainEvent)
}

// MarshalEvents appends a compact binary encoding of events to buf.
func MarshalEvents(buf []byte, evs []SectionEvent) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(evs)))
	for i := range evs {
		e := &evs[i]
		buf = binary.AppendUvarint(buf, e.Seq)
		buf = append(buf, byte(e.Type))
		buf = binary.AppendVarint(buf, timeNanos(e.At))
		buf = appendString(buf, e.Token)
		buf = appendString(buf, e.Owner)
		buf = binary.AppendUvarint(buf, uint64(len(e.Seats)))
		for _, s := range e.Seats {
			buf = binary.AppendUvarint(buf, uint64(s))
		}
		buf = binary.AppendUvarint(buf, uint64(len(e.Prices)))
		for _, p := range e.Prices {
			buf = binary.AppendVarint(buf, p)
		}
		buf = binary.AppendVarint(buf, int64(e.Quantity))
		buf = binary.AppendVarint(buf, timeNanos(e.ExpiresAt))
		buf = appendString(buf, e.BookingID)
		buf = appendString(buf, e.Reference)
		buf = appendString(buf, e.IdemKey)
	}
	return buf
}

// UnmarshalEvents decodes what MarshalEvents wrote.
func UnmarshalEvents(b []byte) ([]SectionEvent, error) {
	d := decoder{b: b}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(b)) {
		return nil, Errorf(EINTERNAL, "corrupt journal record")
	}
	evs := make([]SectionEvent, n)
	for i := range evs {
		e := &evs[i]
		e.Seq = d.uvarint()
		e.Type = SectionEventType(d.byte())
		e.At = nanosTime(d.varint())
		e.Token = d.string()
		e.Owner = d.string()
		if ns := d.count(); ns > 0 {
			e.Seats = make([]int32, ns)
			for j := range e.Seats {
				e.Seats[j] = int32(d.uvarint())
			}
		}
		if np := d.count(); np > 0 {
			e.Prices = make([]int64, np)
			for j := range e.Prices {
				e.Prices[j] = d.varint()
			}
		}
		e.Quantity = int32(d.varint())
		e.ExpiresAt = nanosTime(d.varint())
		e.BookingID = d.string()
		e.Reference = d.string()
		e.IdemKey = d.string()
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, Errorf(EINTERNAL, "corrupt journal record")
	}
	return evs, nil
}

func timeNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nanosTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err, d.b = ErrInvalid, nil }

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) { // every element takes at least one byte
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) string() string {
	n := d.count()
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
