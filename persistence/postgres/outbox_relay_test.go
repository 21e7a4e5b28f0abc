package postgres_test

import (
	"encoding/json"
	"testing"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/storetest"
)

func TestOutbox(t *testing.T) {
	t.Parallel()
	storetest.TestOutbox(t, func(t *testing.T) ticketview.Outbox { return openTest(t) })
}

func TestEventMessages(t *testing.T) {
	t.Parallel()
	storetest.TestEventMessages(t, func(t *testing.T) (ticketview.EventStore, ticketview.Outbox) {
		db := openTest(t)
		return db, db
	})
}

// TestOutboxRelaySeesSectionEvents: the outbox rows the committers write for section
// events are pending messages too, of the sections' topic, keyed "event/section", in
// journal order; MarkPublished hides them.
func TestOutboxRelaySeesSectionEvents(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := testCtx(t)
	id := storetest.NewSectionID()
	epoch, _, _, err := db.Activate(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Append(ctx, id, epoch, storetest.SampleEvents(1, 16, storetest.BaseTime)); err != nil {
		t.Fatal(err)
	}
	msgs, err := db.PendingMessages(ctx, 100)
	if err != nil || len(msgs) == 0 {
		t.Fatalf("PendingMessages: %d messages, %v; want the section's", len(msgs), err)
	}
	var last uint64
	for i, m := range msgs {
		var sm ticketview.SectionMessage
		if err := json.Unmarshal(m.Value, &sm); err != nil {
			t.Fatalf("message %d: %s: %v", i, m.Value, err)
		}
		if m.Topic != ticketview.TopicSections || m.Key != id.String() || sm.Event != id.Event || sm.Seq <= last {
			t.Fatalf("message %d: %s %s seq %d (after %d), want %s %s in journal order", i, m.Topic, m.Key, sm.Seq, last, ticketview.TopicSections, id)
		}
		last = sm.Seq
	}
	offsets := make([]int64, len(msgs))
	for i, m := range msgs {
		offsets[i] = m.Offset
	}
	if err := db.MarkPublished(ctx, offsets); err != nil {
		t.Fatal(err)
	}
	if left, err := db.PendingMessages(ctx, 100); err != nil || len(left) != 0 {
		t.Fatalf("after MarkPublished: %d pending, %v", len(left), err)
	}
}
