package ticketview

import (
	"context"
	"strings"
	"time"
)

// EventStatus is the sales status of an event.
type EventStatus string

const (
	EventDraft     EventStatus = "draft"
	EventOnSale    EventStatus = "on_sale"
	EventSoldOut   EventStatus = "sold_out"
	EventCancelled EventStatus = "cancelled"
	EventPast      EventStatus = "past"
)

// DefaultBuyerLimit is the number of seats one buyer may hold and buy per event.
const DefaultBuyerLimit = 6

// MaxBuyerLimit bounds an event's buyer limit (load tests set it high).
const MaxBuyerLimit = 1_000_000

// Event is something people buy tickets for.
type Event struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	StartsAt    time.Time       `json:"starts_at"`
	Location    string          `json:"location"`
	VenueID     string          `json:"venue_id"`
	Currency    string          `json:"currency"`
	Categories  []PriceCategory `json:"categories"`
	BuyerLimit  int             `json:"buyer_limit"` // seats held + bought per buyer; 0 means DefaultBuyerLimit
	Status      EventStatus     `json:"status"`
	CreatedAt   time.Time       `json:"created_at"`

	// OrganizerID is the user who owns the event ("" for events loaded by operators).
	OrganizerID string `json:"organizer_id,omitempty"`
	// Genre is what kind of event it is ("music", "sports", ...), for browsing.
	Genre string `json:"genre,omitempty"`
	// City is the venue's city, copied when the event is created, for browsing.
	City string `json:"city,omitempty"`
	// SalesStart and SalesEnd bound the on-sale window (zero: open on that side).
	SalesStart time.Time `json:"sales_start,omitzero"`
	SalesEnd   time.Time `json:"sales_end,omitzero"`
	// PublishedAt is when the event first went on sale. From then on its terms (venue,
	// currency, the set of category codes, buyer limit) are fixed: the section actors and
	// the buyers' ledgers are built on them. Category names and prices may still change
	// (see CheckEdit): new holds take the new prices, earlier holds and sales keep theirs.
	PublishedAt time.Time `json:"published_at,omitzero"`
}

// PriceCategory is a class of tickets (VIP, General) with its price. With Floor and Ceiling
// set, the price moves with demand between them (see Price).
type PriceCategory struct {
	Code    string `json:"code"`
	Name    string `json:"name"`
	Price   int64  `json:"price"`             // base price, minor units
	Floor   int64  `json:"floor,omitempty"`   // lowest dynamic price; 0 = fixed price
	Ceiling int64  `json:"ceiling,omitempty"` // highest dynamic price; 0 = fixed price
}

// Validate checks an event before it is created or changed.
func (e *Event) Validate() error {
	switch {
	case !validID(e.ID):
		return Errorf(EINVALID, "event id %q: use letters, digits, '-' and '_'", e.ID)
	case strings.TrimSpace(e.Name) == "":
		return Errorf(EINVALID, "event needs a name")
	case e.VenueID == "":
		return Errorf(EINVALID, "event needs a venue")
	case e.StartsAt.IsZero():
		return Errorf(EINVALID, "event needs a start time")
	case len(e.Categories) == 0:
		return Errorf(EINVALID, "event needs at least one price category")
	case e.BuyerLimit < 0 || e.BuyerLimit > MaxBuyerLimit:
		return Errorf(EINVALID, "buyer limit must be between 0 and %d", MaxBuyerLimit)
	case !e.SalesStart.IsZero() && !e.SalesEnd.IsZero() && !e.SalesEnd.After(e.SalesStart):
		return Errorf(EINVALID, "sales must end after they start")
	case len(e.Genre) > 32 || len(e.City) > 128 || len(e.Name) > 200 || len(e.Description) > 10000 || len(e.Location) > 256:
		return Errorf(EINVALID, "event text too long: name 200, description 10000, location 256, city 128, genre 32")
	}
	if len(e.Currency) != 3 {
		return Errorf(EINVALID, "currency must be a 3-letter code")
	}
	seen := map[string]bool{}
	for _, c := range e.Categories {
		if c.Code == "" || seen[c.Code] {
			return Errorf(EINVALID, "category code %q empty or repeated", c.Code)
		}
		seen[c.Code] = true
		if c.Price < 0 {
			return Errorf(EINVALID, "category %q: negative price", c.Code)
		}
		if c.Floor != 0 || c.Ceiling != 0 {
			if c.Floor <= 0 || c.Ceiling < c.Floor || c.Price < c.Floor || c.Price > c.Ceiling {
				return Errorf(EINVALID, "category %q: need 0 < floor <= price <= ceiling", c.Code)
			}
		}
	}
	return nil
}

// Category returns the price category with the code.
func (e *Event) Category(code string) (PriceCategory, bool) {
	for _, c := range e.Categories {
		if c.Code == code {
			return c, true
		}
	}
	return PriceCategory{}, false
}

