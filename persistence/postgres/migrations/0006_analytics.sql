-- TicketView on PostgreSQL, schema version 6: analytics (ticketview.AnalyticsStore):
-- hourly counters per event along a few dimensions, the ids of the messages already
-- counted, and what is known of each event.
--
-- As in the other versions, times the store must give back exactly are kept in Unix
-- nanoseconds (*_ns) beside a timestamptz for people and SQL. Hours are whole: their
-- timestamptz is exact.

-- One counter per (event, hour, dimension, value, metric); dim and value are '' for the
-- event's totals. A message adds its deltas with an upsert.
CREATE TABLE analytics_counters (
	event  text        NOT NULL,
	hour   timestamptz NOT NULL,
	dim    text        NOT NULL,
	value  text        NOT NULL,
	metric text        NOT NULL,
	total  bigint      NOT NULL,
	PRIMARY KEY (event, hour, dim, value, metric)
);

-- The messages counted, written in the statement that adds their counters: a message
-- comes at least once but counts once.
CREATE TABLE analytics_applied (
	msg_id     text        PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
);

-- Events as their messages describe them (the newest message wins).
CREATE TABLE analytics_events (
	id            text        PRIMARY KEY,
	name          text        NOT NULL,
	organizer     text        NOT NULL,
	starts_at     timestamptz,
	starts_at_ns  bigint,
	currency      text        NOT NULL,
	status        text        NOT NULL,
	updated_at    timestamptz NOT NULL,
	updated_at_ns bigint      NOT NULL
);
