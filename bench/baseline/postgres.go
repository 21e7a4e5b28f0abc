package baseline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketview/ticketview/bench/load"
)

// pgStore is the "postgres" design: PostgreSQL row locking.
type pgStore struct {
	pool   *pgxpool.Pool
	schema string
	q      *strings.Replacer // "{s}" -> the quoted schema
	cat    atomic.Pointer[catalog]

	setupMu sync.RWMutex // Setup excludes the sweeper
	stop    context.CancelFunc
	swept   chan struct{}
}

const sweepEvery = time.Second

// sweepBatch is how many expired holds the sweeper frees per statement.
const sweepBatch = 500

func openPostgres(ctx context.Context, cfg Config) (*pgStore, error) {
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &pgStore{pool: pool, schema: cfg.Schema, q: schemaReplacer(cfg.Schema)}
	if _, err := pool.Exec(ctx, s.sql(`CREATE SCHEMA IF NOT EXISTS {s}`)); err != nil && !isUniqueViolation(err) {
		pool.Close()
		return nil, fmt.Errorf("baseline postgres: create schema: %w", err)
	}
	var doc []byte
	switch err := pool.QueryRow(ctx, s.sql(`SELECT doc FROM {s}.layout WHERE id = 1`)).Scan(&doc); {
	case err == nil:
		var l load.Layout
		c, err := decodeLayout(doc, &l)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("baseline postgres: the stored layout: %w", err)
		}
		s.cat.Store(c)
	case errors.Is(err, pgx.ErrNoRows) || isUndefinedTable(err):
		// nothing set up yet
	default:
		pool.Close()
		return nil, fmt.Errorf("baseline postgres: load the layout: %w", err)
	}
	sweepCtx, stop := context.WithCancel(context.Background())
	s.stop, s.swept = stop, make(chan struct{})
	go s.sweeper(sweepCtx)
	return s, nil
}

// openPool opens a pgx pool of cfg.Conns connections.
func openPool(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.PostgresURL)
	if err != nil {
		return nil, fmt.Errorf("baseline: the PostgreSQL URL: %w", err)
	}
	pc.MaxConns = int32(cfg.Conns)
	// An acknowledged hold or booking is durable, whatever the server's default.
	pc.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("baseline: connect to PostgreSQL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("baseline: connect to PostgreSQL: %w", err)
	}
	return pool, nil
}

func schemaReplacer(schema string) *strings.Replacer {
	return strings.NewReplacer("{s}", pgx.Identifier{schema}.Sanitize())
}

func decodeLayout(doc []byte, l *load.Layout) (*catalog, error) {
	if err := json.Unmarshal(doc, l); err != nil {
		return nil, err
	}
	return newCatalog(*l)
}

// sql puts the schema into a statement.
func (s *pgStore) sql(stmt string) string { return s.q.Replace(stmt) }

func (s *pgStore) currentLayout() (load.Layout, bool) {
	if c := s.cat.Load(); c != nil {
		return c.layout, true
	}
	return load.Layout{}, false
}

// Setup drops and recreates the tables and loads the layout, every place free.
func (s *pgStore) Setup(ctx context.Context, l load.Layout) error {
	c, err := newCatalog(l)
	if err != nil {
		return err
	}
	doc, err := json.Marshal(c.layout)
	if err != nil {
		return err
	}
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, s.sql(pgSchemaDDL)); err != nil {
			return fmt.Errorf("create the tables: %w", err)
		}
		for _, sec := range c.layout.Sections {
			if sec.GA {
				if _, err := tx.Exec(ctx, s.sql(`INSERT INTO {s}.ga (section, capacity) VALUES ($1, $2)`), sec.ID, sec.Capacity); err != nil {
					return fmt.Errorf("section %s: %w", sec.ID, err)
				}
				continue
			}
			cs := c.sections[sec.ID]
			rows := make([][]any, len(cs.labels))
			for i, label := range cs.labels {
				rows[i] = []any{sec.ID, label, i / sec.PerRow, i%sec.PerRow + 1, cs.rank[i]}
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{s.schema, "seats"},
				[]string{"section", "label", "row", "number", "rank"}, pgx.CopyFromRows(rows)); err != nil {
				return fmt.Errorf("section %s: %w", sec.ID, err)
			}
		}
		_, err := tx.Exec(ctx, s.sql(`INSERT INTO {s}.layout (id, doc) VALUES (1, $1)`), doc)
		return err
	})
	if err != nil {
		return fmt.Errorf("baseline postgres: setup: %w", err)
	}
	// Fresh statistics, so that the planner uses the indexes right away.
	if _, err := s.pool.Exec(ctx, s.sql(`ANALYZE {s}.seats; ANALYZE {s}.ga`)); err != nil {
		return fmt.Errorf("baseline postgres: analyze: %w", err)
	}
	s.cat.Store(c)
	return nil
}

