package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
)

// TestOrders checks a ticketview.OrderStore, and the ticketview.Outbox its writes fill,
// against the contract. open is called once per subtest and must return a store without
// orders and the outbox of the same database, without messages. The contract:
//
//   - CreateOrder validates (EINVALID: no id or buyer, an unknown status, keys that are
//     not UTF-8 without NUL, times outside the years 1678-2262) and stores the order with
//     Version 1; a taken id is ECONFLICT. An order of the same buyer with the same
//     IdemKey (not empty) is returned instead, with created false, and nothing is
//     written, also when the creates race: of 20 concurrent creates with one key, one
//     creates and the others return its order. FindOrder and FindOrderByProviderRef
//     return what was stored, IdemKey included, or ENOTFOUND (also for keys no order can
//     have).
//   - UpdateOrder calls fn on the stored order and saves the result with Version one
//     more; fn's error is returned unchanged and nothing is written (no message either);
//     a missing order is ENOTFOUND and fn is not called; a changed id or an invalid
//     result is EINVALID. Concurrent updates are not lost.
//   - CreateOrder and UpdateOrder write the messages the order recorded to the outbox, in
//     order, in the same transaction: PendingMessages shows them with topic
//     ticketview.TopicOrders, the order's id as key and an Envelope of the right type as
//     value, until MarkPublished.
//   - ListOrders filters by Buyer, Event and Status (exact; an unknown status or text
//     that is not UTF-8 without NUL is EINVALID), orders by CreatedAt, newest first, then
//     by id, pages by Offset and Limit (0 or less means 20, at most 100; a negative
//     offset is 0), and returns the number of matches before paging.
//   - DueOrders returns the pending orders whose PayBy is at or before now and the
//     expired orders that were paid, oldest PayBy first, at most limit.
func TestOrders(t *testing.T, open func(t *testing.T) (ticketview.OrderStore, ticketview.Outbox)) {
	t.Run("CreateFind", func(t *testing.T) { testCreateFindOrder(t, open) })
	t.Run("Idempotent", func(t *testing.T) { testIdempotentOrder(t, open) })
	t.Run("ConcurrentIdempotent", func(t *testing.T) { testConcurrentIdempotentOrder(t, open) })
	t.Run("ProviderRef", func(t *testing.T) { testOrderProviderRef(t, open) })
	t.Run("UpdateOrder", func(t *testing.T) { testUpdateOrder(t, open) })
	t.Run("UpdateAborts", func(t *testing.T) { testUpdateOrderAborts(t, open) })
	t.Run("ConcurrentUpdates", func(t *testing.T) { testConcurrentOrderUpdates(t, open) })
	t.Run("Messages", func(t *testing.T) { testOrderMessages(t, open) })
	t.Run("ListOrders", func(t *testing.T) { testListOrders(t, open) })
	t.Run("DueOrders", func(t *testing.T) { testDueOrders(t, open) })
	t.Run("Validation", func(t *testing.T) { testOrderValidation(t, open) })
}

// SampleHold returns a live hold of the buyer: two seats of the section at 4500 INR,
// placed at at and expiring 15 minutes later.
func SampleHold(token, buyer, event, section string, at time.Time) ticketview.Hold {
	return ticketview.Hold{
		Token: token, Owner: buyer, Event: event, Section: section,
		Items: []ticketview.HoldItem{
			{Seat: section + "-1", Category: "STD", Quantity: 1, UnitPrice: 4500},
			{Seat: section + "-2", Category: "STD", Quantity: 1, UnitPrice: 4500},
		},
		Quantity: 2, Total: ticketview.Money{Amount: 9000, Currency: "INR"},
		CreatedAt: at, ExpiresAt: at.Add(15 * time.Minute),
	}
}

// SampleOrder returns a new order (ticketview.NewOrder) of the buyer for holds in two
// sections of the event, created at at and payable for 10 minutes, with a contact.
func SampleOrder(t testing.TB, id, buyer, event string, at time.Time) *ticketview.Order {
	t.Helper()
	holds := []ticketview.Hold{
		SampleHold("tok-"+id+"-a", buyer, event, "A", at),
		SampleHold("tok-"+id+"-b", buyer, event, "B", at),
	}
	o, err := ticketview.NewOrder(id, buyer, holds, at.Add(10*time.Minute), at)
	if err != nil {
		t.Fatalf("NewOrder(%s): %v", id, err)
	}
	o.Contact = ticketview.Contact{Name: "Asha Rao", Email: buyer + "@example.com", Phone: "+91 98200 00000", City: "Pune"}
	return o
}

