package ticketview_test

import (
	"encoding/json"
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
