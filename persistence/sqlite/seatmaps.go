package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ticketview/ticketview"
)

var (
	_ ticketview.SeatMapStore      = (*DB)(nil)
	_ ticketview.EventDetailsStore = (*DB)(nil)
	_ ticketview.AuditLog          = (*DB)(nil)
)

// prepared returns the query prepared on the writer connection, preparing it on first
// use. Only the committer calls it (from a request's op), so the map needs no lock; the
// statements are closed with the committer's.
func (c *committer) prepared(query string) (*sql.Stmt, error) {
	if s, ok := c.named[query]; ok {
		return s, nil
	}
	s, err := c.conn.PrepareContext(bg, query)
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", query, err)
	}
	if c.named == nil {
		c.named = map[string]*sql.Stmt{}
	}
	c.named[query] = s
	c.stmts = append(c.stmts, s)
	return s, nil
}

// exec runs a write of the committer; a failure fails the whole batch (b.fail).
func (b *batch) exec(what, query string, args ...any) (sql.Result, error) {
	s, err := b.c.prepared(query)
	if err != nil {
		return nil, b.fail(err)
	}
	res, err := s.ExecContext(bg, args...)
	if err != nil {
		return nil, b.fail(fmt.Errorf("%s: %w", what, err))
	}
	return res, nil
}

// stamp is the store's clock for UpdatedAt: UTC, whole milliseconds (as the MongoDB
// adapter stores times).
func stamp() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

const (
	qPutSeatMap = `INSERT INTO seat_maps (venue_id, version, updated_at, data) VALUES (?, 1, ?, ?)
		ON CONFLICT (venue_id) DO UPDATE SET version = version + 1, updated_at = excluded.updated_at, data = excluded.data
		RETURNING version`
	qSeatMap = `SELECT version, updated_at, data FROM seat_maps WHERE venue_id = ?`
)

// PutSeatMap validates the map (EINVALID) and stores it as the venue's map, replacing the
// previous one, in one transaction of the committer. It sets m.Version (the previous
// version plus one, 1 for the first map) and m.UpdatedAt (UTC, whole milliseconds).
func (db *DB) PutSeatMap(ctx context.Context, m *ticketview.SeatMap) error {
	if m == nil {
		return ticketview.Errorf(ticketview.EINVALID, "no seat map")
	}
	if err := m.Validate(); err != nil {
		return err
	}
	// Version and UpdatedAt live in their own columns; the JSON has them zero.
	c := *m
	c.Version, c.UpdatedAt = 0, time.Time{}
	data, err := json.Marshal(&c)
	if err != nil {
		return ticketview.Errorf(ticketview.EINTERNAL, "encode seat map %q: %v", m.VenueID, err)
	}
	venue := m.VenueID
	var version int64
	var at time.Time
	err = db.do(ctx, "", func(b *batch) error {
		s, err := b.c.prepared(qPutSeatMap)
		if err != nil {
			return b.fail(err)
		}
		at = stamp()
		if err := s.QueryRowContext(bg, venue, at.UnixMilli(), data).Scan(&version); err != nil {
			return b.fail(fmt.Errorf("put seat map %s: %w", venue, err))
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.Version, m.UpdatedAt = version, at
	return nil
}

// FindSeatMap returns the venue's map, or ENOTFOUND.
func (db *DB) FindSeatMap(ctx context.Context, venueID string) (*ticketview.SeatMap, error) {
	s, err := db.readStmt(ctx, qSeatMap)
	if err != nil {
		return nil, unavailable("find seat map", err)
	}
	var version, at int64
	var data []byte
	err = s.QueryRowContext(ctx, venueID).Scan(&version, &at, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "seat map of venue %q not found", venueID)
	} else if err != nil {
		return nil, unavailable("find seat map", err)
	}
	m := new(ticketview.SeatMap)
	if err := json.Unmarshal(data, m); err != nil {
		return nil, ticketview.Errorf(ticketview.EINTERNAL, "seat map %q: corrupt record: %v", venueID, err)
	}
	m.Version, m.UpdatedAt = version, time.UnixMilli(at).UTC()
	return m, nil
}
