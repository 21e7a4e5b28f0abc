package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
)

// TestSectionStore checks a ticketview.SectionStore against the contract. open is called
// once per subtest and must return a working store (sections it has never seen must be
// fresh; a shared database is fine, the suite uses new section ids). The contract:
//
//   - The first Activate of a section returns epoch 1, no snapshot and no events; every
//     Activate returns a higher epoch than the ones before.
//   - Append is durable and Activate returns exactly what was appended (times in UTC).
//   - An Append or SaveSnapshot with an epoch that is not the newest fails with an error
//     for which both errors.Is(err, ticketview.ErrFenced) and IsFenced(err) hold, and
//     writes nothing.
//   - An Append whose first Seq does not follow the journal's last, or whose Seqs are not
//     consecutive, fails with EINTERNAL and writes nothing.
//   - After SaveSnapshot, Activate returns the snapshot and only the events after it; if
//     the store implements JournalCounter, the records the snapshot covers are gone.
//   - A call with a cancelled context fails and writes nothing.
func TestSectionStore(t *testing.T, open func(t *testing.T) ticketview.SectionStore) {
	t.Run("FreshSection", func(t *testing.T) { testFreshSection(t, open(t)) })
	t.Run("AppendThenActivate", func(t *testing.T) { testAppendThenActivate(t, open(t)) })
	t.Run("EmptyAppend", func(t *testing.T) { testEmptyAppend(t, open(t)) })
	t.Run("StaleEpochFenced", func(t *testing.T) { testStaleEpoch(t, open(t)) })
	t.Run("NeverActivatedFenced", func(t *testing.T) { testNeverActivated(t, open(t)) })
	t.Run("SnapshotAndCompaction", func(t *testing.T) { testSnapshot(t, open(t)) })
	t.Run("SnapshotInsideARecord", func(t *testing.T) { testSnapshotInsideRecord(t, open(t)) })
	t.Run("SeqGapRefused", func(t *testing.T) { testSeqGap(t, open(t)) })
	t.Run("ConcurrentActivatorsOneWinner", func(t *testing.T) { testOneWinner(t, open(t)) })
	t.Run("ConcurrentSections", func(t *testing.T) { testConcurrentSections(t, open(t)) })
	t.Run("CancelledContext", func(t *testing.T) { testCancelled(t, open(t)) })
	t.Run("EpochReader", func(t *testing.T) { testEpochReader(t, open(t)) })
}

// testEpochReader: a store that reads epochs reads the one the last activation took.
func testEpochReader(t *testing.T, s ticketview.SectionStore) {
	r, ok := s.(ticketview.EpochReader)
	if !ok {
		t.Skip("the store does not read epochs")
	}
	ctx := ctxFor(t)
	id := ticketview.SectionID{Event: "ev-epoch", Section: "s1"}
	if e, err := r.Epoch(ctx, id); err != nil || e != 0 {
		t.Fatalf("Epoch of a never activated section = %d, %v; want 0, nil", e, err)
	}
	first, _, _ := activate(t, ctx, s, id)
	if e, err := r.Epoch(ctx, id); err != nil || e != first {
		t.Fatalf("Epoch = %d, %v; want %d", e, err, first)
	}
	second, _, _ := activate(t, ctx, s, id)
	if e, err := r.Epoch(ctx, id); err != nil || e != second || second <= first {
		t.Fatalf("Epoch after a second activation = %d, %v; want %d > %d", e, err, second, first)
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func activate(t *testing.T, ctx context.Context, s ticketview.SectionStore, id ticketview.SectionID) (uint64, *ticketview.SectionSnapshot, []ticketview.SectionEvent) {
	t.Helper()
	epoch, snap, evs, err := s.Activate(ctx, id)
	if err != nil {
		t.Fatalf("Activate(%s): %v", id, err)
	}
	return epoch, snap, evs
}

func mustAppend(t *testing.T, ctx context.Context, s ticketview.SectionStore, id ticketview.SectionID, epoch uint64, evs []ticketview.SectionEvent) {
	t.Helper()
	if err := s.Append(ctx, id, epoch, evs); err != nil {
		t.Fatalf("Append(%s, epoch %d, seq %d..): %v", id, epoch, evs[0].Seq, err)
	}
}

// sameEvents fails the test unless got deep-equals want (an empty got equals a nil want).
func sameEvents(t *testing.T, what string, got, want []ticketview.SectionEvent) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if reflect.DeepEqual(got, want) {
		return
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d events (seqs %s), want %d (%s)", what, len(got), seqs(got), len(want), seqs(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("%s: event %d differs:\n got  %+v\n want %+v", what, i, got[i], want[i])
		}
	}
}

