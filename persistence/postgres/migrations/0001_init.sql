-- TicketView on PostgreSQL, schema version 1.
--
-- Every table lives in the connection's current schema (search_path), so that one
-- database can hold several independent TicketView installations (and tests can each
-- have their own). Money is in minor units of the event's currency (bigint). Times
-- the domain gives with nanoseconds are kept exactly where the store must give them
-- back (the *_ns columns); timestamptz columns (microseconds) are for people and SQL.
-- Identifiers (ids, tokens, owners, codes) are compared byte by byte (COLLATE "C"): they
-- are keys, not words, and the indexes on them are faster without a linguistic collation.

---------------------------------------------------------------------------------------
-- Accounts
---------------------------------------------------------------------------------------

CREATE TABLE users (
	id            text COLLATE "C" PRIMARY KEY,
	email         text             NOT NULL,
	password_hash text             NOT NULL,
	name          text             NOT NULL DEFAULT '',
	role          text             NOT NULL DEFAULT 'buyer' CHECK (role IN ('buyer', 'organizer', 'admin')),
	disabled      boolean          NOT NULL DEFAULT false,
	created_at    timestamptz      NOT NULL DEFAULT now()
);
-- One account per address, whatever its case.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

---------------------------------------------------------------------------------------
-- Catalog: venues, their section layouts and seats; events and their price categories
---------------------------------------------------------------------------------------

CREATE TABLE venues (
	id         text COLLATE "C" PRIMARY KEY,
	name       text             NOT NULL,
	city       text             NOT NULL DEFAULT '',
	address    text             NOT NULL DEFAULT '',
	created_at timestamptz      NOT NULL DEFAULT now()
);

-- A venue's section layouts, in the venue's order.
CREATE TABLE sections (
	venue_id text COLLATE "C" NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
	id       text COLLATE "C" NOT NULL,
	ordinal  int              NOT NULL, -- position in the venue's list of sections
	name     text             NOT NULL,
	kind     text             NOT NULL CHECK (kind IN ('seated', 'general_admission')),
	capacity int              NOT NULL, -- seats, or general-admission places
	category text,                      -- general admission: the price category of every place
	layout   jsonb            NOT NULL, -- the layout exactly as given (ticketview.SectionLayout);
	                                    -- the seats table below is the relational form of its rows
	PRIMARY KEY (venue_id, id),
	UNIQUE (venue_id, ordinal)
);

-- One row per seat of a seated section. seat_index is the seat's number in the
-- section's seat order, the index ticketview.Section and the journal use: the layout's
-- rows in order, and each row's seats in order, counted from 0.
CREATE TABLE seats (
	venue_id   text COLLATE "C" NOT NULL,
	section_id text COLLATE "C" NOT NULL,
	seat_index int              NOT NULL CHECK (seat_index >= 0),
	label      text COLLATE "C" NOT NULL,
	row_label  text             NOT NULL,
	number     int              NOT NULL,
	category   text             NOT NULL,
	x          double precision NOT NULL,
	y          double precision NOT NULL,
	accessible boolean          NOT NULL DEFAULT false,
	PRIMARY KEY (venue_id, section_id, seat_index),
	UNIQUE (venue_id, section_id, label),
	FOREIGN KEY (venue_id, section_id) REFERENCES sections (venue_id, id) ON DELETE CASCADE
);

