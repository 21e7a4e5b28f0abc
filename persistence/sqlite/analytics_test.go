package sqlite

import (
	"testing"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/storetest"
)

func TestAnalyticsStore(t *testing.T) {
	storetest.TestAnalyticsStore(t, func(t *testing.T) ticketview.AnalyticsStore { return openTest(t) })
}

// TestAnalyticsWritesGoThroughCommitter: counters and event infos are written by the
// committer, one request each, and reads make none.
func TestAnalyticsWritesGoThroughCommitter(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	before := db.Stats().Requests
	incs := []ticketview.Increment{{Event: "gig-1", Hour: storetest.BaseTime, Metric: ticketview.MetricOrders, Delta: 1}}
	if applied, err := db.AddCounters(ctx, "m-1", incs); err != nil || !applied {
		t.Fatalf("AddCounters = %v, %v", applied, err)
	}
	if err := db.PutEventInfo(ctx, ticketview.EventInfo{ID: "gig-1", UpdatedAt: storetest.BaseTime}); err != nil {
		t.Fatal(err)
	}
	if n := db.Stats().Requests - before; n != 2 {
		t.Fatalf("2 writes made %d committer requests", n)
	}
	before = db.Stats().Requests
	if _, err := db.Counters(ctx, ticketview.CounterQuery{ByHour: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.EventInfos(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n := db.Stats().Requests - before; n != 0 {
		t.Fatalf("reads made %d committer requests", n)
	}
}