func seqs(evs []ticketview.SectionEvent) string {
	if len(evs) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d..%d", evs[0].Seq, evs[len(evs)-1].Seq)
}

func wantFenced(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want ErrFenced", what)
	}
	if !errors.Is(err, ticketview.ErrFenced) || !IsFenced(err) {
		t.Fatalf("%s: %v (code %q), want ErrFenced", what, err, codeOf(err))
	}
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want %s", what, code)
	}
	if got := ticketview.ErrorCode(err); got != code || IsFenced(err) {
		t.Fatalf("%s: %v (code %q), want code %q", what, err, got, code)
	}
}

func testFreshSection(t *testing.T, s ticketview.SectionStore) {
	ctx := ctxFor(t)
	id := NewSectionID()
	epoch, snap, evs := activate(t, ctx, s, id)
	if epoch != 1 || snap != nil || len(evs) != 0 {
		t.Fatalf("fresh section: epoch %d, snapshot %v, %d events; want 1, nil, 0", epoch, snap, len(evs))
	}
	prev := epoch
	for range 3 {
		epoch, snap, evs = activate(t, ctx, s, id)
		if epoch <= prev || snap != nil || len(evs) != 0 {
			t.Fatalf("re-activation: epoch %d (previous %d), snapshot %v, %d events", epoch, prev, snap, len(evs))
		}
		prev = epoch
	}
	// Sections are independent.
	if e2, _, _ := activate(t, ctx, s, NewSectionID()); e2 != 1 {
		t.Fatalf("another fresh section got epoch %d, want 1", e2)
	}
}

func testAppendThenActivate(t *testing.T, s ticketview.SectionStore) {
	ctx := ctxFor(t)
	id := NewSectionID()
	e1, _, _ := activate(t, ctx, s, id)
	all := SampleEvents(1, 17, BaseTime)
	mustAppend(t, ctx, s, id, e1, all[0:1])
	mustAppend(t, ctx, s, id, e1, all[1:9])
	mustAppend(t, ctx, s, id, e1, all[9:17])

	e2, snap, evs := activate(t, ctx, s, id)
	if e2 <= e1 {
		t.Fatalf("re-activation epoch %d, want > %d", e2, e1)
	}
	if snap != nil {
		t.Fatalf("unexpected snapshot %+v", snap)
	}
	sameEvents(t, "after re-activation", evs, all)

	// The new owner continues the journal.
	more := SampleEvents(18, 3, BaseTime)
	mustAppend(t, ctx, s, id, e2, more)
	_, _, evs = activate(t, ctx, s, id)
	sameEvents(t, "after the new owner appended", evs, append(all, more...))
}

func testEmptyAppend(t *testing.T, s ticketview.SectionStore) {
	ctx := ctxFor(t)
	id := NewSectionID()
	e1, _, _ := activate(t, ctx, s, id)
	if err := s.Append(ctx, id, e1, nil); err != nil {
		t.Fatalf("empty append by the owner: %v", err)
	}
	mustAppend(t, ctx, s, id, e1, SampleEvents(1, 2, BaseTime))
	_, _, evs := activate(t, ctx, s, id)
	sameEvents(t, "after an empty append", evs, SampleEvents(1, 2, BaseTime))
}

