-- Orders (ticketview.OrderStore, orders.go). The JSON ticketview.Order (data) is the
-- record; the other columns are copies of its fields that the store looks orders up,
-- filters and orders by. idem_key is the order's IdemKey, which its JSON leaves out;
-- paid is true once a payment succeeded. Times are Unix nanoseconds (0 for the zero
-- time), exact as the domain gives them. The messages orders record go to the outbox
-- (0001) in the transactions that write them.
CREATE TABLE orders (
	id                text COLLATE "C" PRIMARY KEY,
	buyer             text COLLATE "C" NOT NULL,
	event             text COLLATE "C" NOT NULL,
	status            text             NOT NULL,
	pay_by            bigint           NOT NULL,
	paid              boolean          NOT NULL DEFAULT false,
	provider          text COLLATE "C" NOT NULL DEFAULT '',
	provider_order_id text COLLATE "C" NOT NULL DEFAULT '',
	idem_key          text COLLATE "C" NOT NULL DEFAULT '',
	created_at        bigint           NOT NULL,
	updated_at        bigint           NOT NULL,
	version           bigint           NOT NULL,
	data              jsonb            NOT NULL
);
-- One order per buyer and idempotency key (CreateOrder's ON CONFLICT names it).
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
CREATE INDEX orders_expired_paid ON orders (pay_by, id) WHERE status = 'expired' AND paid;