// Limit is the per-buyer seat limit in force.
func (e *Event) Limit() int {
	if e.BuyerLimit == 0 {
		return DefaultBuyerLimit
	}
	return e.BuyerLimit
}

// StatusAt is the status as of now: an event whose start has passed is past.
func (e *Event) StatusAt(now time.Time) EventStatus {
	if e.Status != EventCancelled && !now.Before(e.StartsAt) {
		return EventPast
	}
	return e.Status
}

// StatusWith is the status as buyers see it, given how many seats are free now: an
// event on sale with nothing free is sold out (held seats may still come back).
func (e *Event) StatusWith(now time.Time, free int) EventStatus {
	s := e.StatusAt(now)
	if s == EventOnSale && free <= 0 {
		return EventSoldOut
	}
	return s
}

// Publish puts a draft event on sale.
func (e *Event) Publish(now time.Time) error {
	switch e.StatusAt(now) {
	case EventDraft:
		e.Status = EventOnSale
		if e.PublishedAt.IsZero() {
			e.PublishedAt = now
		}
		return nil
	case EventOnSale:
		return nil
	default:
		return Errorf(ECONFLICT, "event %q is %s and cannot go on sale", e.ID, e.StatusAt(now))
	}
}

// Unpublish takes an event off sale (back to draft): holds and sales stop, what was sold
// stays sold. Its terms stay fixed once published.
func (e *Event) Unpublish(now time.Time) error {
	switch e.StatusAt(now) {
	case EventOnSale:
		e.Status = EventDraft
		return nil
	case EventDraft:
		return nil
	default:
		return Errorf(ECONFLICT, "event %q is %s and cannot be unpublished", e.ID, e.StatusAt(now))
	}
}

// TermsFixed reports whether the event's terms may no longer change: it was published.
func (e *Event) TermsFixed() bool { return !e.PublishedAt.IsZero() }

// CheckEdit checks that next, an edit of e, keeps the terms that are fixed once e was
// published: the venue, the currency, the set of category codes and the buyer limit
// (ECONFLICT otherwise). The name, description, time, location and each category's name,
// price, floor and ceiling may change. Any edit of a draft never published passes.
func (e *Event) CheckEdit(next *Event) error {
	if !e.TermsFixed() {
		return nil
	}
	fixed := func(what string) error {
		return Errorf(ECONFLICT, "event %q was published: its %s cannot change (its venue, currency, category codes and buyer limit are fixed; names, times and prices may change)", e.ID, what)
	}
	switch {
	case next.VenueID != e.VenueID:
		return fixed("venue")
	case next.Currency != e.Currency:
		return fixed("currency")
	case next.Limit() != e.Limit():
		return fixed("buyer limit")
	case !sameCodes(e.Categories, next.Categories):
		return fixed("set of price categories")
	}
	return nil
}

// sameCodes reports whether a and b have the same category codes, in any order.
func sameCodes(a, b []PriceCategory) bool {
	if len(a) != len(b) {
		return false
	}
	codes := make(map[string]int, len(a))
	for _, c := range a {
		codes[c.Code]++
	}
	for _, c := range b {
		if codes[c.Code] == 0 {
			return false
		}
		codes[c.Code]--
	}
	return true
}

// Cancel cancels the event.
func (e *Event) Cancel(now time.Time) error {
	if s := e.StatusAt(now); s == EventPast {
		return Errorf(ECONFLICT, "event %q is past", e.ID)
	}
	e.Status = EventCancelled
	return nil
}

// Sellable reports whether seats of the event may be held now.
func (e *Event) Sellable(now time.Time) error {
	if s := e.StatusAt(now); s != EventOnSale {
		return Errorf(ENOTONSALE, "event %q is %s", e.ID, s)
	}
	if !e.SalesStart.IsZero() && now.Before(e.SalesStart) {
		return Errorf(ENOTONSALE, "sales of event %q open at %s", e.ID, e.SalesStart.UTC().Format(time.RFC3339))
	}
	if !e.SalesEnd.IsZero() && !now.Before(e.SalesEnd) {
		return Errorf(ENOTONSALE, "sales of event %q closed at %s", e.ID, e.SalesEnd.UTC().Format(time.RFC3339))
	}
	return nil
}

// EventFilter selects events in a listing.
type EventFilter struct {
	Status    EventStatus
	Text      string
	Genre     string // exact
	City      string // exact, case-insensitive
	Organizer string // exact
	From      time.Time
	To        time.Time
	Offset    int
	Limit     int
}

// EventStore keeps events.
type EventStore interface {
	CreateEvent(ctx context.Context, e *Event) error
	FindEvent(ctx context.Context, id string) (*Event, error)
	ListEvents(ctx context.Context, f EventFilter) ([]*Event, int, error)
	// UpdateEvent loads the event, calls fn and saves the result atomically.
	UpdateEvent(ctx context.Context, id string, fn func(*Event) error) (*Event, error)
}
