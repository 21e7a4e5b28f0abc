package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ticketview/ticketview"
)

const (
	defaultListLimit = 20
	maxListLimit     = 100
)

const (
	qInsVenue    = `INSERT INTO venues (id, name, city, address) VALUES ($1, $2, $3, $4)`
	qInsSections = `INSERT INTO sections (venue_id, id, ordinal, name, kind, capacity, category, layout)
		SELECT $1, k.id, k.ord, k.name, k.kind, k.cap, k.cat, k.layout::jsonb
		FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[])
			AS k(id, ord, name, kind, cap, cat, layout)`
	qInsSeats = `INSERT INTO seats (venue_id, section_id, seat_index, label, row_label, number, category, x, y, accessible)
		SELECT $1, * FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::int[], $7::text[],
			$8::float8[], $9::float8[], $10::bool[])`
	qVenue         = `SELECT name, city, address FROM venues WHERE id = $1`
	qVenueSections = `SELECT layout FROM sections WHERE venue_id = $1 ORDER BY ordinal`

	eventCols = `e.id, e.venue_id, e.name, e.description, e.location, e.currency, e.buyer_limit, e.status,
		e.starts_at_ns, e.created_at_ns, e.organizer_id, e.genre, e.city, e.sales_start_ns, e.sales_end_ns,
		e.published_at_ns,
		(SELECT jsonb_agg(jsonb_build_object('code', c.code, 'name', c.name, 'price', c.price, 'floor', c.floor,
			'ceiling', c.ceiling) ORDER BY c.ordinal) FROM price_categories c WHERE c.event_id = e.id)`
	qEvent    = `SELECT ` + eventCols + ` FROM events e WHERE e.id = $1`
	qInsEvent = `INSERT INTO events (id, venue_id, name, description, location, currency, buyer_limit, status,
			starts_at, starts_at_ns, created_at, created_at_ns, search, organizer_id, genre, city, city_key,
			sales_start, sales_start_ns, sales_end, sales_end_ns, published_at, published_at_ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)`
	qUpdEvent = `UPDATE events SET venue_id = $2, name = $3, description = $4, location = $5, currency = $6,
			buyer_limit = $7, status = $8, starts_at = $9, starts_at_ns = $10, created_at = $11, created_at_ns = $12,
			search = $13, organizer_id = $14, genre = $15, city = $16, city_key = $17, sales_start = $18,
			sales_start_ns = $19, sales_end = $20, sales_end_ns = $21, published_at = $22, published_at_ns = $23
		WHERE id = $1`
	qDelCategories = `DELETE FROM price_categories WHERE event_id = $1`
	qInsCategories = `INSERT INTO price_categories (event_id, ordinal, code, name, price, floor, ceiling)
		SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[])`
)

// open reports errClosed after Close.
func (db *DB) open() error {
	if db.closed.Load() {
		return errClosed
	}
	return nil
}