func testStaleEpoch(t *testing.T, s ticketview.SectionStore) {
	ctx := ctxFor(t)
	id := NewSectionID()
	old, _, _ := activate(t, ctx, s, id)
	first := SampleEvents(1, 2, BaseTime)
	mustAppend(t, ctx, s, id, old, first)

	newer, _, evs := activate(t, ctx, s, id)
	sameEvents(t, "newer activation", evs, first)

	wantFenced(t, "append with the stale epoch", s.Append(ctx, id, old, SampleEvents(3, 1, BaseTime)))
	wantFenced(t, "append with a future epoch", s.Append(ctx, id, newer+1, SampleEvents(3, 1, BaseTime)))
	wantFenced(t, "snapshot with the stale epoch", s.SaveSnapshot(ctx, id, old, SampleSnapshot(2, 10)))

	// The newer owner sees none of it and continues at seq 3.
	mustAppend(t, ctx, s, id, newer, SampleEvents(3, 1, BaseTime))
	_, snap, evs := activate(t, ctx, s, id)
	if snap != nil {
		t.Fatalf("fenced snapshot was stored: %+v", snap)
	}
	sameEvents(t, "after fenced writes", evs, SampleEvents(1, 3, BaseTime))
}

func testNeverActivated(t *testing.T, s ticketview.SectionStore) {
	ctx := ctxFor(t)
	id := NewSectionID()
	for _, epoch := range []uint64{0, 1} {
		wantFenced(t, fmt.Sprintf("append with epoch %d to a never-activated section", epoch),
			s.Append(ctx, id, epoch, SampleEvents(1, 1, BaseTime)))
	}
	epoch, _, evs := activate(t, ctx, s, id)
	if epoch != 1 || len(evs) != 0 {
		t.Fatalf("after refused appends: epoch %d, %d events; want 1, 0", epoch, len(evs))
	}
}

func journalRecords(t *testing.T, ctx context.Context, s ticketview.SectionStore, id ticketview.SectionID) (int, bool) {
	t.Helper()
	jc, ok := s.(JournalCounter)
	if !ok {
		return 0, false
	}
	n, err := jc.JournalRecords(ctx, id)
	if err != nil {
		t.Fatalf("JournalRecords: %v", err)
	}
	return n, true
}

func testSnapshot(t *testing.T, s ticketview.SectionStore) {
	ctx := ctxFor(t)
	id := NewSectionID()
	e1, _, _ := activate(t, ctx, s, id)
	all := SampleEvents(1, 12, BaseTime)
	mustAppend(t, ctx, s, id, e1, all[0:2])  // 1-2
	mustAppend(t, ctx, s, id, e1, all[2:3])  // 3
	mustAppend(t, ctx, s, id, e1, all[3:5])  // 4-5
	mustAppend(t, ctx, s, id, e1, all[5:10]) // 6-10
	if n, ok := journalRecords(t, ctx, s, id); ok && n != 4 {
		t.Fatalf("%d journal records before the snapshot, want 4", n)
	}

	snap5 := SampleSnapshot(5, 10000)
	if err := s.SaveSnapshot(ctx, id, e1, snap5); err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
	if n, ok := journalRecords(t, ctx, s, id); ok && n != 1 {
		t.Fatalf("%d journal records after a snapshot at 5, want 1 (6-10): covered records not compacted", n)
	}
	// The journal continues after compaction; a Seq the snapshot covers is refused.
	wantCode(t, "append at a compacted seq", s.Append(ctx, id, e1, all[4:5]), ticketview.EINTERNAL)
	mustAppend(t, ctx, s, id, e1, all[10:12]) // 11-12

	e2, snap, evs := activate(t, ctx, s, id)
	if e2 <= e1 {
		t.Fatalf("epoch %d after %d", e2, e1)
	}
	if !reflect.DeepEqual(snap, snap5) {
		t.Fatalf("snapshot differs:\n got  %+v\n want %+v", snap, snap5)
	}
	sameEvents(t, "events after the snapshot", evs, all[5:12])

	// A newer snapshot replaces it and compacts the rest.
	snap12 := SampleSnapshot(12, 10000)
	if err := s.SaveSnapshot(ctx, id, e2, snap12); err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
	if n, ok := journalRecords(t, ctx, s, id); ok && n != 0 {
		t.Fatalf("%d journal records after a snapshot at the end, want 0", n)
	}
	_, snap, evs = activate(t, ctx, s, id)
	if !reflect.DeepEqual(snap, snap12) {
		t.Fatalf("second snapshot differs:\n got  %+v\n want %+v", snap, snap12)
	}
	sameEvents(t, "events after the second snapshot", evs, nil)
}

