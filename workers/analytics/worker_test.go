package analytics_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/sqlite"
	"github.com/ticketview/ticketview/workers/analytics"
)

// t0 is the first hour of the test's messages.
var t0 = time.Date(2030, 5, 17, 10, 0, 0, 0, time.UTC)

func openStore(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "tv.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// sliceSource is a ticketview.MessageSource over a slice that delivers like Kafka: in
// order, at least once. A message whose handler fails is delivered again (up to
// maxAttempts, then the source gives up on it and counts it lost); the whole slice is
// delivered passes times, as a consumer group replays after a rebalance. Done is closed
// once every pass has been delivered.
type sliceSource struct {
	msgs   []ticketview.Message
	passes int
	done   chan struct{}

	failures atomic.Int64 // handler errors
	lost     atomic.Int64 // messages given up on
	group    atomic.Value
}

const maxAttempts = 5

func newSource(passes int, msgs ...ticketview.Message) *sliceSource {
	return &sliceSource{msgs: msgs, passes: passes, done: make(chan struct{})}
}

func (s *sliceSource) Consume(ctx context.Context, group string, topics []string, h ticketview.MessageHandler) error {
	s.group.Store(group)
	for range s.passes {
		for i, m := range s.msgs {
			if !slices.Contains(topics, m.Topic) {
				continue
			}
			m.Offset = int64(i + 1)
			for attempt := 1; ; attempt++ {
				err := h(ctx, m)
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s.failures.Add(1)
				if attempt == maxAttempts {
					s.lost.Add(1)
					break
				}
			}
		}
	}
	close(s.done)
	<-ctx.Done()
	return ctx.Err()
}

// runWorker runs a worker on src and store until src has delivered everything.
func runWorker(t *testing.T, src *sliceSource, store ticketview.AnalyticsStore) {
	t.Helper()
	w, err := analytics.New(analytics.Config{Source: src, Store: store, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	select {
	case <-src.done:
	case err := <-ran:
		cancel()
		t.Fatalf("Run returned before the source was drained: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("the source was not drained within 30s")
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("Run after its context ended: %v", err)
	}
	if n := src.lost.Load(); n > 0 {
		t.Fatalf("%d messages failed %d times: the worker must skip what it cannot count", n, maxAttempts)
	}
}

func sectionMsg(t *testing.T, sm ticketview.SectionMessage) ticketview.Message {
	t.Helper()
	if sm.V == 0 {
		sm.V = 1
	}
	v, err := json.Marshal(sm)
	if err != nil {
		t.Fatal(err)
	}
	return ticketview.Message{Topic: ticketview.TopicSections, Key: sm.Event + "/" + sm.Section, Value: v}
}

func hold(buyer, section, token string, items []ticketview.HoldItem, expires time.Time) ticketview.Hold {
	h := ticketview.Hold{Token: token, Owner: buyer, Event: "gig-1", Section: section, Items: items, ExpiresAt: expires}
	for _, it := range items {
		h.Quantity += it.Quantity
		h.Total = h.Total.Add(ticketview.Money{Amount: int64(it.Quantity) * it.UnitPrice, Currency: "INR"})
	}
	return h
}

var (
	vip = func(seat string) ticketview.HoldItem {
		return ticketview.HoldItem{Seat: seat, Category: "VIP", Quantity: 1, UnitPrice: 5000}
	}
	ga = func(n int) ticketview.HoldItem {
		return ticketview.HoldItem{Category: "GA", Quantity: n, UnitPrice: 2000}
	}
)

// scenario is one event's day, as the pipeline carries it:
//
//	hour 0: event created; b-1, b-2 and b-3 hold 2, 3 and 1 seats; a hold expires and one
//	        is released; orders A (b-1, 2 VIP), B (b-2, 3 GA) and C (b-3, 1 VIP + 1 GA)
//	        are checked out;
//	hour 1: A and C are paid and confirmed (A from Pune, 25-34; C from Delhi); B's payment
//	        fails and B expires;
//	hour 2: C's GA item is refunded; the event's prices and then its name change.
func scenario(t *testing.T) []ticketview.Message {
	t.Helper()
	var msgs []ticketview.Message
	e := &ticketview.Event{ID: "gig-1", Name: "Jazz Night", OrganizerID: "org-1", Currency: "INR",
		StartsAt: t0.Add(30 * 24 * time.Hour), Status: ticketview.EventOnSale}
	msgs = append(msgs, ticketview.EventMessage(ticketview.MsgEventCreated, e, nil, t0.Add(time.Minute)))
	for i, sm := range []ticketview.SectionMessage{
		{Type: "hold_placed", Owner: "b-1", Quantity: 2},
		{Type: "hold_placed", Owner: "b-2", Quantity: 3},
		{Type: "hold_placed", Owner: "b-3", Quantity: 1},
		{Type: "hold_expired", Quantity: 1},
		{Type: "hold_released", Quantity: 1},
		{Type: "hold_extended", Quantity: 1}, // counts nothing
	} {
		sm.Event, sm.Section, sm.Seq, sm.At = "gig-1", "A", uint64(i+1), t0.Add(time.Duration(2+i)*time.Minute)
		msgs = append(msgs, sectionMsg(t, sm))
	}

	expires := t0.Add(50 * time.Minute)
	order := func(id, buyer string, holds ...ticketview.Hold) *ticketview.Order {
		o, err := ticketview.NewOrder(id, buyer, holds, expires, t0.Add(20*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	a := order("ord-a", "b-1", hold("b-1", "A", "tok-a", []ticketview.HoldItem{vip("A-1"), vip("A-2")}, expires))
	b := order("ord-b", "b-2", hold("b-2", "GA", "tok-b", []ticketview.HoldItem{ga(3)}, expires))
	c := order("ord-c", "b-3", hold("b-3", "A", "tok-c", []ticketview.HoldItem{vip("A-3")}, expires),
		hold("b-3", "GA", "tok-c2", []ticketview.HoldItem{ga(1)}, expires))
	h1 := t0.Add(time.Hour)
	pay := func(o *ticketview.Order, contact ticketview.Contact, at time.Time) {
		o.Contact = contact
		o.PaymentSucceeded(ticketview.Payment{ID: "pay-" + o.ID, Provider: "sandbox", Amount: o.Total}, at)
		bookings := map[string]string{}
		for _, it := range o.Items {
			bookings[it.Section] = "bk-" + o.ID + "-" + it.Section
		}
		if err := o.Confirm(bookings, nil, at); err != nil {
			t.Fatal(err)
		}
	}
	pay(a, ticketview.Contact{City: "Pune", AgeBand: "25-34"}, h1.Add(5*time.Minute))
	pay(c, ticketview.Contact{City: "Delhi"}, h1.Add(6*time.Minute))
	b.PaymentFailed(ticketview.Payment{ID: "pay-b", Provider: "sandbox", Amount: b.Total, Reason: "declined"}, h1.Add(time.Minute))
	if err := b.Expire(h1.Add(20 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	amount, sections, err := c.Refundable([]string{"GA"})
	if err != nil {
		t.Fatal(err)
	}
	c.Refunded(ticketview.Refund{ID: "rf-1", PaymentID: "pay-ord-c", Amount: amount, Sections: sections,
		Reason: ticketview.RefundRequested}, t0.Add(2*time.Hour+time.Minute))
	for _, o := range []*ticketview.Order{a, b, c} {
		msgs = append(msgs, o.TakeMessages()...)
	}

	e2 := *e
	e2.Categories = []ticketview.PriceCategory{{Code: "VIP", Name: "VIP", Price: 6000}}
	msgs = append(msgs, ticketview.EventMessage(ticketview.MsgEventUpdated, &e2, []string{"prices"}, t0.Add(2*time.Hour+2*time.Minute)))
	e3 := e2
	e3.Name = "Jazz Night II"
	msgs = append(msgs, ticketview.EventMessage(ticketview.MsgEventUpdated, &e3, []string{"details"}, t0.Add(2*time.Hour+3*time.Minute)))
	return msgs
}

// junk are messages the worker must skip.
func junk(t *testing.T) []ticketview.Message {
	env := func(v int, typ string, data any) []byte {
		raw, _ := json.Marshal(data)
		b, _ := json.Marshal(ticketview.Envelope{V: v, ID: ticketview.NewMessageID(), Type: typ, Key: "k", At: t0, Data: raw})
		return b
	}
	return []ticketview.Message{
		{Topic: ticketview.TopicOrders, Key: "x", Value: []byte("not json")},
		{Topic: ticketview.TopicOrders, Key: "x", Value: []byte(`{"v":1}`)},
		{Topic: ticketview.TopicOrders, Key: "x", Value: env(2, ticketview.MsgBookingConfirmed, ticketview.OrderData{Order: &ticketview.Order{Event: "gig-1", Buyer: "b-9"}})},
		{Topic: ticketview.TopicOrders, Key: "x", Value: env(1, "booking.teleported", ticketview.OrderData{Order: &ticketview.Order{Event: "gig-1"}})},
		{Topic: ticketview.TopicOrders, Key: "x", Value: env(1, ticketview.MsgBookingCreated, ticketview.OrderData{})},
		{Topic: ticketview.TopicOrders, Key: "x", Value: env(1, ticketview.MsgBookingCreated, "a string")},
		{Topic: ticketview.TopicEvents, Key: "x", Value: env(1, "event.exploded", ticketview.EventData{Event: &ticketview.Event{ID: "gig-1"}})},
		{Topic: ticketview.TopicEvents, Key: "x", Value: env(1, ticketview.MsgEventUpdated, ticketview.EventData{})},
		sectionMsg(t, ticketview.SectionMessage{V: 2, Type: "hold_placed", Event: "gig-1", Section: "A", Seq: 99, At: t0, Quantity: 5}),
		sectionMsg(t, ticketview.SectionMessage{Type: "hold_placed", Section: "A", Seq: 98, At: t0, Quantity: 5}),
		{Topic: ticketview.TopicSections, Key: "x", Value: []byte(`[1,2]`)},
		// An increment the store refuses (a value too long): skipped, not retried forever.
		sectionMsg(t, ticketview.SectionMessage{Type: "hold_placed", Event: "gig-1", Section: "A", Seq: 97, At: t0,
			Owner: strings.Repeat("x", 300), Quantity: 5}),
	}
}

// totals is the store's DimNone counters of gig-1 over every hour, by metric.
func totals(t *testing.T, s ticketview.AnalyticsStore, dim string) map[string]int64 {
	t.Helper()
	rows, err := s.Counters(testCtx(t), ticketview.CounterQuery{Events: []string{"gig-1"}, Dim: dim})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		k := r.Metric
		if r.Value != "" {
			k = r.Value + "/" + r.Metric
		}
		out[k] = r.Total
	}
	return out
}

func same[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// TestWorkerCounts runs the scenario, delivered twice and mixed with junk, through the
// worker into a SQLite store: every message counts once, junk is skipped.
func TestWorkerCounts(t *testing.T) {
	db := openStore(t)
	msgs := scenario(t)
	all := append(junk(t), msgs...)
	all = append(all, ticketview.Message{Topic: "someone.else", Value: []byte("x")})
	src := newSource(2, all...)
	runWorker(t, src, db)
	if g, _ := src.group.Load().(string); g != analytics.DefaultGroup {
		t.Fatalf("consumer group %q, want %q", g, analytics.DefaultGroup)
	}

	same(t, "totals", totals(t, db, ticketview.DimNone), map[string]int64{
		ticketview.MetricHoldsPlaced: 3, ticketview.MetricSeatsHeld: 6, ticketview.MetricHoldsExpired: 1,
		ticketview.MetricHoldsReleased: 1, ticketview.MetricCheckouts: 3, ticketview.MetricOrders: 2,
		ticketview.MetricSeatsSold: 4, ticketview.MetricRevenue: 17000, ticketview.MetricPaymentsFailed: 1,
		ticketview.MetricOrdersExpired: 1, ticketview.MetricRefunds: 1, ticketview.MetricRefundedAmount: 2000,
		ticketview.MetricSeatsRefunded: 1, ticketview.MetricPriceChanges: 1,
	})
	same(t, "categories", totals(t, db, ticketview.DimCategory), map[string]int64{
		"VIP/seats_sold": 3, "VIP/revenue": 15000, "GA/seats_sold": 1, "GA/revenue": 2000, "GA/seats_refunded": 1,
	})
	same(t, "cities", totals(t, db, ticketview.DimCity), map[string]int64{
		"Pune/orders": 1, "Pune/seats_sold": 2, "Delhi/orders": 1, "Delhi/seats_sold": 2,
	})
	same(t, "age bands", totals(t, db, ticketview.DimAgeBand), map[string]int64{"25-34/orders": 1, "25-34/seats_sold": 2})
	same(t, "buyers", totals(t, db, ticketview.DimBuyer), map[string]int64{
		"b-1/holds_placed": 1, "b-1/checkouts": 1, "b-1/orders": 1, "b-1/revenue": 10000,
		"b-2/holds_placed": 1, "b-2/checkouts": 1,
		"b-3/holds_placed": 1, "b-3/checkouts": 1, "b-3/orders": 1, "b-3/revenue": 7000,
	})
	// By hour: the message times, truncated.
	rows, err := db.Counters(testCtx(t), ticketview.CounterQuery{Metrics: []string{ticketview.MetricOrders, ticketview.MetricRefunds}, ByHour: true})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "orders and refunds by hour", rows, []ticketview.CounterRow{
		{Event: "gig-1", Hour: t0.Add(time.Hour), Metric: ticketview.MetricOrders, Total: 2},
		{Event: "gig-1", Hour: t0.Add(2 * time.Hour), Metric: ticketview.MetricRefunds, Total: 1},
	})
	infos, err := db.EventInfos(testCtx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "event infos", infos, []ticketview.EventInfo{{ID: "gig-1", Name: "Jazz Night II", OrganizerID: "org-1",
		StartsAt: t0.Add(30 * 24 * time.Hour), Currency: "INR", Status: string(ticketview.EventOnSale),
		UpdatedAt: t0.Add(2*time.Hour + 3*time.Minute)}})
}

// flakyStore fails the first n writes with EUNAVAILABLE, as a store that is down does.
type flakyStore struct {
	ticketview.AnalyticsStore
	mu sync.Mutex
	n  int
}

func (f *flakyStore) fail() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n > 0 {
		f.n--
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "store down")
	}
	return nil
}

func (f *flakyStore) AddCounters(ctx context.Context, id string, incs []ticketview.Increment) (bool, error) {
	if err := f.fail(); err != nil {
		return false, err
	}
	return f.AnalyticsStore.AddCounters(ctx, id, incs)
}

func (f *flakyStore) PutEventInfo(ctx context.Context, info ticketview.EventInfo) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.AnalyticsStore.PutEventInfo(ctx, info)
}

// TestWorkerRetriesStoreFailures: a message the store could not take is left to be
// delivered again, and then counts once.
func TestWorkerRetriesStoreFailures(t *testing.T) {
	db := openStore(t)
	msgs := scenario(t)
	src := newSource(1, msgs[:2]...) // event.created, hold_placed b-1 (2 seats)
	runWorker(t, src, &flakyStore{AnalyticsStore: db, n: 3})
	if n := src.failures.Load(); n != 3 {
		t.Fatalf("%d handler failures, want 3 (the store's)", n)
	}
	same(t, "totals", totals(t, db, ticketview.DimNone), map[string]int64{
		ticketview.MetricHoldsPlaced: 1, ticketview.MetricSeatsHeld: 2,
	})
	if infos, err := db.EventInfos(testCtx(t), []string{"gig-1"}); err != nil || len(infos) != 1 {
		t.Fatalf("event infos %v, %v", infos, err)
	}
}

func TestNewChecksConfig(t *testing.T) {
	if _, err := analytics.New(analytics.Config{}); ticketview.ErrorCode(err) != ticketview.EINVALID {
		t.Fatalf("New without a source or a store: %v, want EINVALID", err)
	}
	if _, err := analytics.New(analytics.Config{Source: newSource(1)}); ticketview.ErrorCode(err) != ticketview.EINVALID {
		t.Fatalf("New without a store: %v, want EINVALID", err)
	}
}

// TestReports builds every report of the scenario and checks their numbers and CSV.
func TestReports(t *testing.T) {
	db := openStore(t)
	runWorker(t, newSource(2, scenario(t)...), db)
	r := analytics.Reports{Store: db}
	ctx := testCtx(t)
	all := analytics.Query{Events: []string{"gig-1"}}

	sales, err := r.Sales(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "sales", sales.Events, []analytics.EventSales{{
		Event: "gig-1", Name: "Jazz Night II", Currency: "INR", Checkouts: 3, Orders: 2, SeatsHeld: 6, SeatsSold: 4,
		SeatsRefunded: 1, Revenue: 17000, Refunds: 1, RefundedAmount: 2000, NetRevenue: 15000,
		SeatConversion: 0.6667, OrderConversion: 0.6667,
		Categories: []analytics.CategorySales{
			{Category: "GA", SeatsSold: 1, SeatsRefunded: 1, Revenue: 2000},
			{Category: "VIP", SeatsSold: 3, Revenue: 15000},
		},
	}})
	// Every event (nil) is the same here; an event without counters has zeros; none is none.
	if every, err := r.Sales(ctx, analytics.Query{}); err != nil || !reflect.DeepEqual(every.Events, sales.Events) {
		t.Fatalf("sales of every event: %+v, %v", every, err)
	}
	if s, err := r.Sales(ctx, analytics.Query{Events: []string{"gig-9"}}); err != nil || len(s.Events) != 1 ||
		s.Events[0].Event != "gig-9" || s.Events[0].Orders != 0 || s.Events[0].Categories == nil {
		t.Fatalf("sales of an event without counters: %+v, %v", s, err)
	}
	if s, err := r.Sales(ctx, analytics.Query{Events: []string{}}); err != nil || len(s.Events) != 0 {
		t.Fatalf("sales of no events: %+v, %v", s, err)
	}
	// A period: hour 1 only.
	h1 := analytics.Query{Events: []string{"gig-1"}, From: t0.Add(time.Hour), To: t0.Add(2 * time.Hour)}
	if s, err := r.Sales(ctx, h1); err != nil || s.Events[0].Orders != 2 || s.Events[0].Checkouts != 0 || s.Events[0].Refunds != 0 {
		t.Fatalf("sales of hour 1: %+v, %v", s, err)
	}
	if _, err := r.Sales(ctx, analytics.Query{From: t0, To: t0.Add(-time.Hour)}); ticketview.ErrorCode(err) != ticketview.EINVALID {
		t.Fatalf("a period ending before it starts: %v", err)
	}

	trends, err := r.Trends(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "trends", trends.Points, []analytics.TrendPoint{
		{Hour: t0, Event: "gig-1", HoldsPlaced: 3, Checkouts: 3, HoldsExpired: 1},
		{Hour: t0.Add(time.Hour), Event: "gig-1", Orders: 2, SeatsSold: 4, Revenue: 17000, PaymentsFailed: 1, OrdersExpired: 1},
	})

	act, err := r.Activity(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "activity", act, analytics.ActivityReport{ActiveBuyers: 3, TopBuyers: []analytics.BuyerActivity{
		{Buyer: "b-1", Orders: 1, Revenue: 10000, Checkouts: 1, HoldsPlaced: 1},
		{Buyer: "b-3", Orders: 1, Revenue: 7000, Checkouts: 1, HoldsPlaced: 1},
		{Buyer: "b-2", Checkouts: 1, HoldsPlaced: 1},
	}})

	demo, err := r.Demographics(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "demographics", demo, analytics.DemographicsReport{
		Cities:   []analytics.DemographicRow{{Value: "Delhi", Orders: 1, SeatsSold: 2}, {Value: "Pune", Orders: 1, SeatsSold: 2}},
		AgeBands: []analytics.DemographicRow{{Value: "25-34", Orders: 1, SeatsSold: 2}},
	})

	for _, c := range []struct {
		name   string
		w      interface{ WriteCSV(*bytes.Buffer) error }
		header string
		rows   int
		want   []string // one row's cells, as they must appear
	}{
		{"sales", csvOf(sales.WriteCSV), "event", 3, []string{"gig-1", "Jazz Night II", "INR", "", "3", "2", "6", "4", "1", "17000", "1", "2000", "15000", "0.6667", "0.6667"}},
		{"trends", csvOf(trends.WriteCSV), "hour", 2, []string{t0.Add(time.Hour).Format(time.RFC3339), "gig-1", "0", "0", "2", "4", "17000", "1", "0", "1"}},
		{"activity", csvOf(act.WriteCSV), "buyer", 3, []string{"b-1", "1", "10000", "1", "1"}},
		{"demographics", csvOf(demo.WriteCSV), "dimension", 3, []string{"age_band", "25-34", "1", "2"}},
	} {
		var buf bytes.Buffer
		if err := c.w.WriteCSV(&buf); err != nil {
			t.Fatalf("%s: WriteCSV: %v", c.name, err)
		}
		recs, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatalf("%s: the CSV does not parse: %v", c.name, err)
		}
		if len(recs) != 1+c.rows || recs[0][0] != c.header {
			t.Fatalf("%s: %d records (header %v), want a header %q and %d rows", c.name, len(recs), recs[0], c.header, c.rows)
		}
		if !slices.ContainsFunc(recs[1:], func(r []string) bool { return slices.Equal(r, c.want) }) {
			t.Fatalf("%s: no row %q in %q", c.name, c.want, recs)
		}
	}
}

// csvOf adapts a report's WriteCSV for the table above.
type csvOf func(w io.Writer) error

func (f csvOf) WriteCSV(b *bytes.Buffer) error { return f(b) }

// TestCSVFormulaCells: text that a spreadsheet would run as a formula is quoted.
func TestCSVFormulaCells(t *testing.T) {
	d := analytics.DemographicsReport{Cities: []analytics.DemographicRow{{Value: "=HYPERLINK(\"http://x\")", Orders: 1}}}
	var buf bytes.Buffer
	if err := d.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != 2 || !strings.HasPrefix(recs[1][1], "'=") {
		t.Fatalf("records %q, %v: want the formula cell prefixed with a quote", recs, err)
	}
}
