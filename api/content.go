package api

import (
	"context"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	ticketview "github.com/ticketview/ticketview"
)

// Content beyond selling: seat-map drawings, rich event details and the seat-status
// audit trail. Each route answers 404 when its store is not configured.

// HeaderAvailabilitySource tells where a section's availability came from: "cache" (the
// hot view kept from the engine's deltas, possibly a few milliseconds behind) or
// "engine" (the section's actor).
const HeaderAvailabilitySource = "X-Availability-Source"

// availability reads a section's availability from the cache when there is one and it
// has the section, else from the engine. A cache that fails is skipped, never an error.
func (s *Server) availability(ctx context.Context, c *fiber.Ctx, id ticketview.SectionID, withSeats bool) (ticketview.Availability, error) {
	if s.cfg.Views != nil {
		cctx, cancel := context.WithTimeout(ctx, CacheTimeout)
		a, err := s.cfg.Views.CachedAvailability(cctx, id, withSeats)
		cancel()
		if err == nil {
			if c != nil {
				c.Set(HeaderAvailabilitySource, "cache")
			}
			return a, nil
		}
		if s.cfg.CacheMiss != nil && ticketview.ErrorCode(err) == ticketview.ENOTFOUND {
			s.cfg.CacheMiss(id)
		}
	}
	if c != nil {
		c.Set(HeaderAvailabilitySource, "engine")
	}
	return s.cfg.Bookings.Availability(ctx, id, withSeats)
}

// CacheTimeout bounds one availability-cache read before the engine is asked instead.
const CacheTimeout = 250 * time.Millisecond

func notConfigured(what string) error {
	return ticketview.Errorf(ticketview.ENOTFOUND, "%s are not available on this server", what)
}

func (s *Server) getSeatMap(c *fiber.Ctx) error {
	if s.cfg.SeatMaps == nil {
		return notConfigured("seat maps")
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	id := c.Params("venue")
	if _, err := s.cfg.Venues.FindVenue(ctx, id); err != nil {
		if ticketview.ErrorCode(err) == ticketview.ENOTFOUND {
			return ticketview.Errorf(ticketview.ENOTFOUND, "no venue %q", id)
		}
		return err
	}
	m, err := s.cfg.SeatMaps.FindSeatMap(ctx, id)
	if err != nil {
		if ticketview.ErrorCode(err) == ticketview.ENOTFOUND {
			return ticketview.Errorf(ticketview.ENOTFOUND, "venue %q has no seat map", id)
		}
		return err
	}
	return c.JSON(m)
}

func (s *Server) putSeatMap(c *fiber.Ctx) error {
	if s.cfg.SeatMaps == nil {
		return notConfigured("seat maps")
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	id := c.Params("venue")
	v, err := s.cfg.Venues.FindVenue(ctx, id)
	if err != nil {
		if ticketview.ErrorCode(err) == ticketview.ENOTFOUND {
			return ticketview.Errorf(ticketview.ENOTFOUND, "no venue %q", id)
		}
		return err
	}
	var m ticketview.SeatMap
	if err := decodeJSON(c.Body(), &m, false); err != nil {
		return err
	}
	if m.VenueID == "" {
		m.VenueID = id
	}
	if m.VenueID != id {
		return invalid("venue_id %q does not match the path's venue %q", m.VenueID, id)
	}
	for _, sm := range m.Sections {
		if _, ok := v.Section(sm.SectionID); !ok {
			return invalid("venue %q has no section %q", id, sm.SectionID)
		}
	}
	if err := m.Validate(); err != nil {
		return err
	}
	if err := s.cfg.SeatMaps.PutSeatMap(ctx, &m); err != nil {
		return err
	}
	return c.JSON(m)
}

func (s *Server) getEventDetails(c *fiber.Ctx) error {
	if s.cfg.Details == nil {
		return notConfigured("event details")
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	e, err := s.publicEvent(ctx, c, c.Params("event"))
	if err != nil {
		return err
	}
	d, err := s.cfg.Details.FindEventDetails(ctx, e.ID)
	if err != nil {
		if ticketview.ErrorCode(err) == ticketview.ENOTFOUND {
			return ticketview.Errorf(ticketview.ENOTFOUND, "event %q has no details", e.ID)
		}
		return err
	}
	return c.JSON(d)
}

func (s *Server) putEventDetails(c *fiber.Ctx) error {
	if s.cfg.Details == nil {
		return notConfigured("event details")
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	e, err := s.managedEvent(ctx, c)
	if err != nil {
		return err
	}
	var d ticketview.EventDetails
	if err := decodeJSON(c.Body(), &d, false); err != nil {
		return err
	}
	if d.EventID == "" {
		d.EventID = e.ID
	}
	if d.EventID != e.ID {
		return invalid("event_id %q does not match the path's event %q", d.EventID, e.ID)
	}
	if err := d.Validate(); err != nil {
		return err
	}
	if err := s.cfg.Details.PutEventDetails(ctx, &d); err != nil {
		return err
	}
	return c.JSON(d)
}

// AuditTrail is the answer of the audit route.
type AuditTrail struct {
	Entries []AuditEntry `json:"entries"`
}

// AuditEntry is one seat-status change as the API shows it.
type AuditEntry struct {
	Section   string    `json:"section"`
	Seq       uint64    `json:"seq"`
	Type      string    `json:"type"` // hold_placed, hold_extended, hold_released, hold_expired, hold_confirmed, sale_cancelled, seats_blocked, seats_unblocked
	At        time.Time `json:"at"`
	Owner     string    `json:"owner,omitempty"`
	BookingID string    `json:"booking_id,omitempty"`
	Seats     []string  `json:"seats,omitempty"`
	Quantity  int32     `json:"quantity"`
	Reference string    `json:"reference,omitempty"`
}

func (s *Server) getAudit(c *fiber.Ctx) error {
	if s.cfg.Audit == nil {
		return notConfigured("audit trails")
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	e, err := s.managedEvent(ctx, c)
	if err != nil {
		return err
	}
	f := ticketview.AuditFilter{Event: e.ID, Section: c.Query("section"), Seat: c.Query("seat"), Owner: c.Query("owner")}
	for _, q := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := c.Query(q.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return invalid("%s must be an RFC 3339 time", q.name)
			}
			*q.dst = t
		}
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return invalid("limit must be a whole number from 1 to 1000")
		}
		f.Limit = n
	}
	entries, err := s.cfg.Audit.AuditTrail(ctx, f)
	if err != nil {
		return err
	}
	out := AuditTrail{Entries: make([]AuditEntry, len(entries))}
	for i, en := range entries {
		// The hold token is the buyer's secret: the trail names the hold by its owner.
		out.Entries[i] = AuditEntry{Section: en.Section.Section, Seq: en.Seq, Type: en.Type.String(), At: en.At,
			Owner: en.Owner, BookingID: en.BookingID, Seats: en.Seats, Quantity: en.Quantity, Reference: en.Reference}
	}
	return c.JSON(out)
}