// samplePayment is a payment of the order's total by the sandbox.
func samplePayment(o *ticketview.Order, id string, at time.Time) ticketview.Payment {
	return ticketview.Payment{ID: id, Provider: "sandbox", Instrument: "card", Amount: o.Total, At: at}
}

// sameOrder fails unless got is want as the store keeps it: the same JSON (every field
// but IdemKey, Version included) and the same IdemKey.
func sameOrder(t *testing.T, what string, got, want *ticketview.Order) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil order", what)
	}
	g, err1 := json.Marshal(got)
	w, err2 := json.Marshal(want)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if string(g) != string(w) || got.IdemKey != want.IdemKey {
		t.Fatalf("%s: order differs:\n got  %s (idem key %q)\n want %s (idem key %q)", what, g, got.IdemKey, w, want.IdemKey)
	}
}

func mustCreateOrder(t *testing.T, st ticketview.OrderStore, o *ticketview.Order) *ticketview.Order {
	t.Helper()
	stored, created, err := st.CreateOrder(ctxFor(t), o)
	if err != nil || !created {
		t.Fatalf("CreateOrder(%s): created %v, %v", o.ID, created, err)
	}
	return stored
}

func mustFindOrder(t *testing.T, st ticketview.OrderStore, id string) *ticketview.Order {
	t.Helper()
	o, err := st.FindOrder(ctxFor(t), id)
	if err != nil {
		t.Fatalf("FindOrder(%s): %v", id, err)
	}
	return o
}

func mustUpdateOrder(t *testing.T, st ticketview.OrderStore, id string, fn func(*ticketview.Order) error) *ticketview.Order {
	t.Helper()
	o, err := st.UpdateOrder(ctxFor(t), id, fn)
	if err != nil {
		t.Fatalf("UpdateOrder(%s): %v", id, err)
	}
	return o
}

// pendingOf returns the pending messages of the key, in order (all of them when key is
// "").
func pendingOf(t *testing.T, ob ticketview.Outbox, key string) []ticketview.Message {
	t.Helper()
	msgs, err := ob.PendingMessages(ctxFor(t), 1000)
	if err != nil {
		t.Fatalf("PendingMessages: %v", err)
	}
	var out []ticketview.Message
	for i, m := range msgs {
		if i > 0 && m.Offset <= msgs[i-1].Offset {
			t.Fatalf("PendingMessages: offset %d after %d", m.Offset, msgs[i-1].Offset)
		}
		if key == "" || m.Key == key {
			out = append(out, m)
		}
	}
	return out
}

// orderEnvelope decodes an order message, checking its topic, key and envelope.
func orderEnvelope(t *testing.T, m ticketview.Message, key string) (ticketview.Envelope, ticketview.OrderData) {
	t.Helper()
	if m.Topic != ticketview.TopicOrders || m.Key != key {
		t.Fatalf("order message: topic %q key %q, want %q %q", m.Topic, m.Key, ticketview.TopicOrders, key)
	}
	env, err := ticketview.DecodeEnvelope(m.Value)
	if err != nil {
		t.Fatalf("order message %s: %v", m.Value, err)
	}
	var d ticketview.OrderData
	if err := json.Unmarshal(env.Data, &d); err != nil || d.Order == nil {
		t.Fatalf("order message data %s: %v", env.Data, err)
	}
	if env.Key != key || d.Order.ID != key {
		t.Fatalf("order message: envelope key %q, order %q; want %q", env.Key, d.Order.ID, key)
	}
	return env, d
}

// messageTypes are the envelope types of order messages of the key, in order.
func messageTypes(t *testing.T, msgs []ticketview.Message, key string) []string {
	t.Helper()
	var out []string
	for _, m := range msgs {
		env, _ := orderEnvelope(t, m, key)
		out = append(out, env.Type)
	}
	return out
}

