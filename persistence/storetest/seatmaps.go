package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
)

// TestSeatMapStore checks a ticketview.SeatMapStore against the contract. open is called
// once per subtest and must return a working store (a shared database is fine: the suite
// uses new venue ids). The contract:
//
//   - PutSeatMap validates the map (nil or invalid: EINVALID) and then stores nothing and
//     leaves the map as it was.
//   - PutSeatMap sets the map's Version (1 for a venue's first map, then the previous
//     version plus one) and UpdatedAt (the time of the Put, in UTC, truncated to whole
//     milliseconds); whatever the caller had put in them is ignored.
//   - FindSeatMap returns exactly the map last put, with its Version and UpdatedAt, or
//     ENOTFOUND. A Put replaces the venue's map entirely; venues are independent. Neither
//     the map given to Put nor the one returned by Find is shared with the store.
//   - Concurrent Puts of one venue all succeed with distinct, consecutive versions, and
//     the map kept is the one with the highest.
func TestSeatMapStore(t *testing.T, open func(t *testing.T) ticketview.SeatMapStore) {
	t.Run("RoundTrip", func(t *testing.T) { testSeatMapRoundTrip(t, open(t)) })
	t.Run("Invalid", func(t *testing.T) { testSeatMapInvalid(t, open(t)) })
	t.Run("ReplaceIncrementsVersion", func(t *testing.T) { testSeatMapReplace(t, open(t)) })
	t.Run("ConcurrentPuts", func(t *testing.T) { testSeatMapConcurrent(t, open(t)) })
}

// NewVenueID returns a venue id no other call returns in this process (stamped with the
// run, so shared databases are fine too).
func NewVenueID() string { return fmt.Sprintf("venue-%x-%d", runStamp, uniq.Add(1)) }

// SampleSeatMap returns a valid seat map of the venue: a stage, a seated section "A" with
// six seats (one rotated) and a general-admission section "GA" without seats. Version and
// UpdatedAt are zero.
func SampleSeatMap(venueID string) *ticketview.SeatMap {
	var pins []ticketview.SeatPin
	for r, row := range []string{"A", "B"} {
		for n := 1; n <= 3; n++ {
			pins = append(pins, ticketview.SeatPin{Label: fmt.Sprintf("%s-%d", row, n), Row: row,
				At: ticketview.Point{X: 100 + float64(n)*12.5, Y: 200 + float64(r)*15.25}})
		}
	}
	pins[2].Rotation = -12.5
	return &ticketview.SeatMap{
		VenueID: venueID, Width: 1200, Height: 800.5,
		Stage: ticketview.MapShape{Label: "Stage — main", Polygon: []ticketview.Point{{X: 400, Y: 20}, {X: 800, Y: 20}, {X: 800, Y: 120}, {X: 400, Y: 120}}},
		Sections: []ticketview.SectionMap{
			{SectionID: "A", Shape: ticketview.MapShape{Label: "Stalls", Polygon: []ticketview.Point{{X: 90, Y: 190}, {X: 160, Y: 190}, {X: 160, Y: 240}}},
				LabelAt: ticketview.Point{X: 120, Y: 185}, Color: "#aa3300", Seats: pins},
			{SectionID: "GA", Shape: ticketview.MapShape{Label: "Floor", Polygon: []ticketview.Point{{X: 300, Y: 300}, {X: 900, Y: 300}, {X: 900, Y: 700}, {X: 300, Y: 700}}},
				LabelAt: ticketview.Point{X: 600, Y: 500}},
		},
	}
}

// checkStamp fails unless at is a time the store set during [before, after]: in UTC and
// in whole milliseconds.
func checkStamp(t *testing.T, what string, at, before, after time.Time) {
	t.Helper()
	if at.Location() != time.UTC {
		t.Fatalf("%s: UpdatedAt %v is not in UTC", what, at)
	}
	if !at.Equal(at.Truncate(time.Millisecond)) {
		t.Fatalf("%s: UpdatedAt %v is not in whole milliseconds", what, at)
	}
	if at.Before(before.Truncate(time.Millisecond)) || at.After(after) {
		t.Fatalf("%s: UpdatedAt %v not between %v and %v", what, at, before, after)
	}
}

