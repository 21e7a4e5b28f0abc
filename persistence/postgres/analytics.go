package postgres

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketview/ticketview"
)

var _ ticketview.AnalyticsStore = (*DB)(nil)

// Limits of the analytics keys, which the domain leaves to the stores.
const (
	maxAnalyticsMsgID = 200
	maxAnalyticsName  = 64  // a dimension or a metric
	maxAnalyticsKey   = 255 // an event id, a dimension's value
)

const (
	// qAddAnalytics applies a message in one statement: it records the message id and,
	// only if the id is new, upserts the counters (arrays of the increments, in key order
	// so that concurrent messages lock shared counters in one order). Concurrent
	// statements of one id wait for the first insert on the id's index and then find it
	// taken, so exactly one of them counts.
	qAddAnalytics = `WITH msg AS (
		INSERT INTO analytics_applied (msg_id) VALUES ($1) ON CONFLICT (msg_id) DO NOTHING RETURNING 1
	), counted AS (
		INSERT INTO analytics_counters AS c (event, hour, dim, value, metric, total)
		SELECT u.event, u.hour, u.dim, u.value, u.metric, u.delta
		FROM unnest($2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::bigint[])
			AS u(event, hour, dim, value, metric, delta)
		WHERE EXISTS (SELECT 1 FROM msg)
		ON CONFLICT (event, hour, dim, value, metric) DO UPDATE SET total = c.total + excluded.total
	)
	SELECT EXISTS (SELECT 1 FROM msg)`
	qPutAnalyticsEvent = `INSERT INTO analytics_events AS a (id, name, organizer, starts_at, starts_at_ns, currency, status,
			updated_at, updated_at_ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, organizer = excluded.organizer,
			starts_at = excluded.starts_at, starts_at_ns = excluded.starts_at_ns, currency = excluded.currency,
			status = excluded.status, updated_at = excluded.updated_at, updated_at_ns = excluded.updated_at_ns
		WHERE excluded.updated_at_ns >= a.updated_at_ns`
	analyticsEventCols = `id, name, organizer, starts_at_ns, currency, status, updated_at_ns`
)

// checkAnalyticsIncrements validates the increments of a message and returns them with
// their hours truncated to the hour in UTC, those of the same counter summed and those
// adding nothing dropped, in key order.
func checkAnalyticsIncrements(msgID string, incs []ticketview.Increment) ([]ticketview.Increment, error) {
	if msgID == "" || len(msgID) > maxAnalyticsMsgID || !printable(msgID) {
		return nil, ticketview.Errorf(ticketview.EINVALID, "a message id must be 1 to %d printable characters", maxAnalyticsMsgID)
	}
	type key struct {
		event, dim, value, metric string
		hour                      int64
	}
	sums := map[key]int64{}
	for _, in := range incs {
		switch {
		case in.Event == "" || len(in.Event) > maxAnalyticsKey || !validText(in.Event):
			return nil, ticketview.Errorf(ticketview.EINVALID, "a counter's event must be 1 to %d bytes of text", maxAnalyticsKey)
		case in.Metric == "" || len(in.Metric) > maxAnalyticsName || !printable(in.Metric):
			return nil, ticketview.Errorf(ticketview.EINVALID, "a counter's metric must be 1 to %d printable characters", maxAnalyticsName)
		case len(in.Dim) > maxAnalyticsName || !printable(in.Dim):
			return nil, ticketview.Errorf(ticketview.EINVALID, "a counter's dimension must be at most %d printable characters", maxAnalyticsName)
		case len(in.Value) > maxAnalyticsKey || !validText(in.Value):
			return nil, ticketview.Errorf(ticketview.EINVALID, "a counter's value must be at most %d bytes of text", maxAnalyticsKey)
		case in.Dim == ticketview.DimNone && in.Value != "":
			return nil, ticketview.Errorf(ticketview.EINVALID, "an event's total (no dimension) has no value")
		case in.Hour.IsZero() || !storable(in.Hour):
			return nil, ticketview.Errorf(ticketview.EINVALID, "a counter's hour must be between the years 1678 and 2262")
		}
		if in.Delta != 0 {
			sums[key{in.Event, in.Dim, in.Value, in.Metric, in.Hour.UTC().Truncate(time.Hour).Unix()}] += in.Delta
		}
	}
	out := make([]ticketview.Increment, 0, len(sums))
	for k, d := range sums {
		if d != 0 {
			out = append(out, ticketview.Increment{Event: k.event, Hour: time.Unix(k.hour, 0).UTC(), Dim: k.dim,
				Value: k.value, Metric: k.metric, Delta: d})
		}
	}
	sort.Slice(out, func(i, j int) bool { return analyticsIncLess(&out[i], &out[j]) })
	return out, nil
}

