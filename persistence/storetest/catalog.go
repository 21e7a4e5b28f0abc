package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
)

// TestCatalog checks a ticketview.EventStore and ticketview.VenueStore against the
// contract. open is called once per subtest and must return stores with an empty catalog.
// The contract:
//
//   - Create validates (EINVALID, nothing stored) and refuses a taken id with ECONFLICT,
//     leaving the stored record as it was; Find returns what was created, every field
//     (times may come back in another location but must be equal instants; zero stays
//     zero) or ENOTFOUND.
//   - ListEvents filters by stored Status, by Text (case-insensitive substring of name,
//     description or location), by Genre and Organizer (exact), by City (exact but
//     whatever the case), by From (inclusive) and To (exclusive) on StartsAt; orders by
//     StartsAt then ID; pages by Offset and Limit (0 means 20, at most 100); and returns
//     the number of matches before paging. Filter text that is not UTF-8 without NUL is
//     EINVALID.
//   - ListVenues returns a page of venues ordered by id (limit 0 or less means 20, at most
//     100; a negative offset is 0) and the number of venues.
//   - UpdateEvent is atomic: fn's error is returned and nothing is saved; an invalid result
//     is refused with EINVALID and not saved; a missing event is ENOTFOUND; concurrent
//     updates are not lost. The fields ListEvents filters on follow the update.
func TestCatalog(t *testing.T, open func(t *testing.T) (ticketview.EventStore, ticketview.VenueStore)) {
	t.Run("Venues", func(t *testing.T) { _, vs := open(t); testVenues(t, vs) })
	t.Run("ListVenues", func(t *testing.T) { _, vs := open(t); testListVenues(t, vs) })
	t.Run("Events", func(t *testing.T) { es, _ := open(t); testEvents(t, es) })
	t.Run("ListEvents", func(t *testing.T) { es, _ := open(t); testListEvents(t, es) })
	t.Run("UpdateEvent", func(t *testing.T) { es, _ := open(t); testUpdateEvent(t, es) })
	t.Run("ConcurrentUpdates", func(t *testing.T) { es, _ := open(t); testConcurrentUpdates(t, es) })
}

// utcEvent returns a copy of e with its times in UTC, for comparisons.
func utcEvent(e *ticketview.Event) ticketview.Event {
	c := *e
	c.StartsAt, c.CreatedAt = c.StartsAt.UTC(), c.CreatedAt.UTC()
	c.SalesStart, c.SalesEnd, c.PublishedAt = c.SalesStart.UTC(), c.SalesEnd.UTC(), c.PublishedAt.UTC()
	return c
}

func sameEvent(t *testing.T, what string, got, want *ticketview.Event) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil event", what)
	}
	if g, w := utcEvent(got), utcEvent(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: event differs:\n got  %+v\n want %+v", what, g, w)
	}
}

func testVenues(t *testing.T, vs ticketview.VenueStore) {
	ctx := ctxFor(t)
	v := SampleVenue("hall-1")
	if err := vs.CreateVenue(ctx, v); err != nil {
		t.Fatalf("CreateVenue: %v", err)
	}
	got, err := vs.FindVenue(ctx, "hall-1")
	if err != nil {
		t.Fatalf("FindVenue: %v", err)
	}
	if !reflect.DeepEqual(got, v) {
		t.Fatalf("venue differs:\n got  %+v\n want %+v", got, v)
	}

	dup := SampleVenue("hall-1")
	dup.Name = "Impostor"
	wantCode(t, "duplicate venue", vs.CreateVenue(ctx, dup), ticketview.ECONFLICT)
	if got, err := vs.FindVenue(ctx, "hall-1"); err != nil || got.Name != v.Name {
		t.Fatalf("after a refused duplicate: %+v, %v", got, err)
	}

	_, err = vs.FindVenue(ctx, "nowhere")
	wantCode(t, "missing venue", err, ticketview.ENOTFOUND)
	_, err = vs.FindVenue(ctx, "no\x00where\xff")
	wantCode(t, "junk venue id", err, ticketview.ENOTFOUND)
	if !errors.Is(err, ticketview.ErrNotFound) {
		t.Fatalf("missing venue: %v is not ErrNotFound", err)
	}

	bad := SampleVenue("hall-2")
	bad.Sections = nil
	wantCode(t, "venue without sections", vs.CreateVenue(ctx, bad), ticketview.EINVALID)
	bad = SampleVenue("hall-2")
	bad.Sections[1].Capacity = 0
	wantCode(t, "GA section without capacity", vs.CreateVenue(ctx, bad), ticketview.EINVALID)
	_, err = vs.FindVenue(ctx, "hall-2")
	wantCode(t, "invalid venue stored?", err, ticketview.ENOTFOUND)
}

