package ticketview

import (
	"context"
	"time"
)

// PaymentProvider is a payment gateway as the checkout service uses it: Razorpay in
// production, the built-in sandbox by default. Every call is idempotent on its keys.
type PaymentProvider interface {
	// Name is the provider's name ("razorpay", "sandbox"), stored with each payment.
	Name() string
	// CreateOrder asks the provider to collect amount for our order (receipt); calling it
	// again with the same receipt may create another provider order, so the checkout
	// service stores the first. Checkout is what the buyer's browser needs to pay.
	CreateOrder(ctx context.Context, receipt string, amount Money, notes map[string]string) (ProviderOrder, error)
	// VerifyCallback checks what the buyer's browser reports after paying (Razorpay's
	// handler: order id, payment id, signature) and answers the payment it proves.
	VerifyCallback(ctx context.Context, cb PaymentCallback) (PaymentEvent, error)
	// ParseWebhook verifies a webhook (body and its headers) and reads it. A webhook of no
	// interest answers a PaymentEvent with Kind "".
	ParseWebhook(ctx context.Context, body []byte, header func(string) string) (PaymentEvent, error)
	// Refund gives amount of a payment back; key (our refund id) makes retries safe.
	Refund(ctx context.Context, paymentID string, amount Money, key string) (ProviderRefund, error)
}

// DirectPayer is a provider that takes the payment through the API itself (the sandbox's
// test instruments) instead of a browser widget.
type DirectPayer interface {
	// Pay pays the provider order with an instrument. It answers the payment's outcome
	// (Kind PaymentSucceededKind or PaymentFailedKind), or a pending payment whose outcome
	// arrives later as a webhook.
	Pay(ctx context.Context, providerOrderID, instrument string) (PaymentEvent, error)
}

// ProviderOrder is the provider's side of an order.
type ProviderOrder struct {
	ID       string            `json:"id"`
	Amount   Money             `json:"amount"`
	Checkout map[string]string `json:"checkout"`
}

// PaymentCallback is what the buyer's browser posts after the provider's widget took the
// payment.
type PaymentCallback struct {
	ProviderOrderID string `json:"provider_order_id"`
	PaymentID       string `json:"payment_id"`
	Signature       string `json:"signature"`
}

// PaymentEventKind says what a provider reported.
type PaymentEventKind string

const (
	PaymentSucceededKind PaymentEventKind = "payment.succeeded"
	PaymentFailedKind    PaymentEventKind = "payment.failed"
	PaymentPendingKind   PaymentEventKind = "payment.pending"
	RefundProcessedKind  PaymentEventKind = "refund.processed"
)

// PaymentEvent is one thing a provider reported about a payment.
type PaymentEvent struct {
	// ID identifies the report (a webhook's event id); a report seen before changes
	// nothing. Callbacks use the payment's id and status.
	ID              string           `json:"id"`
	Kind            PaymentEventKind `json:"kind"`
	ProviderOrderID string           `json:"provider_order_id"`
	Receipt         string           `json:"receipt,omitempty"` // our order id, when the provider echoes it
	PaymentID       string           `json:"payment_id"`
	Amount          Money            `json:"amount"`
	Method          string           `json:"method,omitempty"` // card, upi, wallet, netbanking
	Reason          string           `json:"reason,omitempty"` // failure description
	RefundID        string           `json:"refund_id,omitempty"`
	At              time.Time        `json:"at"`
}

// ProviderRefund is the provider's answer to a refund.
type ProviderRefund struct {
	ID     string `json:"id"`
	Status string `json:"status"` // "processed", "pending"
	Amount Money  `json:"amount"`
}
