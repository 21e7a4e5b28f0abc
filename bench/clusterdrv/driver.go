package clusterdrv

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/bench/load"
)

// Driver returns a load.Driver whose requests go through the cluster client
// (NewServiceDriver over it). Closing it does nothing: Cluster.Close ends the client with
// the cluster.
func (c *Cluster) Driver() load.Driver { return NewServiceDriver(c.client.Client, c.layout.Event) }

// NewServiceDriver returns a load.Driver over any BookingService selling event: the
// cluster client, or an engine in this process (actors.Engine). Its requests are the
// buyer API's operations, answered with the status codes the API would give (StatusOf).
// Closing it does nothing: the service belongs to the caller.
func NewServiceDriver(svc ticketview.BookingService, event string) load.Driver {
	return &driver{svc: svc, event: event}
}

// driver is load.Driver over a BookingService: the same operations as the HTTP API,
// answered with the status codes the API would give.
type driver struct {
	svc   ticketview.BookingService
	event string
}

var _ load.Driver = (*driver)(nil)

func (d *driver) id(section string) ticketview.SectionID {
	return ticketview.SectionID{Event: d.event, Section: section}
}

// Hold places a hold for the buyer: the request's seats by label, the best available, or a
// general-admission quantity. No idempotency key is given (the HTTP driver sends none
// either); the cluster client makes one up for its own retries.
func (d *driver) Hold(ctx context.Context, buyer, section string, req load.HoldRequest) (load.Hold, load.Status) {
	cmd := ticketview.HoldCommand{
		Section:       d.id(section),
		Owner:         buyer,
		Seats:         req.Seats,
		BestAvailable: req.BestAvailable,
		AllowSplit:    req.AllowSplit,
		Quantity:      req.Quantity,
		TTL:           time.Duration(req.TTLSeconds) * time.Second,
	}
	if len(cmd.Seats) > 0 {
		cmd.Quantity = 0
	}
	h, err := d.svc.Hold(ctx, cmd)
	if err != nil {
		return load.Hold{}, StatusOf(err)
	}
	out := load.Hold{Token: h.Token, Owner: h.Owner, Section: h.Section, Quantity: h.Quantity, ExpiresAt: h.ExpiresAt}
	out.Items = items(h.Items)
	return out, load.Status{Code: http.StatusCreated}
}

// Release releases the buyer's hold.
func (d *driver) Release(ctx context.Context, buyer, section, token string) load.Status {
	if err := d.svc.Release(ctx, d.id(section), token, buyer, ""); err != nil {
		return StatusOf(err)
	}
	return load.Status{Code: http.StatusNoContent}
}

// Confirm turns the buyer's hold into a booking, with a payment reference "bench-...".
func (d *driver) Confirm(ctx context.Context, buyer, section, token string) (load.Booking, load.Status) {
	b, err := d.svc.Confirm(ctx, d.id(section), token, buyer, "bench-"+randomHex(8), "")
	if err != nil {
		return load.Booking{}, StatusOf(err)
	}
	return load.Booking{ID: b.ID, HoldToken: b.HoldToken, Section: b.Section, Items: items(b.Items),
		Quantity: b.Quantity, Status: string(b.Status)}, load.Status{Code: http.StatusCreated}
}

// Section reads the section, with every seat's status, from the service (the section's
// actor or grain).
func (d *driver) Section(ctx context.Context, section string) (load.Availability, error) {
	a, err := d.svc.Availability(ctx, d.id(section), true)
	if err != nil {
		return load.Availability{}, err
	}
	out := load.Availability{Section: a.Section, Capacity: a.Capacity, Free: a.Free, Held: a.Held, Sold: a.Sold}
	if len(a.Seats) > 0 {
		out.Seats = make([]load.SeatView, len(a.Seats))
		for i, s := range a.Seats {
			out.Seats[i] = load.SeatView{Label: s.Label, Status: s.Status.String()}
		}
	}
	return out, nil
}

// Close does nothing (see NewServiceDriver).
func (d *driver) Close() error { return nil }

func items(in []ticketview.HoldItem) []load.HoldItem {
	out := make([]load.HoldItem, len(in))
	for i, it := range in {
		out[i] = load.HoldItem{Seat: it.Seat, Quantity: it.Quantity}
	}
	return out
}

// StatusOf is the HTTP status the API answers a domain error with (as api does), with
// the error: a clean loss (seat taken, sold out, conflict, hold expired, not on sale) is
// 409, not found 404, bad input 400, the buyer limit 422, unavailable 503 (the outcome
// may be unknown), anything else 500. A nil error is 200.
func StatusOf(err error) load.Status {
	if err == nil {
		return load.Status{Code: http.StatusOK}
	}
	code := http.StatusInternalServerError
	switch ticketview.ErrorCode(err) {
	case ticketview.ESEATTAKEN, ticketview.ESOLDOUT, ticketview.ECONFLICT, ticketview.EHOLDEXPIRED, ticketview.ENOTONSALE:
		code = http.StatusConflict
	case ticketview.ENOTFOUND:
		code = http.StatusNotFound
	case ticketview.EINVALID:
		code = http.StatusBadRequest
	case ticketview.EFORBIDDEN:
		code = http.StatusForbidden
	case ticketview.ELIMIT:
		code = http.StatusUnprocessableEntity
	case ticketview.EUNAVAILABLE:
		code = http.StatusServiceUnavailable
	}
	return load.Status{Code: code, Err: err}
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