func testCreateFindOrder(t *testing.T, open func(t *testing.T) (ticketview.OrderStore, ticketview.Outbox)) {
	st, ob := open(t)
	ctx := ctxFor(t)
	o := SampleOrder(t, "ord-1", "u-1", "gig-1", BaseTime)
	o.IdemKey = "checkout-1"
	stored, created, err := st.CreateOrder(ctx, o)
	if err != nil || !created {
		t.Fatalf("CreateOrder: created %v, %v", created, err)
	}
	if stored.Version != 1 || stored.ID != "ord-1" {
		t.Fatalf("created: version %d, id %q; want 1, ord-1", stored.Version, stored.ID)
	}
	want := SampleOrder(t, "ord-1", "u-1", "gig-1", BaseTime)
	want.IdemKey, want.Version = "checkout-1", 1
	sameOrder(t, "returned", stored, want)
	sameOrder(t, "found", mustFindOrder(t, st, "ord-1"), want)

	// A taken id, whatever the key: ECONFLICT, nothing written.
	dup := SampleOrder(t, "ord-1", "u-2", "gig-2", BaseTime.Add(time.Hour))
	dup.IdemKey = "other"
	_, _, err = st.CreateOrder(ctx, dup)
	wantCode(t, "taken id", err, ticketview.ECONFLICT)
	sameOrder(t, "after a refused duplicate", mustFindOrder(t, st, "ord-1"), want)
	if got := messageTypes(t, pendingOf(t, ob, ""), "ord-1"); !slices.Equal(got, []string{ticketview.MsgBookingCreated}) {
		t.Fatalf("outbox after create and a refused duplicate: %v, want one %s", got, ticketview.MsgBookingCreated)
	}

	for _, junk := range []string{"nobody", "", "a\x00b", "\xff\xfe"} {
		_, err := st.FindOrder(ctx, junk)
		wantCode(t, fmt.Sprintf("FindOrder(%q)", junk), err, ticketview.ENOTFOUND)
	}
}

func testIdempotentOrder(t *testing.T, open func(t *testing.T) (ticketview.OrderStore, ticketview.Outbox)) {
	st, ob := open(t)
	ctx := ctxFor(t)
	first := SampleOrder(t, "ord-1", "u-1", "gig-1", BaseTime)
	first.IdemKey = "k"
	mustCreateOrder(t, st, first)

	retry := SampleOrder(t, "ord-2", "u-1", "gig-1", BaseTime.Add(time.Second))
	retry.IdemKey = "k"
	got, created, err := st.CreateOrder(ctx, retry)
	if err != nil || created {
		t.Fatalf("CreateOrder with a used key: created %v, %v; want the first order", created, err)
	}
	sameOrder(t, "returned for a used key", got, first)
	_, err = st.FindOrder(ctx, "ord-2")
	wantCode(t, "the retry's own id", err, ticketview.ENOTFOUND)
	if n := len(pendingOf(t, ob, "")); n != 1 {
		t.Fatalf("%d messages after an idempotent retry, want 1", n)
	}

	// The key is the buyer's: another buyer's order with it is new; and orders without a
	// key never collide.
	other := SampleOrder(t, "ord-3", "u-2", "gig-1", BaseTime)
	other.IdemKey = "k"
	mustCreateOrder(t, st, other)
	mustCreateOrder(t, st, SampleOrder(t, "ord-4", "u-1", "gig-1", BaseTime))
	mustCreateOrder(t, st, SampleOrder(t, "ord-5", "u-1", "gig-1", BaseTime))
	if n := len(pendingOf(t, ob, "")); n != 4 {
		t.Fatalf("%d messages after 4 creates, want 4", n)
	}
}

