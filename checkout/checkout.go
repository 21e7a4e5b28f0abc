// Package checkout turns holds into paid orders: it creates the order and the provider's
// payment, takes the provider's answers (direct, browser callback, webhook) once each,
// confirms the seats and issues signed tickets, and handles what goes wrong — failed
// payments (retry while the holds live), duplicate notifications (nothing changes),
// payments that arrive after the holds expired (re-hold the same seats if still free,
// else refund automatically) and refunds (full or per section, seats released).
package checkout

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
)

// Defaults.
const (
	DefaultPaymentWindow = 10 * time.Minute
	DefaultGrace         = 2 * time.Minute
	DefaultSweep         = 5 * time.Second
	minWindow            = 30 * time.Second
)

// Config configures the service.
type Config struct {
	Bookings ticketview.BookingService
	Orders   ticketview.OrderStore
	Provider ticketview.PaymentProvider
	// Users gives the buyer's contact and demographics (optional).
	Users ticketview.UserStore
	// TicketKey signs the tickets' QR payloads.
	TicketKey ed25519.PrivateKey
	// PaymentWindow is how long the buyer has to pay; the holds are extended to it plus
	// Grace, so that a payment finishing just after the window still finds them.
	PaymentWindow time.Duration
	Grace         time.Duration
	// Sweep is how often Run looks for orders whose window passed.
	Sweep time.Duration
	// Changed is told after an order changed (e.g. the outbox relay's Wake).
	Changed func()
	Now     func() time.Time
	Log     *zap.Logger
}

// Service is the checkout service.
type Service struct {
	cfg   Config
	payer ticketview.DirectPayer
}

// New returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.Bookings == nil || cfg.Orders == nil || cfg.Provider == nil {
		return nil, errors.New("checkout: Bookings, Orders and Provider are required")
	}
	if len(cfg.TicketKey) != ed25519.PrivateKeySize {
		return nil, errors.New("checkout: an Ed25519 TicketKey is required")
	}
	if cfg.PaymentWindow <= 0 {
		cfg.PaymentWindow = DefaultPaymentWindow
	}
	if cfg.PaymentWindow+cfg.Grace > ticketview.MaxHoldTTL {
		return nil, fmt.Errorf("checkout: payment window plus grace over %s", ticketview.MaxHoldTTL)
	}
	if cfg.Grace < 0 {
		cfg.Grace = 0
	}
	if cfg.Sweep <= 0 {
		cfg.Sweep = DefaultSweep
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Changed == nil {
		cfg.Changed = func() {}
	}
	s := &Service{cfg: cfg}
	s.payer, _ = cfg.Provider.(ticketview.DirectPayer)
	return s, nil
}

// Provider is the payment provider's name.
func (s *Service) Provider() string { return s.cfg.Provider.Name() }

// TicketPublicKey is the key gates check tickets with.
func (s *Service) TicketPublicKey() ed25519.PublicKey {
	return s.cfg.TicketKey.Public().(ed25519.PublicKey)
}

// HoldRef names one of the buyer's holds.
type HoldRef struct {
	Section string `json:"section"`
	Token   string `json:"token"`
}

