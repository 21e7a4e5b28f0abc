package storetest

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
)

// TestAnalyticsStore checks a ticketview.AnalyticsStore against the contract. open is
// called once per subtest and must return a store without counters or event infos. The
// contract:
//
//   - AddCounters applies a message's increments atomically and once: the same message id
//     again answers applied false and changes nothing, also when many callers try it at
//     the same time (exactly one is applied). Increments of one counter add up; hours are
//     truncated to the hour in UTC. Invalid increments (no event or metric, a value
//     without a dimension, a zero hour) or message id are EINVALID and apply nothing, so
//     the id may be used again.
//   - Counters sums the counters of q.Dim exactly (DimNone: the totals), of q.Events and
//     q.Metrics (nil: all; empty but not nil: none), whose hour is in [From, To); per hour
//     with ByHour (Hour set), else over the period (Hour zero); ordered by event, hour,
//     value, metric.
//   - PutEventInfo keeps the record with the newest UpdatedAt (an older one changes
//     nothing); EventInfos answers the known events of ids (nil: all) by id.
func TestAnalyticsStore(t *testing.T, open func(t *testing.T) ticketview.AnalyticsStore) {
	t.Run("OnceOnly", func(t *testing.T) { testAnalyticsOnce(t, open(t)) })
	t.Run("ConcurrentOnce", func(t *testing.T) { testAnalyticsConcurrentOnce(t, open(t)) })
	t.Run("Sums", func(t *testing.T) { testAnalyticsSums(t, open(t)) })
	t.Run("Filters", func(t *testing.T) { testAnalyticsFilters(t, open(t)) })
	t.Run("Validation", func(t *testing.T) { testAnalyticsValidation(t, open(t)) })
	t.Run("EventInfo", func(t *testing.T) { testAnalyticsEventInfo(t, open(t)) })
}

// hourAt is the nth hour after BaseTime's hour.
func acHour(n int) time.Time { return BaseTime.Truncate(time.Hour).Add(time.Duration(n) * time.Hour) }

func acInc(event string, hour int, dim, value, metric string, delta int64) ticketview.Increment {
	return ticketview.Increment{Event: event, Hour: acHour(hour), Dim: dim, Value: value, Metric: metric, Delta: delta}
}

func acAdd(t *testing.T, s ticketview.AnalyticsStore, msgID string, incs ...ticketview.Increment) bool {
	t.Helper()
	applied, err := s.AddCounters(ctxFor(t), msgID, incs)
	if err != nil {
		t.Fatalf("AddCounters(%s): %v", msgID, err)
	}
	return applied
}

func acCounters(t *testing.T, s ticketview.AnalyticsStore, q ticketview.CounterQuery) []ticketview.CounterRow {
	t.Helper()
	rows, err := s.Counters(ctxFor(t), q)
	if err != nil {
		t.Fatalf("Counters(%+v): %v", q, err)
	}
	for i := range rows {
		rows[i].Hour = rows[i].Hour.UTC()
	}
	return rows
}

func acSame(t *testing.T, what string, got, want []ticketview.CounterRow) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func acRow(event string, hour time.Time, dim, value, metric string, total int64) ticketview.CounterRow {
	return ticketview.CounterRow{Event: event, Hour: hour, Dim: dim, Value: value, Metric: metric, Total: total}
}

func testAnalyticsOnce(t *testing.T, s ticketview.AnalyticsStore) {
	incs := []ticketview.Increment{
		acInc("gig-1", 0, ticketview.DimNone, "", ticketview.MetricOrders, 1),
		acInc("gig-1", 0, ticketview.DimNone, "", ticketview.MetricRevenue, 5000),
		acInc("gig-1", 0, ticketview.DimBuyer, "b-1", ticketview.MetricOrders, 1),
	}
	if !acAdd(t, s, "m-1", incs...) {
		t.Fatal("first AddCounters: not applied")
	}
	want := []ticketview.CounterRow{
		acRow("gig-1", time.Time{}, "", "", ticketview.MetricOrders, 1),
		acRow("gig-1", time.Time{}, "", "", ticketview.MetricRevenue, 5000),
	}
	acSame(t, "after the first message", acCounters(t, s, ticketview.CounterQuery{}), want)
	if acAdd(t, s, "m-1", incs...) {
		t.Fatal("the same message id again: applied")
	}
	if acAdd(t, s, "m-1", acInc("gig-1", 0, "", "", ticketview.MetricOrders, 7)) {
		t.Fatal("the same message id with other increments: applied")
	}
	acSame(t, "after the message again", acCounters(t, s, ticketview.CounterQuery{}), want)
	acSame(t, "buyers", acCounters(t, s, ticketview.CounterQuery{Dim: ticketview.DimBuyer}),
		[]ticketview.CounterRow{acRow("gig-1", time.Time{}, ticketview.DimBuyer, "b-1", ticketview.MetricOrders, 1)})

	// A message without increments is applied (and so recorded) all the same.
	if !acAdd(t, s, "m-empty") || acAdd(t, s, "m-empty") {
		t.Fatal("a message without increments: want applied once")
	}
}

