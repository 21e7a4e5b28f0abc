// Package load is the flash-sale load generator of the benchmark harness (go run ./bench):
// open-model arrivals (constant, ramping, spike), buyers that pick seats, ask for the best
// available or for general-admission places, think, and buy or let go; a recorder of every
// request's latency and outcome; a ledger of what the target acknowledged; and the
// invariant check of the target's store against that ledger afterwards.
//
// Every target is driven through the same HTTP API shape (TicketView's buyer API, which
// the baselines in bench/baseline implement too), or through a Driver of another kind (the
// cluster client).
package load

import (
	"context"
	"fmt"
	"time"
)

// ---- the HTTP API shape every target serves ----
//
//	POST   /api/v1/events/{event}/sections/{section}/holds                 HoldRequest -> 201 Hold
//	DELETE /api/v1/events/{event}/sections/{section}/holds/{token}         -> 204
//	POST   /api/v1/events/{event}/sections/{section}/holds/{token}/confirm ConfirmRequest -> 201 Booking
//	GET    /api/v1/events/{event}/sections/{section}?seats=true            -> 200 Availability
//
// Every request carries "Authorization: Bearer T" and "X-Buyer-ID: B" (the buyer it acts
// for). A clean loss (the seats are taken, the section is sold out) is 409; bad input is
// 400; errors have the body {"error":{"code":"...","message":"..."}}.
//
// The baselines also serve POST /bench/setup with a Layout (creates the event's sections,
// every seat free, replacing what was there) -> 204.

// Header names of the API shape.
const (
	HeaderBuyer = "X-Buyer-ID"
)

// HoldRequest is the body of a hold: Seats (explicit labels), BestAvailable with
// Quantity (seated), or Quantity alone (general admission).
type HoldRequest struct {
	Seats         []string `json:"seats,omitempty"`
	BestAvailable bool     `json:"best_available,omitempty"`
	// AllowSplit: best available may give seats that are not together when no block of
	// Quantity adjacent seats is free. The buyers always send it, so that every design
	// refuses a best-available hold only when fewer than Quantity seats are free: the
	// baselines never keep a party together; TicketView still does whenever it can.
	AllowSplit bool `json:"allow_split,omitempty"`
	Quantity   int  `json:"quantity,omitempty"`
	TTLSeconds int  `json:"ttl_seconds,omitempty"`
}

// HoldItem is a held seat, or a quantity of general-admission places.
type HoldItem struct {
	Seat     string `json:"seat,omitempty"`
	Quantity int    `json:"quantity"`
}

// Hold is an acknowledged hold.
type Hold struct {
	Token     string     `json:"token"`
	Owner     string     `json:"owner"`
	Section   string     `json:"section"`
	Items     []HoldItem `json:"items"`
	Quantity  int        `json:"quantity"`
	ExpiresAt time.Time  `json:"expires_at"`
}

// Seats are the labels of the hold's seats (none for general admission).
func (h Hold) Seats() []string {
	var out []string
	for _, it := range h.Items {
		if it.Seat != "" {
			out = append(out, it.Seat)
		}
	}
	return out
}

// ConfirmRequest is the body of a confirmation.
type ConfirmRequest struct {
	PaymentRef string `json:"payment_ref"`
}

// Booking is an acknowledged sale.
type Booking struct {
	ID        string     `json:"id"`
	HoldToken string     `json:"hold_token"`
	Section   string     `json:"section"`
	Items     []HoldItem `json:"items"`
	Quantity  int        `json:"quantity"`
	Status    string     `json:"status"`
}

// SeatView is one seat of a section read: its label and status (free, held, sold,
// blocked).
type SeatView struct {
	Label  string `json:"label"`
	Status string `json:"status"`
}

// Availability is a section read, from the target's store.
type Availability struct {
	Section  string     `json:"section"`
	Capacity int        `json:"capacity"`
	Free     int        `json:"free"`
	Held     int        `json:"held"`
	Sold     int        `json:"sold"`
	Seats    []SeatView `json:"seats,omitempty"`
}

// ErrorBody is the body of an error answer.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// ---- the layout of a flash sale ----

// Layout is the event on sale: its sections.
type Layout struct {
	Event    string          `json:"event"`
	Sections []SectionLayout `json:"sections"`
}

// SectionLayout is one section: Rows x PerRow seats (rows nearest the stage first, seats
// labelled as SeatLabel does), or, when GA, Capacity general-admission places.
type SectionLayout struct {
	ID       string `json:"id"`
	GA       bool   `json:"ga,omitempty"`
	Rows     int    `json:"rows,omitempty"`
	PerRow   int    `json:"per_row,omitempty"`
	Capacity int    `json:"capacity,omitempty"`
	Price    int64  `json:"price"` // minor units
}

// Places is the number of seats (or GA places) of the section.
func (s SectionLayout) Places() int {
	if s.GA {
		return s.Capacity
	}
	return s.Rows * s.PerRow
}

// Places is the number of places of the whole event.
func (l Layout) Places() int {
	n := 0
	for _, s := range l.Sections {
		n += s.Places()
	}
	return n
}

// Section returns the section with the id.
func (l Layout) Section(id string) (SectionLayout, bool) {
	for _, s := range l.Sections {
		if s.ID == id {
			return s, true
		}
	}
	return SectionLayout{}, false
}

// RowLabel is the label of row r (0-based): A..Z, AA, AB, ... as TicketView names rows.
func RowLabel(r int) string {
	s := ""
	for r >= 0 {
		s = string(rune('A'+r%26)) + s
		r = r/26 - 1
	}
	return s
}

// SeatLabel is the label of seat n (0-based) of row r (0-based): "A-1", "B-12".
func SeatLabel(r, n int) string { return fmt.Sprintf("%s-%d", RowLabel(r), n+1) }

// ---- drivers ----

// Status is how a request ended: the HTTP status (201, 204, 409, ...) or 0 when it never
// got one (transport error, timeout); Err describes any failure.
type Status struct {
	Code int
	Err  error
}

// OK is true for 2xx.
func (s Status) OK() bool { return s.Code >= 200 && s.Code < 300 }

// Conflict is true for the clean loss: 409.
func (s Status) Conflict() bool { return s.Code == 409 }

// Uncertain is true when the target may or may not have done it (no answer, or 5xx).
func (s Status) Uncertain() bool { return s.Code == 0 || s.Code >= 500 }

// Driver makes the buyer's requests against one target. Implementations must be safe for
// concurrent use.
type Driver interface {
	Hold(ctx context.Context, buyer, section string, req HoldRequest) (Hold, Status)
	Release(ctx context.Context, buyer, section, token string) Status
	Confirm(ctx context.Context, buyer, section, token string) (Booking, Status)
	// Section reads a section with every seat's status, from the target's store.
	Section(ctx context.Context, section string) (Availability, error)
	Close() error
}

// Checkouter is a Driver that can also pay for holds through an order with the sandbox
// payment provider (TicketView): the order is created, paid, and confirmed; the bookings
// are returned.
type Checkouter interface {
	Checkout(ctx context.Context, buyer string, holds []Hold) ([]Booking, Status)
}
