package storetest

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/ticketview/ticketview"
)

// TestAvailabilityCache checks a ticketview.AvailabilityCache against the contract. open
// is called once per subtest and must return a working cache (a shared server is fine:
// the suite uses new section ids). The contract:
//
//   - CachedAvailability returns what PutAvailability stored: without seats, every field
//     but Seats (nil); with seats, the seats too, in the order they were put. A section
//     without a view is ENOTFOUND. An availability without event or section, or with a
//     seat label twice, is EINVALID.
//   - A Put replaces the view unless the view's Seq is higher (an equal Seq replaces).
//   - ApplyDeltas applies deltas in order: a delta with Seq at or below the view's is
//     ignored; one for a section without a view, or whose Prev is beyond the view's Seq,
//     or (when the view has seats) naming a seat the view does not have, is not applied:
//     the view is dropped and the section is returned as stale, once per call. Otherwise
//     the named seats take the delta's Status, the delta's Categories become the
//     per-category counts with the totals (Capacity, Free, Held, Sold, Blocked) summed
//     from them, and the view's Seq becomes the delta's. A delta with neither seats nor
//     categories (general admission) sets the free count, and its one category's, to
//     GAFree.
//   - Sections are independent, and concurrent ApplyDeltas calls with overlapping deltas
//     end in the state of applying each delta once, in order.
func TestAvailabilityCache(t *testing.T, open func(t *testing.T) ticketview.AvailabilityCache) {
	t.Run("PutAndGet", func(t *testing.T) { testAvailPutGet(t, open(t)) })
	t.Run("NotFound", func(t *testing.T) { testAvailNotFound(t, open(t)) })
	t.Run("InvalidPut", func(t *testing.T) { testAvailInvalid(t, open(t)) })
	t.Run("LowerSeqPutIgnored", func(t *testing.T) { testAvailLowerSeqPut(t, open(t)) })
	t.Run("DeltasInOrder", func(t *testing.T) { testAvailDeltas(t, open(t)) })
	t.Run("CommitSharesCounts", func(t *testing.T) { testAvailCommit(t, open(t)) })
	t.Run("DuplicatesIgnored", func(t *testing.T) { testAvailDuplicates(t, open(t)) })
	t.Run("GapMarksStale", func(t *testing.T) { testAvailGap(t, open(t)) })
	t.Run("NoViewIsStale", func(t *testing.T) { testAvailNoView(t, open(t)) })
	t.Run("UnknownSeatIsStale", func(t *testing.T) { testAvailUnknownSeat(t, open(t)) })
	t.Run("ViewWithoutSeats", func(t *testing.T) { testAvailNoSeats(t, open(t)) })
	t.Run("GeneralAdmission", func(t *testing.T) { testAvailGA(t, open(t)) })
	t.Run("SectionsIsolated", func(t *testing.T) { testAvailIsolated(t, open(t)) })
	t.Run("ConcurrentAppliers", func(t *testing.T) { testAvailConcurrent(t, open(t)) })
}

var categoryPrices = map[string]int64{"VIP": 9900, "STD": 4500, "GA": 2500}

// SampleAvailability returns a consistent availability at seq of a seated section with
// rows rows of perRow seats. Rows are laid out from the last letter down ("C", "B", "A"
// for 3 rows) and seats are labelled "C-1", "C-2", ..., "C-12", so neither the rows nor
// the labels are in sorted order. The first row is category "VIP" (its first two seats
// accessible), the others "STD"; coordinates are fractional; statuses mix free, held,
// sold and blocked; the counts agree with the seats.
func SampleAvailability(id ticketview.SectionID, seq uint64, rows, perRow int) ticketview.Availability {
	a := ticketview.Availability{Event: id.Event, Section: id.Section, Name: "Stalls " + id.Section,
		Kind: ticketview.Seated, Seq: seq}
	a.Seats = make([]ticketview.SeatView, 0, rows*perRow)
	for r := range rows {
		row := rowName(rows - 1 - r)
		cat := "STD"
		if r == 0 {
			cat = "VIP"
		}
		for n := 1; n <= perRow; n++ {
			st := ticketview.SeatFree
			switch (r*perRow + n) % 7 {
			case 3, 4:
				st = ticketview.SeatHeld
			case 5:
				st = ticketview.SeatSold
			case 6:
				st = ticketview.SeatBlocked
			}
			a.Seats = append(a.Seats, ticketview.SeatView{Label: fmt.Sprintf("%s-%d", row, n), Row: row,
				Number: n, Category: cat, X: float64(n)*1.5 - 0.25, Y: float64(r) * 2.75,
				Accessible: r == 0 && n <= 2, Status: st})
		}
	}
	recount(&a)
	return a
}

