package sqlite

import (
	"strings"
	"testing"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/storetest"
)

func TestOrders(t *testing.T) {
	storetest.TestOrders(t, func(t *testing.T) (ticketview.OrderStore, ticketview.Outbox) {
		db := openTest(t)
		return db, db
	})
}

func TestOutbox(t *testing.T) {
	storetest.TestOutbox(t, func(t *testing.T) ticketview.Outbox { return openTest(t) })
}

func TestEventMessages(t *testing.T) {
	storetest.TestEventMessages(t, func(t *testing.T) (ticketview.EventStore, ticketview.Outbox) {
		db := openTest(t)
		return db, db
	})
}

func TestMessageLog(t *testing.T) {
	storetest.TestMessageLog(t, func(t *testing.T) (ticketview.Outbox, ticketview.MessageLog) {
		db := openTest(t)
		return db, db
	})
}

// TestUpdateOrderPanic: a panicking fn panics on the caller's goroutine, saves nothing
// (no message either), and leaves the committer working.
func TestUpdateOrderPanic(t *testing.T) {
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
		t.Fatalf("the committer after a panicking fn: %v", err)
	}
	msgs, err := db.PendingMessages(ctx, 10)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("outbox: %d messages, %v; want booking.created and one booking.cancelled", len(msgs), err)
	}
}

// TestOrderQueriesUseIndexes: the order lookups and listings and the outbox's reads use
// indexes, without sorting.
func TestOrderQueriesUseIndexes(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	for _, f := range []ticketview.OrderFilter{{}, {Buyer: "x"}, {Event: "x"}, {Status: ticketview.OrderPending}} {
		if _, _, err := db.ListOrders(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	queries := []string{qOrder, qOrderByIdem, qOrderByRef, qPendingMessages, qGroupOffset}
	db.readStmts.Range(func(q, _ any) bool {
		if s := q.(string); strings.Contains(s, "FROM orders") && strings.Contains(s, "ORDER BY created_at DESC") {
			queries = append(queries, s)
		}
		return true
	})
	if len(queries) != 5+4 {
		t.Fatalf("%d query shapes, want 9", len(queries))
	}
	for _, q := range queries {
		args := make([]any, strings.Count(q, "?"))
		for i := range args {
			args[i] = "x"
		}
		plan := explain(t, db.reader, "EXPLAIN QUERY PLAN "+q, args...)
		if strings.Contains(plan, "SCAN") && !strings.Contains(plan, "USING INDEX") && !strings.Contains(plan, "COVERING INDEX") ||
			strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("query scans a table or sorts:\n %s\n plan: %s", q, plan)
		}
	}
}
