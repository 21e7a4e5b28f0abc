package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ticketview/ticketview"
)

func fenced(id string, epoch, current uint64) error {
	return fmt.Errorf("sqlite: section %s: epoch %d, current %d: %w", id, epoch, current, ticketview.ErrFenced)
}

// Activate takes the section's next epoch (fencing off older activations) and returns it
// with the latest snapshot (nil if none) and the journal events after it, in order.
// The epoch is taken by the committer; the journal is read on a read connection.
func (db *DB) Activate(ctx context.Context, id ticketview.SectionID) (uint64, *ticketview.SectionSnapshot, []ticketview.SectionEvent, error) {
	key := id.String()
	var epoch uint64
	err := db.do(ctx, key, func(b *batch) error {
		s, err := b.section(key)
		if err != nil {
			return err
		}
		s.epoch++
		b.touch(s)
		epoch = s.epoch
		return nil
	})
	if err != nil {
		return 0, nil, nil, err
	}
	snap, evs, err := db.load(ctx, key)
	if err != nil {
		return 0, nil, nil, err
	}
	return epoch, snap, evs, nil
}

// load reads a section's snapshot and the journal after it in one read transaction, and
// checks that they end where the section's last_seq says.
func (db *DB) load(ctx context.Context, key string) (snap *ticketview.SectionSnapshot, evs []ticketview.SectionEvent, err error) {
	tx, err := db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, unavailable("activate "+key, err)
	}
	defer tx.Rollback()

	var last int64
	if err := db.stmt(ctx, tx, qSectionLastSeq).QueryRowContext(ctx, key).Scan(&last); err != nil {
		return nil, nil, unavailable("activate "+key, err)
	}
	var snapSeq int64
	var snapData []byte
	switch err := db.stmt(ctx, tx, qSnapshot).QueryRowContext(ctx, key).Scan(&snapSeq, &snapData); {
	case err == nil:
		snap = new(ticketview.SectionSnapshot)
		if err := json.Unmarshal(snapData, snap); err != nil {
			return nil, nil, ticketview.Errorf(ticketview.EINTERNAL, "section %s: corrupt snapshot: %v", key, err)
		}
		if snap.Seq != uint64(snapSeq) {
			return nil, nil, ticketview.Errorf(ticketview.EINTERNAL, "section %s: snapshot seq %d stored as %d", key, snap.Seq, snapSeq)
		}
	case errors.Is(err, sql.ErrNoRows):
	default:
		return nil, nil, unavailable("activate "+key, err)
	}
	if last < snapSeq {
		return nil, nil, ticketview.Errorf(ticketview.EINTERNAL, "section %s: snapshot at %d beyond the journal's end %d", key, snapSeq, last)
	}

	rows, err := db.stmt(ctx, tx, qJournal).QueryContext(ctx, key, snapSeq)
	if err != nil {
		return nil, nil, unavailable("activate "+key, err)
	}
	defer rows.Close()
	next := uint64(snapSeq) + 1
	if n := uint64(last) - uint64(snapSeq); n > 0 {
		evs = make([]ticketview.SectionEvent, 0, n)
	}
	for rows.Next() {
		var first, lastRow int64
		var data sql.RawBytes
		if err := rows.Scan(&first, &lastRow, &data); err != nil {
			return nil, nil, unavailable("activate "+key, err)
		}
		rec, err := ticketview.UnmarshalEvents(data)
		if err != nil {
			return nil, nil, fmt.Errorf("section %s: journal row at %d: %w", key, first, err)
		}
		if len(rec) == 0 || rec[0].Seq != uint64(first) || rec[len(rec)-1].Seq != uint64(lastRow) {
			return nil, nil, ticketview.Errorf(ticketview.EINTERNAL, "section %s: journal row at %d does not match its events", key, first)
		}
		for _, e := range rec {
			if e.Seq < next { // covered by the snapshot
				continue
			}
			if e.Seq != next {
				return nil, nil, ticketview.Errorf(ticketview.EINTERNAL, "section %s: journal gap: event %d where %d was due", key, e.Seq, next)
			}
			evs = append(evs, e)
			next++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, unavailable("activate "+key, err)
	}
	if next-1 != uint64(last) {
		return nil, nil, ticketview.Errorf(ticketview.EINTERNAL, "section %s: journal ends at %d, section at %d", key, next-1, last)
	}
	return snap, evs, nil
}

// Append durably adds events (consecutive Seq, following the journal's last) to the
// section's journal. It fails with ErrFenced, writing nothing, when epoch is not the
// section's current one; with EINTERNAL when the Seqs do not follow on or a confirmation
// has no booking id; with ECONFLICT, writing nothing, when a confirmation reuses a booking
// id of its section; with EUNAVAILABLE when the group commit it joined failed (then
// nothing of it was written). The booking index (bookings.go) is written in the same
// transaction.
func (db *DB) Append(ctx context.Context, id ticketview.SectionID, epoch uint64, events []ticketview.SectionEvent) error {
	return db.AppendAsync(ctx, id, epoch, events)()
}