// Checkout turns the buyer's holds of one event into an order pending payment: the holds
// are extended to the payment window and the provider's order is created. With the same
// idemKey the first order is answered (created false).
func (s *Service) Checkout(ctx context.Context, buyer, event string, holds []HoldRef, idemKey string) (*ticketview.Order, bool, error) {
	if buyer == "" {
		return nil, false, ticketview.Errorf(ticketview.EUNAUTHORIZED, "checkout needs a buyer")
	}
	if len(holds) == 0 || len(holds) > ticketview.MaxOrderItems {
		return nil, false, ticketview.Errorf(ticketview.EINVALID, "an order takes 1 to %d holds", ticketview.MaxOrderItems)
	}
	now := s.cfg.Now()
	want := now.Add(s.cfg.PaymentWindow + s.cfg.Grace)
	got := make([]ticketview.Hold, 0, len(holds))
	for i, r := range holds {
		if r.Section == "" || r.Token == "" {
			return nil, false, ticketview.Errorf(ticketview.EINVALID, "holds[%d]: section and token are required", i)
		}
		id := ticketview.SectionID{Event: event, Section: r.Section}
		h, err := s.cfg.Bookings.FindHold(ctx, id, r.Token, buyer)
		if err != nil {
			return nil, false, err
		}
		if d := want.Sub(h.ExpiresAt).Round(time.Second); d >= time.Second {
			key := ""
			if idemKey != "" {
				key = "checkout:" + idemKey + ":" + r.Section
			}
			if d > ticketview.MaxHoldTTL {
				d = ticketview.MaxHoldTTL
			}
			ext, err := s.cfg.Bookings.Extend(ctx, id, r.Token, buyer, key, d)
			switch {
			case err == nil:
				h = ext
			case ticketview.ErrorCode(err) == ticketview.ELIMIT:
				// at its lifetime's end: the order's window is what it has left
			default:
				return nil, false, err
			}
		}
		got = append(got, h)
	}
	payBy := got[0].ExpiresAt
	for _, h := range got[1:] {
		if h.ExpiresAt.Before(payBy) {
			payBy = h.ExpiresAt
		}
	}
	payBy = payBy.Add(-s.cfg.Grace)
	if payBy.Sub(now) < minWindow {
		return nil, false, ticketview.Errorf(ticketview.EHOLDEXPIRED, "a hold ends too soon to pay for it: hold the seats again")
	}
	o, err := ticketview.NewOrder("ord_"+uuid.NewString(), buyer, got, payBy, now)
	if err != nil {
		return nil, false, err
	}
	o.IdemKey = idemKey
	o.Contact = s.contact(ctx, buyer, now)
	po, err := s.cfg.Provider.CreateOrder(ctx, o.ID, o.Total, map[string]string{"order": o.ID, "event": event, "buyer": buyer})
	if err != nil {
		return nil, false, err
	}
	o.Provider, o.ProviderOrderID, o.Checkout = s.cfg.Provider.Name(), po.ID, po.Checkout
	stored, created, err := s.cfg.Orders.CreateOrder(ctx, o)
	if err != nil {
		return nil, false, err
	}
	if stored.Buyer != buyer {
		return nil, false, ticketview.Errorf(ticketview.ECONFLICT, "idempotency key already used")
	}
	if created {
		s.cfg.Changed()
		s.cfg.Log.Info("order created", zap.String("order", o.ID), zap.String("event", event),
			zap.Int("seats", o.Seats()), zap.Int64("total", o.Total.Amount))
	}
	return stored, created, nil
}

// contact reads the buyer's contact and demographics from the profile.
func (s *Service) contact(ctx context.Context, buyer string, now time.Time) ticketview.Contact {
	if s.cfg.Users == nil {
		return ticketview.Contact{}
	}
	u, err := s.cfg.Users.FindUser(ctx, buyer)
	if err != nil {
		return ticketview.Contact{} // an operator's buyer id, or the store is down: no contact
	}
	return contactOf(u, now)
}

// Order answers one of the buyer's orders (buyer "": staff, any order).
func (s *Service) Order(ctx context.Context, buyer, id string) (*ticketview.Order, error) {
	o, err := s.cfg.Orders.FindOrder(ctx, id)
	if err != nil {
		return nil, err
	}
	if buyer != "" && o.Buyer != buyer {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "order %q not found", id)
	}
	return o, nil
}

// Orders lists orders.
func (s *Service) Orders(ctx context.Context, f ticketview.OrderFilter) ([]*ticketview.Order, int, error) {
	return s.cfg.Orders.ListOrders(ctx, f)
}

// Pay pays the buyer's order with a test instrument of a provider that takes payments
// directly (the sandbox). A declined payment answers the order with EPAYMENT; the order
// stays payable while its window lasts.
func (s *Service) Pay(ctx context.Context, buyer, id, instrument string) (*ticketview.Order, error) {
	if s.payer == nil {
		return nil, ticketview.Errorf(ticketview.EINVALID, "payments go through %s's checkout, not this route", s.cfg.Provider.Name())
	}
	o, err := s.Order(ctx, buyer, id)
	if err != nil {
		return nil, err
	}
	if err := o.Payable(s.cfg.Now()); err != nil {
		return o, err
	}
	ev, err := s.payer.Pay(ctx, o.ProviderOrderID, instrument)
	if err != nil {
		return o, err
	}
	return s.report(ctx, o.ID, ev)
}

