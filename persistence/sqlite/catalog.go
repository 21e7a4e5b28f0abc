package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ticketview/ticketview"
)

const (
	defaultListLimit = 20
	maxListLimit     = 100
)

// CreateVenue stores a new venue. It fails with EINVALID when the venue does not validate
// and with ECONFLICT when its id is taken.
func (db *DB) CreateVenue(ctx context.Context, v *ticketview.Venue) error {
	if v == nil {
		return ticketview.Errorf(ticketview.EINVALID, "no venue")
	}
	if err := v.Validate(); err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return ticketview.Errorf(ticketview.EINTERNAL, "encode venue %q: %v", v.ID, err)
	}
	id := v.ID
	return db.do(ctx, "", func(b *batch) error {
		res, err := b.c.insVenue.ExecContext(bg, id, data)
		if err != nil {
			return b.fail(fmt.Errorf("create venue %s: %w", id, err))
		}
		if n, err := res.RowsAffected(); err != nil {
			return b.fail(err)
		} else if n == 0 {
			return ticketview.Errorf(ticketview.ECONFLICT, "venue %q already exists", id)
		}
		return nil
	})
}

// FindVenue returns the venue, or an ENOTFOUND error.
func (db *DB) FindVenue(ctx context.Context, id string) (*ticketview.Venue, error) {
	var data []byte
	err := db.stmt(ctx, nil, qVenue).QueryRowContext(ctx, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "venue %q not found", id)
	} else if err != nil {
		return nil, unavailable("find venue", err)
	}
	v := new(ticketview.Venue)
	if err := json.Unmarshal(data, v); err != nil {
		return nil, ticketview.Errorf(ticketview.EINTERNAL, "venue %q: corrupt record: %v", id, err)
	}
	return v, nil
}

// eventRow is what the events table keeps of an event besides its JSON: the columns
// ListEvents filters and orders on.
type eventRow struct {
	venueID, status, name, search string
	genre, city, organizer        string // city lower-cased
	startsAt                      int64
	data                          []byte
}

// Event writes of the committer. They name every filtered column, so an event's row and
// its JSON never disagree.
const (
	qInsEvent = `INSERT INTO events (id, venue_id, status, starts_at, name, search, genre, city, organizer, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`
	qUpdEvent = `UPDATE events SET venue_id = ?, status = ?, starts_at = ?, name = ?, search = ?, genre = ?, city = ?,
		organizer = ?, data = ? WHERE id = ?`
)

func encodeEvent(e *ticketview.Event) (eventRow, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return eventRow{}, ticketview.Errorf(ticketview.EINTERNAL, "encode event %q: %v", e.ID, err)
	}
	return eventRow{
		venueID:   e.VenueID,
		status:    string(e.Status),
		name:      e.Name,
		search:    strings.ToLower(e.Name + "\n" + e.Description + "\n" + e.Location),
		genre:     e.Genre,
		city:      strings.ToLower(e.City),
		organizer: e.OrganizerID,
		startsAt:  e.StartsAt.UnixNano(),
		data:      data,
	}, nil
}

// CreateEvent stores a new event, and its event.created message in the outbox, in one
// transaction. It fails with EINVALID when the event does not validate and with
// ECONFLICT when its id is taken.
func (db *DB) CreateEvent(ctx context.Context, e *ticketview.Event) error {
	if e == nil {
		return ticketview.Errorf(ticketview.EINVALID, "no event")
	}
	if err := e.Validate(); err != nil {
		return err
	}
	row, err := encodeEvent(e)
	if err != nil {
		return err
	}
	id := e.ID
	msg := []ticketview.Message{ticketview.EventMessage(ticketview.MsgEventCreated, e, nil, time.Now())}
	return db.do(ctx, "", func(b *batch) error {
		res, err := b.exec("create event "+id, qInsEvent, id, row.venueID, row.status, row.startsAt, row.name, row.search,
			row.genre, row.city, row.organizer, row.data)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return b.fail(err)
		} else if n == 0 {
			return ticketview.Errorf(ticketview.ECONFLICT, "event %q already exists", id)
		}
		return b.addMessages(msg)
	})
}