func testEvents(t *testing.T, es ticketview.EventStore) {
	ctx := ctxFor(t)
	e := SampleEvent("gig-1", "hall-1", BaseTime.Add(48*time.Hour))
	e.StartsAt = e.StartsAt.In(time.FixedZone("IST", 5*3600+1800)) // not UTC on the way in
	if err := es.CreateEvent(ctx, e); err != nil {
		t.Fatalf("CreateEvent: %v", err)
	}
	got, err := es.FindEvent(ctx, "gig-1")
	if err != nil {
		t.Fatalf("FindEvent: %v", err)
	}
	sameEvent(t, "found", got, e)

	dup := SampleEvent("gig-1", "hall-9", BaseTime)
	dup.Name = "Impostor"
	wantCode(t, "duplicate event", es.CreateEvent(ctx, dup), ticketview.ECONFLICT)
	got, err = es.FindEvent(ctx, "gig-1")
	if err != nil {
		t.Fatalf("FindEvent: %v", err)
	}
	sameEvent(t, "after a refused duplicate", got, e)

	// Every field, times in other locations, to the nanosecond.
	full := fullEvent("gig-2")
	if err := es.CreateEvent(ctx, full); err != nil {
		t.Fatalf("CreateEvent(every field): %v", err)
	}
	got, err = es.FindEvent(ctx, "gig-2")
	if err != nil {
		t.Fatalf("FindEvent: %v", err)
	}
	sameEvent(t, "every field", got, full)
	// And the zero times of gig-1 stayed zero.
	got, _ = es.FindEvent(ctx, "gig-1")
	if !got.SalesStart.IsZero() || !got.SalesEnd.IsZero() || !got.PublishedAt.IsZero() {
		t.Fatalf("zero times came back set: %+v", got)
	}

	_, err = es.FindEvent(ctx, "no-such-gig")
	wantCode(t, "missing event", err, ticketview.ENOTFOUND)
	_, err = es.FindEvent(ctx, "gig\x00\xff")
	wantCode(t, "junk event id", err, ticketview.ENOTFOUND)
	if !errors.Is(err, ticketview.ErrNotFound) {
		t.Fatalf("missing event: %v is not ErrNotFound", err)
	}

	for name, mutate := range map[string]func(*ticketview.Event){
		"bad id":           func(e *ticketview.Event) { e.ID = "bad id!" },
		"no name":          func(e *ticketview.Event) { e.Name = "  " },
		"no venue":         func(e *ticketview.Event) { e.VenueID = "" },
		"no start":         func(e *ticketview.Event) { e.StartsAt = time.Time{} },
		"no categories":    func(e *ticketview.Event) { e.Categories = nil },
		"bad currency":     func(e *ticketview.Event) { e.Currency = "RUPEE" },
		"floor over price": func(e *ticketview.Event) { e.Categories[1].Floor = 5000 },
		"sales end first":  func(e *ticketview.Event) { e.SalesStart, e.SalesEnd = BaseTime, BaseTime.Add(-time.Hour) },
		"overlong genre":   func(e *ticketview.Event) { e.Genre = strings.Repeat("g", 33) },
	} {
		bad := SampleEvent("gig-bad", "hall-1", BaseTime)
		mutate(bad)
		wantCode(t, "invalid event: "+name, es.CreateEvent(ctx, bad), ticketview.EINVALID)
	}
	_, err = es.FindEvent(ctx, "gig-bad")
	wantCode(t, "invalid event stored?", err, ticketview.ENOTFOUND)
	list, total, err := es.ListEvents(ctx, ticketview.EventFilter{})
	if err != nil || total != 2 || len(list) != 2 {
		t.Fatalf("after invalid creates: %d of %d listed, %v; want only gig-1 and gig-2", len(list), total, err)
	}
}

