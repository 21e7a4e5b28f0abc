package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/storetest"
)

func openTest(t testing.TB) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "data", "tv.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSectionStore(t *testing.T) {
	storetest.TestSectionStore(t, func(t *testing.T) ticketview.SectionStore { return openTest(t) })
}

func TestCatalog(t *testing.T) {
	storetest.TestCatalog(t, func(t *testing.T) (ticketview.EventStore, ticketview.VenueStore) {
		db := openTest(t)
		return db, db
	})
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustActivate(t testing.TB, db *DB, id ticketview.SectionID) (uint64, *ticketview.SectionSnapshot, []ticketview.SectionEvent) {
	t.Helper()
	epoch, snap, evs, err := db.Activate(context.Background(), id)
	if err != nil {
		t.Fatalf("Activate(%s): %v", id, err)
	}
	return epoch, snap, evs
}

func wantUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want EUNAVAILABLE", what)
	}
	if ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE || storetest.IsFenced(err) {
		t.Fatalf("%s: %v (code %q), want a storage failure (EUNAVAILABLE, not fenced)", what, err, ticketview.ErrorCode(err))
	}
}

func TestOpenSettings(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	var mode string
	var syncMode, fk, busy int
	err := db.do(ctx, "", func(b *batch) error {
		return errors.Join(
			b.c.conn.QueryRowContext(bg, "PRAGMA journal_mode").Scan(&mode),
			b.c.conn.QueryRowContext(bg, "PRAGMA synchronous").Scan(&syncMode),
			b.c.conn.QueryRowContext(bg, "PRAGMA foreign_keys").Scan(&fk),
			b.c.conn.QueryRowContext(bg, "PRAGMA busy_timeout").Scan(&busy),
		)
	})
	if err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || syncMode != 2 || fk != 1 || busy != busyTimeoutMS {
		t.Fatalf("writer: journal_mode %s, synchronous %d, foreign_keys %d, busy_timeout %d; want wal, 2 (FULL), 1, %d",
			mode, syncMode, fk, busy, busyTimeoutMS)
	}
	// Readers cannot write.
	if _, err := db.reader.ExecContext(ctx, `INSERT INTO venues (id, data) VALUES ('x', '{}')`); err == nil {
		t.Fatal("a read connection could write")
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	files, err := fs.Glob(schemaFS, "schema/*.sql")
	if err != nil || len(files) < 2 {
		t.Fatalf("schema files: %v, %v", files, err)
	}
	want := len(files) // numbered 1, 2, ...
	path := filepath.Join(t.TempDir(), "tv.db")
	for i := range 3 {
		db, err := Open(path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		var n, v int
		if err := db.reader.QueryRow(`SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &v); err != nil {
			t.Fatal(err)
		}
		if n != want || v != want {
			t.Fatalf("open %d: %d migrations recorded, version %d; want %d, %d", i, n, v, want, want)
		}
		if i == 0 {
			if err := db.CreateVenue(context.Background(), storetest.SampleVenue("hall-1")); err != nil {
				t.Fatal(err)
			}
		} else if _, err := db.FindVenue(context.Background(), "hall-1"); err != nil {
			t.Fatalf("open %d: data lost: %v", i, err)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("close %d: %v", i, err)
		}
	}

	// A database from a newer build is refused.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO schema_migrations (version, name) VALUES (999, 'future.sql')`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if db, err := Open(path); err == nil {
		db.Close()
		t.Fatal("opened a database with a newer schema")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Fatalf("newer schema: %v", err)
	}
}

// TestJournalRows checks the compact layout: one row per Append, keyed by its first seq.
func TestJournalRows(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	id := storetest.NewSectionID()
	epoch, _, _ := mustActivate(t, db, id)
	evs := storetest.SampleEvents(1, 10, storetest.BaseTime)
	for _, r := range [][2]int{{0, 1}, {1, 4}, {4, 10}} {
		if err := db.Append(ctx, id, epoch, evs[r[0]:r[1]]); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := db.reader.QueryContext(ctx, `SELECT first_seq, last_seq, data FROM journal WHERE section_id = ? ORDER BY first_seq`, id.String())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var first, last int
		var data []byte
		if err := rows.Scan(&first, &last, &data); err != nil {
			t.Fatal(err)
		}
		dec, err := ticketview.UnmarshalEvents(data)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d-%d:%d", first, last, len(dec)))
	}
	if want := "1-1:1 2-4:3 5-10:6"; strings.Join(got, " ") != want {
		t.Fatalf("journal rows %v, want %s", got, want)
	}
	var last int
	if err := db.reader.QueryRowContext(ctx, `SELECT last_seq FROM sections WHERE id = ?`, id.String()).Scan(&last); err != nil || last != 10 {
		t.Fatalf("sections.last_seq %d, %v; want 10", last, err)
	}
}

func TestReopenRecoversAcknowledged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tv.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	const sections = 16
	ids := make([]ticketview.SectionID, sections)
	acked := make([][]ticketview.SectionEvent, sections)
	epochs := make([]uint64, sections)
	var wg sync.WaitGroup
	for i := range sections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i] = storetest.NewSectionID()
			epochs[i], _, _ = mustActivate(t, db, ids[i])
			seq := uint64(1)
			for r := range 30 {
				evs := storetest.SampleEvents(seq, 1+r%4, storetest.BaseTime)
				if err := db.Append(ctx, ids[i], epochs[i], evs); err != nil {
					t.Errorf("append: %v", err)
					return
				}
				acked[i] = append(acked[i], evs...)
				seq += uint64(len(evs))
			}
		}()
	}
	wg.Wait()
	snapAt := acked[0][40].Seq
	snap := storetest.SampleSnapshot(snapAt, 1000)
	if err := db.SaveSnapshot(ctx, ids[0], epochs[0], snap); err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		return
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i, id := range ids {
		epoch, gotSnap, evs := mustActivate(t, db, id)
		if epoch != epochs[i]+1 {
			t.Errorf("section %d: epoch %d after reopening, want %d", i, epoch, epochs[i]+1)
		}
		want := acked[i]
		if i == 0 {
			if gotSnap == nil || gotSnap.Seq != snapAt {
				t.Fatalf("snapshot after reopening: %+v", gotSnap)
			}
			want = want[41:]
		}
		if len(evs) != len(want) {
			t.Fatalf("section %d: %d events after reopening, want %d", i, len(evs), len(want))
		}
		for j := range evs {
			if evs[j].Seq != want[j].Seq || evs[j].Token != want[j].Token || !evs[j].At.Equal(want[j].At) {
				t.Fatalf("section %d event %d: %+v, want %+v", i, j, evs[j], want[j])
			}
		}
	}
}