// FindEvent returns the event, or an ENOTFOUND error.
func (db *DB) FindEvent(ctx context.Context, id string) (*ticketview.Event, error) {
	var data []byte
	err := db.stmt(ctx, nil, qEvent).QueryRowContext(ctx, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "event %q not found", id)
	} else if err != nil {
		return nil, unavailable("find event", err)
	}
	return decodeEvent(id, data)
}

func decodeEvent(id string, data []byte) (*ticketview.Event, error) {
	e := new(ticketview.Event)
	if err := json.Unmarshal(data, e); err != nil {
		return nil, ticketview.Errorf(ticketview.EINTERNAL, "event %q: corrupt record: %v", id, err)
	}
	return e, nil
}

// ListEvents returns one page of the events that pass the filter, ordered by start time
// then id, and how many pass it in all. Status matches the stored status; Text is a
// case-insensitive substring of the name, description or location; Genre and Organizer
// match exactly, City exactly but whatever the case (filter text that is not UTF-8
// without NUL is EINVALID); From is inclusive and To exclusive. Limit defaults to 20 and
// is at most 100.
func (db *DB) ListEvents(ctx context.Context, f ticketview.EventFilter) ([]*ticketview.Event, int, error) {
	if !validText(f.Text) || !validText(f.Genre) || !validText(f.City) || !validText(f.Organizer) {
		return nil, 0, ticketview.Errorf(ticketview.EINVALID, "event filter text must be UTF-8 without NUL")
	}
	var where []string
	var args []any
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, string(f.Status))
	}
	if t := strings.ToLower(strings.TrimSpace(f.Text)); t != "" {
		where = append(where, "instr(search, ?) > 0")
		args = append(args, t)
	}
	if f.Genre != "" {
		where = append(where, "genre = ?")
		args = append(args, f.Genre)
	}
	if f.City != "" {
		where = append(where, "city = ?")
		args = append(args, strings.ToLower(f.City))
	}
	if f.Organizer != "" {
		where = append(where, "organizer = ?")
		args = append(args, f.Organizer)
	}
	if !f.From.IsZero() {
		where = append(where, "starts_at >= ?")
		args = append(args, f.From.UnixNano())
	}
	if !f.To.IsZero() {
		where = append(where, "starts_at < ?")
		args = append(args, f.To.UnixNano())
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

	// Prepared before the transaction: see readStmt. There are 128 shapes of filter.
	countStmt, err := db.readStmt(ctx, `SELECT count(*) FROM events`+cond)
	if err != nil {
		return nil, 0, unavailable("list events", err)
	}
	pageStmt, err := db.readStmt(ctx, `SELECT id, data FROM events`+cond+` ORDER BY starts_at, id LIMIT ? OFFSET ?`)
	if err != nil {
		return nil, 0, unavailable("list events", err)
	}
	tx, err := db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, unavailable("list events", err)
	}
	defer tx.Rollback()
	var total int
	if err := tx.StmtContext(ctx, countStmt).QueryRowContext(ctx, args...).Scan(&total); err != nil {
		return nil, 0, unavailable("list events", err)
	}
	rows, err := tx.StmtContext(ctx, pageStmt).QueryContext(ctx, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, unavailable("list events", err)
	}
	defer rows.Close()
	out := []*ticketview.Event{}
	for rows.Next() {
		var id string
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return nil, 0, unavailable("list events", err)
		}
		e, err := decodeEvent(id, data)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, unavailable("list events", err)
	}
	return out, total, nil
}

