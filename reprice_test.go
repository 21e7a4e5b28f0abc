package ticketview_test

import (
	"strings"
	"testing"
	"time"

	tv "github.com/ticketview/ticketview"
)

// repriced is testCats with new prices for VIP (fixed) and DYN (dynamic), in another
// order: the order of the categories does not matter, their codes do.
func repriced() []tv.PriceCategory {
	return []tv.PriceCategory{
		{Code: "GA", Name: "Floor", Price: 1500},
		{Code: "DYN", Name: "Dynamic", Price: 3000, Floor: 2000, Ceiling: 6000},
		{Code: "STD", Name: "Standard", Price: 200000},
		{Code: "VIP", Name: "VIP Gold", Price: 650000},
	}
}

// TestSetCategoriesPricesNewHoldsOnly: a hold made before a price change keeps its
// prices, through its extension and confirmation; a hold made after is priced with the
// new categories; the change makes no journal event.
func TestSetCategoriesPricesNewHoldsOnly(t *testing.T) {
	s := patternSection(t, "vvvvv", "ddddd")
	before := mustHold(t, s, tv.HoldRequest{Token: "before", Owner: "al", Seats: []string{"A-1", "B-1"}}, t0)
	if before.Items[0].UnitPrice != 500000 || before.Items[1].UnitPrice != 1000 || before.Total.Amount != 501000 {
		t.Fatalf("hold before the change %+v", before)
	}
	s.TakeEvents()
	seq := s.Seq()
	if err := s.SetCategories(repriced()); err != nil {
		t.Fatal(err)
	}
	unchanged(t, s, seq)
	if p := s.Price("VIP"); p != 650000 {
		t.Fatalf("VIP price after the change: %d", p)
	}
	// DYN: 1 of 5 held, demand 0.1: 2000 + (3000-2000)*100/500 = 2200.
	if p := s.Price("DYN"); p != 2200 {
		t.Fatalf("DYN price after the change: %d", p)
	}
	after := mustHold(t, s, tv.HoldRequest{Token: "after", Owner: "bo", Seats: []string{"A-2", "B-2"}}, t0)
	if after.Items[0].UnitPrice != 650000 || after.Items[1].UnitPrice != 2200 || after.Total.Amount != 652200 {
		t.Fatalf("hold after the change %+v", after)
	}
	got, err := s.FindHold("before", "al")
	if err != nil || got.Total != before.Total || got.Items[0].UnitPrice != 500000 {
		t.Fatalf("hold before the change, now %+v, %v", got, err)
	}
	if b := mustConfirm(t, s, "before", "al", "b1", t0); b.Total != before.Total {
		t.Fatalf("booking of the hold before the change %+v, want total %+v", b, before.Total)
	}
	for _, c := range s.Availability(false).Categories {
		if c.Code == "VIP" && c.Price != 650000 {
			t.Fatalf("availability %+v", c)
		}
	}
	checkInv(t, s)
}

// TestSetCategoriesGA: a GA section's new holds take the new unit price.
func TestSetCategoriesGA(t *testing.T) {
	s := gaSection(t, 100)
	first := mustHold(t, s, tv.HoldRequest{Token: "a", Owner: "al", Quantity: 2}, t0)
	cats := repriced()
	cats[0].Price = 1800 // GA
	if err := s.SetCategories(cats); err != nil {
		t.Fatal(err)
	}
	second := mustHold(t, s, tv.HoldRequest{Token: "b", Owner: "bo", Quantity: 3}, t0)
	if first.Total.Amount != 3000 || second.Items[0].UnitPrice != 1800 || second.Total.Amount != 5400 {
		t.Fatalf("holds before %+v and after %+v the change", first, second)
	}
	if got, err := s.FindHold("a", "al"); err != nil || got.Total.Amount != 3000 {
		t.Fatalf("hold before the change, now %+v, %v", got, err)
	}
}

