package api

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"net/url"

	"github.com/gofiber/fiber/v2"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/checkout"
)

// Orders is checkout and payments as the API uses them (checkout.Service).
type Orders interface {
	Provider() string
	TicketPublicKey() ed25519.PublicKey
	Checkout(ctx context.Context, buyer, event string, holds []checkout.HoldRef, idemKey string) (*ticketview.Order, bool, error)
	Order(ctx context.Context, buyer, id string) (*ticketview.Order, error)
	Orders(ctx context.Context, f ticketview.OrderFilter) ([]*ticketview.Order, int, error)
	Pay(ctx context.Context, buyer, id, instrument string) (*ticketview.Order, error)
	Callback(ctx context.Context, buyer, id string, cb ticketview.PaymentCallback) (*ticketview.Order, error)
	Webhook(ctx context.Context, body []byte, header func(string) string) error
	Refund(ctx context.Context, buyer, id string, sections []string, idemKey string) (*ticketview.Order, error)
	Cancel(ctx context.Context, buyer, id, idemKey string) (*ticketview.Order, error)
}

// CheckoutRequest turns holds into an order.
type CheckoutRequest struct {
	Event string             `json:"event"`
	Holds []checkout.HoldRef `json:"holds"`
}

// PayRequest pays an order with one of the sandbox's test instruments.
type PayRequest struct {
	Instrument string `json:"instrument"`
}

// RefundRequest refunds a paid order's items in these sections (all when empty).
type RefundRequest struct {
	Sections []string `json:"sections"`
}

// OrderList is a page of orders.
type OrderList struct {
	Orders []*ticketview.Order `json:"orders"`
	Total  int                 `json:"total"`
}

// TicketKey is the public key that checks tickets' QR payloads offline.
type TicketKey struct {
	Algorithm string `json:"alg"`
	Key       string `json:"key"` // base64 (standard) of the Ed25519 public key
}

// orderRoutes are the checkout and payment routes.
func (s *Server) orderRoutes() []route {
	const R = "/api/v1/orders/:order"
	listQuery := append([]param{{"status", "string", "pending_payment, confirmed, expired, cancelled, refunded or partially_refunded"}}, pageParams...)
	return []route{
		{method: "POST", path: "/api/v1/orders", access: customers, tag: tagOrders, summary: "Check out: turn my holds into an order pending payment (holds extended to the payment window)",
			body: CheckoutRequest{}, resp: ticketview.Order{}, status: http.StatusCreated, idempotent: true, handler: s.createOrder},
		{method: "GET", path: "/api/v1/orders", access: customers, tag: tagOrders, summary: "My orders", query: listQuery, resp: OrderList{}, handler: s.myOrders},
		{method: "GET", path: R, access: customers, tag: tagOrders, summary: "My order, with its payments, refunds and tickets", resp: ticketview.Order{}, handler: s.getOrder},
		{method: "POST", path: R + "/pay", access: customers, tag: tagOrders, summary: "Pay with a sandbox test instrument (402 when declined: pay again while the order is payable)",
			body: PayRequest{}, resp: ticketview.Order{}, handler: s.payOrder},
		{method: "POST", path: R + "/callback", access: customers, tag: tagOrders, summary: "Report the provider's checkout result (payment id and signature)",
			body: ticketview.PaymentCallback{}, resp: ticketview.Order{}, handler: s.orderCallback},
		{method: "POST", path: R + "/cancel", access: customers, tag: tagOrders, summary: "Cancel my order: an unpaid one is abandoned, a paid one refunded in full",
			resp: ticketview.Order{}, idempotent: true, handler: s.cancelOrder},
		{method: "POST", path: R + "/refund", access: customers, tag: tagOrders, summary: "Refund my order's seats in some sections (all when none given); the seats are released",
			body: RefundRequest{}, resp: ticketview.Order{}, idempotent: true, handler: s.refundOrder},
		{method: "POST", path: "/api/v1/payments/webhooks/:provider", tag: tagOrders, summary: "Payment provider webhooks (signed)", resp: map[string]bool{}, handler: s.paymentWebhook},
		{method: "GET", path: "/api/v1/tickets/key", tag: tagOrders, summary: "The public key that checks tickets' QR payloads", resp: TicketKey{}, handler: s.ticketKey},

		{method: "GET", path: "/api/v1/organizer/events/:event/orders", access: organizers, tag: tagOrganizer, summary: "The event's orders", query: listQuery, resp: OrderList{}, handler: s.eventOrders},
		{method: "POST", path: "/api/v1/organizer/orders/:order/refund", access: organizers, tag: tagOrganizer, summary: "Refund any order of my event (all, or some sections)",
			body: RefundRequest{}, resp: ticketview.Order{}, idempotent: true, handler: s.staffRefund},
	}
}

