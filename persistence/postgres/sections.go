package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/ticketview/ticketview"
)

const (
	qActivate = `INSERT INTO journal_sections AS j (event_id, section_id, epoch, last_seq) VALUES ($1, $2, 1, 0)
		ON CONFLICT (event_id, section_id) DO UPDATE SET epoch = j.epoch + 1
		RETURNING j.epoch, j.last_seq`
	qEpoch    = `SELECT epoch FROM journal_sections WHERE event_id = $1 AND section_id = $2`
	qSnapshot = `SELECT seq, data FROM snapshots WHERE event_id = $1 AND section_id = $2`
	qJournal  = `SELECT first_seq, last_seq, data FROM journal
		WHERE event_id = $1 AND section_id = $2
			AND last_seq > coalesce((SELECT seq FROM snapshots WHERE event_id = $1 AND section_id = $2), 0)
		ORDER BY first_seq`
	qLockSection = `SELECT epoch, last_seq FROM journal_sections WHERE event_id = $1 AND section_id = $2 FOR UPDATE`
	qPutSnapshot = `INSERT INTO snapshots (event_id, section_id, seq, taken_at, data) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (event_id, section_id) DO UPDATE SET seq = excluded.seq, taken_at = excluded.taken_at, data = excluded.data`
	qCompact      = `DELETE FROM journal WHERE event_id = $1 AND section_id = $2 AND last_seq <= $3`
	qJournalCount = `SELECT count(*) FROM journal WHERE event_id = $1 AND section_id = $2`
)

// Activate takes the section's next epoch (fencing off older activations) and returns it
// with the latest snapshot (nil if none) and the journal events after it, in order. It
// is one transaction and one round trip: the upsert of the epoch locks the section's row,
// so the journal read after it is complete: no older activation can add to it any more.
func (db *DB) Activate(ctx context.Context, id ticketview.SectionID) (uint64, *ticketview.SectionSnapshot, []ticketview.SectionEvent, error) {
	if err := db.open(); err != nil {
		return 0, nil, nil, err
	}
	var epoch uint64
	var snap *ticketview.SectionSnapshot
	var evs []ticketview.SectionEvent
	// On a broken connection it runs again: taking another epoch is harmless.
	err := retryOnConn(ctx, db.pool, func(conn *pgx.Conn) (err error) {
		epoch, snap, evs, err = activate(ctx, conn, id)
		return err
	})
	if err != nil {
		return 0, nil, nil, storeErr("activate "+id.String(), err)
	}
	return epoch, snap, evs, nil
}

var _ ticketview.EpochReader = (*DB)(nil)

// Epoch implements ticketview.EpochReader: one indexed read.
func (db *DB) Epoch(ctx context.Context, id ticketview.SectionID) (uint64, error) {
	if err := db.open(); err != nil {
		return 0, err
	}
	var epoch int64
	err := db.read(ctx, func(conn *pgx.Conn) error {
		err := conn.QueryRow(ctx, qEpoch, id.Event, id.Section).Scan(&epoch)
		if errors.Is(err, pgx.ErrNoRows) {
			epoch, err = 0, nil
		}
		return err
	})
	if err != nil {
		return 0, storeErr("read the epoch of "+id.String(), err)
	}
	return uint64(epoch), nil
}

