package postgres_test

import (
	"testing"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/storetest"
)

func TestAnalyticsStore(t *testing.T) {
	t.Parallel()
	storetest.TestAnalyticsStore(t, func(t *testing.T) ticketview.AnalyticsStore { return openTest(t) })
}

// TestAnalyticsStoreClosed: a closed store answers EUNAVAILABLE.
func TestAnalyticsStoreClosed(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	db.Close()
	ctx := testCtx(t)
	incs := []ticketview.Increment{{Event: "gig-1", Hour: storetest.BaseTime, Metric: ticketview.MetricOrders, Delta: 1}}
	if _, err := db.AddCounters(ctx, "m-1", incs); ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		t.Fatalf("AddCounters on a closed store: %v", err)
	}
	if _, err := db.Counters(ctx, ticketview.CounterQuery{}); ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		t.Fatalf("Counters on a closed store: %v", err)
	}
	if _, err := db.EventInfos(ctx, nil); ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		t.Fatalf("EventInfos on a closed store: %v", err)
	}
}
