package sandbox

import (
	"context"
	"maps"
	"strconv"
	"time"

	ticketview "github.com/ticketview/ticketview"
)

// CreateOrder records a provider order ("sbx_order_…") for amount. Its Checkout data
// lists the named test instruments.
func (p *Provider) CreateOrder(ctx context.Context, receipt string, amount ticketview.Money, notes map[string]string) (ticketview.ProviderOrder, error) {
	switch {
	case receipt == "":
		return ticketview.ProviderOrder{}, ticketview.Errorf(ticketview.EINVALID, "sandbox: an order needs a receipt")
	case amount.Amount <= 0:
		return ticketview.ProviderOrder{}, ticketview.Errorf(ticketview.EINVALID, "sandbox: order amount must be positive, got %d", amount.Amount)
	case amount.Currency == "":
		return ticketview.ProviderOrder{}, ticketview.Errorf(ticketview.EINVALID, "sandbox: order amount needs a currency")
	}
	o := &order{id: newID("sbx_order_"), receipt: receipt, amount: amount, notes: maps.Clone(notes)}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ticketview.ProviderOrder{}, errClosed()
	}
	p.orders[o.id] = o
	return ticketview.ProviderOrder{
		ID:     o.id,
		Amount: amount,
		Checkout: map[string]string{
			"provider":    Name,
			"order_id":    o.id,
			"amount":      strconv.FormatInt(amount.Amount, 10),
			"currency":    amount.Currency,
			"instruments": instrumentNames(),
		},
	}, nil
}

// Pay pays a provider order with a test instrument (see Instruments). It answers the
// outcome (succeeded or failed) at once, or a pending payment for a "late" instrument,
// captured after Config.LateAfter (or DeliverLateNow) and reported by webhook only. Every
// outcome is also delivered as a webhook. An order already paid, or with a late payment
// pending, answers ECONFLICT.
func (p *Provider) Pay(ctx context.Context, providerOrderID, instrument string) (ticketview.PaymentEvent, error) {
	in, ok := lookupInstrument(instrument)
	if !ok {
		return ticketview.PaymentEvent{}, ticketview.Errorf(ticketview.EINVALID,
			"sandbox: unknown instrument %q: use one of %s", instrument, allInstrumentNames())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ticketview.PaymentEvent{}, errClosed()
	}
	o := p.orders[providerOrderID]
	switch {
	case o == nil:
		return ticketview.PaymentEvent{}, ticketview.Errorf(ticketview.ENOTFOUND, "sandbox: no order %q", providerOrderID)
	case o.paidBy != "":
		return ticketview.PaymentEvent{}, ticketview.Errorf(ticketview.ECONFLICT, "sandbox: order %s is already paid (payment %s)", o.id, o.paidBy)
	case o.inFlight != "":
		return ticketview.PaymentEvent{}, ticketview.Errorf(ticketview.ECONFLICT, "sandbox: order %s has a payment in progress (%s)", o.id, o.inFlight)
	}
	pay := &payment{id: newID("sbx_pay_"), orderID: o.id, amount: o.amount, method: in.Method, at: p.cfg.Now()}
	p.payments[pay.id] = pay
	switch in.Outcome {
	case Success:
		pay.status = statusCaptured
		o.paidBy = pay.id
		p.enqueue(p.paymentWebhook(pay, o))
	case Failure:
		pay.status, pay.reason = statusFailed, in.Reason
		p.enqueue(p.paymentWebhook(pay, o))
	case Late:
		pay.status = statusPending
		o.inFlight = pay.id
		id := pay.id
		p.late[id] = time.AfterFunc(p.cfg.LateAfter, func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.captureLate(id)
		})
	}
	return p.event(pay, o), nil
}

// DeliverLateNow captures every pending late payment now, as if LateAfter had passed,
// and answers how many there were. Tests use it instead of waiting.
func (p *Provider) DeliverLateNow() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for id, t := range p.late {
		t.Stop()
		if p.captureLate(id) {
			n++
		}
	}
	return n
}

// captureLate captures the pending late payment id and sends its webhook; false when it
// was captured already or the provider is closed. p.mu is held.
func (p *Provider) captureLate(id string) bool {
	if _, ok := p.late[id]; !ok || p.closed {
		return false
	}
	delete(p.late, id)
	pay := p.payments[id]
	o := p.orders[pay.orderID]
	pay.status, pay.at = statusCaptured, p.cfg.Now()
	o.inFlight, o.paidBy = "", id
	p.enqueue(p.paymentWebhook(pay, o))
	return true
}

