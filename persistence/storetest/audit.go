package storetest

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
)

// TestAuditLog checks a ticketview.AuditLog against the contract. open is called once per
// subtest and must return a working store (a shared database is fine: the suite uses new
// event ids). The contract:
//
//   - AppendAudit validates every entry first (an event or section that is not a valid id,
//     Seq 0 or above math.MaxInt64, no Type, no At, a negative Quantity, an empty seat
//     label: EINVALID) and then stores none of them. Appending nothing succeeds.
//   - AppendAudit is idempotent: an entry whose (Section, Seq) is stored already is
//     skipped, however often and in whatever batches it comes again, also from concurrent
//     callers; the first stored wins. Entries of other sections or events with the same
//     Seq are other entries.
//   - AuditTrail needs an Event (EINVALID otherwise) and returns only that event's entries
//     that pass the filter: Section and Owner exact, Seat one of the entry's seat labels,
//     At >= From and At < To (each when set); ordered by section, then Seq; at most Limit
//     (100 when 0 or less). Entries come back as appended except At, which is in UTC and
//     truncated to whole milliseconds (filters compare those), and empty Seats, which may
//     come back nil.
func TestAuditLog(t *testing.T, open func(t *testing.T) ticketview.AuditLog) {
	t.Run("RoundTrip", func(t *testing.T) { testAuditRoundTrip(t, open(t)) })
	t.Run("Invalid", func(t *testing.T) { testAuditInvalid(t, open(t)) })
	t.Run("Idempotent", func(t *testing.T) { testAuditIdempotent(t, open(t)) })
	t.Run("ConcurrentRedelivery", func(t *testing.T) { testAuditConcurrent(t, open(t)) })
	t.Run("Filters", func(t *testing.T) { testAuditFilters(t, open(t)) })
}

// NewEventID returns an event id no other call returns in this process (stamped with the
// run, so shared databases are fine too).
func NewEventID() string { return fmt.Sprintf("ev-%x-%d", runStamp, uniq.Add(1)) }

// SampleAuditEntries returns n valid audit entries of the section with Seq from, from+1,
// ..., with every field used across them: types cycle, owners rotate over 5 buyers (none
// for blocks), seats are two labels out of "R-0" to "R-6" (none for GA-like entries).
// Entry i is at at + i*3ms + 250.000017µs: sub-millisecond digits the stores drop.
func SampleAuditEntries(id ticketview.SectionID, from uint64, n int, at time.Time) []ticketview.AuditEntry {
	out := make([]ticketview.AuditEntry, n)
	for i := range out {
		seq := from + uint64(i)
		e := ticketview.AuditEntry{
			Section: id, Seq: seq, Type: ticketview.SectionEventType(1 + seq%8),
			At:    at.Add(time.Duration(i)*3*time.Millisecond + 250*time.Microsecond + 17),
			Owner: fmt.Sprintf("buyer-%d", seq%5), Token: fmt.Sprintf("tok-%d", seq/2),
		}
		switch e.Type {
		case ticketview.EvSeatsBlocked, ticketview.EvSeatsUnblocked:
			e.Owner, e.Token, e.Reference = "", "", "press block"
		case ticketview.EvHoldConfirmed:
			e.BookingID, e.Reference = fmt.Sprintf("bk-%d", seq), "pay_ünïcode"
		}
		if seq%4 == 3 {
			e.Quantity = int32(seq%3 + 1) // general admission: a quantity, no seats
		} else {
			e.Seats = []string{fmt.Sprintf("R-%d", seq%7), fmt.Sprintf("R-%d", (seq+3)%7)}
			e.Quantity = 2
		}
		out[i] = e
	}
	return out
}

// normAudit is e as a store returns it: At in UTC whole milliseconds, empty Seats nil.
func normAudit(e ticketview.AuditEntry) ticketview.AuditEntry {
	e.At = e.At.UTC().Truncate(time.Millisecond)
	if len(e.Seats) == 0 {
		e.Seats = nil
	}
	return e
}