// UpdateEvent loads the event, calls fn on it, validates the result and saves it, with an
// event.updated message in the outbox when a part of it changed (ticketview.EventChanges),
// all in one transaction of the committer. If fn fails, nothing is saved and its error is
// returned as is. fn runs on the committer's goroutine: it must be quick and must not
// call the store. The event's id cannot change.
func (db *DB) UpdateEvent(ctx context.Context, id string, fn func(*ticketview.Event) error) (*ticketview.Event, error) {
	var out *ticketview.Event
	var panicked any
	err := db.do(ctx, "", func(b *batch) error {
		var data []byte
		err := b.c.selEvent.QueryRowContext(bg, id).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return ticketview.Errorf(ticketview.ENOTFOUND, "event %q not found", id)
		} else if err != nil {
			return b.fail(fmt.Errorf("update event %s: %w", id, err))
		}
		e, err := decodeEvent(id, data)
		if err != nil {
			return err
		}
		before, _ := decodeEvent(id, data) // fn may change e's slices in place
		if err := callSafely(fn, e, &panicked); err != nil {
			return err
		}
		if e.ID != id {
			return ticketview.Errorf(ticketview.EINVALID, "event %q: the id cannot change", id)
		}
		if err := e.Validate(); err != nil {
			return err
		}
		row, err := encodeEvent(e)
		if err != nil {
			return err
		}
		if _, err := b.exec("update event "+id, qUpdEvent, row.venueID, row.status, row.startsAt, row.name, row.search,
			row.genre, row.city, row.organizer, row.data, id); err != nil {
			return err
		}
		if changed := ticketview.EventChanges(before, e); len(changed) > 0 {
			msg := ticketview.EventMessage(ticketview.MsgEventUpdated, e, changed, time.Now())
			if err := b.addMessages([]ticketview.Message{msg}); err != nil {
				return err
			}
		}
		out = e
		return nil
	})
	if panicked != nil {
		panic(panicked) // on the caller's goroutine, not the committer's
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// callSafely calls fn, turning a panic into an error (recorded in *panicked) so that a
// faulty fn cannot kill the committer.
func callSafely[T any](fn func(T) error, v T, panicked *any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			*panicked = p
			err = ticketview.Errorf(ticketview.EINTERNAL, "update function panicked: %v", p)
		}
	}()
	return fn(v)
}

const (
	qCountVenues = `SELECT count(*) FROM venues`
	qPageVenues  = `SELECT id, data FROM venues ORDER BY id LIMIT ? OFFSET ?`
)

// ListVenues returns a page of venues ordered by id, and the number of venues, both read
// in one snapshot. limit defaults to 20 (when 0 or less) and is at most 100; a negative
// offset is 0.
func (db *DB) ListVenues(ctx context.Context, offset, limit int) ([]*ticketview.Venue, int, error) {
	if limit <= 0 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)
	offset = max(offset, 0)
	// Prepared before the transaction: see readStmt.
	countStmt, err := db.readStmt(ctx, qCountVenues)
	if err != nil {
		return nil, 0, unavailable("list venues", err)
	}
	pageStmt, err := db.readStmt(ctx, qPageVenues)
	if err != nil {
		return nil, 0, unavailable("list venues", err)
	}
	tx, err := db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, unavailable("list venues", err)
	}
	defer tx.Rollback()
	var total int
	if err := tx.StmtContext(ctx, countStmt).QueryRowContext(ctx).Scan(&total); err != nil {
		return nil, 0, unavailable("list venues", err)
	}
	rows, err := tx.StmtContext(ctx, pageStmt).QueryContext(ctx, limit, offset)
	if err != nil {
		return nil, 0, unavailable("list venues", err)
	}
	defer rows.Close()
	out := []*ticketview.Venue{}
	for rows.Next() {
		var id string
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return nil, 0, unavailable("list venues", err)
		}
		v := new(ticketview.Venue)
		if err := json.Unmarshal(data, v); err != nil {
			return nil, 0, ticketview.Errorf(ticketview.EINTERNAL, "venue %q: corrupt record: %v", id, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, unavailable("list venues", err)
	}
	return out, total, nil
}
