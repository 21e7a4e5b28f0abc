package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	ticketview "github.com/ticketview/ticketview"
)

// reqCtx is the context of the engine and store calls of one request.
func reqCtx(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), RequestTimeout)
}

// venue returns a venue, cached: venues do not change once created.
func (s *Server) venue(ctx context.Context, id string) (*ticketview.Venue, error) {
	if v, ok := s.venues.Load(id); ok {
		return v.(*ticketview.Venue), nil
	}
	v, err := s.cfg.Venues.FindVenue(ctx, id)
	if err != nil {
		if ticketview.ErrorCode(err) == ticketview.ENOTFOUND {
			// The event names a venue that does not exist: the catalog is broken.
			return nil, ticketview.Errorf(ticketview.EINTERNAL, "venue %q of an event is missing", id)
		}
		return nil, err
	}
	s.venues.Store(id, v)
	return v, nil
}

// target is the event and section a request is about, checked to exist.
type target struct {
	event  *ticketview.Event
	venue  *ticketview.Venue
	layout *ticketview.SectionLayout
	id     ticketview.SectionID
}

func (s *Server) findEvent(ctx context.Context, id string) (*ticketview.Event, error) {
	e, err := s.cfg.Events.FindEvent(ctx, id)
	if err != nil {
		if ticketview.ErrorCode(err) == ticketview.ENOTFOUND {
			return nil, ticketview.Errorf(ticketview.ENOTFOUND, "no event %q", id)
		}
		return nil, err
	}
	return e, nil
}

// resolve checks that the event exists and that the section belongs to its venue, before
// anything is asked of the engine.
func (s *Server) resolve(ctx context.Context, c *fiber.Ctx) (target, error) {
	eventID, sectionID := c.Params("event"), c.Params("section")
	e, err := s.findEvent(ctx, eventID)
	if err != nil {
		return target{}, err
	}
	v, err := s.venue(ctx, e.VenueID)
	if err != nil {
		return target{}, err
	}
	l, ok := v.Section(sectionID)
	if !ok {
		return target{}, ticketview.Errorf(ticketview.ENOTFOUND, "event %q has no section %q", eventID, sectionID)
	}
	return target{event: e, venue: v, layout: l, id: ticketview.SectionID{Event: e.ID, Section: l.ID}}, nil
}

// view is the event as callers see it: its status as of now (an event that started is past).
func (s *Server) view(e *ticketview.Event) ticketview.Event {
	out := *e
	out.Status = e.StatusAt(s.now())
	return out
}

// ---- catalog ----

// EventList is the answer of GET /api/v1/events.
type EventList struct {
	Events []ticketview.Event `json:"events"`
	Total  int                `json:"total"`
	Offset int                `json:"offset"`
	Limit  int                `json:"limit"`
}

var eventStatuses = map[ticketview.EventStatus]bool{
	ticketview.EventDraft: true, ticketview.EventOnSale: true, ticketview.EventSoldOut: true,
	ticketview.EventCancelled: true, ticketview.EventPast: true,
}

func (s *Server) listEvents(c *fiber.Ctx) error {
	var f ticketview.EventFilter
	if st := c.Query("status"); st != "" {
		f.Status = ticketview.EventStatus(st)
		if !eventStatuses[f.Status] {
			return invalid("status must be one of draft, on_sale, sold_out, cancelled, past")
		}
	}
	f.Text = strings.TrimSpace(c.Query("q"))
	if len(f.Text) > 200 {
		return invalid("q is too long")
	}
	var err error
	if f.From, err = queryTime(c, "from"); err != nil {
		return err
	}
	if f.To, err = queryTime(c, "to"); err != nil {
		return err
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		return invalid("to must not be before from")
	}
	if f.Offset, err = queryInt(c, "offset", 0, 0, 1_000_000); err != nil {
		return err
	}
	if f.Limit, err = queryInt(c, "limit", defaultLimit, 1, maxListLimit); err != nil {
		return err
	}
	// An on-sale event whose start has passed is past (Event.StatusAt): keep it out.
	if now := s.now(); f.Status == ticketview.EventOnSale && f.From.Before(now) {
		f.From = now
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	events, total, err := s.cfg.Events.ListEvents(ctx, f)
	if err != nil {
		return err
	}
	out := EventList{Events: make([]ticketview.Event, 0, len(events)), Total: total, Offset: f.Offset, Limit: f.Limit}
	for _, e := range events {
		out.Events = append(out.Events, s.view(e))
	}
	return c.JSON(out)
}

func queryTime(c *fiber.Ctx, name string) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, invalid("%s must be an RFC 3339 time, e.g. 2027-01-31T19:30:00Z", name)
	}
	return t, nil
}

