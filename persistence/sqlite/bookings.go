package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ticketview/ticketview"
)

var _ ticketview.BookingIndex = (*DB)(nil)

// The booking index is a projection of the section journals into the holds and bookings
// tables (schema/0004_bookings.sql), written by the committer in the transaction that
// writes the journal rows it comes from: it holds exactly what was acknowledged, and a
// failed group commit leaves nothing of it behind.
//
// The work is split so that the committer, which every append in the process waits for,
// does as little as it can per append: the caller's goroutine turns its events into a
// projection (newProjection; nil for appends that change nothing here); prefetch reads,
// with one statement per kind for the whole batch, the stored holds and bookings the
// batch's confirmations name; each append's op checks and records its changes in the
// batch's projBatch, which nets them out (a hold placed and confirmed in one batch never
// reaches the holds table); flushProjection writes the net changes with multi-row
// statements just before the commit. A database whose journals predate the index gets
// it when the schema file is applied (backfillBookings).

// projection is what one append changes in the booking index, or nil when it changes
// nothing there (extensions, blocks).
type projection struct {
	key            string // ticketview.SectionID.String(): the holds table's section_id
	event, section string
	ops            []projOp
}

type projKind uint8

const (
	projHold    projKind = iota // a hold was placed: its total is remembered
	projHoldEnd                 // a hold was released or expired: it is forgotten
	projConfirm                 // a hold became a booking, priced by the hold
	projCancel                  // a booking was cancelled
)

type projOp struct {
	kind       projKind
	token      string // hold token (not projCancel)
	booking    string // projConfirm, projCancel
	owner, ref string // projConfirm
	qty        int64  // projConfirm: seats, or general-admission places
	total      int64  // projHold: the hold's total; projConfirm: the event's own total, if priced
	priced     bool   // total is known
	at         int64  // projConfirm, projCancel: Unix nanoseconds
}

// newProjection works out the booking-index changes of an append's events. It refuses a
// confirmation without a booking id (EINTERNAL): the domain never makes one, and the
// index could not name its booking.
func newProjection(id ticketview.SectionID, events []ticketview.SectionEvent) (*projection, error) {
	var p *projection
	for i := range events {
		ev := &events[i]
		var op projOp
		switch ev.Type {
		case ticketview.EvHoldPlaced:
			op = projOp{kind: projHold, token: ev.Token}
			op.total, op.priced = holdTotal(ev)
		case ticketview.EvHoldReleased, ticketview.EvHoldExpired:
			op = projOp{kind: projHoldEnd, token: ev.Token}
		case ticketview.EvHoldConfirmed:
			if ev.BookingID == "" {
				return nil, ticketview.Errorf(ticketview.EINTERNAL, "section %s: event %d confirms a hold without a booking id", id, ev.Seq)
			}
			op = projOp{kind: projConfirm, token: ev.Token, booking: ev.BookingID, owner: ev.Owner, ref: ev.Reference,
				qty: int64(ev.Quantity), at: unixNanos(ev.At)}
			if len(ev.Seats) > 0 {
				op.qty = int64(len(ev.Seats))
			}
			op.total, op.priced = confirmTotal(ev)
		case ticketview.EvSaleCancelled:
			op = projOp{kind: projCancel, booking: ev.BookingID, at: unixNanos(ev.At)}
		default:
			continue
		}
		if p == nil {
			p = &projection{key: id.String(), event: id.Event, section: id.Section}
		}
		p.ops = append(p.ops, op)
	}
	return p, nil
}

// holdTotal is what a placed hold costs: the sum of its seats' prices, or for general
// admission (no seats) the unit price times the quantity; not known when the prices do
// not fit the seats.
func holdTotal(ev *ticketview.SectionEvent) (int64, bool) {
	if len(ev.Seats) == 0 {
		if len(ev.Prices) != 1 || ev.Quantity <= 0 {
			return 0, false
		}
		return ev.Prices[0] * int64(ev.Quantity), true
	}
	if len(ev.Prices) != len(ev.Seats) {
		return 0, false
	}
	var total int64
	for _, p := range ev.Prices {
		total += p
	}
	return total, true
}

