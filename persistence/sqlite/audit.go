package sqlite

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/ticketview/ticketview"
)

const defaultAuditLimit = 100

const (
	qInsAudit = `INSERT INTO audit_log (section_id, seq, event, at, owner, data) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (section_id, seq) DO NOTHING`
	qInsAuditSeat = `INSERT INTO audit_seats (event, seat, section_id, seq) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`
)

// auditRow is an audit entry encoded for the audit_log table.
type auditRow struct {
	sectionID, event, owner string
	seq, at                 int64
	seats                   []string
	data                    []byte
}

// AppendAudit validates the entries (EINVALID, and then nothing is stored) and stores
// them in one transaction of the committer. It is idempotent: an entry whose (Section,
// Seq) is stored already, or that comes twice in entries, is skipped (the first stored
// wins). At is stored in whole milliseconds, in UTC.
func (db *DB) AppendAudit(ctx context.Context, entries []ticketview.AuditEntry) error {
	if err := ticketview.ValidateAudit(entries); err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	rows := make([]auditRow, len(entries))
	for i, e := range entries {
		e.At = e.At.UTC().Truncate(time.Millisecond)
		if len(e.Seats) == 0 {
			e.Seats = nil
		}
		data, err := json.Marshal(&e)
		if err != nil {
			return ticketview.Errorf(ticketview.EINTERNAL, "encode audit entry %s/%d: %v", e.Section, e.Seq, err)
		}
		rows[i] = auditRow{sectionID: e.Section.String(), event: e.Section.Event, owner: e.Owner,
			seq: int64(e.Seq), at: e.At.UnixMilli(), seats: e.Seats, data: data}
	}
	return db.do(ctx, "", func(b *batch) error {
		for i := range rows {
			r := &rows[i]
			res, err := b.exec("append audit", qInsAudit, r.sectionID, r.seq, r.event, r.at, r.owner, r.data)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return b.fail(err)
			} else if n == 0 {
				continue // stored before: its seats are too
			}
			for _, s := range r.seats {
				if _, err := b.exec("append audit", qInsAuditSeat, r.event, s, r.sectionID, r.seq); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// AuditTrail returns the entries of f.Event that pass the filter (Section, Seat label and
// Owner exact; From inclusive, To exclusive, compared in whole milliseconds), ordered by
// section then Seq, at most f.Limit of them (100 when 0 or less). An empty Event is
// EINVALID.
//
// The rows of one event are a range of the primary key ("event/" up to "event0", '0'
// following '/'), already in the order wanted; a trail by owner uses audit_by_owner, in
// the same order, and one by seat starts from audit_seats.
func (db *DB) AuditTrail(ctx context.Context, f ticketview.AuditFilter) ([]ticketview.AuditEntry, error) {
	if f.Event == "" {
		return nil, ticketview.Errorf(ticketview.EINVALID, "audit trail: an event is required")
	}
	from, order := "audit_log a", "a.section_id, a.seq"
	var where []string
	var args []any
	if f.Seat != "" {
		from = "audit_seats s JOIN audit_log a ON a.section_id = s.section_id AND a.seq = s.seq"
		order = "s.section_id, s.seq"
		where = append(where, "s.event = ? AND s.seat = ?")
		args = append(args, f.Event, f.Seat)
	}
	switch {
	case f.Section != "":
		where = append(where, "a.section_id = ?")
		args = append(args, ticketview.SectionID{Event: f.Event, Section: f.Section}.String())
	case f.Owner != "":
		where = append(where, "a.event = ?")
		args = append(args, f.Event)
	default:
		where = append(where, "a.section_id >= ? AND a.section_id < ?")
		args = append(args, f.Event+"/", f.Event+"0")
	}
	if f.Owner != "" {
		where = append(where, "a.owner = ?")
		args = append(args, f.Owner)
	}
	if !f.From.IsZero() {
		where = append(where, "a.at >= ?")
		args = append(args, f.From.UnixMilli())
	}
	if !f.To.IsZero() {
		where = append(where, "a.at < ?")
		args = append(args, f.To.UnixMilli())
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultAuditLimit
	}
	q := `SELECT a.data FROM ` + from + ` WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + order + ` LIMIT ?`
	s, err := db.readStmt(ctx, q)
	if err != nil {
		return nil, unavailable("audit trail", err)
	}
	rows, err := s.QueryContext(ctx, append(args, limit)...)
	if err != nil {
		return nil, unavailable("audit trail", err)
	}
	defer rows.Close()
	out := []ticketview.AuditEntry{}
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, unavailable("audit trail", err)
		}
		var e ticketview.AuditEntry
		if err := json.Unmarshal(data, &e); err != nil {
			return nil, ticketview.Errorf(ticketview.EINTERNAL, "audit entry of %s: corrupt record: %v", f.Event, err)
		}
		e.At = e.At.UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("audit trail", err)
	}
	return out, nil
}
