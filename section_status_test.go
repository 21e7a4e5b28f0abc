package ticketview_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

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
