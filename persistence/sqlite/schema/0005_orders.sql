-- Orders (ticketview.OrderStore), the transactional outbox (ticketview.Outbox) and the
-- consumer groups' positions in it (ticketview.MessageLog). Times are Unix nanoseconds
-- (0 for the zero time).

-- Orders: the JSON ticketview.Order (data) is the record; the other columns are copies
-- of its fields that the store looks orders up, filters and orders by. idem_key is the
-- order's IdemKey, which its JSON leaves out; paid is 1 when a payment succeeded.
CREATE TABLE orders (
	id                TEXT    PRIMARY KEY,
	buyer             TEXT    NOT NULL,
	event             TEXT    NOT NULL,
	status            TEXT    NOT NULL,
	pay_by            INTEGER NOT NULL,
	paid              INTEGER NOT NULL DEFAULT 0,
	provider          TEXT    NOT NULL DEFAULT '',
	provider_order_id TEXT    NOT NULL DEFAULT '',
	idem_key          TEXT    NOT NULL DEFAULT '',
	created_at        INTEGER NOT NULL,
	updated_at        INTEGER NOT NULL,
	version           INTEGER NOT NULL,
	data              TEXT    NOT NULL
);
-- One order per buyer and idempotency key.
CREATE UNIQUE INDEX orders_by_idem_key ON orders (buyer, idem_key) WHERE idem_key <> '';
-- ListOrders: newest first, by buyer, event or status, or all of them.
CREATE INDEX orders_by_created ON orders (created_at DESC, id);
CREATE INDEX orders_by_buyer ON orders (buyer, created_at DESC, id);
CREATE INDEX orders_by_event ON orders (event, created_at DESC, id);
CREATE INDEX orders_by_status ON orders (status, created_at DESC, id);
-- FindOrderByProviderRef.
CREATE INDEX orders_by_provider_ref ON orders (provider, provider_order_id, created_at, id) WHERE provider_order_id <> '';
-- DueOrders: pending ones by payment deadline, expired ones that were paid.
CREATE INDEX orders_pending ON orders (pay_by, id) WHERE status = 'pending_payment';
CREATE INDEX orders_expired_paid ON orders (pay_by, id) WHERE status = 'expired' AND paid = 1;

-- The outbox: messages written in the transactions of the changes they describe. With
-- one writer, ids grow in commit order, so the table is also the embedded message log.
-- published_at is set when a relay has published the message (NULL: not yet).
CREATE TABLE outbox (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	topic        TEXT    NOT NULL,
	key          TEXT    NOT NULL,
	value        TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	published_at INTEGER
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_by_topic ON outbox (topic, id);

-- The last outbox id each consumer group committed.
CREATE TABLE consumer_offsets (
	group_name TEXT    PRIMARY KEY,
	"offset"   INTEGER NOT NULL
) WITHOUT ROWID;