// SampleGAAvailability returns a general-admission availability at seq with the given
// capacity in category "GA": a tenth held, a fifth sold, 3 blocked.
func SampleGAAvailability(id ticketview.SectionID, seq uint64, capacity int) ticketview.Availability {
	c := ticketview.CategoryAvailability{Code: "GA", Capacity: capacity, Held: capacity / 10,
		Sold: capacity / 5, Blocked: 3, Price: categoryPrices["GA"]}
	c.Free = c.Capacity - c.Held - c.Sold - c.Blocked
	a := ticketview.Availability{Event: id.Event, Section: id.Section, Name: "Floor " + id.Section,
		Kind: ticketview.GeneralAdmission, Seq: seq}
	setCategories(&a, []ticketview.CategoryAvailability{c})
	return a
}

func rowName(r int) string {
	s := ""
	for r >= 0 {
		s = string(rune('A'+r%26)) + s
		r = r/26 - 1
	}
	return s
}

// recount sets a's categories (in order of first appearance among the seats) and totals
// from its seats' statuses.
func recount(a *ticketview.Availability) {
	var cats []ticketview.CategoryAvailability
	idx := map[string]int{}
	for _, s := range a.Seats {
		i, ok := idx[s.Category]
		if !ok {
			i = len(cats)
			idx[s.Category] = i
			cats = append(cats, ticketview.CategoryAvailability{Code: s.Category, Price: categoryPrices[s.Category]})
		}
		c := &cats[i]
		c.Capacity++
		switch s.Status {
		case ticketview.SeatFree:
			c.Free++
		case ticketview.SeatHeld:
			c.Held++
		case ticketview.SeatSold:
			c.Sold++
		case ticketview.SeatBlocked:
			c.Blocked++
		}
	}
	setCategories(a, cats)
}

func setCategories(a *ticketview.Availability, cats []ticketview.CategoryAvailability) {
	a.Categories = cats
	a.Capacity, a.Free, a.Held, a.Sold, a.Blocked = 0, 0, 0, 0, 0
	for _, c := range cats {
		a.Capacity += c.Capacity
		a.Free += c.Free
		a.Held += c.Held
		a.Sold += c.Sold
		a.Blocked += c.Blocked
	}
}

// SeatChange applies a status change to the expected availability a (its seats, counts
// and Seq) and returns the delta that tells a cache about it, as the engine builds it.
func SeatChange(a *ticketview.Availability, seq, prev uint64, st ticketview.SeatStatus, labels ...string) ticketview.SeatDelta {
	for _, l := range labels {
		i := slices.IndexFunc(a.Seats, func(s ticketview.SeatView) bool { return s.Label == l })
		if i < 0 {
			panic("storetest: SeatChange of unknown seat " + l)
		}
		a.Seats[i].Status = st
	}
	recount(a)
	a.Seq = seq
	return ticketview.SeatDelta{Section: ticketview.SectionID{Event: a.Event, Section: a.Section}, Seq: seq,
		Prev: prev, Seats: slices.Clone(labels), Status: st, Categories: slices.Clone(a.Categories)}
}

func cloneAvailability(a ticketview.Availability) ticketview.Availability {
	a.Categories = slices.Clone(a.Categories)
	a.Seats = slices.Clone(a.Seats)
	return a
}

func withoutSeats(a ticketview.Availability) ticketview.Availability {
	a = cloneAvailability(a)
	a.Seats = nil
	return a
}

func sectionOf(a ticketview.Availability) ticketview.SectionID {
	return ticketview.SectionID{Event: a.Event, Section: a.Section}
}

