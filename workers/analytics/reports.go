package analytics

import (
	"context"
	"encoding/csv"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ticketview/ticketview"
)

// TopBuyersLimit is the most buyers an activity report lists.
const TopBuyersLimit = 50

// Query selects what a report covers: the events (nil: every event; empty but not nil:
// none) and the period [From, To) of the counters' hours (a zero bound is open).
type Query struct {
	Events []string
	From   time.Time
	To     time.Time
}

// Reports builds reports from the counters of an AnalyticsStore.
type Reports struct {
	Store ticketview.AnalyticsStore
}

func (r Reports) check(q Query) error {
	switch {
	case r.Store == nil:
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "analytics: no store")
	case !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From):
		return ticketview.Errorf(ticketview.EINVALID, "the period ends before it starts")
	}
	return nil
}

// sums reads the counters of a dimension over the period: metric by value by event.
func (r Reports) sums(ctx context.Context, q Query, dim string, metrics ...string) (map[string]map[string]map[string]int64, error) {
	rows, err := r.Store.Counters(ctx, ticketview.CounterQuery{Events: q.Events, Dim: dim, Metrics: metrics, From: q.From, To: q.To})
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]map[string]int64{}
	for _, row := range rows {
		byValue := out[row.Event]
		if byValue == nil {
			byValue = map[string]map[string]int64{}
			out[row.Event] = byValue
		}
		if byValue[row.Value] == nil {
			byValue[row.Value] = map[string]int64{}
		}
		byValue[row.Value][row.Metric] += row.Total
	}
	return out, nil
}

// ratio is a/b rounded to 4 decimals (0 when b is 0).
func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return math.Round(float64(a)/float64(b)*10000) / 10000
}

// SalesReport is what the events sold in a period.
type SalesReport struct {
	From   time.Time    `json:"from,omitzero"`
	To     time.Time    `json:"to,omitzero"`
	Events []EventSales `json:"events"`
}

// EventSales is one event's sales. Amounts are minor units of the event's currency.
type EventSales struct {
	Event          string `json:"event"`
	Name           string `json:"name"`
	Currency       string `json:"currency"`
	Checkouts      int64  `json:"checkouts"`
	Orders         int64  `json:"orders"`
	SeatsHeld      int64  `json:"seats_held"`
	SeatsSold      int64  `json:"seats_sold"`
	SeatsRefunded  int64  `json:"seats_refunded"`
	Revenue        int64  `json:"revenue"`
	Refunds        int64  `json:"refunds"`
	RefundedAmount int64  `json:"refunded_amount"`
	NetRevenue     int64  `json:"net_revenue"` // revenue less refunded amount
	// SeatConversion is seats sold / seats held; OrderConversion orders / checkouts (0
	// when nothing was held or checked out).
	SeatConversion  float64         `json:"seat_conversion"`
	OrderConversion float64         `json:"order_conversion"`
	Categories      []CategorySales `json:"categories"`
}

// CategorySales is what a price category of an event sold.
type CategorySales struct {
	Category      string `json:"category"`
	SeatsSold     int64  `json:"seats_sold"`
	SeatsRefunded int64  `json:"seats_refunded"`
	Revenue       int64  `json:"revenue"`
}

