package ticketview

import (
	"context"
	"slices"
	"time"
)

// An Order is a buyer's checkout: one or more holds of one event, paid together. Checkout
// creates it pending payment (its holds extended to the payment window); a successful
// payment confirms it (one booking per hold, one ticket per seat); refunds give seats and
// money back. Its transitions are pure: time is passed in, and each change that others
// must hear of is recorded as a Message the store writes in the same transaction
// (TakeMessages).

// OrderStatus is where an order stands.
type OrderStatus string

const (
	OrderPending           OrderStatus = "pending_payment"    // created, its holds extended; waiting for the payment
	OrderConfirmed         OrderStatus = "confirmed"          // paid; bookings and tickets issued
	OrderExpired           OrderStatus = "expired"            // the payment window passed unpaid; the holds lapse
	OrderCancelled         OrderStatus = "cancelled"          // abandoned by the buyer before any payment
	OrderRefunded          OrderStatus = "refunded"           // paid, then all of it refunded (on request, or because the seats were gone)
	OrderPartiallyRefunded OrderStatus = "partially_refunded" // paid, some of its bookings refunded
)

// Valid reports whether s is one of the order statuses.
func (s OrderStatus) Valid() bool {
	switch s {
	case OrderPending, OrderConfirmed, OrderExpired, OrderCancelled, OrderRefunded, OrderPartiallyRefunded:
		return true
	}
	return false
}

// Final reports whether no payment can change the order any more (a late payment of a
// final order is refunded).
func (s OrderStatus) Final() bool { return s != OrderPending && s != OrderExpired }

// OrderItem is one hold of the order: a section's seats (or GA places) with their prices,
// and, once confirmed, the booking that sold them.
type OrderItem struct {
	Section   string     `json:"section"`
	HoldToken string     `json:"hold_token"`
	Items     []HoldItem `json:"items"`
	Quantity  int        `json:"quantity"`
	Total     Money      `json:"total"`
	BookingID string     `json:"booking_id,omitempty"`
	Refunded  bool       `json:"refunded,omitempty"`
}

// PaymentStatus is the state of one payment attempt.
type PaymentStatus string

const (
	PaymentPending   PaymentStatus = "pending" // started; the provider answers later
	PaymentSucceeded PaymentStatus = "succeeded"
	PaymentFailed    PaymentStatus = "failed"
)

// Payment is one attempt to pay an order, as the provider reported it.
type Payment struct {
	ID         string        `json:"id"` // the provider's payment id
	Provider   string        `json:"provider"`
	Instrument string        `json:"instrument,omitempty"` // card, upi, wallet, ...
	Amount     Money         `json:"amount"`
	Status     PaymentStatus `json:"status"`
	Reason     string        `json:"reason,omitempty"` // why it failed
	At         time.Time     `json:"at"`
}

// Refund is money given back for a payment of the order.
type Refund struct {
	ID         string    `json:"id"`          // ours: also the provider's idempotency key
	ProviderID string    `json:"provider_id"` // the provider's refund id ("" until it answered)
	PaymentID  string    `json:"payment_id"`
	Amount     Money     `json:"amount"`
	Sections   []string  `json:"sections,omitempty"` // the items refunded ("" none: money only, e.g. a duplicate payment)
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
}

// Refund reasons.
const (
	RefundRequested = "requested"         // the buyer (or an organizer/admin) asked
	RefundSeatsGone = "seats_unavailable" // paid after the hold expired and the seats were taken
	RefundDuplicate = "duplicate_payment" // a second successful payment of a paid order
	RefundMismatch  = "amount_mismatch"   // the amount paid is not the order's total
	RefundCancelled = "event_cancelled"
)

// Ticket is one seat (or GA place) of a confirmed order. QR is the payload of its QR code,
// signed by the server (see SignTicket) so that gates can check it offline.
type Ticket struct {
	ID        string `json:"id"`
	BookingID string `json:"booking_id"`
	Section   string `json:"section"`
	Seat      string `json:"seat,omitempty"` // "" for general admission
	Category  string `json:"category"`
	Price     Money  `json:"price"`
	QR        string `json:"qr"`
	Void      bool   `json:"void,omitempty"` // refunded
}

// Contact is where the buyer hears about the order, copied from the profile at checkout.
type Contact struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
	// City and AgeBand are demographics the buyer gave in the profile (for organizers'
	// reports, never their identity).
	City    string `json:"city,omitempty"`
	AgeBand string `json:"age_band,omitempty"`
}