func sortAudit(es []ticketview.AuditEntry) {
	sort.Slice(es, func(i, j int) bool {
		if es[i].Section.Section != es[j].Section.Section {
			return es[i].Section.Section < es[j].Section.Section
		}
		return es[i].Seq < es[j].Seq
	})
}

func appendAudit(t *testing.T, l ticketview.AuditLog, es []ticketview.AuditEntry) {
	t.Helper()
	if err := l.AppendAudit(ctxFor(t), es); err != nil {
		t.Fatalf("AppendAudit(%d entries): %v", len(es), err)
	}
}

func trail(t *testing.T, l ticketview.AuditLog, f ticketview.AuditFilter) []ticketview.AuditEntry {
	t.Helper()
	got, err := l.AuditTrail(ctxFor(t), f)
	if err != nil {
		t.Fatalf("AuditTrail(%+v): %v", f, err)
	}
	return got
}

// sameTrail compares a trail with the entries expected (as appended; normalized here).
func sameTrail(t *testing.T, what string, got, want []ticketview.AuditEntry) {
	t.Helper()
	norm := make([]ticketview.AuditEntry, len(want))
	for i, e := range want {
		norm[i] = normAudit(e)
	}
	for i, e := range got {
		if e.At.Location() != time.UTC {
			t.Fatalf("%s: entry %d: At %v is not in UTC", what, i, e.At)
		}
	}
	if len(got) != len(norm) {
		t.Fatalf("%s: %d entries, want %d\n got  %s\n want %s", what, len(got), len(norm), auditKeys(got), auditKeys(norm))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], norm[i]) {
			t.Fatalf("%s: entry %d differs:\n got  %+v\n want %+v\n (got %s)", what, i, got[i], norm[i], auditKeys(got))
		}
	}
}

func auditKeys(es []ticketview.AuditEntry) string {
	s := "["
	for i, e := range es {
		if i > 0 {
			s += " "
		}
		if i == 12 && len(es) > 14 {
			s += fmt.Sprintf("... (%d more)", len(es)-12)
			break
		}
		s += fmt.Sprintf("%s/%d", e.Section.Section, e.Seq)
	}
	return s + "]"
}

func testAuditRoundTrip(t *testing.T, l ticketview.AuditLog) {
	id := ticketview.SectionID{Event: NewEventID(), Section: "floor-vip"}
	es := SampleAuditEntries(id, 1, 12, BaseTime.In(time.FixedZone("IST", 5*3600+1800)))
	es[0].Seats = []string{} // may come back nil
	es[1].Reference = "a \"quoted\" reference, with\nnewline"
	es[2].Seats = []string{"Ünïcode-1", "B-2", "A-1"} // kept in the order given
	appendAudit(t, l, es)
	sameTrail(t, "round trip", trail(t, l, ticketview.AuditFilter{Event: id.Event}), es)

	// Appending nothing succeeds and changes nothing.
	appendAudit(t, l, nil)
	appendAudit(t, l, []ticketview.AuditEntry{})
	sameTrail(t, "after empty appends", trail(t, l, ticketview.AuditFilter{Event: id.Event}), es)

	// The largest Seq there is.
	big := SampleAuditEntries(id, math.MaxInt64, 1, BaseTime)
	appendAudit(t, l, big)
	sameTrail(t, "seq MaxInt64", trail(t, l, ticketview.AuditFilter{Event: id.Event, Limit: 100}), append(es, big...))
}

