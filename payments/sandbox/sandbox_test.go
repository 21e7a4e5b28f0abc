package sandbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/internal/testutil"
)

var inr = func(amount int64) ticketview.Money { return ticketview.Money{Amount: amount, Currency: "INR"} }

// receiver is a webhook receiver that records what it accepts; it refuses the first
// failures deliveries.
type receiver struct {
	p        *Provider
	mu       sync.Mutex
	failures int
	calls    int
	got      []ticketview.PaymentEvent
	bodies   [][]byte
}

func (r *receiver) receive(ctx context.Context, body []byte, header func(string) string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.failures > 0 {
		r.failures--
		return errors.New("receiver down")
	}
	ev, err := r.p.ParseWebhook(ctx, body, header)
	if err != nil {
		return err
	}
	r.got = append(r.got, ev)
	r.bodies = append(r.bodies, body)
	return nil
}

// events answers the accepted webhooks' events.
func (r *receiver) events() []ticketview.PaymentEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ticketview.PaymentEvent(nil), r.got...)
}

// waitEvents waits until n webhooks were accepted and answers them.
func (r *receiver) waitEvents(t *testing.T, n int) []ticketview.PaymentEvent {
	t.Helper()
	testutil.CheckFor(t, 5*time.Second, func() error {
		if got := len(r.events()); got < n {
			return fmt.Errorf("%d webhooks received, want %d", got, n)
		}
		return nil
	})
	return r.events()
}

func newProvider(t *testing.T, cfg Config) (*Provider, *receiver) {
	t.Helper()
	if cfg.Secret == "" {
		cfg.Secret = "test-secret"
	}
	p := New(cfg)
	t.Cleanup(func() { p.Close() })
	r := &receiver{p: p}
	p.SetWebhook(r.receive)
	return p, r
}