// Order is a buyer's checkout.
type Order struct {
	ID       string      `json:"id"`
	Buyer    string      `json:"buyer"`
	Event    string      `json:"event"`
	Items    []OrderItem `json:"items"`
	Total    Money       `json:"total"`
	Status   OrderStatus `json:"status"`
	Contact  Contact     `json:"contact"`
	IdemKey  string      `json:"-"`
	PayBy    time.Time   `json:"pay_by"` // the holds' expiry: pay before it
	Provider string      `json:"provider"`
	// ProviderOrderID is the provider's order (Razorpay order_...); Checkout is what the
	// buyer's browser needs to pay it (key id, order id, or the sandbox's instruments).
	ProviderOrderID string            `json:"provider_order_id"`
	Checkout        map[string]string `json:"checkout,omitempty"`
	Payments        []Payment         `json:"payments,omitempty"`
	Refunds         []Refund          `json:"refunds,omitempty"`
	Tickets         []Ticket          `json:"tickets,omitempty"`
	// Note tells the buyer what happened when it is not obvious (a late payment refunded).
	Note        string    `json:"note,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	ConfirmedAt time.Time `json:"confirmed_at,omitzero"`
	Version     int64     `json:"version"` // bumped by the store on every update

	msgs []Message
}

// MaxOrderItems bounds the holds of one order.
const MaxOrderItems = 16

// NewOrder starts an order for the buyer's holds, all of one event and currency, pending
// payment until payBy.
func NewOrder(id, buyer string, holds []Hold, payBy, now time.Time) (*Order, error) {
	if id == "" || buyer == "" {
		return nil, Errorf(EINVALID, "an order needs an id and a buyer")
	}
	if len(holds) == 0 || len(holds) > MaxOrderItems {
		return nil, Errorf(EINVALID, "an order takes 1 to %d holds", MaxOrderItems)
	}
	o := &Order{ID: id, Buyer: buyer, Event: holds[0].Event, Status: OrderPending, PayBy: payBy, CreatedAt: now, UpdatedAt: now}
	seen := map[string]bool{}
	for _, h := range holds {
		switch {
		case h.Owner != buyer:
			return nil, Errorf(EFORBIDDEN, "hold %s is not yours", short(h.Token))
		case h.Event != o.Event:
			return nil, Errorf(EINVALID, "an order's holds must all be of one event")
		case seen[h.Section+"/"+h.Token]:
			return nil, Errorf(EINVALID, "hold %s is twice in the order", short(h.Token))
		case o.Total.Currency != "" && h.Total.Currency != o.Total.Currency:
			return nil, Errorf(EINVALID, "an order's holds must all be in one currency")
		case !h.ExpiresAt.After(now):
			return nil, Errorf(EHOLDEXPIRED, "hold %s has expired", short(h.Token))
		}
		seen[h.Section+"/"+h.Token] = true
		o.Items = append(o.Items, OrderItem{Section: h.Section, HoldToken: h.Token, Items: slices.Clone(h.Items), Quantity: h.Quantity, Total: h.Total})
		o.Total = o.Total.Add(h.Total)
	}
	o.record(MsgBookingCreated, nil, nil)
	return o, nil
}

func short(token string) string {
	if len(token) > 8 {
		return token[:8] + "…"
	}
	return token
}

// Seats is the number of seats (and GA places) of the order.
func (o *Order) Seats() int {
	n := 0
	for _, it := range o.Items {
		n += it.Quantity
	}
	return n
}

// Paid returns the payment that paid the order, if any.
func (o *Order) Paid() (Payment, bool) {
	for _, p := range o.Payments {
		if p.Status == PaymentSucceeded {
			return p, true
		}
	}
	return Payment{}, false
}

// Payment returns the attempt with the provider's id.
func (o *Order) Payment(id string) (Payment, bool) {
	for _, p := range o.Payments {
		if p.ID == id {
			return p, true
		}
	}
	return Payment{}, false
}

// Payable reports whether a payment may be started now: pending and in its window.
func (o *Order) Payable(now time.Time) error {
	switch {
	case o.Status == OrderPending && now.Before(o.PayBy):
		return nil
	case o.Status == OrderPending || o.Status == OrderExpired:
		return Errorf(EHOLDEXPIRED, "order %s: the payment window closed at %s", o.ID, o.PayBy.UTC().Format(time.RFC3339))
	default:
		return Errorf(ECONFLICT, "order %s is %s", o.ID, o.Status)
	}
}

// PaymentStarted records an attempt the provider answers later (pending). A known attempt
// changes nothing.
func (o *Order) PaymentStarted(p Payment, now time.Time) {
	if _, ok := o.Payment(p.ID); ok {
		return
	}
	p.Status = PaymentPending
	o.Payments = append(o.Payments, p)
	o.UpdatedAt = now
}

// PaymentFailed records a failed attempt; the order stays payable while its holds live.
// It reports whether anything changed (a repeated failure, or one of a payment that
// already succeeded, changes nothing).
func (o *Order) PaymentFailed(p Payment, now time.Time) bool {
	p.Status = PaymentFailed
	for i, q := range o.Payments {
		if q.ID == p.ID {
			if q.Status != PaymentPending {
				return false
			}
			o.Payments[i].Status, o.Payments[i].Reason = PaymentFailed, p.Reason
			o.UpdatedAt = now
			o.record(MsgPaymentFailed, &o.Payments[i], nil)
			return true
		}
	}
	o.Payments = append(o.Payments, p)
	o.UpdatedAt = now
	o.record(MsgPaymentFailed, &p, nil)
	return true
}

// PaymentSucceeded records a successful payment. It reports whether the payment is new
// (false: a repeated notification, nothing changed). What follows depends on the order
// (see the checkout service): a pending order is confirmed; a paid or final one refunds it.
func (o *Order) PaymentSucceeded(p Payment, now time.Time) bool {
	p.Status = PaymentSucceeded
	for i, q := range o.Payments {
		if q.ID == p.ID {
			if q.Status == PaymentSucceeded {
				return false
			}
			o.Payments[i] = p
			o.UpdatedAt = now
			o.record(MsgPaymentSucceeded, &p, nil)
			return true
		}
	}
	o.Payments = append(o.Payments, p)
	o.UpdatedAt = now
	o.record(MsgPaymentSucceeded, &p, nil)
	return true
}

// Confirm marks a paid order confirmed with its bookings (one per item, by section) and
// tickets.
func (o *Order) Confirm(bookings map[string]string, tickets []Ticket, now time.Time) error {
	if o.Status == OrderConfirmed {
		return nil
	}
	if _, ok := o.Paid(); !ok {
		return Errorf(ECONFLICT, "order %s is not paid", o.ID)
	}
	if o.Status != OrderPending && o.Status != OrderExpired {
		return Errorf(ECONFLICT, "order %s is %s", o.ID, o.Status)
	}
	for i := range o.Items {
		id := bookings[o.Items[i].Section]
		if id == "" {
			return Errorf(EINVALID, "order %s: no booking for section %s", o.ID, o.Items[i].Section)
		}
		o.Items[i].BookingID = id
	}
	o.Tickets = tickets
	o.Status = OrderConfirmed
	o.ConfirmedAt, o.UpdatedAt = now, now
	o.record(MsgBookingConfirmed, nil, nil)
	return nil
}

// Expire ends a pending order whose payment window passed (its holds lapse on their own).
// A paid order does not expire.
func (o *Order) Expire(now time.Time) error {
	if o.Status != OrderPending {
		return Errorf(ECONFLICT, "order %s is %s", o.ID, o.Status)
	}
	if now.Before(o.PayBy) {
		return Errorf(ECONFLICT, "order %s is payable until %s", o.ID, o.PayBy.UTC().Format(time.RFC3339))
	}
	if _, ok := o.Paid(); ok {
		return Errorf(ECONFLICT, "order %s is paid", o.ID)
	}
	o.Status = OrderExpired
	o.UpdatedAt = now
	o.record(MsgBookingExpired, nil, nil)
	return nil
}

// Abandon cancels an unpaid order at the buyer's request (the holds are released by the
// caller).
func (o *Order) Abandon(now time.Time) error {
	if o.Status != OrderPending && o.Status != OrderExpired {
		return Errorf(ECONFLICT, "order %s is %s", o.ID, o.Status)
	}
	if _, ok := o.Paid(); ok {
		return Errorf(ECONFLICT, "order %s is paid: ask for a refund", o.ID)
	}
	o.Status = OrderCancelled
	o.UpdatedAt = now
	o.record(MsgBookingCancelled, nil, nil)
	return nil
}

// Refundable returns the amount still refundable of the paid order's items in sections
// (all items not yet refunded when sections is empty), checking each is part of it.
func (o *Order) Refundable(sections []string) (Money, []string, error) {
	if _, ok := o.Paid(); !ok || (o.Status != OrderConfirmed && o.Status != OrderPartiallyRefunded) {
		return Money{}, nil, Errorf(ECONFLICT, "order %s is %s: nothing to refund", o.ID, o.Status)
	}
	amount := Money{Currency: o.Total.Currency}
	var picked []string
	for _, it := range o.Items {
		if it.Refunded || (len(sections) > 0 && !slices.Contains(sections, it.Section)) {
			continue
		}
		amount = amount.Add(it.Total)
		picked = append(picked, it.Section)
	}
	for _, s := range sections {
		if !slices.ContainsFunc(o.Items, func(it OrderItem) bool { return it.Section == s }) {
			return Money{}, nil, Errorf(ENOTFOUND, "order %s has nothing in section %q", o.ID, s)
		}
	}
	if len(picked) == 0 {
		return Money{}, nil, Errorf(ECONFLICT, "order %s: already refunded", o.ID)
	}
	return amount, picked, nil
}

// Refunded records a refund. Items of r.Sections are marked refunded and their tickets
// void; the order becomes refunded when every item is (or when the money of an order
// that never got its seats went back), partially refunded otherwise. A refund already
// recorded (same ID) changes nothing.
func (o *Order) Refunded(r Refund, now time.Time) bool {
	for i, q := range o.Refunds {
		if q.ID == r.ID {
			if q.ProviderID == "" && r.ProviderID != "" {
				o.Refunds[i].ProviderID = r.ProviderID
				o.UpdatedAt = now
			}
			return false
		}
	}
	r.At = now
	o.Refunds = append(o.Refunds, r)
	for i := range o.Items {
		if slices.Contains(r.Sections, o.Items[i].Section) {
			o.Items[i].Refunded = true
		}
	}
	for i := range o.Tickets {
		if slices.Contains(r.Sections, o.Tickets[i].Section) {
			o.Tickets[i].Void = true
		}
	}
	switch {
	case r.Reason == RefundDuplicate || r.Reason == RefundMismatch:
		// money only: the order keeps its status
	case o.Status != OrderConfirmed && o.Status != OrderPartiallyRefunded:
		o.Status = OrderRefunded // paid but never confirmed: the seats were gone
	case !slices.ContainsFunc(o.Items, func(it OrderItem) bool { return !it.Refunded }):
		o.Status = OrderRefunded
	default:
		o.Status = OrderPartiallyRefunded
	}
	o.UpdatedAt = now
	o.record(MsgPaymentRefunded, nil, &r)
	if len(r.Sections) > 0 {
		o.record(MsgBookingCancelled, nil, &r)
	}
	return true
}

// RefundedAmount is the money given back so far.
func (o *Order) RefundedAmount() Money {
	m := Money{Currency: o.Total.Currency}
	for _, r := range o.Refunds {
		m = m.Add(r.Amount)
	}
	return m
}

// SetNote sets what the buyer is told about the order.
func (o *Order) SetNote(note string, now time.Time) { o.Note, o.UpdatedAt = note, now }

// TakeMessages returns the messages the order's changes recorded since the last call and
// forgets them: the store writes them to the outbox in the transaction that saves it.
func (o *Order) TakeMessages() []Message {
	m := o.msgs
	o.msgs = nil
	return m
}

func (o *Order) record(typ string, p *Payment, r *Refund) {
	o.msgs = append(o.msgs, newOrderMessage(typ, o, p, r))
}

// OrderFilter selects orders.
type OrderFilter struct {
	Buyer  string
	Event  string
	Status OrderStatus
	Limit  int
	Offset int
}

// OrderStore keeps orders. Create and Update write the messages the order recorded
// (TakeMessages) to the outbox in the same transaction.
type OrderStore interface {
	// CreateOrder stores a new order; an order with the same buyer and IdemKey (when not
	// empty) is returned instead with created false, and nothing is written.
	CreateOrder(ctx context.Context, o *Order) (stored *Order, created bool, err error)
	FindOrder(ctx context.Context, id string) (*Order, error)
	// FindOrderByProviderRef finds the order with the provider's order id.
	FindOrderByProviderRef(ctx context.Context, provider, ref string) (*Order, error)
	// UpdateOrder loads the order, calls fn and saves the result with its messages,
	// atomically; concurrent updates of one order are serialised. fn's error aborts.
	UpdateOrder(ctx context.Context, id string, fn func(*Order) error) (*Order, error)
	// ListOrders answers the orders matching f, newest first, and how many match.
	ListOrders(ctx context.Context, f OrderFilter) ([]*Order, int, error)
	// DueOrders answers up to limit orders that need the checkout service: pending ones
	// whose PayBy is at or before now, and expired ones that were paid (a late payment
	// whose re-hold or refund is still to be done), oldest PayBy first.
	DueOrders(ctx context.Context, now time.Time, limit int) ([]*Order, error)
}