// orders answers the checkout service or 503.
func (s *Server) orders() (Orders, error) {
	if s.cfg.Orders == nil {
		return nil, ticketview.Errorf(ticketview.EUNAVAILABLE, "payments are not configured on this server")
	}
	return s.cfg.Orders, nil
}

func (s *Server) createOrder(c *fiber.Ctx) error {
	o, err := s.orders()
	if err != nil {
		return err
	}
	var req CheckoutRequest
	if err := decodeJSON(c.Body(), &req, false); err != nil {
		return err
	}
	if !printable(req.Event, 128) || req.Event == "" {
		return invalid("event: an event id is required")
	}
	for i, h := range req.Holds {
		if h.Section == "" || !printable(h.Section, 128) || h.Token == "" || !printable(h.Token, 128) {
			return invalid("holds[%d]: section and token are required", i)
		}
	}
	key, err := idemKey(c)
	if err != nil {
		return err
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	order, created, err := o.Checkout(ctx, buyerOf(c), req.Event, req.Holds, key)
	if err != nil {
		return err
	}
	markReplayed(c, !created)
	c.Location("/api/v1/orders/" + url.PathEscape(order.ID))
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	return c.Status(status).JSON(order)
}

func (s *Server) myOrders(c *fiber.Ctx) error {
	return s.listOrders(c, ticketview.OrderFilter{Buyer: buyerOf(c)})
}

func (s *Server) listOrders(c *fiber.Ctx, f ticketview.OrderFilter) error {
	o, err := s.orders()
	if err != nil {
		return err
	}
	f.Status = ticketview.OrderStatus(c.Query("status"))
	if f.Status != "" && !f.Status.Valid() {
		return invalid("status: unknown order status %q", f.Status)
	}
	if f.Offset, f.Limit, err = pageOf(c); err != nil {
		return err
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	list, total, err := o.Orders(ctx, f)
	if err != nil {
		return err
	}
	if list == nil {
		list = []*ticketview.Order{}
	}
	return c.JSON(OrderList{Orders: list, Total: total})
}

func (s *Server) getOrder(c *fiber.Ctx) error {
	o, err := s.orders()
	if err != nil {
		return err
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	order, err := o.Order(ctx, buyerOf(c), c.Params("order"))
	if err != nil {
		return err
	}
	return c.JSON(order)
}

func (s *Server) payOrder(c *fiber.Ctx) error {
	o, err := s.orders()
	if err != nil {
		return err
	}
	var req PayRequest
	if err := decodeJSON(c.Body(), &req, false); err != nil {
		return err
	}
	if req.Instrument == "" || len(req.Instrument) > 64 {
		return invalid("instrument: a test instrument is required (see the order's checkout.instruments)")
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	order, err := o.Pay(ctx, buyerOf(c), c.Params("order"), req.Instrument)
	if err != nil {
		return err
	}
	return c.JSON(order)
}

func (s *Server) orderCallback(c *fiber.Ctx) error {
	o, err := s.orders()
	if err != nil {
		return err
	}
	var cb ticketview.PaymentCallback
	if err := decodeJSON(c.Body(), &cb, false); err != nil {
		return err
	}
	if cb.PaymentID == "" || cb.Signature == "" || len(cb.PaymentID) > 128 || len(cb.Signature) > 256 {
		return invalid("payment_id and signature are required")
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	order, err := o.Callback(ctx, buyerOf(c), c.Params("order"), cb)
	if err != nil {
		return err
	}
	return c.JSON(order)
}

func (s *Server) cancelOrder(c *fiber.Ctx) error {
	o, err := s.orders()
	if err != nil {
		return err
	}
	var body struct{}
	if err := decodeJSON(c.Body(), &body, true); err != nil {
		return err
	}
	key, err := idemKey(c)
	if err != nil {
		return err
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	if err := s.refundAllowed(ctx, c, buyerOf(c), c.Params("order")); err != nil {
		return err
	}
	order, err := o.Cancel(ctx, buyerOf(c), c.Params("order"), key)
	if err != nil {
		return err
	}
	return c.JSON(order)
}

func (s *Server) refundOrder(c *fiber.Ctx) error {
	return s.refund(c, buyerOf(c))
}

// refund refunds an order of the buyer, or (buyer "") of an event the caller manages.
func (s *Server) refund(c *fiber.Ctx, buyer string) error {
	o, err := s.orders()
	if err != nil {
		return err
	}
	var req RefundRequest
	if err := decodeJSON(c.Body(), &req, true); err != nil {
		return err
	}
	if len(req.Sections) > ticketview.MaxOrderItems {
		return invalid("sections: at most %d", ticketview.MaxOrderItems)
	}
	key, err := idemKey(c)
	if err != nil {
		return err
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	if err := s.refundAllowed(ctx, c, buyer, c.Params("order")); err != nil {
		return err
	}
	order, err := o.Refund(ctx, buyer, c.Params("order"), req.Sections, key)
	if err != nil {
		return err
	}
	return c.JSON(order)
}

// refundAllowed checks who may refund the order: its buyer until the event starts; the
// event's organizer and admins (buyer "") at any time.
func (s *Server) refundAllowed(ctx context.Context, c *fiber.Ctx, buyer, id string) error {
	order, err := s.cfg.Orders.Order(ctx, buyer, id)
	if err != nil {
		return err
	}
	ev, err := s.cfg.Events.FindEvent(ctx, order.Event)
	if err != nil {
		return err
	}
	if buyer == "" {
		return ownEvent(principalOf(c), ev)
	}
	if _, paid := order.Paid(); paid && !s.now().Before(ev.StartsAt) {
		return ticketview.Errorf(ticketview.ECONFLICT, "event %q has started: ask the organizer for a refund", ev.ID)
	}
	return nil
}

func (s *Server) staffRefund(c *fiber.Ctx) error {
	return s.refund(c, "")
}

func (s *Server) eventOrders(c *fiber.Ctx) error {
	ctx, cancel := reqCtx(c)
	defer cancel()
	ev, err := s.cfg.Events.FindEvent(ctx, c.Params("event"))
	if err != nil {
		return err
	}
	if err := ownEvent(principalOf(c), ev); err != nil {
		return err
	}
	return s.listOrders(c, ticketview.OrderFilter{Event: ev.ID})
}

func (s *Server) paymentWebhook(c *fiber.Ctx) error {
	o, err := s.orders()
	if err != nil {
		return err
	}
	if p := c.Params("provider"); p != o.Provider() {
		return ticketview.Errorf(ticketview.ENOTFOUND, "no payment provider %q here", p)
	}
	ctx, cancel := reqCtx(c)
	defer cancel()
	body := append([]byte(nil), c.Body()...)
	if err := o.Webhook(ctx, body, func(k string) string { return c.Get(k) }); err != nil {
		return err
	}
	return c.JSON(map[string]bool{"ok": true})
}

func (s *Server) ticketKey(c *fiber.Ctx) error {
	o, err := s.orders()
	if err != nil {
		return err
	}
	return c.JSON(TicketKey{Algorithm: "Ed25519", Key: base64.StdEncoding.EncodeToString(o.TicketPublicKey())})
}