func testAnalyticsConcurrentOnce(t *testing.T, s ticketview.AnalyticsStore) {
	const callers = 20
	var wg sync.WaitGroup
	applied := make([]bool, callers)
	errs := make([]error, callers)
	ctx := ctxFor(t)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = s.AddCounters(ctx, "m-race", []ticketview.Increment{
				acInc("gig-1", 0, "", "", ticketview.MetricSeatsSold, 3),
				acInc("gig-1", 0, ticketview.DimCategory, "VIP", ticketview.MetricSeatsSold, 3),
			})
		}()
	}
	// Other messages at the same time touch the same counters.
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.AddCounters(ctx, fmt.Sprintf("m-other-%d", i), []ticketview.Increment{
				acInc("gig-1", 0, ticketview.DimCategory, "VIP", ticketview.MetricSeatsSold, 1),
				acInc("gig-1", 0, "", "", ticketview.MetricSeatsSold, 1),
			}); err != nil {
				t.Errorf("other message %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	n := 0
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if applied[i] {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d of %d concurrent AddCounters of one message applied, want 1", n, callers)
	}
	acSame(t, "totals", acCounters(t, s, ticketview.CounterQuery{}),
		[]ticketview.CounterRow{acRow("gig-1", time.Time{}, "", "", ticketview.MetricSeatsSold, 3+callers)})
	acSame(t, "categories", acCounters(t, s, ticketview.CounterQuery{Dim: ticketview.DimCategory}),
		[]ticketview.CounterRow{acRow("gig-1", time.Time{}, ticketview.DimCategory, "VIP", ticketview.MetricSeatsSold, 3+callers)})
}

func testAnalyticsSums(t *testing.T, s ticketview.AnalyticsStore) {
	// Hour 0 gets two messages, one of them with a time inside the hour; hour 2 one.
	within := acInc("gig-1", 0, "", "", ticketview.MetricRevenue, 100)
	within.Hour = acHour(0).Add(45*time.Minute + 7*time.Second)
	acAdd(t, s, "a", acInc("gig-1", 0, "", "", ticketview.MetricOrders, 1), acInc("gig-1", 0, "", "", ticketview.MetricRevenue, 1000))
	acAdd(t, s, "b", acInc("gig-1", 0, "", "", ticketview.MetricOrders, 2), within,
		acInc("gig-1", 0, "", "", ticketview.MetricOrders, 1)) // the same counter twice in one message
	acAdd(t, s, "c", acInc("gig-1", 2, "", "", ticketview.MetricOrders, 1), acInc("gig-1", 2, "", "", ticketview.MetricRevenue, -300))
	acAdd(t, s, "d", acInc("gig-2", 1, "", "", ticketview.MetricOrders, 5))

	acSame(t, "by hour", acCounters(t, s, ticketview.CounterQuery{ByHour: true}), []ticketview.CounterRow{
		acRow("gig-1", acHour(0), "", "", ticketview.MetricOrders, 4),
		acRow("gig-1", acHour(0), "", "", ticketview.MetricRevenue, 1100),
		acRow("gig-1", acHour(2), "", "", ticketview.MetricOrders, 1),
		acRow("gig-1", acHour(2), "", "", ticketview.MetricRevenue, -300),
		acRow("gig-2", acHour(1), "", "", ticketview.MetricOrders, 5),
	})
	acSame(t, "over the period", acCounters(t, s, ticketview.CounterQuery{}), []ticketview.CounterRow{
		acRow("gig-1", time.Time{}, "", "", ticketview.MetricOrders, 5),
		acRow("gig-1", time.Time{}, "", "", ticketview.MetricRevenue, 800),
		acRow("gig-2", time.Time{}, "", "", ticketview.MetricOrders, 5),
	})
	// A counter that sums to zero stays a row.
	acAdd(t, s, "e", acInc("gig-2", 1, "", "", ticketview.MetricOrders, -5))
	acSame(t, "summing to zero", acCounters(t, s, ticketview.CounterQuery{Events: []string{"gig-2"}}),
		[]ticketview.CounterRow{acRow("gig-2", time.Time{}, "", "", ticketview.MetricOrders, 0)})
}

func testAnalyticsFilters(t *testing.T, s ticketview.AnalyticsStore) {
	for h := range 4 {
		acAdd(t, s, fmt.Sprintf("m-%d", h),
			acInc("gig-1", h, "", "", ticketview.MetricOrders, 1),
			acInc("gig-1", h, "", "", ticketview.MetricSeatsSold, 2),
			acInc("gig-2", h, "", "", ticketview.MetricOrders, 10),
			acInc("gig-3", h, "", "", ticketview.MetricOrders, 100),
			acInc("gig-1", h, ticketview.DimCity, "Pune", ticketview.MetricOrders, 1),
			acInc("gig-1", h, ticketview.DimCity, "Delhi", ticketview.MetricOrders, 1),
			acInc("gig-1", h, ticketview.DimAgeBand, "25-34", ticketview.MetricOrders, 1),
		)
	}
	zero := time.Time{}
	acSame(t, "events", acCounters(t, s, ticketview.CounterQuery{Events: []string{"gig-3", "gig-2", "nope"}}), []ticketview.CounterRow{
		acRow("gig-2", zero, "", "", ticketview.MetricOrders, 40),
		acRow("gig-3", zero, "", "", ticketview.MetricOrders, 400),
	})
	acSame(t, "no events", acCounters(t, s, ticketview.CounterQuery{Events: []string{}}), nil)
	acSame(t, "no metrics", acCounters(t, s, ticketview.CounterQuery{Metrics: []string{}}), nil)
	acSame(t, "metrics", acCounters(t, s, ticketview.CounterQuery{Events: []string{"gig-1"}, Metrics: []string{ticketview.MetricSeatsSold}}),
		[]ticketview.CounterRow{acRow("gig-1", zero, "", "", ticketview.MetricSeatsSold, 8)})
	acSame(t, "a dimension", acCounters(t, s, ticketview.CounterQuery{Dim: ticketview.DimCity}), []ticketview.CounterRow{
		acRow("gig-1", zero, ticketview.DimCity, "Delhi", ticketview.MetricOrders, 4),
		acRow("gig-1", zero, ticketview.DimCity, "Pune", ticketview.MetricOrders, 4),
	})
	acSame(t, "an unknown dimension", acCounters(t, s, ticketview.CounterQuery{Dim: "planet"}), nil)
	// [From, To): hours 1 and 2; a From inside hour 0 leaves hour 0 out.
	q := ticketview.CounterQuery{Events: []string{"gig-1"}, Metrics: []string{ticketview.MetricOrders}, From: acHour(0).Add(time.Minute), To: acHour(3)}
	acSame(t, "a period", acCounters(t, s, q), []ticketview.CounterRow{acRow("gig-1", zero, "", "", ticketview.MetricOrders, 2)})
	q.ByHour = true
	acSame(t, "a period by hour", acCounters(t, s, q), []ticketview.CounterRow{
		acRow("gig-1", acHour(1), "", "", ticketview.MetricOrders, 1),
		acRow("gig-1", acHour(2), "", "", ticketview.MetricOrders, 1),
	})
	acSame(t, "from only", acCounters(t, s, ticketview.CounterQuery{Events: []string{"gig-2"}, From: acHour(3)}),
		[]ticketview.CounterRow{acRow("gig-2", zero, "", "", ticketview.MetricOrders, 10)})
	acSame(t, "to only", acCounters(t, s, ticketview.CounterQuery{Events: []string{"gig-2"}, To: acHour(1)}),
		[]ticketview.CounterRow{acRow("gig-2", zero, "", "", ticketview.MetricOrders, 10)})
	// Times in another location are the same instants.
	ist := time.FixedZone("IST", 5*3600+1800)
	acSame(t, "a period in IST", acCounters(t, s, ticketview.CounterQuery{Events: []string{"gig-2"}, From: acHour(1).In(ist), To: acHour(2).In(ist)}),
		[]ticketview.CounterRow{acRow("gig-2", zero, "", "", ticketview.MetricOrders, 10)})
	_, err := s.Counters(ctxFor(t), ticketview.CounterQuery{From: acHour(2), To: acHour(1)})
	wantCode(t, "a period that ends before it starts", err, ticketview.EINVALID)
}

func testAnalyticsValidation(t *testing.T, s ticketview.AnalyticsStore) {
	ctx := ctxFor(t)
	good := acInc("gig-1", 0, "", "", ticketview.MetricOrders, 1)
	bad := map[string]ticketview.Increment{
		"no event":              acInc("", 0, "", "", ticketview.MetricOrders, 1),
		"no metric":             acInc("gig-1", 0, "", "", "", 1),
		"a value without a dim": acInc("gig-1", 0, "", "Pune", ticketview.MetricOrders, 1),
		"a zero hour":           {Event: "gig-1", Metric: ticketview.MetricOrders, Delta: 1},
		"invalid UTF-8":         acInc("gig-1", 0, ticketview.DimCity, "\xff", ticketview.MetricOrders, 1),
	}
	for what, b := range bad {
		_, err := s.AddCounters(ctx, "m-1", []ticketview.Increment{good, b})
		wantCode(t, what, err, ticketview.EINVALID)
	}
	for _, id := range []string{"", "a\x00b", string(make([]byte, 1000))} {
		_, err := s.AddCounters(ctx, id, []ticketview.Increment{good})
		wantCode(t, fmt.Sprintf("message id %q", id), err, ticketview.EINVALID)
	}
	acSame(t, "after invalid messages", acCounters(t, s, ticketview.CounterQuery{}), nil)
	if !acAdd(t, s, "m-1", good) {
		t.Fatal("a message id refused before: not applied")
	}
	acSame(t, "after the valid message", acCounters(t, s, ticketview.CounterQuery{}),
		[]ticketview.CounterRow{acRow("gig-1", time.Time{}, "", "", ticketview.MetricOrders, 1)})
	wantCode(t, "an event info without an id", s.PutEventInfo(ctx, ticketview.EventInfo{UpdatedAt: BaseTime}), ticketview.EINVALID)
	wantCode(t, "an event info without a time", s.PutEventInfo(ctx, ticketview.EventInfo{ID: "gig-1"}), ticketview.EINVALID)
}

func testAnalyticsEventInfo(t *testing.T, s ticketview.AnalyticsStore) {
	ctx := ctxFor(t)
	info := func(id, name string, at time.Time) ticketview.EventInfo {
		return ticketview.EventInfo{ID: id, Name: name, OrganizerID: "org-1", StartsAt: BaseTime.Add(48 * time.Hour),
			Currency: "INR", Status: "on_sale", UpdatedAt: at}
	}
	put := func(e ticketview.EventInfo) {
		t.Helper()
		if err := s.PutEventInfo(ctx, e); err != nil {
			t.Fatalf("PutEventInfo(%s): %v", e.ID, err)
		}
	}
	infos := func(ids []string) []ticketview.EventInfo {
		t.Helper()
		got, err := s.EventInfos(ctx, ids)
		if err != nil {
			t.Fatalf("EventInfos(%v): %v", ids, err)
		}
		for i := range got {
			got[i].StartsAt, got[i].UpdatedAt = got[i].StartsAt.UTC(), got[i].UpdatedAt.UTC()
		}
		return got
	}
	same := func(what string, got, want []ticketview.EventInfo) {
		t.Helper()
		if len(got) == 0 && len(want) == 0 {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
		}
	}
	v2 := info("gig-1", "Second", BaseTime.Add(time.Minute))
	put(info("gig-1", "First", BaseTime))
	put(v2)
	put(info("gig-1", "Stale", BaseTime.Add(time.Second))) // older than v2: ignored
	b := info("gig-0", "Other", BaseTime)
	b.StartsAt = time.Time{}
	put(b)
	same("all", infos(nil), []ticketview.EventInfo{b, v2})
	same("one", infos([]string{"gig-1", "nope"}), []ticketview.EventInfo{v2})
	same("none", infos([]string{}), nil)
	v3 := info("gig-1", "Third", v2.UpdatedAt.Add(time.Nanosecond))
	put(v3)
	same("a nanosecond newer", infos([]string{"gig-1"}), []ticketview.EventInfo{v3})
}