func testAuditInvalid(t *testing.T, l ticketview.AuditLog) {
	ctx := ctxFor(t)
	id := ticketview.SectionID{Event: NewEventID(), Section: "A"}
	for name, mutate := range map[string]func(*ticketview.AuditEntry){
		"no event":           func(e *ticketview.AuditEntry) { e.Section.Event = "" },
		"no section":         func(e *ticketview.AuditEntry) { e.Section.Section = "" },
		"event with a slash": func(e *ticketview.AuditEntry) { e.Section.Event = "ev/x" },
		"bad section id":     func(e *ticketview.AuditEntry) { e.Section.Section = "a b" },
		"seq 0":              func(e *ticketview.AuditEntry) { e.Seq = 0 },
		"seq above MaxInt64": func(e *ticketview.AuditEntry) { e.Seq = math.MaxInt64 + 1 },
		"no type":            func(e *ticketview.AuditEntry) { e.Type = 0 },
		"no time":            func(e *ticketview.AuditEntry) { e.At = time.Time{} },
		"negative quantity":  func(e *ticketview.AuditEntry) { e.Quantity = -1 },
		"empty seat label":   func(e *ticketview.AuditEntry) { e.Seats = []string{"A-1", ""} },
	} {
		// One bad entry among good ones: none is stored.
		es := SampleAuditEntries(id, 1, 5, BaseTime)
		mutate(&es[3])
		wantCode(t, "invalid entry: "+name, l.AppendAudit(ctx, es), ticketview.EINVALID)
	}
	if got := trail(t, l, ticketview.AuditFilter{Event: id.Event}); len(got) != 0 {
		t.Fatalf("entries stored from refused batches: %s", auditKeys(got))
	}

	for name, f := range map[string]ticketview.AuditFilter{
		"empty filter":             {},
		"section but no event":     {Section: "A"},
		"everything but the event": {Section: "A", Seat: "R-1", Owner: "buyer-1", From: BaseTime, To: BaseTime.Add(time.Hour), Limit: 5},
	} {
		_, err := l.AuditTrail(ctx, f)
		wantCode(t, "AuditTrail with "+name, err, ticketview.EINVALID)
	}
}

