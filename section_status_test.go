package ticketview_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
)

func TestSeatStatusRoundTripsThroughJSONAndRejectsUnknown(t *testing.T) {
	for _, st := range []ticketview.SeatStatus{ticketview.SeatFree, ticketview.SeatHeld, ticketview.SeatSold, ticketview.SeatBlocked} {
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		var got ticketview.SeatStatus
		if err := json.Unmarshal(b, &got); err != nil || got != st {
			t.Fatalf("%s: got %v, %v", b, got, err)
		}
	}
	var st ticketview.SeatStatus
	if err := json.Unmarshal([]byte(`"reserved"`), &st); err == nil {
		t.Fatal("unknown status accepted")
	}
}

func TestErrFencedMatchesOnlyFencingButIsUnavailable(t *testing.T) {
	fenced := fmt.Errorf("store: %w", ticketview.ErrFenced)
	if !errors.Is(fenced, ticketview.ErrFenced) || ticketview.ErrorCode(fenced) != ticketview.EUNAVAILABLE {
		t.Fatalf("wrapped fencing: Is=%v code=%q", errors.Is(fenced, ticketview.ErrFenced), ticketview.ErrorCode(fenced))
	}
	down := ticketview.Errorf(ticketview.EUNAVAILABLE, "disk full")
	if errors.Is(down, ticketview.ErrFenced) {
		t.Fatal("a plain unavailable error counts as fencing")
	}
	if !errors.Is(ticketview.ErrFenced, ticketview.ErrUnavailable) {
		t.Fatal("fencing is not unavailable")
	}
}

func TestEventStatusWithAvailability(t *testing.T) {
	now := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		status ticketview.EventStatus
		starts time.Time
		free   int
		want   ticketview.EventStatus
	}{
		{"on sale with free seats stays on sale", ticketview.EventOnSale, now.Add(time.Hour), 5, ticketview.EventOnSale},
		{"on sale with nothing free is sold out", ticketview.EventOnSale, now.Add(time.Hour), 0, ticketview.EventSoldOut},
		{"a past event stays past when sold out", ticketview.EventOnSale, now.Add(-time.Hour), 0, ticketview.EventPast},
		{"a cancelled event stays cancelled", ticketview.EventCancelled, now.Add(time.Hour), 0, ticketview.EventCancelled},
		{"a draft stays a draft", ticketview.EventDraft, now.Add(time.Hour), 0, ticketview.EventDraft},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &ticketview.Event{Status: tc.status, StartsAt: tc.starts}
			if got := e.StatusWith(now, tc.free); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestFreeCountsFreeSeatsAndPlaces(t *testing.T) {
	cats := []ticketview.PriceCategory{{Code: "G", Price: 100}}
	seated, err := ticketview.NewSection(ticketview.SectionConfig{ID: ticketview.SectionID{Event: "e", Section: "s"}, Categories: cats, Currency: "INR",
		Layout: &ticketview.SectionLayout{ID: "s", Kind: ticketview.Seated, Rows: ticketview.GridRows(2, 5, func(int) string { return "G" })}})
	if err != nil {
		t.Fatal(err)
	}
	ga, err := ticketview.NewSection(ticketview.SectionConfig{ID: ticketview.SectionID{Event: "e", Section: "g"}, Categories: cats, Currency: "INR",
		Layout: &ticketview.SectionLayout{ID: "g", Kind: ticketview.GeneralAdmission, Capacity: 30, Category: "G"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := seated.Hold(ticketview.HoldRequest{Token: "t", Owner: "o", Seats: []string{"A-1", "B-2"}}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := ga.Hold(ticketview.HoldRequest{Token: "t", Owner: "o", Quantity: 7}, now); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*ticketview.Section{seated, ga} {
		if got, want := s.Free(), s.Availability(false).Free; got != want {
			t.Fatalf("Free() = %d, availability says %d", got, want)
		}
	}
	if seated.Free() != 8 || ga.Free() != 23 {
		t.Fatalf("free = %d and %d, want 8 and 23", seated.Free(), ga.Free())
	}
}
