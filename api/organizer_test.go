package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api"
)

// TestEditPricesAfterPublication: once an event is published its details, time and
// prices may still change, and new holds take the new prices; its venue, currency,
// category codes and buyer limit may not (409, nothing saved).
func TestEditPricesAfterPublication(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := "Bearer " + adminToken
	hall := &ticketview.Venue{ID: "reprice-hall", Name: "Reprice Hall", City: "Goa", Sections: []ticketview.SectionLayout{
		{ID: "stalls", Name: "Stalls", Kind: ticketview.Seated, Rows: ticketview.GridRows(2, 5, func(r int) string {
			return []string{"GOLD", "STD"}[r]
		})},
		{ID: "lawn", Name: "Lawn", Kind: ticketview.GeneralAdmission, Capacity: 50, Category: "STD"},
	}}
	other := &ticketview.Venue{ID: "other-hall", Name: "Other Hall", City: "Goa", Sections: hall.Sections}
	for _, v := range []*ticketview.Venue{hall, other} {
		if err := e.db.CreateVenue(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	cats := []ticketview.PriceCategory{{Code: "GOLD", Name: "Gold", Price: 5000, Floor: 4000, Ceiling: 9000}, {Code: "STD", Name: "Standard", Price: 1000}}
	starts := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	var ev ticketview.Event
	e.ok(req{Method: "POST", Path: "/api/v1/organizer/events", Admin: admin, Body: map[string]any{"id": "sunset-gig", "name": "Sunset Gig",
		"venue_id": hall.ID, "currency": "INR", "starts_at": starts, "categories": cats, "buyer_limit": 8}}, http.StatusCreated, &ev)
	O := "/api/v1/organizer/events/" + ev.ID
	e.ok(req{Method: "POST", Path: O + "/publish", Admin: admin}, http.StatusOK, &ev)
	if ev.PublishedAt.IsZero() {
		t.Fatalf("published event %+v", ev)
	}

	// Details, time and prices change.
	newCats := []ticketview.PriceCategory{{Code: "STD", Name: "General", Price: 1200}, {Code: "GOLD", Name: "Gold", Price: 6000, Floor: 5000, Ceiling: 9000}}
	later := starts.Add(time.Hour)
	var patched ticketview.Event
	e.ok(req{Method: "PATCH", Path: O, Admin: admin, Body: map[string]any{"name": "Sunset Gig (late)", "starts_at": later,
		"location": "North gate", "categories": newCats, "venue_id": hall.ID, "currency": "inr", "buyer_limit": 8}}, http.StatusOK, &patched)
	if patched.Name != "Sunset Gig (late)" || !patched.StartsAt.Equal(later) || patched.Location != "North gate" ||
		len(patched.Categories) != 2 || patched.Categories[0].Price != 1200 || patched.Categories[1].Floor != 5000 ||
		patched.Status != ticketview.EventOnSale || patched.Currency != "INR" || patched.BuyerLimit != 8 {
		t.Fatalf("event after a price change %+v", patched)
	}
	// The sections activate after the change: they sell at the new prices.
	var h ticketview.Hold
	e.ok(req{Method: "POST", Path: "/api/v1/events/" + ev.ID + "/sections/lawn/holds", Buyer: "kim", Body: api.HoldRequest{Quantity: 2}},
		http.StatusCreated, &h)
	if h.Total.Amount != 2400 || h.Total.Currency != "INR" {
		t.Fatalf("hold after the price change %+v", h)
	}

	// The fixed terms.
	for name, body := range map[string]map[string]any{
		"venue":            {"venue_id": other.ID},
		"currency":         {"currency": "USD"},
		"buyer limit":      {"buyer_limit": 2},
		"a category added": {"categories": append(newCats, ticketview.PriceCategory{Code: "VIP", Name: "VIP", Price: 1})},
		"a category gone":  {"categories": newCats[:1]},
		"a code renamed":   {"categories": []ticketview.PriceCategory{{Code: "STD", Price: 1}, {Code: "GOLDEN", Price: 1}}},
		"with a price":     {"categories": newCats, "currency": "EUR"},
	} {
		t.Run(name, func(t *testing.T) {
			e.t = t
			e.fails(req{Method: "PATCH", Path: O, Admin: admin, Body: body}, http.StatusConflict, ticketview.ECONFLICT)
		})
	}
	e.t = t
	// A bad price is still invalid (400), not a conflict.
	e.fails(req{Method: "PATCH", Path: O, Admin: admin, Body: map[string]any{"categories": []ticketview.PriceCategory{
		{Code: "STD", Price: 1200}, {Code: "GOLD", Price: 100, Floor: 5000, Ceiling: 9000}}}}, http.StatusBadRequest, ticketview.EINVALID)
	var now ticketview.Event
	e.ok(req{Path: O, Admin: admin}, http.StatusOK, &now)
	if now.VenueID != hall.ID || now.Currency != "INR" || now.BuyerLimit != 8 || len(now.Categories) != 2 ||
		now.Categories[0].Price != 1200 || now.Categories[1].Price != 6000 || now.Name != "Sunset Gig (late)" {
		t.Fatalf("event after refused edits %+v", now)
	}

	// Unpublished, the terms stay fixed; prices may still change. Cancelled, nothing may.
	e.ok(req{Method: "POST", Path: O + "/unpublish", Admin: admin}, http.StatusOK, nil)
	e.fails(req{Method: "PATCH", Path: O, Admin: admin, Body: map[string]any{"currency": "USD"}}, http.StatusConflict, ticketview.ECONFLICT)
	e.ok(req{Method: "PATCH", Path: O, Admin: admin, Body: map[string]any{"categories": cats}}, http.StatusOK, &patched)
	if patched.Categories[0].Code != "GOLD" || patched.Categories[0].Price != 5000 {
		t.Fatalf("event after a price change while unpublished %+v", patched)
	}
	e.ok(req{Method: "POST", Path: O + "/cancel", Admin: admin}, http.StatusOK, nil)
	e.fails(req{Method: "PATCH", Path: O, Admin: admin, Body: map[string]any{"categories": newCats}}, http.StatusConflict, ticketview.ECONFLICT)
}

// TestVenueFromGrid: a seated section may be given as a grid (a stadium's seats do not fit
// in a request body as a list); bad grids are 400 and create nothing.
func TestVenueFromGrid(t *testing.T) {
	e := newEnv(t)
	admin := "Bearer " + adminToken
	var v ticketview.Venue
	e.ok(req{Method: "POST", Path: "/api/v1/venues", Admin: admin, Body: map[string]any{"id": "grid-stadium", "name": "Grid Stadium", "city": "Pune",
		"sections": []map[string]any{
			{"id": "north", "name": "North", "kind": "seated", "grid": map[string]any{"rows": 250, "per_row": 200, "category": "STD"}},
			{"id": "field", "name": "Field", "kind": "general_admission", "capacity": 5000, "category": "STD"},
		}}}, http.StatusCreated, &v)
	if len(v.Sections) != 2 || len(v.Sections[0].Rows) != 250 || len(v.Sections[0].Rows[249].Seats) != 200 ||
		v.Sections[0].Rows[0].Seats[0].Label != "A-1" || v.Sections[0].Rows[249].Seats[199].Category != "STD" {
		t.Fatalf("venue from a grid: %d sections", len(v.Sections))
	}
	bad := map[string]map[string]any{
		"grid and rows": {"id": "s", "name": "S", "kind": "seated", "grid": map[string]any{"rows": 2, "per_row": 2, "category": "A"},
			"rows": []map[string]any{{"label": "A", "seats": []map[string]any{{"label": "A-1", "number": 1, "category": "A"}}}}},
		"no rows":     {"id": "s", "name": "S", "kind": "seated", "grid": map[string]any{"rows": 0, "per_row": 2, "category": "A"}},
		"too big":     {"id": "s", "name": "S", "kind": "seated", "grid": map[string]any{"rows": 1000, "per_row": 1000, "category": "A"}},
		"no category": {"id": "s", "name": "S", "kind": "seated", "grid": map[string]any{"rows": 2, "per_row": 2}},
		"unknown key": {"id": "s", "name": "S", "kind": "seated", "grid": map[string]any{"rows": 2, "per_row": 2, "category": "A", "cols": 3}},
	}
	for name, sec := range bad {
		e.fails(req{Method: "POST", Path: "/api/v1/venues", Admin: admin, Body: map[string]any{"id": "bad-" + strings.ReplaceAll(name, " ", "-"),
			"name": "Bad", "city": "Pune", "sections": []map[string]any{sec}}}, http.StatusBadRequest, ticketview.EINVALID)
		e.fails(req{Method: "GET", Path: "/api/v1/venues/bad-" + strings.ReplaceAll(name, " ", "-"), Admin: admin}, http.StatusNotFound, ticketview.ENOTFOUND)
	}
}