// blockCommitter occupies the committer until the returned release is called, so that
// requests queue up and all go into the next group commit.
func blockCommitter(t *testing.T, db *DB) (release func()) {
	t.Helper()
	started, proceed := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.do(context.Background(), "", func(*batch) error {
			close(started)
			<-proceed
			return nil
		})
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("committer did not take the blocking request")
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(proceed)
			if err := <-done; err != nil {
				t.Errorf("blocking request: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

func waitQueued(t *testing.T, db *DB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for db.queue.Len() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", db.queue.Len(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFailedGroupCommitAcknowledgesNothing makes a real COMMIT fail: one request of the
// batch breaks a deferred foreign key, which SQLite checks only at COMMIT. Every request
// merged into that transaction must get an EUNAVAILABLE error, and none may be visible.
func TestFailedGroupCommitAcknowledgesNothing(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	if err := db.do(ctx, "", func(b *batch) error {
		_, err := b.c.conn.ExecContext(bg, `
			CREATE TABLE poison_parent (id INTEGER PRIMARY KEY);
			CREATE TABLE poison_child (pid INTEGER REFERENCES poison_parent (id) DEFERRABLE INITIALLY DEFERRED);`)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	const sections = 8
	ids := make([]ticketview.SectionID, sections)
	epochs := make([]uint64, sections)
	for i := range ids {
		ids[i] = storetest.NewSectionID()
		epochs[i], _, _ = mustActivate(t, db, ids[i])
		if err := db.Append(ctx, ids[i], epochs[i], storetest.SampleEvents(1, 1, storetest.BaseTime)); err != nil {
			t.Fatal(err)
		}
	}
	commitsBefore := db.Stats().Commits

	release := blockCommitter(t, db)
	var wg sync.WaitGroup
	errs := make([]error, sections+3)
	for i := range sections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Append(ctx, ids[i], epochs[i], storetest.SampleEvents(2, 3, storetest.BaseTime))
		}()
	}
	wg.Add(3)
	go func() {
		defer wg.Done()
		_, _, _, errs[sections] = db.Activate(ctx, ids[0])
	}()
	go func() {
		defer wg.Done()
		errs[sections+1] = db.CreateEvent(ctx, storetest.SampleEvent("gig-lost", "hall-1", storetest.BaseTime))
	}()
	go func() {
		defer wg.Done()
		errs[sections+2] = db.SaveSnapshot(ctx, ids[1], epochs[1], storetest.SampleSnapshot(1, 10))
	}()
	waitQueued(t, db, sections+3)
	poison, err := db.submit(ctx, "", func(b *batch) error {
		_, err := b.c.conn.ExecContext(bg, `INSERT INTO poison_child (pid) VALUES (42)`)
		return err // the statement succeeds: the violation shows at COMMIT
	})
	if err != nil {
		t.Fatal(err)
	}
	release()
	wg.Wait()
	errs = append(errs, db.await(ctx, poison))

	for i, err := range errs {
		wantUnavailable(t, fmt.Sprintf("request %d of the failed batch", i), err)
		if !strings.Contains(err.Error(), "FOREIGN KEY") {
			t.Errorf("request %d: %v does not carry the cause", i, err)
		}
	}
	if n := db.Stats().Commits - commitsBefore; n != 2 {
		t.Fatalf("%d transactions after blocking, want 2 (the blocker's, then one with all %d requests)", n, len(errs))
	}

	// Nothing of the batch is visible: not the appends, not the activation, not the
	// snapshot, not the event; the store works on.
	for i, id := range ids {
		epoch, snap, evs := mustActivate(t, db, id)
		if epoch != epochs[i]+1 {
			t.Errorf("section %d: epoch %d, want %d (the failed activation must not count)", i, epoch, epochs[i]+1)
		}
		if snap != nil || len(evs) != 1 || evs[0].Seq != 1 {
			t.Fatalf("section %d after a failed commit: snapshot %v, events %+v; want only seq 1", i, snap, evs)
		}
		if err := db.Append(ctx, id, epoch, storetest.SampleEvents(2, 1, storetest.BaseTime)); err != nil {
			t.Fatalf("append after the failed commit: %v", err)
		}
	}
	if _, err := db.FindEvent(ctx, "gig-lost"); !errors.Is(err, ticketview.ErrNotFound) {
		t.Fatalf("event of the failed batch: %v, want not found", err)
	}
	var n int
	if err := db.reader.QueryRow(`SELECT count(*) FROM poison_child`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("poison rows %d, %v", n, err)
	}
}

// TestStaleRequestInBatch: a fenced request fails alone; the rest of its batch commits.
func TestStaleRequestInBatch(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	a, b := storetest.NewSectionID(), storetest.NewSectionID()
	ea, _, _ := mustActivate(t, db, a)
	eb, _, _ := mustActivate(t, db, b)

	release := blockCommitter(t, db)
	// In queue order: a newer activation of a, then appends with the old epochs.
	var newer uint64
	errs := make([]error, 3)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		newer, _, _, errs[0] = db.Activate(ctx, a)
	}()
	waitQueued(t, db, 1)
	waitA := db.AppendAsync(ctx, a, ea, storetest.SampleEvents(1, 1, storetest.BaseTime))
	waitB := db.AppendAsync(ctx, b, eb, storetest.SampleEvents(1, 2, storetest.BaseTime))
	before := db.Stats().Commits
	release()
	errs[1], errs[2] = waitA(), waitB()
	wg.Wait()
	if db.Stats().Commits-before != 1 {
		t.Fatalf("the three requests took %d transactions, want 1", db.Stats().Commits-before)
	}
	if errs[0] != nil || newer != ea+1 {
		t.Fatalf("activation: epoch %d, %v", newer, errs[0])
	}
	if !storetest.IsFenced(errs[1]) {
		t.Fatalf("append with the epoch fenced in the same batch: %v", errs[1])
	}
	if errs[2] != nil {
		t.Fatalf("the other section's append: %v", errs[2])
	}
	_, _, evs := mustActivate(t, db, a)
	if len(evs) != 0 {
		t.Fatalf("fenced append visible: %+v", evs)
	}
	_, _, evs = mustActivate(t, db, b)
	if len(evs) != 2 {
		t.Fatalf("section b: %d events, want 2", len(evs))
	}
}

func TestCancelWhileQueued(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	id := storetest.NewSectionID()
	epoch, _, _ := mustActivate(t, db, id)

	release := blockCommitter(t, db)
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- db.Append(cctx, id, epoch, storetest.SampleEvents(1, 1, storetest.BaseTime)) }()
	waitQueued(t, db, 1)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled queued append: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled caller kept waiting behind a busy committer")
	}
	// Its request is skipped, not written: seq 1 is still free.
	release()
	if err := db.Append(ctx, id, epoch, storetest.SampleEvents(1, 1, storetest.BaseTime)); err != nil {
		t.Fatalf("append of seq 1 after the cancelled one: %v", err)
	}
	_, _, evs := mustActivate(t, db, id)
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
}

func TestAppendAsyncPipeline(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	id := storetest.NewSectionID()
	epoch, _, _ := mustActivate(t, db, id)
	all := storetest.SampleEvents(1, 300, storetest.BaseTime)
	var waits []func() error
	for i := range all {
		waits = append(waits, db.AppendAsync(ctx, id, epoch, all[i:i+1]))
	}
	for i, w := range waits {
		if err := w(); err != nil {
			t.Fatalf("pipelined append %d: %v", i+1, err)
		}
	}
	_, _, evs := mustActivate(t, db, id)
	if len(evs) != len(all) || evs[299].Seq != 300 {
		t.Fatalf("%d events after pipelining", len(evs))
	}

	// After a failure, the section's later appends fail too.
	epoch, _, _ = mustActivate(t, db, id)
	w1 := db.AppendAsync(ctx, id, epoch, storetest.SampleEvents(302, 1, storetest.BaseTime)) // gap
	w2 := db.AppendAsync(ctx, id, epoch, storetest.SampleEvents(303, 1, storetest.BaseTime))
	if err := w1(); ticketview.ErrorCode(err) != ticketview.EINTERNAL {
		t.Fatalf("gap: %v", err)
	}
	if err := w2(); ticketview.ErrorCode(err) != ticketview.EINTERNAL {
		t.Fatalf("after the gap: %v", err)
	}
}

func TestSnapshotRules(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	id := storetest.NewSectionID()
	epoch, _, _ := mustActivate(t, db, id)
	if err := db.Append(ctx, id, epoch, storetest.SampleEvents(1, 5, storetest.BaseTime)); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveSnapshot(ctx, id, epoch, storetest.SampleSnapshot(6, 10)); ticketview.ErrorCode(err) != ticketview.EINTERNAL {
		t.Fatalf("snapshot beyond the journal: %v", err)
	}
	if err := db.SaveSnapshot(ctx, id, epoch, storetest.SampleSnapshot(4, 10)); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveSnapshot(ctx, id, epoch, storetest.SampleSnapshot(3, 10)); ticketview.ErrorCode(err) != ticketview.EINTERNAL {
		t.Fatalf("snapshot older than the stored one: %v", err)
	}
	if err := db.SaveSnapshot(ctx, id, epoch, storetest.SampleSnapshot(4, 10)); err != nil {
		t.Fatalf("same snapshot again: %v", err)
	}
	if err := db.SaveSnapshot(ctx, id, epoch, nil); ticketview.ErrorCode(err) != ticketview.EINTERNAL {
		t.Fatalf("nil snapshot: %v", err)
	}
	_, snap, evs := mustActivate(t, db, id)
	if snap == nil || snap.Seq != 4 || len(evs) != 1 || evs[0].Seq != 5 {
		t.Fatalf("snapshot %v, events %+v", snap, evs)
	}
}

func TestUpdateEventEdges(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	if err := db.CreateEvent(ctx, storetest.SampleEvent("gig-1", "hall-1", storetest.BaseTime)); err != nil {
		t.Fatal(err)
	}
	_, err := db.UpdateEvent(ctx, "gig-1", func(e *ticketview.Event) error { e.ID = "gig-2"; return nil })
	if ticketview.ErrorCode(err) != ticketview.EINVALID {
		t.Fatalf("changing the id: %v", err)
	}
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("panic in fn: recovered %v, want it re-raised on the caller", p)
			}
		}()
		db.UpdateEvent(ctx, "gig-1", func(e *ticketview.Event) error { e.Name = "x"; panic("boom") })
	}()
	// The committer survived and nothing was saved.
	e, err := db.UpdateEvent(ctx, "gig-1", func(e *ticketview.Event) error { e.BuyerLimit = 2; return nil })
	if err != nil || e.BuyerLimit != 2 || e.Name != "Concert gig-1" {
		t.Fatalf("after a panicking fn: %+v, %v", e, err)
	}
}

