package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api"
	"github.com/ticketview/ticketview/internal/testutil"
	"github.com/ticketview/ticketview/internal/testutil/smtptest"
	"github.com/ticketview/ticketview/workers/analytics"
)

// testClock is the wall clock moved forward by the test (hold expiry, payment windows).
type testClock struct{ off atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *testClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// shop is a node with an organizer's published event and a registered customer.
type shop struct {
	*e2eNode
	clock    *testClock
	mail     *smtptest.Server
	org      caller
	customer caller
	email    string
	event    string
}

func startShop(t *testing.T, args ...string) *shop {
	t.Helper()
	return startShopWith(t, smtptest.New(t), args...)
}

func startShopWith(t *testing.T, mail *smtptest.Server, args ...string) *shop {
	t.Helper()
	clock := &testClock{}
	// Limits off: the tests poll (the limits have their own end-to-end test).
	n := startE2ENode(t, func(m *Main) { m.Now = clock.Now }, append([]string{"-smtp", mail.Addr(), "-limits", "off"}, args...)...)
	admin := n.login(e2eAdminEmail, e2eAdminPassword).as("admin")
	org := n.createUser(admin, "org@example.com", "organizer-pass-1", "Org", ticketview.RoleOrganizer).as("organizer")
	ev := n.createEvent(org, "hall", "Pune", map[string]any{"name": "Checkout Night"})
	n.publish(org, ev.ID)
	email := "buyer@example.com"
	cust := n.register(email, "customer-pass-1", "Asha Buyer").as("customer")
	return &shop{e2eNode: n, clock: clock, mail: mail, org: org, customer: cust, email: email, event: ev.ID}
}

// hold holds seats (labels) or a GA quantity for c.
func (s *shop) hold(c caller, section string, seats []string, qty int) ticketview.Hold {
	s.t.Helper()
	body := map[string]any{"seats": seats}
	if qty > 0 {
		body = map[string]any{"quantity": qty}
	}
	var h ticketview.Hold
	s.expect(c, "POST", sectionPath(s.event, section)+"/holds", body, http.StatusCreated, &h)
	return h
}

func (s *shop) checkout(c caller, key string, holds ...ticketview.Hold) (ticketview.Order, response) {
	s.t.Helper()
	refs := make([]map[string]string, len(holds))
	for i, h := range holds {
		refs[i] = map[string]string{"section": h.Section, "token": h.Token}
	}
	if key != "" {
		c = c.with("Idempotency-Key", key)
	}
	var o ticketview.Order
	r := s.sendJSON(c, "POST", "/api/v1/orders", map[string]any{"event": s.event, "holds": refs}, &o)
	return o, r
}

// sendJSON sends and decodes a 2xx answer into out.
func (s *shop) sendJSON(c caller, method, path string, body, out any) response {
	s.t.Helper()
	r := s.send(c, method, path, body)
	if r.status/100 == 2 && out != nil {
		if err := decode(r.body, out); err != nil {
			s.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return r
}

func (s *shop) order(c caller, id string) ticketview.Order {
	s.t.Helper()
	var o ticketview.Order
	s.expect(c, "GET", "/api/v1/orders/"+id, nil, http.StatusOK, &o)
	return o
}

// waitOrder polls the order until it reaches status.
func (s *shop) waitOrder(c caller, id string, status ticketview.OrderStatus) ticketview.Order {
	s.t.Helper()
	var o ticketview.Order
	testutil.CheckFor(s.t, 15*time.Second, func() error {
		o = s.order(c, id)
		if o.Status != status {
			return fmt.Errorf("order %s is %s, want %s", id, o.Status, status)
		}
		return nil
	})
	return o
}

// mailsTo answers the messages sent to addr whose subject contains subject.
func (s *shop) mailsTo(addr, subject string) []smtptest.Message {
	var out []smtptest.Message
	for _, m := range s.mail.Messages() {
		if len(m.To) == 1 && m.To[0] == addr && strings.Contains(strings.ToLower(m.Subject()), strings.ToLower(subject)) {
			out = append(out, m)
		}
	}
	return out
}

// TestCheckoutJourney: holds in two sections become one order; a declined card is told
// (402) and the order stays payable; a good card confirms it with one signed ticket per
// seat; the confirmation email arrives once with every ticket; a partial refund frees the
// refunded section's places; the organizer's sales report shows the sale.
func TestCheckoutJourney(t *testing.T) {
	s := startShop(t)
	seats := s.hold(s.customer, "stalls", []string{"B-1", "B-2"}, 0)
	ga := s.hold(s.customer, "lawn", nil, 3)

	o, r := s.checkout(s.customer, "co-1", seats, ga)
	if r.status != http.StatusCreated || o.Status != ticketview.OrderPending || len(o.Items) != 2 || o.Total.Amount != 5*4000 {
		t.Fatalf("checkout: %d %+v", r.status, o)
	}
	if o.Checkout["provider"] != "sandbox" || o.ProviderOrderID == "" || o.PayBy.Before(s.clock.Now().Add(9*time.Minute)) {
		t.Fatalf("checkout details: %+v", o)
	}
	if again, r := s.checkout(s.customer, "co-1", seats, ga); r.status != http.StatusOK || again.ID != o.ID {
		t.Fatalf("idempotent checkout: %d %s, want 200 %s", r.status, again.ID, o.ID)
	}
	// The holds live for the payment window now.
	var h ticketview.Hold
	s.expect(s.customer, "GET", sectionPath(s.event, "stalls")+"/holds/"+seats.Token, nil, http.StatusOK, &h)
	if !h.ExpiresAt.After(o.PayBy) {
		t.Fatalf("hold expires %s, order pay by %s", h.ExpiresAt, o.PayBy)
	}

	s.expectErr(s.customer, "POST", "/api/v1/orders/"+o.ID+"/pay", map[string]string{"instrument": "card_declined"}, http.StatusPaymentRequired, ticketview.EPAYMENT)
	s.expectErr(s.customer, "POST", "/api/v1/orders/"+o.ID+"/pay", map[string]string{"instrument": "gold_bars"}, http.StatusBadRequest, ticketview.EINVALID)
	if got := s.order(s.customer, o.ID); got.Status != ticketview.OrderPending || len(got.Payments) != 1 || got.Payments[0].Status != ticketview.PaymentFailed {
		t.Fatalf("after a declined card: %+v", got)
	}
	var paid ticketview.Order
	s.expect(s.customer, "POST", "/api/v1/orders/"+o.ID+"/pay", map[string]string{"instrument": "card_success"}, http.StatusOK, &paid)
	if paid.Status != ticketview.OrderConfirmed || len(paid.Tickets) != 5 {
		t.Fatalf("paid order: %s with %d tickets", paid.Status, len(paid.Tickets))
	}
	s.expectErr(s.customer, "POST", "/api/v1/orders/"+o.ID+"/pay", map[string]string{"instrument": "card_success"}, http.StatusConflict, ticketview.ECONFLICT)

	// Tickets check offline with the public key.
	var key api.TicketKey
	s.expect(anonymous, "GET", "/api/v1/tickets/key", nil, http.StatusOK, &key)
	pub, err := base64.StdEncoding.DecodeString(key.Key)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		t.Fatalf("ticket key %+v: %v", key, err)
	}
	seen := map[string]bool{}
	for _, tk := range paid.Tickets {
		c, err := ticketview.VerifyTicket(pub, tk.QR)
		if err != nil || c.Ticket != tk.ID || c.Order != o.ID || c.Section != tk.Section || seen[tk.ID] {
			t.Fatalf("ticket %+v: claims %+v, %v", tk, c, err)
		}
		seen[tk.ID] = true
	}
	// Tampered: one character in the middle changed (a full 6 bits of base64: the last
	// character may carry unused bits, and a QR that ends in the replacement is unchanged).
	qr := []byte(paid.Tickets[0].QR)
	mid := len(qr) / 2
	if qr[mid] == 'A' {
		qr[mid] = 'B'
	} else {
		qr[mid] = 'A'
	}
	if _, err := ticketview.VerifyTicket(pub, string(qr)); err == nil {
		t.Fatal("a tampered ticket verified")
	}
	if st := seatStatuses(s.seatMap(s.event, "stalls")); st["B-1"] != ticketview.SeatSold || st["B-2"] != ticketview.SeatSold {
		t.Fatalf("seats after payment: B-1 %v B-2 %v", st["B-1"], st["B-2"])
	}

	// The confirmation email, once, with every ticket.
	testutil.CheckFor(t, 15*time.Second, func() error {
		if n := len(s.mailsTo(s.email, "your tickets for")); n != 1 {
			return fmt.Errorf("%d confirmation emails", n)
		}
		return nil
	})
	text, err := s.mailsTo(s.email, "your tickets for")[0].Part("text/plain")
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range paid.Tickets {
		if !strings.Contains(strings.ReplaceAll(text, "\r\n", ""), tk.QR) {
			t.Fatalf("the email lacks ticket %s's QR payload:\n%s", tk.ID, text)
		}
	}

	// Partial refund: the lawn places go back on sale, the stalls seats stay sold.
	var refunded ticketview.Order
	s.expect(s.customer, "POST", "/api/v1/orders/"+o.ID+"/refund", map[string]any{"sections": []string{"lawn"}}, http.StatusOK, &refunded)
	if refunded.Status != ticketview.OrderPartiallyRefunded || len(refunded.Refunds) != 1 || refunded.Refunds[0].Amount.Amount != 3*4000 {
		t.Fatalf("after the partial refund: %s %+v", refunded.Status, refunded.Refunds)
	}
	void := 0
	for _, tk := range refunded.Tickets {
		if tk.Void != (tk.Section == "lawn") {
			t.Fatalf("ticket %+v after refunding the lawn", tk)
		}
		if tk.Void {
			void++
		}
	}
	if void != 3 {
		t.Fatalf("%d void tickets, want 3", void)
	}
	if a := s.seatMap(s.event, "lawn"); a.Free != 50 || a.Sold != 0 {
		t.Fatalf("lawn after the refund: %d free, %d sold; want 50, 0", a.Free, a.Sold)
	}
	s.expectErr(s.customer, "POST", "/api/v1/orders/"+o.ID+"/refund", map[string]any{"sections": []string{"lawn"}}, http.StatusConflict, ticketview.ECONFLICT)
	testutil.CheckFor(t, 15*time.Second, func() error {
		if n := len(s.mailsTo(s.email, "refund of")); n != 1 {
			return fmt.Errorf("%d refund emails", n)
		}
		return nil
	})

	// Another customer sees none of it.
	stranger := s.register("stranger@example.com", "stranger-pass-1", "Stranger").as("stranger")
	s.expectErr(stranger, "GET", "/api/v1/orders/"+o.ID, nil, http.StatusNotFound, ticketview.ENOTFOUND)
	s.expectErr(stranger, "POST", "/api/v1/orders/"+o.ID+"/refund", nil, http.StatusNotFound, ticketview.ENOTFOUND)

	// The organizer's sales report shows the order, the seats and the refund.
	checkSalesReport(t, s, 1, 5, 5*4000, 3*4000)

	// Still exactly one confirmation email.
	if n := len(s.mailsTo(s.email, "your tickets for")); n != 1 {
		t.Fatalf("%d confirmation emails in the end", n)
	}
}

// TestLatePayment: a payment that arrives after the order's holds expired re-holds the
// same seats when they are still free (the order ends confirmed), and refunds in full
// when someone else took them (the order ends refunded and the buyer is told): never
// money taken and no ticket.
func TestLatePayment(t *testing.T) {
	s := startShop(t)
	ctx := context.Background()

	free := s.hold(s.customer, "stalls", []string{"A-1"}, 0)
	o1, _ := s.checkout(s.customer, "", free)
	var p1 ticketview.Order
	s.expect(s.customer, "POST", "/api/v1/orders/"+o1.ID+"/pay", map[string]string{"instrument": "upi_late"}, http.StatusOK, &p1)
	if p1.Status != ticketview.OrderPending || len(p1.Payments) != 1 || p1.Payments[0].Status != ticketview.PaymentPending {
		t.Fatalf("late payment started: %+v", p1)
	}
	taken := s.hold(s.customer, "stalls", []string{"A-2"}, 0)
	o2, _ := s.checkout(s.customer, "", taken)
	s.expect(s.customer, "POST", "/api/v1/orders/"+o2.ID+"/pay", map[string]string{"instrument": "card_late"}, http.StatusOK, nil)

	// The window and the holds pass; the sweeper expires both orders.
	s.clock.Advance(13 * time.Minute)
	if _, err := s.m.com.Checkout.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{o1.ID, o2.ID} {
		if o := s.order(s.customer, id); o.Status != ticketview.OrderExpired {
			t.Fatalf("order %s after its window: %s", id, o.Status)
		}
	}
	// A2 goes to someone else.
	s.hold(operator("rival"), "stalls", []string{"A-2"}, 0)

	s.m.com.Sandbox().DeliverLateNow()
	c1 := s.waitOrder(s.customer, o1.ID, ticketview.OrderConfirmed)
	if len(c1.Tickets) != 1 || c1.Tickets[0].Seat != "A-1" {
		t.Fatalf("re-held order: %+v", c1.Tickets)
	}
	c2 := s.waitOrder(s.customer, o2.ID, ticketview.OrderRefunded)
	if len(c2.Refunds) != 1 || c2.Refunds[0].Reason != ticketview.RefundSeatsGone || c2.Refunds[0].Amount != c2.Total || len(c2.Tickets) != 0 || c2.Note == "" {
		t.Fatalf("refunded order: %+v", c2)
	}
	st := seatStatuses(s.seatMap(s.event, "stalls"))
	if st["A-1"] != ticketview.SeatSold || st["A-2"] != ticketview.SeatHeld {
		t.Fatalf("A1 %v (want sold), A2 %v (want held by the rival)", st["A-1"], st["A-2"])
	}
	testutil.CheckFor(t, 15*time.Second, func() error {
		refunds := s.mailsTo(s.email, "refund of")
		if len(refunds) != 1 {
			return fmt.Errorf("%d refund emails", len(refunds))
		}
		text, _ := refunds[0].Part("text/plain")
		if !strings.Contains(text, "seats were taken") {
			return fmt.Errorf("the refund email does not say why:\n%s", text)
		}
		return nil
	})
}

// checkSalesReport polls the organizer's sales report of the shop's event until it shows
// the orders, seats, revenue and refunds.
func checkSalesReport(t *testing.T, s *shop, orders, seats, revenue, refunded int64) {
	t.Helper()
	testutil.CheckFor(t, 20*time.Second, func() error {
		var rep analytics.SalesReport
		s.expect(s.org, "GET", "/api/v1/organizer/reports/sales?event="+s.event, nil, http.StatusOK, &rep)
		if len(rep.Events) != 1 {
			return fmt.Errorf("report of %d events", len(rep.Events))
		}
		e := rep.Events[0]
		if e.Orders != orders || e.SeatsSold != seats || e.Revenue != revenue || e.RefundedAmount != refunded || e.Checkouts < orders {
			return fmt.Errorf("sales report %+v; want %d orders, %d seats, %d revenue, %d refunded", e, orders, seats, revenue, refunded)
		}
		return nil
	})
	r := s.send(s.org, "GET", "/api/v1/organizer/reports/sales?event="+s.event+"&format=csv", nil)
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") || !strings.Contains(string(r.body), s.event) {
		t.Fatalf("CSV report: %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
	}
}
