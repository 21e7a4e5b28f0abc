package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/ticketview/ticketview"
)

var _ ticketview.NotificationStore = (*DB)(nil)

// Limits of notification keys and reminders, which the domain leaves to the stores.
const (
	maxNotificationKeyLen = 512
	maxReminderIDLen      = 128 // an order's or an event's id
	defaultDueReminders   = 100
	maxDueReminders       = 1000
)

const (
	qNotification       = `SELECT claimed_at, sent_at FROM notifications WHERE key = ?`
	qInsNotification    = `INSERT INTO notifications (key, claimed_at) VALUES (?, ?)`
	qReclaimNotif       = `UPDATE notifications SET claimed_at = ? WHERE key = ?`
	qDoneNotification   = `INSERT INTO notifications (key, claimed_at, sent_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET sent_at = coalesce(notifications.sent_at, excluded.sent_at)`
	qReleaseNotif       = `DELETE FROM notifications WHERE key = ? AND sent_at IS NULL`
	qScheduleReminder   = `INSERT INTO reminders (order_id, event, due) VALUES (?, ?, ?) ON CONFLICT (order_id) DO UPDATE SET event = excluded.event, due = excluded.due`
	qCancelReminder     = `DELETE FROM reminders WHERE order_id = ?`
	qRescheduleReminder = `UPDATE reminders SET due = ? WHERE event = ?`
	qDueReminders       = `SELECT order_id, event, due FROM reminders WHERE due <= ? ORDER BY due, order_id LIMIT ?`
)

// checkNotificationKey checks a notification's key: 1 to 512 bytes of UTF-8 without NUL.
func checkNotificationKey(key string) error {
	if key == "" || len(key) > maxNotificationKeyLen || !validText(key) {
		return ticketview.Errorf(ticketview.EINVALID, "notification key must be 1 to %d bytes of UTF-8 without NUL", maxNotificationKeyLen)
	}
	return nil
}

// checkReminderID checks an order's or an event's id given with a reminder.
func checkReminderID(what, id string) error {
	if id == "" || len(id) > maxReminderIDLen || !validText(id) {
		return ticketview.Errorf(ticketview.EINVALID, "reminder: %s id must be 1 to %d bytes of UTF-8 without NUL", what, maxReminderIDLen)
	}
	return nil
}

// checkNotifyTime checks a time the store must keep: set, and in Unix nanoseconds' range.
func checkNotifyTime(what string, t time.Time) error {
	if t.IsZero() || !storable(t) {
		return ticketview.Errorf(ticketview.EINVALID, "%s must be a time between the years 1678 and 2262", what)
	}
	return nil
}

// ClaimNotification claims the notification's key for a sender at now: Claimed when it
// was never claimed, or when its sender claimed it lease or longer ago and never marked
// it done (the claim is renewed); Sent when it was sent; InFlight when another claim is
// younger than lease. EINVALID for an empty or overlong key, a lease of 0 or less, or a
// zero now. Claims are serialised by the committer: of concurrent claims of one key,
// exactly one is Claimed.
func (db *DB) ClaimNotification(ctx context.Context, key string, now time.Time, lease time.Duration) (ticketview.ClaimResult, error) {
	if err := checkNotificationKey(key); err != nil {
		return 0, err
	}
	if lease <= 0 {
		return 0, ticketview.Errorf(ticketview.EINVALID, "a notification's lease must be positive")
	}
	if err := checkNotifyTime("claim time", now); err != nil {
		return 0, err
	}
	var res ticketview.ClaimResult
	err := db.do(ctx, "", func(b *batch) error {
		s, err := b.c.prepared(qNotification)
		if err != nil {
			return b.fail(err)
		}
		var claimed int64
		var sent sql.NullInt64
		switch err := s.QueryRowContext(bg, key).Scan(&claimed, &sent); {
		case errors.Is(err, sql.ErrNoRows):
			res = ticketview.Claimed
			_, err = b.exec("claim notification", qInsNotification, key, now.UnixNano())
			return err
		case err != nil:
			return b.fail(err)
		case sent.Valid:
			res = ticketview.Sent
			return nil
		case time.Unix(0, claimed).Add(lease).After(now):
			res = ticketview.InFlight
			return nil
		}
		res = ticketview.Claimed
		_, err = b.exec("claim notification", qReclaimNotif, now.UnixNano(), key)
		return err
	})
	if err != nil {
		return 0, err
	}
	return res, nil
}