const pgSchemaDDL = `
DROP TABLE IF EXISTS {s}.bookings, {s}.holds, {s}.seats, {s}.ga, {s}.layout;
CREATE TABLE {s}.seats (
	section    text NOT NULL,
	label      text NOT NULL,
	row        int  NOT NULL,
	number     int  NOT NULL,
	rank       int  NOT NULL,
	status     text NOT NULL DEFAULT 'free' CHECK (status IN ('free', 'held', 'sold')),
	hold_token text,
	held_until timestamptz,
	PRIMARY KEY (section, label)
);
CREATE INDEX seats_best_available ON {s}.seats (section, status, rank);
CREATE TABLE {s}.holds (
	token      text PRIMARY KEY,
	section    text NOT NULL,
	buyer      text NOT NULL,
	seats      text[] NOT NULL,
	quantity   int NOT NULL,
	expires_at timestamptz NOT NULL,
	state      text NOT NULL DEFAULT 'held' CHECK (state IN ('held', 'released', 'expired', 'confirmed')),
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX holds_due ON {s}.holds (expires_at) WHERE state = 'held';
CREATE TABLE {s}.bookings (
	id          text PRIMARY KEY,
	hold_token  text NOT NULL UNIQUE,
	section     text NOT NULL,
	buyer       text NOT NULL,
	seats       text[] NOT NULL,
	quantity    int NOT NULL,
	payment_ref text NOT NULL DEFAULT '',
	created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {s}.ga (
	section  text PRIMARY KEY,
	capacity int NOT NULL,
	held     int NOT NULL DEFAULT 0,
	sold     int NOT NULL DEFAULT 0,
	CHECK (held >= 0 AND sold >= 0 AND held + sold <= capacity)
);
CREATE TABLE {s}.layout (
	id  int PRIMARY KEY CHECK (id = 1),
	doc jsonb NOT NULL
);
`

// Hold holds the places in one transaction; an acknowledged hold is committed.
func (s *pgStore) Hold(ctx context.Context, buyer, sectionID string, req load.HoldRequest) (load.Hold, error) {
	p, err := s.cat.Load().plan(buyer, sectionID, req)
	if err != nil {
		return load.Hold{}, err
	}
	token := uuid.NewString()
	expires := time.Now().Add(p.ttl).Truncate(time.Microsecond) // PostgreSQL's precision
	var seats []string
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		seats = nil
		switch p.kind {
		case pickSeats:
			b := &pgx.Batch{}
			b.Queue(s.sql(`UPDATE {s}.seats SET status = 'held', hold_token = $3, held_until = $4
				WHERE section = $1 AND label = ANY($2)
				  AND (status = 'free' OR (status = 'held' AND held_until < now()))`), sectionID, p.seats, token, expires)
			b.Queue(s.sql(`INSERT INTO {s}.holds (token, section, buyer, seats, quantity, expires_at)
				VALUES ($1, $2, $3, $4, $5, $6)`), token, sectionID, buyer, p.seats, p.quantity, expires)
			br := tx.SendBatch(ctx, b)
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return err
			}
			if _, err := br.Exec(); err != nil {
				br.Close()
				return err
			}
			if err := br.Close(); err != nil {
				return err
			}
			if int(tag.RowsAffected()) != len(p.seats) {
				return conflictf("some of the seats are taken")
			}
			seats = p.seats
		case bestAvailable:
			rows, err := tx.Query(ctx, s.sql(`WITH picked AS (
					SELECT section, label FROM {s}.seats
					WHERE section = $1 AND status = 'free'
					ORDER BY rank LIMIT $2
					FOR UPDATE SKIP LOCKED)
				UPDATE {s}.seats st SET status = 'held', hold_token = $3, held_until = $4
				FROM picked WHERE st.section = picked.section AND st.label = picked.label
				RETURNING st.label`), sectionID, p.quantity, token, expires)
			if err != nil {
				return err
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			if len(got) < p.quantity {
				return conflictf("fewer than %d seats are free in section %q", p.quantity, sectionID)
			}
			p.sec.sortByRank(got)
			if _, err := tx.Exec(ctx, s.sql(`INSERT INTO {s}.holds (token, section, buyer, seats, quantity, expires_at)
				VALUES ($1, $2, $3, $4, $5, $6)`), token, sectionID, buyer, got, p.quantity, expires); err != nil {
				return err
			}
			seats = got
		case generalAdmission:
			b := &pgx.Batch{}
			b.Queue(s.sql(`UPDATE {s}.ga SET held = held + $2
				WHERE section = $1 AND held + sold + $2 <= capacity`), sectionID, p.quantity)
			b.Queue(s.sql(`INSERT INTO {s}.holds (token, section, buyer, seats, quantity, expires_at)
				VALUES ($1, $2, $3, '{}', $4, $5)`), token, sectionID, buyer, p.quantity, expires)
			br := tx.SendBatch(ctx, b)
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return err
			}
			if _, err := br.Exec(); err != nil {
				br.Close()
				return err
			}
			if err := br.Close(); err != nil {
				return err
			}
			if tag.RowsAffected() != 1 {
				return conflictf("fewer than %d places are left in section %q", p.quantity, sectionID)
			}
		}
		return nil
	})
	if err != nil {
		return load.Hold{}, s.wrap(err)
	}
	return load.Hold{Token: token, Owner: buyer, Section: sectionID, Items: items(seats, p.quantity),
		Quantity: p.quantity, ExpiresAt: expires}, nil
}