func testSnapshotInsideRecord(t *testing.T, s ticketview.SectionStore) {
	ctx := ctxFor(t)
	id := NewSectionID()
	e1, _, _ := activate(t, ctx, s, id)
	all := SampleEvents(1, 6, BaseTime)
	mustAppend(t, ctx, s, id, e1, all[0:2]) // 1-2
	mustAppend(t, ctx, s, id, e1, all[2:6]) // 3-6
	snap4 := SampleSnapshot(4, 3)
	if err := s.SaveSnapshot(ctx, id, e1, snap4); err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
	_, snap, evs := activate(t, ctx, s, id)
	if !reflect.DeepEqual(snap, snap4) {
		t.Fatalf("snapshot differs:\n got  %+v\n want %+v", snap, snap4)
	}
	sameEvents(t, "events after a snapshot inside a record", evs, all[4:6])
}

func testSeqGap(t *testing.T, s ticketview.SectionStore) {
	ctx := ctxFor(t)
	id := NewSectionID()
	e1, _, _ := activate(t, ctx, s, id)
	mustAppend(t, ctx, s, id, e1, SampleEvents(1, 2, BaseTime))

	wantCode(t, "append with a gap (seq 4 after 2)", s.Append(ctx, id, e1, SampleEvents(4, 1, BaseTime)), ticketview.EINTERNAL)
	wantCode(t, "append of a duplicate seq", s.Append(ctx, id, e1, SampleEvents(2, 2, BaseTime)), ticketview.EINTERNAL)
	wantCode(t, "append starting at 0", s.Append(ctx, id, e1, SampleEvents(0, 3, BaseTime)), ticketview.EINTERNAL)
	broken := SampleEvents(3, 3, BaseTime)
	broken[2].Seq = 6 // 3, 4, 6
	wantCode(t, "append with a gap inside the batch", s.Append(ctx, id, e1, broken), ticketview.EINTERNAL)
	unordered := SampleEvents(3, 2, BaseTime)
	unordered[0], unordered[1] = unordered[1], unordered[0] // 4, 3
	wantCode(t, "append of unordered seqs", s.Append(ctx, id, e1, unordered), ticketview.EINTERNAL)

	// None of it was written, and the journal still continues at 3.
	mustAppend(t, ctx, s, id, e1, SampleEvents(3, 1, BaseTime))
	_, _, evs := activate(t, ctx, s, id)
	sameEvents(t, "after refused appends", evs, SampleEvents(1, 3, BaseTime))
}

