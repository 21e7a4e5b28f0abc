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