-- Events. venue_id has no foreign key: an event may be listed before its venue is
-- stored (the catalog validates the venue where it matters).
CREATE TABLE events (
	id            text COLLATE "C" PRIMARY KEY,
	venue_id      text COLLATE "C" NOT NULL,
	name          text             NOT NULL,
	description   text             NOT NULL DEFAULT '',
	location      text             NOT NULL DEFAULT '',
	currency      text             NOT NULL,
	buyer_limit   int              NOT NULL DEFAULT 0, -- 0: ticketview.DefaultBuyerLimit
	status        text             NOT NULL CHECK (status IN ('draft', 'on_sale', 'sold_out', 'cancelled', 'past')),
	starts_at     timestamptz      NOT NULL,
	starts_at_ns  bigint           NOT NULL, -- exact start, Unix nanoseconds: what the store orders by and returns
	created_at    timestamptz,
	created_at_ns bigint,                    -- exact creation time, Unix nanoseconds (NULL: unknown)
	search        text             NOT NULL  -- lower-cased name, description and location, for text search
);
CREATE INDEX events_by_start ON events (starts_at_ns, id);
CREATE INDEX events_by_status ON events (status, starts_at_ns, id);

-- An event's price categories, in the event's order.
CREATE TABLE price_categories (
	event_id text COLLATE "C" NOT NULL REFERENCES events (id) ON DELETE CASCADE,
	ordinal  int              NOT NULL,
	code     text COLLATE "C" NOT NULL,
	name     text             NOT NULL,
	price    bigint           NOT NULL CHECK (price >= 0),
	floor    bigint           NOT NULL DEFAULT 0, -- dynamic pricing bounds; 0 and 0: a fixed price
	ceiling  bigint           NOT NULL DEFAULT 0,
	PRIMARY KEY (event_id, code),
	UNIQUE (event_id, ordinal)
);

---------------------------------------------------------------------------------------
-- Section journals: the source of truth of every section's seats
---------------------------------------------------------------------------------------

-- One row per section actor identity (event, section): the activation epoch that may
-- write (fencing) and the Seq of the last journaled event (kept across compaction).
CREATE TABLE journal_sections (
	event_id   text COLLATE "C" NOT NULL,
	section_id text COLLATE "C" NOT NULL,
	epoch      bigint           NOT NULL,
	last_seq   bigint           NOT NULL DEFAULT 0,
	PRIMARY KEY (event_id, section_id)
);

-- One row per Append: its events in ticketview.MarshalEvents form.
CREATE TABLE journal (
	event_id   text COLLATE "C" NOT NULL,
	section_id text COLLATE "C" NOT NULL,
	first_seq  bigint           NOT NULL,
	last_seq   bigint           NOT NULL,
	data       bytea            NOT NULL,
	PRIMARY KEY (event_id, section_id, first_seq),
	CHECK (first_seq >= 1 AND last_seq >= first_seq)
);

-- The latest snapshot of each section: a JSON ticketview.SectionSnapshot. Journal rows
-- it covers entirely are deleted when it is stored.
CREATE TABLE snapshots (
	event_id   text COLLATE "C" NOT NULL,
	section_id text COLLATE "C" NOT NULL,
	seq        bigint           NOT NULL,
	taken_at   timestamptz,
	data       bytea            NOT NULL,
	PRIMARY KEY (event_id, section_id)
);

---------------------------------------------------------------------------------------
-- Projection of the journal, written in the same transaction as the journal rows
---------------------------------------------------------------------------------------

-- Live holds: what a confirmation needs to price its booking (the prices were fixed when
-- the hold was made), and a list of who holds what. A hold's row goes when it is
-- released, expires or becomes a booking.
CREATE TABLE holds (
	event_id   text COLLATE "C" NOT NULL,
	section_id text COLLATE "C" NOT NULL,
	token      text COLLATE "C" NOT NULL,
	owner      text COLLATE "C" NOT NULL,
	seats      int[]            NOT NULL, -- seat indexes; empty for general admission
	quantity   int              NOT NULL,
	prices     bigint[]         NOT NULL, -- per seat; general admission: the unit price
	created_at timestamptz      NOT NULL,
	expires_at timestamptz,
	PRIMARY KEY (event_id, section_id, token)
);
CREATE INDEX holds_by_owner ON holds (owner);

