package actors

import (
	"time"

	ticketview "github.com/ticketview/ticketview"
)

// The commands of the BookingService methods other than Hold (see holdCommand), built
// the same way for local callers and for calls that arrive through the cluster.

func extendCmd(token, owner, idemKey string, by time.Duration) *command {
	return &command{run: func(s *ticketview.Section, now time.Time) (any, error) {
		return s.Extend(token, owner, idemKey, by, now)
	}}
}

func releaseCmd(token, owner, idemKey string) *command {
	return &command{run: func(s *ticketview.Section, now time.Time) (any, error) {
		return nil, s.Release(token, owner, idemKey, now)
	}}
}

func confirmCmd(token, owner, paymentRef, idemKey string) *command {
	bookingID := newID("bk_")
	return &command{run: func(s *ticketview.Section, now time.Time) (any, error) {
		return s.Confirm(token, owner, bookingID, paymentRef, idemKey, now)
	}}
}

func cancelCmd(bookingID, owner, idemKey string) *command {
	return &command{run: func(s *ticketview.Section, now time.Time) (any, error) {
		return s.Cancel(bookingID, owner, idemKey, now)
	}}
}

func blockCmd(seats []string, quantity int, reason string) *command {
	return &command{run: func(s *ticketview.Section, now time.Time) (any, error) {
		return nil, s.Block(seats, quantity, reason, now)
	}}
}

func unblockCmd(seats []string, quantity int) *command {
	return &command{run: func(s *ticketview.Section, now time.Time) (any, error) {
		return nil, s.Unblock(seats, quantity, now)
	}}
}

func availabilityCmd(withSeats bool) *command {
	return &command{run: func(s *ticketview.Section, _ time.Time) (any, error) {
		return s.Availability(withSeats), nil
	}}
}

func findHoldCmd(token, owner string) *command {
	return &command{run: func(s *ticketview.Section, now time.Time) (any, error) {
		s.ExpireDue(now) // a hold past its time is expired, not shown as live
		return s.FindHold(token, owner)
	}}
}

func findBookingCmd(bookingID, owner string) *command {
	return &command{run: func(s *ticketview.Section, _ time.Time) (any, error) {
		return s.FindBooking(bookingID, owner)
	}}
}

// touchCmd only activates the section.
func touchCmd() *command {
	return &command{run: func(*ticketview.Section, time.Time) (any, error) { return nil, nil }}
}

// ownerCounts is the answer of ownerCountsCmd.
type ownerCounts struct {
	counts map[string]int
	seq    uint64
}

// ownerCountsCmd reads the seats each buyer holds and owns in the section, and the
// section's last event then. Like every command it is answered once the changes before
// it are durable.
func ownerCountsCmd() *command {
	return &command{run: func(s *ticketview.Section, _ time.Time) (any, error) {
		return ownerCounts{counts: s.OwnerCounts(), seq: s.Seq()}, nil
	}}
}