func testConcurrentIdempotentOrder(t *testing.T, open func(t *testing.T) (ticketview.OrderStore, ticketview.Outbox)) {
	st, ob := open(t)
	ctx := ctxFor(t)
	const n = 20
	var wg sync.WaitGroup
	got := make([]*ticketview.Order, n)
	created := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := SampleOrder(t, fmt.Sprintf("ord-%02d", i), "u-1", "gig-1", BaseTime)
			o.IdemKey = "same-key"
			got[i], created[i], errs[i] = st.CreateOrder(ctx, o)
		}()
	}
	wg.Wait()
	winner := -1
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		if created[i] {
			if winner >= 0 {
				t.Fatalf("creates %d and %d both created an order with one key", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no create created the order")
	}
	id := fmt.Sprintf("ord-%02d", winner)
	for i := range n {
		if got[i].ID != id || got[i].Version != 1 || got[i].IdemKey != "same-key" {
			t.Fatalf("create %d returned order %s (version %d, key %q), want the winner %s", i, got[i].ID, got[i].Version, got[i].IdemKey, id)
		}
	}
	list, total, err := st.ListOrders(ctx, ticketview.OrderFilter{Buyer: "u-1"})
	if err != nil || total != 1 || len(list) != 1 || list[0].ID != id {
		t.Fatalf("ListOrders after racing creates: %d orders (total %d), %v; want only %s", len(list), total, err, id)
	}
	if msgs := pendingOf(t, ob, ""); len(msgs) != 1 || msgs[0].Key != id {
		t.Fatalf("outbox after racing creates: %d messages, want one of %s", len(msgs), id)
	}
}

func testOrderProviderRef(t *testing.T, open func(t *testing.T) (ticketview.OrderStore, ticketview.Outbox)) {
	st, _ := open(t)
	ctx := ctxFor(t)
	mustCreateOrder(t, st, SampleOrder(t, "ord-1", "u-1", "gig-1", BaseTime))
	mustCreateOrder(t, st, SampleOrder(t, "ord-2", "u-1", "gig-1", BaseTime))
	want := mustUpdateOrder(t, st, "ord-2", func(o *ticketview.Order) error {
		o.Provider, o.ProviderOrderID = "razorpay", "order_Ab12"
		o.Checkout = map[string]string{"key_id": "rzp_test_x", "order_id": "order_Ab12"}
		return nil
	})
	got, err := st.FindOrderByProviderRef(ctx, "razorpay", "order_Ab12")
	if err != nil {
		t.Fatalf("FindOrderByProviderRef: %v", err)
	}
	sameOrder(t, "found by provider reference", got, want)
	for _, k := range [][2]string{{"sandbox", "order_Ab12"}, {"razorpay", "order_ab12"}, {"razorpay", ""}, {"", ""}, {"razorpay", "\xff"}} {
		_, err := st.FindOrderByProviderRef(ctx, k[0], k[1])
		wantCode(t, fmt.Sprintf("FindOrderByProviderRef(%q, %q)", k[0], k[1]), err, ticketview.ENOTFOUND)
	}
}

func testUpdateOrder(t *testing.T, open func(t *testing.T) (ticketview.OrderStore, ticketview.Outbox)) {
	st, _ := open(t)
	ctx := ctxFor(t)
	o := SampleOrder(t, "ord-1", "u-1", "gig-1", BaseTime)
	o.IdemKey = "k"
	mustCreateOrder(t, st, o)

	at := BaseTime.Add(2 * time.Minute)
	want := mustFindOrder(t, st, "ord-1")
	want.PaymentSucceeded(samplePayment(want, "pay_1", at), at)
	if err := want.Confirm(map[string]string{"A": "bk-a", "B": "bk-b"}, nil, at); err != nil {
		t.Fatal(err)
	}
	want.TakeMessages()
	want.Version = 2

	got := mustUpdateOrder(t, st, "ord-1", func(o *ticketview.Order) error {
		if o.Version != 1 || o.IdemKey != "k" {
			return fmt.Errorf("fn got version %d, key %q; want 1, k", o.Version, o.IdemKey)
		}
		o.PaymentSucceeded(samplePayment(o, "pay_1", at), at)
		o.IdemKey = "changed" // the key stays as stored
		return o.Confirm(map[string]string{"A": "bk-a", "B": "bk-b"}, nil, at)
	})
	sameOrder(t, "returned by UpdateOrder", got, want)
	sameOrder(t, "found after UpdateOrder", mustFindOrder(t, st, "ord-1"), want)
	if got := mustUpdateOrder(t, st, "ord-1", func(*ticketview.Order) error { return nil }); got.Version != 3 {
		t.Fatalf("an update changing nothing: version %d, want 3", got.Version)
	}

	called := false
	_, err := st.UpdateOrder(ctx, "nobody", func(*ticketview.Order) error { called = true; return nil })
	wantCode(t, "update of a missing order", err, ticketview.ENOTFOUND)
	if called {
		t.Fatal("fn called for a missing order")
	}
	for _, junk := range []string{"", "a\x00b", "\xff"} {
		_, err := st.UpdateOrder(ctx, junk, func(*ticketview.Order) error { return nil })
		wantCode(t, fmt.Sprintf("UpdateOrder(%q)", junk), err, ticketview.ENOTFOUND)
	}
}

func testUpdateOrderAborts(t *testing.T, open func(t *testing.T) (ticketview.OrderStore, ticketview.Outbox)) {
	st, ob := open(t)
	ctx := ctxFor(t)
	want := mustCreateOrder(t, st, SampleOrder(t, "ord-1", "u-1", "gig-1", BaseTime))
	at := BaseTime.Add(time.Minute)
	_, err := st.UpdateOrder(ctx, "ord-1", func(o *ticketview.Order) error {
		o.PaymentSucceeded(samplePayment(o, "pay_1", at), at) // records a message
		return errBoom
	})
	if err != errBoom {
		t.Fatalf("UpdateOrder with a failing fn: %v, want fn's error unchanged", err)
	}
	for what, fn := range map[string]func(*ticketview.Order) error{
		"a changed id": func(o *ticketview.Order) error {
			o.ID = "ord-2"
			o.PaymentFailed(samplePayment(o, "p", at), at)
			return nil
		},
		"an unknown status": func(o *ticketview.Order) error {
			o.Status = "bogus"
			o.PaymentFailed(samplePayment(o, "p", at), at)
			return nil
		},
		"no buyer": func(o *ticketview.Order) error {
			o.Buyer = ""
			o.PaymentFailed(samplePayment(o, "p", at), at)
			return nil
		},
		"a time out of range": func(o *ticketview.Order) error { o.PayBy = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC); return nil },
	} {
		_, err := st.UpdateOrder(ctx, "ord-1", fn)
		wantCode(t, "UpdateOrder with "+what, err, ticketview.EINVALID)
	}
	sameOrder(t, "after refused updates", mustFindOrder(t, st, "ord-1"), want)
	if got := messageTypes(t, pendingOf(t, ob, ""), "ord-1"); !slices.Equal(got, []string{ticketview.MsgBookingCreated}) {
		t.Fatalf("outbox after refused updates: %v, want only %s", got, ticketview.MsgBookingCreated)
	}
	_, err = st.FindOrder(ctx, "ord-2")
	wantCode(t, "the changed id", err, ticketview.ENOTFOUND)
}