// TestSetCategoriesRefusesOtherCodes: the set of codes is fixed and each category is
// validated; a refused change changes nothing.
func TestSetCategoriesRefusesOtherCodes(t *testing.T) {
	s := patternSection(t, "vvvvv", "ddddd")
	bad := map[string][]tv.PriceCategory{
		"none":            nil,
		"one missing":     repriced()[:3],
		"one added":       append(repriced(), tv.PriceCategory{Code: "NEW", Price: 1}),
		"one renamed":     append(repriced()[:3], tv.PriceCategory{Code: "VVIP", Price: 1}),
		"one twice":       append(repriced()[:3], repriced()[2]),
		"negative price":  append(repriced()[:3], tv.PriceCategory{Code: "VIP", Price: -1}),
		"floor over base": append(repriced()[:3], tv.PriceCategory{Code: "VIP", Price: 10, Floor: 20, Ceiling: 30}),
		"ceiling only":    append(repriced()[:3], tv.PriceCategory{Code: "VIP", Price: 10, Ceiling: 30}),
	}
	for name, cats := range bad {
		t.Run(name, func(t *testing.T) {
			wantErr(t, s.SetCategories(cats), tv.EINVALID)
			if p := s.Price("VIP"); p != 500000 {
				t.Fatalf("VIP price after a refused change: %d", p)
			}
		})
	}
}

// TestRecoveryAfterSetCategories: a section rebuilt after a price change, from a snapshot
// and from its journal, on the new categories, equals the original: holds and sales of
// either side of the change keep their prices, and new holds are priced alike.
func TestRecoveryAfterSetCategories(t *testing.T) {
	s := patternSection(t, "vvvvv", "ddddd")
	mustHold(t, s, tv.HoldRequest{Token: "old", Owner: "al", Seats: []string{"A-1", "B-1"}}, t0)
	mustHold(t, s, tv.HoldRequest{Token: "sold", Owner: "cy", Seats: []string{"B-5"}}, t0)
	mustConfirm(t, s, "sold", "cy", "b-old", t0)
	if err := s.SetCategories(repriced()); err != nil {
		t.Fatal(err)
	}
	mustHold(t, s, tv.HoldRequest{Token: "new", Owner: "bo", Seats: []string{"A-2", "B-2"}}, t0)
	evs := s.TakeEvents()
	snap := s.Snapshot(t0)

	rebuilt := func(t *testing.T) *tv.Section {
		t.Helper()
		r := patternSection(t, "vvvvv", "ddddd")
		if err := r.SetCategories(repriced()); err != nil {
			t.Fatal(err)
		}
		return r
	}
	fromJournal := replayInto(t, rebuilt(t), evs)
	fromSnap := rebuilt(t)
	if err := fromSnap.Restore(snap); err != nil {
		t.Fatal(err)
	}
	dyn := s.Price("DYN")
	for name, r := range map[string]*tv.Section{"journal": fromJournal, "snapshot": fromSnap} {
		sameAvailability(t, name, s, r)
		checkInv(t, r)
		for _, h := range []struct {
			token, owner string
			total        int64
		}{{"old", "al", 500000 + 1000}, {"new", "bo", 650000 + 2600}} {
			if got, err := r.FindHold(h.token, h.owner); err != nil || got.Total.Amount != h.total {
				t.Fatalf("%s: hold %s %+v, %v; want total %d", name, h.token, got, err, h.total)
			}
		}
		if b, err := r.FindBooking("b-old", ""); err != nil || b.Total.Amount != 1200 {
			t.Fatalf("%s: booking before the change %+v, %v", name, b, err)
		}
		next := mustHold(t, r, tv.HoldRequest{Token: "next", Owner: "di", Seats: []string{"A-3", "B-3"}}, t0)
		if next.Total.Amount != 650000+dyn {
			t.Fatalf("%s: next hold %+v, want total %d", name, next, 650000+dyn)
		}
	}
}

