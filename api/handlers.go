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
	"github.com/ticketview/ticketview/api/abuse"
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

// cachedEvent is an event as of at most Config.EventCacheTTL ago (see there), or older
// while the catalog is unavailable. The cached event is shared: callers must not change it.
type cachedEvent struct {
	e  *ticketview.Event
	at time.Time
}

func (s *Server) cachedEvent(ctx context.Context, id string) (*ticketview.Event, error) {
	ttl := s.cfg.EventCacheTTL
	if ttl <= 0 {
		return s.findEvent(ctx, id)
	}
	v, cached := s.events.Load(id)
	if cached {
		if ce := v.(cachedEvent); time.Since(ce.at) < ttl {
			return ce.e, nil
		}
	}
	at := time.Now()
	e, err := s.findEvent(ctx, id)
	if err != nil {
		// The catalog cannot be read (a database outage): the event as last read serves
		// until it can; the engine still answers what it can (seat maps from memory; holds
		// fail where the journal is down).
		if cached && ticketview.ErrorCode(err) == ticketview.EUNAVAILABLE {
			return v.(cachedEvent).e, nil
		}
		return nil, err
	}
	s.events.Store(id, cachedEvent{e: e, at: at})
	return e, nil
}

// forgetEvent drops the cached event after an edit through this server.
func (s *Server) forgetEvent(id string) { s.events.Delete(id) }

// visible hides drafts from everyone but their organizer and admins.
func (s *Server) visible(c *fiber.Ctx, e *ticketview.Event) error {
	if e.Status != ticketview.EventDraft {
		return nil
	}
	if p := principalOf(c); p != nil && ownEvent(p, e) == nil {
		return nil
	}
	return ticketview.Errorf(ticketview.ENOTFOUND, "no event %q", e.ID)
}