func newOrder(t *testing.T, p *Provider, amount int64) ticketview.ProviderOrder {
	t.Helper()
	o, err := p.CreateOrder(context.Background(), "ord_1", inr(amount), map[string]string{"event": "e1"})
	if err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	return o
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := ticketview.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func TestCreateOrder(t *testing.T) {
	p, _ := newProvider(t, Config{})
	o := newOrder(t, p, 150000)
	if !strings.HasPrefix(o.ID, "sbx_order_") || o.Amount != inr(150000) {
		t.Fatalf("order %+v", o)
	}
	c := o.Checkout
	if c["provider"] != "sandbox" || c["order_id"] != o.ID || c["amount"] != "150000" || c["currency"] != "INR" ||
		!strings.HasPrefix(c["instruments"], "card_success,card_declined,card_late,") {
		t.Fatalf("checkout %v", c)
	}
	if p.Name() != "sandbox" {
		t.Fatalf("name %q", p.Name())
	}
	for _, bad := range []struct {
		receipt string
		amount  ticketview.Money
	}{{"", inr(100)}, {"r", inr(0)}, {"r", inr(-5)}, {"r", ticketview.Money{Amount: 100}}} {
		_, err := p.CreateOrder(context.Background(), bad.receipt, bad.amount, nil)
		wantCode(t, err, ticketview.EINVALID)
	}
}

func TestPayInstruments(t *testing.T) {
	ctx := context.Background()
	for _, in := range Instruments() {
		t.Run(in.Name, func(t *testing.T) {
			p, r := newProvider(t, Config{})
			o := newOrder(t, p, 50000)
			ev, err := p.Pay(ctx, o.ID, in.Name)
			if err != nil {
				t.Fatalf("Pay: %v", err)
			}
			if !strings.HasPrefix(ev.PaymentID, "sbx_pay_") || ev.ProviderOrderID != o.ID || ev.Receipt != "ord_1" ||
				ev.Amount != inr(50000) || ev.Method != in.Method {
				t.Fatalf("event %+v", ev)
			}
			var want ticketview.PaymentEventKind
			var wantEvent string
			switch in.Outcome {
			case Success:
				want, wantEvent = ticketview.PaymentSucceededKind, EventPaymentCaptured
				if ev.ID != ev.PaymentID+":captured" {
					t.Fatalf("id %q", ev.ID)
				}
			case Failure:
				want, wantEvent = ticketview.PaymentFailedKind, EventPaymentFailed
				if ev.Reason == "" || ev.ID != ev.PaymentID+":failed" {
					t.Fatalf("failure %+v", ev)
				}
			case Late:
				want, wantEvent = ticketview.PaymentPendingKind, EventPaymentCaptured
				if n := p.DeliverLateNow(); n != 1 {
					t.Fatalf("DeliverLateNow fired %d payments", n)
				}
			}
			if ev.Kind != want {
				t.Fatalf("kind %q, want %q", ev.Kind, want)
			}
			// Every outcome is also a webhook.
			got := r.waitEvents(t, 1)[0]
			if !strings.HasPrefix(got.ID, "sbx_evt_") || got.PaymentID != ev.PaymentID || got.Amount != inr(50000) ||
				got.Method != in.Method || got.Reason != ev.Reason || got.Receipt != "ord_1" {
				t.Fatalf("webhook event %+v", got)
			}
			if wantKind := map[string]ticketview.PaymentEventKind{EventPaymentCaptured: ticketview.PaymentSucceededKind, EventPaymentFailed: ticketview.PaymentFailedKind}[wantEvent]; got.Kind != wantKind {
				t.Fatalf("webhook kind %q, want %q", got.Kind, wantKind)
			}
		})
	}
}

func TestPayErrors(t *testing.T) {
	ctx := context.Background()
	p, _ := newProvider(t, Config{})
	o := newOrder(t, p, 1000)

	_, err := p.Pay(ctx, o.ID, "bitcoin")
	wantCode(t, err, ticketview.EINVALID)
	if !strings.Contains(err.Error(), "card_success") || !strings.Contains(err.Error(), "failure@sandbox") {
		t.Fatalf("error does not list the instruments: %v", err)
	}
	_, err = p.Pay(ctx, "sbx_order_nope", "card_success")
	wantCode(t, err, ticketview.ENOTFOUND)

	// A failed payment leaves the order payable; a successful one closes it.
	if ev, err := p.Pay(ctx, o.ID, "4000 0000 0000 0002"); err != nil || ev.Kind != ticketview.PaymentFailedKind {
		t.Fatalf("declined card: %+v %v", ev, err)
	}
	if ev, err := p.Pay(ctx, o.ID, "Success@Sandbox"); err != nil || ev.Kind != ticketview.PaymentSucceededKind || ev.Method != "upi" {
		t.Fatalf("upi: %+v %v", ev, err)
	}
	_, err = p.Pay(ctx, o.ID, "card_success")
	wantCode(t, err, ticketview.ECONFLICT)

	// A pending late payment blocks another until it lands.
	o2 := newOrder(t, p, 1000)
	if _, err := p.Pay(ctx, o2.ID, "upi_late"); err != nil {
		t.Fatal(err)
	}
	_, err = p.Pay(ctx, o2.ID, "card_success")
	wantCode(t, err, ticketview.ECONFLICT)

	p.Close()
	_, err = p.Pay(ctx, o2.ID, "card_success")
	wantCode(t, err, ticketview.EUNAVAILABLE)
}

func TestLateAfter(t *testing.T) {
	ctx := context.Background()
	p, r := newProvider(t, Config{LateAfter: 20 * time.Millisecond})
	o := newOrder(t, p, 2500)
	ev, err := p.Pay(ctx, o.ID, "4000000000000259")
	if err != nil || ev.Kind != ticketview.PaymentPendingKind {
		t.Fatalf("late card: %+v %v", ev, err)
	}
	got := r.waitEvents(t, 1)[0]
	if got.Kind != ticketview.PaymentSucceededKind || got.PaymentID != ev.PaymentID || got.Amount != inr(2500) {
		t.Fatalf("late webhook %+v", got)
	}
	// The callback now proves a captured payment; nothing is left to fire.
	cb, err := p.VerifyCallback(ctx, ticketview.PaymentCallback{ProviderOrderID: o.ID, PaymentID: ev.PaymentID, Signature: p.CallbackSignature(o.ID, ev.PaymentID)})
	if err != nil || cb.Kind != ticketview.PaymentSucceededKind || cb.ID != ev.PaymentID+":captured" {
		t.Fatalf("callback %+v %v", cb, err)
	}
	if n := p.DeliverLateNow(); n != 0 {
		t.Fatalf("DeliverLateNow fired %d", n)
	}
	_, err = p.Pay(ctx, o.ID, "card_success")
	wantCode(t, err, ticketview.ECONFLICT)
}

func TestCloseStopsLatePayments(t *testing.T) {
	p, r := newProvider(t, Config{LateAfter: time.Hour})
	o := newOrder(t, p, 2500)
	if _, err := p.Pay(context.Background(), o.ID, "card_late"); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if n := p.DeliverLateNow(); n != 0 || len(r.events()) != 0 {
		t.Fatalf("closed provider delivered %d", n)
	}
	if _, err := p.Pay(context.Background(), o.ID, "card_success"); ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		t.Fatalf("Pay after Close: %v", err)
	}
}