// testConcurrentOrderUpdates: 20 updates of one order at once, each adding a failed
// payment (which records a message): none is lost, and the messages are in the order of
// the payments.
func testConcurrentOrderUpdates(t *testing.T, open func(t *testing.T) (ticketview.OrderStore, ticketview.Outbox)) {
	st, ob := open(t)
	ctx := ctxFor(t)
	mustCreateOrder(t, st, SampleOrder(t, "ord-1", "u-1", "gig-1", BaseTime))
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at := BaseTime.Add(time.Duration(i+1) * time.Second)
			_, errs[i] = st.UpdateOrder(ctx, "ord-1", func(o *ticketview.Order) error {
				p := samplePayment(o, fmt.Sprintf("pay_%02d", i), at)
				p.Reason = "declined"
				if !o.PaymentFailed(p, at) {
					return fmt.Errorf("payment %s already there", p.ID)
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	o := mustFindOrder(t, st, "ord-1")
	if len(o.Payments) != n || o.Version != n+1 {
		t.Fatalf("after %d concurrent updates: %d payments, version %d; want %d, %d", n, len(o.Payments), o.Version, n, n+1)
	}
	seen := map[string]bool{}
	for _, p := range o.Payments {
		seen[p.ID] = true
	}
	if len(seen) != n {
		t.Fatalf("after %d concurrent updates: %d distinct payments", n, len(seen))
	}
	msgs := pendingOf(t, ob, "ord-1")
	if len(msgs) != n+1 {
		t.Fatalf("%d messages of the order, want %d", len(msgs), n+1)
	}
	for i, m := range msgs[1:] {
		env, d := orderEnvelope(t, m, "ord-1")
		if env.Type != ticketview.MsgPaymentFailed || d.Payment == nil || d.Payment.ID != o.Payments[i].ID {
			t.Fatalf("message %d: %s of payment %+v; want %s of %s (messages in the order of the updates)", i+1, env.Type, d.Payment, ticketview.MsgPaymentFailed, o.Payments[i].ID)
		}
		if len(d.Order.Payments) != i+1 {
			t.Fatalf("message %d: the order has %d payments, want %d", i+1, len(d.Order.Payments), i+1)
		}
	}
}

func testOrderMessages(t *testing.T, open func(t *testing.T) (ticketview.OrderStore, ticketview.Outbox)) {
	st, ob := open(t)
	ctx := ctxFor(t)
	mustCreateOrder(t, st, SampleOrder(t, "ord-1", "u-1", "gig-1", BaseTime))
	mustCreateOrder(t, st, SampleOrder(t, "ord-2", "u-2", "gig-1", BaseTime))
	at := BaseTime.Add(time.Minute)
	mustUpdateOrder(t, st, "ord-1", func(o *ticketview.Order) error {
		o.PaymentSucceeded(samplePayment(o, "pay_1", at), at)
		return o.Confirm(map[string]string{"A": "bk-a", "B": "bk-b"}, nil, at)
	})
	mustUpdateOrder(t, st, "ord-2", func(o *ticketview.Order) error { return o.Abandon(at) })

	all := pendingOf(t, ob, "")
	if len(all) != 5 {
		t.Fatalf("%d messages, want 5", len(all))
	}
	wantKeys := []string{"ord-1", "ord-2", "ord-1", "ord-1", "ord-2"}
	wantTypes := []string{ticketview.MsgBookingCreated, ticketview.MsgBookingCreated, ticketview.MsgPaymentSucceeded,
		ticketview.MsgBookingConfirmed, ticketview.MsgBookingCancelled}
	ids := map[string]bool{}
	for i, m := range all {
		env, d := orderEnvelope(t, m, wantKeys[i])
		if env.Type != wantTypes[i] {
			t.Fatalf("message %d: %s, want %s", i, env.Type, wantTypes[i])
		}
		if ids[env.ID] {
			t.Fatalf("message %d: id %s used twice", i, env.ID)
		}
		ids[env.ID] = true
		switch env.Type {
		case ticketview.MsgPaymentSucceeded:
			if d.Payment == nil || d.Payment.ID != "pay_1" || d.Payment.Status != ticketview.PaymentSucceeded {
				t.Fatalf("payment.succeeded without its payment: %+v", d.Payment)
			}
		case ticketview.MsgBookingConfirmed:
			if d.Order.Status != ticketview.OrderConfirmed || d.Order.Items[0].BookingID != "bk-a" {
				t.Fatalf("booking.confirmed: order %s, items %+v", d.Order.Status, d.Order.Items)
			}
		case ticketview.MsgBookingCancelled:
			if d.Order.Status != ticketview.OrderCancelled {
				t.Fatalf("booking.cancelled: order %s", d.Order.Status)
			}
		}
	}

	// Published messages are no longer pending; marking again, or offsets of nothing, is
	// harmless.
	if err := ob.MarkPublished(ctx, []int64{all[0].Offset, all[2].Offset}); err != nil {
		t.Fatalf("MarkPublished: %v", err)
	}
	if err := ob.MarkPublished(ctx, []int64{all[0].Offset, all[4].Offset + 1000, -1}); err != nil {
		t.Fatalf("MarkPublished again: %v", err)
	}
	if err := ob.MarkPublished(ctx, nil); err != nil {
		t.Fatalf("MarkPublished(nil): %v", err)
	}
	var left []int64
	for _, m := range pendingOf(t, ob, "") {
		left = append(left, m.Offset)
	}
	if want := []int64{all[1].Offset, all[3].Offset, all[4].Offset}; !slices.Equal(left, want) {
		t.Fatalf("pending after MarkPublished: offsets %v, want %v", left, want)
	}
	page, err := ob.PendingMessages(ctx, 2)
	if err != nil || len(page) != 2 || page[0].Offset != all[1].Offset || page[1].Offset != all[3].Offset {
		t.Fatalf("PendingMessages(2): %d messages, %v; want the first two pending", len(page), err)
	}
}

func testListOrders(t *testing.T, open func(t *testing.T) (ticketview.OrderStore, ticketview.Outbox)) {
	st, _ := open(t)
	ctx := ctxFor(t)
	const n = 24
	var all []*ticketview.Order
	for i := range n {
		at := BaseTime.Add(time.Duration(i) * time.Minute)
		if i == n-1 {
			at = BaseTime.Add(time.Duration(n-2) * time.Minute) // a tie with the one before: by id
		}
		o := SampleOrder(t, fmt.Sprintf("ord-%02d", n-1-i), fmt.Sprintf("u-%d", i%2), fmt.Sprintf("gig-%d", i%3), at)
		if i%4 == 0 {
			if err := o.Abandon(at.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		mustCreateOrder(t, st, o)
		all = append(all, o)
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].CreatedAt.Equal(all[j].CreatedAt) {
			return all[i].CreatedAt.After(all[j].CreatedAt)
		}
		return all[i].ID < all[j].ID
	})
	idsOf := func(list []*ticketview.Order) []string {
		var ids []string
		for _, o := range list {
			ids = append(ids, o.ID)
		}
		return ids
	}
	match := func(f ticketview.OrderFilter) []string {
		var ids []string
		for _, o := range all {
			if (f.Buyer == "" || o.Buyer == f.Buyer) && (f.Event == "" || o.Event == f.Event) && (f.Status == "" || o.Status == f.Status) {
				ids = append(ids, o.ID)
			}
		}
		return ids
	}
	for _, f := range []ticketview.OrderFilter{
		{Limit: 100},
		{Buyer: "u-1", Limit: 100},
		{Event: "gig-2", Limit: 100},
		{Status: ticketview.OrderCancelled, Limit: 100},
		{Status: ticketview.OrderPending, Buyer: "u-0", Event: "gig-1", Limit: 100},
		{Buyer: "nobody"},
	} {
		got, total, err := st.ListOrders(ctx, f)
		want := match(f)
		if err != nil || total != len(want) || !slices.Equal(idsOf(got), want) {
			t.Fatalf("ListOrders(%+v): %v (total %d), %v; want %v (total %d)", f, idsOf(got), total, err, want, len(want))
		}
	}
	got, total, err := st.ListOrders(ctx, ticketview.OrderFilter{})
	if err != nil || total != n || !slices.Equal(idsOf(got), match(ticketview.OrderFilter{})[:20]) {
		t.Fatalf("ListOrders without a limit: %v (total %d), %v; want the newest 20 of %d", idsOf(got), total, err, n)
	}
	sameOrder(t, "listed", got[0], all[0])
	for _, p := range []struct{ offset, limit, from, to int }{{5, 7, 5, 12}, {20, 10, 20, 24}, {-3, 2, 0, 2}, {30, 5, 24, 24}} {
		got, total, err := st.ListOrders(ctx, ticketview.OrderFilter{Offset: p.offset, Limit: p.limit})
		if want := match(ticketview.OrderFilter{})[p.from:p.to]; err != nil || total != n || !slices.Equal(idsOf(got), want) {
			t.Fatalf("ListOrders(offset %d, limit %d): %v (total %d), %v; want %v", p.offset, p.limit, idsOf(got), total, err, want)
		}
	}
	if got, _, err := st.ListOrders(ctx, ticketview.OrderFilter{Limit: 1000}); err != nil || len(got) != n {
		t.Fatalf("ListOrders(limit 1000): %d orders, %v; want %d", len(got), err, n)
	}
	for _, f := range []ticketview.OrderFilter{{Status: "bogus"}, {Buyer: "\xff"}, {Event: "a\x00b"}} {
		_, _, err := st.ListOrders(ctx, f)
		wantCode(t, fmt.Sprintf("ListOrders(%+v)", f), err, ticketview.EINVALID)
	}
}

func testDueOrders(t *testing.T, open func(t *testing.T) (ticketview.OrderStore, ticketview.Outbox)) {
	st, _ := open(t)
	ctx := ctxFor(t)
	now := BaseTime.Add(time.Hour)
	mk := func(id string, payBy time.Time, change func(o *ticketview.Order) error) {
		t.Helper()
		o := SampleOrder(t, id, "u-1", "gig-1", BaseTime)
		o.PayBy = payBy
		if change != nil {
			if err := change(o); err != nil {
				t.Fatalf("%s: %v", id, err)
			}
		}
		mustCreateOrder(t, st, o)
	}
	paid := func(o *ticketview.Order) { o.PaymentSucceeded(samplePayment(o, "pay_"+o.ID, o.PayBy), o.PayBy) }
	mk("pending-late", now.Add(-10*time.Minute), nil)
	mk("pending-now", now, nil)
	mk("pending-live", now.Add(time.Nanosecond), nil)
	mk("expired-unpaid", now.Add(-40*time.Minute), func(o *ticketview.Order) error { return o.Expire(o.PayBy) })
	mk("expired-paid", now.Add(-20*time.Minute), func(o *ticketview.Order) error {
		if err := o.Expire(o.PayBy); err != nil {
			return err
		}
		paid(o) // a late payment: the order stays expired, paid
		return nil
	})
	mk("expired-paid-later", now.Add(time.Hour), func(o *ticketview.Order) error { // expired by a fast clock
		if err := o.Expire(o.PayBy); err != nil {
			return err
		}
		paid(o)
		return nil
	})
	mk("confirmed", now.Add(-50*time.Minute), func(o *ticketview.Order) error {
		paid(o)
		return o.Confirm(map[string]string{"A": "bk-a", "B": "bk-b"}, nil, o.PayBy)
	})
	mk("cancelled", now.Add(-30*time.Minute), func(o *ticketview.Order) error { return o.Abandon(BaseTime) })

	due := func(now time.Time, limit int) []string {
		t.Helper()
		list, err := st.DueOrders(ctx, now, limit)
		if err != nil {
			t.Fatalf("DueOrders: %v", err)
		}
		var ids []string
		for _, o := range list {
			ids = append(ids, o.ID)
		}
		return ids
	}
	if got, want := due(now, 10), []string{"expired-paid", "pending-late", "pending-now", "expired-paid-later"}; !slices.Equal(got, want) {
		t.Fatalf("DueOrders(now, 10): %v, want %v", got, want)
	}
	if got, want := due(now, 2), []string{"expired-paid", "pending-late"}; !slices.Equal(got, want) {
		t.Fatalf("DueOrders(now, 2): %v, want %v", got, want)
	}
	if got, want := due(now, 0), []string{"expired-paid", "pending-late", "pending-now", "expired-paid-later"}; !slices.Equal(got, want) {
		t.Fatalf("DueOrders(now, 0): %v, want %v", got, want)
	}
	if got, want := due(BaseTime, 10), []string{"expired-paid", "expired-paid-later"}; !slices.Equal(got, want) {
		t.Fatalf("DueOrders(before any deadline): %v, want %v", got, want)
	}
	// An order that stops being due is no longer answered.
	mustUpdateOrder(t, st, "pending-late", func(o *ticketview.Order) error { return o.Expire(now) })
	if got, want := due(now, 10), []string{"expired-paid", "pending-now", "expired-paid-later"}; !slices.Equal(got, want) {
		t.Fatalf("DueOrders after an expiry: %v, want %v", got, want)
	}
}

func testOrderValidation(t *testing.T, open func(t *testing.T) (ticketview.OrderStore, ticketview.Outbox)) {
	st, ob := open(t)
	ctx := ctxFor(t)
	_, _, err := st.CreateOrder(ctx, nil)
	wantCode(t, "CreateOrder(nil)", err, ticketview.EINVALID)
	for what, change := range map[string]func(o *ticketview.Order){
		"no id":             func(o *ticketview.Order) { o.ID = "" },
		"no buyer":          func(o *ticketview.Order) { o.Buyer = "" },
		"an unknown status": func(o *ticketview.Order) { o.Status = "paid-ish" },
		"a NUL in the key":  func(o *ticketview.Order) { o.IdemKey = "a\x00b" },
		"a key not UTF-8":   func(o *ticketview.Order) { o.IdemKey = "\xff\xfe" },
		"an overlong id":    func(o *ticketview.Order) { o.ID = string(make([]byte, 300)) },
		"a time of the year 3000": func(o *ticketview.Order) {
			o.PayBy = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
		},
	} {
		o := SampleOrder(t, "ord-1", "u-1", "gig-1", BaseTime)
		change(o)
		_, _, err := st.CreateOrder(ctx, o)
		wantCode(t, "CreateOrder with "+what, err, ticketview.EINVALID)
	}
	_, err = st.UpdateOrder(ctx, "ord-1", nil)
	wantCode(t, "UpdateOrder with no fn", err, ticketview.EINVALID)
	if list, total, err := st.ListOrders(ctx, ticketview.OrderFilter{}); err != nil || total != 0 || len(list) != 0 {
		t.Fatalf("after refused creates: %d orders, %v; want none", total, err)
	}
	if msgs := pendingOf(t, ob, ""); len(msgs) != 0 {
		t.Fatalf("after refused creates: %d messages, want none", len(msgs))
	}
}