// Callback takes what the buyer's browser reports after the provider's widget took the
// payment (verified with the provider).
func (s *Service) Callback(ctx context.Context, buyer, id string, cb ticketview.PaymentCallback) (*ticketview.Order, error) {
	o, err := s.Order(ctx, buyer, id)
	if err != nil {
		return nil, err
	}
	if cb.ProviderOrderID == "" {
		cb.ProviderOrderID = o.ProviderOrderID
	}
	if cb.ProviderOrderID != o.ProviderOrderID {
		return nil, ticketview.Errorf(ticketview.EINVALID, "the payment is for another order")
	}
	ev, err := s.cfg.Provider.VerifyCallback(ctx, cb)
	if err != nil {
		return nil, err
	}
	return s.report(ctx, o.ID, ev)
}

// report applies a payment event of the order and answers the order; a declined payment
// is EPAYMENT.
func (s *Service) report(ctx context.Context, id string, ev ticketview.PaymentEvent) (*ticketview.Order, error) {
	if err := s.apply(ctx, id, ev); err != nil {
		return nil, err
	}
	o, err := s.cfg.Orders.FindOrder(ctx, id)
	if err != nil {
		return nil, err
	}
	if ev.Kind == ticketview.PaymentFailedKind {
		reason := ev.Reason
		if reason == "" {
			reason = "the payment was declined"
		}
		return o, ticketview.Errorf(ticketview.EPAYMENT, "%s; pay again before %s", reason, o.PayBy.UTC().Format(time.RFC3339))
	}
	return o, nil
}

// Webhook takes a provider's webhook. A webhook of no interest, or about an order that is
// not ours, is acknowledged (nil) so that the provider stops sending it.
func (s *Service) Webhook(ctx context.Context, body []byte, header func(string) string) error {
	ev, err := s.cfg.Provider.ParseWebhook(ctx, body, header)
	if err != nil {
		return err
	}
	if ev.Kind == "" {
		return nil
	}
	o, err := s.cfg.Orders.FindOrderByProviderRef(ctx, s.cfg.Provider.Name(), ev.ProviderOrderID)
	if ticketview.ErrorCode(err) == ticketview.ENOTFOUND && ev.Receipt != "" {
		o, err = s.cfg.Orders.FindOrder(ctx, ev.Receipt)
	}
	if ticketview.ErrorCode(err) == ticketview.ENOTFOUND {
		s.cfg.Log.Warn("webhook about an unknown order", zap.String("provider_order", ev.ProviderOrderID), zap.String("kind", string(ev.Kind)))
		return nil
	}
	if err != nil {
		return err
	}
	return s.apply(ctx, o.ID, ev)
}

