// Package razorpay is the production payment provider: Razorpay through its Go client,
// github.com/razorpay/razorpay-go. Buyers pay in Razorpay Checkout; their browser posts
// the signed handler answer (VerifyCallback) and Razorpay posts signed webhooks
// (ParseWebhook). razorpaytest answers like Razorpay's API for tests.
package razorpay

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	rzp "github.com/razorpay/razorpay-go"
	"github.com/razorpay/razorpay-go/requests"

	ticketview "github.com/ticketview/ticketview"
)

// Name is the provider's name, stored with each payment.
const Name = "razorpay"

// Defaults of Config.
const (
	DefaultBaseURL = "https://api.razorpay.com"
	DefaultTimeout = 10 * time.Second
)

// Config configures the Razorpay provider.
type Config struct {
	KeyID         string // rzp_live_… or rzp_test_…: also given to Checkout
	KeySecret     string // the API key's secret: authenticates calls, signs callbacks
	WebhookSecret string // the secret set on the webhook in Razorpay's dashboard
	// BaseURL is Razorpay's API (default https://api.razorpay.com); tests point it to
	// razorpaytest.
	BaseURL string
	// Timeout bounds each API call (default 10s).
	Timeout time.Duration
}

// Provider is the Razorpay payment provider. It is safe for concurrent use.
type Provider struct {
	cfg    Config
	client *rzp.Client
	calls  sync.Map // call id → context.Context: see withContext
	nextID atomic.Uint64
}

var _ ticketview.PaymentProvider = (*Provider)(nil)

// newClientMu serialises rzp.NewClient, which writes the package variable rzp.Request.
var newClientMu sync.Mutex

// New returns the Razorpay provider; the key and both secrets are required (EINVALID).
func New(cfg Config) (*Provider, error) {
	switch {
	case cfg.KeyID == "" || cfg.KeySecret == "":
		return nil, ticketview.Errorf(ticketview.EINVALID, "razorpay: the API key id and secret are required")
	case cfg.WebhookSecret == "":
		return nil, ticketview.Errorf(ticketview.EINVALID, "razorpay: the webhook secret is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	newClientMu.Lock()
	client := rzp.NewClient(cfg.KeyID, cfg.KeySecret)
	newClientMu.Unlock()
	p := &Provider{cfg: cfg, client: client}
	// Every resource of the client shares one *requests.Request.
	req := client.Order.Request
	req.BaseURL = cfg.BaseURL
	req.HTTPClient = &http.Client{Transport: &transport{p: p, base: http.DefaultTransport}}
	return p, nil
}

// Name answers "razorpay".
func (p *Provider) Name() string { return Name }

// request is the client's shared request maker.
func (p *Provider) request() *requests.Request { return p.client.Order.Request }

// CreateOrder creates a Razorpay order for amount (captured automatically when paid),
// with the receipt (at most 40 characters) and notes (at most 15). Checkout holds what
// Razorpay Checkout needs: key_id, order_id, amount and currency.
func (p *Provider) CreateOrder(ctx context.Context, receipt string, amount ticketview.Money, notes map[string]string) (ticketview.ProviderOrder, error) {
	switch {
	case receipt == "" || len(receipt) > 40:
		return ticketview.ProviderOrder{}, ticketview.Errorf(ticketview.EINVALID, "razorpay: a receipt of 1 to 40 characters is required, got %q", receipt)
	case amount.Amount <= 0:
		return ticketview.ProviderOrder{}, ticketview.Errorf(ticketview.EINVALID, "razorpay: order amount must be positive, got %d", amount.Amount)
	case amount.Currency == "":
		return ticketview.ProviderOrder{}, ticketview.Errorf(ticketview.EINVALID, "razorpay: order amount needs a currency")
	case len(notes) > 15:
		return ticketview.ProviderOrder{}, ticketview.Errorf(ticketview.EINVALID, "razorpay: at most 15 notes, got %d", len(notes))
	}
	data := map[string]any{
		"amount":          amount.Amount,
		"currency":        amount.Currency,
		"receipt":         receipt,
		"payment_capture": 1,
	}
	if len(notes) > 0 {
		n := make(map[string]any, len(notes))
		for k, v := range notes {
			n[k] = v
		}
		data["notes"] = n
	}
	var resp map[string]any
	err := p.call(ctx, "creating an order", func(h map[string]string) (err error) {
		resp, err = p.client.Order.Create(data, h)
		return err
	})
	if err != nil {
		return ticketview.ProviderOrder{}, err
	}
	id := str(resp, "id")
	if id == "" {
		return ticketview.ProviderOrder{}, ticketview.Errorf(ticketview.EUNAVAILABLE, "razorpay: order created without an id")
	}
	got := ticketview.Money{Amount: num(resp, "amount"), Currency: str(resp, "currency")}
	return ticketview.ProviderOrder{
		ID:     id,
		Amount: got,
		Checkout: map[string]string{
			"provider": Name,
			"key_id":   p.cfg.KeyID,
			"order_id": id,
			"amount":   strconv.FormatInt(got.Amount, 10),
			"currency": got.Currency,
		},
	}, nil
}

// VerifyCallback checks Checkout's handler answer (razorpay_order_id,
// razorpay_payment_id, razorpay_signature: HMAC-SHA256 of order_id|payment_id with the
// key secret; EUNAUTHORIZED when it does not match), then fetches the payment: captured
// (or refunded since) is a succeeded payment, failed a failed one, anything else pending.
// The event's ID is the payment id and its status ("pay_…:captured").
func (p *Provider) VerifyCallback(ctx context.Context, cb ticketview.PaymentCallback) (ticketview.PaymentEvent, error) {
	if cb.ProviderOrderID == "" || cb.PaymentID == "" || cb.Signature == "" {
		return ticketview.PaymentEvent{}, ticketview.Errorf(ticketview.EINVALID, "razorpay: a callback needs an order id, a payment id and a signature")
	}
	if !verify(p.cfg.KeySecret, []byte(cb.ProviderOrderID+"|"+cb.PaymentID), cb.Signature) {
		return ticketview.PaymentEvent{}, ticketview.Errorf(ticketview.EUNAUTHORIZED, "razorpay: callback signature does not match")
	}
	var pay map[string]any
	err := p.call(ctx, "fetching payment "+cb.PaymentID, func(h map[string]string) (err error) {
		pay, err = p.client.Payment.Fetch(cb.PaymentID, nil, h)
		return err
	})
	if err != nil {
		return ticketview.PaymentEvent{}, err
	}
	if got := str(pay, "order_id"); got != cb.ProviderOrderID {
		return ticketview.PaymentEvent{}, ticketview.Errorf(ticketview.EINVALID, "razorpay: payment %s is of order %q, not %q", cb.PaymentID, got, cb.ProviderOrderID)
	}
	ev := paymentEvent(pay)
	ev.ID = cb.PaymentID + ":" + str(pay, "status")
	switch str(pay, "status") {
	case "captured", "refunded":
		ev.Kind = ticketview.PaymentSucceededKind
	case "failed":
		ev.Kind = ticketview.PaymentFailedKind
	default: // created, authorized: captured soon (payment_capture is on)
		ev.Kind = ticketview.PaymentPendingKind
	}
	return ev, nil
}

// verify reports whether sig is the hex HMAC-SHA256 of b with secret, in constant time.
// (razorpay-go's utils package does the same, but compares in variable time and cannot
// be imported without testify.)
func verify(secret string, b []byte, sig string) bool {
	want, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(b)
	return hmac.Equal(m.Sum(nil), want)
}
