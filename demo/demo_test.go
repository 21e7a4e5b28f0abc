package demo_test

import (
	"context"
	"sync"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/demo"
)

// memStore is the smallest EventStore and VenueStore that counts creations.
type memStore struct {
	mu           sync.Mutex
	events       map[string]ticketview.Event
	venues       map[string]ticketview.Venue
	eventCreates int
	venueCreates int
	failNotFound bool // FindEvent answers with a non-not_found error
}

func newMemStore() *memStore {
	return &memStore{events: map[string]ticketview.Event{}, venues: map[string]ticketview.Venue{}}
}

func (m *memStore) CreateEvent(_ context.Context, e *ticketview.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.events[e.ID]; ok {
		return ticketview.Errorf(ticketview.ECONFLICT, "event exists")
	}
	m.events[e.ID] = *e
	m.eventCreates++
	return nil
}

func (m *memStore) FindEvent(_ context.Context, id string) (*ticketview.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failNotFound {
		return nil, ticketview.Errorf(ticketview.EUNAVAILABLE, "down")
	}
	e, ok := m.events[id]
	if !ok {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "no event")
	}
	return &e, nil
}

func (m *memStore) ListEvents(context.Context, ticketview.EventFilter) ([]*ticketview.Event, int, error) {
	return nil, 0, nil
}

func (m *memStore) UpdateEvent(context.Context, string, func(*ticketview.Event) error) (*ticketview.Event, error) {
	return nil, ticketview.Errorf(ticketview.EINTERNAL, "not implemented")
}

func (m *memStore) CreateVenue(_ context.Context, v *ticketview.Venue) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.venues[v.ID]; ok {
		return ticketview.Errorf(ticketview.ECONFLICT, "venue exists")
	}
	m.venues[v.ID] = *v
	m.venueCreates++
	return nil
}

func (m *memStore) FindVenue(_ context.Context, id string) (*ticketview.Venue, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.venues[id]
	if !ok {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "no venue")
	}
	return &v, nil
}

func (m *memStore) ListVenues(context.Context, int, int) ([]*ticketview.Venue, int, error) {
	return nil, 0, nil
}

func TestSeedIsIdempotent(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	st := newMemStore()
	for i := 0; i < 3; i++ {
		if err := demo.Seed(ctx, st, st, now.Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
	}
	if st.eventCreates != 1 || st.venueCreates != 1 {
		t.Fatalf("created %d events and %d venues, want 1 and 1", st.eventCreates, st.venueCreates)
	}
	e, err := st.FindEvent(ctx, demo.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Validate(); err != nil {
		t.Fatalf("demo event invalid: %v", err)
	}
	if err := e.Sellable(now); err != nil {
		t.Fatalf("demo event not sellable: %v", err)
	}
	if d := e.StartsAt.Sub(now); d < 59*24*time.Hour || d > 61*24*time.Hour {
		t.Fatalf("event starts %s after now, want about 60 days", d)
	}
	if e.Currency != "INR" || e.Limit() != 6 {
		t.Fatalf("currency %q, limit %d", e.Currency, e.Limit())
	}
	vip, ok := e.Category(demo.VIP)
	if !ok || vip.Price != 500000 || vip.Floor != 400000 || vip.Ceiling != 900000 {
		t.Fatalf("VIP category %+v", vip)
	}
	gen, ok := e.Category(demo.General)
	if !ok || gen.Price != 150000 || gen.Floor != 0 || gen.Ceiling != 0 {
		t.Fatalf("General category %+v", gen)
	}
}

func TestSeedKeepsAnExistingVenue(t *testing.T) {
	st := newMemStore()
	v := demo.Venue()
	if err := st.CreateVenue(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	if err := demo.Seed(context.Background(), st, st, time.Now()); err != nil {
		t.Fatal(err)
	}
	if st.venueCreates != 1 || st.eventCreates != 1 {
		t.Fatalf("created %d venues and %d events", st.venueCreates, st.eventCreates)
	}
}

func TestSeedReportsStoreErrors(t *testing.T) {
	st := newMemStore()
	st.failNotFound = true
	err := demo.Seed(context.Background(), st, st, time.Now())
	if ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		t.Fatalf("err = %v, want unavailable", err)
	}
}

func TestVenueShape(t *testing.T) {
	v := demo.Venue()
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		kind  ticketview.SectionKind
		seats int
	}{
		demo.FloorVIP: {ticketview.Seated, 300},
		demo.Balcony:  {ticketview.Seated, 2400},
		demo.Standing: {ticketview.GeneralAdmission, 3000},
	}
	total := 0
	for id, w := range want {
		s, ok := v.Section(id)
		if !ok {
			t.Fatalf("no section %s", id)
		}
		if s.Kind != w.kind || s.SeatCount() != w.seats {
			t.Fatalf("section %s: kind %s, %d seats", id, s.Kind, s.SeatCount())
		}
		total += s.SeatCount()
	}
	if total < 3000 {
		t.Fatalf("only %d places", total)
	}
	e := demo.Event(time.Now())
	// Every seat's category must be one the event sells: a section would refuse it.
	for _, s := range v.Sections {
		cfg := ticketview.SectionConfig{ID: ticketview.SectionID{Event: e.ID, Section: s.ID}, Layout: &s,
			Categories: e.Categories, Currency: e.Currency}
		if _, err := ticketview.NewSection(cfg); err != nil {
			t.Fatalf("section %s: %v", s.ID, err)
		}
	}
	balcony, _ := v.Section(demo.Balcony)
	acc := 0
	for _, r := range balcony.Rows {
		for _, seat := range r.Seats {
			if seat.Accessible {
				if r.Label != "A" {
					t.Fatalf("accessible seat %s off the front row", seat.Label)
				}
				acc++
			}
		}
	}
	if acc == 0 {
		t.Fatal("no accessible seats")
	}
}