// apply records a payment event and does what follows from it. It is idempotent: a
// repeated event changes nothing.
func (s *Service) apply(ctx context.Context, id string, ev ticketview.PaymentEvent) error {
	now := s.cfg.Now()
	p := ticketview.Payment{ID: ev.PaymentID, Provider: s.cfg.Provider.Name(), Instrument: ev.Method, Amount: ev.Amount, Reason: ev.Reason, At: now}
	if p.ID == "" && ev.Kind != ticketview.RefundProcessedKind {
		return ticketview.Errorf(ticketview.EINVALID, "payment event without a payment id")
	}
	if cur, err := s.cfg.Orders.FindOrder(ctx, id); err != nil {
		return err
	} else if q, ok := cur.Payment(p.ID); ok && (q.Status == ticketview.PaymentSucceeded || q.Status == ticketview.PaymentFailed ||
		ev.Kind == ticketview.PaymentPendingKind) {
		// Heard of before (a duplicate webhook or callback): nothing changes, unless a
		// succeeded payment's order is still to be settled (a transient failure before).
		if q.Status == ticketview.PaymentSucceeded && !cur.Status.Final() {
			return s.settle(ctx, cur)
		}
		return nil
	}
	switch ev.Kind {
	case ticketview.PaymentPendingKind:
		_, err := s.update(ctx, id, func(o *ticketview.Order) error { o.PaymentStarted(p, now); return nil })
		return err
	case ticketview.PaymentFailedKind:
		_, err := s.update(ctx, id, func(o *ticketview.Order) error { o.PaymentFailed(p, now); return nil })
		return err
	case ticketview.RefundProcessedKind:
		return nil // refunds are recorded when we ask for them
	case ticketview.PaymentSucceededKind:
	default:
		return nil
	}
	var refund ticketview.Refund
	o, err := s.update(ctx, id, func(o *ticketview.Order) error {
		refund = ticketview.Refund{}
		if p.Amount.Amount != o.Total.Amount || (p.Amount.Currency != "" && p.Amount.Currency != o.Total.Currency) {
			// Never keep money that does not match the order: refund it, the order stays
			// as it is.
			if o.PaymentFailed(ticketview.Payment{ID: p.ID, Provider: p.Provider, Instrument: p.Instrument, Amount: p.Amount,
				Reason: fmt.Sprintf("paid %s for an order of %s: refunded", p.Amount, o.Total), At: now}, now) {
				refund = ticketview.Refund{ID: refundID(o.ID, p.ID), PaymentID: p.ID, Amount: p.Amount, Reason: ticketview.RefundMismatch}
			}
			return nil
		}
		if paid, ok := o.Paid(); ok && paid.ID != p.ID {
			// A second successful payment: refund it, money only.
			if _, seen := o.Payment(p.ID); !seen {
				o.PaymentSucceeded(p, now)
				refund = ticketview.Refund{ID: refundID(o.ID, p.ID), PaymentID: p.ID, Amount: p.Amount, Reason: ticketview.RefundDuplicate}
			}
			return nil
		}
		o.PaymentSucceeded(p, now)
		return nil
	})
	if err != nil {
		return err
	}
	if refund.ID != "" {
		return s.refund(ctx, o.ID, refund, "")
	}
	return s.settle(ctx, o)
}

// update runs fn on the stored order and tells Changed.
func (s *Service) update(ctx context.Context, id string, fn func(*ticketview.Order) error) (*ticketview.Order, error) {
	o, err := s.cfg.Orders.UpdateOrder(ctx, id, fn)
	if err == nil {
		s.cfg.Changed()
	}
	return o, err
}

// settle finishes a paid order: each item's hold is confirmed (or, if it expired, the same
// seats are held again and confirmed), then the order is confirmed with its tickets. When
// any item's seats are gone, the items confirmed are cancelled and the payment refunded.
func (s *Service) settle(ctx context.Context, o *ticketview.Order) error {
	pay, ok := o.Paid()
	if !ok || o.Status.Final() {
		return nil
	}
	bookings := map[string]string{}
	var gone []string
	for _, it := range o.Items {
		b, err := s.book(ctx, o, it, pay.ID)
		switch {
		case err == nil:
			bookings[it.Section] = b.ID
		case lost(err):
			s.cfg.Log.Warn("seats of a paid order are gone", zap.String("order", o.ID), zap.String("section", it.Section), zap.Error(err))
			gone = append(gone, it.Section)
		default:
			return err // transient: the provider's retry or the sweeper settles it later
		}
	}
	if len(gone) > 0 {
		for section, booking := range bookings {
			id := ticketview.SectionID{Event: o.Event, Section: section}
			if _, err := s.cfg.Bookings.Cancel(ctx, id, booking, o.Buyer, "order:"+o.ID+":undo:"+section); err != nil && ticketview.ErrorCode(err) != ticketview.ECONFLICT {
				return err
			}
		}
		r := ticketview.Refund{ID: refundID(o.ID, pay.ID), PaymentID: pay.ID, Amount: pay.Amount, Reason: ticketview.RefundSeatsGone}
		return s.refund(ctx, o.ID, r, "Your payment arrived after your hold expired and the seats were taken by then: we refunded it in full.")
	}
	tickets := s.tickets(o, bookings)
	_, err := s.update(ctx, o.ID, func(o *ticketview.Order) error {
		return o.Confirm(bookings, tickets, s.cfg.Now())
	})
	if err == nil {
		s.cfg.Log.Info("order confirmed", zap.String("order", o.ID), zap.Int("tickets", len(tickets)))
	}
	return err
}