func TestClose(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "tv.db"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	id := storetest.NewSectionID()
	epoch, _, _ := mustActivate(t, db, id)

	release := blockCommitter(t, db)
	queued := db.AppendAsync(ctx, id, epoch, storetest.SampleEvents(1, 1, storetest.BaseTime))
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	time.Sleep(20 * time.Millisecond) // let Close signal the committer
	release()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	// The request still queued when Close came is either answered with a failure or was
	// committed before the committer stopped; it is never left hanging.
	if err := queued(); err != nil {
		wantUnavailable(t, "append queued at Close", err)
	}
	wantUnavailable(t, "append after Close", db.Append(ctx, id, epoch, storetest.SampleEvents(1, 1, storetest.BaseTime)))
	if _, _, _, err := db.Activate(ctx, id); err == nil {
		t.Fatal("activate after Close succeeded")
	}
	if _, err := db.FindEvent(ctx, "x"); ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		t.Fatalf("find after Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// BenchmarkAppend runs the stores' common append benchmarks (storetest.BenchmarkAppend).
// With synchronous=FULL every append waits for an fsync, so events/s is at most the
// appends in flight divided by the commit latency; appends/commit shows the batching.
func BenchmarkAppend(b *testing.B) {
	storetest.BenchmarkAppend(b, func(b *testing.B) storetest.Appender { return openTest(b) },
		func(s storetest.Appender) (uint64, uint64) { st := s.(*DB).Stats(); return st.Commits, st.Requests })
}

// BenchmarkActivate recovers a 10,000-seat section: from 100,000 journal events alone,
// and from a snapshot with 1,000 events after it.
func BenchmarkActivate(b *testing.B) {
	const seats, events, perAppend = 10000, 100000, 100
	for _, withSnap := range []bool{false, true} {
		name := "journal-100k"
		if withSnap {
			name = "snapshot-10kseats+1k"
		}
		b.Run(name, func(b *testing.B) {
			db := openTest(b)
			ctx := context.Background()
			id := storetest.NewSectionID()
			epoch, _, _ := mustActivate(b, db, id)
			var waits []func() error
			for seq := uint64(1); seq <= events; seq += perAppend {
				waits = append(waits, db.AppendAsync(ctx, id, epoch, storetest.SampleEvents(seq, perAppend, storetest.BaseTime)))
			}
			for _, w := range waits {
				if err := w(); err != nil {
					b.Fatal(err)
				}
			}
			want := events
			if withSnap {
				if err := db.SaveSnapshot(ctx, id, epoch, storetest.SampleSnapshot(events-1000, seats)); err != nil {
					b.Fatal(err)
				}
				want = 1000
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_, snap, evs, err := db.Activate(ctx, id)
				if err != nil {
					b.Fatal(err)
				}
				if len(evs) != want || (snap != nil) != withSnap {
					b.Fatalf("%d events, snapshot %v", len(evs), snap != nil)
				}
			}
			b.ReportMetric(float64(want)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// TestConcurrentReads runs more concurrent reads than the read pool has connections,
// with every shape of event filter (each a statement prepared on first use), activations
// and finds: nothing may wait for a connection held by a reader that waits itself.
func TestConcurrentReads(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	if err := db.CreateEvent(ctx, storetest.SampleEvent("gig-1", "hall-1", storetest.BaseTime)); err != nil {
		t.Fatal(err)
	}
	const workers = 48
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 16 {
				shape := (w + i) % 16
				f := ticketview.EventFilter{}
				if shape&1 != 0 {
					f.Status = ticketview.EventDraft
				}
				if shape&2 != 0 {
					f.Text = "concert"
				}
				if shape&4 != 0 {
					f.From = storetest.BaseTime.Add(-time.Hour)
				}
				if shape&8 != 0 {
					f.To = storetest.BaseTime.Add(time.Hour)
				}
				list, total, err := db.ListEvents(ctx, f)
				if err != nil || total != 1 || len(list) != 1 {
					t.Errorf("ListEvents(%+v): %d of %d, %v", f, len(list), total, err)
					return
				}
				if _, _, _, err := db.Activate(ctx, storetest.NewSectionID()); err != nil {
					t.Errorf("Activate: %v", err)
					return
				}
				if _, err := db.FindEvent(ctx, "gig-1"); err != nil {
					t.Errorf("FindEvent: %v", err)
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(45 * time.Second):
		t.Fatal("concurrent reads did not finish: the read pool is stuck")
	}
}

// TestSurvivesSIGKILL: a SIGKILLed writer process loses no acknowledged append.
func TestSurvivesSIGKILL(t *testing.T) {
	storetest.TestSurvivesKill(t, 400, func(path string) (ticketview.SectionStore, error) { return Open(path) })
}
