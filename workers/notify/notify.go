// Package notify is the notification worker: it consumes the orders' and events' messages
// and tells buyers what happened to their orders, by email and SMS, each notification
// exactly once; and it sends each confirmed order a reminder before its event.
//
// Exactly once: every notification has a key ("<message id>/email", "<message id>/sms",
// "reminder/<order id>/email", "reminder/<order id>/sms"), claimed in the
// NotificationStore before sending and marked done after. A message delivered again
// finds its notifications sent and skips them; a notification whose send failed is
// released and the message's handler fails, so the message is delivered again; one
// claimed by a worker that crashed is sent again once its lease has passed (the one case
// where a buyer may get a notification twice: the crash came after the send and before
// the mark). A send the provider refuses for good (EINVALID: a malformed address, a
// number that is not one) is logged, counted as a failure and marked done, so that one
// bad address cannot hold up the stream.
package notify

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/ticketview/ticketview"
)

// Defaults of Config.
const (
	DefaultGroup          = "notifications"
	DefaultLease          = 2 * time.Minute
	DefaultReminderBefore = 24 * time.Hour
	DefaultReminderEvery  = 30 * time.Second
)

// sendTimeout bounds a send and its bookkeeping once claimed: a worker that is stopping
// finishes the notification it started rather than leave a claim to expire.
const sendTimeout = 2 * time.Minute

// reminderBatch is the most reminders one poll sends.
const reminderBatch = 100

// Config is what the worker reads, sends with and remembers with.
type Config struct {
	Source ticketview.MessageSource     // the orders' and events' messages
	Store  ticketview.NotificationStore // claims and reminders
	Mailer ticketview.Mailer            // nil: no email
	SMS    ticketview.SMSSender         // nil: no SMS
	Orders ticketview.OrderStore        // reminders load their order
	Events ticketview.EventStore        // the event's name, time and place for the messages
	// Group is the consumer group (default "notifications").
	Group string
	// Lease is how long a claimed notification is left to its sender before another may
	// send it (default 2m).
	Lease time.Duration
	// ReminderBefore is how long before its event a booking's reminder is sent (default 24h).
	ReminderBefore time.Duration
	// ReminderEvery is how often due reminders are looked for (default 30s).
	ReminderEvery time.Duration
	// PublicURL is the site's address: links to orders are PublicURL + "/orders/" + id.
	PublicURL string
	Now       func() time.Time // default time.Now
	Log       *zap.Logger      // default no logging
}

// Worker is the notification worker.
type Worker struct {
	cfg   Config
	tpl   *templates
	log   *zap.Logger
	stats struct{ emails, sms, duplicates, failures atomic.Uint64 }
}

// Stats counts the worker's notifications since New.
type Stats struct {
	Emails     uint64 // emails sent
	SMS        uint64 // text messages sent
	Duplicates uint64 // notifications skipped because they had been sent
	Failures   uint64 // sends that failed (retried later, or given up when refused for good)
}

