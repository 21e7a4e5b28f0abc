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

// TestCatalog checks a ticketview.EventStore and ticketview.VenueStore against the
// contract. open is called once per subtest and must return stores with an empty catalog.
// The contract:
//
//   - Create validates (EINVALID, nothing stored) and refuses a taken id with ECONFLICT,
//     leaving the stored record as it was; Find returns what was created (times may come
//     back in another location but must be equal instants) or ENOTFOUND.
//   - ListEvents filters by stored Status, by Text (case-insensitive substring of name,
//     description or location), by From (inclusive) and To (exclusive) on StartsAt; orders
//     by StartsAt then ID; pages by Offset and Limit (0 means 20, at most 100); and
//     returns the number of matches before paging.
//   - UpdateEvent is atomic: fn's error is returned and nothing is saved; an invalid result
//     is refused with EINVALID and not saved; a missing event is ENOTFOUND; concurrent
//     updates are not lost.
func TestCatalog(t *testing.T, open func(t *testing.T) (ticketview.EventStore, ticketview.VenueStore)) {
	t.Run("Venues", func(t *testing.T) { _, vs := open(t); testVenues(t, vs) })
	t.Run("Events", func(t *testing.T) { es, _ := open(t); testEvents(t, es) })
	t.Run("ListEvents", func(t *testing.T) { es, _ := open(t); testListEvents(t, es) })
	t.Run("UpdateEvent", func(t *testing.T) { es, _ := open(t); testUpdateEvent(t, es) })
	t.Run("ConcurrentUpdates", func(t *testing.T) { es, _ := open(t); testConcurrentUpdates(t, es) })
}

// utcEvent returns a copy of e with its times in UTC, for comparisons.
func utcEvent(e *ticketview.Event) ticketview.Event {
	c := *e
	c.StartsAt, c.CreatedAt = c.StartsAt.UTC(), c.CreatedAt.UTC()
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

	_, err = es.FindEvent(ctx, "no-such-gig")
	wantCode(t, "missing event", err, ticketview.ENOTFOUND)
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
	} {
		bad := SampleEvent("gig-bad", "hall-1", BaseTime)
		mutate(bad)
		wantCode(t, "invalid event: "+name, es.CreateEvent(ctx, bad), ticketview.EINVALID)
	}
	_, err = es.FindEvent(ctx, "gig-bad")
	wantCode(t, "invalid event stored?", err, ticketview.ENOTFOUND)
	list, total, err := es.ListEvents(ctx, ticketview.EventFilter{})
	if err != nil || total != 1 || len(list) != 1 {
		t.Fatalf("after invalid creates: %d of %d listed, %v; want only gig-1", len(list), total, err)
	}
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

	called := false
	_, err = es.UpdateEvent(ctx, "no-such-gig", func(*ticketview.Event) error { called = true; return nil })
	wantCode(t, "update of a missing event", err, ticketview.ENOTFOUND)
	if called {
		t.Fatal("fn was called for a missing event")
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