// Sales reports each event's checkouts, orders, seats, revenue and refunds, with its
// conversions and its categories. It lists the events of q (nil: every event known or
// counted), by id.
func (r Reports) Sales(ctx context.Context, q Query) (SalesReport, error) {
	if err := r.check(q); err != nil {
		return SalesReport{}, err
	}
	totals, err := r.sums(ctx, q, ticketview.DimNone, ticketview.MetricCheckouts, ticketview.MetricOrders,
		ticketview.MetricSeatsHeld, ticketview.MetricSeatsSold, ticketview.MetricSeatsRefunded, ticketview.MetricRevenue,
		ticketview.MetricRefunds, ticketview.MetricRefundedAmount)
	if err != nil {
		return SalesReport{}, err
	}
	cats, err := r.sums(ctx, q, ticketview.DimCategory, ticketview.MetricSeatsSold, ticketview.MetricSeatsRefunded, ticketview.MetricRevenue)
	if err != nil {
		return SalesReport{}, err
	}
	infos, err := r.Store.EventInfos(ctx, q.Events)
	if err != nil {
		return SalesReport{}, err
	}
	byID := make(map[string]ticketview.EventInfo, len(infos))
	for _, in := range infos {
		byID[in.ID] = in
	}
	ids := q.Events
	if ids == nil {
		for id := range byID {
			ids = append(ids, id)
		}
		for id := range totals {
			ids = append(ids, id)
		}
		for id := range cats {
			ids = append(ids, id)
		}
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out := SalesReport{From: q.From, To: q.To, Events: make([]EventSales, 0, len(ids))}
	for _, id := range ids {
		m := totals[id][""]
		info := byID[id]
		es := EventSales{Event: id, Name: info.Name, Currency: info.Currency,
			Checkouts: m[ticketview.MetricCheckouts], Orders: m[ticketview.MetricOrders],
			SeatsHeld: m[ticketview.MetricSeatsHeld], SeatsSold: m[ticketview.MetricSeatsSold],
			SeatsRefunded: m[ticketview.MetricSeatsRefunded], Revenue: m[ticketview.MetricRevenue],
			Refunds: m[ticketview.MetricRefunds], RefundedAmount: m[ticketview.MetricRefundedAmount],
			Categories: []CategorySales{}}
		es.NetRevenue = es.Revenue - es.RefundedAmount
		es.SeatConversion = ratio(es.SeatsSold, es.SeatsHeld)
		es.OrderConversion = ratio(es.Orders, es.Checkouts)
		for code, cm := range cats[id] {
			es.Categories = append(es.Categories, CategorySales{Category: code, SeatsSold: cm[ticketview.MetricSeatsSold],
				SeatsRefunded: cm[ticketview.MetricSeatsRefunded], Revenue: cm[ticketview.MetricRevenue]})
		}
		sort.Slice(es.Categories, func(i, j int) bool { return es.Categories[i].Category < es.Categories[j].Category })
		out.Events = append(out.Events, es)
	}
	return out, nil
}

// WriteCSV writes the report as CSV: a header row, then per event a row of its totals
// (category empty) followed by a row per category (with its seats and revenue only).
func (s SalesReport) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"event", "name", "currency", "category", "checkouts", "orders", "seats_held", "seats_sold",
		"seats_refunded", "revenue", "refunds", "refunded_amount", "net_revenue", "seat_conversion", "order_conversion"})
	for _, e := range s.Events {
		cw.Write([]string{cell(e.Event), cell(e.Name), cell(e.Currency), "", i64(e.Checkouts), i64(e.Orders), i64(e.SeatsHeld), i64(e.SeatsSold),
			i64(e.SeatsRefunded), i64(e.Revenue), i64(e.Refunds), i64(e.RefundedAmount), i64(e.NetRevenue),
			f64(e.SeatConversion), f64(e.OrderConversion)})
		for _, c := range e.Categories {
			cw.Write([]string{cell(e.Event), cell(e.Name), cell(e.Currency), cell(c.Category), "", "", "", i64(c.SeatsSold),
				i64(c.SeatsRefunded), i64(c.Revenue), "", "", "", "", ""})
		}
	}
	cw.Flush()
	return cw.Error()
}

// TrendReport is what happened hour by hour.
type TrendReport struct {
	From   time.Time    `json:"from,omitzero"`
	To     time.Time    `json:"to,omitzero"`
	Points []TrendPoint `json:"points"`
}

// TrendPoint is one event's hour: the hours in which something was counted.
type TrendPoint struct {
	Hour           time.Time `json:"hour"`
	Event          string    `json:"event"`
	HoldsPlaced    int64     `json:"holds_placed"`
	Checkouts      int64     `json:"checkouts"`
	Orders         int64     `json:"orders"`
	SeatsSold      int64     `json:"seats_sold"`
	Revenue        int64     `json:"revenue"`
	PaymentsFailed int64     `json:"payments_failed"`
	HoldsExpired   int64     `json:"holds_expired"`
	OrdersExpired  int64     `json:"orders_expired"`
}

