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
