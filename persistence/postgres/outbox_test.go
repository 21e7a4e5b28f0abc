package postgres_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/postgres"
	"github.com/ticketview/ticketview/persistence/storetest"
)

func holdRef(token string) string {
	if token == "" {
		return ""
	}
	return postgres.HoldRef(token)
}

// TestOutboxPayloadJSON: the hand-written outbox payload is what encoding/json makes of
// an OutboxEvent, for every kind of event and for strings that need escaping; it names
// the hold by a digest, never by its secret token.
func TestOutboxPayloadJSON(t *testing.T) {
	evs := storetest.SampleEvents(1, 16, storetest.BaseTime)
	odd := ticketview.SectionEvent{Seq: 99, Type: ticketview.EvHoldConfirmed, At: time.Date(2031, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 5*3600)),
		Token: "tök\"en\\ <b>&</b>", Owner: "tab\there\nnl\r\b\f\x01\x1f\u2028\u2029 ✓", Seats: []int32{0, -1, 1 << 30},
		Prices: []int64{-5, 1 << 50}, Quantity: -3, BookingID: "bk\x7f", Reference: "ref"}
	evs = append(evs, odd, ticketview.SectionEvent{Seq: 100, Type: ticketview.SectionEventType(200)})
	id := ticketview.SectionID{Event: "ev-1", Section: "A"}
	for _, ev := range evs {
		want, err := json.Marshal(postgres.OutboxEvent{V: 1, Type: ev.Type.String(), Event: id.Event, Section: id.Section,
			Seq: ev.Seq, At: ev.At, Hold: holdRef(ev.Token), Owner: ev.Owner, Seats: ev.Seats, Prices: ev.Prices,
			Quantity: ev.Quantity, ExpiresAt: ev.ExpiresAt, BookingID: ev.BookingID, Reference: ev.Reference})
		if err != nil {
			t.Fatal(err)
		}
		got := postgres.OutboxPayload(id, &ev)
		if got != string(want) {
			t.Fatalf("event %d:\n got  %s\n want %s", ev.Seq, got, want)
		}
		if ev.Token != "" && strings.Contains(got, ev.Token) {
			t.Fatalf("event %d: the payload has the hold token: %s", ev.Seq, got)
		}
	}
}
