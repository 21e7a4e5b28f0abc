package razorpay

import (
	"context"

	ticketview "github.com/ticketview/ticketview"
)

// refundPage is how many refunds one list call asks for (Razorpay's maximum).
const refundPage = 100

// Refund gives amount of a payment back (normal speed). Razorpay takes no idempotency
// key, so key goes in the refund's receipt and notes, and a refund of the payment
// already carrying it is answered instead of refunding again. Two concurrent calls with
// one key may both refund: callers serialise the refunds of a payment. Over-refunds
// answer EINVALID (Razorpay's description), an unknown payment ENOTFOUND.
func (p *Provider) Refund(ctx context.Context, paymentID string, amount ticketview.Money, key string) (ticketview.ProviderRefund, error) {
	switch {
	case paymentID == "":
		return ticketview.ProviderRefund{}, ticketview.Errorf(ticketview.EINVALID, "razorpay: a refund needs a payment id")
	case key == "" || len(key) > 40:
		return ticketview.ProviderRefund{}, ticketview.Errorf(ticketview.EINVALID, "razorpay: a refund key of 1 to 40 characters is required, got %q", key)
	case amount.Amount <= 0:
		return ticketview.ProviderRefund{}, ticketview.Errorf(ticketview.EINVALID, "razorpay: refund amount must be positive, got %d", amount.Amount)
	}
	if r, err := p.findRefund(ctx, paymentID, key); err != nil || r != nil {
		if err != nil {
			return ticketview.ProviderRefund{}, err
		}
		return refundOf(r), nil
	}
	data := map[string]any{
		"speed":   "normal",
		"receipt": key,
		"notes":   map[string]any{"key": key},
	}
	var resp map[string]any
	err := p.call(ctx, "refunding payment "+paymentID, func(h map[string]string) (err error) {
		resp, err = p.client.Payment.Refund(paymentID, int(amount.Amount), data, h)
		return err
	})
	if err != nil {
		return ticketview.ProviderRefund{}, err
	}
	if str(resp, "id") == "" {
		return ticketview.ProviderRefund{}, ticketview.Errorf(ticketview.EUNAVAILABLE, "razorpay: refund of %s answered without an id", paymentID)
	}
	return refundOf(resp), nil
}

// findRefund answers the payment's refund made with key, nil if there is none.
func (p *Provider) findRefund(ctx context.Context, paymentID, key string) (map[string]any, error) {
	for skip := 0; ; skip += refundPage {
		var resp map[string]any
		err := p.call(ctx, "listing the refunds of payment "+paymentID, func(h map[string]string) (err error) {
			resp, err = p.client.Payment.FetchMultipleRefund(paymentID, map[string]any{"count": refundPage, "skip": skip}, h)
			return err
		})
		if err != nil {
			return nil, err
		}
		items, _ := resp["items"].([]any)
		for _, it := range items {
			r, _ := it.(map[string]any)
			if str(r, "receipt") == key || str(obj(r, "notes"), "key") == key {
				return r, nil
			}
		}
		if len(items) < refundPage {
			return nil, nil
		}
	}
}

// refundOf reads a refund entity.
func refundOf(r map[string]any) ticketview.ProviderRefund {
	return ticketview.ProviderRefund{
		ID:     str(r, "id"),
		Status: str(r, "status"),
		Amount: ticketview.Money{Amount: num(r, "amount"), Currency: str(r, "currency")},
	}
}
