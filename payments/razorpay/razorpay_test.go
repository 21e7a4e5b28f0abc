package razorpay_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/internal/testutil"
	"github.com/ticketview/ticketview/payments/razorpay"
	"github.com/ticketview/ticketview/payments/razorpay/razorpaytest"
)

const (
	keyID         = "rzp_test_key"
	keySecret     = "key-secret"
	webhookSecret = "webhook-secret"
)

func inr(amount int64) ticketview.Money { return ticketview.Money{Amount: amount, Currency: "INR"} }

// setup starts a fake Razorpay and a provider talking to it.
func setup(t *testing.T) (*razorpay.Provider, *razorpaytest.Server) {
	t.Helper()
	srv := razorpaytest.NewServer(keyID, keySecret, webhookSecret)
	t.Cleanup(srv.Close)
	p, err := razorpay.New(razorpay.Config{KeyID: keyID, KeySecret: keySecret, WebhookSecret: webhookSecret, BaseURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	return p, srv
}

func createOrder(t *testing.T, p *razorpay.Provider, amount int64) ticketview.ProviderOrder {
	t.Helper()
	o, err := p.CreateOrder(context.Background(), "ord_42", inr(amount), map[string]string{"event": "e1"})
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

// receiver is the webhook endpoint: it parses webhooks with the provider and records
// them, answering 401 to those it refuses.
type receiver struct {
	p   *razorpay.Provider
	mu  sync.Mutex
	got []ticketview.PaymentEvent
}

func newReceiver(t *testing.T, p *razorpay.Provider, srv *razorpaytest.Server) *receiver {
	r := &receiver{p: p}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		ev, err := p.ParseWebhook(req.Context(), body, req.Header.Get)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, ev)
		r.mu.Unlock()
	}))
	t.Cleanup(hs.Close)
	srv.SetWebhookURL(hs.URL)
	return r
}

func (r *receiver) events() []ticketview.PaymentEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ticketview.PaymentEvent(nil), r.got...)
}

func TestNewConfig(t *testing.T) {
	for _, cfg := range []razorpay.Config{
		{KeySecret: "s", WebhookSecret: "w"},
		{KeyID: "k", WebhookSecret: "w"},
		{KeyID: "k", KeySecret: "s"},
	} {
		_, err := razorpay.New(cfg)
		wantCode(t, err, ticketview.EINVALID)
	}
}

func TestCreateOrder(t *testing.T) {
	p, srv := setup(t)
	o := createOrder(t, p, 129900)
	if !strings.HasPrefix(o.ID, "order_") || o.Amount != inr(129900) {
		t.Fatalf("order %+v", o)
	}
	want := map[string]string{"provider": "razorpay", "key_id": keyID, "order_id": o.ID, "amount": "129900", "currency": "INR"}
	if fmt.Sprint(o.Checkout) != fmt.Sprint(want) {
		t.Fatalf("checkout %v, want %v", o.Checkout, want)
	}
	if p.Name() != "razorpay" {
		t.Fatalf("name %q", p.Name())
	}
	// Bad input is refused before calling Razorpay; Razorpay's own refusals are EINVALID.
	ctx := context.Background()
	for _, bad := range []struct {
		receipt string
		amount  ticketview.Money
	}{{"", inr(100)}, {strings.Repeat("r", 41), inr(100)}, {"r", inr(0)}, {"r", ticketview.Money{Amount: 100}}} {
		_, err := p.CreateOrder(ctx, bad.receipt, bad.amount, nil)
		wantCode(t, err, ticketview.EINVALID)
	}
	if n := srv.Requests()["POST /v1/orders"]; n != 1 {
		t.Fatalf("%d order requests", n)
	}
	_, err := p.CreateOrder(ctx, "r", inr(50), nil) // below Razorpay's minimum
	wantCode(t, err, ticketview.EINVALID)
	if !strings.Contains(err.Error(), "atleast INR 1.00") {
		t.Fatalf("Razorpay's description lost: %v", err)
	}
}

