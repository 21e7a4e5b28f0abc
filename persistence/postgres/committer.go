package postgres

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/internal/groupcommit"
)

// request is one Append waiting for the committer. The caller learns its outcome after
// the transaction it joined has committed (or failed).
type request struct {
	groupcommit.Request
	sec         secKey
	id          ticketview.SectionID
	epoch       uint64
	events      []ticketview.SectionEvent
	data        []byte // the events in MarshalEvents form; nil for an empty append
	first, last uint64
}

// committer is the goroutine that writes the queued appends, a batch per transaction.
type committer struct {
	db    *DB
	queue *groupcommit.Queue[*request]
	counters
	// noSeatPrecheck stops the checks in Go from refusing a second sale of a seat. Only
	// tests set it, to show that the unique index refuses it as well.
	noSeatPrecheck atomic.Bool
	live           []*request
	// unknown holds, per section, the epoch of an append whose commit may or may not
	// have happened (the connection was lost once COMMIT was sent). Later appends of that
	// activation fail: an append whose predecessor failed must fail too, and here it
	// could otherwise follow a write its caller was told had failed. An activation (a new
	// epoch) clears it.
	unknown map[secKey]uint64
}

// connAttempts is how many times an operation that may run again is tried on pooled
// connections that turn out to be broken (see onConn).
const connAttempts = 3

// onConn runs fn on a connection of pool and returns the connection, still acquired, if
// fn succeeded. fn must be safe to run again: when it fails because its connection was
// broken (as pooled connections are after the server restarted or the network was cut),
// the pool's idle connections are dropped, as they are likely broken too, and fn runs
// again on a new connection, connAttempts times at most. A failure to connect is not
// tried again: the server is not there.
func onConn(ctx context.Context, pool *pgxpool.Pool, fn func(*pgx.Conn) error) (*pgxpool.Conn, error) {
	for attempt := 1; ; attempt++ {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		if err = fn(conn.Conn()); err == nil {
			return conn, nil
		}
		rollback(ctx, conn.Conn())
		conn.Release() // a broken connection is destroyed, not pooled
		if !isConnErr(err) || ctx.Err() != nil || attempt >= connAttempts {
			return nil, err
		}
		pool.Reset()
	}
}

// retryOnConn is onConn for operations done with their connection when fn returns.
func retryOnConn(ctx context.Context, pool *pgxpool.Pool, fn func(*pgx.Conn) error) error {
	conn, err := onConn(ctx, pool, fn)
	if err == nil {
		conn.Release()
	}
	return err
}

// apply runs one group commit and answers its requests.
func (c *committer) apply(reqs []*request) int {
	live := groupcommit.Take(c.live[:0], reqs)
	c.live = live
	if len(live) == 0 {
		return 0
	}
	c.commits.Add(1)
	c.requests.Add(uint64(len(live)))
	ctx, cancel := c.batchContext(live)
	err := c.commitBatch(ctx, live)
	cancel()
	if err != nil {
		e := batchErr(err)
		for _, r := range live {
			r.Err = e
		}
	}
	for i, r := range live {
		r.Answer()
		live[i] = nil
	}
	return len(live)
}

// batchContext bounds a batch by CommitTimeout, and by the latest deadline of its callers
// when they all have one: once all have given up, nobody waits for the outcome.
func (c *committer) batchContext(live []*request) (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(c.db.opts.CommitTimeout)
	var latest time.Time
	for _, r := range live {
		d, ok := r.Context().Deadline()
		if !ok {
			latest = deadline
			break
		}
		if d.After(latest) {
			latest = d
		}
	}
	if latest.Before(deadline) {
		deadline = latest
	}
	return context.WithDeadline(context.Background(), deadline)
}