func testAuditIdempotent(t *testing.T, l ticketview.AuditLog) {
	id := ticketview.SectionID{Event: NewEventID(), Section: "A"}
	all := func() []ticketview.AuditEntry {
		return trail(t, l, ticketview.AuditFilter{Event: id.Event, Limit: 1000})
	}

	first := SampleAuditEntries(id, 1, 10, BaseTime)
	appendAudit(t, l, first)
	appendAudit(t, l, first)
	sameTrail(t, "the same batch twice", all(), first)

	// A redelivered batch overlapping the first: 6 to 10 again (changed, to tell them
	// apart: the first stored wins, for the filters too) and 11 to 15 new.
	redelivered := SampleAuditEntries(id, 6, 10, BaseTime)
	for i := range 5 {
		redelivered[i].Owner = "impostor"
		redelivered[i].Seats = []string{"X-9"}
		redelivered[i].At = BaseTime.Add(time.Hour)
	}
	appendAudit(t, l, redelivered)
	want := append(append([]ticketview.AuditEntry{}, first...), redelivered[5:]...)
	sameTrail(t, "an overlapping batch", all(), want)
	for name, f := range map[string]ticketview.AuditFilter{
		"owner": {Event: id.Event, Owner: "impostor"},
		"seat":  {Event: id.Event, Seat: "X-9"},
		"time":  {Event: id.Event, From: BaseTime.Add(time.Hour)},
	} {
		if got := trail(t, l, f); len(got) != 0 {
			t.Fatalf("by %s, the skipped redelivery is found: %s", name, auditKeys(got))
		}
	}

	// Single entries from the middle, and a batch out of order.
	appendAudit(t, l, want[7:8])
	rev := append([]ticketview.AuditEntry{}, want...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	appendAudit(t, l, rev)
	sameTrail(t, "redelivered again, reversed", all(), want)

	// The same Seq twice in one batch is stored once (one of them).
	twice := SampleAuditEntries(id, 16, 1, BaseTime)
	other := twice[0]
	other.Owner = "other-buyer"
	appendAudit(t, l, []ticketview.AuditEntry{twice[0], other})
	got := all()
	if len(got) != 16 {
		t.Fatalf("after a batch with seq 16 twice: %d entries, want 16: %s", len(got), auditKeys(got))
	}
	if g := got[15]; !reflect.DeepEqual(g, normAudit(twice[0])) && !reflect.DeepEqual(g, normAudit(other)) {
		t.Fatalf("seq 16 stored as %+v, which was not appended", g)
	}
	sameTrail(t, "entries before seq 16", got[:15], want)

	// The same Seq in another section, or in another event, is another entry.
	b := SampleAuditEntries(ticketview.SectionID{Event: id.Event, Section: "B"}, 1, 3, BaseTime)
	otherEvent := SampleAuditEntries(ticketview.SectionID{Event: NewEventID(), Section: "A"}, 1, 3, BaseTime)
	appendAudit(t, l, append(append([]ticketview.AuditEntry{}, b...), otherEvent...))
	sameTrail(t, "section B", trail(t, l, ticketview.AuditFilter{Event: id.Event, Section: "B"}), b)
	sameTrail(t, "the other event", trail(t, l, ticketview.AuditFilter{Event: otherEvent[0].Section.Event}), otherEvent)
	if got := all(); len(got) != 19 {
		t.Fatalf("after entries of section B: %d entries of the event, want 19", len(got))
	}
}

func testAuditConcurrent(t *testing.T, l ticketview.AuditLog) {
	ctx := ctxFor(t)
	id := ticketview.SectionID{Event: NewEventID(), Section: "A"}
	es := SampleAuditEntries(id, 1, 40, BaseTime)
	// 10 consumers redeliver overlapping windows of the same entries at once.
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lo := (w * 3) % 20
			if err := l.AppendAudit(ctx, es[lo:lo+20]); err != nil {
				t.Errorf("concurrent AppendAudit %d: %v", w, err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	appendAudit(t, l, es)
	sameTrail(t, "after concurrent redeliveries", trail(t, l, ticketview.AuditFilter{Event: id.Event}), es)
}

func testAuditFilters(t *testing.T, l ticketview.AuditLog) {
	ev, other := NewEventID(), NewEventID()
	base := BaseTime.Truncate(time.Second)
	// Three sections of the event, 45 entries each (135 in all, over the default limit),
	// with times interleaved across sections; another event with the same sections, seats
	// and owners at the same times.
	var mine, theirs []ticketview.AuditEntry
	for k, sec := range []string{"C", "A", "B"} {
		at := base.Add(time.Duration(k) * time.Millisecond)
		mine = append(mine, SampleAuditEntries(ticketview.SectionID{Event: ev, Section: sec}, 1, 45, at)...)
		if sec != "C" {
			theirs = append(theirs, SampleAuditEntries(ticketview.SectionID{Event: other, Section: sec}, 1, 30, at)...)
		}
	}
	// Appended in batches that mix sections, events and seq order.
	mixed := append(append([]ticketview.AuditEntry{}, mine...), theirs...)
	for i := range mixed {
		j := (i * 53) % len(mixed)
		mixed[i], mixed[j] = mixed[j], mixed[i]
	}
	for len(mixed) > 0 {
		n := min(37, len(mixed))
		appendAudit(t, l, mixed[:n])
		mixed = mixed[n:]
	}

	ms := func(n int) time.Time { return base.Add(time.Duration(n) * time.Millisecond) }
	check := func(name string, f ticketview.AuditFilter, minWant int) {
		t.Helper()
		var want []ticketview.AuditEntry
		for _, e := range mine {
			if f.Event != ev {
				break
			}
			at := e.At.Truncate(time.Millisecond)
			if f.Section != "" && e.Section.Section != f.Section ||
				f.Owner != "" && e.Owner != f.Owner ||
				!f.From.IsZero() && at.Before(f.From) ||
				!f.To.IsZero() && !at.Before(f.To) {
				continue
			}
			if f.Seat != "" {
				found := false
				for _, s := range e.Seats {
					found = found || s == f.Seat
				}
				if !found {
					continue
				}
			}
			want = append(want, e)
		}
		if len(want) < minWant {
			t.Fatalf("%s: the fixture has %d matching entries, the check needs at least %d", name, len(want), minWant)
		}
		sortAudit(want)
		limit := f.Limit
		if limit <= 0 {
			limit = 100
		}
		sameTrail(t, name, trail(t, l, f), want[:min(limit, len(want))])
	}

	check("event: default limit 100", ticketview.AuditFilter{Event: ev}, 135)
	check("event, limit 1000", ticketview.AuditFilter{Event: ev, Limit: 1000}, 135)
	check("event, limit 7", ticketview.AuditFilter{Event: ev, Limit: 7}, 7)
	check("negative limit is the default", ticketview.AuditFilter{Event: ev, Limit: -3}, 135)
	check("section", ticketview.AuditFilter{Event: ev, Section: "B"}, 45)
	check("section, limit 10", ticketview.AuditFilter{Event: ev, Section: "C", Limit: 10}, 45)
	check("section nobody has", ticketview.AuditFilter{Event: ev, Section: "Z"}, 0)
	check("seat", ticketview.AuditFilter{Event: ev, Seat: "R-3"}, 20)
	check("seat in a section", ticketview.AuditFilter{Event: ev, Seat: "R-3", Section: "A"}, 5)
	check("seat nobody has", ticketview.AuditFilter{Event: ev, Seat: "R-33"}, 0)
	check("owner", ticketview.AuditFilter{Event: ev, Owner: "buyer-2"}, 20)
	check("owner and seat", ticketview.AuditFilter{Event: ev, Owner: "buyer-2", Seat: "R-0"}, 2)
	check("owner nobody is", ticketview.AuditFilter{Event: ev, Owner: "buyer-9"}, 0)
	check("from inclusive, to exclusive", ticketview.AuditFilter{Event: ev, From: ms(30), To: ms(60)}, 25)
	check("from only", ticketview.AuditFilter{Event: ev, From: ms(100)}, 30)
	check("to only", ticketview.AuditFilter{Event: ev, To: ms(31)}, 25)
	check("from = to", ticketview.AuditFilter{Event: ev, From: ms(30), To: ms(30)}, 0)
	check("time range and section and owner", ticketview.AuditFilter{Event: ev, Section: "A", Owner: "buyer-1", From: ms(10), To: ms(100)}, 3)
	check("everything", ticketview.AuditFilter{Event: ev, Section: "B", Seat: "R-4", Owner: "buyer-4", From: ms(3), To: ms(200), Limit: 2}, 1)
	check("event nobody has", ticketview.AuditFilter{Event: NewEventID()}, 0)

	// From and To that are not whole milliseconds: they are truncated as At is. Section A's
	// seq 11 is at 31.250017 ms, stored as 31 ms; From = To = 31.1 ms is 31 ms too.
	sub := ms(31).Add(100 * time.Microsecond)
	got := trail(t, l, ticketview.AuditFilter{Event: ev, Section: "A", From: sub, Limit: 1})
	if len(got) != 1 || got[0].Seq != 11 {
		t.Fatalf("From %v: first entry %s, want A/11 (at 31 ms: From is truncated too)", sub, auditKeys(got))
	}
	got = trail(t, l, ticketview.AuditFilter{Event: ev, Section: "A", To: sub})
	if len(got) == 0 || got[len(got)-1].Seq != 10 {
		t.Fatalf("To %v: last entry %s, want A/10 (A/11 at 31 ms is not before To truncated)", sub, auditKeys(got))
	}

	// The other event's entries never come with this one's, and vice versa.
	sortAudit(theirs)
	sameTrail(t, "the other event", trail(t, l, ticketview.AuditFilter{Event: other, Limit: 1000}), theirs)
	for _, e := range trail(t, l, ticketview.AuditFilter{Event: ev, Seat: "R-1", Owner: "buyer-1", Limit: 1000}) {
		if e.Section.Event != ev {
			t.Fatalf("an entry of event %s in the trail of %s", e.Section.Event, ev)
		}
	}
}
