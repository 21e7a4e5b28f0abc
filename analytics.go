package ticketview

import (
	"context"
	"time"
)

// Analytics counts what happens to each event in hourly buckets along a few dimensions;
// the reports are sums of these counters.

// Analytics metrics.
const (
	MetricHoldsPlaced    = "holds_placed"
	MetricSeatsHeld      = "seats_held"
	MetricHoldsExpired   = "holds_expired"
	MetricHoldsReleased  = "holds_released"
	MetricCheckouts      = "checkouts" // orders created
	MetricOrders         = "orders"    // orders confirmed
	MetricSeatsSold      = "seats_sold"
	MetricRevenue        = "revenue" // minor units of the event's currency
	MetricPaymentsFailed = "payments_failed"
	MetricOrdersExpired  = "orders_expired"
	MetricRefunds        = "refunds"
	MetricRefundedAmount = "refunded_amount"
	MetricSeatsRefunded  = "seats_refunded"
	MetricPriceChanges   = "price_changes"
)

// Analytics dimensions ("" is the event's total).
const (
	DimNone     = ""
	DimCategory = "category"
	DimCity     = "city"
	DimAgeBand  = "age_band"
	DimBuyer    = "buyer"
)

// Increment adds Delta to one counter.
type Increment struct {
	Event  string
	Hour   time.Time // truncated to the hour, UTC
	Dim    string
	Value  string // the dimension's value ("" with DimNone)
	Metric string
	Delta  int64
}

// CounterQuery selects counters to sum.
type CounterQuery struct {
	Events  []string // nil: every event
	Dim     string
	Metrics []string // nil: every metric
	From    time.Time
	To      time.Time // exclusive; zero: no bound
	ByHour  bool      // one row per hour (else summed over the period)
}

// CounterRow is a sum of counters.
type CounterRow struct {
	Event  string    `json:"event"`
	Hour   time.Time `json:"hour,omitzero"`
	Dim    string    `json:"dim,omitempty"`
	Value  string    `json:"value,omitempty"`
	Metric string    `json:"metric"`
	Total  int64     `json:"total"`
}

// EventInfo is what analytics knows of an event, kept current from event messages.
type EventInfo struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	OrganizerID string    `json:"organizer_id,omitempty"`
	StartsAt    time.Time `json:"starts_at"`
	Currency    string    `json:"currency"`
	Status      string    `json:"status"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// AnalyticsStore keeps the counters. Each message is applied once: a message id applied
// before changes nothing.
type AnalyticsStore interface {
	// AddCounters applies the increments of one message atomically, once (false: it was
	// applied before).
	AddCounters(ctx context.Context, msgID string, incs []Increment) (applied bool, err error)
	// Counters answers the sums q selects, ordered by event, hour, dim value, metric.
	Counters(ctx context.Context, q CounterQuery) ([]CounterRow, error)
	// PutEventInfo stores what an event message says of the event (a message older than
	// the stored UpdatedAt changes nothing).
	PutEventInfo(ctx context.Context, info EventInfo) error
	// EventInfos answers the known events (nil ids: all), by id.
	EventInfos(ctx context.Context, ids []string) ([]EventInfo, error)
}