func TestVerifyCallback(t *testing.T) {
	ctx := context.Background()
	p, srv := setup(t)
	o := createOrder(t, p, 50000)

	payID, sig, err := srv.Pay(o.ID, "upi", true)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := p.VerifyCallback(ctx, ticketview.PaymentCallback{ProviderOrderID: o.ID, PaymentID: payID, Signature: sig})
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != payID+":captured" || ev.Kind != ticketview.PaymentSucceededKind || ev.PaymentID != payID ||
		ev.ProviderOrderID != o.ID || ev.Amount != inr(50000) || ev.Method != "upi" {
		t.Fatalf("event %+v", ev)
	}

	failedID, failedSig, err := srv.Pay(o.ID, "card", false)
	if err != nil {
		t.Fatal(err)
	}
	ev, err = p.VerifyCallback(ctx, ticketview.PaymentCallback{ProviderOrderID: o.ID, PaymentID: failedID, Signature: failedSig})
	if err != nil || ev.Kind != ticketview.PaymentFailedKind || ev.Reason == "" || ev.ID != failedID+":failed" {
		t.Fatalf("failed payment: %+v %v", ev, err)
	}

	// Forged: another order's id with this payment's signature, a garbled signature.
	o2 := createOrder(t, p, 50000)
	_, err = p.VerifyCallback(ctx, ticketview.PaymentCallback{ProviderOrderID: o2.ID, PaymentID: payID, Signature: sig})
	wantCode(t, err, ticketview.EUNAUTHORIZED)
	_, err = p.VerifyCallback(ctx, ticketview.PaymentCallback{ProviderOrderID: o.ID, PaymentID: payID, Signature: strings.Repeat("0", 64)})
	wantCode(t, err, ticketview.EUNAUTHORIZED)
	_, err = p.VerifyCallback(ctx, ticketview.PaymentCallback{ProviderOrderID: o.ID, PaymentID: payID})
	wantCode(t, err, ticketview.EINVALID)
	// Signed, but no such payment.
	_, err = p.VerifyCallback(ctx, ticketview.PaymentCallback{ProviderOrderID: o.ID, PaymentID: "pay_nope", Signature: srv.CallbackSignature(o.ID, "pay_nope")})
	wantCode(t, err, ticketview.ENOTFOUND)
	if n := srv.Requests()["GET /v1/payments/{id}"]; n != 3 {
		t.Fatalf("%d payment fetches, want 3 (forged callbacks fetch nothing)", n)
	}
}

func TestWebhooks(t *testing.T) {
	ctx := context.Background()
	p, srv := setup(t)
	r := newReceiver(t, p, srv)
	o := createOrder(t, p, 75000)

	// The webhook arrives after the callback, when the test chooses.
	payID, _, send, err := srv.PayLater(o.ID, "wallet", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.events()) != 0 {
		t.Fatal("webhook sent early")
	}
	if err := send(); err != nil {
		t.Fatal(err)
	}
	got := r.events()
	if len(got) != 1 || !strings.HasPrefix(got[0].ID, "evt_") || got[0].Kind != ticketview.PaymentSucceededKind ||
		got[0].PaymentID != payID || got[0].ProviderOrderID != o.ID || got[0].Amount != inr(75000) ||
		got[0].Method != "wallet" || got[0].At.IsZero() {
		t.Fatalf("captured webhook %+v", got)
	}
	// A redelivery carries the same event id.
	if err := srv.Resend(got[0].ID); err != nil {
		t.Fatal(err)
	}
	if got := r.events(); len(got) != 2 || got[1] != got[0] {
		t.Fatalf("resent webhook %+v", got)
	}

	failedID, _, err := srv.Pay(o.ID, "card", false)
	if err != nil {
		t.Fatal(err)
	}
	if ev := r.events()[2]; ev.Kind != ticketview.PaymentFailedKind || ev.PaymentID != failedID || ev.Reason == "" {
		t.Fatalf("failed webhook %+v", ev)
	}

	// order.paid carries the receipt; events of no interest answer Kind "".
	if _, err := srv.SendEvent("order.paid", payID); err != nil {
		t.Fatal(err)
	}
	if ev := r.events()[3]; ev.Kind != ticketview.PaymentSucceededKind || ev.Receipt != "ord_42" || ev.PaymentID != payID {
		t.Fatalf("order.paid %+v", ev)
	}
	if _, err := srv.SendEvent("payment.authorized", payID); err != nil {
		t.Fatal(err)
	}
	if ev := r.events()[4]; ev.Kind != "" || ev.PaymentID != payID {
		t.Fatalf("payment.authorized %+v", ev)
	}

	// A refund is reported by refund.processed (sent in the background).
	rf, err := p.Refund(ctx, payID, inr(25000), "rf_1")
	if err != nil {
		t.Fatal(err)
	}
	testutil.CheckFor(t, 5*time.Second, func() error {
		for _, ev := range r.events() {
			if ev.Kind == ticketview.RefundProcessedKind {
				if ev.RefundID != rf.ID || ev.PaymentID != payID || ev.Amount != inr(25000) {
					return fmt.Errorf("refund webhook %+v", ev)
				}
				return nil
			}
		}
		return fmt.Errorf("no refund webhook")
	})
}