// sameAvailability fails the test unless got deep-equals want, naming the first
// difference.
func sameAvailability(t *testing.T, what string, got, want ticketview.Availability) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	g, w := got, want
	g.Seats, w.Seats, g.Categories, w.Categories = nil, nil, nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: availability differs:\n got  %+v\n want %+v", what, g, w)
	}
	if !reflect.DeepEqual(got.Categories, want.Categories) {
		t.Fatalf("%s: categories differ:\n got  %+v\n want %+v", what, got.Categories, want.Categories)
	}
	if len(got.Seats) != len(want.Seats) || (got.Seats == nil) != (want.Seats == nil) {
		t.Fatalf("%s: %d seats (nil %v), want %d (nil %v)", what, len(got.Seats), got.Seats == nil, len(want.Seats), want.Seats == nil)
	}
	for i := range got.Seats {
		if got.Seats[i] != want.Seats[i] {
			t.Fatalf("%s: seat %d differs:\n got  %+v\n want %+v", what, i, got.Seats[i], want.Seats[i])
		}
	}
	t.Fatalf("%s: availability differs", what)
}

func mustPut(t *testing.T, c ticketview.AvailabilityCache, a ticketview.Availability) {
	t.Helper()
	if err := c.PutAvailability(ctxFor(t), a); err != nil {
		t.Fatalf("PutAvailability(%s/%s, seq %d): %v", a.Event, a.Section, a.Seq, err)
	}
}

func mustGet(t *testing.T, c ticketview.AvailabilityCache, id ticketview.SectionID, withSeats bool) ticketview.Availability {
	t.Helper()
	a, err := c.CachedAvailability(ctxFor(t), id, withSeats)
	if err != nil {
		t.Fatalf("CachedAvailability(%s, %v): %v", id, withSeats, err)
	}
	return a
}

// wantView checks both reads of id against want (with seats).
func wantView(t *testing.T, c ticketview.AvailabilityCache, what string, want ticketview.Availability) {
	t.Helper()
	id := sectionOf(want)
	sameAvailability(t, what+" (with seats)", mustGet(t, c, id, true), want)
	sameAvailability(t, what+" (counts only)", mustGet(t, c, id, false), withoutSeats(want))
}

func wantNoView(t *testing.T, c ticketview.AvailabilityCache, what string, id ticketview.SectionID) {
	t.Helper()
	for _, withSeats := range []bool{false, true} {
		_, err := c.CachedAvailability(ctxFor(t), id, withSeats)
		wantCode(t, fmt.Sprintf("%s: CachedAvailability(%s, %v)", what, id, withSeats), err, ticketview.ENOTFOUND)
	}
}

// apply applies deltas and checks the stale sections returned (in any order, each once).
func apply(t *testing.T, c ticketview.AvailabilityCache, what string, deltas []ticketview.SeatDelta, wantStale ...ticketview.SectionID) {
	t.Helper()
	stale, err := c.ApplyDeltas(ctxFor(t), deltas)
	if err != nil {
		t.Fatalf("%s: ApplyDeltas: %v", what, err)
	}
	key := func(ids []ticketview.SectionID) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = id.String()
		}
		sort.Strings(out)
		return out
	}
	if g, w := key(stale), key(wantStale); !slices.Equal(g, w) {
		t.Fatalf("%s: ApplyDeltas returned stale %v, want %v", what, g, w)
	}
}

func testAvailPutGet(t *testing.T, c ticketview.AvailabilityCache) {
	id := NewSectionID()
	a := SampleAvailability(id, 42, 3, 12)
	put := cloneAvailability(a)
	mustPut(t, c, put)
	wantView(t, c, "after Put", a)
	// The cache keeps its own copy: changing what was put or returned changes nothing.
	put.Seats[0].Status, put.Categories[0].Free = ticketview.SeatSold, -7
	got := mustGet(t, c, id, true)
	got.Seats[1].Status, got.Categories[0].Held = ticketview.SeatSold, -9
	wantView(t, c, "after changing a returned copy", a)

	// A larger section: order and every field survive.
	big := SampleAvailability(NewSectionID(), 7, 40, 60)
	mustPut(t, c, big)
	wantView(t, c, "2,400 seats", big)
}

func testAvailNotFound(t *testing.T, c ticketview.AvailabilityCache) {
	id := NewSectionID()
	wantNoView(t, c, "never put", id)
	// A view of the same section name in another event, or of another section of the same
	// event, is not this one.
	mustPut(t, c, SampleAvailability(ticketview.SectionID{Event: id.Event, Section: "B"}, 1, 1, 4))
	mustPut(t, c, SampleAvailability(ticketview.SectionID{Event: id.Event + "x", Section: id.Section}, 1, 1, 4))
	wantNoView(t, c, "neighbours put", id)
}

