package journalfile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/storetest"
)

// Small segments in tests: segment switches and compaction get exercised.
var testOpts = Options{SegmentSize: 1 << 20}

func openDir(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	s, err := OpenOptions(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openTest(t testing.TB) *Store { return openDir(t, t.TempDir(), testOpts) }

func TestSectionStore(t *testing.T) {
	storetest.TestSectionStore(t, func(t *testing.T) ticketview.SectionStore { return openTest(t) })
}

func TestSectionStoreDefaultOptions(t *testing.T) {
	storetest.TestSectionStore(t, func(t *testing.T) ticketview.SectionStore {
		s, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustActivate(t testing.TB, s ticketview.SectionStore, id ticketview.SectionID) (uint64, *ticketview.SectionSnapshot, []ticketview.SectionEvent) {
	t.Helper()
	epoch, snap, evs, err := s.Activate(context.Background(), id)
	if err != nil {
		t.Fatalf("Activate(%s): %v", id, err)
	}
	return epoch, snap, evs
}

func mustAppend(t testing.TB, s ticketview.SectionStore, id ticketview.SectionID, epoch uint64, evs []ticketview.SectionEvent) {
	t.Helper()
	if err := s.Append(context.Background(), id, epoch, evs); err != nil {
		t.Fatalf("Append(%s, %d..): %v", id, evs[0].Seq, err)
	}
}

func sameEvents(t testing.TB, what string, got, want []ticketview.SectionEvent) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: got %d events, want %d (or contents differ)", what, len(got), len(want))
	}
}

// state is what a section should hold: its snapshot and the events after it.
type state struct {
	epoch uint64
	snap  *ticketview.SectionSnapshot
	evs   []ticketview.SectionEvent
}

// fill writes a mixed history to n sections: appends, snapshots inside and at the end of
// records, re-activations. It returns what each section holds.
func fill(t testing.TB, s ticketview.SectionStore, n, rounds int) map[ticketview.SectionID]*state {
	t.Helper()
	want := map[ticketview.SectionID]*state{}
	for i := range n {
		id := ticketview.SectionID{Event: fmt.Sprintf("ev-%d", i), Section: "A"}
		epoch, _, _ := mustActivate(t, s, id)
		st := &state{epoch: epoch}
		seq := uint64(1)
		for r := range rounds {
			batch := storetest.SampleEvents(seq, 1+(i+r)%4, storetest.BaseTime)
			mustAppend(t, s, id, st.epoch, batch)
			st.evs = append(st.evs, batch...)
			seq += uint64(len(batch))
			if r%7 == 3 {
				at := seq - 1 - uint64(r%2) // sometimes inside the last record
				snap := storetest.SampleSnapshot(at, 50)
				if err := s.SaveSnapshot(context.Background(), id, st.epoch, snap); err != nil {
					t.Fatal(err)
				}
				st.snap = snap
				var kept []ticketview.SectionEvent
				for _, e := range st.evs {
					if e.Seq > at {
						kept = append(kept, e)
					}
				}
				st.evs = kept
			}
			if r%11 == 5 {
				st.epoch, _, _ = mustActivate(t, s, id)
			}
		}
		want[id] = st
	}
	return want
}

func check(t testing.TB, s ticketview.SectionStore, want map[ticketview.SectionID]*state) {
	t.Helper()
	for id, st := range want {
		epoch, snap, evs := mustActivate(t, s, id)
		if epoch <= st.epoch {
			t.Fatalf("%s: epoch %d after %d", id, epoch, st.epoch)
		}
		st.epoch = epoch
		if !reflect.DeepEqual(snap, st.snap) {
			t.Fatalf("%s: snapshot differs: got seq %v", id, snap)
		}
		sameEvents(t, id.String(), evs, st.evs)
	}
}

func TestReopenSeesEverything(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir, testOpts)
	want := fill(t, s, 20, 40)
	check(t, s, want)
	s.Close()
	for range 2 {
		s = openDir(t, dir, testOpts)
		check(t, s, want)
		s.Close()
	}
}

func TestSecondOpenFails(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir, testOpts)
	if s2, err := OpenOptions(dir, testOpts); err == nil {
		s2.Close()
		t.Fatal("second Open of the same directory succeeded")
	} else if !strings.Contains(err.Error(), "already open") {
		t.Fatalf("second Open: %v", err)
	}
	s.Close()
	s3 := openDir(t, dir, testOpts) // after Close the directory is free again
	s3.Close()
}

// lastSegment returns the path of the live generation's last segment and where its
// records end, after Close.
func lastSegment(s *Store) (string, int64) {
	return filepath.Join(s.genDir(s.gen), segName(s.c.seg)), s.c.end
}

func TestTornTail(t *testing.T) {
	ctx := ctxT(t)
	id := ticketview.SectionID{Event: "torn", Section: "A"}
	for _, tc := range []struct {
		name string
		tail func(good, next []byte) []byte // what lies after the last complete record
	}{
		{"half-record", func(_, next []byte) []byte { return next[:len(next)/2] }},
		{"header-only", func(_, next []byte) []byte { return next[:headerSize] }},
		{"garbage", func(_, _ []byte) []byte { return []byte("\x13\x00\x00\x00garbage-garbage-garbage") }},
		{"bad-crc", func(_, next []byte) []byte {
			b := append([]byte(nil), next...)
			b[len(b)-1] ^= 0xff
			return b
		}},
		// A torn batch whose first record is missing but whose second reached the disk:
		// the second must not come back, neither now nor after later appends.
		{"hole-then-record", func(good, next []byte) []byte {
			hole := make([]byte, len(next))
			return append(hole, good...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openDir(t, dir, testOpts)
			epoch, _, _ := mustActivate(t, s, id)
			all := storetest.SampleEvents(1, 30, storetest.BaseTime)
			for i := 0; i < 20; i += 2 {
				mustAppend(t, s, id, epoch, all[i:i+2])
			}
			s.Close()
			path, end := lastSegment(s)
			next := encodeEventsRecord(id, epoch, all[20:22])
			good := encodeEventsRecord(id, epoch, all[22:23])
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(tc.tail(good, next), end); err != nil {
				t.Fatal(err)
			}
			f.Close()

			s = openDir(t, dir, testOpts)
			epoch, _, evs := mustActivate(t, s, id)
			sameEvents(t, "after a torn tail", evs, all[:20])
			// The log continues after the last complete record; a shorter record than
			// the torn one must not be followed by its remains.
			mustAppend(t, s, id, epoch, all[20:21])
			s.Close()
			s = openDir(t, dir, testOpts)
			epoch, _, evs = mustActivate(t, s, id)
			sameEvents(t, "after appending past a torn tail", evs, all[:21])
			mustAppend(t, s, id, epoch, all[21:25])
			_, _, evs = mustActivate(t, s, id)
			sameEvents(t, "after more appends", evs, all[:25])
			_ = ctx
		})
	}
}

func TestCorruptSealedSegmentFailsOpen(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir, Options{SegmentSize: 1 << 20, CompactMin: 1 << 40})
	fill(t, s, 4, 60)
	// Enough to switch segments: a few big snapshots.
	id := ticketview.SectionID{Event: "big", Section: "A"}
	epoch, _, _ := mustActivate(t, s, id)
	mustAppend(t, s, id, epoch, storetest.SampleEvents(1, 1, storetest.BaseTime))
	for range 8 {
		if err := s.SaveSnapshot(context.Background(), id, epoch, storetest.SampleSnapshot(1, 200000)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if s.c.seg < 2 {
		t.Fatalf("only %d segment(s) written", s.c.seg)
	}
	first := filepath.Join(s.genDir(s.gen), segName(1))
	f, err := os.OpenFile(first, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	f.ReadAt(b, 100)
	b[0] ^= 0x55
	f.WriteAt(b, 100)
	f.Close()
	if s2, err := OpenOptions(dir, testOpts); err == nil {
		s2.Close()
		t.Fatal("Open with a corrupt sealed segment succeeded")
	} else if !errors.Is(err, errCorrupt) {
		t.Fatalf("Open: %v, want a corruption error", err)
	}
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "gen-*", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCompactionKeepsLiveState(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 1 << 20, CompactMin: 1 << 40}
	s := openDir(t, dir, opts)
	want := fill(t, s, 30, 60)
	// Churn: a big snapshot overwritten again and again fills sealed segments with dead
	// records.
	big := ticketview.SectionID{Event: "big", Section: "A"}
	epoch, _, _ := mustActivate(t, s, big)
	mustAppend(t, s, big, epoch, storetest.SampleEvents(1, 3, storetest.BaseTime))
	for range 40 {
		if err := s.SaveSnapshot(context.Background(), big, epoch, storetest.SampleSnapshot(2, 100000)); err != nil {
			t.Fatal(err)
		}
	}
	want[big] = &state{epoch: epoch, snap: storetest.SampleSnapshot(2, 100000), evs: storetest.SampleEvents(3, 1, storetest.BaseTime)}
	before := segmentFiles(t, dir)
	oldGen := s.gen
	if err := s.Compact(); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	after := segmentFiles(t, dir)
	if _, err := os.Stat(s.genDir(oldGen)); !os.IsNotExist(err) {
		t.Fatalf("old generation still there: %v", err)
	}
	for _, f := range after {
		if strings.Contains(f, fmt.Sprintf("gen-%08d", oldGen)) {
			t.Fatalf("old segment %s survived", f)
		}
	}
	if len(after) >= len(before) {
		t.Fatalf("%d segments before compaction, %d after", len(before), len(after))
	}
	check(t, s, want)
	// The journal continues after compaction, and a reopen sees the same.
	for id, st := range want {
		next := uint64(1)
		if n := len(st.evs); n > 0 {
			next = st.evs[n-1].Seq + 1
		} else if st.snap != nil {
			next = st.snap.Seq + 1
		}
		evs := storetest.SampleEvents(next, 2, storetest.BaseTime)
		mustAppend(t, s, id, st.epoch, evs)
		st.evs = append(st.evs, evs...)
	}
	n, err := s.JournalRecords(context.Background(), big)
	if err != nil || n != 2 {
		t.Fatalf("JournalRecords(big) = %d, %v; want 2", n, err)
	}
	s.Close()
	s = openDir(t, dir, opts)
	check(t, s, want)
	s.Close()
}

func TestAutomaticCompaction(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 256 << 10, CompactMin: 512 << 10, CompactRatio: 2}
	s := openDir(t, dir, opts)
	id := ticketview.SectionID{Event: "auto", Section: "A"}
	epoch, _, _ := mustActivate(t, s, id)
	seq := uint64(1)
	var snap *ticketview.SectionSnapshot
	for i := range 4000 {
		mustAppend(t, s, id, epoch, storetest.SampleEvents(seq, 4, storetest.BaseTime))
		seq += 4
		if i%50 == 49 {
			snap = storetest.SampleSnapshot(seq-1, 1000)
			if err := s.SaveSnapshot(context.Background(), id, epoch, snap); err != nil {
				t.Fatal(err)
			}
		}
	}
	if s.Stats().Compactions == 0 {
		t.Fatal("no compaction ran")
	}
	total := int64(0)
	for _, f := range segmentFiles(t, dir) {
		st, _ := os.Stat(f)
		total += st.Size()
	}
	if total > 4<<20 {
		t.Fatalf("%d bytes of segments after compactions", total)
	}
	want := map[ticketview.SectionID]*state{id: {epoch: epoch, snap: snap,
		evs: storetest.SampleEvents(snap.Seq+1, int(seq-1-snap.Seq), storetest.BaseTime)}}
	check(t, s, want)
	s.Close()
	s = openDir(t, dir, opts)
	check(t, s, want)
}

// An unfinished checkpoint (a newer generation that MANIFEST does not name) is ignored
// and removed by Open.
func TestUnfinishedCheckpointIgnored(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir, testOpts)
	want := fill(t, s, 5, 20)
	s.Close()
	junk := s.genDir(s.gen + 1)
	if err := os.MkdirAll(junk, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(junk, segName(1)), []byte("half a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	s = openDir(t, dir, testOpts)
	check(t, s, want)
	if _, err := os.Stat(junk); !os.IsNotExist(err) {
		t.Fatalf("unfinished generation not removed: %v", err)
	}
}

// holdCommitter blocks the committer inside a batch until release is closed, so that
// requests queued meanwhile all join the next batch.
func holdCommitter(t *testing.T, s *Store) (release func()) {
	entered, wait := make(chan struct{}), make(chan struct{})
	r := &request{kind: reqLocate, fn: func() { close(entered); <-wait }}
	if err := s.submit(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	<-entered
	return func() { close(wait); <-r.Done() }
}

func TestFencedFailsAloneInBatch(t *testing.T) {
	s := openTest(t)
	ctx := ctxT(t)
	a := ticketview.SectionID{Event: "a", Section: "A"}
	b := ticketview.SectionID{Event: "b", Section: "A"}
	ea, _, _ := mustActivate(t, s, a)
	eb, _, _ := mustActivate(t, s, b)
	eb2, _, _ := mustActivate(t, s, b) // eb is stale now

	release := holdCommitter(t, s)
	before := s.Stats()
	w1 := s.AppendAsync(ctx, a, ea, storetest.SampleEvents(1, 2, storetest.BaseTime))
	w2 := s.AppendAsync(ctx, b, eb, storetest.SampleEvents(1, 1, storetest.BaseTime))  // fenced
	w3 := s.AppendAsync(ctx, a, ea, storetest.SampleEvents(3, 1, storetest.BaseTime))  // follows w1 in the batch
	w4 := s.AppendAsync(ctx, b, eb2, storetest.SampleEvents(2, 1, storetest.BaseTime)) // gap
	w5 := s.AppendAsync(ctx, b, eb2, storetest.SampleEvents(1, 2, storetest.BaseTime))
	for s.queue.Len() < 5 {
		runtime.Gosched()
	}
	release()
	if err := w1(); err != nil {
		t.Fatalf("good append: %v", err)
	}
	if err := w2(); !errors.Is(err, ticketview.ErrFenced) {
		t.Fatalf("stale append: %v, want ErrFenced", err)
	}
	if err := w3(); err != nil {
		t.Fatalf("second good append: %v", err)
	}
	if err := w4(); ticketview.ErrorCode(err) != ticketview.EINTERNAL || errors.Is(err, ticketview.ErrFenced) {
		t.Fatalf("append with a gap: %v, want EINTERNAL", err)
	}
	if err := w5(); err != nil {
		t.Fatalf("good append of b: %v", err)
	}
	st := s.Stats()
	if st.Commits-before.Commits != 1 || st.Syncs-before.Syncs != 1 {
		t.Fatalf("%d commits, %d syncs for one batch", st.Commits-before.Commits, st.Syncs-before.Syncs)
	}
	_, _, evs := mustActivate(t, s, a)
	sameEvents(t, "a", evs, storetest.SampleEvents(1, 3, storetest.BaseTime))
	_, _, evs = mustActivate(t, s, b)
	sameEvents(t, "b", evs, storetest.SampleEvents(1, 2, storetest.BaseTime))
}

// After a failed write, the batch fails with EUNAVAILABLE, nothing of it is kept, and
// the store refuses everything after it.
func TestWriteFailureBreaksStore(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir, testOpts)
	ctx := ctxT(t)
	id := ticketview.SectionID{Event: "x", Section: "A"}
	epoch, _, _ := mustActivate(t, s, id)
	mustAppend(t, s, id, epoch, storetest.SampleEvents(1, 2, storetest.BaseTime))

	release := holdCommitter(t, s)
	s.files[s.c.seg].Close() // the committer is parked: the next write fails
	w := s.AppendAsync(ctx, id, epoch, storetest.SampleEvents(3, 1, storetest.BaseTime))
	release()
	if err := w(); ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		t.Fatalf("append with a failing write: %v, want EUNAVAILABLE", err)
	}
	if err := s.Append(ctx, id, epoch, storetest.SampleEvents(3, 1, storetest.BaseTime)); ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		t.Fatalf("append after the failure: %v, want EUNAVAILABLE", err)
	}
	if _, _, _, err := s.Activate(ctx, id); ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		t.Fatalf("activate after the failure: %v, want EUNAVAILABLE", err)
	}
	s.Close()
	s = openDir(t, dir, testOpts)
	_, _, evs := mustActivate(t, s, id)
	sameEvents(t, "after reopening", evs, storetest.SampleEvents(1, 2, storetest.BaseTime))
}

// BenchmarkAppend runs the stores' common append benchmarks (storetest.BenchmarkAppend).
func BenchmarkAppend(b *testing.B) {
	storetest.BenchmarkAppend(b, func(b *testing.B) storetest.Appender { return openDir(b, b.TempDir(), Options{}) },
		func(s storetest.Appender) (uint64, uint64) { st := s.(*Store).Stats(); return st.Commits, st.Requests })
}

// BenchmarkActivate recovers a section from 100,000 journal events in 1,000 records.
func BenchmarkActivate(b *testing.B) {
	s := openDir(b, b.TempDir(), Options{})
	ctx := context.Background()
	id := storetest.NewSectionID()
	epoch, _, _ := mustActivate(b, s, id)
	var waits []func() error
	for seq := uint64(1); seq <= 100000; seq += 100 {
		waits = append(waits, s.AppendAsync(ctx, id, epoch, storetest.SampleEvents(seq, 100, storetest.BaseTime)))
	}
	for _, w := range waits {
		if err := w(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_, _, evs, err := s.Activate(ctx, id)
		if err != nil || len(evs) != 100000 {
			b.Fatalf("%d events, %v", len(evs), err)
		}
	}
	b.ReportMetric(100000*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestSurvivesSIGKILL: a SIGKILLed writer process loses no acknowledged append, while
// the log switches segments (1 MiB) during the run.
func TestSurvivesSIGKILL(t *testing.T) {
	storetest.TestSurvivesKill(t, 20000, func(path string) (ticketview.SectionStore, error) {
		return OpenOptions(path, Options{SegmentSize: 1 << 20})
	})
}