// pgHold is a row of holds.
type pgHold struct {
	buyer, section, state string
	seats                 []string
	quantity              int
	live                  bool // not expired yet
}

// lockHold reads the buyer's hold FOR UPDATE; another buyer's hold is not found.
func (s *pgStore) lockHold(ctx context.Context, tx pgx.Tx, buyer, sectionID, token string) (pgHold, error) {
	var h pgHold
	err := tx.QueryRow(ctx, s.sql(`SELECT buyer, section, state, seats, quantity, expires_at > now()
		FROM {s}.holds WHERE token = $1 FOR UPDATE`), token).Scan(&h.buyer, &h.section, &h.state, &h.seats, &h.quantity, &h.live)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && (h.buyer != buyer || h.section != sectionID) {
		return pgHold{}, notFoundf("no hold with that token")
	}
	return h, err
}

// Release frees the hold's places.
func (s *pgStore) Release(ctx context.Context, buyer, sectionID, token string) error {
	if _, err := s.cat.Load().checkHoldRef(buyer, sectionID, token); err != nil {
		return err
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		h, err := s.lockHold(ctx, tx, buyer, sectionID, token)
		if err != nil {
			return err
		}
		switch h.state {
		case "confirmed":
			return conflictf("the hold was sold")
		case "released", "expired":
			return nil // nothing held any more
		}
		b := &pgx.Batch{}
		if len(h.seats) > 0 {
			b.Queue(s.sql(`UPDATE {s}.seats SET status = 'free', hold_token = NULL, held_until = NULL
				WHERE section = $1 AND label = ANY($2) AND hold_token = $3 AND status = 'held'`), sectionID, h.seats, token)
		} else {
			b.Queue(s.sql(`UPDATE {s}.ga SET held = held - $2 WHERE section = $1`), sectionID, h.quantity)
		}
		b.Queue(s.sql(`UPDATE {s}.holds SET state = 'released' WHERE token = $1`), token)
		return tx.SendBatch(ctx, b).Close()
	})
	return s.wrap(err)
}

// Confirm sells the hold's places and records the booking, in one transaction.
func (s *pgStore) Confirm(ctx context.Context, buyer, sectionID, token, paymentRef string) (load.Booking, error) {
	if _, err := s.cat.Load().checkHoldRef(buyer, sectionID, token); err != nil {
		return load.Booking{}, err
	}
	if err := checkPaymentRef(paymentRef); err != nil {
		return load.Booking{}, err
	}
	id := uuid.NewString()
	var h pgHold
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if h, err = s.lockHold(ctx, tx, buyer, sectionID, token); err != nil {
			return err
		}
		switch {
		case h.state == "confirmed":
			return conflictf("the hold was confirmed already")
		case h.state == "released":
			return conflictf("the hold was released")
		case h.state == "expired" || !h.live:
			return conflictf("the hold has expired")
		}
		b := &pgx.Batch{}
		if len(h.seats) > 0 {
			b.Queue(s.sql(`UPDATE {s}.seats SET status = 'sold', held_until = NULL
				WHERE section = $1 AND label = ANY($2) AND hold_token = $3 AND status = 'held'`), sectionID, h.seats, token)
		} else {
			b.Queue(s.sql(`UPDATE {s}.ga SET held = held - $2, sold = sold + $2 WHERE section = $1`), sectionID, h.quantity)
		}
		b.Queue(s.sql(`INSERT INTO {s}.bookings (id, hold_token, section, buyer, seats, quantity, payment_ref)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`), id, token, sectionID, buyer, h.seats, h.quantity, paymentRef)
		b.Queue(s.sql(`UPDATE {s}.holds SET state = 'confirmed' WHERE token = $1`), token)
		br := tx.SendBatch(ctx, b)
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return err
		}
		if err := br.Close(); err != nil {
			return err
		}
		want := int64(len(h.seats))
		if want == 0 {
			want = 1
		}
		if tag.RowsAffected() != want {
			return conflictf("the hold has expired") // its seats were taken after it expired
		}
		return nil
	})
	if err != nil {
		return load.Booking{}, s.wrap(err)
	}
	return load.Booking{ID: id, HoldToken: token, Section: sectionID, Items: items(h.seats, h.quantity),
		Quantity: h.quantity, Status: "confirmed"}, nil
}