// AppendAsync queues an Append and returns a function that waits for its outcome (what
// Append would return). Appends are applied in the order they were queued, so a section's
// owner may pipeline them: queue seq 5, queue seq 6, then wait for both; each then waits
// for the same or the next group commit instead of one fsync after another. If one
// fails, the following ones of the section fail too (their Seq no longer follows on).
// ctx governs both queueing and waiting.
func (db *DB) AppendAsync(ctx context.Context, id ticketview.SectionID, epoch uint64, events []ticketview.SectionEvent) (wait func() error) {
	key := id.String()
	var first, last uint64
	if len(events) > 0 {
		first, last = events[0].Seq, events[len(events)-1].Seq
		for i := range events {
			if events[i].Seq != first+uint64(i) || events[i].Seq == 0 {
				err := ticketview.Errorf(ticketview.EINTERNAL, "section %s: append of non-consecutive seqs %d..%d", key, first, last)
				return func() error { return err }
			}
		}
	}
	var data []byte
	if len(events) > 0 {
		data = ticketview.MarshalEvents(make([]byte, 0, 64*len(events)), events)
	}
	proj, err := newProjection(id, events) // the booking index's changes (bookings.go)
	if err != nil {
		return func() error { return err }
	}
	r, err := db.submitRequest(ctx, &request{section: key, proj: proj, op: func(b *batch) error {
		s, err := b.section(key)
		if err != nil {
			return err
		}
		if !s.exists || s.epoch != epoch {
			return fenced(key, epoch, s.epoch)
		}
		if len(data) == 0 {
			return nil
		}
		if first != s.lastSeq+1 {
			return ticketview.Errorf(ticketview.EINTERNAL, "section %s: append at seq %d, the journal ends at %d", key, first, s.lastSeq)
		}
		if err := b.project(proj); err != nil { // checks, then records: last of the checks
			return err
		}
		s.lastSeq = last
		b.touch(s)
		return b.addJournal(journalRow{section: key, first: first, last: last, data: data})
	}})
	if err != nil {
		return func() error { return err }
	}
	return func() error { return db.await(ctx, r) }
}

// SaveSnapshot stores the section's snapshot (replacing the one before) and deletes the
// journal rows it covers, in one transaction. It is fenced like Append. A snapshot beyond
// the journal's end, or older than the stored one, is refused with EINTERNAL.
func (db *DB) SaveSnapshot(ctx context.Context, id ticketview.SectionID, epoch uint64, snap *ticketview.SectionSnapshot) error {
	key := id.String()
	if snap == nil {
		return ticketview.Errorf(ticketview.EINTERNAL, "section %s: nil snapshot", key)
	}
	data, err := json.Marshal(snap)
	if err != nil {
		return ticketview.Errorf(ticketview.EINTERNAL, "section %s: encode snapshot: %v", key, err)
	}
	seq := snap.Seq
	return db.do(ctx, key, func(b *batch) error {
		s, err := b.section(key)
		if err != nil {
			return err
		}
		if !s.exists || s.epoch != epoch {
			return fenced(key, epoch, s.epoch)
		}
		if seq > s.lastSeq {
			return ticketview.Errorf(ticketview.EINTERNAL, "section %s: snapshot at %d beyond the journal's end %d", key, seq, s.lastSeq)
		}
		if err := b.flushJournal(); err != nil { // the DELETE must see this batch's rows
			return err
		}
		var prev int64
		switch err := b.c.selSnapSeq.QueryRowContext(bg, key).Scan(&prev); {
		case err == nil:
			if uint64(prev) > seq {
				return ticketview.Errorf(ticketview.EINTERNAL, "section %s: snapshot at %d older than the stored one at %d", key, seq, prev)
			}
		case errors.Is(err, sql.ErrNoRows):
		default:
			return b.fail(fmt.Errorf("snapshot of %s: %w", key, err))
		}
		if _, err := b.c.putSnapshot.ExecContext(bg, key, int64(seq), data); err != nil {
			return b.fail(fmt.Errorf("snapshot of %s: %w", key, err))
		}
		if _, err := b.c.delJournal.ExecContext(bg, key, int64(seq)); err != nil {
			return b.fail(fmt.Errorf("compact %s: %w", key, err))
		}
		return nil
	})
}

// JournalRecords counts the journal rows the section keeps (one per Append since its
// last snapshot). It implements storetest.JournalCounter.
func (db *DB) JournalRecords(ctx context.Context, id ticketview.SectionID) (int, error) {
	var n int
	if err := db.stmt(ctx, nil, qJournalCount).QueryRowContext(ctx, id.String()).Scan(&n); err != nil {
		return 0, unavailable("count journal", err)
	}
	return n, nil
}