// exec runs b on a pooled connection, reading every result; b is expected to begin and
// commit a transaction, which is rolled back if any statement fails.
func (db *DB) exec(ctx context.Context, b *pgx.Batch) (err error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	br := conn.SendBatch(ctx, b)
	for range b.Len() {
		if _, err = br.Exec(); err != nil {
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		rollback(ctx, conn.Conn())
	}
	return err
}

// isUnique reports whether err is a unique violation of the named constraint.
func isUnique(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == sqlUniqueViolation && pe.ConstraintName == constraint
}

// CreateVenue stores a new venue with its sections and one seats row per seat, in one
// transaction. It fails with EINVALID when the venue does not validate and with
// ECONFLICT when its id is taken.
func (db *DB) CreateVenue(ctx context.Context, v *ticketview.Venue) error {
	if v == nil {
		return ticketview.Errorf(ticketview.EINVALID, "no venue")
	}
	if err := v.Validate(); err != nil {
		return err
	}
	if err := db.open(); err != nil {
		return err
	}
	var sID, sName, sKind, sLayout []string
	var sCat []*string
	var sOrd, sCap []int32
	var tSec, tLabel, tRow, tCat []string
	var tIdx, tNum []int32
	var tX, tY []float64
	var tAcc []bool
	for i := range v.Sections {
		s := &v.Sections[i]
		layout, err := json.Marshal(s)
		if err != nil {
			return ticketview.Errorf(ticketview.EINTERNAL, "encode section %q: %v", s.ID, err)
		}
		var cat *string
		if s.Category != "" {
			cat = &s.Category
		}
		sID, sName, sKind, sLayout = append(sID, s.ID), append(sName, s.Name), append(sKind, string(s.Kind)), append(sLayout, string(layout))
		sCat, sOrd, sCap = append(sCat, cat), append(sOrd, int32(i)), append(sCap, int32(s.SeatCount()))
		if s.Kind != ticketview.Seated {
			continue
		}
		idx := int32(0) // the seat order of ticketview.Section: rows in order, seats in row order
		for _, r := range s.Rows {
			for _, seat := range r.Seats {
				tSec, tLabel, tRow, tCat = append(tSec, s.ID), append(tLabel, seat.Label), append(tRow, r.Label), append(tCat, seat.Category)
				tIdx, tNum = append(tIdx, idx), append(tNum, int32(seat.Number))
				tX, tY, tAcc = append(tX, seat.X), append(tY, seat.Y), append(tAcc, seat.Accessible)
				idx++
			}
		}
	}
	b := &pgx.Batch{}
	b.Queue("begin")
	b.Queue(qInsVenue, v.ID, v.Name, v.City, v.Address)
	b.Queue(qInsSections, v.ID, sID, sOrd, sName, sKind, sCap, sCat, sLayout)
	if len(tSec) > 0 {
		b.Queue(qInsSeats, v.ID, tSec, tIdx, tLabel, tRow, tNum, tCat, tX, tY, tAcc)
	}
	b.Queue("commit")
	err := db.exec(ctx, b)
	if isUnique(err, "venues_pkey") {
		return &storeError{te: ticketview.Errorf(ticketview.ECONFLICT, "venue %q already exists", v.ID), cause: err}
	}
	return storeErr("create venue "+v.ID, err)
}

// FindVenue returns the venue, or an ENOTFOUND error.
func (db *DB) FindVenue(ctx context.Context, id string) (*ticketview.Venue, error) {
	if !validText(id) { // no venue has such an id
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "venue %q not found", id)
	}
	if err := db.open(); err != nil {
		return nil, err
	}
	v := &ticketview.Venue{ID: id}
	err := db.read(ctx, func(conn *pgx.Conn) error {
		b := &pgx.Batch{}
		b.Queue(qVenue, id)
		b.Queue(qVenueSections, id)
		br := conn.SendBatch(ctx, b)
		defer br.Close()
		if err := br.QueryRow().Scan(&v.Name, &v.City, &v.Address); err != nil {
			return err
		}
		v.Sections = nil
		if err := scanRows(br, func(rows pgx.Rows) error {
			var layout []byte
			if err := rows.Scan(&layout); err != nil {
				return err
			}
			var s ticketview.SectionLayout
			if err := json.Unmarshal(layout, &s); err != nil {
				return ticketview.Errorf(ticketview.EINTERNAL, "venue %q: corrupt section layout: %v", id, err)
			}
			v.Sections = append(v.Sections, s)
			return nil
		}); err != nil {
			return err
		}
		return br.Close()
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "venue %q not found", id)
	}
	if err != nil {
		return nil, storeErr("find venue "+id, err)
	}
	return v, nil
}

// read runs fn, which only reads, on a pooled connection (see retryOnConn).
func (db *DB) read(ctx context.Context, fn func(*pgx.Conn) error) error {
	return retryOnConn(ctx, db.pool, fn)
}

// eventRow is the events row of an event, and its categories as arrays.
type eventRow struct {
	args                  []any
	ord                   []int32
	code, name            []string
	price, floor, ceiling []int64
}

