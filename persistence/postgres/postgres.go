// Package postgres is TicketView's production store on PostgreSQL (pgx/v5, pgxpool):
// section journals and snapshots (ticketview.SectionStore, ticketview.AsyncAppender),
// events and venues (ticketview.EventStore, ticketview.VenueStore), and the relational
// projection of the journals (holds, bookings, tickets) with a transactional outbox.
//
// # Schema
//
// The schema is created and upgraded by versioned migrations embedded in the binary
// (migrations/NNNN_name.sql), recorded in schema_migrations and applied by Open or by
// Migrate (see there). All tables live in the connection's current schema. The journal
// tables are the source of truth of every section's seats:
//
//   - journal_sections: per (event, section) the activation epoch that may write and the
//     Seq of the last journaled event;
//   - journal: one row per Append, keyed (event, section, first_seq), holding its events
//     in ticketview.MarshalEvents form;
//   - snapshots: the latest JSON ticketview.SectionSnapshot of each section.
//
// The catalog is relational: venues, sections (layouts), seats (one row per seat, with
// the seat index the domain uses), events and price_categories. users, payments and
// refunds are there for the issues that write them.
//
// # Group commit
//
// Appends do not each run a transaction. They are queued (persistence/internal/
// groupcommit) for a committer goroutine, which takes everything queued and writes it
// in one transaction with two round trips, whatever the number of appends:
//
//  1. BEGIN; lock the batch's journal_sections rows (SELECT ... FOR UPDATE, in key
//     order, so that committers of several nodes cannot deadlock); read the tickets,
//     bookings and holds the batch's confirmations and cancellations touch;
//  2. the checks run in Go, request by request in queue order; then, pipelined, a few
//     multi-row statements (arrays passed to unnest; data-modifying WITH queries write
//     several tables in one statement) and COMMIT.
//
// One fsync thus makes many appends of many sections durable. There are a few
// committers (Options.Committers), each with its queue and its connection; a section
// always goes to the same one (by a hash of its id), so its appends keep their order,
// while committers of different sections keep several server processes busy. Their
// connections plan statements once (generic plans) and only with index lookups, which
// a plan made while the tables were empty would not otherwise do. A request that fails its
// checks gets its own error and writes nothing; the others of its batch commit. If
// the transaction fails as a whole (connection lost, server restarted, commit
// refused), every request of it fails with EUNAVAILABLE and none is acknowledged. When
// the connection was lost once COMMIT had gone out, the appends may have been committed
// all the same: later appends of those activations are refused (EUNAVAILABLE) until
// the section is activated again, which tells what the journal holds. An append whose
// predecessor failed thus always fails too.
// Should a statement of step 2 fail although the checks passed (the database refused
// something the checks did not foresee, such as a second valid ticket for a seat), the
// batch is done again request by request, each in a savepoint, so that only the
// offending request fails.
//
// # Fencing
//
// Activate takes the section's next epoch (an upsert that increments it) and reads the
// latest snapshot and the journal after it in the same transaction. Every Append and
// SaveSnapshot carries its activation's epoch, and is refused with ticketview.ErrFenced,
// writing nothing, unless that epoch is the section's current one: a stale activation
// (an old node, a restarted actor) can never write. An Append whose first Seq does not
// follow the journal's last is refused with EINTERNAL. Because appends lock the section's
// row and activations update it, the two are serialized by PostgreSQL whichever node
// makes them.
//
// # Projection
//
// In the transaction that journals them, the events also update the relational view:
// a hold_placed event inserts a holds row (with the prices fixed in the hold),
// released, expired and confirmed holds delete theirs; a hold_confirmed event inserts a
// bookings row (total: the sum of the hold's prices) and a tickets row per seat (per
// place, seat_index NULL, for general admission); sale_cancelled marks the booking and
// its tickets cancelled. A partial unique index allows one valid ticket per seat: a
// confirmation that would sell a seat twice fails with ECONFLICT and writes nothing,
// even if the checks in Go were bypassed.
//
// # Outbox
//
// The events hold_placed, hold_released, hold_expired, hold_confirmed and sale_cancelled
// also insert an outbox row (topic OutboxTopic, key "event/section", a JSON OutboxEvent
// with "v":1 and the event's fields, the hold named by a digest of its secret token) in
// the same transaction, so a relay can publish exactly the events that were committed,
// in order per section.
//
// # Errors
//
// A failure to reach the server (down, unreachable, restarted, timed out) comes back as
// an error for which ticketview.ErrorCode is EUNAVAILABLE, with a message starting
// "postgres: unavailable:", within the caller's context and the connect timeout. The
// pool reconnects by itself: broken connections are dropped, never reused.
package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/internal/groupcommit"
)

var (
	_ ticketview.SectionStore  = (*DB)(nil)
	_ ticketview.AsyncAppender = (*DB)(nil)
	_ ticketview.EventStore    = (*DB)(nil)
	_ ticketview.VenueStore    = (*DB)(nil)
)

// Options tune a DB. The zero value is a good default.
type Options struct {
	// MaxConns is the size of the connection pool for activations, snapshots and the
	// catalog (default max(8, 4×GOMAXPROCS)). Each committer has a connection of its own
	// besides.
	MaxConns int32
	// ConnectTimeout bounds the whole of opening a connection (default 2 s), unless the
	// URL sets connect_timeout. An unreachable server fails within it.
	ConnectTimeout time.Duration
	// CommitTimeout bounds one group commit (default 5 s). A batch is also abandoned once
	// every caller waiting for it has given up (their contexts' latest deadline).
	CommitTimeout time.Duration
	// MaxBatch is the most appends written in one transaction (default 1024).
	MaxBatch int
	// Committers is the number of committer goroutines (default GOMAXPROCS, at least 2).
	// Sections are shared out among them by a hash of their id, so a section's appends
	// keep their order; committers of different sections write in parallel, each on a
	// connection of its own, so the server's cores all work at group commits.
	Committers int
}