func putSeatMap(t *testing.T, s ticketview.SeatMapStore, m *ticketview.SeatMap) {
	t.Helper()
	before := time.Now()
	if err := s.PutSeatMap(ctxFor(t), m); err != nil {
		t.Fatalf("PutSeatMap(%s): %v", m.VenueID, err)
	}
	checkStamp(t, "PutSeatMap("+m.VenueID+")", m.UpdatedAt, before, time.Now())
}

func findSeatMap(t *testing.T, s ticketview.SeatMapStore, venueID string) *ticketview.SeatMap {
	t.Helper()
	got, err := s.FindSeatMap(ctxFor(t), venueID)
	if err != nil {
		t.Fatalf("FindSeatMap(%s): %v", venueID, err)
	}
	return got
}

func sameSeatMap(t *testing.T, what string, got, want *ticketview.SeatMap) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: seat map differs:\n got  %+v\n want %+v", what, got, want)
	}
}

func testSeatMapRoundTrip(t *testing.T, s ticketview.SeatMapStore) {
	ctx := ctxFor(t)
	venue := NewVenueID()
	m := SampleSeatMap(venue)
	m.Version, m.UpdatedAt = 41, BaseTime // set by the store, whatever they were
	putSeatMap(t, s, m)
	if m.Version != 1 {
		t.Fatalf("first map of a venue: version %d, want 1", m.Version)
	}
	want := SampleSeatMap(venue)
	want.Version, want.UpdatedAt = m.Version, m.UpdatedAt
	sameSeatMap(t, "PutSeatMap changed more than Version and UpdatedAt", m, want)

	got := findSeatMap(t, s, venue)
	sameSeatMap(t, "found", got, want)

	// The store keeps its own copy: changing the caller's map or the found one changes
	// nothing stored.
	m.Sections[0].Seats[0].Label = "changed"
	m.Stage.Polygon[0].X = -1
	got.Sections[1].Color = "changed"
	sameSeatMap(t, "after changing the caller's copies", findSeatMap(t, s, venue), want)

	_, err := s.FindSeatMap(ctx, NewVenueID())
	wantCode(t, "map of a venue without one", err, ticketview.ENOTFOUND)
	if !errors.Is(err, ticketview.ErrNotFound) {
		t.Fatalf("missing map: %v is not ErrNotFound", err)
	}
}

func testSeatMapInvalid(t *testing.T, s ticketview.SeatMapStore) {
	ctx := ctxFor(t)
	wantCode(t, "nil map", s.PutSeatMap(ctx, nil), ticketview.EINVALID)
	venue := NewVenueID()
	for name, mutate := range map[string]func(*ticketview.SeatMap){
		"no venue":             func(m *ticketview.SeatMap) { m.VenueID = "" },
		"bad venue id":         func(m *ticketview.SeatMap) { m.VenueID = "a venue!" },
		"zero width":           func(m *ticketview.SeatMap) { m.Width = 0 },
		"negative height":      func(m *ticketview.SeatMap) { m.Height = -5 },
		"repeated section":     func(m *ticketview.SeatMap) { m.Sections[1].SectionID = "A" },
		"bad section id":       func(m *ticketview.SeatMap) { m.Sections[0].SectionID = "" },
		"two-point outline":    func(m *ticketview.SeatMap) { m.Sections[0].Shape.Polygon = m.Sections[0].Shape.Polygon[:2] },
		"repeated seat label":  func(m *ticketview.SeatMap) { m.Sections[0].Seats[1].Label = "A-1" },
		"seat without a label": func(m *ticketview.SeatMap) { m.Sections[0].Seats[4].Label = "" },
	} {
		m := SampleSeatMap(venue)
		mutate(m)
		wantCode(t, "invalid map: "+name, s.PutSeatMap(ctx, m), ticketview.EINVALID)
		if m.Version != 0 || !m.UpdatedAt.IsZero() {
			t.Fatalf("invalid map %s: Version %d, UpdatedAt %v set on a refused Put", name, m.Version, m.UpdatedAt)
		}
	}
	_, err := s.FindSeatMap(ctx, venue)
	wantCode(t, "invalid maps stored?", err, ticketview.ENOTFOUND)

	// After the refusals, the venue's first map is still version 1.
	m := SampleSeatMap(venue)
	putSeatMap(t, s, m)
	if m.Version != 1 {
		t.Fatalf("first valid map after refused ones: version %d, want 1", m.Version)
	}
	// A refused Put leaves the stored map as it was.
	bad := SampleSeatMap(venue)
	bad.Width = 0
	wantCode(t, "invalid replacement", s.PutSeatMap(ctx, bad), ticketview.EINVALID)
	sameSeatMap(t, "after a refused replacement", findSeatMap(t, s, venue), m)
}