func queryInt(c *fiber.Ctx, name string, def, min, max int) (int, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, invalid("%s must be an integer between %d and %d", name, min, max)
	}
	return n, nil
}

// EventDetails is the answer of GET /api/v1/events/:event.
type EventDetails struct {
	Event        ticketview.Event  `json:"event"`
	Venue        VenueSummary      `json:"venue"`
	Sections     []SectionSummary  `json:"sections"`
	Categories   []CategorySummary `json:"categories"`
	Availability Counts            `json:"availability"`
}

// VenueSummary names the venue.
type VenueSummary struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	City    string `json:"city"`
	Address string `json:"address"`
}

// Counts are seat (or place) counts.
type Counts struct {
	Capacity int `json:"capacity"`
	Free     int `json:"free"`
	Held     int `json:"held"`
	Sold     int `json:"sold"`
	Blocked  int `json:"blocked"`
}

// SectionSummary is one section with its counts (capacity, free, held, sold, blocked)
// and current prices.
type SectionSummary struct {
	ID   string                 `json:"id"`
	Name string                 `json:"name"`
	Kind ticketview.SectionKind `json:"kind"`
	Counts
	Prices []SectionPrice `json:"prices"`
}

// SectionPrice is a category's current price in a section.
type SectionPrice struct {
	Category string `json:"category"`
	Price    int64  `json:"price"`
	Free     int    `json:"free"`
}

// CategorySummary is a price category of the event: its configured prices and the
// current lowest price over the sections that sell it.
type CategorySummary struct {
	Code      string `json:"code"`
	Name      string `json:"name"`
	BasePrice int64  `json:"base_price"`
	Floor     int64  `json:"floor,omitempty"`
	Ceiling   int64  `json:"ceiling,omitempty"`
	Price     int64  `json:"price"` // current: the lowest over the sections
	Currency  string `json:"currency"`
	Free      int    `json:"free"`
}

