package razorpaytest

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Pay simulates the buyer paying orderID in Razorpay Checkout with method (card, upi,
// wallet, netbanking; card when empty): it records a captured payment (a failed one
// unless succeed), answers the signature Checkout hands the browser, and posts the
// payment.captured (or payment.failed) webhook, answering the receiver's refusal as an
// error (the payment stays recorded). A paid order can be paid again: a duplicate
// payment, as two Checkout tabs make.
func (s *Server) Pay(orderID, method string, succeed bool) (paymentID, signature string, err error) {
	paymentID, signature, send, err := s.PayLater(orderID, method, succeed)
	if err != nil {
		return "", "", err
	}
	return paymentID, signature, send()
}

// PayLater is Pay without the webhook: send posts it when the test chooses (a webhook
// that arrives after the callback, or never).
func (s *Server) PayLater(orderID, method string, succeed bool) (paymentID, signature string, send func() error, err error) {
	if method == "" {
		method = "card"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[orderID]
	if !ok {
		return "", "", nil, fmt.Errorf("razorpaytest: no order %q", orderID)
	}
	p := &paymentEntity{
		ID: "pay_" + randomID(), Entity: "payment", Amount: o.Amount, Currency: o.Currency,
		OrderID: o.ID, Method: method, Email: "buyer@example.com", Contact: "+919000090000",
		Notes: []any{}, CreatedAt: time.Now().Unix(),
	}
	switch method {
	case "card":
		p.CardID = ptr("card_" + randomID())
	case "upi":
		p.VPA = ptr("success@razorpay")
	case "wallet":
		p.Wallet = ptr("paytm")
	case "netbanking":
		p.Bank = ptr("HDFC")
	}
	o.Attempts++
	name := "payment.captured"
	if succeed {
		p.Status, p.Captured = "captured", true
		p.Fee, p.Tax = ptr(o.Amount*2/100), ptr(o.Amount*2/100*18/100)
		o.Status = "paid"
		o.AmountPaid += o.Amount
		o.AmountDue = max(0, o.Amount-o.AmountPaid)
	} else {
		name = "payment.failed"
		p.Status = "failed"
		p.ErrorCode, p.ErrorSource, p.ErrorStep = ptr("BAD_REQUEST_ERROR"), ptr("bank"), ptr("payment_authorization")
		p.ErrorDescription, p.ErrorReason = ptr("Your payment has been declined by your bank."), ptr("payment_declined")
		if o.Status == "created" {
			o.Status = "attempted"
		}
	}
	s.payments[p.ID] = p
	id, body := s.newEvent(name, []string{"payment"}, map[string]any{"payment": wrapped{*p}})
	return p.ID, s.CallbackSignature(orderID, p.ID), func() error { return s.post(id, body) }, nil
}

// SendEvent posts a webhook about a payment now and answers its event id: event is any
// of Razorpay's payment events ("payment.captured", "payment.authorized",
// "payment.failed") or "order.paid" (which also carries the order).
func (s *Server) SendEvent(event, paymentID string) (eventID string, err error) {
	s.mu.Lock()
	p, ok := s.payments[paymentID]
	if !ok {
		s.mu.Unlock()
		return "", fmt.Errorf("razorpaytest: no payment %q", paymentID)
	}
	contains, payload := []string{"payment"}, map[string]any{"payment": wrapped{*p}}
	if event == "order.paid" {
		contains = append(contains, "order")
		payload["order"] = wrapped{*s.orders[p.OrderID]}
	}
	id, body := s.newEvent(event, contains, payload)
	s.mu.Unlock()
	return id, s.post(id, body)
}

// Resend posts a webhook sent before again, as Razorpay does when it is not sure it was
// received: same body, same event id.
func (s *Server) Resend(eventID string) error {
	s.mu.Lock()
	body, ok := s.events[eventID]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("razorpaytest: no event %q", eventID)
	}
	return s.post(eventID, body)
}

// EventIDs answers the ids of the webhooks made for event ("refund.processed"...),
// oldest first.
func (s *Server) EventIDs(event string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.eventIDs[event])
}

// newEvent records a webhook and answers its id and body. s.mu is held.
func (s *Server) newEvent(name string, contains []string, payload map[string]any) (string, []byte) {
	id := "evt_" + randomID()
	body, err := json.Marshal(event{
		Entity: "event", AccountID: s.accountID, Event: name, Contains: contains,
		Payload: payload, CreatedAt: time.Now().Unix(),
	})
	if err != nil { // cannot happen: the entities are plain data
		panic(fmt.Sprintf("razorpaytest: encoding an event: %v", err))
	}
	s.events[id] = body
	s.eventIDs[name] = append(s.eventIDs[name], id)
	return id, body
}