// confirmTotal is a confirmation's total when the event carries its own prices (the
// domain's do not: a confirmation sells its whole hold, at the hold's prices).
func confirmTotal(ev *ticketview.SectionEvent) (int64, bool) {
	if len(ev.Prices) == 0 {
		return 0, false
	}
	return holdTotal(ev)
}

func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

type holdKey struct{ sec, token string }

type bookKey struct{ event, section, id string }

// projBatch is the booking index as a batch changes it: the stored rows its
// confirmations name (read ahead), and the net changes of the appends accepted so far.
type projBatch struct {
	storedHolds map[holdKey]storedHold // looked up: the stored hold's total, if it has a row
	storedBooks map[bookKey]bool       // looked up: whether the booking has a row

	holds     map[holdKey]*holdChange
	holdOrder []holdKey
	books     map[bookKey]*bookChange
	bookOrder []bookKey

	seen map[bookKey]bool // confirmations of the append being checked

	hkeys []holdKey // prefetch scratch
	bkeys []bookKey
}

type storedHold struct {
	total int64
	ok    bool
}

// holdChange is the net change of one hold's row.
type holdChange struct {
	gone  bool  // the stored row, if any, is deleted
	live  bool  // a hold placed in this batch is live at its end, with this total
	total int64 //
}

// bookChange is the net change of one booking's row.
type bookChange struct {
	row      *bookRow // a booking confirmed in this batch (possibly cancelled in it too)
	cancel   bool     // the stored booking is cancelled
	cancelAt int64
}

type bookRow struct {
	owner, token, ref string
	qty, total        int64
	priced            bool
	at                int64
	cancelled         bool
	cancelAt          int64
}

func (pb *projBatch) reset() {
	if pb.holds == nil {
		pb.storedHolds, pb.storedBooks = map[holdKey]storedHold{}, map[bookKey]bool{}
		pb.holds, pb.books, pb.seen = map[holdKey]*holdChange{}, map[bookKey]*bookChange{}, map[bookKey]bool{}
	}
	clear(pb.storedHolds)
	clear(pb.storedBooks)
	clear(pb.holds)
	clear(pb.books)
	clear(pb.holdOrder)
	clear(pb.bookOrder)
	pb.holdOrder, pb.bookOrder = pb.holdOrder[:0], pb.bookOrder[:0]
}

func (pb *projBatch) hold(k holdKey) *holdChange {
	c := pb.holds[k]
	if c == nil {
		c = &holdChange{}
		pb.holds[k] = c
		pb.holdOrder = append(pb.holdOrder, k)
	}
	return c
}

func (pb *projBatch) book(k bookKey) *bookChange {
	c := pb.books[k]
	if c == nil {
		c = &bookChange{}
		pb.books[k] = c
		pb.bookOrder = append(pb.bookOrder, k)
	}
	return c
}

// prefetchProjection reads the stored holds and bookings that the batch's confirmations
// name, a chunk of keys per statement.
func (b *batch) prefetchProjection(reqs []*request) error {
	pb := &b.proj
	hkeys, bkeys := pb.hkeys[:0], pb.bkeys[:0]
	for _, r := range reqs {
		p := r.proj
		if p == nil {
			continue
		}
		for i := range p.ops {
			op := &p.ops[i]
			if op.kind != projConfirm {
				continue
			}
			if hk := (holdKey{p.key, op.token}); !op.priced && !hasKey(pb.storedHolds, hk) {
				pb.storedHolds[hk] = storedHold{}
				hkeys = append(hkeys, hk)
			}
			if bk := (bookKey{p.event, p.section, op.booking}); !hasKey(pb.storedBooks, bk) {
				pb.storedBooks[bk] = false
				bkeys = append(bkeys, bk)
			}
		}
	}
	pb.hkeys, pb.bkeys = hkeys, bkeys
	defer func() {
		clear(pb.hkeys)
		clear(pb.bkeys)
	}()
	return errors.Join(b.readHolds(hkeys), b.readBookings(bkeys))
}

