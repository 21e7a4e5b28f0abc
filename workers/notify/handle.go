package notify

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/ticketview/ticketview"
)

// Handle handles one message of the orders' or events' topics (the worker's
// ticketview.MessageHandler). Malformed messages, unknown types and versions newer than
// this build's are logged and skipped (nil); an error means the message must be
// delivered again (a send failed, a store was unavailable).
func (w *Worker) Handle(ctx context.Context, m ticketview.Message) error {
	env, err := ticketview.DecodeEnvelope(m.Value)
	if err != nil {
		w.log.Warn("malformed message skipped", zap.String("topic", m.Topic), zap.Int64("offset", m.Offset), zap.Error(err))
		return nil
	}
	log := w.log.With(zap.String("type", env.Type), zap.String("id", env.ID), zap.String("key", env.Key))
	if env.V > ticketview.MessageVersion {
		log.Warn("message of a newer version skipped", zap.Int("v", env.V))
		return nil
	}
	switch env.Type {
	case ticketview.MsgBookingConfirmed, ticketview.MsgPaymentRefunded, ticketview.MsgBookingCancelled, ticketview.MsgBookingExpired:
		var d ticketview.OrderData
		if err := json.Unmarshal(env.Data, &d); err != nil || d.Order == nil || d.Order.ID == "" || d.Order.Event == "" {
			log.Warn("malformed order message skipped", zap.Error(err))
			return nil
		}
		if env.Type == ticketview.MsgPaymentRefunded && d.Refund == nil {
			log.Warn("refund message without its refund skipped")
			return nil
		}
		return w.orderMessage(ctx, env, &d)
	case ticketview.MsgEventUpdated:
		var d ticketview.EventData
		if err := json.Unmarshal(env.Data, &d); err != nil || d.Event == nil || d.Event.ID == "" {
			log.Warn("malformed event message skipped", zap.Error(err))
			return nil
		}
		return w.eventUpdated(ctx, log, &d)
	}
	log.Debug("message of no interest skipped")
	return nil
}

// orderMessage tells the buyer about a change of their order.
func (w *Worker) orderMessage(ctx context.Context, env ticketview.Envelope, d *ticketview.OrderData) error {
	o := d.Order
	ev, err := w.event(ctx, o.Event)
	if err != nil {
		return err
	}
	v := newView(w.cfg.PublicURL, o, ev, d.Refund)
	switch env.Type {
	case ticketview.MsgBookingConfirmed:
		if err := w.scheduleReminder(ctx, o, ev); err != nil {
			return err
		}
		return w.notify(ctx, kindConfirmed, env.ID, o.Contact, v)
	case ticketview.MsgPaymentRefunded:
		if err := w.notify(ctx, kindRefunded, env.ID, o.Contact, v); err != nil {
			return err
		}
		return w.dropReminder(ctx, o)
	case ticketview.MsgBookingCancelled:
		if err := w.notify(ctx, kindCancelled, env.ID, o.Contact, v); err != nil {
			return err
		}
		return w.dropReminder(ctx, o)
	case ticketview.MsgBookingExpired:
		return w.notify(ctx, kindExpired, env.ID, o.Contact, v)
	}
	return nil
}

// event loads the order's event for the messages; one the catalog does not have is shown
// by its id.
func (w *Worker) event(ctx context.Context, id string) (*ticketview.Event, error) {
	ev, err := w.cfg.Events.FindEvent(ctx, id)
	switch {
	case ticketview.ErrorCode(err) == ticketview.ENOTFOUND:
		return eventStub(id), nil
	case err != nil:
		return nil, err
	}
	return ev, nil
}

// scheduleReminder schedules the reminder of a confirmed order, when its due time is
// still to come.
func (w *Worker) scheduleReminder(ctx context.Context, o *ticketview.Order, ev *ticketview.Event) error {
	if ev.StartsAt.IsZero() || !live(o) {
		return nil
	}
	due := reminderDue(ev.StartsAt, w.cfg.ReminderBefore)
	if !due.After(w.cfg.Now()) {
		return nil
	}
	return w.cfg.Store.ScheduleReminder(ctx, ticketview.Reminder{OrderID: o.ID, Event: o.Event, Due: due})
}

// dropReminder cancels the order's reminder when nothing of it is left to attend.
func (w *Worker) dropReminder(ctx context.Context, o *ticketview.Order) error {
	if live(o) {
		return nil
	}
	return w.cfg.Store.CancelReminder(ctx, o.ID)
}

// live reports whether the order has tickets to use: confirmed (or partly refunded) with
// an item not refunded.
func live(o *ticketview.Order) bool {
	if o.Status != ticketview.OrderConfirmed && o.Status != ticketview.OrderPartiallyRefunded {
		return false
	}
	return slices.ContainsFunc(o.Items, func(it ticketview.OrderItem) bool { return !it.Refunded })
}

// eventUpdated moves the reminders of an event whose time changed.
func (w *Worker) eventUpdated(ctx context.Context, log *zap.Logger, d *ticketview.EventData) error {
	if !slices.Contains(d.Changed, "time") {
		return nil
	}
	if d.Event.StartsAt.IsZero() {
		log.Warn("event update without a start time skipped")
		return nil
	}
	err := w.cfg.Store.RescheduleEventReminders(ctx, d.Event.ID, reminderDue(d.Event.StartsAt, w.cfg.ReminderBefore))
	if ticketview.ErrorCode(err) == ticketview.EINVALID {
		log.Warn("reminders not rescheduled", zap.Error(err))
		return nil
	}
	return err
}

// RemindDue sends the reminders due now and answers how many it finished (sent, or
// dropped because their order or event no longer needs one). A reminder whose send
// failed stays, for the next poll; the errors are returned together.
func (w *Worker) RemindDue(ctx context.Context) (int, error) {
	now := w.cfg.Now()
	rs, err := w.cfg.Store.DueReminders(ctx, now, reminderBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, r := range rs {
		if err := w.remind(ctx, r, now); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// remind sends one reminder, or drops it when the order has no valid ticket left, the
// event is cancelled or has started.
func (w *Worker) remind(ctx context.Context, r ticketview.Reminder, now time.Time) error {
	o, err := w.cfg.Orders.FindOrder(ctx, r.OrderID)
	if ticketview.ErrorCode(err) == ticketview.ENOTFOUND {
		return w.cfg.Store.CancelReminder(ctx, r.OrderID)
	} else if err != nil {
		return err
	}
	ev, err := w.event(ctx, o.Event)
	if err != nil {
		return err
	}
	if !live(o) || ev.Status == ticketview.EventCancelled || (!ev.StartsAt.IsZero() && !now.Before(ev.StartsAt)) {
		w.log.Info("reminder dropped", zap.String("order", o.ID), zap.String("status", string(o.Status)))
		return w.cfg.Store.CancelReminder(ctx, o.ID)
	}
	if err := w.notify(ctx, kindReminder, "reminder/"+o.ID, o.Contact, newView(w.cfg.PublicURL, o, ev, nil)); err != nil {
		return err
	}
	return w.cfg.Store.CancelReminder(ctx, o.ID)
}