func testAvailInvalid(t *testing.T, c ticketview.AvailabilityCache) {
	ctx := ctxFor(t)
	id := NewSectionID()
	noEvent := SampleAvailability(ticketview.SectionID{Section: "A"}, 1, 1, 4)
	wantCode(t, "Put without event", c.PutAvailability(ctx, noEvent), ticketview.EINVALID)
	noSection := SampleAvailability(ticketview.SectionID{Event: id.Event}, 1, 1, 4)
	wantCode(t, "Put without section", c.PutAvailability(ctx, noSection), ticketview.EINVALID)
	dup := SampleAvailability(id, 1, 2, 4)
	dup.Seats[5].Label = dup.Seats[1].Label
	wantCode(t, "Put with a label twice", c.PutAvailability(ctx, dup), ticketview.EINVALID)
	wantNoView(t, c, "after invalid Puts", id)
}

func testAvailLowerSeqPut(t *testing.T, c ticketview.AvailabilityCache) {
	id := NewSectionID()
	a10 := SampleAvailability(id, 10, 2, 6)
	mustPut(t, c, a10)
	older := SampleAvailability(id, 9, 3, 3) // another shape, so a wrong replace shows
	older.Name = "older"
	mustPut(t, c, older)
	wantView(t, c, "after a lower-seq Put", a10)

	same := SampleAvailability(id, 10, 1, 5)
	same.Name = "same seq"
	mustPut(t, c, same)
	wantView(t, c, "after an equal-seq Put", same)

	// A higher Put replaces everything, seats changed by deltas included.
	cur := cloneAvailability(same)
	apply(t, c, "delta 11", []ticketview.SeatDelta{SeatChange(&cur, 11, 10, ticketview.SeatSold, "A-1", "A-2")})
	newer := SampleAvailability(id, 12, 2, 6)
	mustPut(t, c, newer)
	wantView(t, c, "after a higher-seq Put", newer)

	// A Put below the seq reached by deltas is ignored too.
	cur = cloneAvailability(newer)
	apply(t, c, "delta 13", []ticketview.SeatDelta{SeatChange(&cur, 13, 12, ticketview.SeatHeld, "B-3")})
	mustPut(t, c, SampleAvailability(id, 12, 2, 6))
	wantView(t, c, "after a Put below the deltas' seq", cur)
}

func testAvailDeltas(t *testing.T, c ticketview.AvailabilityCache) {
	id := NewSectionID()
	a := SampleAvailability(id, 5, 3, 12)
	mustPut(t, c, a)
	want := cloneAvailability(a)
	batch := []ticketview.SeatDelta{
		SeatChange(&want, 6, 5, ticketview.SeatHeld, "C-1", "C-2"),
		SeatChange(&want, 8, 6, ticketview.SeatSold, "C-1", "C-2"), // 7 changed no seat
		SeatChange(&want, 9, 8, ticketview.SeatFree, "A-12"),
		SeatChange(&want, 10, 9, ticketview.SeatHeld, "A-12"), // the same seat again, in order
	}
	apply(t, c, "one batch", batch)
	wantView(t, c, "after one batch", want)
	for seq := uint64(11); seq <= 20; seq++ { // one delta per call
		st := ticketview.SeatStatus(seq % 4)
		apply(t, c, fmt.Sprintf("delta %d", seq), []ticketview.SeatDelta{SeatChange(&want, seq, seq-1, st, fmt.Sprintf("B-%d", seq-8))})
	}
	wantView(t, c, "after single deltas", want)
	// A delta whose Prev is before the view's Seq (the reader is past Prev) is applied.
	apply(t, c, "delta 25 after 17", []ticketview.SeatDelta{SeatChange(&want, 25, 17, ticketview.SeatBlocked, "B-1")})
	wantView(t, c, "after a delta with an older Prev", want)
	apply(t, c, "no deltas", nil)
	wantView(t, c, "after no deltas", want)
}

