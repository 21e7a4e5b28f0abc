-- TicketView on PostgreSQL, schema version 5: notifications sent once
-- (ticketview.NotificationStore) and the reminders due before events.
--
-- As in the other versions, times the store must give back exactly are kept in Unix
-- nanoseconds (*_ns) beside a timestamptz for people and SQL.

-- One row per notification key ("<message id>/email", "reminder/<order>/sms", ...).
-- A sender claims the key (claimed_at) before sending and marks it sent (sent_at) after;
-- a claim whose sender never finished may be taken again once its lease has passed.
CREATE TABLE notifications (
	key           text        PRIMARY KEY,
	claimed_at    timestamptz NOT NULL,
	claimed_at_ns bigint      NOT NULL,
	sent_at       timestamptz,          -- NULL: claimed, not sent yet
	sent_at_ns    bigint
);

-- One reminder per order, due before its event.
CREATE TABLE reminders (
	order_id text        PRIMARY KEY,
	event    text        NOT NULL,
	due      timestamptz NOT NULL,
	due_ns   bigint      NOT NULL
);
CREATE INDEX reminders_by_due ON reminders (due_ns, order_id);
CREATE INDEX reminders_by_event ON reminders (event);
