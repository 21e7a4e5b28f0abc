package postgres

import (
	"context"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

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
	// qClaimNotification claims in one statement: it inserts the key, or renews a claim
	// that is not sent and older than the lease ($4 is now - lease); its result says
	// whether it claimed and, if not, whether the notification was sent. Concurrent
	// claims of a new key wait for the first insert on the key's index and then find it
	// claimed, so exactly one of them claims.
	qClaimNotification = `WITH claim AS (
		INSERT INTO notifications AS n (key, claimed_at, claimed_at_ns) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET claimed_at = excluded.claimed_at, claimed_at_ns = excluded.claimed_at_ns
			WHERE n.sent_at_ns IS NULL AND n.claimed_at_ns <= $4
		RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM claim),
			coalesce((SELECT sent_at_ns IS NOT NULL FROM notifications WHERE key = $1), false)`
	qDoneNotification = `INSERT INTO notifications AS n (key, claimed_at, claimed_at_ns, sent_at, sent_at_ns)
		VALUES ($1, $2, $3, $2, $3)
		ON CONFLICT (key) DO UPDATE SET sent_at = coalesce(n.sent_at, excluded.sent_at),
			sent_at_ns = coalesce(n.sent_at_ns, excluded.sent_at_ns)`
	qReleaseNotification = `DELETE FROM notifications WHERE key = $1 AND sent_at_ns IS NULL`
	qScheduleReminder    = `INSERT INTO reminders (order_id, event, due, due_ns) VALUES ($1, $2, $3, $4)
		ON CONFLICT (order_id) DO UPDATE SET event = excluded.event, due = excluded.due, due_ns = excluded.due_ns`
	qCancelReminder     = `DELETE FROM reminders WHERE order_id = $1`
	qRescheduleReminder = `UPDATE reminders SET due = $2, due_ns = $3 WHERE event = $1`
	qDueReminders       = `SELECT order_id, event, due_ns FROM reminders WHERE due_ns <= $1 ORDER BY due_ns, order_id LIMIT $2`
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

// leaseCutoff is now - lease in Unix nanoseconds: claims at or before it have expired.
func leaseCutoff(now time.Time, lease time.Duration) int64 {
	n := now.UnixNano()
	if n < math.MinInt64+int64(lease) {
		return math.MinInt64
	}
	return n - int64(lease)
}

// ClaimNotification claims the notification's key for a sender at now: Claimed when it
// was never claimed, or when its sender claimed it lease or longer ago and never marked
// it done (the claim is renewed); Sent when it was sent; InFlight when another claim is
// younger than lease. EINVALID for an empty or overlong key, a lease of 0 or less, or a
// zero now. Of concurrent claims of one key, exactly one is Claimed.
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
	if err := db.open(); err != nil {
		return 0, err
	}
	var claimed, sent bool
	err := db.pool.QueryRow(ctx, qClaimNotification, key, now, now.UnixNano(), leaseCutoff(now, lease)).Scan(&claimed, &sent)
	switch {
	case err != nil:
		return 0, storeErr("claim notification", err)
	case claimed:
		return ticketview.Claimed, nil
	case sent:
		return ticketview.Sent, nil
	}
	return ticketview.InFlight, nil
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
	return db.execNotify(ctx, "mark notification sent", qDoneNotification, key, now, now.UnixNano())
}

// ReleaseNotification drops the notification's claim so that the next claim gets it at
// once. A notification already sent, or never claimed, is left as it is.
func (db *DB) ReleaseNotification(ctx context.Context, key string) error {
	if err := checkNotificationKey(key); err != nil {
		return err
	}
	return db.execNotify(ctx, "release notification", qReleaseNotification, key)
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
	return db.execNotify(ctx, "schedule reminder", qScheduleReminder, r.OrderID, r.Event, r.Due, r.Due.UnixNano())
}

// CancelReminder drops the order's reminder; an order without one is no error. EINVALID
// for an empty order id.
func (db *DB) CancelReminder(ctx context.Context, orderID string) error {
	if err := checkReminderID("order", orderID); err != nil {
		return err
	}
	return db.execNotify(ctx, "cancel reminder", qCancelReminder, orderID)
}

// RescheduleEventReminders sets the due time of every reminder of the event.
func (db *DB) RescheduleEventReminders(ctx context.Context, event string, due time.Time) error {
	if err := checkReminderID("event", event); err != nil {
		return err
	}
	if err := checkNotifyTime("reminder due time", due); err != nil {
		return err
	}
	return db.execNotify(ctx, "reschedule reminders", qRescheduleReminder, event, due, due.UnixNano())
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
	if err := db.open(); err != nil {
		return nil, err
	}
	var out []ticketview.Reminder
	err := db.read(ctx, func(conn *pgx.Conn) error {
		out = []ticketview.Reminder{}
		rows, err := conn.Query(ctx, qDueReminders, now.UnixNano(), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r ticketview.Reminder
			var due int64
			if err := rows.Scan(&r.OrderID, &r.Event, &due); err != nil {
				return err
			}
			r.Due = time.Unix(0, due).UTC()
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, storeErr("due reminders", err)
	}
	return out, nil
}

// execNotify runs one statement of a notification or reminder on a pooled connection.
func (db *DB) execNotify(ctx context.Context, op, query string, args ...any) error {
	if err := db.open(); err != nil {
		return err
	}
	_, err := db.pool.Exec(ctx, query, args...)
	return storeErr(op, err)
}