// The deltas of one commit carry the same counts, those after the commit, as the engine
// sends them; each applied one sets them, also when the one before it was already covered.
func testAvailCommit(t *testing.T, c ticketview.AvailabilityCache) {
	id := NewSectionID()
	want := SampleAvailability(id, 25, 3, 12)
	d26 := SeatChange(&want, 26, 25, ticketview.SeatHeld, "C-5")
	at26 := cloneAvailability(want)
	d27 := SeatChange(&want, 27, 26, ticketview.SeatHeld, "C-6")
	d28 := SeatChange(&want, 28, 27, ticketview.SeatHeld, "C-7")
	for _, d := range []*ticketview.SeatDelta{&d26, &d27, &d28} {
		d.Categories = slices.Clone(want.Categories)
	}
	mustPut(t, c, at26) // the view is at 26 already, with the counts of that moment
	apply(t, c, "a commit of 26..28", []ticketview.SeatDelta{d26, d27, d28})
	wantView(t, c, "after the commit", want)

	id2 := NewSectionID()
	want2 := SampleAvailability(id2, 1, 2, 4)
	mustPut(t, c, want2)
	var commit []ticketview.SeatDelta
	for seq, l := range []string{"B-1", "B-2", "B-3", "A-4"} {
		commit = append(commit, SeatChange(&want2, uint64(seq+2), uint64(seq+1), ticketview.SeatSold, l))
	}
	for i := range commit {
		commit[i].Categories = want2.Categories // one slice, shared
	}
	apply(t, c, "a commit sharing one slice", commit)
	wantView(t, c, "after a commit sharing one slice", want2)
}

func testAvailDuplicates(t *testing.T, c ticketview.AvailabilityCache) {
	id := NewSectionID()
	a := SampleAvailability(id, 5, 2, 8)
	mustPut(t, c, a)
	want := cloneAvailability(a)
	d6 := SeatChange(&want, 6, 5, ticketview.SeatHeld, "B-1")
	d7 := SeatChange(&want, 7, 6, ticketview.SeatSold, "B-1")
	apply(t, c, "6 and 7", []ticketview.SeatDelta{d6, d7})
	// Redelivered, alone, in a batch with new ones, or in the same batch twice: each
	// delta counts once.
	apply(t, c, "7 again", []ticketview.SeatDelta{d7})
	apply(t, c, "6 again", []ticketview.SeatDelta{d6})
	wantView(t, c, "after duplicates", want)
	d8 := SeatChange(&want, 8, 7, ticketview.SeatBlocked, "A-4")
	apply(t, c, "6, 7, 8, 8", []ticketview.SeatDelta{d6, d7, d8, d8})
	wantView(t, c, "after a batch with duplicates", want)
	// A delta at the view's own Seq is covered, whatever it says.
	liar := d8
	liar.Status, liar.Seats = ticketview.SeatFree, []string{"A-5"}
	liar.Categories = []ticketview.CategoryAvailability{{Code: "VIP", Capacity: 1, Free: 1}}
	apply(t, c, "8 saying something else", []ticketview.SeatDelta{liar})
	wantView(t, c, "after a different delta at the same seq", want)
	// Deltas at or below a Put's Seq are covered by it.
	fresh := SampleAvailability(id, 20, 2, 8)
	mustPut(t, c, fresh)
	apply(t, c, "8 after Put 20", []ticketview.SeatDelta{d8})
	old := d8
	old.Seq, old.Prev = 20, 19
	apply(t, c, "20 after Put 20", []ticketview.SeatDelta{old})
	wantView(t, c, "after deltas the Put covers", fresh)
}

func testAvailGap(t *testing.T, c ticketview.AvailabilityCache) {
	id := NewSectionID()
	a := SampleAvailability(id, 5, 2, 8)
	mustPut(t, c, a)
	want := cloneAvailability(a)
	d6 := SeatChange(&want, 6, 5, ticketview.SeatHeld, "B-1")
	lost := cloneAvailability(want)
	SeatChange(&lost, 7, 6, ticketview.SeatSold, "B-2") // never delivered
	d8 := SeatChange(&lost, 8, 7, ticketview.SeatSold, "B-3")
	// 6 applies; 8 names Prev 7, beyond the view's 6: the section is stale and its view
	// dropped, and the delta after it in the batch is not applied either.
	d9 := SeatChange(&lost, 9, 8, ticketview.SeatSold, "B-4")
	apply(t, c, "6, 8 (after a lost 7), 9", []ticketview.SeatDelta{d6, d8, d9}, id)
	wantNoView(t, c, "after a gap", id)
	// With no view, every delta is stale, old or new.
	apply(t, c, "9 without a view", []ticketview.SeatDelta{d9}, id)
	apply(t, c, "6 without a view", []ticketview.SeatDelta{d6}, id)
	wantNoView(t, c, "after deltas without a view", id)
	// The caller puts a fresh availability and goes on.
	mustPut(t, c, lost)
	d10 := SeatChange(&lost, 10, 9, ticketview.SeatFree, "B-1")
	apply(t, c, "9 and 10 after the resync", []ticketview.SeatDelta{d9, d10})
	wantView(t, c, "after the resync", lost)
}

