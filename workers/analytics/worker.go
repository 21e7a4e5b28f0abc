// Package analytics is TicketView's analytics worker and its reports. The worker consumes
// the orders', sections' and events' topics in a consumer group and turns each message
// into hourly counters (ticketview.AnalyticsStore), applied once per message id however
// often the message is delivered; Reports sums the counters into sales, trend, activity
// and demographics reports, as JSON values or CSV.
package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/ticketview/ticketview"
)

// DefaultGroup is the worker's consumer group when Config.Group is empty.
const DefaultGroup = "analytics"

// Topics are the topics the worker consumes.
var Topics = []string{ticketview.TopicOrders, ticketview.TopicSections, ticketview.TopicEvents}

// Config configures a Worker.
type Config struct {
	Source ticketview.MessageSource
	Store  ticketview.AnalyticsStore
	Group  string      // consumer group (default DefaultGroup)
	Log    *zap.Logger // default: no logs
}

// Worker counts what the messages of the pipeline say happened. It is safe to run several
// workers of one group (the source shares the partitions out among them).
type Worker struct {
	src   ticketview.MessageSource
	store ticketview.AnalyticsStore
	group string
	log   *zap.Logger
}

// New checks cfg and returns a worker: EINVALID without a source or a store.
func New(cfg Config) (*Worker, error) {
	if cfg.Source == nil || cfg.Store == nil {
		return nil, ticketview.Errorf(ticketview.EINVALID, "analytics: a message source and a store are required")
	}
	w := &Worker{src: cfg.Source, store: cfg.Store, group: cfg.Group, log: cfg.Log}
	if w.group == "" {
		w.group = DefaultGroup
	}
	if w.log == nil {
		w.log = zap.NewNop()
	}
	return w, nil
}