func TestWebhookForged(t *testing.T) {
	ctx := context.Background()
	p, srv := setup(t)
	o := createOrder(t, p, 1000)
	payID, _, _ := srv.Pay(o.ID, "card", true)
	body := []byte(`{"entity":"event","event":"payment.captured","payload":{"payment":{"entity":{"id":"` + payID + `","order_id":"` + o.ID + `","amount":1000,"currency":"INR","method":"card","notes":[]}}},"created_at":1700000000}`)
	headers := func(sig, id string) func(string) string {
		return func(name string) string {
			switch name {
			case razorpay.SignatureHeader:
				return sig
			case razorpay.EventIDHeader:
				return id
			}
			return ""
		}
	}
	ev, err := p.ParseWebhook(ctx, body, headers(srv.Sign(body), "evt_1"))
	if err != nil || ev.Kind != ticketview.PaymentSucceededKind || ev.ID != "evt_1" || ev.Amount != inr(1000) || ev.At.Unix() != 1700000000 {
		t.Fatalf("genuine: %+v %v", ev, err)
	}
	tampered := []byte(strings.Replace(string(body), `"amount":1000`, `"amount":1`, 1))
	_, err = p.ParseWebhook(ctx, tampered, headers(srv.Sign(body), "evt_1"))
	wantCode(t, err, ticketview.EUNAUTHORIZED)
	_, err = p.ParseWebhook(ctx, body, headers("", "evt_1"))
	wantCode(t, err, ticketview.EUNAUTHORIZED)
	other := razorpaytest.NewServer(keyID, keySecret, "another-secret")
	defer other.Close()
	_, err = p.ParseWebhook(ctx, body, headers(other.Sign(body), "evt_1"))
	wantCode(t, err, ticketview.EUNAUTHORIZED)
	_, err = p.ParseWebhook(ctx, body, headers(srv.Sign(body), ""))
	wantCode(t, err, ticketview.EINVALID)
	junk := []byte("{")
	_, err = p.ParseWebhook(ctx, junk, headers(srv.Sign(junk), "evt_2"))
	wantCode(t, err, ticketview.EINVALID)
}

func TestRefund(t *testing.T) {
	ctx := context.Background()
	p, srv := setup(t)
	o := createOrder(t, p, 10000)
	payID, _, err := srv.Pay(o.ID, "card", true)
	if err != nil {
		t.Fatal(err)
	}

	part, err := p.Refund(ctx, payID, inr(4000), "rf_a")
	if err != nil || !strings.HasPrefix(part.ID, "rfnd_") || part.Status != "processed" || part.Amount != inr(4000) {
		t.Fatalf("partial refund %+v %v", part, err)
	}
	again, err := p.Refund(ctx, payID, inr(4000), "rf_a")
	if err != nil || again != part {
		t.Fatalf("same key: %+v %v, want %+v", again, err, part)
	}
	if n := srv.Requests()["POST /v1/payments/{id}/refund"]; n != 1 {
		t.Fatalf("%d refund requests, want 1", n)
	}

	_, err = p.Refund(ctx, payID, inr(6001), "rf_b") // 6000 left
	wantCode(t, err, ticketview.EINVALID)
	if !strings.Contains(err.Error(), "greater than amount captured") {
		t.Fatalf("Razorpay's description lost: %v", err)
	}
	rest, err := p.Refund(ctx, payID, inr(6000), "rf_b")
	if err != nil || rest.ID == part.ID || rest.Amount != inr(6000) {
		t.Fatalf("rest: %+v %v", rest, err)
	}
	_, err = p.Refund(ctx, payID, inr(1), "rf_c")
	wantCode(t, err, ticketview.EINVALID)

	// A full refund in one go; an unknown payment; bad input.
	o2 := createOrder(t, p, 2000)
	pay2, _, _ := srv.Pay(o2.ID, "upi", true)
	if full, err := p.Refund(ctx, pay2, inr(2000), "rf_d"); err != nil || full.Amount != inr(2000) {
		t.Fatalf("full refund %+v %v", full, err)
	}
	_, err = p.Refund(ctx, "pay_nope", inr(100), "rf_e")
	wantCode(t, err, ticketview.ENOTFOUND)
	_, err = p.Refund(ctx, pay2, inr(0), "rf_f")
	wantCode(t, err, ticketview.EINVALID)
	_, err = p.Refund(ctx, pay2, inr(100), "")
	wantCode(t, err, ticketview.EINVALID)
}