// DoneNotification marks the notification sent at now (claimed or not: a notification
// marked sent stays sent, at its first time).
func (db *DB) DoneNotification(ctx context.Context, key string, now time.Time) error {
	if err := checkNotificationKey(key); err != nil {
		return err
	}
	if err := checkNotifyTime("sent time", now); err != nil {
		return err
	}
	return db.do(ctx, "", func(b *batch) error {
		_, err := b.exec("mark notification sent", qDoneNotification, key, now.UnixNano(), now.UnixNano())
		return err
	})
}

// ReleaseNotification drops the notification's claim so that the next claim gets it at
// once. A notification already sent, or never claimed, is left as it is.
func (db *DB) ReleaseNotification(ctx context.Context, key string) error {
	if err := checkNotificationKey(key); err != nil {
		return err
	}
	return db.do(ctx, "", func(b *batch) error {
		_, err := b.exec("release notification", qReleaseNotif, key)
		return err
	})
}

// ScheduleReminder adds the order's reminder or moves it (its event and due time).
// EINVALID without an order, an event or a due time.
func (db *DB) ScheduleReminder(ctx context.Context, r ticketview.Reminder) error {
	if err := checkReminderID("order", r.OrderID); err != nil {
		return err
	}
	if err := checkReminderID("event", r.Event); err != nil {
		return err
	}
	if err := checkNotifyTime("reminder due time", r.Due); err != nil {
		return err
	}
	return db.do(ctx, "", func(b *batch) error {
		_, err := b.exec("schedule reminder", qScheduleReminder, r.OrderID, r.Event, r.Due.UnixNano())
		return err
	})
}

// CancelReminder drops the order's reminder; an order without one is no error. EINVALID
// for an empty order id.
func (db *DB) CancelReminder(ctx context.Context, orderID string) error {
	if err := checkReminderID("order", orderID); err != nil {
		return err
	}
	return db.do(ctx, "", func(b *batch) error {
		_, err := b.exec("cancel reminder", qCancelReminder, orderID)
		return err
	})
}

// RescheduleEventReminders sets the due time of every reminder of the event.
func (db *DB) RescheduleEventReminders(ctx context.Context, event string, due time.Time) error {
	if err := checkReminderID("event", event); err != nil {
		return err
	}
	if err := checkNotifyTime("reminder due time", due); err != nil {
		return err
	}
	return db.do(ctx, "", func(b *batch) error {
		_, err := b.exec("reschedule reminders", qRescheduleReminder, due.UnixNano(), event)
		return err
	})
}

// DueReminders answers up to limit reminders due at or before now, earliest first (then
// by order id). A limit of 0 or less means 100; it is at most 1000.
func (db *DB) DueReminders(ctx context.Context, now time.Time, limit int) ([]ticketview.Reminder, error) {
	if err := checkNotifyTime("time", now); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = defaultDueReminders
	}
	limit = min(limit, maxDueReminders)
	s, err := db.readStmt(ctx, qDueReminders)
	if err != nil {
		return nil, unavailable("due reminders", err)
	}
	rows, err := s.QueryContext(ctx, now.UnixNano(), limit)
	if err != nil {
		return nil, unavailable("due reminders", err)
	}
	defer rows.Close()
	out := []ticketview.Reminder{}
	for rows.Next() {
		var r ticketview.Reminder
		var due int64
		if err := rows.Scan(&r.OrderID, &r.Event, &due); err != nil {
			return nil, unavailable("due reminders", err)
		}
		r.Due = time.Unix(0, due).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("due reminders", err)
	}
	return out, nil
}