func (s *Server) getEvent(c *fiber.Ctx) error {
	ctx, cancel := reqCtx(c)
	defer cancel()
	e, err := s.findEvent(ctx, c.Params("event"))
	if err != nil {
		return err
	}
	v, err := s.venue(ctx, e.VenueID)
	if err != nil {
		return err
	}
	out := EventDetails{
		Event:    s.view(e),
		Venue:    VenueSummary{ID: v.ID, Name: v.Name, City: v.City, Address: v.Address},
		Sections: make([]SectionSummary, 0, len(v.Sections)),
	}
	type catAgg struct {
		price  int64
		priced bool
		free   int
	}
	cats := map[string]*catAgg{}
	for i := range v.Sections {
		l := &v.Sections[i]
		a, err := s.availability(ctx, nil, ticketview.SectionID{Event: e.ID, Section: l.ID}, false)
		if err != nil {
			return err
		}
		sum := SectionSummary{ID: l.ID, Name: l.Name, Kind: l.Kind,
			Counts: Counts{Capacity: a.Capacity, Free: a.Free, Held: a.Held, Sold: a.Sold, Blocked: a.Blocked},
			Prices: make([]SectionPrice, 0, len(a.Categories))}
		for _, ca := range a.Categories {
			sum.Prices = append(sum.Prices, SectionPrice{Category: ca.Code, Price: ca.Price, Free: ca.Free})
			agg := cats[ca.Code]
			if agg == nil {
				agg = &catAgg{}
				cats[ca.Code] = agg
			}
			if !agg.priced || ca.Price < agg.price {
				agg.price, agg.priced = ca.Price, true
			}
			agg.free += ca.Free
		}
		out.Sections = append(out.Sections, sum)
		out.Availability.Capacity += a.Capacity
		out.Availability.Free += a.Free
		out.Availability.Held += a.Held
		out.Availability.Sold += a.Sold
		out.Availability.Blocked += a.Blocked
	}
	out.Event.Status = e.StatusWith(s.now(), out.Availability.Free)
	out.Categories = make([]CategorySummary, 0, len(e.Categories))
	for _, pc := range e.Categories {
		cs := CategorySummary{Code: pc.Code, Name: pc.Name, BasePrice: pc.Price, Floor: pc.Floor,
			Ceiling: pc.Ceiling, Price: pc.Price, Currency: e.Currency}
		if agg := cats[pc.Code]; agg != nil {
			cs.Price, cs.Free = agg.price, agg.free
		}
		out.Categories = append(out.Categories, cs)
	}
	return c.JSON(out)
}

func (s *Server) getSection(c *fiber.Ctx) error {
	withSeats := false
	if v := c.Query("seats"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return invalid("seats must be true or false")
		}
		withSeats = b
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	t, err := s.resolve(ctx, c)
	if err != nil {
		return err
	}
	a, err := s.availability(ctx, c, t.id, withSeats)
	if err != nil {
		return err
	}
	return c.JSON(a)
}

// ---- holds and bookings (buyer) ----

func sectionPath(id ticketview.SectionID) string {
	return "/api/v1/events/" + url.PathEscape(id.Event) + "/sections/" + url.PathEscape(id.Section)
}

func markReplayed(c *fiber.Ctx, replayed bool) {
	if replayed {
		c.Set(HeaderReplayed, "true")
	}
}

func (s *Server) createHold(c *fiber.Ctx) error {
	ctx, cancel := reqCtx(c)
	defer cancel()
	t, err := s.resolve(ctx, c)
	if err != nil {
		return err
	}
	if err := t.event.Sellable(s.now()); err != nil {
		return err
	}
	req, err := decodeHoldRequest(c.Body())
	if err != nil {
		return err
	}
	key, err := idemKey(c)
	if err != nil {
		return err
	}
	h, err := s.cfg.Bookings.Hold(ctx, req.command(t.id, buyerOf(c), key))
	if err != nil {
		return err
	}
	markReplayed(c, h.Replayed)
	c.Location(sectionPath(t.id) + "/holds/" + url.PathEscape(h.Token))
	return c.Status(http.StatusCreated).JSON(h)
}

func (s *Server) getHold(c *fiber.Ctx) error {
	ctx, cancel := reqCtx(c)
	defer cancel()
	t, err := s.resolve(ctx, c)
	if err != nil {
		return err
	}
	h, err := s.cfg.Bookings.FindHold(ctx, t.id, c.Params("token"), buyerOf(c))
	if err != nil {
		return err
	}
	return c.JSON(h)
}

func (s *Server) extendHold(c *fiber.Ctx) error {
	ctx, cancel := reqCtx(c)
	defer cancel()
	t, err := s.resolve(ctx, c)
	if err != nil {
		return err
	}
	by, err := decodeExtendRequest(c.Body())
	if err != nil {
		return err
	}
	key, err := idemKey(c)
	if err != nil {
		return err
	}
	h, err := s.cfg.Bookings.Extend(ctx, t.id, c.Params("token"), buyerOf(c), key, by)
	if err != nil {
		return err
	}
	markReplayed(c, h.Replayed)
	return c.JSON(h)
}

