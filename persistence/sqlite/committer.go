package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ticketview/ticketview/persistence/internal/groupcommit"
)

// A request is one write waiting for the committer. Its op runs inside the batch's
// transaction; the caller learns the outcome only after that transaction committed.
type request struct {
	groupcommit.Request
	section string               // the section the op works on, if any: read ahead for the batch
	proj    *projection          // an append's changes of the booking index, if any: their lookups are read ahead
	op      func(b *batch) error // returns the request's own outcome; storage failures via b.fail
}

// Commit delay (see groupcommit.Config).
const (
	gatherMin   = 8
	gatherQuiet = 25 * time.Microsecond
	gatherMax   = 250 * time.Microsecond
)

// submit queues op for the committer. Requests are applied in the order they entered the
// queue: a goroutine's submits (or submits ordered by a lock) keep their order.
func (db *DB) submit(ctx context.Context, section string, op func(b *batch) error) (*request, error) {
	return db.submitRequest(ctx, &request{section: section, op: op})
}

// submitRequest queues a request made by the caller (see submit).
func (db *DB) submitRequest(ctx context.Context, r *request) (*request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := db.queue.Submit(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// await waits for a request's outcome. A caller whose context ends while the request is
// still queued withdraws it (it will never be written); once the committer has taken it,
// the outcome is known within one commit, and await reports it.
func (db *DB) await(ctx context.Context, r *request) error {
	return db.queue.Await(ctx, r)
}

func (db *DB) do(ctx context.Context, section string, op func(b *batch) error) error {
	r, err := db.submit(ctx, section, op)
	if err != nil {
		return err
	}
	return db.await(ctx, r)
}

// run is the committer: it takes the first queued request, drains what else is queued
// (up to maxBatch), applies them all in one transaction and answers them after it commits.
func (db *DB) run() {
	db.queue.Run(func(reqs []*request) int {
		db.c.apply(reqs)
		return len(reqs)
	})
}

// committer owns the writer connection and its prepared statements.
type committer struct {
	conn *sql.Conn
	b    batch
	live []*request

	begin, commit, rollback *sql.Stmt

	delJournal              *sql.Stmt
	selSnapSeq, putSnapshot *sql.Stmt
	multi                   map[multiKey]*sql.Stmt // multi-row statements by kind and rows

	insVenue, insEvent, selEvent, updEvent *sql.Stmt

	named map[string]*sql.Stmt // statements prepared on first use, by query text (see prepared)

	stmts []*sql.Stmt

	commits, requests atomic.Uint64 // group commits tried and the requests in them
}

func newCommitter(ctx context.Context, conn *sql.Conn) (*committer, error) {
	c := &committer{conn: conn, b: batch{secs: map[string]*secState{}}, multi: map[multiKey]*sql.Stmt{}}
	c.b.c = c
	prep := func(dst **sql.Stmt, query string) error {
		s, err := conn.PrepareContext(ctx, query)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", query, err)
		}
		*dst = s
		c.stmts = append(c.stmts, s)
		return nil
	}
	err := errors.Join(
		prep(&c.begin, `BEGIN IMMEDIATE`),
		prep(&c.commit, `COMMIT`),
		prep(&c.rollback, `ROLLBACK`),
		prep(&c.delJournal, `DELETE FROM journal WHERE section_id = ? AND last_seq <= ?`),
		prep(&c.selSnapSeq, `SELECT seq FROM snapshots WHERE section_id = ?`),
		prep(&c.putSnapshot, `INSERT INTO snapshots (section_id, seq, data) VALUES (?, ?, ?)
			ON CONFLICT (section_id) DO UPDATE SET seq = excluded.seq, data = excluded.data`),
		prep(&c.insVenue, `INSERT INTO venues (id, data) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`),
		prep(&c.insEvent, `INSERT INTO events (id, venue_id, status, starts_at, name, search, data)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`),
		prep(&c.selEvent, `SELECT data FROM events WHERE id = ?`),
		prep(&c.updEvent, `UPDATE events SET venue_id = ?, status = ?, starts_at = ?, name = ?, search = ?, data = ?
			WHERE id = ?`),
	)
	if err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *committer) close() error {
	var errs []error
	for _, s := range c.stmts {
		errs = append(errs, s.Close())
	}
	errs = append(errs, c.conn.Close())
	return errors.Join(errs...)
}

var bg = context.Background() // statements of the committer are never interrupted midway

// apply runs one group commit. A request whose own op fails (fenced, gap, conflict, ...)
// gets that error while the others commit; if the transaction itself fails, every request
// of the batch gets an EUNAVAILABLE error and none of its writes is visible.
func (c *committer) apply(reqs []*request) {
	live := groupcommit.Take(c.live[:0], reqs)
	c.live = live
	if len(live) == 0 {
		return
	}
	c.commits.Add(1)
	c.requests.Add(uint64(len(live)))

	b := &c.b
	b.reset()
	err := c.beginTx()
	if err == nil {
		err = c.applyTx(b, live)
		if err != nil {
			// After a failed COMMIT the transaction may still be open (a deferred
			// constraint) or already rolled back (I/O error); either way, end it.
			c.rollback.ExecContext(bg)
		}
	}
	if err != nil {
		e := unavailable("group commit failed, nothing of it was written", err)
		for _, r := range live {
			r.Err = e
		}
	}
	for i, r := range live {
		r.Answer()
		live[i] = nil
	}
}

// applyTx applies the requests' ops in queue order and commits. An op may fail on its own
// (its error goes to its caller) only before its first write; a storage failure fails the
// whole batch (b.fail).
func (c *committer) applyTx(b *batch, live []*request) error {
	if err := b.prefetch(live); err != nil {
		return err
	}
	for _, r := range live {
		r.Err = r.op(b)
		if b.fatal != nil {
			return b.fatal
		}
	}
	if err := b.flushJournal(); err != nil {
		return err
	}
	if err := b.flushProjection(); err != nil {
		return err
	}
	if err := b.flushSections(); err != nil {
		return err
	}
	if _, err := c.commit.ExecContext(bg); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (c *committer) beginTx() error {
	_, err := c.begin.ExecContext(bg)
	if err != nil {
		// A transaction left open by a failure we could not roll back: end it, try again.
		c.rollback.ExecContext(bg)
		if _, err = c.begin.ExecContext(bg); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
	}
	return nil
}

// batch is the state of one group-commit transaction: the sections it touches, read
// once up front and written back once at the end, and the journal rows it adds, written
// with multi-row INSERTs.
type batch struct {
	c     *committer
	secs  map[string]*secState
	dirty []*secState
	rows  []journalRow
	keys  []string
	args  []any
	proj  projBatch // the booking index's lookups and changes (bookings.go)
	fatal error
}

type secState struct {
	id      string
	epoch   uint64
	lastSeq uint64
	exists  bool
	dirty   bool
}

type journalRow struct {
	section     string
	first, last uint64
	data        []byte
}

func (b *batch) reset() {
	clear(b.secs)
	clear(b.rows) // drop references to the data of answered requests
	b.rows = b.rows[:0]
	b.dirty = b.dirty[:0]
	clear(b.args[:cap(b.args)])
	b.proj.reset()
	b.fatal = nil
}

// fail records a storage failure: the whole batch will be rolled back.
func (b *batch) fail(err error) error {
	if b.fatal == nil {
		b.fatal = err
	}
	return err
}

// prefetch reads the rows of all sections the requests name, a chunk of ids at a time,
// and the booking-index rows their appends look up.
func (b *batch) prefetch(reqs []*request) error {
	keys := b.keys[:0]
	for _, r := range reqs {
		if r.section == "" {
			continue
		}
		if _, ok := b.secs[r.section]; !ok {
			b.secs[r.section] = &secState{id: r.section}
			keys = append(keys, r.section)
		}
	}
	b.keys = keys
	for len(keys) > 0 {
		n := min(len(keys), maxRowsPerStmt)
		stmt, err := b.c.multiStmt(selSections, n)
		if err != nil {
			return err
		}
		args := b.args[:0]
		for _, k := range keys[:n] {
			args = append(args, k)
		}
		b.args = args
		rows, err := stmt.QueryContext(bg, args...)
		if err != nil {
			return fmt.Errorf("read sections: %w", err)
		}
		for rows.Next() {
			var id string
			var epoch, last int64
			if err := rows.Scan(&id, &epoch, &last); err != nil {
				rows.Close()
				return fmt.Errorf("read sections: %w", err)
			}
			if s := b.secs[id]; s != nil {
				s.epoch, s.lastSeq, s.exists = uint64(epoch), uint64(last), true
			}
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("read sections: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read sections: %w", err)
		}
		keys = keys[n:]
	}
	return b.prefetchProjection(reqs)
}

// section returns the section's row as this transaction sees it.
func (b *batch) section(id string) (*secState, error) {
	if s, ok := b.secs[id]; ok {
		return s, nil
	}
	s := &secState{id: id}
	stmt, err := b.c.multiStmt(selSections, 1)
	if err != nil {
		return nil, b.fail(err)
	}
	var epoch, last int64
	switch err := stmt.QueryRowContext(bg, id).Scan(&id, &epoch, &last); {
	case err == nil:
		s.epoch, s.lastSeq, s.exists = uint64(epoch), uint64(last), true
	case errors.Is(err, sql.ErrNoRows):
	default:
		return nil, b.fail(fmt.Errorf("read section %s: %w", id, err))
	}
	b.secs[s.id] = s
	return s, nil
}

// touch marks a section to be written back.
func (b *batch) touch(s *secState) {
	s.exists = true
	if !s.dirty {
		s.dirty = true
		b.dirty = append(b.dirty, s)
	}
}

// addJournal queues a journal row; it is written at the latest before the commit.
func (b *batch) addJournal(row journalRow) error {
	b.rows = append(b.rows, row)
	if len(b.rows) >= maxRowsPerStmt {
		return b.flushJournal()
	}
	return nil
}

// flushJournal writes the queued journal rows. Ops that read or delete journal rows call
// it first.
func (b *batch) flushJournal() error {
	rows := b.rows
	for len(rows) > 0 {
		n := min(len(rows), maxRowsPerStmt)
		stmt, err := b.c.multiStmt(insJournal, n)
		if err != nil {
			return b.fail(err)
		}
		args := b.args[:0]
		for _, r := range rows[:n] {
			args = append(args, r.section, int64(r.first), int64(r.last), r.data)
		}
		b.args = args
		if _, err := stmt.ExecContext(bg, args...); err != nil {
			return b.fail(fmt.Errorf("append to the journal: %w", err))
		}
		rows = rows[n:]
	}
	clear(b.rows)
	b.rows = b.rows[:0]
	return nil
}

// flushSections writes back the sections the batch changed.
func (b *batch) flushSections() error {
	dirty := b.dirty
	for len(dirty) > 0 {
		n := min(len(dirty), maxRowsPerStmt)
		stmt, err := b.c.multiStmt(putSections, n)
		if err != nil {
			return err
		}
		args := b.args[:0]
		for _, s := range dirty[:n] {
			args = append(args, s.id, int64(s.epoch), int64(s.lastSeq))
		}
		b.args = args
		if _, err := stmt.ExecContext(bg, args...); err != nil {
			return fmt.Errorf("write sections: %w", err)
		}
		dirty = dirty[n:]
	}
	clear(b.args)
	return nil
}

// Multi-row statements, prepared when a batch first needs one with that many rows.
type multiKind int

const (
	selSections multiKind = iota // SELECT id, epoch, last_seq FROM sections WHERE id IN (...)
	insJournal                   // INSERT INTO journal ... VALUES (...), (...)
	putSections                  // INSERT INTO sections ... VALUES (...), (...) ON CONFLICT ...

	// The booking index's (projectionQuery).
	selHolds       // SELECT ... FROM holds WHERE (section_id, token) IN (VALUES ...)
	selBookings    // SELECT ... FROM bookings WHERE (event, section, id) IN (VALUES ...)
	delHolds       // DELETE FROM holds WHERE (section_id, token) IN (VALUES ...)
	putHolds       // INSERT INTO holds ... VALUES (...), (...) ON CONFLICT ...
	insBookings    // INSERT INTO bookings ... VALUES (...), (...)
	cancelBookings // UPDATE bookings ... FROM (VALUES ...)

	// Background writes (execRows, eachChunk).
	insAudit      // INSERT INTO audit_log ... VALUES (...), (...) ON CONFLICT DO NOTHING RETURNING ...
	insAuditSeats // INSERT INTO audit_seats ... VALUES (...), (...) ON CONFLICT DO NOTHING
	addCounters   // INSERT INTO analytics_counters ... VALUES (...), (...) ON CONFLICT ... total + excluded.total
	insMessages   // INSERT INTO outbox ... VALUES (...), (...)
)

type multiKey struct {
	kind multiKind
	rows int
}

// maxRowsPerStmt is the most rows of a multi-row statement, so that at most 64 statements
// of each kind are prepared and cached. The background writes' rows have at most 6 values:
// a statement binds at most 384 variables, far below SQLite's limit.
const maxRowsPerStmt = 64

func (c *committer) multiStmt(kind multiKind, rows int) (*sql.Stmt, error) {
	k := multiKey{kind, rows}
	if s, ok := c.multi[k]; ok {
		return s, nil
	}
	var q string
	switch kind {
	case selSections:
		q = `SELECT id, epoch, last_seq FROM sections WHERE id IN (` + repeat("?", rows) + `)`
	case insJournal:
		q = `INSERT INTO journal (section_id, first_seq, last_seq, data) VALUES ` + repeat("(?, ?, ?, ?)", rows)
	case putSections:
		q = `INSERT INTO sections (id, epoch, last_seq) VALUES ` + repeat("(?, ?, ?)", rows) + `
			ON CONFLICT (id) DO UPDATE SET epoch = excluded.epoch, last_seq = excluded.last_seq`
	case insAudit:
		q = `INSERT INTO audit_log (section_id, seq, event, at, owner, data) VALUES ` + repeat("(?, ?, ?, ?, ?, ?)", rows) + `
			ON CONFLICT (section_id, seq) DO NOTHING RETURNING section_id, seq`
	case insAuditSeats:
		q = `INSERT INTO audit_seats (event, seat, section_id, seq) VALUES ` + repeat("(?, ?, ?, ?)", rows) + `
			ON CONFLICT DO NOTHING`
	case addCounters:
		q = `INSERT INTO analytics_counters (event, hour, dim, value, metric, total) VALUES ` + repeat("(?, ?, ?, ?, ?, ?)", rows) + `
			ON CONFLICT (event, hour, dim, value, metric) DO UPDATE SET total = total + excluded.total`
	case insMessages:
		q = `INSERT INTO outbox (topic, key, value, created_at) VALUES ` + repeat("(?, ?, ?, ?)", rows)
	default:
		q = projectionQuery(kind, rows)
	}
	s, err := c.conn.PrepareContext(bg, q)
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", q, err)
	}
	c.multi[k] = s
	c.stmts = append(c.stmts, s)
	return s, nil
}

// eachChunk runs the multi-row statement of kind over n rows, a chunk of at most
// maxRowsPerStmt rows at a time, in order: row appends the values of row i to args, and
// run executes the chunk's statement with them. A failure fails the batch (b.fail).
func (b *batch) eachChunk(kind multiKind, n int, row func(args []any, i int) []any, run func(s *sql.Stmt, args []any) error) error {
	for done := 0; done < n; {
		k := min(n-done, maxRowsPerStmt)
		s, err := b.c.multiStmt(kind, k)
		if err != nil {
			return b.fail(err)
		}
		args := b.args[:0]
		for i := done; i < done+k; i++ {
			args = row(args, i)
		}
		b.args = args
		if err := run(s, args); err != nil {
			return b.fail(err)
		}
		done += k
	}
	return nil
}

// execRows writes n rows with the multi-row statement of kind (see eachChunk): a few
// statements instead of one a row, each of which costs a fixed overhead.
func (b *batch) execRows(what string, kind multiKind, n int, row func(args []any, i int) []any) error {
	return b.eachChunk(kind, n, row, func(s *sql.Stmt, args []any) error {
		if _, err := s.ExecContext(bg, args...); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
}

func repeat(item string, n int) string {
	return strings.TrimSuffix(strings.Repeat(item+", ", n), ", ")
}

// Stats counts the committer's work since Open.
type Stats struct {
	Commits  uint64 // group-commit transactions tried
	Requests uint64 // writes (appends, activations, snapshots, catalog changes) in them
}

// Stats reports how many writes went into how many transactions: Requests/Commits is the
// mean group-commit size.
func (db *DB) Stats() Stats {
	return Stats{Commits: db.c.commits.Load(), Requests: db.c.requests.Load()}
}