// Run consumes until ctx ends (then it returns nil) or the source fails. A message the
// worker cannot read (malformed, of an unknown type, of a newer version) is logged and
// skipped; a failure of the store leaves the message to be delivered again.
func (w *Worker) Run(ctx context.Context) error {
	err := w.src.Consume(ctx, w.group, Topics, w.Handle)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Handle counts one message (the worker's ticketview.MessageHandler). It returns nil for
// a message it skips (unreadable, or refused by the store as invalid: EINVALID) and the
// store's error otherwise, so that the message is delivered again.
func (w *Worker) Handle(ctx context.Context, m ticketview.Message) error {
	err := w.handle(ctx, m)
	if err == nil {
		return nil
	}
	var skip *skipError
	if errors.As(err, &skip) || ticketview.ErrorCode(err) == ticketview.EINVALID {
		// Delivering it again would fail again: it would hold up its partition forever.
		w.log.Warn("analytics: message skipped", zap.String("topic", m.Topic), zap.String("key", m.Key),
			zap.Int64("offset", m.Offset), zap.Int32("partition", m.Partition), zap.Error(err))
		return nil
	}
	w.log.Error("analytics: message not counted, it will be delivered again", zap.String("topic", m.Topic),
		zap.String("key", m.Key), zap.Int64("offset", m.Offset), zap.Error(err))
	return err
}

// skipError is a message the worker will never be able to count.
type skipError struct{ reason string }

func (e *skipError) Error() string { return "skipped: " + e.reason }

func skip(reason string) error { return &skipError{reason} }

func (w *Worker) handle(ctx context.Context, m ticketview.Message) error {
	switch m.Topic {
	case ticketview.TopicSections:
		return w.handleSection(ctx, m.Value)
	case ticketview.TopicOrders, ticketview.TopicEvents:
		env, err := ticketview.DecodeEnvelope(m.Value)
		if err != nil {
			return skip(err.Error())
		}
		if env.V > ticketview.MessageVersion {
			return skip("envelope version " + itoa(int64(env.V)) + " is newer than this build's")
		}
		if env.At.IsZero() {
			return skip("message " + env.ID + " has no time")
		}
		if m.Topic == ticketview.TopicEvents {
			return w.handleEvent(ctx, env)
		}
		return w.handleOrder(ctx, env)
	}
	return skip("unknown topic " + m.Topic)
}

func (w *Worker) handleSection(ctx context.Context, value []byte) error {
	var sm ticketview.SectionMessage
	if err := json.Unmarshal(value, &sm); err != nil {
		return skip("section message: " + err.Error())
	}
	switch {
	case sm.V < 1 || sm.Event == "" || sm.Section == "" || sm.Type == "" || sm.At.IsZero():
		return skip("section message: no version, event, section, type or time")
	case sm.V > ticketview.MessageVersion:
		return skip("section message version " + itoa(int64(sm.V)) + " is newer than this build's")
	}
	incs := SectionIncrements(&sm)
	if len(incs) == 0 {
		return nil // nothing to count (extended, confirmed, blocked, ...)
	}
	_, err := w.store.AddCounters(ctx, sm.ID(), incs)
	return err
}

func (w *Worker) handleOrder(ctx context.Context, env ticketview.Envelope) error {
	var d ticketview.OrderData
	if err := json.Unmarshal(env.Data, &d); err != nil {
		return skip("order message " + env.ID + ": " + err.Error())
	}
	if d.Order == nil || d.Order.Event == "" {
		return skip("order message " + env.ID + " has no order")
	}
	incs, known := OrderIncrements(env.Type, env.At, &d)
	if !known {
		return skip("unknown order message type " + env.Type)
	}
	if len(incs) == 0 {
		return nil
	}
	_, err := w.store.AddCounters(ctx, env.ID, incs)
	return err
}

func (w *Worker) handleEvent(ctx context.Context, env ticketview.Envelope) error {
	if env.Type != ticketview.MsgEventCreated && env.Type != ticketview.MsgEventUpdated {
		return skip("unknown event message type " + env.Type)
	}
	var d ticketview.EventData
	if err := json.Unmarshal(env.Data, &d); err != nil {
		return skip("event message " + env.ID + ": " + err.Error())
	}
	if d.Event == nil || d.Event.ID == "" {
		return skip("event message " + env.ID + " has no event")
	}
	e := d.Event
	info := ticketview.EventInfo{ID: e.ID, Name: e.Name, OrganizerID: e.OrganizerID, StartsAt: e.StartsAt,
		Currency: e.Currency, Status: string(e.Status), UpdatedAt: env.At}
	if err := w.store.PutEventInfo(ctx, info); err != nil {
		return err
	}
	if env.Type == ticketview.MsgEventUpdated && slices.Contains(d.Changed, "prices") {
		_, err := w.store.AddCounters(ctx, env.ID, []ticketview.Increment{
			{Event: e.ID, Hour: hourOf(env.At), Metric: ticketview.MetricPriceChanges, Delta: 1}})
		return err
	}
	return nil
}

// hourOf is the counters' hour of a time: truncated to the hour, in UTC.
func hourOf(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

// SectionIncrements are the counters a section message adds: hold_placed, hold_expired
// and hold_released count; other types add nothing.
func SectionIncrements(sm *ticketview.SectionMessage) []ticketview.Increment {
	c := counter{event: sm.Event, hour: hourOf(sm.At)}
	switch sm.Type {
	case ticketview.EvHoldPlaced.String():
		c.add(ticketview.DimNone, "", ticketview.MetricHoldsPlaced, 1)
		c.add(ticketview.DimNone, "", ticketview.MetricSeatsHeld, int64(sm.Quantity))
		if sm.Owner != "" {
			c.add(ticketview.DimBuyer, sm.Owner, ticketview.MetricHoldsPlaced, 1)
		}
	case ticketview.EvHoldExpired.String():
		c.add(ticketview.DimNone, "", ticketview.MetricHoldsExpired, 1)
	case ticketview.EvHoldReleased.String():
		c.add(ticketview.DimNone, "", ticketview.MetricHoldsReleased, 1)
	}
	return c.incs
}

// OrderIncrements are the counters an order message of type typ at time at adds, and
// whether the type is known (booking.cancelled and payment.succeeded add nothing).
func OrderIncrements(typ string, at time.Time, d *ticketview.OrderData) ([]ticketview.Increment, bool) {
	o := d.Order
	c := counter{event: o.Event, hour: hourOf(at)}
	switch typ {
	case ticketview.MsgBookingCreated:
		c.add(ticketview.DimNone, "", ticketview.MetricCheckouts, 1)
		c.add(ticketview.DimBuyer, o.Buyer, ticketview.MetricCheckouts, 1)
	case ticketview.MsgBookingConfirmed:
		seats := int64(o.Seats())
		c.add(ticketview.DimNone, "", ticketview.MetricOrders, 1)
		c.add(ticketview.DimNone, "", ticketview.MetricSeatsSold, seats)
		c.add(ticketview.DimNone, "", ticketview.MetricRevenue, o.Total.Amount)
		for _, it := range o.Items {
			for _, hi := range it.Items {
				c.add(ticketview.DimCategory, hi.Category, ticketview.MetricSeatsSold, int64(hi.Quantity))
				c.add(ticketview.DimCategory, hi.Category, ticketview.MetricRevenue, int64(hi.Quantity)*hi.UnitPrice)
			}
		}
		for _, dv := range [...][2]string{{ticketview.DimCity, o.Contact.City}, {ticketview.DimAgeBand, o.Contact.AgeBand}} {
			c.add(dv[0], dv[1], ticketview.MetricOrders, 1)
			c.add(dv[0], dv[1], ticketview.MetricSeatsSold, seats)
		}
		c.add(ticketview.DimBuyer, o.Buyer, ticketview.MetricOrders, 1)
		c.add(ticketview.DimBuyer, o.Buyer, ticketview.MetricRevenue, o.Total.Amount)
	case ticketview.MsgPaymentFailed:
		c.add(ticketview.DimNone, "", ticketview.MetricPaymentsFailed, 1)
	case ticketview.MsgBookingExpired:
		c.add(ticketview.DimNone, "", ticketview.MetricOrdersExpired, 1)
	case ticketview.MsgPaymentRefunded:
		c.add(ticketview.DimNone, "", ticketview.MetricRefunds, 1)
		if d.Refund == nil {
			break
		}
		c.add(ticketview.DimNone, "", ticketview.MetricRefundedAmount, d.Refund.Amount.Amount)
		for _, it := range o.Items {
			if !slices.Contains(d.Refund.Sections, it.Section) {
				continue
			}
			c.add(ticketview.DimNone, "", ticketview.MetricSeatsRefunded, int64(it.Quantity))
			for _, hi := range it.Items {
				c.add(ticketview.DimCategory, hi.Category, ticketview.MetricSeatsRefunded, int64(hi.Quantity))
			}
		}
	case ticketview.MsgBookingCancelled, ticketview.MsgPaymentSucceeded:
	default:
		return nil, false
	}
	return c.incs, true
}

// counter collects the increments of one message: one event, one hour.
type counter struct {
	event string
	hour  time.Time
	incs  []ticketview.Increment
}

// add counts delta on the metric of a dimension's value; a dimension without a value
// (the buyer did not say) and a zero delta add nothing.
func (c *counter) add(dim, value, metric string, delta int64) {
	if delta == 0 || (dim != ticketview.DimNone && value == "") {
		return
	}
	c.incs = append(c.incs, ticketview.Increment{Event: c.event, Hour: c.hour, Dim: dim, Value: value, Metric: metric, Delta: delta})
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
