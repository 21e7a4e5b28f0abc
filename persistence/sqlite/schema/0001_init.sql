-- Sections: the fencing epoch and the last journal position of every section.
CREATE TABLE sections (
	id       TEXT PRIMARY KEY,          -- SectionID.String()
	epoch    INTEGER NOT NULL,          -- activation epoch; appends with another epoch are fenced
	last_seq INTEGER NOT NULL DEFAULT 0 -- Seq of the last journal event (survives compaction)
) WITHOUT ROWID;

-- Journal: one row per Append call, holding its events in ticketview.MarshalEvents form.
CREATE TABLE journal (
	section_id TEXT    NOT NULL,
	first_seq  INTEGER NOT NULL,
	last_seq   INTEGER NOT NULL,
	data       BLOB    NOT NULL,
	PRIMARY KEY (section_id, first_seq)
) WITHOUT ROWID;

-- Snapshots: the latest snapshot of each section, JSON-encoded ticketview.SectionSnapshot.
CREATE TABLE snapshots (
	section_id TEXT PRIMARY KEY,
	seq        INTEGER NOT NULL,
	data       BLOB    NOT NULL
);

CREATE TABLE venues (
	id   TEXT PRIMARY KEY,
	data TEXT NOT NULL -- JSON ticketview.Venue
);

CREATE TABLE events (
	id        TEXT PRIMARY KEY,
	venue_id  TEXT    NOT NULL,
	status    TEXT    NOT NULL,
	starts_at INTEGER NOT NULL, -- Unix nanoseconds
	name      TEXT    NOT NULL,
	search    TEXT    NOT NULL, -- lower-cased name, description and location, for EventFilter.Text
	data      TEXT    NOT NULL  -- JSON ticketview.Event
);
CREATE INDEX events_by_start ON events (starts_at, id);
CREATE INDEX events_by_status ON events (status, starts_at, id);
