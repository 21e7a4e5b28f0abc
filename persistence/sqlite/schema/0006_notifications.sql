-- Notifications sent once (ticketview.NotificationStore): the claims of the senders,
-- and the reminders due before events. Times are Unix nanoseconds.

-- One row per notification key ("<message id>/email", "reminder/<order>/sms", ...).
-- A sender claims the key (claimed_at) before sending and marks it sent (sent_at) after;
-- a claim whose sender never finished may be taken again once its lease has passed.
CREATE TABLE notifications (
	key        TEXT    PRIMARY KEY,
	claimed_at INTEGER NOT NULL,
	sent_at    INTEGER          -- NULL: claimed, not sent yet
) WITHOUT ROWID;

-- One reminder per order, due before its event.
CREATE TABLE reminders (
	order_id TEXT    PRIMARY KEY,
	event    TEXT    NOT NULL,
	due      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX reminders_by_due ON reminders (due, order_id);
CREATE INDEX reminders_by_event ON reminders (event);
