package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"sort"
	"strings"
	"time"

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
	// Inserts nothing when the message was applied before: one statement both checks and
	// records it. The counters are added by a multi-row upsert (addCounters).
	qInsAnalyticsApplied = `INSERT INTO analytics_applied (msg_id, applied_at) VALUES (?, ?) ON CONFLICT (msg_id) DO NOTHING`
	qPutAnalyticsEvent   = `INSERT INTO analytics_events (id, name, organizer, starts_at, currency, status, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, organizer = excluded.organizer,
			starts_at = excluded.starts_at, currency = excluded.currency, status = excluded.status,
			updated_at = excluded.updated_at
		WHERE excluded.updated_at >= analytics_events.updated_at`
	analyticsEventCols = `id, name, organizer, starts_at, currency, status, updated_at`
)

// checkAnalyticsIncrements validates the increments of a message and returns them with their
// hours truncated to the hour in UTC, those of the same counter summed and those adding
// nothing dropped, in key order.
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

// AddCounters applies the increments of one message in one transaction of the
// committer, with the message's id: applied is false, and nothing changes, when the id
// was applied before. Increments are validated first (EINVALID, nothing applied); hours
// are truncated to the hour in UTC.
func (db *DB) AddCounters(ctx context.Context, msgID string, incs []ticketview.Increment) (bool, error) {
	incs, err := checkAnalyticsIncrements(msgID, incs)
	if err != nil {
		return false, err
	}
	now := time.Now().UnixNano()
	var applied bool
	err = db.do(ctx, "", func(b *batch) error {
		applied = false
		// A message applied before (in this batch too) has its row: then the insert
		// changes nothing, and the message nothing more.
		res, err := b.exec("add counters", qInsAnalyticsApplied, msgID, now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return b.fail(err)
		} else if n == 0 {
			return nil
		}
		// One upsert row a counter (checkAnalyticsIncrements summed those of the same key).
		if err := b.execRows("add counters", addCounters, len(incs), func(args []any, i int) []any {
			in := &incs[i]
			return append(args, in.Event, in.Hour.Unix(), in.Dim, in.Value, in.Metric, in.Delta)
		}); err != nil {
			return err
		}
		applied = true
		return nil
	})
	if err != nil {
		return false, err
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
	}
	return nil
}

// Counters answers the sums of the counters q selects: those of q.Dim exactly (DimNone:
// the events' totals), of q.Events and q.Metrics (nil: all; empty but not nil: none),
// whose hour is in [From, To) (a zero bound is open). Rows are ordered by event, hour,
// dimension value and metric; without ByHour each row sums the period and has a zero
// Hour.
func (db *DB) Counters(ctx context.Context, q ticketview.CounterQuery) ([]ticketview.CounterRow, error) {
	if err := checkAnalyticsQuery(&q); err != nil {
		return nil, err
	}
	if (q.Events != nil && len(q.Events) == 0) || (q.Metrics != nil && len(q.Metrics) == 0) {
		return []ticketview.CounterRow{}, nil
	}
	where := []string{"dim = ?"}
	args := []any{q.Dim}
	if q.Events != nil {
		list, _ := json.Marshal(q.Events)
		where = append(where, "event IN (SELECT value FROM json_each(?))")
		args = append(args, string(list))
	}
	if q.Metrics != nil {
		list, _ := json.Marshal(q.Metrics)
		where = append(where, "metric IN (SELECT value FROM json_each(?))")
		args = append(args, string(list))
	}
	if !q.From.IsZero() {
		where = append(where, "hour >= ?")
		args = append(args, analyticsHourBound(q.From))
	}
	if !q.To.IsZero() {
		where = append(where, "hour < ?")
		args = append(args, analyticsHourBound(q.To))
	}
	group := "event, dim, value, metric"
	cols := "event, 0, dim, value, metric"
	if q.ByHour {
		group = "event, hour, dim, value, metric"
		cols = group
	}
	// There are 32 shapes of query: each is prepared once.
	s, err := db.readStmt(ctx, `SELECT `+cols+`, sum(total) FROM analytics_counters WHERE `+strings.Join(where, " AND ")+
		` GROUP BY `+group+` ORDER BY `+group)
	if err != nil {
		return nil, unavailable("counters", err)
	}
	rows, err := s.QueryContext(ctx, args...)
	if err != nil {
		return nil, unavailable("counters", err)
	}
	defer rows.Close()
	out := []ticketview.CounterRow{}
	for rows.Next() {
		var r ticketview.CounterRow
		var hour int64
		if err := rows.Scan(&r.Event, &hour, &r.Dim, &r.Value, &r.Metric, &r.Total); err != nil {
			return nil, unavailable("counters", err)
		}
		if q.ByHour {
			r.Hour = time.Unix(hour, 0).UTC()
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("counters", err)
	}
	return out, nil
}

// analyticsHourBound is a bound of a period in the hour column's Unix seconds: a bound within an
// hour is the next whole second, so that [From, To) keeps the buckets that start in it.
func analyticsHourBound(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// checkAnalyticsEventInfo validates an event's analytics record.
func checkAnalyticsEventInfo(info *ticketview.EventInfo) error {
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
// newer (UpdatedAt; an equal time replaces it). EINVALID without an id or an UpdatedAt.
func (db *DB) PutEventInfo(ctx context.Context, info ticketview.EventInfo) error {
	if err := checkAnalyticsEventInfo(&info); err != nil {
		return err
	}
	args := []any{info.ID, info.Name, info.OrganizerID, nsOrNil(info.StartsAt), info.Currency, info.Status, info.UpdatedAt.UnixNano()}
	return db.do(ctx, "", func(b *batch) error {
		_, err := b.exec("put event info "+info.ID, qPutAnalyticsEvent, args...)
		return err
	})
}

// EventInfos answers the known events of ids (nil: all; empty but not nil: none), by id.
// Times come back in UTC.
func (db *DB) EventInfos(ctx context.Context, ids []string) ([]ticketview.EventInfo, error) {
	if ids != nil && len(ids) == 0 {
		return []ticketview.EventInfo{}, nil
	}
	for _, id := range ids {
		if !validText(id) {
			return nil, ticketview.Errorf(ticketview.EINVALID, "event ids must be UTF-8 without NUL")
		}
	}
	query := `SELECT ` + analyticsEventCols + ` FROM analytics_events ORDER BY id`
	var args []any
	if ids != nil {
		list, _ := json.Marshal(ids)
		query = `SELECT ` + analyticsEventCols + ` FROM analytics_events WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id`
		args = append(args, string(list))
	}
	s, err := db.readStmt(ctx, query)
	if err != nil {
		return nil, unavailable("event infos", err)
	}
	rows, err := s.QueryContext(ctx, args...)
	if err != nil {
		return nil, unavailable("event infos", err)
	}
	defer rows.Close()
	out := []ticketview.EventInfo{}
	for rows.Next() {
		var e ticketview.EventInfo
		var starts sql.NullInt64
		var updated int64
		if err := rows.Scan(&e.ID, &e.Name, &e.OrganizerID, &starts, &e.Currency, &e.Status, &updated); err != nil {
			return nil, unavailable("event infos", err)
		}
		e.StartsAt, e.UpdatedAt = timeOf(starts), time.Unix(0, updated).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("event infos", err)
	}
	return out, nil
}
