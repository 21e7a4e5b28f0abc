package sandbox

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
)

// Webhook headers.
const (
	// SignatureHeader carries the hex HMAC-SHA256 of the body with the secret.
	SignatureHeader = "X-Sandbox-Signature"
	// EventIDHeader carries the event's id (also in the body).
	EventIDHeader = "X-Sandbox-Event-Id"
)

// Webhook events.
const (
	EventPaymentCaptured = "payment.captured"
	EventPaymentFailed   = "payment.failed"
	EventRefundProcessed = "refund.processed"
)

// Webhook is the body of a sandbox webhook (JSON).
type Webhook struct {
	ID        string            `json:"id"` // "sbx_evt_…": the same in every delivery of the event
	Event     string            `json:"event"`
	OrderID   string            `json:"order_id"`
	Receipt   string            `json:"receipt,omitempty"`
	PaymentID string            `json:"payment_id"`
	Amount    int64             `json:"amount"` // the payment's, or the refund's for refund.processed
	Currency  string            `json:"currency"`
	Method    string            `json:"method,omitempty"`
	Reason    string            `json:"reason,omitempty"`
	RefundID  string            `json:"refund_id,omitempty"`
	Notes     map[string]string `json:"notes,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
}

// paymentWebhook is the webhook reporting a payment's outcome.
func (p *Provider) paymentWebhook(pay *payment, o *order) Webhook {
	event := EventPaymentCaptured
	if pay.status == statusFailed {
		event = EventPaymentFailed
	}
	return Webhook{
		ID: newID("sbx_evt_"), Event: event, OrderID: o.id, Receipt: o.receipt,
		PaymentID: pay.id, Amount: pay.amount.Amount, Currency: pay.amount.Currency,
		Method: pay.method, Reason: pay.reason, Notes: o.notes, CreatedAt: p.cfg.Now(),
	}
}

// refundWebhook is the webhook reporting a processed refund.
func (p *Provider) refundWebhook(r *refund, pay *payment, o *order) Webhook {
	return Webhook{
		ID: newID("sbx_evt_"), Event: EventRefundProcessed, OrderID: o.id, Receipt: o.receipt,
		PaymentID: pay.id, Amount: r.amount.Amount, Currency: r.amount.Currency,
		Method: pay.method, RefundID: r.id, Notes: o.notes, CreatedAt: p.cfg.Now(),
	}
}

// enqueue starts delivering w (twice with DuplicateWebhooks) in the background. p.mu is
// held.
func (p *Provider) enqueue(w Webhook) {
	fn := p.webhook
	if fn == nil || p.closed {
		p.log.Debug("webhook dropped: no receiver", zap.String("event", w.Event), zap.String("id", w.ID))
		return
	}
	body, err := json.Marshal(w)
	if err != nil { // cannot happen: the fields are strings, numbers and a time
		p.log.Error("webhook not encoded", zap.Error(err))
		return
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(SignatureHeader, p.sign(body))
	h.Set(EventIDHeader, w.ID)
	n := 1
	if p.cfg.DuplicateWebhooks {
		n = 2
	}
	for range n {
		p.wg.Add(1)
		go p.deliver(fn, w, body, h.Get)
	}
}

// deliver calls fn until it accepts the webhook or the provider closes, waiting
// RetryAfter after the first failure and twice as long after each next one (up to 30s).
func (p *Provider) deliver(fn WebhookFunc, w Webhook, body []byte, header func(string) string) {
	defer p.wg.Done()
	wait := p.cfg.RetryAfter
	for attempt := 1; ; attempt++ {
		err := fn(p.ctx, body, header)
		if err == nil || p.ctx.Err() != nil {
			return
		}
		p.log.Warn("webhook refused; retrying", zap.String("event", w.Event), zap.String("id", w.ID),
			zap.Int("attempt", attempt), zap.Duration("retry_in", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-p.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, maxRetryAfter)
	}
}

// ParseWebhook verifies a webhook's signature (EUNAUTHORIZED when it does not match) and
// reads it: payment.captured is a succeeded payment, payment.failed a failed one,
// refund.processed a refund; the event's ID is the webhook's id.
func (p *Provider) ParseWebhook(ctx context.Context, body []byte, header func(string) string) (ticketview.PaymentEvent, error) {
	sig := ""
	if header != nil {
		sig = header(SignatureHeader)
	}
	if sig == "" || !p.verify(body, sig) {
		return ticketview.PaymentEvent{}, ticketview.Errorf(ticketview.EUNAUTHORIZED, "sandbox: webhook signature does not match")
	}
	var w Webhook
	if err := json.Unmarshal(body, &w); err != nil {
		return ticketview.PaymentEvent{}, ticketview.Errorf(ticketview.EINVALID, "sandbox: webhook body: %v", err)
	}
	if w.ID == "" {
		return ticketview.PaymentEvent{}, ticketview.Errorf(ticketview.EINVALID, "sandbox: webhook without an id")
	}
	ev := ticketview.PaymentEvent{
		ID:              w.ID,
		ProviderOrderID: w.OrderID,
		Receipt:         w.Receipt,
		PaymentID:       w.PaymentID,
		Amount:          ticketview.Money{Amount: w.Amount, Currency: w.Currency},
		Method:          w.Method,
		Reason:          w.Reason,
		RefundID:        w.RefundID,
		At:              w.CreatedAt,
	}
	switch w.Event {
	case EventPaymentCaptured:
		ev.Kind = ticketview.PaymentSucceededKind
	case EventPaymentFailed:
		ev.Kind = ticketview.PaymentFailedKind
	case EventRefundProcessed:
		ev.Kind = ticketview.RefundProcessedKind
	}
	return ev, nil
}
