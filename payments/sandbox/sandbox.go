// Package sandbox is the built-in development payment provider (the embedded default):
// an in-memory simulator of a Razorpay-like gateway. Buyers pay through the API with
// test instruments (ticketview.DirectPayer), callbacks and webhooks are signed with
// HMAC-SHA256 like Razorpay's, and every outcome is also delivered as a webhook, retried
// until the receiver takes it.
package sandbox

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
)

// Name is the provider's name, stored with each payment.
const Name = "sandbox"

// Defaults of Config.
const (
	DefaultLateAfter  = 2 * time.Minute
	DefaultRetryAfter = time.Second
	maxRetryAfter     = 30 * time.Second
)

// Config configures a sandbox provider.
type Config struct {
	// Secret signs callbacks and webhooks; a random one when empty (fine in one process).
	Secret string
	// LateAfter is how long a "late" instrument's payment stays pending (default 2m).
	LateAfter time.Duration
	// RetryAfter is the first wait before redelivering a refused webhook (default 1s); it
	// doubles on each failure up to 30s.
	RetryAfter time.Duration
	// Now is the clock of the events' timestamps (default time.Now).
	Now func() time.Time
	// Log reports webhook delivery failures (default: none).
	Log *zap.Logger
	// DuplicateWebhooks delivers every webhook twice, to exercise the receiver's
	// idempotency.
	DuplicateWebhooks bool
}

// WebhookFunc receives a webhook: its body and headers (what an HTTP handler would get).
// An error makes the sandbox deliver it again later.
type WebhookFunc func(ctx context.Context, body []byte, header func(string) string) error

// Provider is the sandbox payment provider. It is safe for concurrent use.
type Provider struct {
	cfg    Config
	secret []byte
	log    *zap.Logger

	mu       sync.Mutex
	orders   map[string]*order
	payments map[string]*payment
	refunds  map[string]*refund // by idempotency key
	late     map[string]*time.Timer
	webhook  WebhookFunc
	closed   bool

	ctx    context.Context // cancelled by Close: stops deliveries
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var (
	_ ticketview.PaymentProvider = (*Provider)(nil)
	_ ticketview.DirectPayer     = (*Provider)(nil)
)

// Payment statuses, as Razorpay names them.
const (
	statusPending  = "pending"
	statusCaptured = "captured"
	statusFailed   = "failed"
)

type order struct {
	id       string
	receipt  string
	amount   ticketview.Money
	notes    map[string]string
	paidBy   string // the captured payment
	inFlight string // a late payment not yet captured
}

type payment struct {
	id       string
	orderID  string
	amount   ticketview.Money
	method   string
	status   string
	reason   string
	refunded int64
	at       time.Time
}

type refund struct {
	id        string
	key       string
	paymentID string
	amount    ticketview.Money
}

// New returns a sandbox provider. Close it to stop its pending deliveries and timers.
func New(cfg Config) *Provider {
	if cfg.LateAfter <= 0 {
		cfg.LateAfter = DefaultLateAfter
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	secret := []byte(cfg.Secret)
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Provider{
		cfg:      cfg,
		secret:   secret,
		log:      log,
		orders:   make(map[string]*order),
		payments: make(map[string]*payment),
		refunds:  make(map[string]*refund),
		late:     make(map[string]*time.Timer),
		ctx:      ctx,
		cancel:   cancel,
	}
}

// Name answers "sandbox".
func (p *Provider) Name() string { return Name }

// SetWebhook sets the receiver of the sandbox's webhooks (the checkout service's webhook
// handler). Without one, webhooks are dropped.
func (p *Provider) SetWebhook(fn WebhookFunc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.webhook = fn
}

// Close stops pending webhook deliveries and late payments' timers, and waits for
// deliveries in progress to return. CreateOrder, Pay and Refund then answer EUNAVAILABLE.
func (p *Provider) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for id, t := range p.late {
		t.Stop()
		delete(p.late, id)
	}
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	return nil
}

// CallbackSignature is the signature of a payment callback: hex HMAC-SHA256 of
// providerOrderID + "|" + paymentID with the secret, as Razorpay signs its handler's
// answer. The sandbox's checkout page (and tests) post it to the callback endpoint.
func (p *Provider) CallbackSignature(providerOrderID, paymentID string) string {
	return p.sign([]byte(providerOrderID + "|" + paymentID))
}

// sign returns the hex HMAC-SHA256 of b with the secret.
func (p *Provider) sign(b []byte) string {
	m := hmac.New(sha256.New, p.secret)
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil))
}

// verify reports whether sig is the signature of b, in constant time.
func (p *Provider) verify(b []byte, sig string) bool {
	want, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, p.secret)
	m.Write(b)
	return hmac.Equal(m.Sum(nil), want)
}

// errClosed is answered by calls after Close.
func errClosed() error { return ticketview.Errorf(ticketview.EUNAVAILABLE, "sandbox: provider closed") }

// newID returns prefix followed by 16 random hex digits.
func newID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