func TestVerifyCallback(t *testing.T) {
	ctx := context.Background()
	p, _ := newProvider(t, Config{})
	o := newOrder(t, p, 1000)
	ev, err := p.Pay(ctx, o.ID, "wallet_failure")
	if err != nil {
		t.Fatal(err)
	}
	cb := ticketview.PaymentCallback{ProviderOrderID: o.ID, PaymentID: ev.PaymentID, Signature: p.CallbackSignature(o.ID, ev.PaymentID)}
	got, err := p.VerifyCallback(ctx, cb)
	if err != nil || got != ev {
		t.Fatalf("callback %+v %v, want %+v", got, err, ev)
	}

	forged := cb
	forged.Signature = New(Config{Secret: "other"}).CallbackSignature(o.ID, ev.PaymentID)
	_, err = p.VerifyCallback(ctx, forged)
	wantCode(t, err, ticketview.EUNAUTHORIZED)
	forged.Signature = "zz"
	_, err = p.VerifyCallback(ctx, forged)
	wantCode(t, err, ticketview.EUNAUTHORIZED)

	_, err = p.VerifyCallback(ctx, ticketview.PaymentCallback{ProviderOrderID: o.ID})
	wantCode(t, err, ticketview.EINVALID)
	_, err = p.VerifyCallback(ctx, ticketview.PaymentCallback{ProviderOrderID: o.ID, PaymentID: "sbx_pay_x", Signature: p.CallbackSignature(o.ID, "sbx_pay_x")})
	wantCode(t, err, ticketview.ENOTFOUND)
}

func TestWebhookSignature(t *testing.T) {
	ctx := context.Background()
	p, r := newProvider(t, Config{})
	o := newOrder(t, p, 1000)
	if _, err := p.Pay(ctx, o.ID, "card_success"); err != nil {
		t.Fatal(err)
	}
	r.waitEvents(t, 1)
	r.mu.Lock()
	body := r.bodies[0]
	r.mu.Unlock()
	header := func(name string) string {
		if name == SignatureHeader {
			return p.sign(body)
		}
		return ""
	}
	if ev, err := p.ParseWebhook(ctx, body, header); err != nil || ev.Kind != ticketview.PaymentSucceededKind {
		t.Fatalf("genuine webhook: %+v %v", ev, err)
	}

	tampered := []byte(strings.Replace(string(body), `"amount":1000`, `"amount":1`, 1))
	if string(tampered) == string(body) {
		t.Fatal("tampering did not change the body")
	}
	_, err := p.ParseWebhook(ctx, tampered, header)
	wantCode(t, err, ticketview.EUNAUTHORIZED)
	_, err = p.ParseWebhook(ctx, body, func(string) string { return "" })
	wantCode(t, err, ticketview.EUNAUTHORIZED)
	_, err = p.ParseWebhook(ctx, body, nil)
	wantCode(t, err, ticketview.EUNAUTHORIZED)

	// A signed body that is not JSON is invalid; an unknown event is of no interest.
	junk := []byte("not json")
	_, err = p.ParseWebhook(ctx, junk, func(string) string { return p.sign(junk) })
	wantCode(t, err, ticketview.EINVALID)
	other := []byte(`{"id":"sbx_evt_1","event":"payment.authorized"}`)
	if ev, err := p.ParseWebhook(ctx, other, func(string) string { return p.sign(other) }); err != nil || ev.Kind != "" || ev.ID != "sbx_evt_1" {
		t.Fatalf("unknown event: %+v %v", ev, err)
	}
}

func TestDuplicateWebhooks(t *testing.T) {
	ctx := context.Background()
	p, r := newProvider(t, Config{DuplicateWebhooks: true})
	o := newOrder(t, p, 1000)
	if _, err := p.Pay(ctx, o.ID, "upi_success"); err != nil {
		t.Fatal(err)
	}
	got := r.waitEvents(t, 2)
	if len(got) != 2 || got[0] != got[1] {
		t.Fatalf("want the same event twice, got %+v", got)
	}
}

func TestWebhookRetry(t *testing.T) {
	ctx := context.Background()
	p, r := newProvider(t, Config{RetryAfter: 5 * time.Millisecond})
	r.failures = 3
	o := newOrder(t, p, 1000)
	ev, err := p.Pay(ctx, o.ID, "card_declined")
	if err != nil {
		t.Fatal(err)
	}
	got := r.waitEvents(t, 1)
	r.mu.Lock()
	calls := r.calls
	r.mu.Unlock()
	if calls != 4 || len(got) != 1 || got[0].PaymentID != ev.PaymentID || got[0].Kind != ticketview.PaymentFailedKind {
		t.Fatalf("after %d calls got %+v", calls, got)
	}
}

