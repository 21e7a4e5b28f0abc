package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/internal/commerce"
	"github.com/ticketview/ticketview/internal/testutil"
	"github.com/ticketview/ticketview/internal/testutil/pgtest"
	"github.com/ticketview/ticketview/internal/testutil/smtptest"
	"github.com/ticketview/ticketview/payments/razorpay/razorpaytest"
	"github.com/ticketview/ticketview/persistence/postgres"
)

// TestPaymentsThroughKafka runs the production side: PostgreSQL, the outbox relayed to
// Kafka (an in-process broker), Razorpay (a server that answers like it, with signed
// webhooks), the analytics worker in the node and the notification worker on its own
// (cmd/worker's wiring), killed and restarted mid-stream. Every paid order ends confirmed
// with exactly one confirmation email, duplicate webhooks and callbacks change nothing,
// a failed payment can be retried, and the organizer's report counts every sale.
func TestPaymentsThroughKafka(t *testing.T) {
	ctx := context.Background()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	brokers := strings.Join(kc.ListenAddrs(), ",")
	rz := razorpaytest.NewServer("rzp_test_key", "key-secret", "hook-secret")
	defer rz.Close()
	pgURL := pgtest.URL(t)
	mail := smtptest.New(t)
	s := startShopWith(t, mail, "-postgres", pgURL, "-kafka", brokers, "-payments", "razorpay", "-razorpay-key-id", "rzp_test_key",
		"-razorpay-key-secret", "key-secret", "-razorpay-webhook-secret", "hook-secret", "-razorpay-url", rz.URL(),
		"-workers", "analytics,propagate")
	rz.SetWebhookURL(s.base + "/api/v1/payments/webhooks/razorpay")
	second := s.register("second@example.com", "customer-pass-2", "Second Buyer").as("second")

	// The notification worker, as cmd/worker runs it.
	db, err := postgres.Open(ctx, pgURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	settings := commerce.DefaultSettings()
	settings.Kafka, settings.Workers, settings.SMTPAddr, settings.SMTPFrom = kc.ListenAddrs(), []string{commerce.WorkerNotify}, mail.Addr(), "tickets@example.com"
	startWorker := func() *commerce.Workers {
		w, err := commerce.StartWorkers(ctx, settings, commerce.Deps{Orders: db, Events: db, Notifications: db, Analytics: db,
			Logger: zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}

	buyers := []caller{s.customer, second}
	emails := []string{s.email, "second@example.com"}
	var orders []ticketview.Order
	buy := func(i int) {
		t.Helper()
		c := buyers[i%2]
		seat := fmt.Sprintf("%c-%d", 'A'+i/5, i%5+1)
		h := s.hold(c, "stalls", []string{seat}, 0)
		o, r := s.checkout(c, "", h)
		if r.status != http.StatusCreated || o.Checkout["provider"] != "razorpay" || o.Checkout["key_id"] != "rzp_test_key" || o.ProviderOrderID == "" {
			t.Fatalf("checkout: %d %+v", r.status, o.Checkout)
		}
		if i == 0 { // a declined card first: the order stays payable
			if _, _, err := rz.Pay(o.ProviderOrderID, "card", false); err != nil {
				t.Fatal(err)
			}
			testutil.CheckFor(t, 10*time.Second, func() error {
				if got := s.order(c, o.ID); got.Status != ticketview.OrderPending || len(got.Payments) != 1 || got.Payments[0].Status != ticketview.PaymentFailed {
					return fmt.Errorf("after a declined card: %s %+v", got.Status, got.Payments)
				}
				return nil
			})
		}
		payID, sig, err := rz.Pay(o.ProviderOrderID, "upi", true)
		if err != nil {
			t.Fatal(err)
		}
		paid := s.waitOrder(c, o.ID, ticketview.OrderConfirmed)
		// The browser's callback and a redelivered webhook change nothing.
		var again ticketview.Order
		s.expect(c, "POST", "/api/v1/orders/"+o.ID+"/callback", map[string]string{"payment_id": payID, "signature": sig}, http.StatusOK, &again)
		s.expectErr(c, "POST", "/api/v1/orders/"+o.ID+"/callback", map[string]string{"payment_id": payID, "signature": "forged"}, http.StatusUnauthorized, ticketview.EUNAUTHORIZED)
		for _, id := range rz.EventIDs("payment.captured") {
			if err := rz.Resend(id); err != nil {
				t.Fatal(err)
			}
		}
		final := s.order(c, o.ID)
		if final.Status != ticketview.OrderConfirmed || len(final.Tickets) != 1 || final.Tickets[0].ID != paid.Tickets[0].ID || final.Version != paid.Version {
			t.Fatalf("order %s changed after duplicate notifications: %+v -> %+v", o.ID, paid, final)
		}
		orders = append(orders, final)
	}

	// With a real provider a customer cannot confirm a hold without paying.
	other := s.hold(second, "stalls", []string{"B-5"}, 0)
	s.expectErr(second, "POST", sectionPath(s.event, "stalls")+"/holds/"+other.Token+"/confirm", map[string]string{"payment_ref": "free"}, http.StatusForbidden, ticketview.EFORBIDDEN)
	s.expect(second, "DELETE", sectionPath(s.event, "stalls")+"/holds/"+other.Token, nil, http.StatusNoContent, nil)

	w := startWorker()
	buy(0)
	buy(1)
	buy(2)
	testutil.CheckFor(t, 30*time.Second, func() error {
		if n := len(mail.Messages()); n < 2 {
			return fmt.Errorf("%d emails", n)
		}
		return nil
	})
	w.Close() // killed mid-stream: what it had not committed comes again
	buy(3)
	buy(4)
	w = startWorker()
	defer w.Close()
	buy(5)
	// Exactly one confirmation per order, to its buyer.
	testutil.CheckFor(t, 30*time.Second, func() error {
		for i, o := range orders {
			n := 0
			for _, m := range mail.Messages() {
				text, _ := m.Part("text/plain")
				if strings.Contains(m.Subject(), "Your tickets") && strings.Contains(text, o.ID) {
					if len(m.To) != 1 || m.To[0] != emails[i%2] {
						return fmt.Errorf("order %s mailed to %v", o.ID, m.To)
					}
					n++
				}
			}
			if n != 1 {
				return fmt.Errorf("order %s: %d confirmation emails", o.ID, n)
			}
		}
		return nil
	})
	var revenue int64
	for _, o := range orders {
		revenue += o.Total.Amount
	}
	checkSalesReport(t, s, 6, 6, revenue, 0)
	if n := len(mail.Messages()); n != 6 {
		t.Fatalf("%d emails in all, want 6", n)
	}
}
