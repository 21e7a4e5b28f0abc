package ticketview

import (
	"context"
	"time"
)

// HoldCommand asks a section for a hold. The engine chooses the token and applies the
// event's per-buyer limit.
type HoldCommand struct {
	Section       SectionID
	Owner         string
	IdemKey       string
	Seats         []string
	BestAvailable bool
	Quantity      int
	Category      string
	Accessible    bool
	AllowSplit    bool
	TTL           time.Duration
}

// Size is how many seats the hold asks for (its seats, else its quantity), which is what
// it takes of the buyer's allowance. A hold without an owner, or for no seats or more
// than MaxSeatsPerRequest, is EINVALID.
func (c HoldCommand) Size() (int, error) {
	if c.Owner == "" {
		return 0, Errorf(EINVALID, "a hold needs an owner")
	}
	n := c.Quantity
	if len(c.Seats) > 0 {
		n = len(c.Seats)
	}
	if n <= 0 || n > MaxSeatsPerRequest {
		return 0, Errorf(EINVALID, "quantity must be between 1 and %d", MaxSeatsPerRequest)
	}
	return n, nil
}

// BookingService is the seat engine as its callers (the gateway) use it. Every method is
// answered by the section's actor; a successful change is durable before it returns.
type BookingService interface {
	Hold(ctx context.Context, cmd HoldCommand) (Hold, error)
	Extend(ctx context.Context, id SectionID, token, owner, idemKey string, by time.Duration) (Hold, error)
	Release(ctx context.Context, id SectionID, token, owner, idemKey string) error
	Confirm(ctx context.Context, id SectionID, token, owner, paymentRef, idemKey string) (Booking, error)
	// Cancel cancels a booking; owner "" acts for the organizer or an admin.
	Cancel(ctx context.Context, id SectionID, bookingID, owner, idemKey string) (Booking, error)
	Block(ctx context.Context, id SectionID, seats []string, quantity int, reason string) error
	Unblock(ctx context.Context, id SectionID, seats []string, quantity int) error
	Availability(ctx context.Context, id SectionID, withSeats bool) (Availability, error)
	FindHold(ctx context.Context, id SectionID, token, owner string) (Hold, error)
	// FindBooking returns a booking; owner "" acts for the organizer or an admin.
	FindBooking(ctx context.Context, id SectionID, bookingID, owner string) (Booking, error)
}