func testAvailNoView(t *testing.T, c ticketview.AvailabilityCache) {
	id := NewSectionID()
	a := SampleAvailability(id, 0, 1, 4)
	d := SeatChange(&a, 1, 0, ticketview.SeatHeld, "A-1")
	apply(t, c, "a delta for a section never put", []ticketview.SeatDelta{d, d}, id)
	wantNoView(t, c, "after a delta without a view", id)
}

func testAvailUnknownSeat(t *testing.T, c ticketview.AvailabilityCache) {
	id := NewSectionID()
	a := SampleAvailability(id, 3, 2, 4)
	mustPut(t, c, a)
	want := cloneAvailability(a)
	d4 := SeatChange(&want, 4, 3, ticketview.SeatHeld, "A-1")
	bad := d4
	bad.Seq, bad.Prev, bad.Seats = 5, 4, []string{"A-2", "Z-99"}
	apply(t, c, "a delta naming a seat the view lacks", []ticketview.SeatDelta{d4, bad}, id)
	wantNoView(t, c, "after an unknown seat", id)
}

func testAvailNoSeats(t *testing.T, c ticketview.AvailabilityCache) {
	id := NewSectionID()
	full := SampleAvailability(id, 3, 2, 4)
	a := withoutSeats(full) // a counts-only view of a seated section
	mustPut(t, c, a)
	sameAvailability(t, "with seats asked", mustGet(t, c, id, true), a)
	sameAvailability(t, "counts only", mustGet(t, c, id, false), a)
	d := SeatChange(&full, 4, 3, ticketview.SeatSold, "A-1", "B-4")
	apply(t, c, "a seated delta on a counts-only view", []ticketview.SeatDelta{d})
	sameAvailability(t, "after the delta", mustGet(t, c, id, true), withoutSeats(full))
}

func testAvailGA(t *testing.T, c ticketview.AvailabilityCache) {
	id := NewSectionID()
	a := SampleGAAvailability(id, 10, 3000)
	mustPut(t, c, a)
	wantView(t, c, "GA after Put", a) // no seats either way
	want := cloneAvailability(a)
	cat := want.Categories[0]
	cat.Held, cat.Free = cat.Held+4, cat.Free-4
	setCategories(&want, []ticketview.CategoryAvailability{cat})
	want.Seq = 11
	d11 := ticketview.SeatDelta{Section: id, Seq: 11, Prev: 10, Status: ticketview.SeatHeld, GAFree: cat.Free,
		Categories: []ticketview.CategoryAvailability{cat}}
	cat.Held, cat.Sold = cat.Held-4, cat.Sold+4
	setCategories(&want, []ticketview.CategoryAvailability{cat})
	want.Seq = 12
	d12 := ticketview.SeatDelta{Section: id, Seq: 12, Prev: 11, Status: ticketview.SeatSold, GAFree: cat.Free,
		Categories: []ticketview.CategoryAvailability{cat}}
	apply(t, c, "GA 11, 12", []ticketview.SeatDelta{d11, d12})
	wantView(t, c, "GA after deltas", want)
	// A GA delta without categories tells the free count only.
	d13 := ticketview.SeatDelta{Section: id, Seq: 13, Prev: 12, Status: ticketview.SeatFree, GAFree: cat.Free + 6}
	want.Seq, want.Free, want.Categories[0].Free = 13, cat.Free+6, cat.Free+6
	apply(t, c, "GA 13 without categories", []ticketview.SeatDelta{d13})
	wantView(t, c, "GA after a delta without categories", want)
	// Gaps and duplicates as for seated sections.
	apply(t, c, "GA 12 again", []ticketview.SeatDelta{d12})
	wantView(t, c, "GA after a duplicate", want)
	gap := d13
	gap.Seq, gap.Prev = 15, 14
	apply(t, c, "GA gap", []ticketview.SeatDelta{gap}, id)
	wantNoView(t, c, "GA after a gap", id)
}

