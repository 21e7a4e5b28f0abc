package postgres_test

import (
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/storetest"
)

func TestBookingIndex(t *testing.T) {
	t.Parallel()
	storetest.TestBookingIndex(t, func(t *testing.T) (ticketview.SectionStore, ticketview.BookingIndex) {
		db := openTest(t)
		return db, db
	})
}

// TestBookingIndexUnstorableText: the projection stores owners as valid UTF-8 without NUL
// (clean); a filter with the owner as the journal has it finds the booking, and filters
// and event ids with such bytes are no error.
func TestBookingIndexUnstorableText(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := testCtx(t)
	id := storetest.NewSectionID()
	epoch, _, _, err := db.Activate(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	at, owner := storetest.BaseTime, "b\xffad\x00owner"
	evs := []ticketview.SectionEvent{
		{Seq: 1, Type: ticketview.EvHoldPlaced, At: at, Token: "t1", Owner: owner, Seats: []int32{3}, Prices: []int64{4500},
			Quantity: 1, ExpiresAt: at.Add(time.Minute)},
		{Seq: 2, Type: ticketview.EvHoldConfirmed, At: at, Token: "t1", Owner: owner, Seats: []int32{3}, Quantity: 1,
			BookingID: "bk-1", Reference: "pay-1"},
	}
	if err := db.Append(ctx, id, epoch, evs); err != nil {
		t.Fatal(err)
	}
	got, n, err := db.ListBookings(ctx, ticketview.BookingFilter{Owner: owner, Event: id.Event})
	if err != nil || n != 1 || len(got) != 1 || got[0].ID != "bk-1" || got[0].Owner != "b\uFFFDad\uFFFDowner" || got[0].Total.Amount != 4500 {
		t.Fatalf("ListBookings by the journal's owner: %+v (%d), %v", got, n, err)
	}
	if _, n, err := db.ListBookings(ctx, ticketview.BookingFilter{Event: "ev\x00\xff"}); err != nil || n != 0 {
		t.Fatalf("ListBookings of an event id with NUL: %d, %v", n, err)
	}
	if s, err := db.SalesByEvent(ctx, []string{"ev\x00\xff", id.Event}); err != nil || len(s) != 1 || s[0].Revenue != 4500 {
		t.Fatalf("SalesByEvent with an event id with NUL: %+v, %v", s, err)
	}
}

// TestBookingIndexClosed: after Close the index answers EUNAVAILABLE.
func TestBookingIndexClosed(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	db.Close()
	ctx := testCtx(t)
	if _, _, err := db.ListBookings(ctx, ticketview.BookingFilter{}); ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		t.Fatalf("ListBookings after Close: %v", err)
	}
	if _, err := db.SalesByEvent(ctx, nil); ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		t.Fatalf("SalesByEvent after Close: %v", err)
	}
}