// analyticsIncLess orders increments by their counter's key.
func analyticsIncLess(a, b *ticketview.Increment) bool {
	switch {
	case a.Event != b.Event:
		return a.Event < b.Event
	case !a.Hour.Equal(b.Hour):
		return a.Hour.Before(b.Hour)
	case a.Dim != b.Dim:
		return a.Dim < b.Dim
	case a.Value != b.Value:
		return a.Value < b.Value
	}
	return a.Metric < b.Metric
}

// AddCounters applies the increments of one message with its id, in one statement:
// applied is false, and nothing changes, when the id was applied before. Increments are
// validated first (EINVALID, nothing applied); hours are truncated to the hour in UTC.
func (db *DB) AddCounters(ctx context.Context, msgID string, incs []ticketview.Increment) (bool, error) {
	incs, err := checkAnalyticsIncrements(msgID, incs)
	if err != nil {
		return false, err
	}
	if err := db.open(); err != nil {
		return false, err
	}
	n := len(incs)
	events, dims, values, metrics := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	hours, deltas := make([]time.Time, n), make([]int64, n)
	for i, in := range incs {
		events[i], hours[i], dims[i], values[i], metrics[i], deltas[i] = in.Event, in.Hour, in.Dim, in.Value, in.Metric, in.Delta
	}
	var applied bool
	err = db.pool.QueryRow(ctx, qAddAnalytics, msgID, events, hours, dims, values, metrics, deltas).Scan(&applied)
	if err != nil {
		return false, storeErr("add counters", err)
	}
	return applied, nil
}

// checkAnalyticsQuery validates a query's keys and period.
func checkAnalyticsQuery(q *ticketview.CounterQuery) error {
	for _, e := range q.Events {
		if !validText(e) {
			return ticketview.Errorf(ticketview.EINVALID, "event ids must be UTF-8 without NUL")
		}
	}
	for _, m := range q.Metrics {
		if !validText(m) {
			return ticketview.Errorf(ticketview.EINVALID, "metrics must be UTF-8 without NUL")
		}
	}
	switch {
	case !validText(q.Dim):
		return ticketview.Errorf(ticketview.EINVALID, "the dimension must be UTF-8 without NUL")
	case !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From):
		return ticketview.Errorf(ticketview.EINVALID, "the period ends before it starts")
	case !storable(q.From, q.To):
		return ticketview.Errorf(ticketview.EINVALID, "the period must be between the years 1678 and 2262")
	}
	return nil
}

// analyticsHourBound is a bound of a period as the hours are compared with it: a bound
// within a second is the next whole second (hours are whole).
func analyticsHourBound(t time.Time) time.Time {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return time.Unix(s, 0).UTC()
}

