package ticketview

import (
	"context"
	"time"
)

// Email is a message to one address.
type Email struct {
	To      string
	Subject string
	Text    string
	HTML    string
	// ID is stable for one notification (its idempotency key): sent as the Message-ID
	// so that a receiver can recognise a resend.
	ID string
}

// Mailer sends email (SMTP).
type Mailer interface {
	SendEmail(ctx context.Context, e Email) error
}

// SMS is a text message to one phone number (E.164).
type SMS struct {
	To   string
	Body string
	ID   string // idempotency key, for providers that take one
}

// SMSSender sends text messages (a Twilio-style HTTP API).
type SMSSender interface {
	SendSMS(ctx context.Context, s SMS) error
}

// ClaimResult is the answer to a claim of a notification.
type ClaimResult int

const (
	Claimed  ClaimResult = iota + 1 // send it, then mark it done
	Sent                            // it was sent: skip it
	InFlight                        // another sender claimed it recently: try again later
)

// Reminder is a notification due at a time: the reminder of a booking before its event.
type Reminder struct {
	OrderID string    `json:"order_id"`
	Event   string    `json:"event"`
	Due     time.Time `json:"due"`
}

// NotificationStore makes each notification happen once: a sender claims its key before
// sending and marks it done after; a claim older than lease whose sender never finished
// may be claimed again (the sender crashed: a resend is possible, a loss is not).
type NotificationStore interface {
	ClaimNotification(ctx context.Context, key string, now time.Time, lease time.Duration) (ClaimResult, error)
	// DoneNotification marks the claimed notification sent.
	DoneNotification(ctx context.Context, key string, now time.Time) error
	// ReleaseNotification drops a claim whose send failed, so a retry sends it.
	ReleaseNotification(ctx context.Context, key string) error

	// ScheduleReminder adds or moves the order's reminder.
	ScheduleReminder(ctx context.Context, r Reminder) error
	// CancelReminder drops the order's reminder (none: no error).
	CancelReminder(ctx context.Context, orderID string) error
	// RescheduleEventReminders moves the due time of every reminder of the event.
	RescheduleEventReminders(ctx context.Context, event string, due time.Time) error
	// DueReminders answers up to limit reminders due at or before now, earliest first.
	DueReminders(ctx context.Context, now time.Time, limit int) ([]Reminder, error)
}