func testAvailIsolated(t *testing.T, c ticketview.AvailabilityCache) {
	base := NewSectionID()
	ids := []ticketview.SectionID{base, {Event: base.Event, Section: "B"}, {Event: base.Event + "-2", Section: base.Section}}
	want := make([]ticketview.Availability, len(ids))
	for i, id := range ids {
		want[i] = SampleAvailability(id, uint64(5+i), 2, 6)
		mustPut(t, c, want[i])
	}
	gone := NewSectionID()
	// One batch across sections: the first advances, the second has a gap, the third has
	// its deltas interleaved with the others', and one section has no view.
	var batch []ticketview.SeatDelta
	batch = append(batch, SeatChange(&want[0], 6, 5, ticketview.SeatHeld, "B-1"))
	lost := cloneAvailability(want[1])
	batch = append(batch, SeatChange(&lost, 9, 8, ticketview.SeatSold, "A-1"))
	batch = append(batch, SeatChange(&want[2], 8, 7, ticketview.SeatBlocked, "B-1"))
	none := SampleAvailability(gone, 0, 1, 2)
	batch = append(batch, SeatChange(&none, 1, 0, ticketview.SeatHeld, "A-1"))
	batch = append(batch, SeatChange(&want[0], 7, 6, ticketview.SeatSold, "B-1", "B-2"))
	batch = append(batch, SeatChange(&lost, 10, 9, ticketview.SeatSold, "A-2"))
	batch = append(batch, SeatChange(&want[2], 9, 8, ticketview.SeatFree, "A-6"))
	apply(t, c, "mixed batch", batch, ids[1], gone)
	wantView(t, c, "first section", want[0])
	wantNoView(t, c, "gapped section", ids[1])
	wantView(t, c, "third section", want[2])
	wantNoView(t, c, "section without a view", gone)
}

