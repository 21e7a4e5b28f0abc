// Package storetest is the contract every TicketView store adapter must pass: each
// adapter's tests call TestSectionStore and TestCatalog with a constructor of its store.
// It also has helpers that build sample data.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ticketview/ticketview"
)

// IsFenced reports whether err is (or wraps) ticketview.ErrFenced.
func IsFenced(err error) bool { return errors.Is(err, ticketview.ErrFenced) }

// JournalCounter is implemented by stores that can tell how many journal records (rows,
// entries) they keep for a section. The suite uses it to check that SaveSnapshot compacts.
type JournalCounter interface {
	JournalRecords(ctx context.Context, id ticketview.SectionID) (int, error)
}

var uniq atomic.Int64

// NewSectionID returns a section id no other call returns in this process (within a
// nanosecond-stamped run prefix, so shared databases are fine too).
func NewSectionID() ticketview.SectionID {
	return ticketview.SectionID{Event: fmt.Sprintf("ev-%x-%d", runStamp, uniq.Add(1)), Section: "A"}
}

var runStamp = time.Now().UnixNano()

// BaseTime is the time sample data starts at: UTC, with nanoseconds, as stores return it.
var BaseTime = time.Date(2030, 5, 17, 19, 30, 0, 123456789, time.UTC)

// SampleEvents returns n section events with Seq from, from+1, ..., cycling through the
// event types and using every field, with times after at (which should be UTC).
func SampleEvents(from uint64, n int, at time.Time) []ticketview.SectionEvent {
	evs := make([]ticketview.SectionEvent, n)
	for i := range evs {
		seq := from + uint64(i)
		t := at.Add(time.Duration(seq) * 1001 * time.Microsecond)
		e := ticketview.SectionEvent{
			Seq:     seq,
			Type:    ticketview.SectionEventType(1 + seq%8),
			At:      t,
			Token:   fmt.Sprintf("tok-%d", seq),
			Owner:   fmt.Sprintf("buyer-%d", seq%7),
			IdemKey: fmt.Sprintf("idem-%d", seq),
		}
		switch e.Type {
		case ticketview.EvHoldPlaced:
			e.Seats = []int32{int32(seq % 10000), int32((seq + 1) % 10000), 0}
			e.Prices = []int64{4500, 4500, -1}
			e.ExpiresAt = t.Add(10 * time.Minute)
		case ticketview.EvHoldExtended:
			e.ExpiresAt = t.Add(15 * time.Minute)
		case ticketview.EvHoldConfirmed:
			e.Seats = []int32{int32(seq % 10000)}
			e.BookingID = fmt.Sprintf("bk-%d", seq)
			e.Reference = "pay_ünïcode_ref"
		case ticketview.EvSaleCancelled:
			e.BookingID = fmt.Sprintf("bk-%d", seq-1)
			e.Quantity = 3
		case ticketview.EvSeatsBlocked:
			e.Quantity = 2
			e.Prices = []int64{1 << 40}
			e.Reference = "press"
		}
		evs[i] = e
	}
	return evs
}

// SampleSnapshot returns a snapshot at seq of a seated section with the given number of
// seats, with holds, sales (one cancelled), tombstones and idempotency records.
func SampleSnapshot(seq uint64, seats int) *ticketview.SectionSnapshot {
	status := make([]byte, seats)
	for i := range status {
		status[i] = byte(i % 4)
	}
	at := BaseTime.Add(time.Duration(seq) * time.Second)
	hold := &ticketview.Hold{Token: "tok-h1", Owner: "buyer-1", Event: "ev", Section: "A",
		Items:    []ticketview.HoldItem{{Seat: "A-1", Category: "VIP", Quantity: 1, UnitPrice: 9900}},
		Quantity: 1, Total: ticketview.Money{Amount: 9900, Currency: "INR"},
		CreatedAt: at, ExpiresAt: at.Add(10 * time.Minute)}
	return &ticketview.SectionSnapshot{
		Seq:     seq,
		TakenAt: at,
		Status:  status,
		Holds: []ticketview.SnapshotHold{{Token: "tok-h1", Owner: "buyer-1", Seats: []int32{1},
			Prices: []int64{9900}, Created: at, Expires: at.Add(10 * time.Minute)}},
		Sales: []ticketview.SnapshotSale{
			{ID: "bk-1", Owner: "buyer-2", Token: "tok-s1", Ref: "pay-1", Seats: []int32{2, 3}, Prices: []int64{4500, 4500}, At: at},
			{ID: "bk-2", Owner: "buyer-3", Token: "tok-s2", Ref: "pay-2", Seats: []int32{5}, Prices: []int64{4500}, At: at,
				CancelledAt: at.Add(time.Minute)},
		},
		Tombs: []ticketview.SnapshotTomb{{Token: "tok-x", Type: ticketview.EvHoldExpired, At: at, Owner: "buyer-4"}},
		Idem: []ticketview.SnapshotIdem{
			{Key: "k1", Type: ticketview.EvHoldPlaced, At: at, Token: "tok-h1", Hold: hold},
			{Key: "k2", Type: ticketview.EvHoldConfirmed, At: at, Token: "tok-s1", BookingID: "bk-1"},
		},
	}
}

// SampleVenue returns a valid venue with a seated section "A" (3 rows of 4) and a
// general-admission section "GA".
func SampleVenue(id string) *ticketview.Venue {
	return &ticketview.Venue{
		ID: id, Name: "Hall " + id, City: "Zürich", Address: "1 Main St",
		Sections: []ticketview.SectionLayout{
			{ID: "A", Name: "Stalls", Kind: ticketview.Seated, Rows: ticketview.GridRows(3, 4, func(r int) string {
				if r == 0 {
					return "VIP"
				}
				return "STD"
			})},
			{ID: "GA", Name: "Floor", Kind: ticketview.GeneralAdmission, Capacity: 500, Category: "STD"},
		},
	}
}

// SampleEvent returns a valid draft event at the venue starting at startsAt.
func SampleEvent(id, venueID string, startsAt time.Time) *ticketview.Event {
	return &ticketview.Event{
		ID: id, Name: "Concert " + id, Description: "An evening of music", StartsAt: startsAt,
		Location: "Main hall", VenueID: venueID, Currency: "INR",
		Categories: []ticketview.PriceCategory{
			{Code: "VIP", Name: "VIP", Price: 9900},
			{Code: "STD", Name: "Standard", Price: 4500, Floor: 3000, Ceiling: 8000},
		},
		BuyerLimit: 4, Status: ticketview.EventDraft, CreatedAt: BaseTime,
	}
}

// codeOf is ticketview.ErrorCode, with "" for nil, for messages.
func codeOf(err error) string { return ticketview.ErrorCode(err) }

var errBoom = errors.New("storetest: update refused by fn")