-- Bookings (confirmed holds). A booking id is unique in its section, as in the domain.
-- No foreign key to events: journals of sections without catalog rows are valid.
CREATE TABLE bookings (
	event_id     text COLLATE "C" NOT NULL,
	section_id   text COLLATE "C" NOT NULL,
	id           text COLLATE "C" NOT NULL,
	owner        text COLLATE "C" NOT NULL,
	hold_token   text COLLATE "C" NOT NULL,
	status       text             NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
	quantity     int              NOT NULL,
	total        bigint,                    -- sum of the ticket prices; NULL if the hold's prices were not known
	payment_ref  text             NOT NULL,
	confirmed_at timestamptz      NOT NULL,
	cancelled_at timestamptz,
	confirm_seq  bigint           NOT NULL, -- journal position of the confirmation
	cancel_seq   bigint,                    -- and of the cancellation
	PRIMARY KEY (event_id, section_id, id)
);
CREATE INDEX bookings_by_id ON bookings (id);
CREATE INDEX bookings_by_owner ON bookings (owner, confirmed_at);

-- One row per seat sold (general admission: per place, seat_index NULL).
CREATE TABLE tickets (
	id           bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	event_id     text COLLATE "C" NOT NULL,
	section_id   text COLLATE "C" NOT NULL,
	booking_id   text COLLATE "C" NOT NULL,
	seat_index   int,
	price        bigint,
	status       text             NOT NULL CHECK (status IN ('valid', 'cancelled')),
	issued_at    timestamptz      NOT NULL,
	cancelled_at timestamptz,
	FOREIGN KEY (event_id, section_id, booking_id) REFERENCES bookings (event_id, section_id, id) ON DELETE CASCADE
);
-- The database's own guarantee that no seat is sold twice: at most one valid ticket per
-- seat of an event's section.
CREATE UNIQUE INDEX tickets_one_valid_per_seat ON tickets (event_id, section_id, seat_index) WHERE status = 'valid';
CREATE INDEX tickets_by_booking ON tickets (event_id, section_id, booking_id);

---------------------------------------------------------------------------------------
-- Payments (written by the payments issue)
---------------------------------------------------------------------------------------

CREATE TABLE payments (
	id           text COLLATE "C" PRIMARY KEY,
	event_id     text COLLATE "C" NOT NULL,
	section_id   text COLLATE "C" NOT NULL,
	booking_id   text COLLATE "C",          -- set once the hold is confirmed
	hold_token   text COLLATE "C",
	provider     text             NOT NULL,
	provider_ref text,
	amount       bigint           NOT NULL CHECK (amount >= 0),
	currency     text             NOT NULL,
	status       text             NOT NULL CHECK (status IN ('pending', 'authorized', 'captured', 'failed', 'refunded')),
	created_at   timestamptz      NOT NULL DEFAULT now(),
	updated_at   timestamptz      NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX payments_provider_ref ON payments (provider, provider_ref) WHERE provider_ref IS NOT NULL;
CREATE INDEX payments_by_booking ON payments (event_id, section_id, booking_id);

CREATE TABLE refunds (
	id         text COLLATE "C" PRIMARY KEY,
	payment_id text COLLATE "C" NOT NULL REFERENCES payments (id),
	amount     bigint           NOT NULL CHECK (amount > 0),
	reason     text             NOT NULL DEFAULT '',
	status     text             NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
	created_at timestamptz      NOT NULL DEFAULT now(),
	updated_at timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX refunds_by_payment ON refunds (payment_id);

---------------------------------------------------------------------------------------
-- Transactional outbox: domain events for Kafka, written with the journal rows that
-- caused them; a relay publishes them in id order and sets published_at.
---------------------------------------------------------------------------------------

CREATE TABLE outbox (
	id           bigserial        PRIMARY KEY,
	topic        text             NOT NULL,
	key          text COLLATE "C" NOT NULL, -- partition key: "event/section"
	payload      jsonb            NOT NULL,
	created_at   timestamptz      NOT NULL DEFAULT now(),
	published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