// fullEvent returns a valid event with every field set, its times in other locations
// than UTC and with nanoseconds.
func fullEvent(id string) *ticketview.Event {
	ist, pst := time.FixedZone("IST", 5*3600+1800), time.FixedZone("PST", -8*3600)
	e := SampleEvent(id, "hall-1", BaseTime.Add(72*time.Hour).In(ist))
	e.Status = ticketview.EventOnSale
	e.CreatedAt = BaseTime.Add(-48 * time.Hour).In(pst)
	e.OrganizerID, e.Genre, e.City = "org-7", "music", "Zürich"
	e.SalesStart = BaseTime.Add(-24*time.Hour + 7).In(pst)
	e.SalesEnd = BaseTime.Add(71*time.Hour + 11).In(ist)
	e.PublishedAt = BaseTime.Add(-25*time.Hour + 3).In(ist)
	return e
}

// catalogFixture creates n events (in parallel) and returns them in list order.
func catalogFixture(t *testing.T, es ticketview.EventStore, n int) []*ticketview.Event {
	ctx := ctxFor(t)
	statuses := []ticketview.EventStatus{ticketview.EventOnSale, ticketview.EventDraft, ticketview.EventOnSale,
		ticketview.EventCancelled, ticketview.EventSoldOut}
	evs := make([]*ticketview.Event, n)
	for i := range evs {
		// Pairs share a start time, so the id decides their order; ids are created out of
		// order, so insertion order does not give the answer.
		e := SampleEvent(fmt.Sprintf("gig-%03d", (i*37)%n), "hall-1", BaseTime.Add(time.Duration(i/2)*time.Hour))
		e.Status = statuses[i%len(statuses)]
		e.Genre = []string{"music", "sports", "comedy", "", "Music"}[(i/3)%5] // not in step with the status
		e.City = []string{"Zürich", "Mumbai", "ZÜRICH", "zürich", "", "Pune"}[i%6]
		e.OrganizerID = []string{"org-1", "org-2", "", "org-10"}[i%4]
		if i%7 == 0 {
			e.SalesStart, e.SalesEnd = BaseTime.Add(-time.Hour), e.StartsAt.Add(-time.Minute)
			e.PublishedAt = BaseTime.Add(-2 * time.Hour)
		}
		switch i % 10 {
		case 1:
			e.Name = fmt.Sprintf("Jazz Night %d", i)
		case 2:
			e.Description = "Late-night JAZZ with friends"
		case 3:
			e.Location = "Open-air stage, Zürich"
		}
		evs[i] = e
	}
	var wg sync.WaitGroup
	work := make(chan *ticketview.Event)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				if err := es.CreateEvent(ctx, e); err != nil {
					t.Errorf("CreateEvent(%s): %v", e.ID, err)
				}
			}
		}()
	}
	for _, e := range evs {
		work <- e
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	sort.Slice(evs, func(i, j int) bool {
		if !evs[i].StartsAt.Equal(evs[j].StartsAt) {
			return evs[i].StartsAt.Before(evs[j].StartsAt)
		}
		return evs[i].ID < evs[j].ID
	})
	return evs
}

