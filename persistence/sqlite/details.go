package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/ticketview/ticketview"
)

const defaultDetailsLimit = 50

const (
	qPutDetails = `INSERT INTO event_details (event_id, updated_at, data) VALUES (?, ?, ?)
		ON CONFLICT (event_id) DO UPDATE SET updated_at = excluded.updated_at, data = excluded.data`
	qDelDetailTags       = `DELETE FROM event_detail_tags WHERE event_id = ?`
	qInsDetailTag        = `INSERT INTO event_detail_tags (tag, event_id) VALUES (?, ?) ON CONFLICT DO NOTHING`
	qDelDetailPerformers = `DELETE FROM event_detail_performers WHERE event_id = ?`
	qInsDetailPerformer  = `INSERT INTO event_detail_performers (name, event_id) VALUES (?, ?) ON CONFLICT DO NOTHING`
	qDetails             = `SELECT updated_at, data FROM event_details WHERE event_id = ?`
)

// PutEventDetails validates the details (EINVALID) and stores them, replacing earlier ones
// of the event, with their tags and performer names in the search tables, in one
// transaction of the committer. It sets d.UpdatedAt (UTC, whole milliseconds).
func (db *DB) PutEventDetails(ctx context.Context, d *ticketview.EventDetails) error {
	if d == nil {
		return ticketview.Errorf(ticketview.EINVALID, "no event details")
	}
	if err := d.Validate(); err != nil {
		return err
	}
	c := *d
	c.UpdatedAt = time.Time{} // in its own column
	data, err := json.Marshal(&c)
	if err != nil {
		return ticketview.Errorf(ticketview.EINTERNAL, "encode event details %q: %v", d.EventID, err)
	}
	id := d.EventID
	tags := append([]string(nil), d.Tags...)
	names := make([]string, len(d.Performers))
	for i, p := range d.Performers {
		names[i] = p.Name
	}
	var at time.Time
	err = db.do(ctx, "", func(b *batch) error {
		at = stamp()
		if _, err := b.exec("put event details "+id, qPutDetails, id, at.UnixMilli(), data); err != nil {
			return err
		}
		if _, err := b.exec("put event details "+id, qDelDetailTags, id); err != nil {
			return err
		}
		for _, t := range tags {
			if _, err := b.exec("put event details "+id, qInsDetailTag, t, id); err != nil {
				return err
			}
		}
		if _, err := b.exec("put event details "+id, qDelDetailPerformers, id); err != nil {
			return err
		}
		for _, n := range names {
			if _, err := b.exec("put event details "+id, qInsDetailPerformer, n, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.UpdatedAt = at
	return nil
}

// FindEventDetails returns the event's details, or ENOTFOUND.
func (db *DB) FindEventDetails(ctx context.Context, eventID string) (*ticketview.EventDetails, error) {
	s, err := db.readStmt(ctx, qDetails)
	if err != nil {
		return nil, unavailable("find event details", err)
	}
	var at int64
	var data []byte
	err = s.QueryRowContext(ctx, eventID).Scan(&at, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "details of event %q not found", eventID)
	} else if err != nil {
		return nil, unavailable("find event details", err)
	}
	return decodeDetails(eventID, at, data)
}

func decodeDetails(id string, at int64, data []byte) (*ticketview.EventDetails, error) {
	d := new(ticketview.EventDetails)
	if err := json.Unmarshal(data, d); err != nil {
		return nil, ticketview.Errorf(ticketview.EINTERNAL, "event details %q: corrupt record: %v", id, err)
	}
	d.UpdatedAt = time.UnixMilli(at).UTC()
	return d, nil
}

// SearchEventDetails returns the details with the tag f.Tag and a performer named
// f.Performer (both exact, case-sensitive; empty matches all), ordered by event id, at
// most f.Limit of them (50 when 0 or less).
func (db *DB) SearchEventDetails(ctx context.Context, f ticketview.DetailsFilter) ([]*ticketview.EventDetails, error) {
	var where []string
	var args []any
	if f.Tag != "" {
		where = append(where, "event_id IN (SELECT event_id FROM event_detail_tags WHERE tag = ?)")
		args = append(args, f.Tag)
	}
	if f.Performer != "" {
		where = append(where, "event_id IN (SELECT event_id FROM event_detail_performers WHERE name = ?)")
		args = append(args, f.Performer)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultDetailsLimit
	}
	s, err := db.readStmt(ctx, `SELECT event_id, updated_at, data FROM event_details`+cond+` ORDER BY event_id LIMIT ?`)
	if err != nil {
		return nil, unavailable("search event details", err)
	}
	rows, err := s.QueryContext(ctx, append(args, limit)...)
	if err != nil {
		return nil, unavailable("search event details", err)
	}
	defer rows.Close()
	out := []*ticketview.EventDetails{}
	for rows.Next() {
		var id string
		var at int64
		var data []byte
		if err := rows.Scan(&id, &at, &data); err != nil {
			return nil, unavailable("search event details", err)
		}
		d, err := decodeDetails(id, at, data)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("search event details", err)
	}
	return out, nil
}