func TestCloseStopsRetries(t *testing.T) {
	p, r := newProvider(t, Config{RetryAfter: time.Hour})
	r.failures = 1
	o := newOrder(t, p, 1000)
	if _, err := p.Pay(context.Background(), o.ID, "card_success"); err != nil {
		t.Fatal(err)
	}
	testutil.CheckFor(t, 5*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.calls == 0 {
			return errors.New("webhook not tried yet")
		}
		return nil
	})
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop the retrying delivery")
	}
	if n := len(r.events()); n != 0 {
		t.Fatalf("%d webhooks accepted", n)
	}
}

func TestRefund(t *testing.T) {
	ctx := context.Background()
	p, r := newProvider(t, Config{})
	o := newOrder(t, p, 1000)
	ev, err := p.Pay(ctx, o.ID, "card_success")
	if err != nil {
		t.Fatal(err)
	}

	r1, err := p.Refund(ctx, ev.PaymentID, inr(400), "rf_1")
	if err != nil || !strings.HasPrefix(r1.ID, "sbx_rfnd_") || r1.Status != "processed" || r1.Amount != inr(400) {
		t.Fatalf("refund %+v %v", r1, err)
	}
	again, err := p.Refund(ctx, ev.PaymentID, inr(400), "rf_1")
	if err != nil || again != r1 {
		t.Fatalf("same key: %+v %v, want %+v", again, err, r1)
	}
	_, err = p.Refund(ctx, ev.PaymentID, inr(500), "rf_1")
	wantCode(t, err, ticketview.ECONFLICT)

	_, err = p.Refund(ctx, ev.PaymentID, inr(601), "rf_2") // 600 left
	wantCode(t, err, ticketview.EINVALID)
	_, err = p.Refund(ctx, ev.PaymentID, inr(0), "rf_2")
	wantCode(t, err, ticketview.EINVALID)
	_, err = p.Refund(ctx, ev.PaymentID, ticketview.Money{Amount: 100, Currency: "USD"}, "rf_2")
	wantCode(t, err, ticketview.EINVALID)
	_, err = p.Refund(ctx, "sbx_pay_nope", inr(100), "rf_2")
	wantCode(t, err, ticketview.ENOTFOUND)
	_, err = p.Refund(ctx, ev.PaymentID, inr(100), "")
	wantCode(t, err, ticketview.EINVALID)
	r2, err := p.Refund(ctx, ev.PaymentID, inr(600), "rf_2")
	if err != nil || r2.ID == r1.ID {
		t.Fatalf("rest: %+v %v", r2, err)
	}
	_, err = p.Refund(ctx, ev.PaymentID, inr(1), "rf_3")
	wantCode(t, err, ticketview.EINVALID)

	// A failed payment cannot be refunded.
	o2 := newOrder(t, p, 1000)
	failed, _ := p.Pay(ctx, o2.ID, "card_declined")
	_, err = p.Refund(ctx, failed.PaymentID, inr(100), "rf_4")
	wantCode(t, err, ticketview.EINVALID)

	// Webhooks: the capture, two refunds, the failure.
	refunds := map[string]ticketview.PaymentEvent{}
	testutil.CheckFor(t, 5*time.Second, func() error {
		for _, e := range r.events() {
			if e.Kind == ticketview.RefundProcessedKind {
				refunds[e.RefundID] = e
			}
		}
		if len(refunds) != 2 {
			return fmt.Errorf("%d refund webhooks", len(refunds))
		}
		return nil
	})
	if e := refunds[r1.ID]; e.PaymentID != ev.PaymentID || e.Amount != inr(400) || e.ProviderOrderID != o.ID {
		t.Fatalf("refund webhook %+v", e)
	}
}

func TestConcurrentPay(t *testing.T) {
	ctx := context.Background()
	p, r := newProvider(t, Config{})
	o := newOrder(t, p, 1000)
	const n = 16
	var wg sync.WaitGroup
	results := make([]error, n)
	events := make([]ticketview.PaymentEvent, n)
	for i := range n {
		wg.Go(func() { events[i], results[i] = p.Pay(ctx, o.ID, "card_success") })
	}
	wg.Wait()
	ok := 0
	for i, err := range results {
		switch {
		case err == nil && events[i].Kind == ticketview.PaymentSucceededKind:
			ok++
		case ticketview.ErrorCode(err) != ticketview.ECONFLICT:
			t.Fatalf("Pay %d: %+v %v", i, events[i], err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d payments succeeded, want 1", ok)
	}
	r.waitEvents(t, 1)
}