// Trends reports, per hour and event, holds placed, checkouts, orders, seats sold,
// revenue, failed payments and what expired; ordered by hour, then event.
func (r Reports) Trends(ctx context.Context, q Query) (TrendReport, error) {
	if err := r.check(q); err != nil {
		return TrendReport{}, err
	}
	rows, err := r.Store.Counters(ctx, ticketview.CounterQuery{Events: q.Events, From: q.From, To: q.To, ByHour: true,
		Metrics: []string{ticketview.MetricHoldsPlaced, ticketview.MetricCheckouts, ticketview.MetricOrders,
			ticketview.MetricSeatsSold, ticketview.MetricRevenue, ticketview.MetricPaymentsFailed,
			ticketview.MetricHoldsExpired, ticketview.MetricOrdersExpired}})
	if err != nil {
		return TrendReport{}, err
	}
	type key struct {
		hour  int64
		event string
	}
	points := map[key]*TrendPoint{}
	for _, row := range rows {
		k := key{row.Hour.Unix(), row.Event}
		p := points[k]
		if p == nil {
			p = &TrendPoint{Hour: row.Hour.UTC(), Event: row.Event}
			points[k] = p
		}
		switch row.Metric {
		case ticketview.MetricHoldsPlaced:
			p.HoldsPlaced += row.Total
		case ticketview.MetricCheckouts:
			p.Checkouts += row.Total
		case ticketview.MetricOrders:
			p.Orders += row.Total
		case ticketview.MetricSeatsSold:
			p.SeatsSold += row.Total
		case ticketview.MetricRevenue:
			p.Revenue += row.Total
		case ticketview.MetricPaymentsFailed:
			p.PaymentsFailed += row.Total
		case ticketview.MetricHoldsExpired:
			p.HoldsExpired += row.Total
		case ticketview.MetricOrdersExpired:
			p.OrdersExpired += row.Total
		}
	}
	out := TrendReport{From: q.From, To: q.To, Points: make([]TrendPoint, 0, len(points))}
	for _, p := range points {
		out.Points = append(out.Points, *p)
	}
	sort.Slice(out.Points, func(i, j int) bool {
		a, b := &out.Points[i], &out.Points[j]
		if !a.Hour.Equal(b.Hour) {
			return a.Hour.Before(b.Hour)
		}
		return a.Event < b.Event
	})
	return out, nil
}

// WriteCSV writes the report as CSV: a header row, then a row per point.
func (t TrendReport) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"hour", "event", "holds_placed", "checkouts", "orders", "seats_sold", "revenue", "payments_failed",
		"holds_expired", "orders_expired"})
	for _, p := range t.Points {
		cw.Write([]string{p.Hour.UTC().Format(time.RFC3339), cell(p.Event), i64(p.HoldsPlaced), i64(p.Checkouts), i64(p.Orders),
			i64(p.SeatsSold), i64(p.Revenue), i64(p.PaymentsFailed), i64(p.HoldsExpired), i64(p.OrdersExpired)})
	}
	cw.Flush()
	return cw.Error()
}

// ActivityReport is how many buyers were active and who bought most.
type ActivityReport struct {
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	// ActiveBuyers is the number of buyers who held seats, checked out or bought.
	ActiveBuyers int `json:"active_buyers"`
	// TopBuyers are the buyers with the most orders, then revenue (at most TopBuyersLimit).
	TopBuyers []BuyerActivity `json:"top_buyers"`
}

// BuyerActivity is one buyer's activity over the report's events. Revenue is in minor
// units (summed over the events: meaningful when they share a currency).
type BuyerActivity struct {
	Buyer       string `json:"buyer"`
	Orders      int64  `json:"orders"`
	Revenue     int64  `json:"revenue"`
	Checkouts   int64  `json:"checkouts"`
	HoldsPlaced int64  `json:"holds_placed"`
}

// Activity reports the active buyers and the top buyers by orders, then revenue.
func (r Reports) Activity(ctx context.Context, q Query) (ActivityReport, error) {
	if err := r.check(q); err != nil {
		return ActivityReport{}, err
	}
	sums, err := r.sums(ctx, q, ticketview.DimBuyer, ticketview.MetricOrders, ticketview.MetricRevenue,
		ticketview.MetricCheckouts, ticketview.MetricHoldsPlaced)
	if err != nil {
		return ActivityReport{}, err
	}
	buyers := map[string]*BuyerActivity{}
	for _, byBuyer := range sums {
		for id, m := range byBuyer {
			b := buyers[id]
			if b == nil {
				b = &BuyerActivity{Buyer: id}
				buyers[id] = b
			}
			b.Orders += m[ticketview.MetricOrders]
			b.Revenue += m[ticketview.MetricRevenue]
			b.Checkouts += m[ticketview.MetricCheckouts]
			b.HoldsPlaced += m[ticketview.MetricHoldsPlaced]
		}
	}
	all := make([]BuyerActivity, 0, len(buyers))
	for _, b := range buyers {
		if b.Orders > 0 || b.Checkouts > 0 || b.HoldsPlaced > 0 {
			all = append(all, *b)
		}
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := &all[i], &all[j]
		switch {
		case a.Orders != b.Orders:
			return a.Orders > b.Orders
		case a.Revenue != b.Revenue:
			return a.Revenue > b.Revenue
		case a.Checkouts != b.Checkouts:
			return a.Checkouts > b.Checkouts
		}
		return a.Buyer < b.Buyer
	})
	return ActivityReport{From: q.From, To: q.To, ActiveBuyers: len(all), TopBuyers: all[:min(len(all), TopBuyersLimit)]}, nil
}

