package razorpay

import (
	"context"
	"encoding/json"
	"time"

	ticketview "github.com/ticketview/ticketview"
)

// Webhook headers.
const (
	SignatureHeader = "X-Razorpay-Signature"
	EventIDHeader   = "X-Razorpay-Event-Id"
)

// webhook is the part of a Razorpay webhook body the provider reads.
type webhook struct {
	Event   string `json:"event"`
	Payload struct {
		Payment *struct {
			Entity map[string]any `json:"entity"`
		} `json:"payment"`
		Refund *struct {
			Entity map[string]any `json:"entity"`
		} `json:"refund"`
		Order *struct {
			Entity map[string]any `json:"entity"`
		} `json:"order"`
	} `json:"payload"`
	CreatedAt int64 `json:"created_at"`
}

// ParseWebhook verifies a webhook's X-Razorpay-Signature (HMAC-SHA256 of the body with
// the webhook secret; EUNAUTHORIZED when it does not match) and reads it:
// payment.captured and order.paid are a succeeded payment, payment.failed a failed one
// (Reason: Razorpay's error_description), refund.processed a refund; other events answer
// Kind "". The event's ID is X-Razorpay-Event-Id, the same in Razorpay's redeliveries.
func (p *Provider) ParseWebhook(ctx context.Context, body []byte, header func(string) string) (ticketview.PaymentEvent, error) {
	if header == nil || !verify(p.cfg.WebhookSecret, body, header(SignatureHeader)) {
		return ticketview.PaymentEvent{}, ticketview.Errorf(ticketview.EUNAUTHORIZED, "razorpay: webhook signature does not match")
	}
	id := header(EventIDHeader)
	if id == "" {
		return ticketview.PaymentEvent{}, ticketview.Errorf(ticketview.EINVALID, "razorpay: webhook without %s", EventIDHeader)
	}
	var w webhook
	if err := json.Unmarshal(body, &w); err != nil {
		return ticketview.PaymentEvent{}, ticketview.Errorf(ticketview.EINVALID, "razorpay: webhook body: %v", err)
	}
	var ev ticketview.PaymentEvent
	if w.Payload.Payment != nil {
		ev = paymentEvent(w.Payload.Payment.Entity)
	}
	if w.Payload.Order != nil {
		if r := str(w.Payload.Order.Entity, "receipt"); r != "" {
			ev.Receipt = r
		}
	}
	ev.ID = id
	if w.CreatedAt != 0 {
		ev.At = time.Unix(w.CreatedAt, 0).UTC()
	}
	switch w.Event {
	case "payment.captured", "order.paid":
		ev.Kind = ticketview.PaymentSucceededKind
	case "payment.failed":
		ev.Kind = ticketview.PaymentFailedKind
	case "refund.processed":
		if w.Payload.Refund == nil {
			return ticketview.PaymentEvent{}, ticketview.Errorf(ticketview.EINVALID, "razorpay: refund.processed without a refund")
		}
		r := w.Payload.Refund.Entity
		ev.Kind = ticketview.RefundProcessedKind
		ev.RefundID = str(r, "id")
		ev.PaymentID = str(r, "payment_id")
		ev.Amount = ticketview.Money{Amount: num(r, "amount"), Currency: str(r, "currency")}
		return ev, nil
	default:
		return ev, nil
	}
	if ev.PaymentID == "" {
		return ticketview.PaymentEvent{}, ticketview.Errorf(ticketview.EINVALID, "razorpay: %s without a payment", w.Event)
	}
	return ev, nil
}

// paymentEvent reads a payment entity (its ID and Kind are left to the caller).
func paymentEvent(pay map[string]any) ticketview.PaymentEvent {
	ev := ticketview.PaymentEvent{
		ProviderOrderID: str(pay, "order_id"),
		PaymentID:       str(pay, "id"),
		Amount:          ticketview.Money{Amount: num(pay, "amount"), Currency: str(pay, "currency")},
		Method:          str(pay, "method"),
		Reason:          str(pay, "error_description"),
		Receipt:         str(obj(pay, "notes"), "receipt"),
	}
	if at := num(pay, "created_at"); at != 0 {
		ev.At = time.Unix(at, 0).UTC()
	}
	return ev
}