// TestRefundKeyPaging finds a refund's key beyond the first page of a payment's refunds.
func TestRefundKeyPaging(t *testing.T) {
	ctx := context.Background()
	p, srv := setup(t)
	o := createOrder(t, p, 100000)
	payID, _, _ := srv.Pay(o.ID, "card", true)
	first, err := p.Refund(ctx, payID, inr(100), "rf_0")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 100; i++ {
		if _, err := p.Refund(ctx, payID, inr(100), fmt.Sprintf("rf_%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	again, err := p.Refund(ctx, payID, inr(100), "rf_0") // the oldest: on the second page
	if err != nil || again != first {
		t.Fatalf("%+v %v, want %+v", again, err, first)
	}
	if n := srv.Requests()["POST /v1/payments/{id}/refund"]; n != 101 {
		t.Fatalf("%d refunds made, want 101", n)
	}
}

func TestErrorMapping(t *testing.T) {
	ctx := context.Background()
	p, srv := setup(t)

	srv.FailNext(1, http.StatusInternalServerError)
	_, err := p.CreateOrder(ctx, "r", inr(1000), nil)
	wantCode(t, err, ticketview.EUNAVAILABLE)
	createOrder(t, p, 1000) // the next call works

	srv.FailNext(1, http.StatusBadGateway)
	_, err = p.Refund(ctx, "pay_x", inr(100), "k")
	wantCode(t, err, ticketview.EUNAVAILABLE)

	wrong, err := razorpay.New(razorpay.Config{KeyID: keyID, KeySecret: "wrong", WebhookSecret: webhookSecret, BaseURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrong.CreateOrder(ctx, "r", inr(1000), nil)
	wantCode(t, err, ticketview.EUNAVAILABLE)
	if !strings.Contains(err.Error(), "rejected our credentials") {
		t.Fatalf("401: %v", err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = p.CreateOrder(cancelled, "r", inr(1000), nil)
	wantCode(t, err, ticketview.EUNAVAILABLE)

	srv.Close()
	_, err = p.CreateOrder(ctx, "r", inr(1000), nil)
	wantCode(t, err, ticketview.EUNAVAILABLE)
}

// TestContextAndTimeout: a call ends with its context or the configured timeout, and the
// server sees the request cancelled.
func TestContextAndTimeout(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	cancelled := 0
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the server notices a closed connection once the body is read
		select {
		case <-r.Context().Done():
			mu.Lock()
			cancelled++
			mu.Unlock()
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)

	p, err := razorpay.New(razorpay.Config{KeyID: keyID, KeySecret: keySecret, WebhookSecret: webhookSecret, BaseURL: slow.URL, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = p.CreateOrder(ctx, "r", inr(1000), nil)
	wantCode(t, err, ticketview.EUNAVAILABLE)

	short, err := razorpay.New(razorpay.Config{KeyID: keyID, KeySecret: keySecret, WebhookSecret: webhookSecret, BaseURL: slow.URL, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = short.Refund(context.Background(), "pay_x", inr(100), "k")
	wantCode(t, err, ticketview.EUNAVAILABLE)

	testutil.CheckFor(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if cancelled != 2 {
			return fmt.Errorf("%d requests cancelled, want 2", cancelled)
		}
		return nil
	})
}
