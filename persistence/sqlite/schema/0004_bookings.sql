-- The booking index (ticketview.BookingIndex): a projection of the section journals,
-- written by the committer in the same transaction as the journal rows it comes from, so
-- it holds exactly what was acknowledged.

-- Live holds and what they cost (the sum of their seats' prices; general admission: the
-- unit price times the quantity): what a confirmation needs to price its booking, since
-- the confirmation event does not repeat the prices. A row goes when its hold is
-- released, expires or is confirmed. A hold whose prices are not known has no row.
CREATE TABLE holds (
	section_id TEXT    NOT NULL, -- SectionID.String()
	token      TEXT    NOT NULL,
	total      INTEGER NOT NULL, -- minor units
	PRIMARY KEY (section_id, token)
) WITHOUT ROWID;

-- Bookings (confirmed holds). A booking id is unique in its section, as in the domain.
-- Times are Unix nanoseconds. Listings are newest first: confirmed_at, then id, then the
-- section (event, section), all descending; the indexes below carry the primary key
-- columns at their end, so a backward scan of one gives that order without sorting, for
-- an owner's bookings and an event's. Every index costs each booking's insert on the
-- journal's hot path: the listing of every event's bookings at once (no filter, which no
-- route asks for) sorts instead.
CREATE TABLE bookings (
	event        TEXT    NOT NULL,
	section      TEXT    NOT NULL,
	id           TEXT    NOT NULL,
	owner        TEXT    NOT NULL,
	hold_token   TEXT    NOT NULL,
	status       TEXT    NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
	quantity     INTEGER NOT NULL, -- seats, or general-admission places
	total        INTEGER,          -- minor units; NULL if the hold's prices were not known
	payment_ref  TEXT    NOT NULL,
	confirmed_at INTEGER NOT NULL,
	cancelled_at INTEGER,
	PRIMARY KEY (event, section, id)
) WITHOUT ROWID;
CREATE INDEX bookings_by_owner ON bookings (owner, confirmed_at, id);
CREATE INDEX bookings_by_event ON bookings (event, confirmed_at, id);