func testListEvents(t *testing.T, es ticketview.EventStore) {
	ctx := ctxFor(t)
	const n = 130
	all := catalogFixture(t, es, n)
	filter := func(keep func(*ticketview.Event) bool) []*ticketview.Event {
		var out []*ticketview.Event
		for _, e := range all {
			if keep(e) {
				out = append(out, e)
			}
		}
		return out
	}
	check := func(name string, f ticketview.EventFilter, matching []*ticketview.Event, from, count int) {
		t.Helper()
		got, total, err := es.ListEvents(ctx, f)
		if err != nil {
			t.Fatalf("%s: ListEvents: %v", name, err)
		}
		if total != len(matching) {
			t.Errorf("%s: total %d, want %d", name, total, len(matching))
		}
		want := matching[min(from, len(matching)):min(from+count, len(matching))]
		if len(got) != len(want) {
			t.Fatalf("%s: %d events, want %d", name, len(got), len(want))
		}
		for i := range got {
			if got[i].ID != want[i].ID {
				t.Fatalf("%s: event %d is %s, want %s (order by start, then id)", name, i, got[i].ID, want[i].ID)
			}
			sameEvent(t, name, got[i], want[i])
		}
	}

	check("no filter: default limit 20", ticketview.EventFilter{}, all, 0, 20)
	check("limit 7 offset 3", ticketview.EventFilter{Limit: 7, Offset: 3}, all, 3, 7)
	check("limit over the maximum is 100", ticketview.EventFilter{Limit: 1000}, all, 0, 100)
	check("negative limit is the default", ticketview.EventFilter{Limit: -5}, all, 0, 20)
	check("last page", ticketview.EventFilter{Offset: 120, Limit: 50}, all, 120, 50)
	check("past the end", ticketview.EventFilter{Offset: 500}, all, 500, 20)

	onSale := filter(func(e *ticketview.Event) bool { return e.Status == ticketview.EventOnSale })
	check("status on_sale", ticketview.EventFilter{Status: ticketview.EventOnSale, Limit: 100}, onSale, 0, 100)
	check("status on_sale page 2", ticketview.EventFilter{Status: ticketview.EventOnSale, Offset: 10, Limit: 10}, onSale, 10, 10)
	check("status past (none stored)", ticketview.EventFilter{Status: ticketview.EventPast}, nil, 0, 20)

	jazz := filter(func(e *ticketview.Event) bool { return e.Name[:4] == "Jazz" || e.Description[:4] == "Late" })
	if len(jazz) < 20 {
		t.Fatalf("fixture: only %d jazz events", len(jazz))
	}
	check("text in name or description, any case", ticketview.EventFilter{Text: "jAzZ", Limit: 100}, jazz, 0, 100)
	zurich := filter(func(e *ticketview.Event) bool { return e.Location != "Main hall" })
	check("text in location, non-ASCII case", ticketview.EventFilter{Text: "ZÜRICH"}, zurich, 0, 20)
	check("text matching nothing", ticketview.EventFilter{Text: "polka"}, nil, 0, 20)
	check("text with LIKE wildcards is literal", ticketview.EventFilter{Text: "%"}, nil, 0, 20)

	from, to := all[40].StartsAt, all[60].StartsAt // all[40], all[41] share a start; so do all[60], all[61]
	window := filter(func(e *ticketview.Event) bool { return !e.StartsAt.Before(from) && e.StartsAt.Before(to) })
	if len(window) != 20 {
		t.Fatalf("fixture: window has %d events", len(window))
	}
	check("from inclusive, to exclusive", ticketview.EventFilter{From: from, To: to, Limit: 100}, window, 0, 100)
	check("from only", ticketview.EventFilter{From: all[120].StartsAt}, all[120:], 0, 20)
	check("to only", ticketview.EventFilter{To: all[2].StartsAt}, all[:2], 0, 20)

	both := filter(func(e *ticketview.Event) bool {
		return e.Status == ticketview.EventOnSale && !e.StartsAt.Before(from) && e.StartsAt.Before(to)
	})
	check("status and window, paged", ticketview.EventFilter{Status: ticketview.EventOnSale, From: from, To: to, Offset: 2, Limit: 3}, both, 2, 3)

	music := filter(func(e *ticketview.Event) bool { return e.Genre == "music" })
	if len(music) < 20 || len(music) == len(filter(func(e *ticketview.Event) bool { return strings.EqualFold(e.Genre, "music") })) {
		t.Fatalf("fixture: %d music events, and some must differ in case only", len(music))
	}
	check("genre, exact", ticketview.EventFilter{Genre: "music", Limit: 100}, music, 0, 100)
	check("genre, exact case", ticketview.EventFilter{Genre: "Music", Limit: 100},
		filter(func(e *ticketview.Event) bool { return e.Genre == "Music" }), 0, 100)
	check("genre, no substring", ticketview.EventFilter{Genre: "mus"}, nil, 0, 20)
	zurichCity := filter(func(e *ticketview.Event) bool { return strings.EqualFold(e.City, "zürich") })
	if len(zurichCity) < 40 {
		t.Fatalf("fixture: only %d events in Zürich", len(zurichCity))
	}
	check("city, any case, non-ASCII", ticketview.EventFilter{City: "ZüRICH", Limit: 100}, zurichCity, 0, 100)
	check("city, no substring", ticketview.EventFilter{City: "Zür"}, nil, 0, 20)
	check("city, page 2", ticketview.EventFilter{City: "mumbai", Offset: 5, Limit: 5},
		filter(func(e *ticketview.Event) bool { return e.City == "Mumbai" }), 5, 5)
	org1 := filter(func(e *ticketview.Event) bool { return e.OrganizerID == "org-1" })
	check("organizer, exact", ticketview.EventFilter{Organizer: "org-1", Limit: 100}, org1, 0, 100)
	check("organizer, no prefix match", ticketview.EventFilter{Organizer: "org"}, nil, 0, 20)
	check("organizer in another case", ticketview.EventFilter{Organizer: "ORG-1"}, nil, 0, 20)
	combo := filter(func(e *ticketview.Event) bool {
		return e.Status == ticketview.EventOnSale && e.Genre == "music" && strings.EqualFold(e.City, "zürich") &&
			e.OrganizerID == "org-2" && !e.StartsAt.Before(all[10].StartsAt)
	})
	if len(combo) < 2 {
		t.Fatalf("fixture: only %d events for the combined filter", len(combo))
	}
	check("every filter at once", ticketview.EventFilter{Status: ticketview.EventOnSale, Genre: "music", City: "zürich",
		Organizer: "org-2", From: all[10].StartsAt, Offset: 1, Limit: 100}, combo, 1, 100)

	for name, f := range map[string]ticketview.EventFilter{
		"NUL in text":         {Text: "a\x00"},
		"invalid UTF-8 genre": {Genre: "\xff"},
		"NUL in city":         {City: "Pune\x00"},
		"invalid organizer":   {Organizer: "org-\xfe"},
	} {
		_, _, err := es.ListEvents(ctx, f)
		wantCode(t, "filter with "+name, err, ticketview.EINVALID)
	}
}