// batchErr is what every request of a failed batch gets.
func batchErr(err error) error {
	var te *ticketview.Error
	if errors.As(err, &te) && te.Code != ticketview.EUNAVAILABLE {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && retryableCode(pe.Code) || isConnErr(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &storeError{
			te: &ticketview.Error{Code: ticketview.EUNAVAILABLE,
				Message: "postgres: unavailable: group commit failed, nothing of it was acknowledged: " + reason(err)},
			cause: err,
		}
	}
	return storeErr("group commit", err)
}

// commitBatch writes the requests in one transaction. Requests refused on their own get
// their error in r.Err; a returned error fails the whole batch.
func (c *committer) commitBatch(ctx context.Context, live []*request) error {
	lk := collectLookups(live)
	conn, p, err := c.begin(ctx, lk, live)
	if err != nil {
		return err
	}
	defer conn.Release()
	err = c.writeAll(ctx, conn.Conn(), p)
	var refused *refusedError
	if err == nil {
		return nil
	}
	if !errors.As(err, &refused) {
		// COMMIT went out with the rest: unless the server said no, it may have happened.
		if isConnErr(err) || ctx.Err() != nil {
			c.outcomeUnknown(p)
		}
		rollback(ctx, conn.Conn())
		return err
	}
	// The database refused a statement the checks did not foresee: do the batch again
	// request by request, so that only the offending one fails.
	if err := rollback(ctx, conn.Conn()); err != nil {
		return err
	}
	c.fallbacks.Add(1)
	for _, r := range live {
		r.Err = nil
	}
	p, err = c.prepare(ctx, conn.Conn(), lk, live)
	if err != nil {
		rollback(ctx, conn.Conn())
		return err
	}
	return c.writeEach(ctx, conn.Conn(), p)
}

// begin acquires a connection and runs the batch's first round trip (see prepare). That
// round trip writes nothing, so it is tried again on a fresh connection when the one the
// pool gave turns out to be broken.
func (c *committer) begin(ctx context.Context, lk *lookups, live []*request) (*pgxpool.Conn, *plan, error) {
	var p *plan
	conn, err := onConn(ctx, c.db.wpool, func(conn *pgx.Conn) error {
		for _, r := range live {
			r.Err = nil
		}
		var err error
		p, err = c.prepare(ctx, conn, lk, live)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return conn, p, nil
}

// rollback ends the connection's transaction, if one is open. A connection it cannot
// roll back is closed, so the pool drops it.
func rollback(ctx context.Context, conn *pgx.Conn) error {
	if conn.IsClosed() || conn.PgConn().TxStatus() == 'I' {
		return nil
	}
	if _, err := conn.Exec(ctx, "rollback"); err != nil {
		conn.Close(context.Background())
		return err
	}
	return nil
}

// Queries of the first round trip. Every batch locks its sections' rows, in key order
// (committers of several nodes lock the same way: no deadlock), and reads what the
// checks of its confirmations and cancellations need.
const (
	qLockSections = `SELECT j.event_id, j.section_id, j.epoch, j.last_seq
		FROM journal_sections j JOIN unnest($1::text[], $2::text[]) AS k(e, s) ON j.event_id = k.e AND j.section_id = k.s
		ORDER BY j.event_id, j.section_id
		FOR UPDATE OF j`
	// One index probe per seat (LATERAL ... OFFSET 0 keeps the planner from reading every
	// valid ticket once and filtering, which a plan made on an empty table would do).
	qValidTickets = `SELECT t.event_id, t.section_id, t.seat_index, t.booking_id
		FROM unnest($1::text[], $2::text[], $3::int[]) AS k(e, s, seat),
		LATERAL (SELECT * FROM tickets t
			WHERE t.event_id = k.e AND t.section_id = k.s AND t.seat_index = k.seat AND t.status = 'valid' OFFSET 0) t`
	qBookings = `SELECT b.event_id, b.section_id, b.id, b.status,
			coalesce(array_agg(t.seat_index) FILTER (WHERE t.status = 'valid' AND t.seat_index IS NOT NULL), '{}')
		FROM bookings b JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(e, s, id)
			ON b.event_id = k.e AND b.section_id = k.s AND b.id = k.id
		LEFT JOIN tickets t ON t.event_id = b.event_id AND t.section_id = b.section_id AND t.booking_id = b.id
		GROUP BY b.event_id, b.section_id, b.id, b.status`
	qHolds = `SELECT h.event_id, h.section_id, h.token, h.seats, h.quantity, h.prices
		FROM holds h JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(e, s, tok)
			ON h.event_id = k.e AND h.section_id = k.s AND h.token = k.tok`
)

// prepare runs the first round trip (BEGIN, lock, reads) on conn and checks the requests
// in queue order. It leaves the transaction open.
func (c *committer) prepare(ctx context.Context, conn *pgx.Conn, lk *lookups, live []*request) (*plan, error) {
	b := &pgx.Batch{}
	b.Queue("begin")
	b.Queue(qLockSections, lk.secEvents, lk.secSections)
	if len(lk.seats.e) > 0 {
		b.Queue(qValidTickets, lk.seats.e, lk.seats.s, lk.seats.seat)
	}
	if len(lk.bookings.e) > 0 {
		b.Queue(qBookings, lk.bookings.e, lk.bookings.s, lk.bookings.name)
	}
	if len(lk.holds.e) > 0 {
		b.Queue(qHolds, lk.holds.e, lk.holds.s, lk.holds.name)
	}
	st := newSim(!c.noSeatPrecheck.Load())
	st.unknown = c.unknown
	err := func() error {
		br := conn.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		if err := scanRows(br, func(rows pgx.Rows) error {
			var k secKey
			var epoch, last int64
			if err := rows.Scan(&k.event, &k.section, &epoch, &last); err != nil {
				return err
			}
			st.secs[k] = &secState{epoch: uint64(epoch), last: uint64(last)}
			return nil
		}); err != nil {
			return err
		}
		if len(lk.seats.e) > 0 {
			if err := scanRows(br, func(rows pgx.Rows) error {
				var k seatKey
				var booking string
				if err := rows.Scan(&k.sec.event, &k.sec.section, &k.seat, &booking); err != nil {
					return err
				}
				st.valid[k] = booking
				return nil
			}); err != nil {
				return err
			}
		}
		if len(lk.bookings.e) > 0 {
			if err := scanRows(br, func(rows pgx.Rows) error {
				var k nameKey
				var status string
				var seats []int32
				if err := rows.Scan(&k.sec.event, &k.sec.section, &k.name, &status, &seats); err != nil {
					return err
				}
				st.bookings[k] = &bookingState{cancelled: status == "cancelled", seats: seats}
				for _, s := range seats {
					st.valid[seatKey{k.sec, s}] = k.name
				}
				return nil
			}); err != nil {
				return err
			}
		}
		if len(lk.holds.e) > 0 {
			if err := scanRows(br, func(rows pgx.Rows) error {
				var k nameKey
				h := &holdInfo{}
				if err := rows.Scan(&k.sec.event, &k.sec.section, &k.name, &h.seats, &h.qty, &h.prices); err != nil {
					return err
				}
				st.holds[k] = h
				return nil
			}); err != nil {
				return err
			}
		}
		return br.Close()
	}()
	if err != nil {
		return nil, err
	}
	p := &plan{}
	for _, r := range live {
		w, err := st.check(r)
		if err != nil {
			r.Err = err
			continue
		}
		p.reqs = append(p.reqs, r)
		p.writes = append(p.writes, w)
	}
	return p, nil
}

func scanRows(br pgx.BatchResults, scan func(pgx.Rows) error) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// refusedError is a statement of the batch that the server refused (a constraint, a
// value it would not take), as opposed to a failure of the connection or of the commit.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// writeAll writes the accepted requests of p with one statement per table and commits,
// all in one round trip.
func (c *committer) writeAll(ctx context.Context, conn *pgx.Conn, p *plan) error {
	var m merged
	for i := range p.writes {
		m.add(&p.writes[i])
	}
	b := &pgx.Batch{}
	m.queue(b)
	b.Queue("commit")
	br := conn.SendBatch(ctx, b)
	n := b.Len()
	for i := range n {
		if _, err := br.Exec(); err != nil {
			br.Close()
			var pe *pgconn.PgError
			if i < n-1 && errors.As(err, &pe) && !retryableCode(pe.Code) {
				return &refusedError{err}
			}
			return err
		}
	}
	return br.Close()
}

// writeEach writes the accepted requests of p one by one, each in a savepoint: one the
// server refuses fails alone (ECONFLICT for a unique violation, EINTERNAL otherwise), with
// the section's later requests of the batch; the others commit.
func (c *committer) writeEach(ctx context.Context, conn *pgx.Conn, p *plan) error {
	failed := map[secKey]uint64{} // section -> journal end before its failed request
	for i, r := range p.reqs {
		if end, ok := failed[r.sec]; ok {
			r.Err = ticketview.Errorf(ticketview.EINTERNAL,
				"section %s: append at seq %d, the journal ends at %d: an earlier append of the section failed", r.id, r.first, end)
			continue
		}
		var m merged
		m.add(&p.writes[i])
		b := &pgx.Batch{}
		b.Queue("savepoint tv_request")
		m.queue(b)
		b.Queue("release savepoint tv_request")
		br := conn.SendBatch(ctx, b)
		var stmtErr error
		for range b.Len() {
			if _, err := br.Exec(); err != nil {
				stmtErr = err
				break
			}
		}
		if err := br.Close(); stmtErr == nil {
			stmtErr = err
		}
		if stmtErr == nil {
			continue
		}
		var pe *pgconn.PgError
		if !errors.As(stmtErr, &pe) || retryableCode(pe.Code) {
			return stmtErr
		}
		if _, err := conn.Exec(ctx, "rollback to savepoint tv_request; release savepoint tv_request"); err != nil {
			return err
		}
		if pe.Code == sqlUniqueViolation {
			r.Err = &storeError{te: ticketview.Errorf(ticketview.ECONFLICT,
				"postgres: section %s: append at seq %d refused: it would sell a seat that is already sold (%s)", r.id, r.first, pe.ConstraintName),
				cause: stmtErr}
		} else {
			r.Err = &storeError{te: ticketview.Errorf(ticketview.EINTERNAL,
				"postgres: section %s: append at seq %d refused by the database (SQLSTATE %s)", r.id, r.first, pe.Code),
				cause: stmtErr}
		}
		failed[r.sec] = r.first - 1
	}
	if _, err := conn.Exec(ctx, "commit"); err != nil {
		if isConnErr(err) || ctx.Err() != nil {
			c.outcomeUnknown(p)
		}
		return err
	}
	return nil
}

// outcomeUnknown records that the appends of p may or may not have been committed.
func (c *committer) outcomeUnknown(p *plan) {
	for i, r := range p.reqs {
		if p.writes[i].first == 0 || r.Err != nil {
			continue
		}
		if c.unknown == nil {
			c.unknown = map[secKey]uint64{}
		}
		c.unknown[r.sec] = r.epoch
	}
}
