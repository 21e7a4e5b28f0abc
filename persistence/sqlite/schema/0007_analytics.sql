-- Analytics (ticketview.AnalyticsStore): hourly counters per event along a few
-- dimensions, the ids of the messages already counted, and what is known of each event.
-- (IF NOT EXISTS: a database rolled back to an older version by hand, as a test does,
-- may still have these tables.)

-- One counter per (event, hour, dimension, value, metric). hour is the bucket's start in
-- Unix seconds (UTC, whole hours); dim and value are '' for the event's totals. A message
-- adds its deltas with an upsert.
CREATE TABLE IF NOT EXISTS analytics_counters (
	event  TEXT    NOT NULL,
	hour   INTEGER NOT NULL,
	dim    TEXT    NOT NULL,
	value  TEXT    NOT NULL,
	metric TEXT    NOT NULL,
	total  INTEGER NOT NULL,
	PRIMARY KEY (event, hour, dim, value, metric)
) WITHOUT ROWID;

-- The messages counted, written in the transaction of their counters: a message comes
-- at least once but counts once. applied_at is Unix nanoseconds.
CREATE TABLE IF NOT EXISTS analytics_applied (
	msg_id     TEXT    PRIMARY KEY,
	applied_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Events as their messages describe them (the newest message wins). Times are Unix
-- nanoseconds.
CREATE TABLE IF NOT EXISTS analytics_events (
	id         TEXT    PRIMARY KEY,
	name       TEXT    NOT NULL,
	organizer  TEXT    NOT NULL,
	starts_at  INTEGER,
	currency   TEXT    NOT NULL,
	status     TEXT    NOT NULL,
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;