// Counters answers the sums of the counters q selects: those of q.Dim exactly (DimNone:
// the events' totals), of q.Events and q.Metrics (nil: all; empty but not nil: none),
// whose hour is in [From, To) (a zero bound is open). Rows are ordered by event, hour,
// dimension value and metric (bytewise); without ByHour each row sums the period and has
// a zero Hour.
func (db *DB) Counters(ctx context.Context, q ticketview.CounterQuery) ([]ticketview.CounterRow, error) {
	if err := checkAnalyticsQuery(&q); err != nil {
		return nil, err
	}
	if (q.Events != nil && len(q.Events) == 0) || (q.Metrics != nil && len(q.Metrics) == 0) {
		return []ticketview.CounterRow{}, nil
	}
	if err := db.open(); err != nil {
		return nil, err
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := []string{"dim = " + arg(q.Dim)}
	if q.Events != nil {
		where = append(where, "event = ANY("+arg(q.Events)+"::text[])")
	}
	if q.Metrics != nil {
		where = append(where, "metric = ANY("+arg(q.Metrics)+"::text[])")
	}
	if !q.From.IsZero() {
		where = append(where, "hour >= "+arg(analyticsHourBound(q.From)))
	}
	if !q.To.IsZero() {
		where = append(where, "hour < "+arg(analyticsHourBound(q.To)))
	}
	hour, group, order := "NULL::timestamptz", "event, dim, value, metric", `event COLLATE "C", value COLLATE "C", metric COLLATE "C"`
	if q.ByHour {
		hour, group, order = "hour", "event, hour, dim, value, metric", `event COLLATE "C", hour, value COLLATE "C", metric COLLATE "C"`
	}
	query := `SELECT event, ` + hour + `, dim, value, metric, sum(total)::bigint FROM analytics_counters WHERE ` +
		strings.Join(where, " AND ") + ` GROUP BY ` + group + ` ORDER BY ` + order
	var out []ticketview.CounterRow
	err := db.read(ctx, func(conn *pgx.Conn) error {
		out = []ticketview.CounterRow{}
		rows, err := conn.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r ticketview.CounterRow
			var h *time.Time
			if err := rows.Scan(&r.Event, &h, &r.Dim, &r.Value, &r.Metric, &r.Total); err != nil {
				return err
			}
			if h != nil {
				r.Hour = h.UTC()
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, storeErr("counters", err)
	}
	return out, nil
}

// checkAnalyticsEvent validates an event's analytics record.
func checkAnalyticsEvent(info *ticketview.EventInfo) error {
	switch {
	case info.ID == "" || len(info.ID) > maxAnalyticsKey || !validText(info.ID):
		return ticketview.Errorf(ticketview.EINVALID, "an event id must be 1 to %d bytes of text", maxAnalyticsKey)
	case !validText(info.Name) || !validText(info.OrganizerID) || !validText(info.Currency) || !validText(info.Status):
		return ticketview.Errorf(ticketview.EINVALID, "event %q: text must be UTF-8 without NUL", info.ID)
	case info.UpdatedAt.IsZero() || !storable(info.UpdatedAt, info.StartsAt):
		return ticketview.Errorf(ticketview.EINVALID, "event %q: an update time is needed, and times must be between the years 1678 and 2262", info.ID)
	}
	return nil
}

// PutEventInfo stores what a message says of an event, unless the stored record is
// newer (UpdatedAt, to the nanosecond; an equal time replaces it). EINVALID without an
// id or an UpdatedAt.
func (db *DB) PutEventInfo(ctx context.Context, info ticketview.EventInfo) error {
	if err := checkAnalyticsEvent(&info); err != nil {
		return err
	}
	if err := db.open(); err != nil {
		return err
	}
	_, err := db.pool.Exec(ctx, qPutAnalyticsEvent, info.ID, info.Name, info.OrganizerID, tsOrNil(info.StartsAt),
		nsOrNil(info.StartsAt), info.Currency, info.Status, info.UpdatedAt, info.UpdatedAt.UnixNano())
	return storeErr("put event info "+info.ID, err)
}

// EventInfos answers the known events of ids (nil: all; empty but not nil: none), by id
// (bytewise). Times come back in UTC.
func (db *DB) EventInfos(ctx context.Context, ids []string) ([]ticketview.EventInfo, error) {
	if ids != nil && len(ids) == 0 {
		return []ticketview.EventInfo{}, nil
	}
	for _, id := range ids {
		if !validText(id) {
			return nil, ticketview.Errorf(ticketview.EINVALID, "event ids must be UTF-8 without NUL")
		}
	}
	if err := db.open(); err != nil {
		return nil, err
	}
	query := `SELECT ` + analyticsEventCols + ` FROM analytics_events ORDER BY id COLLATE "C"`
	var args []any
	if ids != nil {
		query = `SELECT ` + analyticsEventCols + ` FROM analytics_events WHERE id = ANY($1::text[]) ORDER BY id COLLATE "C"`
		args = append(args, ids)
	}
	var out []ticketview.EventInfo
	err := db.read(ctx, func(conn *pgx.Conn) error {
		out = []ticketview.EventInfo{}
		rows, err := conn.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e ticketview.EventInfo
			var starts *int64
			var updated int64
			if err := rows.Scan(&e.ID, &e.Name, &e.OrganizerID, &starts, &e.Currency, &e.Status, &updated); err != nil {
				return err
			}
			e.StartsAt, e.UpdatedAt = timeOf(starts), time.Unix(0, updated).UTC()
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, storeErr("event infos", err)
	}
	return out, nil
}