// New checks cfg (EINVALID without a source, a store, an order store or an event store)
// and returns a worker.
func New(cfg Config) (*Worker, error) {
	switch {
	case cfg.Source == nil:
		return nil, ticketview.Errorf(ticketview.EINVALID, "notify: no message source")
	case cfg.Store == nil:
		return nil, ticketview.Errorf(ticketview.EINVALID, "notify: no notification store")
	case cfg.Orders == nil || cfg.Events == nil:
		return nil, ticketview.Errorf(ticketview.EINVALID, "notify: the order and event stores are required")
	case cfg.Lease < 0 || cfg.ReminderBefore < 0 || cfg.ReminderEvery < 0:
		return nil, ticketview.Errorf(ticketview.EINVALID, "notify: negative durations")
	}
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.ReminderBefore == 0 {
		cfg.ReminderBefore = DefaultReminderBefore
	}
	if cfg.ReminderEvery == 0 {
		cfg.ReminderEvery = DefaultReminderEvery
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	tpl, err := parseTemplates()
	if err != nil {
		return nil, ticketview.Errorf(ticketview.EINTERNAL, "notify: templates: %v", err)
	}
	return &Worker{cfg: cfg, tpl: tpl, log: cfg.Log.Named("notify")}, nil
}

// Stats returns the counters.
func (w *Worker) Stats() Stats {
	return Stats{
		Emails: w.stats.emails.Load(), SMS: w.stats.sms.Load(),
		Duplicates: w.stats.duplicates.Load(), Failures: w.stats.failures.Load(),
	}
}

// Run consumes the orders' and events' topics in the worker's group and sends the due
// reminders every ReminderEvery, until ctx ends (then it returns nil) or the source
// fails.
func (w *Worker) Run(ctx context.Context) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.remindLoop(rctx)
	}()
	err := w.cfg.Source.Consume(rctx, w.cfg.Group, []string{ticketview.TopicOrders, ticketview.TopicEvents}, w.Handle)
	cancel()
	<-done
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// remindLoop sends the due reminders now and every ReminderEvery until ctx ends.
func (w *Worker) remindLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.ReminderEvery)
	defer t.Stop()
	for {
		if _, err := w.RemindDue(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("reminders: will try again", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// channel is a way to reach the buyer.
type channel struct {
	name string
	sent *atomic.Uint64
}

// once sends the notification with the key unless it was sent: claim, send, mark done.
// A failed send is released and its error returned (the caller's message is delivered
// again); a send refused for good is marked done. Another sender's recent claim is an
// EUNAVAILABLE error: the message comes back after a pause, and the claim's lease ends.
func (w *Worker) once(ctx context.Context, key string, ch channel, send func(context.Context) error) error {
	res, err := w.cfg.Store.ClaimNotification(ctx, key, w.cfg.Now(), w.cfg.Lease)
	if err != nil {
		return err
	}
	switch res {
	case ticketview.Sent:
		w.stats.duplicates.Add(1)
		w.log.Debug("already sent", zap.String("key", key))
		return nil
	case ticketview.InFlight:
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "notify: %s is being sent by another worker", key)
	case ticketview.Claimed:
	default:
		return ticketview.Errorf(ticketview.EINTERNAL, "notify: %s: unknown claim result %d", key, res)
	}
	// Claimed: finish what is started even if ctx ends now.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendTimeout)
	defer cancel()
	err = send(sctx)
	switch {
	case err == nil:
		ch.sent.Add(1)
		w.log.Info("sent", zap.String("channel", ch.name), zap.String("key", key))
	case ticketview.ErrorCode(err) == ticketview.EINVALID:
		w.stats.failures.Add(1)
		w.log.Error("refused for good, not retried", zap.String("channel", ch.name), zap.String("key", key), zap.Error(err))
	default:
		w.stats.failures.Add(1)
		if rerr := w.cfg.Store.ReleaseNotification(sctx, key); rerr != nil {
			w.log.Warn("release failed: the claim will expire", zap.String("key", key), zap.Error(rerr))
		}
		return err
	}
	return w.cfg.Store.DoneNotification(sctx, key, w.cfg.Now())
}

// notify sends the kind's notification about the order to the buyer by email and, when
// the kind has a text message, SMS; base is the key's prefix. A channel the buyer gave
// nothing for, or the worker has no sender for, is skipped.
func (w *Worker) notify(ctx context.Context, kind, base string, c ticketview.Contact, v *view) error {
	m, err := w.tpl.render(kind, v)
	if err != nil { // a bug of the templates: retrying would not help
		w.stats.failures.Add(1)
		w.log.Error("render failed, not sent", zap.String("kind", kind), zap.String("key", base), zap.Error(err))
		return nil
	}
	var errs []error
	if w.cfg.Mailer != nil && c.Email != "" {
		key := base + "/email"
		errs = append(errs, w.once(ctx, key, channel{"email", &w.stats.emails}, func(ctx context.Context) error {
			return w.cfg.Mailer.SendEmail(ctx, ticketview.Email{To: c.Email, Subject: m.Subject, Text: m.Text, HTML: m.HTML, ID: key})
		}))
	}
	if w.cfg.SMS != nil && c.Phone != "" && m.SMS != "" {
		key := base + "/sms"
		errs = append(errs, w.once(ctx, key, channel{"sms", &w.stats.sms}, func(ctx context.Context) error {
			return w.cfg.SMS.SendSMS(ctx, ticketview.SMS{To: c.Phone, Body: m.SMS, ID: key})
		}))
	}
	return errors.Join(errs...)
}