// VerifyCallback checks a callback's signature (see CallbackSignature) and answers the
// payment's recorded outcome; its ID is the payment id and status ("sbx_pay_…:captured").
func (p *Provider) VerifyCallback(ctx context.Context, cb ticketview.PaymentCallback) (ticketview.PaymentEvent, error) {
	if cb.ProviderOrderID == "" || cb.PaymentID == "" || cb.Signature == "" {
		return ticketview.PaymentEvent{}, ticketview.Errorf(ticketview.EINVALID, "sandbox: a callback needs an order id, a payment id and a signature")
	}
	if !p.verify([]byte(cb.ProviderOrderID+"|"+cb.PaymentID), cb.Signature) {
		return ticketview.PaymentEvent{}, ticketview.Errorf(ticketview.EUNAUTHORIZED, "sandbox: callback signature does not match")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pay := p.payments[cb.PaymentID]
	if pay == nil || pay.orderID != cb.ProviderOrderID {
		return ticketview.PaymentEvent{}, ticketview.Errorf(ticketview.ENOTFOUND, "sandbox: no payment %q of order %q", cb.PaymentID, cb.ProviderOrderID)
	}
	return p.event(pay, p.orders[pay.orderID]), nil
}

// Refund gives amount of a captured payment back, at once ("processed"), and delivers a
// refund.processed webhook. The same key answers the same refund; a key reused for
// another payment or amount is ECONFLICT. amount must be positive and at most what is
// left of the payment (EINVALID).
func (p *Provider) Refund(ctx context.Context, paymentID string, amount ticketview.Money, key string) (ticketview.ProviderRefund, error) {
	if key == "" || paymentID == "" {
		return ticketview.ProviderRefund{}, ticketview.Errorf(ticketview.EINVALID, "sandbox: a refund needs a payment id and a key")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ticketview.ProviderRefund{}, errClosed()
	}
	if r := p.refunds[key]; r != nil {
		if r.paymentID != paymentID || r.amount.Amount != amount.Amount {
			return ticketview.ProviderRefund{}, ticketview.Errorf(ticketview.ECONFLICT,
				"sandbox: refund key %q was used for %s of payment %s", key, r.amount, r.paymentID)
		}
		return r.provider(), nil
	}
	if amount.Amount <= 0 {
		return ticketview.ProviderRefund{}, ticketview.Errorf(ticketview.EINVALID, "sandbox: refund amount must be positive, got %d", amount.Amount)
	}
	pay := p.payments[paymentID]
	if pay == nil {
		return ticketview.ProviderRefund{}, ticketview.Errorf(ticketview.ENOTFOUND, "sandbox: no payment %q", paymentID)
	}
	if err := pay.refundable(amount); err != nil {
		return ticketview.ProviderRefund{}, err
	}
	r := &refund{id: newID("sbx_rfnd_"), key: key, paymentID: paymentID, amount: ticketview.Money{Amount: amount.Amount, Currency: pay.amount.Currency}}
	pay.refunded += amount.Amount
	p.refunds[key] = r
	p.enqueue(p.refundWebhook(r, pay, p.orders[pay.orderID]))
	return r.provider(), nil
}

// refundable checks that amount can be refunded from the payment.
func (pay *payment) refundable(amount ticketview.Money) error {
	if pay.status != statusCaptured {
		return ticketview.Errorf(ticketview.EINVALID, "sandbox: payment %s is %s: only captured payments can be refunded", pay.id, pay.status)
	}
	if amount.Currency != "" && amount.Currency != pay.amount.Currency {
		return ticketview.Errorf(ticketview.EINVALID, "sandbox: refund in %s of a payment in %s", amount.Currency, pay.amount.Currency)
	}
	if left := pay.amount.Amount - pay.refunded; amount.Amount > left {
		return ticketview.Errorf(ticketview.EINVALID, "sandbox: refund of %d exceeds the %d left of payment %s", amount.Amount, left, pay.id)
	}
	return nil
}

// provider answers the refund as the checkout service sees it.
func (r *refund) provider() ticketview.ProviderRefund {
	return ticketview.ProviderRefund{ID: r.id, Status: "processed", Amount: r.amount}
}

// event answers a payment's state as a PaymentEvent identified by its id and status.
func (p *Provider) event(pay *payment, o *order) ticketview.PaymentEvent {
	return ticketview.PaymentEvent{
		ID:              pay.id + ":" + pay.status,
		Kind:            kindOf(pay.status),
		ProviderOrderID: pay.orderID,
		Receipt:         o.receipt,
		PaymentID:       pay.id,
		Amount:          pay.amount,
		Method:          pay.method,
		Reason:          pay.reason,
		At:              pay.at,
	}
}

// kindOf maps a payment status to the kind of event reporting it.
func kindOf(status string) ticketview.PaymentEventKind {
	switch status {
	case statusCaptured:
		return ticketview.PaymentSucceededKind
	case statusFailed:
		return ticketview.PaymentFailedKind
	default:
		return ticketview.PaymentPendingKind
	}
}
