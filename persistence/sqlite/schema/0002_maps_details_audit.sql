-- Seat maps: the current map of each venue (ticketview.SeatMapStore).
CREATE TABLE seat_maps (
	venue_id   TEXT PRIMARY KEY,
	version    INTEGER NOT NULL, -- 1, 2, ... per venue
	updated_at INTEGER NOT NULL, -- Unix milliseconds
	data       TEXT    NOT NULL  -- JSON ticketview.SeatMap (with version and updated_at)
) WITHOUT ROWID;

-- Event details (ticketview.EventDetailsStore), with side tables for the searches by tag
-- and by performer name, kept in step by PutEventDetails.
CREATE TABLE event_details (
	event_id   TEXT PRIMARY KEY,
	updated_at INTEGER NOT NULL, -- Unix milliseconds
	data       TEXT    NOT NULL  -- JSON ticketview.EventDetails
) WITHOUT ROWID;

CREATE TABLE event_detail_tags (
	tag      TEXT NOT NULL,
	event_id TEXT NOT NULL REFERENCES event_details (event_id) ON DELETE CASCADE,
	PRIMARY KEY (tag, event_id)
) WITHOUT ROWID;
CREATE INDEX event_detail_tags_by_event ON event_detail_tags (event_id);

CREATE TABLE event_detail_performers (
	name     TEXT NOT NULL,
	event_id TEXT NOT NULL REFERENCES event_details (event_id) ON DELETE CASCADE,
	PRIMARY KEY (name, event_id)
) WITHOUT ROWID;
CREATE INDEX event_detail_performers_by_event ON event_detail_performers (event_id);

-- Audit log: one row per seat-status change (ticketview.AuditLog). section_id is
-- SectionID.String() ("event/section"; ids cannot contain '/'), so within one event the
-- primary key orders rows by section, then seq: a range of it answers a trail by event or
-- section (time ranges are filtered along it), audit_by_owner one by owner, in the same
-- order, and audit_seats one by seat.
CREATE TABLE audit_log (
	section_id TEXT    NOT NULL,
	seq        INTEGER NOT NULL,
	event      TEXT    NOT NULL,
	at         INTEGER NOT NULL,            -- Unix milliseconds
	owner      TEXT    NOT NULL DEFAULT '',
	data       TEXT    NOT NULL,            -- JSON ticketview.AuditEntry
	PRIMARY KEY (section_id, seq)
) WITHOUT ROWID;
CREATE INDEX audit_by_owner ON audit_log (event, owner, section_id, seq);

-- The seat labels of each audit row, for trails by seat.
CREATE TABLE audit_seats (
	event      TEXT    NOT NULL,
	seat       TEXT    NOT NULL,
	section_id TEXT    NOT NULL,
	seq        INTEGER NOT NULL,
	PRIMARY KEY (event, seat, section_id, seq)
) WITHOUT ROWID;