// lost reports whether err means a hold's seats cannot be had any more.
func lost(err error) bool {
	switch ticketview.ErrorCode(err) {
	case ticketview.ESEATTAKEN, ticketview.ESOLDOUT, ticketview.EHOLDEXPIRED, ticketview.ENOTFOUND,
		ticketview.ECONFLICT, ticketview.ENOTONSALE, ticketview.ELIMIT:
		return true
	}
	return false
}

// book confirms an item's hold, or holds its seats again and confirms that hold when the
// first expired.
func (s *Service) book(ctx context.Context, o *ticketview.Order, it ticketview.OrderItem, payment string) (ticketview.Booking, error) {
	id := ticketview.SectionID{Event: o.Event, Section: it.Section}
	key := "order:" + o.ID + ":" + it.Section
	b, err := s.cfg.Bookings.Confirm(ctx, id, it.HoldToken, o.Buyer, payment, key)
	if err == nil || !lost(err) {
		return b, err
	}
	// The hold is gone. A retry may find the seats re-held and sold already: the key of
	// that sale answers it again.
	if b, err := s.cfg.Bookings.Confirm(ctx, id, it.HoldToken, o.Buyer, payment, key+":rebook"); err == nil || !lost(err) {
		return b, err
	}
	cmd := ticketview.HoldCommand{Section: id, Owner: o.Buyer, IdemKey: key + ":rehold", TTL: 5 * time.Minute}
	for _, x := range it.Items {
		if x.Seat != "" {
			cmd.Seats = append(cmd.Seats, x.Seat)
		} else {
			cmd.Quantity += x.Quantity
			cmd.Category = x.Category
		}
	}
	h, err := s.cfg.Bookings.Hold(ctx, cmd)
	if err != nil {
		return b, err
	}
	s.cfg.Log.Info("late payment: the seats were still free and are held again", zap.String("order", o.ID), zap.String("section", it.Section))
	return s.cfg.Bookings.Confirm(ctx, id, h.Token, o.Buyer, payment, key+":rebook")
}

// tickets issues one signed ticket per seat (or GA place) of the order.
func (s *Service) tickets(o *ticketview.Order, bookings map[string]string) []ticketview.Ticket {
	var out []ticketview.Ticket
	for _, it := range o.Items {
		for _, x := range it.Items {
			n := x.Quantity
			if x.Seat != "" || n < 1 {
				n = 1
			}
			for range n {
				t := ticketview.Ticket{ID: "tkt_" + uuid.NewString(), BookingID: bookings[it.Section], Section: it.Section, Seat: x.Seat,
					Category: x.Category, Price: ticketview.Money{Amount: x.UnitPrice, Currency: o.Total.Currency}}
				t.QR = ticketview.SignTicket(s.cfg.TicketKey, ticketview.TicketClaims{Ticket: t.ID, Order: o.ID, Event: o.Event,
					Section: it.Section, Seat: x.Seat, Cat: x.Category})
				out = append(out, t)
			}
		}
	}
	return out
}

// Refund refunds a paid order's items in sections (all when empty): their bookings are
// cancelled (the seats free again) and their amount goes back through the provider.
// buyer "" acts for staff (organizers, admins).
func (s *Service) Refund(ctx context.Context, buyer, id string, sections []string, idemKey string) (*ticketview.Order, error) {
	o, err := s.Order(ctx, buyer, id)
	if err != nil {
		return nil, err
	}
	if idemKey != "" {
		for _, r := range o.Refunds {
			if r.ID == refundID(o.ID, "key", idemKey) {
				return o, nil // replayed
			}
		}
	}
	amount, picked, err := o.Refundable(sections)
	if err != nil {
		return o, err
	}
	pay, _ := o.Paid()
	for _, section := range picked {
		i := slices.IndexFunc(o.Items, func(it ticketview.OrderItem) bool { return it.Section == section })
		it := o.Items[i]
		sid := ticketview.SectionID{Event: o.Event, Section: section}
		if _, err := s.cfg.Bookings.Cancel(ctx, sid, it.BookingID, o.Buyer, "order:"+o.ID+":refund:"+section); err != nil && ticketview.ErrorCode(err) != ticketview.ECONFLICT {
			return o, err
		}
	}
	rid := idemKey
	if rid == "" {
		rid = strings.Join(picked, "+") // a retry asks the provider with the same key
	}
	r := ticketview.Refund{ID: refundID(o.ID, "key", rid), PaymentID: pay.ID, Amount: amount, Sections: picked, Reason: ticketview.RefundRequested}
	if err := s.refund(ctx, o.ID, r, ""); err != nil {
		return o, err
	}
	return s.cfg.Orders.FindOrder(ctx, o.ID)
}