// Section reads the section from the tables. A held seat whose hold has expired (and not
// been swept yet) reads as free: it can be picked.
func (s *pgStore) Section(ctx context.Context, sectionID string) (load.Availability, error) {
	sec, err := s.cat.Load().section(sectionID)
	if err != nil {
		return load.Availability{}, err
	}
	if sec.GA {
		a := load.Availability{Section: sectionID}
		err := s.pool.QueryRow(ctx, s.sql(`SELECT g.capacity, g.held - coalesce((
				SELECT sum(h.quantity) FROM {s}.holds h
				WHERE h.state = 'held' AND h.expires_at < now() AND h.section = $1 AND cardinality(h.seats) = 0), 0), g.sold
			FROM {s}.ga g WHERE g.section = $1`), sectionID).Scan(&a.Capacity, &a.Held, &a.Sold)
		if err != nil {
			return load.Availability{}, s.wrap(err)
		}
		a.Free = a.Capacity - a.Held - a.Sold
		return a, nil
	}
	rows, err := s.pool.Query(ctx, s.sql(`SELECT label,
			CASE WHEN status = 'held' AND held_until < now() THEN 'free' ELSE status END
		FROM {s}.seats WHERE section = $1 ORDER BY row, number`), sectionID)
	if err != nil {
		return load.Availability{}, s.wrap(err)
	}
	seats, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (load.SeatView, error) {
		var v load.SeatView
		err := r.Scan(&v.Label, &v.Status)
		return v, err
	})
	if err != nil {
		return load.Availability{}, s.wrap(err)
	}
	return availability(sec, seats), nil
}

// Close stops the sweeper and closes the pool.
func (s *pgStore) Close() error {
	s.stop()
	<-s.swept
	s.pool.Close()
	return nil
}

// sweeper frees expired holds every second.
func (s *pgStore) sweeper(ctx context.Context) {
	defer close(s.swept)
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sweep(ctx)
		}
	}
}

// sweep frees the holds that have expired, sweepBatch at a time; errors are left for the
// next round.
func (s *pgStore) sweep(ctx context.Context) {
	s.setupMu.RLock()
	defer s.setupMu.RUnlock()
	if s.cat.Load() == nil {
		return
	}
	for ctx.Err() == nil {
		var n int
		if err := s.pool.QueryRow(ctx, s.sql(sweepSQL), sweepBatch).Scan(&n); err != nil || n < sweepBatch {
			return
		}
	}
}

// sweepSQL ends a batch of expired holds in one statement: the holds are marked expired,
// their seats (those they still hold) freed and their general-admission places given
// back. (Data-modifying WITH clauses run to completion whether read or not.)
const sweepSQL = `
WITH due AS (
	SELECT token FROM {s}.holds
	WHERE state = 'held' AND expires_at < now()
	ORDER BY expires_at LIMIT $1
	FOR UPDATE SKIP LOCKED
), ended AS (
	UPDATE {s}.holds h SET state = 'expired' FROM due WHERE h.token = due.token
	RETURNING h.token, h.section, h.seats, h.quantity
), freed AS (
	UPDATE {s}.seats st SET status = 'free', hold_token = NULL, held_until = NULL
	FROM (SELECT token, section, unnest(seats) AS label FROM ended) e
	WHERE st.section = e.section AND st.label = e.label AND st.hold_token = e.token AND st.status = 'held'
	RETURNING 1
), given_back AS (
	UPDATE {s}.ga g SET held = g.held - x.quantity
	FROM (SELECT section, sum(quantity) AS quantity FROM ended WHERE cardinality(seats) = 0 GROUP BY section) x
	WHERE g.section = x.section
	RETURNING 1
)
SELECT count(*) FROM ended`

// inTx runs f in a transaction, retrying it (a few times) when PostgreSQL aborted it for
// a deadlock or a serialization failure.
func (s *pgStore) inTx(ctx context.Context, f func(tx pgx.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, f)
		if attempt < 3 && isRetryable(err) {
			continue
		}
		return err
	}
}

// wrap adds the design's name to errors that are not the store's own.
func (s *pgStore) wrap(err error) error {
	if err == nil || errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
		return err
	}
	if isUndefinedTable(err) {
		return notFoundf("no sale is set up")
	}
	return fmt.Errorf("baseline postgres: %w", err)
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func isRetryable(err error) bool {
	c := pgCode(err)
	return c == "40P01" || c == "40001" // deadlock_detected, serialization_failure
}

func isUndefinedTable(err error) bool { return pgCode(err) == "42P01" }
func isUniqueViolation(err error) bool {
	c := pgCode(err)
	return c == "23505" || c == "42P06" // unique_violation, duplicate_schema
}