func (b *batch) readHolds(keys []holdKey) error {
	for len(keys) > 0 {
		n := min(len(keys), maxRowsPerStmt)
		stmt, err := b.c.multiStmt(selHolds, n)
		if err != nil {
			return err
		}
		args := b.args[:0]
		for _, k := range keys[:n] {
			args = append(args, k.sec, k.token)
		}
		b.args = args
		if err := b.scanRows(stmt, "read holds", func(rows *sql.Rows) error {
			var k holdKey
			var total int64
			if err := rows.Scan(&k.sec, &k.token, &total); err != nil {
				return err
			}
			b.proj.storedHolds[k] = storedHold{total: total, ok: true}
			return nil
		}); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

func (b *batch) readBookings(keys []bookKey) error {
	for len(keys) > 0 {
		n := min(len(keys), maxRowsPerStmt)
		stmt, err := b.c.multiStmt(selBookings, n)
		if err != nil {
			return err
		}
		args := b.args[:0]
		for _, k := range keys[:n] {
			args = append(args, k.event, k.section, k.id)
		}
		b.args = args
		if err := b.scanRows(stmt, "read bookings", func(rows *sql.Rows) error {
			var k bookKey
			if err := rows.Scan(&k.event, &k.section, &k.id); err != nil {
				return err
			}
			b.proj.storedBooks[k] = true
			return nil
		}); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

func hasKey[K comparable, V any](m map[K]V, k K) bool {
	_, ok := m[k]
	return ok
}

// scanRows runs a query of the committer with b.args and calls scan for each row.
func (b *batch) scanRows(stmt *sql.Stmt, what string, scan func(*sql.Rows) error) error {
	rows, err := stmt.QueryContext(bg, b.args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// project checks an append's projection and records its changes in the batch. It is
// called by the append's op after the journal checks and before anything is written, so
// that a refused append leaves nothing behind: it fails with ECONFLICT when a
// confirmation reuses a booking id of its section (the domain never does), or with a
// storage failure (b.fail) when a lookup fails.
func (b *batch) project(p *projection) error {
	if p == nil {
		return nil
	}
	pb := &b.proj
	clear(pb.seen)
	for i := range p.ops {
		op := &p.ops[i]
		if op.kind != projConfirm {
			continue
		}
		k := bookKey{p.event, p.section, op.booking}
		exists, err := b.bookingExists(k)
		if err != nil {
			return err
		}
		if exists || pb.seen[k] {
			return ticketview.Errorf(ticketview.ECONFLICT, "section %s: booking id %q is already used in the section", p.key, op.booking)
		}
		pb.seen[k] = true
	}
	for i := range p.ops {
		op := &p.ops[i]
		hk := holdKey{p.key, op.token}
		switch op.kind {
		case projHold:
			c := pb.hold(hk)
			c.gone, c.live, c.total = true, op.priced, op.total
		case projHoldEnd:
			c := pb.hold(hk)
			c.gone, c.live = true, false
		case projConfirm:
			total, priced := op.total, op.priced
			if !priced {
				var err error
				if total, priced, err = b.holdTotal(hk); err != nil {
					return err
				}
			}
			c := pb.hold(hk)
			c.gone, c.live = true, false
			pb.book(bookKey{p.event, p.section, op.booking}).row = &bookRow{owner: op.owner, token: op.token, ref: op.ref,
				qty: op.qty, total: total, priced: priced, at: op.at}
		case projCancel:
			c := pb.book(bookKey{p.event, p.section, op.booking})
			switch {
			case c.row != nil && !c.row.cancelled:
				c.row.cancelled, c.row.cancelAt = true, op.at
			case c.row == nil && !c.cancel:
				c.cancel, c.cancelAt = true, op.at
			}
			// Cancelling a cancelled booking changes nothing; cancelling one the index does
			// not know changes no row. The journal has the event all the same.
		}
	}
	return nil
}

// bookingExists reports whether the booking has a row, or was confirmed earlier in the
// batch.
func (b *batch) bookingExists(k bookKey) (bool, error) {
	if c := b.proj.books[k]; c != nil && c.row != nil {
		return true, nil
	}
	if exists, ok := b.proj.storedBooks[k]; ok {
		return exists, nil
	}
	// Not read ahead (every append's confirmations are): look it up alone.
	b.proj.storedBooks[k] = false
	if err := b.readBookings([]bookKey{k}); err != nil {
		return false, b.fail(err)
	}
	return b.proj.storedBooks[k], nil
}

// holdTotal is the total of the hold as the batch stands: placed in it, ended in it, or
// as stored.
func (b *batch) holdTotal(k holdKey) (int64, bool, error) {
	if c := b.proj.holds[k]; c != nil {
		if c.live {
			return c.total, true, nil
		}
		if c.gone {
			return 0, false, nil
		}
	}
	h, ok := b.proj.storedHolds[k]
	if !ok {
		b.proj.storedHolds[k] = storedHold{}
		if err := b.readHolds([]holdKey{k}); err != nil {
			return 0, false, b.fail(err)
		}
		h = b.proj.storedHolds[k]
	}
	return h.total, h.ok, nil
}

// flushProjection writes the batch's net changes of the booking index: holds deleted,
// then holds stored, bookings inserted, stored bookings cancelled.
func (b *batch) flushProjection() error {
	pb := &b.proj
	var del, put []holdKey
	for _, k := range pb.holdOrder {
		switch c := pb.holds[k]; {
		case c.live: // an upsert replaces any stored row
			put = append(put, k)
		case c.gone:
			del = append(del, k)
		}
	}
	err := b.writeRows(delHolds, len(del), func(i int, args []any) []any {
		return append(args, del[i].sec, del[i].token)
	})
	if err == nil {
		err = b.writeRows(putHolds, len(put), func(i int, args []any) []any {
			return append(args, put[i].sec, put[i].token, pb.holds[put[i]].total)
		})
	}
	var ins, canc []bookKey
	for _, k := range pb.bookOrder {
		switch c := pb.books[k]; {
		case c.row != nil:
			ins = append(ins, k)
		case c.cancel:
			canc = append(canc, k)
		}
	}
	if err == nil {
		err = b.writeRows(insBookings, len(ins), func(i int, args []any) []any {
			k := ins[i]
			r := pb.books[k].row
			status, cancelAt, total := "confirmed", any(nil), any(nil)
			if r.cancelled {
				status, cancelAt = "cancelled", r.cancelAt
			}
			if r.priced {
				total = r.total
			}
			return append(args, k.event, k.section, k.id, r.owner, r.token, status, r.qty, total, r.ref, r.at, cancelAt)
		})
	}
	if err == nil {
		err = b.writeRows(cancelBookings, len(canc), func(i int, args []any) []any {
			k := canc[i]
			return append(args, k.event, k.section, k.id, pb.books[k].cancelAt)
		})
	}
	return err
}

// writeRows runs a multi-row statement of the kind over n rows, a chunk at a time; row
// appends the arguments of row i.
func (b *batch) writeRows(kind multiKind, n int, row func(i int, args []any) []any) error {
	return b.execRows("write the booking index", kind, n, func(args []any, i int) []any { return row(i, args) })
}

// projectionQuery is the text of a multi-row statement of the booking index.
func projectionQuery(kind multiKind, rows int) string {
	switch kind {
	case selHolds:
		return `SELECT section_id, token, total FROM holds WHERE (section_id, token) IN (VALUES ` + repeat("(?, ?)", rows) + `)`
	case selBookings:
		return `SELECT event, section, id FROM bookings WHERE (event, section, id) IN (VALUES ` + repeat("(?, ?, ?)", rows) + `)`
	case delHolds:
		return `DELETE FROM holds WHERE (section_id, token) IN (VALUES ` + repeat("(?, ?)", rows) + `)`
	case putHolds:
		return `INSERT INTO holds (section_id, token, total) VALUES ` + repeat("(?, ?, ?)", rows) + `
			ON CONFLICT (section_id, token) DO UPDATE SET total = excluded.total`
	case insBookings:
		return `INSERT INTO bookings (event, section, id, owner, hold_token, status, quantity, total, payment_ref,
			confirmed_at, cancelled_at) VALUES ` + repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
	case cancelBookings:
		return `UPDATE bookings SET status = 'cancelled', cancelled_at = k.column4
			FROM (VALUES ` + repeat("(?, ?, ?, ?)", rows) + `) AS k
			WHERE bookings.event = k.column1 AND bookings.section = k.column2 AND bookings.id = k.column3
				AND bookings.status = 'confirmed'`
	}
	panic(fmt.Sprintf("sqlite: no booking-index statement of kind %d", kind))
}

// Listing limits, as for events.
const (
	defaultBookingLimit = 20
	maxBookingLimit     = 100
)

// bookingCols are the columns ListBookings reads; the currency is the event's, from the
// catalog ("" when the event is not in it).
const bookingCols = `b.event, b.section, b.id, b.owner, b.hold_token, b.status, b.quantity, b.total, b.payment_ref,
	b.confirmed_at, b.cancelled_at, coalesce(json_extract(e.data, '$.currency'), '')`

// ListBookings returns a page of the bookings that pass the filter (Owner and Event
// exact; empty matches every one), newest first: by confirmation time, then booking id,
// event and section, all descending; and how many pass it in all, both read in one
// snapshot. Limit defaults to 20 and is at most 100; a negative Offset is 0. The bookings
// carry no Items; Total is in the event's currency as the catalog has it ("" when the
// event is not in the catalog), 0 when the hold's prices were never journaled. Times are
// exact, in UTC.
func (db *DB) ListBookings(ctx context.Context, f ticketview.BookingFilter) ([]ticketview.Booking, int, error) {
	var where []string
	var args []any
	if f.Owner != "" {
		where = append(where, "b.owner = ?")
		args = append(args, f.Owner)
	}
	if f.Event != "" {
		where = append(where, "b.event = ?")
		args = append(args, f.Event)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultBookingLimit
	}
	limit = min(limit, maxBookingLimit)
	offset := max(f.Offset, 0)

	// Prepared before the transaction: see readStmt. There are 4 shapes of filter.
	countStmt, err := db.readStmt(ctx, `SELECT count(*) FROM bookings b`+cond)
	if err != nil {
		return nil, 0, unavailable("list bookings", err)
	}
	pageStmt, err := db.readStmt(ctx, `SELECT `+bookingCols+` FROM bookings b LEFT JOIN events e ON e.id = b.event`+cond+`
		ORDER BY b.confirmed_at DESC, b.id DESC, b.event DESC, b.section DESC LIMIT ? OFFSET ?`)
	if err != nil {
		return nil, 0, unavailable("list bookings", err)
	}
	tx, err := db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, unavailable("list bookings", err)
	}
	defer tx.Rollback()
	var total int
	if err := tx.StmtContext(ctx, countStmt).QueryRowContext(ctx, args...).Scan(&total); err != nil {
		return nil, 0, unavailable("list bookings", err)
	}
	rows, err := tx.StmtContext(ctx, pageStmt).QueryContext(ctx, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, unavailable("list bookings", err)
	}
	defer rows.Close()
	out := []ticketview.Booking{}
	for rows.Next() {
		var b ticketview.Booking
		var status string
		var amount sql.NullInt64
		var confirmed int64
		var cancelled sql.NullInt64
		if err := rows.Scan(&b.Event, &b.Section, &b.ID, &b.Owner, &b.HoldToken, &status, &b.Quantity, &amount,
			&b.PaymentRef, &confirmed, &cancelled, &b.Total.Currency); err != nil {
			return nil, 0, unavailable("list bookings", err)
		}
		b.Status, b.Total.Amount = ticketview.BookingStatus(status), amount.Int64
		b.ConfirmedAt, b.CancelledAt = fromNanos(confirmed), fromNanos(cancelled.Int64)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, unavailable("list bookings", err)
	}
	return out, total, nil
}

// salesQuery sums the bookings per event; cond is "" (every event) or a WHERE clause.
func salesQuery(cond string) string {
	return `SELECT event, sum(status = 'confirmed'), sum(status = 'cancelled'),
		coalesce(sum(CASE WHEN status = 'confirmed' THEN quantity END), 0),
		coalesce(sum(CASE WHEN status = 'confirmed' THEN total END), 0) FROM bookings` + cond + ` GROUP BY event ORDER BY event`
}

// maxSalesEvents is the most event ids one sales statement takes; longer lists are read
// a chunk at a time, in one read transaction.
const maxSalesEvents = 64

// SalesByEvent sums the bookings of the events (of every event with a booking when
// events is nil), in event id order (byte order); an event without bookings is left out,
// and one whose bookings are all cancelled is not. Bookings counts the confirmed ones,
// Tickets their seats and places, Revenue their totals (a booking whose hold's prices
// were never journaled adds 0); Cancelled counts the cancelled ones.
func (db *DB) SalesByEvent(ctx context.Context, events []string) ([]ticketview.EventSales, error) {
	out := []ticketview.EventSales{}
	var chunks [][]string
	if events == nil {
		chunks = [][]string{nil}
	} else {
		ids := slices.Clone(events)
		slices.Sort(ids)
		ids = slices.Compact(ids)
		for len(ids) > 0 { // in id order, so the chunks' results follow on
			n := min(len(ids), maxSalesEvents)
			chunks, ids = append(chunks, ids[:n]), ids[n:]
		}
	}
	// Prepared before the transaction: see readStmt.
	stmts := make([]*sql.Stmt, len(chunks))
	for i, c := range chunks {
		q := salesQuery("")
		if c != nil {
			q = salesQuery(" WHERE event IN (" + repeat("?", len(c)) + ")")
		}
		var err error
		if stmts[i], err = db.readStmt(ctx, q); err != nil {
			return nil, unavailable("sales by event", err)
		}
	}
	if len(chunks) == 0 {
		return out, nil
	}
	tx, err := db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, unavailable("sales by event", err)
	}
	defer tx.Rollback()
	for i, c := range chunks {
		args := make([]any, len(c))
		for j, id := range c {
			args[j] = id
		}
		if err := db.scanSales(ctx, tx.StmtContext(ctx, stmts[i]), args, &out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (db *DB) scanSales(ctx context.Context, stmt *sql.Stmt, args []any, out *[]ticketview.EventSales) error {
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return unavailable("sales by event", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s ticketview.EventSales
		if err := rows.Scan(&s.Event, &s.Bookings, &s.Cancelled, &s.Tickets, &s.Revenue); err != nil {
			return unavailable("sales by event", err)
		}
		*out = append(*out, s)
	}
	if err := rows.Err(); err != nil {
		return unavailable("sales by event", err)
	}
	return nil
}

// backfillBookings builds the booking index of a database whose journals were written
// before it existed (schema/0004_bookings.sql), in the migration's transaction: for each
// section, its snapshot's live holds and sales, then every append of its journal after
// the snapshot, projected as the committer would have. An append the committer would have
// refused (a booking id used again, a confirmation without one) adds nothing.
func backfillBookings(ctx context.Context, conn *sql.Conn) (err error) {
	c := &committer{conn: conn, multi: map[multiKey]*sql.Stmt{}}
	defer func() {
		for _, s := range c.stmts {
			s.Close()
		}
	}()
	b := &batch{c: c}
	b.proj.reset()
	var keys []string
	rows, err := conn.QueryContext(ctx, `SELECT id FROM sections ORDER BY id`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return err
		}
		keys = append(keys, k)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, key := range keys {
		event, section, ok := strings.Cut(key, "/")
		if !ok {
			return fmt.Errorf("backfill bookings: section id %q is not event/section", key)
		}
		id := ticketview.SectionID{Event: event, Section: section}
		snapSeq, err := backfillSnapshot(ctx, b, id, key)
		if err != nil {
			return err
		}
		if err := backfillJournal(ctx, b, id, key, snapSeq); err != nil {
			return err
		}
		if err := b.flushProjection(); err != nil {
			return fmt.Errorf("backfill bookings of %s: %w", key, err)
		}
		b.proj.reset()
	}
	return nil
}

// backfillSnapshot projects the live holds and the sales of the section's snapshot, and
// returns its Seq (0 without one).
func backfillSnapshot(ctx context.Context, b *batch, id ticketview.SectionID, key string) (uint64, error) {
	var data []byte
	switch err := b.c.conn.QueryRowContext(ctx, `SELECT data FROM snapshots WHERE section_id = ?`, key).Scan(&data); {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, err
	}
	var snap ticketview.SectionSnapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return 0, fmt.Errorf("backfill bookings: section %s: corrupt snapshot: %w", key, err)
	}
	p := &projection{key: key, event: id.Event, section: id.Section}
	for _, h := range snap.Holds {
		ev := ticketview.SectionEvent{Seats: h.Seats, Prices: h.Prices, Quantity: h.Qty}
		op := projOp{kind: projHold, token: h.Token}
		op.total, op.priced = holdTotal(&ev)
		p.ops = append(p.ops, op)
	}
	for _, s := range snap.Sales {
		ev := ticketview.SectionEvent{Seats: s.Seats, Prices: s.Prices, Quantity: s.Qty}
		op := projOp{kind: projConfirm, token: s.Token, booking: s.ID, owner: s.Owner, ref: s.Ref,
			qty: int64(s.Qty), at: unixNanos(s.At)}
		if len(s.Seats) > 0 {
			op.qty = int64(len(s.Seats))
		}
		op.total, op.priced = holdTotal(&ev)
		p.ops = append(p.ops, op)
		if !s.CancelledAt.IsZero() {
			p.ops = append(p.ops, projOp{kind: projCancel, booking: s.ID, at: unixNanos(s.CancelledAt)})
		}
	}
	if err := b.project(p); err != nil && b.fatal != nil {
		return 0, err
	}
	return snap.Seq, nil
}

// backfillJournal projects the section's appends after the snapshot, one journal row
// (one append) at a time.
func backfillJournal(ctx context.Context, b *batch, id ticketview.SectionID, key string, snapSeq uint64) error {
	rows, err := b.c.conn.QueryContext(ctx, `SELECT data FROM journal WHERE section_id = ? AND last_seq > ? ORDER BY first_seq`, key, int64(snapSeq))
	if err != nil {
		return err
	}
	var appends [][]ticketview.SectionEvent
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			rows.Close()
			return err
		}
		evs, err := ticketview.UnmarshalEvents(data)
		if err != nil {
			rows.Close()
			return fmt.Errorf("backfill bookings: section %s: %w", key, err)
		}
		for len(evs) > 0 && evs[0].Seq <= snapSeq { // covered by the snapshot
			evs = evs[1:]
		}
		appends = append(appends, evs)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, evs := range appends {
		p, err := newProjection(id, evs)
		if err != nil {
			continue // refused when it was appended, had the index existed
		}
		if err := b.project(p); err != nil && b.fatal != nil {
			return err
		}
	}
	return nil
}
