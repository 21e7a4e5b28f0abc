package api

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	ticketview "github.com/ticketview/ticketview"
)

// EventRequest is the body of POST /api/v1/organizer/events (create) and PATCH
// /api/v1/organizer/events/:event (the fields to change). Once the event has been
// published its terms — venue_id, currency, the set of category codes and buyer_limit
// — are fixed (409); its details, time and each category's name, price, floor and
// ceiling may still change: new holds take the new prices, earlier holds and sales keep
// theirs.
type EventRequest struct {
	ID          *string                     `json:"id,omitempty"` // create only; made from the name when absent
	Name        *string                     `json:"name,omitempty"`
	Description *string                     `json:"description,omitempty"`
	Genre       *string                     `json:"genre,omitempty"`
	Location    *string                     `json:"location,omitempty"`
	VenueID     *string                     `json:"venue_id,omitempty"`
	StartsAt    *time.Time                  `json:"starts_at,omitempty"`
	Currency    *string                     `json:"currency,omitempty"`
	Categories  *[]ticketview.PriceCategory `json:"categories,omitempty"`
	BuyerLimit  *int                        `json:"buyer_limit,omitempty"`
	SalesStart  *time.Time                  `json:"sales_start,omitempty"`
	SalesEnd    *time.Time                  `json:"sales_end,omitempty"`
}

// apply copies the request's fields into e.
func (r *EventRequest) apply(e *ticketview.Event) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = strings.TrimSpace(*src)
		}
	}
	set(&e.Name, r.Name)
	set(&e.Description, r.Description)
	set(&e.Genre, r.Genre)
	set(&e.Location, r.Location)
	set(&e.VenueID, r.VenueID)
	if r.Currency != nil {
		e.Currency = strings.ToUpper(strings.TrimSpace(*r.Currency))
	}
	if r.StartsAt != nil {
		e.StartsAt = *r.StartsAt
	}
	if r.Categories != nil {
		e.Categories = append([]ticketview.PriceCategory(nil), (*r.Categories)...)
	}
	if r.BuyerLimit != nil {
		e.BuyerLimit = *r.BuyerLimit
	}
	if r.SalesStart != nil {
		e.SalesStart = *r.SalesStart
	}
	if r.SalesEnd != nil {
		e.SalesEnd = *r.SalesEnd
	}
	if e.Genre != "" {
		e.Genre = strings.ToLower(e.Genre)
	}
}

// managedEvent finds the path's event and checks the caller manages it.
func (s *Server) managedEvent(ctx context.Context, c *fiber.Ctx) (*ticketview.Event, error) {
	e, err := s.findEvent(ctx, c.Params("event"))
	if err != nil {
		return nil, err
	}
	if err := ownEvent(principalOf(c), e); err != nil {
		return nil, err
	}
	return e, nil
}

// newEventID makes an id from the event's name: "summer-gala-k3j9xq".
func newEventID(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 40 {
			break
		}
	}
	slug := strings.Trim(b.String(), "-")
	if slug == "" {
		slug = "event"
	}
	var rnd [5]byte
	_, _ = rand.Read(rnd[:])
	return slug + "-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(rnd[:]))
}