func (s *Server) releaseHold(c *fiber.Ctx) error {
	ctx, cancel := reqCtx(c)
	defer cancel()
	t, err := s.resolve(ctx, c)
	if err != nil {
		return err
	}
	key, err := idemKey(c)
	if err != nil {
		return err
	}
	if err := s.cfg.Bookings.Release(ctx, t.id, c.Params("token"), buyerOf(c), key); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) confirmHold(c *fiber.Ctx) error {
	ctx, cancel := reqCtx(c)
	defer cancel()
	t, err := s.resolve(ctx, c)
	if err != nil {
		return err
	}
	ref, err := decodeConfirmRequest(c.Body())
	if err != nil {
		return err
	}
	key, err := idemKey(c)
	if err != nil {
		return err
	}
	b, err := s.cfg.Bookings.Confirm(ctx, t.id, c.Params("token"), buyerOf(c), ref, key)
	if err != nil {
		return err
	}
	markReplayed(c, b.Replayed)
	c.Location(sectionPath(t.id) + "/bookings/" + url.PathEscape(b.ID))
	return c.Status(http.StatusCreated).JSON(b)
}

func (s *Server) getBooking(c *fiber.Ctx) error {
	return s.findBooking(c, buyerOf(c))
}

func (s *Server) findBooking(c *fiber.Ctx, owner string) error {
	ctx, cancel := reqCtx(c)
	defer cancel()
	t, err := s.resolve(ctx, c)
	if err != nil {
		return err
	}
	b, err := s.cfg.Bookings.FindBooking(ctx, t.id, c.Params("booking"), owner)
	if err != nil {
		return err
	}
	return c.JSON(b)
}

func (s *Server) cancelBooking(c *fiber.Ctx) error {
	return s.cancel(c, buyerOf(c))
}

// cancel cancels a booking for its owner, or for an admin with owner "".
func (s *Server) cancel(c *fiber.Ctx, owner string) error {
	ctx, cancel := reqCtx(c)
	defer cancel()
	t, err := s.resolve(ctx, c)
	if err != nil {
		return err
	}
	var body struct{} // no fields yet; an empty body is fine
	if err := decodeJSON(c.Body(), &body, true); err != nil {
		return err
	}
	key, err := idemKey(c)
	if err != nil {
		return err
	}
	b, err := s.cfg.Bookings.Cancel(ctx, t.id, c.Params("booking"), owner, key)
	if err != nil {
		return err
	}
	markReplayed(c, b.Replayed)
	return c.JSON(b)
}

// ---- admin ----

func (s *Server) block(c *fiber.Ctx) error   { return s.blockOrUnblock(c, true) }
func (s *Server) unblock(c *fiber.Ctx) error { return s.blockOrUnblock(c, false) }

// blockOrUnblock answers with the section's counts after the change.
func (s *Server) blockOrUnblock(c *fiber.Ctx, block bool) error {
	ctx, cancel := reqCtx(c)
	defer cancel()
	t, err := s.resolve(ctx, c)
	if err != nil {
		return err
	}
	r, err := decodeBlockRequest(c.Body(), t.layout.Kind, block)
	if err != nil {
		return err
	}
	if block {
		err = s.cfg.Bookings.Block(ctx, t.id, r.Seats, r.Quantity, r.Reason)
	} else {
		err = s.cfg.Bookings.Unblock(ctx, t.id, r.Seats, r.Quantity)
	}
	if err != nil {
		return err
	}
	a, err := s.cfg.Bookings.Availability(ctx, t.id, false)
	if err != nil {
		return err
	}
	return c.JSON(a)
}

func (s *Server) adminGetBooking(c *fiber.Ctx) error    { return s.findBooking(c, "") }
func (s *Server) adminCancelBooking(c *fiber.Ctx) error { return s.cancel(c, "") }