func activate(ctx context.Context, conn *pgx.Conn, id ticketview.SectionID) (epoch uint64, snap *ticketview.SectionSnapshot, evs []ticketview.SectionEvent, err error) {
	b := &pgx.Batch{}
	b.Queue("begin")
	b.Queue(qActivate, id.Event, id.Section)
	b.Queue(qSnapshot, id.Event, id.Section)
	b.Queue(qJournal, id.Event, id.Section)
	b.Queue("commit")
	br := conn.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if _, err := br.Exec(); err != nil {
		return 0, nil, nil, err
	}
	var e, last int64
	if err := br.QueryRow().Scan(&e, &last); err != nil {
		return 0, nil, nil, err
	}
	var snapSeq int64
	var snapData []byte
	switch err := br.QueryRow().Scan(&snapSeq, &snapData); {
	case err == nil:
		snap = new(ticketview.SectionSnapshot)
		if err := json.Unmarshal(snapData, snap); err != nil {
			return 0, nil, nil, ticketview.Errorf(ticketview.EINTERNAL, "section %s: corrupt snapshot: %v", id, err)
		}
		if snap.Seq != uint64(snapSeq) {
			return 0, nil, nil, ticketview.Errorf(ticketview.EINTERNAL, "section %s: snapshot seq %d stored as %d", id, snap.Seq, snapSeq)
		}
	case errors.Is(err, pgx.ErrNoRows):
	default:
		return 0, nil, nil, err
	}
	if last < snapSeq {
		return 0, nil, nil, ticketview.Errorf(ticketview.EINTERNAL, "section %s: snapshot at %d beyond the journal's end %d", id, snapSeq, last)
	}
	evs, err = readJournal(br, id, uint64(snapSeq), uint64(last))
	if err != nil {
		return 0, nil, nil, err
	}
	if _, err := br.Exec(); err != nil { // commit
		return 0, nil, nil, err
	}
	return uint64(e), snap, evs, nil
}