func (s *Server) orgListEvents(c *fiber.Ctx) error {
	p := principalOf(c)
	f := ticketview.EventFilter{Organizer: p.ID}
	if p.is(ticketview.RoleAdmin) {
		f.Organizer = c.Query("organizer")
	} else if o := c.Query("organizer"); o != "" && o != p.ID {
		return ticketview.Errorf(ticketview.EFORBIDDEN, "organizers see only their own events")
	}
	if st := c.Query("status"); st != "" {
		f.Status = ticketview.EventStatus(st)
		if f.Status != ticketview.EventDraft && f.Status != ticketview.EventOnSale && f.Status != ticketview.EventCancelled {
			return invalid("status must be draft, on_sale or cancelled")
		}
	}
	var err error
	if f.Offset, f.Limit, err = pageOf(c); err != nil {
		return err
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

func (s *Server) orgCreateEvent(c *fiber.Ctx) error {
	var r EventRequest
	if err := decodeJSON(c.Body(), &r, false); err != nil {
		return err
	}
	e := &ticketview.Event{Status: ticketview.EventDraft, CreatedAt: s.now(), OrganizerID: principalOf(c).ID}
	if principalOf(c).Operator {
		e.OrganizerID = ""
	}
	r.apply(e)
	if r.ID != nil {
		e.ID = strings.TrimSpace(*r.ID)
	} else {
		e.ID = newEventID(e.Name)
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	if err := s.checkTerms(ctx, e); err != nil {
		return err
	}
	if err := e.Validate(); err != nil {
		return err
	}
	s.forgetEvent(e.ID)
	if err := s.cfg.Events.CreateEvent(ctx, e); err != nil {
		return err
	}
	c.Location("/api/v1/organizer/events/" + e.ID)
	return c.Status(http.StatusCreated).JSON(s.view(e))
}

// checkTerms checks the venue exists, copies its city, and checks every category a
// section sells is priced.
func (s *Server) checkTerms(ctx context.Context, e *ticketview.Event) error {
	if e.VenueID == "" {
		return invalid("event needs a venue_id")
	}
	v, err := s.cfg.Venues.FindVenue(ctx, e.VenueID)
	if ticketview.ErrorCode(err) == ticketview.ENOTFOUND {
		return invalid("no venue %q", e.VenueID)
	} else if err != nil {
		return err
	}
	e.City = v.City
	priced := map[string]bool{}
	for _, pc := range e.Categories {
		priced[pc.Code] = true
	}
	for _, l := range v.Sections {
		if l.Kind == ticketview.GeneralAdmission {
			if !priced[l.Category] {
				return invalid("section %q sells category %q, which the event does not price", l.ID, l.Category)
			}
			continue
		}
		for _, row := range l.Rows {
			for _, seat := range row.Seats {
				if !priced[seat.Category] {
					return invalid("seat %s of section %q is in category %q, which the event does not price", seat.Label, l.ID, seat.Category)
				}
			}
		}
	}
	return nil
}

func (s *Server) orgGetEvent(c *fiber.Ctx) error {
	ctx, cancel := reqCtx(c)
	defer cancel()
	e, err := s.managedEvent(ctx, c)
	if err != nil {
		return err
	}
	return c.JSON(s.view(e))
}

func (s *Server) orgPatchEvent(c *fiber.Ctx) error {
	var r EventRequest
	if err := decodeJSON(c.Body(), &r, false); err != nil {
		return err
	}
	if r.ID != nil {
		return invalid("an event's id cannot change")
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	if _, err := s.managedEvent(ctx, c); err != nil {
		return err
	}
	defer s.forgetEvent(c.Params("event"))
	e, err := s.cfg.Events.UpdateEvent(ctx, c.Params("event"), func(e *ticketview.Event) error {
		if e.StatusAt(s.now()) == ticketview.EventCancelled || e.StatusAt(s.now()) == ticketview.EventPast {
			return ticketview.Errorf(ticketview.ECONFLICT, "event %q is %s and cannot change", e.ID, e.StatusAt(s.now()))
		}
		before := *e
		r.apply(e)
		if err := before.CheckEdit(e); err != nil {
			return err
		}
		if r.VenueID != nil || r.Categories != nil {
			if err := s.checkTerms(ctx, e); err != nil {
				return err
			}
		}
		return e.Validate()
	})
	if err != nil {
		return err
	}
	return c.JSON(s.view(e))
}

func (s *Server) orgPublish(c *fiber.Ctx) error {
	return s.orgTransition(c, func(e *ticketview.Event) error { return e.Publish(s.now()) })
}

func (s *Server) orgUnpublish(c *fiber.Ctx) error {
	return s.orgTransition(c, func(e *ticketview.Event) error { return e.Unpublish(s.now()) })
}

func (s *Server) orgCancel(c *fiber.Ctx) error {
	return s.orgTransition(c, func(e *ticketview.Event) error { return e.Cancel(s.now()) })
}

func (s *Server) orgTransition(c *fiber.Ctx, fn func(*ticketview.Event) error) error {
	var body struct{}
	if err := decodeJSON(c.Body(), &body, true); err != nil {
		return err
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	if _, err := s.managedEvent(ctx, c); err != nil {
		return err
	}
	defer s.forgetEvent(c.Params("event"))
	e, err := s.cfg.Events.UpdateEvent(ctx, c.Params("event"), fn)
	if err != nil {
		return err
	}
	return c.JSON(s.view(e))
}

// SalesReport is an event's sales and the current counts of its sections.
type SalesReport struct {
	Event    ticketview.Event      `json:"event"`
	Currency string                `json:"currency"`
	Sales    ticketview.EventSales `json:"sales"`
	Seats    Counts                `json:"seats"`
	Sections []SectionSummary      `json:"sections"`
}

func (s *Server) bookingIndex() (ticketview.BookingIndex, error) {
	if s.cfg.BookingIndex == nil {
		return nil, ticketview.Errorf(ticketview.EUNAVAILABLE, "booking lists are not available on this server")
	}
	return s.cfg.BookingIndex, nil
}

func (s *Server) orgSales(c *fiber.Ctx) error {
	idx, err := s.bookingIndex()
	if err != nil {
		return err
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	e, err := s.managedEvent(ctx, c)
	if err != nil {
		return err
	}
	sales, err := idx.SalesByEvent(ctx, []string{e.ID})
	if err != nil {
		return err
	}
	out := SalesReport{Event: s.view(e), Currency: e.Currency, Sales: ticketview.EventSales{Event: e.ID}}
	if len(sales) == 1 {
		out.Sales = sales[0]
	}
	v, err := s.venue(ctx, e.VenueID)
	if err != nil {
		return err
	}
	// The organizer's counts come from the engine, not the availability cache.
	out.Sections, out.Seats, err = summarize(ctx, e, v, func(ctx context.Context, id ticketview.SectionID) (ticketview.Availability, error) {
		return s.cfg.Bookings.Availability(ctx, id, false)
	})
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// BookingList is a page of bookings (without their seats: ask for one booking).
type BookingList struct {
	Bookings []ticketview.Booking `json:"bookings"`
	Total    int                  `json:"total"`
	Offset   int                  `json:"offset"`
	Limit    int                  `json:"limit"`
}

func (s *Server) listBookings(c *fiber.Ctx, f ticketview.BookingFilter) error {
	idx, err := s.bookingIndex()
	if err != nil {
		return err
	}
	if f.Offset, f.Limit, err = pageOf(c); err != nil {
		return err
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	bs, total, err := idx.ListBookings(ctx, f)
	if err != nil {
		return err
	}
	if bs == nil {
		bs = []ticketview.Booking{}
	}
	return c.JSON(BookingList{Bookings: bs, Total: total, Offset: f.Offset, Limit: f.Limit})
}

func (s *Server) myBookings(c *fiber.Ctx) error {
	ev := c.Query("event")
	if len(ev) > 64 {
		return invalid("event is too long")
	}
	return s.listBookings(c, ticketview.BookingFilter{Owner: buyerOf(c), Event: ev})
}

func (s *Server) orgBookings(c *fiber.Ctx) error {
	ctx, cancel := reqCtx(c)
	defer cancel()
	e, err := s.managedEvent(ctx, c)
	if err != nil {
		return err
	}
	return s.listBookings(c, ticketview.BookingFilter{Event: e.ID})
}

// orgSection resolves the path's section of an event the caller manages.
func (s *Server) orgSection(ctx context.Context, c *fiber.Ctx) (target, error) {
	t, err := s.resolve(ctx, c)
	if err != nil {
		return target{}, err
	}
	if err := ownEvent(principalOf(c), t.event); err != nil {
		return target{}, err
	}
	return t, nil
}

func (s *Server) orgGetBooking(c *fiber.Ctx) error    { return s.findBooking(c, "") }
func (s *Server) orgCancelBooking(c *fiber.Ctx) error { return s.cancel(c, "") }

// ---- venues ----

// VenueList is a page of venues.
type VenueList struct {
	Venues []*ticketview.Venue `json:"venues"`
	Total  int                 `json:"total"`
	Offset int                 `json:"offset"`
	Limit  int                 `json:"limit"`
}

func (s *Server) listVenues(c *fiber.Ctx) error {
	off, lim, err := pageOf(c)
	if err != nil {
		return err
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	vs, total, err := s.cfg.Venues.ListVenues(ctx, off, lim)
	if err != nil {
		return err
	}
	if vs == nil {
		vs = []*ticketview.Venue{}
	}
	return c.JSON(VenueList{Venues: vs, Total: total, Offset: off, Limit: lim})
}

func (s *Server) getVenue(c *fiber.Ctx) error {
	ctx, cancel := reqCtx(c)
	defer cancel()
	v, err := s.cfg.Venues.FindVenue(ctx, c.Params("venue"))
	if ticketview.ErrorCode(err) == ticketview.ENOTFOUND {
		return ticketview.Errorf(ticketview.ENOTFOUND, "no venue %q", c.Params("venue"))
	} else if err != nil {
		return err
	}
	return c.JSON(v)
}

// VenueRequest is the body of POST /api/v1/venues: a venue whose seated sections list
// their rows, or describe a rectangular block with "grid" (a stadium's 50,000 seats do not
// fit in a request body as a list).
type VenueRequest struct {
	ID       string           `json:"id"`
	Name     string           `json:"name"`
	City     string           `json:"city"`
	Address  string           `json:"address"`
	Sections []SectionRequest `json:"sections"`
}

// SectionRequest is a section of a VenueRequest.
type SectionRequest struct {
	ticketview.SectionLayout
	Grid *GridRequest `json:"grid,omitempty"`
}

// GridRequest describes a seated section as Rows rows of PerRow seats, labelled,
// ... (rows nearest the stage first), every seat of the category.
type GridRequest struct {
	Rows     int    `json:"rows"`
	PerRow   int    `json:"per_row"`
	Category string `json:"category"`
}

// maxGridSeats bounds one section made from a grid.
const maxGridSeats = 200_000

// venue expands the request's grids.
func (r *VenueRequest) venue() (*ticketview.Venue, error) {
	v := &ticketview.Venue{ID: r.ID, Name: r.Name, City: r.City, Address: r.Address}
	for _, sr := range r.Sections {
		sec := sr.SectionLayout
		if g := sr.Grid; g != nil {
			switch {
			case len(sec.Rows) > 0:
				return nil, invalid("section %q: give rows or a grid, not both", sec.ID)
			case g.Rows < 1 || g.PerRow < 1:
				return nil, invalid("section %q: a grid needs rows and per_row of at least 1", sec.ID)
			case g.Rows*g.PerRow > maxGridSeats || g.Rows > maxGridSeats || g.PerRow > maxGridSeats:
				return nil, invalid("section %q: a grid may have at most %d seats", sec.ID, maxGridSeats)
			case strings.TrimSpace(g.Category) == "":
				return nil, invalid("section %q: a grid needs a category", sec.ID)
			}
			cat := strings.TrimSpace(g.Category)
			sec.Rows = ticketview.GridRows(g.Rows, g.PerRow, func(int) string { return cat })
		}
		v.Sections = append(v.Sections, sec)
	}
	return v, nil
}

func (s *Server) createVenue(c *fiber.Ctx) error {
	var req VenueRequest
	if err := decodeJSON(c.Body(), &req, false); err != nil {
		return err
	}
	v, err := req.venue()
	if err != nil {
		return err
	}
	if err := v.Validate(); err != nil {
		return err
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	if err := s.cfg.Venues.CreateVenue(ctx, v); err != nil {
		return err
	}
	c.Location("/api/v1/venues/" + v.ID)
	return c.Status(http.StatusCreated).JSON(v)
}