func testSeatMapReplace(t *testing.T, s ticketview.SeatMapStore) {
	venue, other := NewVenueID(), NewVenueID()
	first := SampleSeatMap(venue)
	putSeatMap(t, s, first)

	second := &ticketview.SeatMap{VenueID: venue, Width: 300, Height: 200,
		Stage: ticketview.MapShape{Label: "Pit"},
		Sections: []ticketview.SectionMap{{SectionID: "B", LabelAt: ticketview.Point{X: 1, Y: 2},
			Seats: []ticketview.SeatPin{{Label: "B-9", Row: "B", At: ticketview.Point{X: 3, Y: 4}}}}}}
	putSeatMap(t, s, second)
	if second.Version != 2 {
		t.Fatalf("second map: version %d, want 2", second.Version)
	}
	if second.UpdatedAt.Before(first.UpdatedAt) {
		t.Fatalf("second map stamped %v, before the first's %v", second.UpdatedAt, first.UpdatedAt)
	}
	sameSeatMap(t, "after a replacement (nothing of the first map is left)", findSeatMap(t, s, venue), second)

	// Another venue has versions of its own.
	o := SampleSeatMap(other)
	putSeatMap(t, s, o)
	if o.Version != 1 {
		t.Fatalf("first map of another venue: version %d, want 1", o.Version)
	}

	third := SampleSeatMap(venue)
	third.Sections = third.Sections[:1]
	putSeatMap(t, s, third)
	if third.Version != 3 {
		t.Fatalf("third map: version %d, want 3", third.Version)
	}
	sameSeatMap(t, "third", findSeatMap(t, s, venue), third)
	sameSeatMap(t, "the other venue", findSeatMap(t, s, other), o)
}

func testSeatMapConcurrent(t *testing.T, s ticketview.SeatMapStore) {
	ctx := ctxFor(t)
	venue := NewVenueID()
	const n = 20
	maps := make([]*ticketview.SeatMap, n)
	var wg sync.WaitGroup
	for i := range maps {
		m := SampleSeatMap(venue)
		m.Width = float64(100 + i) // tells the maps apart
		maps[i] = m
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.PutSeatMap(ctx, m); err != nil {
				t.Errorf("concurrent PutSeatMap %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	versions := make([]int64, n)
	byVersion := map[int64]*ticketview.SeatMap{}
	for i, m := range maps {
		versions[i] = m.Version
		byVersion[m.Version] = m
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i] < versions[j] })
	for i, v := range versions {
		if v != int64(i+1) {
			t.Fatalf("versions of %d concurrent Puts: %v, want 1 to %d, each once", n, versions, n)
		}
	}
	got := findSeatMap(t, s, venue)
	if got.Version != n {
		t.Fatalf("after %d concurrent Puts the stored map has version %d, want %d", n, got.Version, n)
	}
	sameSeatMap(t, "the map kept is the Put that got the highest version", got, byVersion[n])
}