// TestCheckEditAfterPublication: once published, an event's details, time and prices may
// change; its venue, currency, category codes and buyer limit may not.
func TestCheckEditAfterPublication(t *testing.T) {
	base := func() *tv.Event {
		return &tv.Event{ID: "gala", Name: "Gala", VenueID: "hall", Currency: "INR", StartsAt: t0.Add(48 * time.Hour),
			Status: tv.EventDraft, Categories: repriced()}
	}
	edits := map[string]struct {
		edit  func(e *tv.Event)
		fixed bool
	}{
		"name":           {func(e *tv.Event) { e.Name, e.Description = "Gala II", "new" }, false},
		"time":           {func(e *tv.Event) { e.StartsAt = e.StartsAt.Add(time.Hour) }, false},
		"location":       {func(e *tv.Event) { e.Location = "Gate 2" }, false},
		"prices":         {func(e *tv.Event) { e.Categories[0].Price, e.Categories[3].Name = 9, "Gold" }, false},
		"order":          {func(e *tv.Event) { e.Categories[0], e.Categories[1] = e.Categories[1], e.Categories[0] }, false},
		"default limit":  {func(e *tv.Event) { e.BuyerLimit = tv.DefaultBuyerLimit }, false},
		"venue":          {func(e *tv.Event) { e.VenueID = "arena" }, true},
		"currency":       {func(e *tv.Event) { e.Currency = "USD" }, true},
		"buyer limit":    {func(e *tv.Event) { e.BuyerLimit = 2 }, true},
		"code renamed":   {func(e *tv.Event) { e.Categories[0].Code = "PIT" }, true},
		"category added": {func(e *tv.Event) { e.Categories = append(e.Categories, tv.PriceCategory{Code: "NEW"}) }, true},
		"category gone":  {func(e *tv.Event) { e.Categories = e.Categories[1:] }, true},
	}
	for name, c := range edits {
		t.Run(name, func(t *testing.T) {
			draft := base()
			next := base()
			c.edit(next)
			wantErr(t, draft.CheckEdit(next), "") // a draft never published: anything goes
			published := base()
			if err := published.Publish(t0); err != nil {
				t.Fatal(err)
			}
			next.PublishedAt = published.PublishedAt
			want := ""
			if c.fixed {
				want = tv.ECONFLICT
			}
			wantErr(t, published.CheckEdit(next), want)
			if err := published.Unpublish(t0); err != nil {
				t.Fatal(err)
			}
			wantErr(t, published.CheckEdit(next), want) // unpublished: still fixed
		})
	}
}

// TestAgeBandAndBirthYear: the buyer demographics of the profile (user.go).
func TestAgeBandAndBirthYear(t *testing.T) {
	now := time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)
	for year, want := range map[int]string{0: "", 2017: "under-18", 2013: "under-18", 2012: "18-24", 2006: "18-24",
		2005: "25-34", 1996: "25-34", 1995: "35-44", 1986: "35-44", 1985: "45-54", 1976: "45-54", 1975: "55-64",
		1966: "55-64", 1965: "65+", 1910: "65+"} {
		u := tv.User{BirthYear: year}
		if got := u.AgeBand(now); got != want {
			t.Errorf("AgeBand of a user born in %d, in 2030: %q, want %q", year, got, want)
		}
	}
	for year, want := range map[int]string{1910: "", 2017: "", 1990: "", 1909: tv.EINVALID, 2018: tv.EINVALID, 0: tv.EINVALID, -5: tv.EINVALID} {
		if err := tv.CheckBirthYear(year, now); tv.ErrorCode(err) != want && !(want == "" && err == nil) {
			t.Errorf("CheckBirthYear(%d) in 2030: %v, want %q", year, err, want)
		}
	}
	u := tv.User{ID: "u1", Email: "u1@example.com", Role: tv.RoleCustomer, City: "Pune", BirthYear: 1990}
	wantErr(t, u.Validate(), "")
	u.City = strings.Repeat("é", tv.MaxCityLen)
	wantErr(t, u.Validate(), "")
	u.City += "x"
	wantErr(t, u.Validate(), tv.EINVALID)
	u.City = "Pune\n"
	wantErr(t, u.Validate(), tv.EINVALID)
	u.City, u.BirthYear = "Pune", -1
	wantErr(t, u.Validate(), tv.EINVALID)
}