func encodeEvent(e *ticketview.Event) eventRow {
	var r eventRow
	starts := e.StartsAt.UnixNano()
	var created *int64
	if !e.CreatedAt.IsZero() {
		n := e.CreatedAt.UnixNano()
		created = &n
	}
	search := strings.ToLower(e.Name + "\n" + e.Description + "\n" + e.Location)
	r.args = []any{e.ID, e.VenueID, e.Name, e.Description, e.Location, e.Currency, int32(e.BuyerLimit), string(e.Status),
		e.StartsAt, starts, tsOrNil(e.CreatedAt), created, search, e.OrganizerID, e.Genre, e.City, strings.ToLower(e.City),
		tsOrNil(e.SalesStart), nsOrNil(e.SalesStart), tsOrNil(e.SalesEnd), nsOrNil(e.SalesEnd),
		tsOrNil(e.PublishedAt), nsOrNil(e.PublishedAt)}
	for i, c := range e.Categories {
		r.ord, r.code, r.name = append(r.ord, int32(i)), append(r.code, c.Code), append(r.name, c.Name)
		r.price, r.floor, r.ceiling = append(r.price, c.Price), append(r.floor, c.Floor), append(r.ceiling, c.Ceiling)
	}
	return r
}

func (r *eventRow) queueCategories(b *pgx.Batch, id string) {
	b.Queue(qInsCategories, id, r.ord, r.code, r.name, r.price, r.floor, r.ceiling)
}

// CreateEvent stores a new event and its price categories, and its event.created message
// in the outbox, in one transaction. It fails with EINVALID when the event does not
// validate and with ECONFLICT when its id is taken.
func (db *DB) CreateEvent(ctx context.Context, e *ticketview.Event) error {
	if e == nil {
		return ticketview.Errorf(ticketview.EINVALID, "no event")
	}
	if err := e.Validate(); err != nil {
		return err
	}
	if err := db.open(); err != nil {
		return err
	}
	r := encodeEvent(e)
	b := &pgx.Batch{}
	b.Queue("begin")
	b.Queue(qInsEvent, r.args...)
	r.queueCategories(b, e.ID)
	queueMessages(b, []ticketview.Message{ticketview.EventMessage(ticketview.MsgEventCreated, e, nil, time.Now())})
	b.Queue("commit")
	err := db.exec(ctx, b)
	if isUnique(err, "events_pkey") {
		return &storeError{te: ticketview.Errorf(ticketview.ECONFLICT, "event %q already exists", e.ID), cause: err}
	}
	return storeErr("create event "+e.ID, err)
}

// scanEvent reads a row of eventCols.
func scanEvent(row pgx.Row) (*ticketview.Event, error) {
	e := &ticketview.Event{}
	var status string
	var limit int32
	var starts int64
	var created, salesStart, salesEnd, published *int64
	var cats []byte
	if err := row.Scan(&e.ID, &e.VenueID, &e.Name, &e.Description, &e.Location, &e.Currency, &limit, &status,
		&starts, &created, &e.OrganizerID, &e.Genre, &e.City, &salesStart, &salesEnd, &published, &cats); err != nil {
		return nil, err
	}
	e.SalesStart, e.SalesEnd, e.PublishedAt = timeOf(salesStart), timeOf(salesEnd), timeOf(published)
	e.Status, e.BuyerLimit = ticketview.EventStatus(status), int(limit)
	e.StartsAt = time.Unix(0, starts).UTC()
	if created != nil {
		e.CreatedAt = time.Unix(0, *created).UTC()
	}
	if cats != nil {
		if err := json.Unmarshal(cats, &e.Categories); err != nil {
			return nil, ticketview.Errorf(ticketview.EINTERNAL, "event %q: corrupt price categories: %v", e.ID, err)
		}
	}
	return e, nil
}

