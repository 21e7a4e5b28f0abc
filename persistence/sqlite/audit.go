package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ticketview/ticketview"
)

const defaultAuditLimit = 100

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
	return db.do(ctx, "", func(b *batch) error { return b.addAudit(rows) })
}

// auditKey is an audit row's primary key.
type auditKey struct {
	sectionID string
	seq       int64
}

// addAudit writes the audit rows with multi-row INSERTs that skip the keys stored already
// and report those they stored, then the seats of the rows stored now. A key that comes
// twice is stored by its first row (rows go in in order, chunks too): the stored key is
// claimed by the first row that has it, whose seats are added.
func (b *batch) addAudit(rows []auditRow) error {
	stored := make(map[auditKey]bool, len(rows))
	err := b.eachChunk(insAudit, len(rows), func(args []any, i int) []any {
		r := &rows[i]
		return append(args, r.sectionID, r.seq, r.event, r.at, r.owner, r.data)
	}, func(s *sql.Stmt, args []any) error {
		res, err := s.QueryContext(bg, args...)
		if err != nil {
			return fmt.Errorf("append audit: %w", err)
		}
		defer res.Close()
		for res.Next() {
			var k auditKey
			if err := res.Scan(&k.sectionID, &k.seq); err != nil {
				return fmt.Errorf("append audit: %w", err)
			}
			stored[k] = true
		}
		if err := res.Err(); err != nil {
			return fmt.Errorf("append audit: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	type seatRow struct {
		r    *auditRow
		seat string
	}
	var seats []seatRow
	for i := range rows {
		r := &rows[i]
		k := auditKey{r.sectionID, r.seq}
		if !stored[k] {
			continue // stored before (its seats are too), or by an earlier row of this call
		}
		delete(stored, k)
		for _, seat := range r.seats {
			seats = append(seats, seatRow{r, seat})
		}
	}
	return b.execRows("append audit seats", insAuditSeats, len(seats), func(args []any, i int) []any {
		s := &seats[i]
		return append(args, s.r.event, s.seat, s.r.sectionID, s.r.seq)
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