// WriteCSV writes the report as CSV: a header row, then a row per top buyer.
func (a ActivityReport) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"buyer", "orders", "revenue", "checkouts", "holds_placed"})
	for _, b := range a.TopBuyers {
		cw.Write([]string{cell(b.Buyer), i64(b.Orders), i64(b.Revenue), i64(b.Checkouts), i64(b.HoldsPlaced)})
	}
	cw.Flush()
	return cw.Error()
}

// DemographicsReport is who bought: orders and seats by the buyers' city and age band,
// as they gave them in their profiles (buyers who gave none are not counted here).
type DemographicsReport struct {
	From     time.Time        `json:"from,omitzero"`
	To       time.Time        `json:"to,omitzero"`
	Cities   []DemographicRow `json:"cities"`
	AgeBands []DemographicRow `json:"age_bands"`
}

// DemographicRow is what the buyers of one city or age band bought.
type DemographicRow struct {
	Value     string `json:"value"`
	Orders    int64  `json:"orders"`
	SeatsSold int64  `json:"seats_sold"`
}

// Demographics reports orders and seats sold by city and by age band, most orders first.
func (r Reports) Demographics(ctx context.Context, q Query) (DemographicsReport, error) {
	if err := r.check(q); err != nil {
		return DemographicsReport{}, err
	}
	out := DemographicsReport{From: q.From, To: q.To}
	for _, d := range []struct {
		dim string
		dst *[]DemographicRow
	}{{ticketview.DimCity, &out.Cities}, {ticketview.DimAgeBand, &out.AgeBands}} {
		sums, err := r.sums(ctx, q, d.dim, ticketview.MetricOrders, ticketview.MetricSeatsSold)
		if err != nil {
			return DemographicsReport{}, err
		}
		*d.dst = demographicRows(sums)
	}
	return out, nil
}

// demographicRows sums the values' counters over the events, most orders first.
func demographicRows(sums map[string]map[string]map[string]int64) []DemographicRow {
	byValue := map[string]*DemographicRow{}
	for _, values := range sums {
		for v, m := range values {
			row := byValue[v]
			if row == nil {
				row = &DemographicRow{Value: v}
				byValue[v] = row
			}
			row.Orders += m[ticketview.MetricOrders]
			row.SeatsSold += m[ticketview.MetricSeatsSold]
		}
	}
	out := make([]DemographicRow, 0, len(byValue))
	for _, row := range byValue {
		out = append(out, *row)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		switch {
		case a.Orders != b.Orders:
			return a.Orders > b.Orders
		case a.SeatsSold != b.SeatsSold:
			return a.SeatsSold > b.SeatsSold
		}
		return a.Value < b.Value
	})
	return out
}

// WriteCSV writes the report as CSV: a header row, then a row per city and per age band.
func (d DemographicsReport) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"dimension", "value", "orders", "seats_sold"})
	for _, part := range []struct {
		dim  string
		rows []DemographicRow
	}{{ticketview.DimCity, d.Cities}, {ticketview.DimAgeBand, d.AgeBands}} {
		for _, r := range part.rows {
			cw.Write([]string{part.dim, cell(r.Value), i64(r.Orders), i64(r.SeatsSold)})
		}
	}
	cw.Flush()
	return cw.Error()
}

// cell is a text cell: one that a spreadsheet would read as a formula (it starts with =,
// +, -, @, a tab or a carriage return: names and cities come from users) is prefixed
// with a quote, so that opening the file runs nothing.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func i64(v int64) string   { return strconv.FormatInt(v, 10) }
func f64(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