func testOneWinner(t *testing.T, s ticketview.SectionStore) {
	const n = 20
	ctx := ctxFor(t)
	id := NewSectionID()
	epochs := make([]uint64, n)
	errs := make([]error, n)
	var activated, start sync.WaitGroup
	var done sync.WaitGroup
	activated.Add(n)
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			var err error
			epochs[i], _, _, err = s.Activate(ctx, id)
			activated.Done()
			if err != nil {
				errs[i] = fmt.Errorf("activate: %w", err)
				return
			}
			start.Wait() // every activation has happened: only the newest epoch may write
			ev := SampleEvents(1, 1, BaseTime)
			ev[0].Token = fmt.Sprintf("winner-%d", i)
			errs[i] = s.Append(ctx, id, epochs[i], ev)
		}()
	}
	activated.Wait()
	start.Done()
	done.Wait()

	seen := map[uint64]bool{}
	newest, winner := uint64(0), -1
	for i, e := range epochs {
		if errs[i] != nil && epochs[i] == 0 {
			t.Fatalf("writer %d: %v", i, errs[i])
		}
		if seen[e] {
			t.Fatalf("two activations got epoch %d", e)
		}
		seen[e] = true
		if e > newest {
			newest, winner = e, i
		}
	}
	wins := 0
	for i, err := range errs {
		switch {
		case i == winner:
			if err != nil {
				t.Errorf("the newest activation (epoch %d) failed to append: %v", epochs[i], err)
			}
			wins++
		case err == nil:
			t.Errorf("writer %d with stale epoch %d (newest %d) appended", i, epochs[i], newest)
			wins++
		case !errors.Is(err, ticketview.ErrFenced) || !IsFenced(err):
			t.Errorf("writer %d with stale epoch %d: %v, want ErrFenced", i, epochs[i], err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d appends succeeded, want exactly 1", wins)
	}
	epoch, _, evs := activate(t, ctx, s, id)
	if epoch <= newest {
		t.Fatalf("epoch %d after %d", epoch, newest)
	}
	if len(evs) != 1 || evs[0].Token != fmt.Sprintf("winner-%d", winner) {
		t.Fatalf("journal %+v, want the one event of writer %d", evs, winner)
	}
}

func testConcurrentSections(t *testing.T, s ticketview.SectionStore) {
	const sections, rounds = 32, 20
	ctx := ctxFor(t)
	type result struct {
		id    ticketview.SectionID
		acked []ticketview.SectionEvent
	}
	results := make([]result, sections)
	var wg sync.WaitGroup
	for i := range sections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := NewSectionID()
			results[i].id = id
			epoch, _, _, err := s.Activate(ctx, id)
			if err != nil {
				t.Errorf("activate %s: %v", id, err)
				return
			}
			seq := uint64(1)
			for r := range rounds {
				batch := SampleEvents(seq, 1+(i+r)%3, BaseTime.Add(time.Duration(i)*time.Hour))
				if err := s.Append(ctx, id, epoch, batch); err != nil {
					t.Errorf("append %s seq %d: %v", id, seq, err)
					return
				}
				results[i].acked = append(results[i].acked, batch...)
				seq += uint64(len(batch))
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, r := range results {
		_, _, evs := activate(t, ctx, s, r.id)
		sameEvents(t, "section "+r.id.String(), evs, r.acked)
	}
}

func testCancelled(t *testing.T, s ticketview.SectionStore) {
	ctx := ctxFor(t)
	id := NewSectionID()
	epoch, _, _ := activate(t, ctx, s, id)
	mustAppend(t, ctx, s, id, epoch, SampleEvents(1, 1, BaseTime))

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Append(cctx, id, epoch, SampleEvents(2, 1, BaseTime)); err == nil {
		t.Fatal("append with a cancelled context succeeded")
	} else if !errors.Is(err, context.Canceled) {
		t.Fatalf("append with a cancelled context: %v, want context.Canceled", err)
	}
	if err := s.SaveSnapshot(cctx, id, epoch, SampleSnapshot(1, 3)); err == nil {
		t.Fatal("snapshot with a cancelled context succeeded")
	}
	if _, _, _, err := s.Activate(cctx, id); err == nil {
		t.Fatal("activate with a cancelled context succeeded")
	}

	// Nothing was written: the journal holds only seq 1 and there is no snapshot.
	_, snap, evs := activate(t, ctx, s, id)
	if snap != nil {
		t.Fatalf("snapshot with a cancelled context was stored")
	}
	sameEvents(t, "after cancelled calls", evs, SampleEvents(1, 1, BaseTime))
}