// refund asks the provider for a refund and records it (with a note for the buyer).
func (s *Service) refund(ctx context.Context, id string, r ticketview.Refund, note string) error {
	pr, err := s.cfg.Provider.Refund(ctx, r.PaymentID, r.Amount, r.ID)
	if err != nil {
		return err
	}
	r.ProviderID = pr.ID
	_, err = s.update(ctx, id, func(o *ticketview.Order) error {
		now := s.cfg.Now()
		if o.Refunded(r, now) && note != "" {
			o.SetNote(note, now)
		}
		return nil
	})
	if err == nil {
		s.cfg.Log.Info("refunded", zap.String("order", id), zap.String("reason", r.Reason), zap.Int64("amount", r.Amount.Amount))
	}
	return err
}

// Cancel ends an order at the buyer's request: an unpaid one is abandoned and its holds
// released; a paid one is refunded in full.
func (s *Service) Cancel(ctx context.Context, buyer, id, idemKey string) (*ticketview.Order, error) {
	o, err := s.Order(ctx, buyer, id)
	if err != nil {
		return nil, err
	}
	if _, paid := o.Paid(); paid {
		return s.Refund(ctx, buyer, id, nil, idemKey)
	}
	o, err = s.update(ctx, id, func(o *ticketview.Order) error { return o.Abandon(s.cfg.Now()) })
	if err != nil {
		return nil, err
	}
	for _, it := range o.Items {
		sid := ticketview.SectionID{Event: o.Event, Section: it.Section}
		if err := s.cfg.Bookings.Release(ctx, sid, it.HoldToken, o.Buyer, "order:"+o.ID+":release:"+it.Section); err != nil &&
			!lost(err) {
			s.cfg.Log.Warn("releasing an abandoned order's hold", zap.String("order", o.ID), zap.Error(err))
		}
	}
	return o, nil
}

// Run sweeps due orders until ctx ends: pending ones whose window passed expire, and paid
// ones not yet settled (a late payment, a transient failure) are settled.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Sweep)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Log.Warn("order sweep", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep handles the orders due now once; it answers how many it handled.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	due, err := s.cfg.Orders.DueOrders(ctx, s.cfg.Now(), 100)
	if err != nil {
		return 0, err
	}
	var first error
	n := 0
	for _, o := range due {
		var err error
		if _, paid := o.Paid(); paid {
			err = s.settle(ctx, o)
		} else {
			_, err = s.update(ctx, o.ID, func(o *ticketview.Order) error { return o.Expire(s.cfg.Now()) })
			if ticketview.ErrorCode(err) == ticketview.ECONFLICT {
				err = nil // paid or changed meanwhile
			}
		}
		if err != nil && first == nil {
			first = err
		}
		if err == nil {
			n++
		}
	}
	return n, first
}

// contactOf is what an order keeps of the buyer's profile.
func contactOf(u *ticketview.User, now time.Time) ticketview.Contact {
	return ticketview.Contact{Name: u.Name, Email: u.Email, Phone: u.Phone, City: u.City, AgeBand: u.AgeBand(now)}
}

// refundID names a refund by what it refunds, so that a retry asks the provider with the
// same key (at most 40 characters: Razorpay's receipt limit).
func refundID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "rf_" + hex.EncodeToString(sum[:16])
}