// publicEvent finds an event the caller may see.
func (s *Server) publicEvent(ctx context.Context, c *fiber.Ctx, id string) (*ticketview.Event, error) {
	e, err := s.findEvent(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.visible(c, e); err != nil {
		return nil, err
	}
	return e, nil
}

// resolve checks that the event exists and that the section belongs to its venue, before
// anything is asked of the engine.
func (s *Server) resolve(ctx context.Context, c *fiber.Ctx) (target, error) {
	eventID, sectionID := c.Params("event"), c.Params("section")
	e, err := s.cachedEvent(ctx, eventID)
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

// listEvents is the public catalog: events on sale (the default), past or cancelled.
// Drafts are their organizer's (GET /api/v1/organizer/events).
func (s *Server) listEvents(c *fiber.Ctx) error {
	f := ticketview.EventFilter{Status: ticketview.EventOnSale}
	past := false
	switch st := ticketview.EventStatus(c.Query("status")); st {
	case "", ticketview.EventOnSale:
	case ticketview.EventPast:
		past = true // stored as on sale, started before now
	case ticketview.EventCancelled:
		f.Status = st
	default:
		return invalid("status must be on_sale, past or cancelled")
	}
	f.Text = strings.TrimSpace(c.Query("q"))
	f.Genre = strings.ToLower(strings.TrimSpace(c.Query("genre")))
	f.City = strings.TrimSpace(c.Query("city"))
	if len(f.Text) > 200 || len(f.Genre) > 32 || len(f.City) > 128 {
		return invalid("q, genre or city is too long")
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
	if f.Offset, f.Limit, err = pageOf(c); err != nil {
		return err
	}
	// An on-sale event whose start has passed is past (Event.StatusAt).
	if now := s.now(); past {
		if f.To.IsZero() || f.To.After(now) {
			f.To = now
		}
	} else if f.Status == ticketview.EventOnSale && f.From.Before(now) {
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

// pageOf reads the offset and limit query parameters of a listing.
func pageOf(c *fiber.Ctx) (offset, limit int, err error) {
	if offset, err = queryInt(c, "offset", 0, 0, 1_000_000); err != nil {
		return 0, 0, err
	}
	limit, err = queryInt(c, "limit", defaultLimit, 1, maxListLimit)
	return offset, limit, err
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
	e, err := s.publicEvent(ctx, c, c.Params("event"))
	if err != nil {
		return err
	}
	v, err := s.venue(ctx, e.VenueID)
	if err != nil {
		return err
	}
	out := EventDetails{
		Event: s.view(e),
		Venue: VenueSummary{ID: v.ID, Name: v.Name, City: v.City, Address: v.Address},
	}
	type catAgg struct {
		price  int64
		priced bool
		free   int
	}
	cats := map[string]*catAgg{}
	out.Sections, out.Availability, err = summarize(ctx, e, v, func(ctx context.Context, id ticketview.SectionID) (ticketview.Availability, error) {
		return s.availability(ctx, nil, id, false)
	})
	if err != nil {
		return err
	}
	for _, sum := range out.Sections {
		for _, p := range sum.Prices {
			agg := cats[p.Category]
			if agg == nil {
				agg = &catAgg{}
				cats[p.Category] = agg
			}
			if !agg.priced || p.Price < agg.price {
				agg.price, agg.priced = p.Price, true
			}
			agg.free += p.Free
		}
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

// summarize reads each section's availability with read and returns the sections' counts
// and prices, and their sum.
func summarize(ctx context.Context, e *ticketview.Event, v *ticketview.Venue,
	read func(context.Context, ticketview.SectionID) (ticketview.Availability, error)) ([]SectionSummary, Counts, error) {
	out := make([]SectionSummary, 0, len(v.Sections))
	var total Counts
	for i := range v.Sections {
		l := &v.Sections[i]
		a, err := read(ctx, ticketview.SectionID{Event: e.ID, Section: l.ID})
		if err != nil {
			return nil, Counts{}, err
		}
		sum := SectionSummary{ID: l.ID, Name: l.Name, Kind: l.Kind,
			Counts: Counts{Capacity: a.Capacity, Free: a.Free, Held: a.Held, Sold: a.Sold, Blocked: a.Blocked},
			Prices: make([]SectionPrice, 0, len(a.Categories))}
		for _, ca := range a.Categories {
			sum.Prices = append(sum.Prices, SectionPrice{Category: ca.Code, Price: ca.Price, Free: ca.Free})
		}
		out = append(out, sum)
		total.Capacity += a.Capacity
		total.Free += a.Free
		total.Held += a.Held
		total.Sold += a.Sold
		total.Blocked += a.Blocked
	}
	return out, total, nil
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
	if err := s.visible(c, t.event); err != nil {
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
	cmd := req.command(t.id, buyerOf(c), key)
	size, err := cmd.Size()
	if err != nil {
		return err
	}
	subjects := []string{"user:" + buyerOf(c), "ip:" + c.IP()}
	if err := s.captcha(c, abuse.SignalHold, subjects...); err != nil {
		return err
	}
	release, err := s.holdSlots(c)
	if err != nil {
		return err
	}
	defer release()
	if err := s.seatAllowance(c, t.id.Event, size); err != nil {
		return err
	}
	h, err := s.cfg.Bookings.Hold(ctx, cmd)
	if err != nil {
		s.recordConflict(c, err, subjects...)
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
	if err := s.staffOnlyWithOrders(c, "pay for holds through an order: POST /api/v1/orders"); err != nil {
		return err
	}
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

// findBooking answers a booking of its owner, or (owner "") of an event the caller
// manages.
func (s *Server) findBooking(c *fiber.Ctx, owner string) error {
	ctx, cancel := reqCtx(c)
	defer cancel()
	t, err := s.resolveFor(ctx, c, owner)
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
	if err := s.staffOnlyWithOrders(c, "cancel a paid booking through its order: POST /api/v1/orders/{id}/cancel or /refund"); err != nil {
		return err
	}
	return s.cancel(c, buyerOf(c))
}

// staffOnlyWithOrders keeps the booking routes that bypass payment (a direct sale, a
// cancellation without refund) to the operator and admins once payments are configured:
// buyers go through orders.
func (s *Server) staffOnlyWithOrders(c *fiber.Ctx, msg string) error {
	if s.cfg.Orders == nil || s.cfg.DirectSales {
		return nil
	}
	if p := principalOf(c); p != nil && (p.Operator || p.is(ticketview.RoleAdmin)) {
		return nil
	}
	return ticketview.Errorf(ticketview.EFORBIDDEN, "%s", msg)
}

// cancel cancels a booking for its owner, or (owner "") for the event's organizer or an
// admin.
func (s *Server) cancel(c *fiber.Ctx, owner string) error {
	ctx, cancel := reqCtx(c)
	defer cancel()
	t, err := s.resolveFor(ctx, c, owner)
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

// ---- organizers ----

func (s *Server) block(c *fiber.Ctx) error   { return s.blockOrUnblock(c, true) }
func (s *Server) unblock(c *fiber.Ctx) error { return s.blockOrUnblock(c, false) }

// blockOrUnblock answers with the section's counts after the change.
func (s *Server) blockOrUnblock(c *fiber.Ctx, block bool) error {
	ctx, cancel := reqCtx(c)
	defer cancel()
	t, err := s.orgSection(ctx, c)
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

// resolveFor resolves the path's section for the booking's owner, or (owner "") for the
// event's organizer or an admin.
func (s *Server) resolveFor(ctx context.Context, c *fiber.Ctx, owner string) (target, error) {
	if owner == "" {
		return s.orgSection(ctx, c)
	}
	return s.resolve(ctx, c)
}