// readJournal decodes the journal rows after the snapshot at snapSeq and checks that they
// follow on without a gap up to last.
func readJournal(br pgx.BatchResults, id ticketview.SectionID, snapSeq, last uint64) ([]ticketview.SectionEvent, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var evs []ticketview.SectionEvent
	if last > snapSeq {
		evs = make([]ticketview.SectionEvent, 0, last-snapSeq)
	}
	next := snapSeq + 1
	var data []byte
	for rows.Next() {
		var first, lastRow int64
		if err := rows.Scan(&first, &lastRow, &data); err != nil {
			return nil, err
		}
		rec, err := ticketview.UnmarshalEvents(data)
		if err != nil {
			return nil, ticketview.Errorf(ticketview.EINTERNAL, "section %s: journal row at %d: %v", id, first, err)
		}
		if len(rec) == 0 || rec[0].Seq != uint64(first) || rec[len(rec)-1].Seq != uint64(lastRow) {
			return nil, ticketview.Errorf(ticketview.EINTERNAL, "section %s: journal row at %d does not match its events", id, first)
		}
		for _, e := range rec {
			if e.Seq < next { // covered by the snapshot
				continue
			}
			if e.Seq != next {
				return nil, ticketview.Errorf(ticketview.EINTERNAL, "section %s: journal gap: event %d where %d was due", id, e.Seq, next)
			}
			evs = append(evs, e)
			next++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if next-1 != last {
		return nil, ticketview.Errorf(ticketview.EINTERNAL, "section %s: journal ends at %d, section at %d", id, next-1, last)
	}
	return evs, nil
}

// Append durably adds events (consecutive Seq, following the journal's last) to the
// section's journal, and projects them (see the package comment). It fails with ErrFenced,
// writing nothing, when epoch is not the section's current one; with EINTERNAL when the
// Seqs do not follow on; with ECONFLICT when the projection refuses it (a seat sold
// twice, a booking id used twice); with EUNAVAILABLE when the group commit it joined
// failed (then it was not acknowledged, and may or may not have been written).
func (db *DB) Append(ctx context.Context, id ticketview.SectionID, epoch uint64, events []ticketview.SectionEvent) error {
	return db.AppendAsync(ctx, id, epoch, events)()
}

// AppendAsync queues an Append and returns a function that waits for its outcome (what
// Append would return). Appends are applied in the order they were queued, so a section's
// owner may pipeline them: queue seq 5, queue seq 6, then wait for both; each then waits
// for the same or the next group commit. If one fails, the following ones of the section
// fail too (their Seq no longer follows on). ctx governs both queueing and waiting. The
// events are copied: the caller may reuse them at once.
func (db *DB) AppendAsync(ctx context.Context, id ticketview.SectionID, epoch uint64, events []ticketview.SectionEvent) (wait func() error) {
	r := &request{sec: secKey{id.Event, id.Section}, id: id, epoch: epoch}
	if len(events) > 0 {
		r.first, r.last = events[0].Seq, events[len(events)-1].Seq
		for i := range events {
			if events[i].Seq != r.first+uint64(i) || events[i].Seq == 0 {
				err := ticketview.Errorf(ticketview.EINTERNAL, "section %s: append of non-consecutive seqs %d..%d", id, r.first, r.last)
				return func() error { return err }
			}
		}
		r.data = ticketview.MarshalEvents(make([]byte, 0, 64*len(events)), events)
		r.events = slices.Clone(events)
		for i := range r.events {
			e := &r.events[i]
			e.Seats, e.Prices = slices.Clone(e.Seats), slices.Clone(e.Prices)
		}
	}
	q := db.committer(r.sec).queue
	if err := q.Submit(ctx, r); err != nil {
		return func() error { return err }
	}
	return func() error { return q.Await(ctx, r) }
}

// SaveSnapshot stores the section's snapshot (replacing the one before) and deletes the
// journal rows it covers entirely, in one transaction. It is fenced like Append. A
// snapshot beyond the journal's end, or older than the stored one, is refused with
// EINTERNAL.
func (db *DB) SaveSnapshot(ctx context.Context, id ticketview.SectionID, epoch uint64, snap *ticketview.SectionSnapshot) error {
	if snap == nil {
		return ticketview.Errorf(ticketview.EINTERNAL, "section %s: nil snapshot", id)
	}
	data, err := json.Marshal(snap)
	if err != nil {
		return ticketview.Errorf(ticketview.EINTERNAL, "section %s: encode snapshot: %v", id, err)
	}
	if err := db.open(); err != nil {
		return err
	}
	// On a broken connection it runs again: storing the same snapshot again is harmless.
	err = retryOnConn(ctx, db.pool, func(conn *pgx.Conn) error {
		return saveSnapshot(ctx, conn, id, epoch, snap, data)
	})
	return storeErr("snapshot "+id.String(), err)
}

func saveSnapshot(ctx context.Context, conn *pgx.Conn, id ticketview.SectionID, epoch uint64, snap *ticketview.SectionSnapshot, data []byte) (err error) {
	b := &pgx.Batch{}
	b.Queue("begin")
	b.Queue(qLockSection, id.Event, id.Section)
	b.Queue(qSnapshot, id.Event, id.Section)
	var cur, last, prev int64
	found, hasPrev := true, true
	err = func() error {
		br := conn.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		if err := br.QueryRow().Scan(&cur, &last); errors.Is(err, pgx.ErrNoRows) {
			found = false
		} else if err != nil {
			return err
		}
		if err := br.QueryRow().Scan(&prev, nil); errors.Is(err, pgx.ErrNoRows) {
			hasPrev = false
		} else if err != nil {
			return err
		}
		return br.Close()
	}()
	if err != nil {
		return err
	}
	switch seq := snap.Seq; {
	case !found || uint64(cur) != epoch:
		return fenced(id, epoch, uint64(cur))
	case seq > uint64(last):
		return ticketview.Errorf(ticketview.EINTERNAL, "section %s: snapshot at %d beyond the journal's end %d", id, seq, last)
	case hasPrev && uint64(prev) > seq:
		return ticketview.Errorf(ticketview.EINTERNAL, "section %s: snapshot at %d older than the stored one at %d", id, seq, prev)
	}
	b = &pgx.Batch{}
	b.Queue(qPutSnapshot, id.Event, id.Section, int64(snap.Seq), tsOrNil(snap.TakenAt), data)
	b.Queue(qCompact, id.Event, id.Section, int64(snap.Seq))
	b.Queue("commit")
	return conn.SendBatch(ctx, b).Close()
}

// JournalRecords counts the journal rows the section keeps (one per Append since its
// last snapshot). It implements storetest.JournalCounter.
func (db *DB) JournalRecords(ctx context.Context, id ticketview.SectionID) (int, error) {
	if err := db.open(); err != nil {
		return 0, err
	}
	var n int
	if err := db.pool.QueryRow(ctx, qJournalCount, id.Event, id.Section).Scan(&n); err != nil {
		return 0, storeErr("count journal", err)
	}
	return n, nil
}