// FindEvent returns the event, or an ENOTFOUND error.
func (db *DB) FindEvent(ctx context.Context, id string) (*ticketview.Event, error) {
	if !validText(id) { // no event has such an id
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "event %q not found", id)
	}
	if err := db.open(); err != nil {
		return nil, err
	}
	var e *ticketview.Event
	err := db.read(ctx, func(conn *pgx.Conn) (err error) {
		e, err = scanEvent(conn.QueryRow(ctx, qEvent, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "event %q not found", id)
	}
	if err != nil {
		return nil, storeErr("find event "+id, err)
	}
	return e, nil
}

// ListEvents returns one page of the events that pass the filter, ordered by start time
// then id, and how many pass it in all (both read in one snapshot). Status matches the
// stored status; Text is a case-insensitive substring of the name, description or
// location; Genre and Organizer match exactly, City exactly but whatever the case (text
// that is not UTF-8 without NUL is EINVALID); From is inclusive and To exclusive. Limit
// defaults to 20 and is at most 100.
func (db *DB) ListEvents(ctx context.Context, f ticketview.EventFilter) ([]*ticketview.Event, int, error) {
	if !validText(f.Text) || !validText(f.Genre) || !validText(f.City) || !validText(f.Organizer) || !validText(string(f.Status)) {
		return nil, 0, ticketview.Errorf(ticketview.EINVALID, "event filter text must be UTF-8 without NUL")
	}
	if err := db.open(); err != nil {
		return nil, 0, err
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Status != "" {
		where = append(where, "e.status = "+arg(string(f.Status)))
	}
	if t := strings.ToLower(strings.TrimSpace(f.Text)); t != "" {
		where = append(where, "strpos(e.search, "+arg(t)+") > 0")
	}
	if f.Genre != "" {
		where = append(where, "e.genre = "+arg(f.Genre))
	}
	if f.City != "" {
		where = append(where, "e.city_key = "+arg(strings.ToLower(f.City)))
	}
	if f.Organizer != "" {
		where = append(where, "e.organizer_id = "+arg(f.Organizer))
	}
	if !f.From.IsZero() {
		where = append(where, "e.starts_at_ns >= "+arg(f.From.UnixNano()))
	}
	if !f.To.IsZero() {
		where = append(where, "e.starts_at_ns < "+arg(f.To.UnixNano()))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)
	offset := max(f.Offset, 0)
	countArgs := append([]any(nil), args...)
	page := `SELECT ` + eventCols + ` FROM events e` + cond + ` ORDER BY e.starts_at_ns, e.id LIMIT ` + arg(limit) + ` OFFSET ` + arg(offset)

	var out []*ticketview.Event
	var total int
	err := db.read(ctx, func(conn *pgx.Conn) error {
		out = []*ticketview.Event{}
		var err error
		total, err = readPage(ctx, conn, `SELECT count(*) FROM events e`+cond, countArgs, page, args, func(rows pgx.Rows) error {
			e, err := scanEvent(rows)
			if err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, 0, storeErr("list events", err)
	}
	return out, total, nil
}

// readPage runs a count and a page query in one read-only snapshot, so that the total
// and the page agree; scan is called for each row of the page.
func readPage(ctx context.Context, conn *pgx.Conn, count string, countArgs []any, page string, pageArgs []any, scan func(pgx.Rows) error) (int, error) {
	var total int
	b := &pgx.Batch{}
	b.Queue("begin isolation level repeatable read read only")
	b.Queue(count, countArgs...)
	b.Queue(page, pageArgs...)
	b.Queue("commit")
	br := conn.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return 0, err
	}
	if err := br.QueryRow().Scan(&total); err != nil {
		return 0, err
	}
	if err := scanRows(br, scan); err != nil {
		return 0, err
	}
	if _, err := br.Exec(); err != nil {
		return 0, err
	}
	return total, br.Close()
}

// UpdateEvent loads the event and locks its row (SELECT ... FOR UPDATE), calls fn on it,
// validates the result and saves it with its categories, and an event.updated message in
// the outbox when a part of it changed (ticketview.EventChanges), all in one transaction:
// concurrent updates of an event run one after the other and none is lost. If fn fails,
// nothing is saved and its error is returned as it is. fn runs on the caller's goroutine
// while the row is locked: it must be quick. The event's id cannot change.
func (db *DB) UpdateEvent(ctx context.Context, id string, fn func(*ticketview.Event) error) (*ticketview.Event, error) {
	if !validText(id) { // no event has such an id
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "event %q not found", id)
	}
	if err := db.open(); err != nil {
		return nil, err
	}
	op := "update event " + id
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, storeErr(op, err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, storeErr(op, err)
	}
	defer tx.Rollback(context.Background()) // after Commit, a no-op; on a panic of fn, the rollback
	e, err := scanEvent(tx.QueryRow(ctx, qEvent+` FOR UPDATE OF e`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "event %q not found", id)
	} else if err != nil {
		return nil, storeErr(op, err)
	}
	before := *e
	before.Categories = slices.Clone(e.Categories) // fn may change them in place
	if err := fn(e); err != nil {
		return nil, err
	}
	if e.ID != id {
		return nil, ticketview.Errorf(ticketview.EINVALID, "event %q: the id cannot change", id)
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	r := encodeEvent(e)
	b := &pgx.Batch{}
	b.Queue(qUpdEvent, r.args...)
	b.Queue(qDelCategories, id)
	r.queueCategories(b, id)
	if changed := ticketview.EventChanges(&before, e); len(changed) > 0 {
		queueMessages(b, []ticketview.Message{ticketview.EventMessage(ticketview.MsgEventUpdated, e, changed, time.Now())})
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, storeErr(op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, storeErr(op, err)
	}
	return e, nil
}

const (
	qCountVenues = `SELECT count(*) FROM venues`
	qPageVenues  = `SELECT id, name, city, address FROM venues ORDER BY id LIMIT $1 OFFSET $2`
	// The sections of that page, in venue then layout order.
	qPageSections = `SELECT s.venue_id, s.layout
		FROM (SELECT id FROM venues ORDER BY id LIMIT $1 OFFSET $2) v JOIN sections s ON s.venue_id = v.id
		ORDER BY s.venue_id, s.ordinal`
)

// ListVenues returns a page of venues ordered by id, with their sections, and the number
// of venues, all read in one snapshot and one round trip. limit defaults to 20 (when 0 or
// less) and is at most 100; a negative offset is 0.
func (db *DB) ListVenues(ctx context.Context, offset, limit int) ([]*ticketview.Venue, int, error) {
	if err := db.open(); err != nil {
		return nil, 0, err
	}
	if limit <= 0 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)
	offset = max(offset, 0)
	var out []*ticketview.Venue
	var total int
	err := db.read(ctx, func(conn *pgx.Conn) error {
		out, total = []*ticketview.Venue{}, 0
		b := &pgx.Batch{}
		b.Queue("begin isolation level repeatable read read only")
		b.Queue(qCountVenues)
		b.Queue(qPageVenues, limit, offset)
		b.Queue(qPageSections, limit, offset)
		b.Queue("commit")
		br := conn.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		if err := br.QueryRow().Scan(&total); err != nil {
			return err
		}
		byID := map[string]*ticketview.Venue{}
		if err := scanRows(br, func(rows pgx.Rows) error {
			v := new(ticketview.Venue)
			if err := rows.Scan(&v.ID, &v.Name, &v.City, &v.Address); err != nil {
				return err
			}
			out = append(out, v)
			byID[v.ID] = v
			return nil
		}); err != nil {
			return err
		}
		if err := scanRows(br, func(rows pgx.Rows) error {
			var id string
			var layout []byte
			if err := rows.Scan(&id, &layout); err != nil {
				return err
			}
			v := byID[id]
			if v == nil {
				return ticketview.Errorf(ticketview.EINTERNAL, "venue %q: sections without the venue in one snapshot", id)
			}
			var s ticketview.SectionLayout
			if err := json.Unmarshal(layout, &s); err != nil {
				return ticketview.Errorf(ticketview.EINTERNAL, "venue %q: corrupt section layout: %v", id, err)
			}
			v.Sections = append(v.Sections, s)
			return nil
		}); err != nil {
			return err
		}
		if _, err := br.Exec(); err != nil {
			return err
		}
		return br.Close()
	})
	if err != nil {
		return nil, 0, storeErr("list venues", err)
	}
	return out, total, nil
}