func testAvailConcurrent(t *testing.T, c ticketview.AvailabilityCache) {
	id := NewSectionID()
	a := SampleAvailability(id, 100, 4, 10)
	mustPut(t, c, a)
	want := cloneAvailability(a)
	var all []ticketview.SeatDelta
	prev := uint64(100)
	for i := range 60 {
		seq := prev + 1 + uint64(i%3) // some events change no seat
		seat := want.Seats[(i*7)%len(want.Seats)].Label
		all = append(all, SeatChange(&want, seq, prev, ticketview.SeatStatus(i%4), seat))
		prev = seq
	}
	const appliers = 6
	var wg sync.WaitGroup
	errs := make(chan error, appliers)
	for g := range appliers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for i := 0; i < len(all); {
				n := 1 + r.IntN(9)
				j := min(len(all), i+n)
				stale, err := c.ApplyDeltas(ctxFor(t), all[i:j])
				if err != nil || len(stale) > 0 {
					errs <- fmt.Errorf("applier %d, deltas %d..%d: stale %v, err %v", g, i, j, stale, err)
					return
				}
				i = j
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	wantView(t, c, "after concurrent appliers", want)
}

// TestSnapshotCache checks a ticketview.SnapshotCache against the contract. open is
// called once per subtest and must return a working cache. The contract:
//
//   - CachedSnapshot returns what PutSnapshot stored, equal in every field (times as
//     equal instants in UTC), as a copy that shares nothing with what was put; a section
//     without one is ENOTFOUND; a nil snapshot is EINVALID.
//   - A snapshot with a lower Seq than the one kept is ignored; an equal or higher one
//     replaces it. Sections are independent.
func TestSnapshotCache(t *testing.T, open func(t *testing.T) ticketview.SnapshotCache) {
	t.Run("RoundTrip", func(t *testing.T) { testSnapRoundTrip(t, open(t)) })
	t.Run("NotFound", func(t *testing.T) { testSnapNotFound(t, open(t)) })
	t.Run("NewestKept", func(t *testing.T) { testSnapNewest(t, open(t)) })
	t.Run("SectionsIsolated", func(t *testing.T) { testSnapIsolated(t, open(t)) })
}

func mustPutSnap(t *testing.T, c ticketview.SnapshotCache, id ticketview.SectionID, snap *ticketview.SectionSnapshot) {
	t.Helper()
	if err := c.PutSnapshot(ctxFor(t), id, snap); err != nil {
		t.Fatalf("PutSnapshot(%s, seq %d): %v", id, snap.Seq, err)
	}
}

func wantSnap(t *testing.T, c ticketview.SnapshotCache, what string, id ticketview.SectionID, want *ticketview.SectionSnapshot) {
	t.Helper()
	got, err := c.CachedSnapshot(ctxFor(t), id)
	if err != nil {
		t.Fatalf("%s: CachedSnapshot(%s): %v", what, id, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: snapshot differs:\n got  %+v\n want %+v", what, got, want)
	}
}

func testSnapRoundTrip(t *testing.T, c ticketview.SnapshotCache) {
	id := NewSectionID()
	snap := SampleSnapshot(17, 2400)
	mustPutSnap(t, c, id, snap)
	want := SampleSnapshot(17, 2400)
	wantSnap(t, c, "after Put", id, want)
	// Copies both ways.
	snap.Status[0], snap.Holds[0].Owner = 3, "someone else"
	got, _ := c.CachedSnapshot(ctxFor(t), id)
	if got != nil {
		got.Status[1], got.Sales[0].Seats[0] = 3, 999
	}
	wantSnap(t, c, "after changing what was put and returned", id, want)
	// A general-admission snapshot: no seat statuses.
	ga := &ticketview.SectionSnapshot{Seq: 3, TakenAt: BaseTime, GABlocked: 7,
		Holds: []ticketview.SnapshotHold{{Token: "t", Owner: "o", Qty: 4, Prices: []int64{2500}, Created: BaseTime, Expires: BaseTime}}}
	gaID := NewSectionID()
	mustPutSnap(t, c, gaID, ga)
	wantSnap(t, c, "GA", gaID, &ticketview.SectionSnapshot{Seq: 3, TakenAt: BaseTime, GABlocked: 7,
		Holds: []ticketview.SnapshotHold{{Token: "t", Owner: "o", Qty: 4, Prices: []int64{2500}, Created: BaseTime, Expires: BaseTime}}})
	wantCode(t, "Put nil", c.PutSnapshot(ctxFor(t), NewSectionID(), nil), ticketview.EINVALID)
}

func testSnapNotFound(t *testing.T, c ticketview.SnapshotCache) {
	id := NewSectionID()
	_, err := c.CachedSnapshot(ctxFor(t), id)
	wantCode(t, "CachedSnapshot of a section never put", err, ticketview.ENOTFOUND)
}

func testSnapNewest(t *testing.T, c ticketview.SnapshotCache) {
	id := NewSectionID()
	mustPutSnap(t, c, id, SampleSnapshot(10, 50))
	mustPutSnap(t, c, id, SampleSnapshot(9, 60))
	wantSnap(t, c, "after an older Put", id, SampleSnapshot(10, 50))
	same := SampleSnapshot(10, 70)
	mustPutSnap(t, c, id, same)
	wantSnap(t, c, "after an equal-seq Put", id, SampleSnapshot(10, 70))
	mustPutSnap(t, c, id, SampleSnapshot(11, 40))
	wantSnap(t, c, "after a newer Put", id, SampleSnapshot(11, 40))
	mustPutSnap(t, c, id, SampleSnapshot(1, 40))
	wantSnap(t, c, "after a much older Put", id, SampleSnapshot(11, 40))
}

func testSnapIsolated(t *testing.T, c ticketview.SnapshotCache) {
	a := NewSectionID()
	b := ticketview.SectionID{Event: a.Event, Section: "B"}
	d := ticketview.SectionID{Event: a.Event + "-2", Section: a.Section}
	mustPutSnap(t, c, a, SampleSnapshot(5, 10))
	mustPutSnap(t, c, b, SampleSnapshot(3, 20))
	mustPutSnap(t, c, d, SampleSnapshot(8, 30))
	wantSnap(t, c, "a", a, SampleSnapshot(5, 10))
	wantSnap(t, c, "b", b, SampleSnapshot(3, 20))
	wantSnap(t, c, "d", d, SampleSnapshot(8, 30))
}