func testUpdateEvent(t *testing.T, es ticketview.EventStore) {
	ctx := ctxFor(t)
	e := SampleEvent("gig-1", "hall-1", BaseTime)
	if err := es.CreateEvent(ctx, e); err != nil {
		t.Fatalf("CreateEvent: %v", err)
	}

	later := BaseTime.Add(24 * time.Hour)
	var received ticketview.Event // fn may run on another goroutine: no t.Fatal in it
	got, err := es.UpdateEvent(ctx, "gig-1", func(ev *ticketview.Event) error {
		received = *ev
		ev.Name = "Renamed gig"
		ev.Status = ticketview.EventOnSale
		ev.StartsAt = later
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateEvent: %v", err)
	}
	sameEvent(t, "fn received the stored event", &received, e)
	want := *e
	want.Name, want.Status, want.StartsAt = "Renamed gig", ticketview.EventOnSale, later
	sameEvent(t, "returned", got, &want)
	found, err := es.FindEvent(ctx, "gig-1")
	if err != nil {
		t.Fatalf("FindEvent: %v", err)
	}
	sameEvent(t, "stored", found, &want)
	// The indexed fields moved too.
	list, total, err := es.ListEvents(ctx, ticketview.EventFilter{Status: ticketview.EventOnSale, Text: "renamed", From: later})
	if err != nil || total != 1 || len(list) != 1 {
		t.Fatalf("listing the updated event: %d of %d, %v", len(list), total, err)
	}
	if _, total, _ := es.ListEvents(ctx, ticketview.EventFilter{Status: ticketview.EventDraft}); total != 0 {
		t.Fatalf("the old status is still listed")
	}

	// The new fields, and the filters on them, follow an update.
	full := fullEvent("gig-1")
	full.StartsAt, full.Name, full.Status = later, want.Name, want.Status
	got, err = es.UpdateEvent(ctx, "gig-1", func(ev *ticketview.Event) error {
		ev.OrganizerID, ev.Genre, ev.City = full.OrganizerID, full.Genre, full.City
		ev.SalesStart, ev.SalesEnd, ev.PublishedAt = full.SalesStart, full.SalesEnd, full.PublishedAt
		ev.CreatedAt, ev.Status = full.CreatedAt, full.Status
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateEvent(new fields): %v", err)
	}
	want = *e
	want.Name, want.Status, want.StartsAt, want.CreatedAt = full.Name, full.Status, later, full.CreatedAt
	want.OrganizerID, want.Genre, want.City = full.OrganizerID, full.Genre, full.City
	want.SalesStart, want.SalesEnd, want.PublishedAt = full.SalesStart, full.SalesEnd, full.PublishedAt
	sameEvent(t, "returned with the new fields", got, &want)
	found, _ = es.FindEvent(ctx, "gig-1")
	sameEvent(t, "stored with the new fields", found, &want)
	if _, total, err := es.ListEvents(ctx, ticketview.EventFilter{Genre: "music", City: "ZÜRICH", Organizer: "org-7"}); err != nil || total != 1 {
		t.Fatalf("listing by the updated genre, city and organizer: %d, %v", total, err)
	}
	if _, err := es.UpdateEvent(ctx, "gig-1", func(ev *ticketview.Event) error {
		ev.Genre, ev.City, ev.OrganizerID = "sports", "Pune", ""
		ev.SalesStart, ev.SalesEnd, ev.PublishedAt = time.Time{}, time.Time{}, time.Time{}
		return nil
	}); err != nil {
		t.Fatalf("UpdateEvent(clearing the new fields): %v", err)
	}
	for _, f := range []ticketview.EventFilter{{Genre: "music"}, {City: "zürich"}, {Organizer: "org-7"}} {
		if _, total, _ := es.ListEvents(ctx, f); total != 0 {
			t.Fatalf("%+v: the old value is still listed", f)
		}
	}
	want.Genre, want.City, want.OrganizerID = "sports", "Pune", ""
	want.SalesStart, want.SalesEnd, want.PublishedAt = time.Time{}, time.Time{}, time.Time{}
	found, _ = es.FindEvent(ctx, "gig-1")
	sameEvent(t, "stored with the new fields cleared", found, &want)

	// fn fails: its error comes back and nothing is saved.
	_, err = es.UpdateEvent(ctx, "gig-1", func(ev *ticketview.Event) error {
		ev.Name = "Should not stick"
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("UpdateEvent with a failing fn: %v, want fn's error", err)
	}
	found, _ = es.FindEvent(ctx, "gig-1")
	sameEvent(t, "after a failing fn", found, &want)

	// fn's domain error keeps its code.
	_, err = es.UpdateEvent(ctx, "gig-1", func(ev *ticketview.Event) error {
		return ev.Publish(BaseTime.Add(48 * time.Hour)) // past by then
	})
	wantCode(t, "fn's domain error", err, ticketview.ECONFLICT)

	// An invalid result is refused.
	_, err = es.UpdateEvent(ctx, "gig-1", func(ev *ticketview.Event) error {
		ev.Categories = nil
		return nil
	})
	wantCode(t, "update to an invalid event", err, ticketview.EINVALID)
	found, _ = es.FindEvent(ctx, "gig-1")
	sameEvent(t, "after an invalid update", found, &want)

	for _, id := range []string{"no-such-gig", "gig\x00\xff"} {
		called := false
		_, err = es.UpdateEvent(ctx, id, func(*ticketview.Event) error { called = true; return nil })
		wantCode(t, fmt.Sprintf("update of a missing event %q", id), err, ticketview.ENOTFOUND)
		if called {
			t.Fatalf("fn was called for a missing event %q", id)
		}
	}
}

func testConcurrentUpdates(t *testing.T, es ticketview.EventStore) {
	ctx := ctxFor(t)
	e := SampleEvent("gig-1", "hall-1", BaseTime)
	e.BuyerLimit = 1
	if err := es.CreateEvent(ctx, e); err != nil {
		t.Fatalf("CreateEvent: %v", err)
	}
	const n = 25
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := es.UpdateEvent(ctx, "gig-1", func(ev *ticketview.Event) error {
				ev.BuyerLimit++
				return nil
			}); err != nil {
				t.Errorf("UpdateEvent: %v", err)
			}
		}()
	}
	wg.Wait()
	got, err := es.FindEvent(ctx, "gig-1")
	if err != nil {
		t.Fatalf("FindEvent: %v", err)
	}
	if got.BuyerLimit != 1+n {
		t.Fatalf("buyer limit %d after %d concurrent increments from 1: updates were lost", got.BuyerLimit, n)
	}
}

func testListVenues(t *testing.T, vs ticketview.VenueStore) {
	ctx := ctxFor(t)
	list, total, err := vs.ListVenues(ctx, 0, 0)
	if err != nil || total != 0 || len(list) != 0 {
		t.Fatalf("no venues: %d of %d, %v", len(list), total, err)
	}
	const n = 105
	venues := make([]*ticketview.Venue, n)
	for i := range venues {
		venues[i] = SampleVenue(fmt.Sprintf("hall-%03d", (i*37)%n)) // created out of order
		venues[i].Name = fmt.Sprintf("Hall %d", i)
		venues[i].Sections[1].Capacity = 100 + i
	}
	var wg sync.WaitGroup
	work := make(chan *ticketview.Venue)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := range work {
				if err := vs.CreateVenue(ctx, v); err != nil {
					t.Errorf("CreateVenue(%s): %v", v.ID, err)
				}
			}
		}()
	}
	for _, v := range venues {
		work <- v
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	sort.Slice(venues, func(i, j int) bool { return venues[i].ID < venues[j].ID })

	check := func(name string, offset, limit, from, count int) {
		t.Helper()
		got, total, err := vs.ListVenues(ctx, offset, limit)
		if err != nil {
			t.Fatalf("%s: ListVenues: %v", name, err)
		}
		if total != n {
			t.Errorf("%s: total %d, want %d", name, total, n)
		}
		want := venues[min(from, n):min(from+count, n)]
		if len(got) != len(want) {
			t.Fatalf("%s: %d venues, want %d", name, len(got), len(want))
		}
		for i := range got {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("%s: venue %d differs (order by id):\n got  %+v\n want %+v", name, i, got[i], want[i])
			}
		}
	}
	check("default limit 20", 0, 0, 0, 20)
	check("limit 7 offset 3", 3, 7, 3, 7)
	check("limit over the maximum is 100", 0, 1000, 0, 100)
	check("negative limit is the default", 0, -1, 0, 20)
	check("negative offset is 0", -3, 5, 0, 5)
	check("last page", 100, 20, 100, 20)
	check("past the end", 500, 20, 500, 20)
}