func (o Options) withDefaults() Options {
	if o.MaxConns <= 0 {
		o.MaxConns = int32(max(8, 4*runtime.GOMAXPROCS(0)))
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 2 * time.Second
	}
	if o.CommitTimeout <= 0 {
		o.CommitTimeout = 5 * time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
	if o.Committers <= 0 {
		o.Committers = max(2, runtime.GOMAXPROCS(0))
	}
	return o
}

// Commit delay of the committer (see groupcommit.Config).
const (
	gatherMin   = 8
	gatherQuiet = 50 * time.Microsecond
	gatherMax   = 500 * time.Microsecond
)

// DB is a TicketView store on PostgreSQL. It is safe for concurrent use.
type DB struct {
	pool  *pgxpool.Pool // activations, snapshots, catalog
	wpool *pgxpool.Pool // the committers'
	opts  Options

	committers []*committer

	closeOnce sync.Once
	closed    atomic.Bool
}

// Open connects to the database at url (a postgres:// URL or key=value string; pgx
// passes unknown URL parameters such as search_path to the server), applies the
// migrations it lacks and starts the committers. It fails with an EUNAVAILABLE error if
// the server cannot be reached within ctx and the connect timeout.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	opts = opts.withDefaults()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	applyConnConfig(cfg.ConnConfig, opts)
	cfg.MaxConns = opts.MaxConns
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = 15 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := withConn(ctx, pool, "migrate", func(conn *pgx.Conn) error { return migrate(ctx, conn) }); err != nil {
		pool.Close()
		return nil, err
	}
	// The committers' own connections. Their statements look rows up by key, and
	// PostgreSQL may keep the generic plan it made of such a statement while the tables
	// were small, in which a sequential scan looked cheapest: with many rows, every commit
	// would scan a table. On these connections the planner uses the indexes.
	wcfg := cfg.Copy()
	wcfg.MaxConns = int32(opts.Committers)
	wcfg.ConnConfig.RuntimeParams["enable_seqscan"] = "off"
	wcfg.ConnConfig.RuntimeParams["enable_hashjoin"] = "off"
	wcfg.ConnConfig.RuntimeParams["enable_mergejoin"] = "off"
	wcfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	wpool, err := pgxpool.NewWithConfig(ctx, wcfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	db := &DB{pool: pool, wpool: wpool, opts: opts}
	for range opts.Committers {
		c := &committer{db: db, queue: groupcommit.New[*request](groupcommit.Config{
			Size: 8 * opts.MaxBatch, MaxBatch: opts.MaxBatch, Closed: errClosed,
			GatherMin: gatherMin, GatherQuiet: gatherQuiet, GatherMax: gatherMax,
		})}
		db.committers = append(db.committers, c)
		go c.queue.Run(c.apply)
	}
	return db, nil
}

func applyConnConfig(cc *pgx.ConnConfig, opts Options) {
	if cc.ConnectTimeout == 0 { // the URL did not set connect_timeout
		cc.ConnectTimeout = opts.ConnectTimeout
	}
}

// withConn runs fn on a connection of the pool, mapping failures to store errors.
func withConn(ctx context.Context, pool *pgxpool.Pool, op string, fn func(*pgx.Conn) error) error {
	c, err := pool.Acquire(ctx)
	if err != nil {
		return storeErr(op, err)
	}
	defer c.Release()
	if err := fn(c.Conn()); err != nil {
		return storeErr(op, err)
	}
	return nil
}

// Close stops the committers, failing appends still queued with EUNAVAILABLE, and closes
// the pools. Appends already acknowledged are durable. Calls after Close fail with
// EUNAVAILABLE.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.closed.Store(true)
		for _, c := range db.committers {
			c.queue.Close()
		}
		db.wpool.Close()
		db.pool.Close()
	})
	return nil
}

// Pool is the connection pool, for the node's other PostgreSQL users (accounts,
// payments, the outbox relay) and for tests.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Stats counts the committers' work since Open.
type Stats struct {
	Commits   uint64 // group-commit transactions tried
	Requests  uint64 // appends in them
	Fallbacks uint64 // batches done again request by request after the database refused a statement
}

// Stats reports how many appends went into how many transactions: Requests/Commits is
// the mean group-commit size.
func (db *DB) Stats() Stats {
	var s Stats
	for _, c := range db.committers {
		s.Commits += c.commits.Load()
		s.Requests += c.requests.Load()
		s.Fallbacks += c.fallbacks.Load()
	}
	return s
}

// errClosed answers appends made, or still queued, after Close.
var errClosed = &storeError{te: &ticketview.Error{Code: ticketview.EUNAVAILABLE, Message: "postgres: unavailable: the store is closed"}}

// counters count a committer's work.
type counters struct {
	commits, requests, fallbacks atomic.Uint64
}

// committer returns the committer of a section.
func (db *DB) committer(sec secKey) *committer {
	if len(db.committers) == 1 {
		return db.committers[0]
	}
	h := fnv.New32a()
	h.Write([]byte(sec.event))
	h.Write([]byte{'/'})
	h.Write([]byte(sec.section))
	return db.committers[h.Sum32()%uint32(len(db.committers))]
}
