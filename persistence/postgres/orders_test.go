package postgres_test

import (
	"testing"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/storetest"
)

func TestOrders(t *testing.T) {
	t.Parallel()
	storetest.TestOrders(t, func(t *testing.T) (ticketview.OrderStore, ticketview.Outbox) {
		db := openTest(t)
		return db, db
	})
}

// TestUpdateOrderPanic: a panicking fn panics on the caller's goroutine and saves
// nothing (no message either); the order's row lock is released.
func TestUpdateOrderPanic(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := testCtx(t)
	o := storetest.SampleOrder(t, "ord-1", "u-1", "gig-1", storetest.BaseTime)
	if _, _, err := db.CreateOrder(ctx, o); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("recovered %v, want the fn's panic", p)
			}
		}()
		db.UpdateOrder(ctx, "ord-1", func(o *ticketview.Order) error {
			o.Abandon(storetest.BaseTime)
			panic("boom")
		})
	}()
	got, err := db.FindOrder(ctx, "ord-1")
	if err != nil || got.Status != ticketview.OrderPending || got.Version != 1 {
		t.Fatalf("after a panicking fn: %+v, %v", got, err)
	}
	if _, err := db.UpdateOrder(ctx, "ord-1", func(o *ticketview.Order) error { return o.Abandon(storetest.BaseTime) }); err != nil {
		t.Fatalf("an update after a panicking fn: %v", err)
	}
	msgs, err := db.PendingMessages(ctx, 10)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("outbox: %d messages, %v; want booking.created and one booking.cancelled", len(msgs), err)
	}
}

// TestOrderNULInJSON: a string the order's JSON cannot hold in jsonb (a NUL) is refused
// with EINVALID, and nothing is written.
func TestOrderNULInJSON(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := testCtx(t)
	o := storetest.SampleOrder(t, "ord-1", "u-1", "gig-1", storetest.BaseTime)
	o.Note = "a\x00b"
	if _, _, err := db.CreateOrder(ctx, o); ticketview.ErrorCode(err) != ticketview.EINVALID {
		t.Fatalf("CreateOrder with a NUL in the note: %v, want EINVALID", err)
	}
	if _, _, err := db.CreateOrder(ctx, storetest.SampleOrder(t, "ord-1", "u-1", "gig-1", storetest.BaseTime)); err != nil {
		t.Fatal(err)
	}
	_, err := db.UpdateOrder(ctx, "ord-1", func(o *ticketview.Order) error { o.SetNote("x\x00", storetest.BaseTime); return nil })
	if ticketview.ErrorCode(err) != ticketview.EINVALID {
		t.Fatalf("UpdateOrder with a NUL in the note: %v, want EINVALID", err)
	}
	got, err := db.FindOrder(ctx, "ord-1")
	if err != nil || got.Note != "" || got.Version != 1 {
		t.Fatalf("after a refused update: %+v, %v", got, err)
	}
	if msgs, err := db.PendingMessages(ctx, 10); err != nil || len(msgs) != 1 {
		t.Fatalf("outbox: %d messages, %v; want only booking.created", len(msgs), err)
	}
}
