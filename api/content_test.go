package api_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api"
	"github.com/ticketview/ticketview/demo"
	"github.com/ticketview/ticketview/internal/testutil"
)

const bearer = "Bearer " + adminToken

func TestSeatMapRoutes(t *testing.T) {
	e := newEnv(t)
	path := "/api/v1/venues/" + demo.VenueID + "/map"
	e.fails(req{Path: path}, http.StatusNotFound, ticketview.ENOTFOUND)
	e.fails(req{Path: "/api/v1/venues/nowhere/map"}, http.StatusNotFound, ticketview.ENOTFOUND)

	m := map[string]any{"width": 200, "height": 120,
		"stage": map[string]any{"label": "Stage", "polygon": []map[string]float64{{"x": 0, "y": 0}, {"x": 200, "y": 0}, {"x": 100, "y": 15}}},
		"sections": []map[string]any{{"section_id": demo.FloorVIP,
			"shape":    map[string]any{"label": "Floor VIP", "polygon": []map[string]float64{{"x": 10, "y": 20}, {"x": 190, "y": 20}, {"x": 190, "y": 60}}},
			"label_at": map[string]float64{"x": 100, "y": 40},
			"seats":    []map[string]any{{"label": "A-1", "row": "A", "at": map[string]float64{"x": 11, "y": 21}}}}}}
	admin := "/api/v1/venues/" + demo.VenueID + "/map"
	e.fails(req{Method: "PUT", Path: admin, Body: m}, http.StatusUnauthorized, ticketview.EUNAUTHORIZED)
	var got ticketview.SeatMap
	e.ok(req{Method: "PUT", Path: admin, Admin: bearer, Body: m}, http.StatusOK, &got)
	e.ok(req{Method: "PUT", Path: admin, Admin: bearer, Body: m}, http.StatusOK, &got)
	if got.Version != 2 || got.VenueID != demo.VenueID {
		t.Fatalf("second put: %+v", got)
	}
	var read ticketview.SeatMap
	e.ok(req{Path: path}, http.StatusOK, &read)
	if read.Version != 2 || len(read.Sections) != 1 || len(read.Sections[0].Seats) != 1 || read.Sections[0].Seats[0].At.X != 11 {
		t.Fatalf("read back: %+v", read)
	}

	for name, body := range map[string]any{
		"unknown section": map[string]any{"width": 1, "height": 1, "sections": []map[string]any{{"section_id": "nope"}}},
		"no size":         map[string]any{"sections": []map[string]any{}},
		"other venue":     map[string]any{"venue_id": "elsewhere", "width": 1, "height": 1},
		"two-point shape": map[string]any{"width": 1, "height": 1, "sections": []map[string]any{{"section_id": demo.FloorVIP,
			"shape": map[string]any{"polygon": []map[string]float64{{"x": 0, "y": 0}, {"x": 1, "y": 1}}}}}},
		"unknown field": map[string]any{"width": 1, "height": 1, "colour": "red"},
		"wrong type":    map[string]any{"width": "wide", "height": 1},
	} {
		t.Run(name, func(t *testing.T) {
			e.t = t
			e.fails(req{Method: "PUT", Path: admin, Admin: bearer, Body: body}, http.StatusBadRequest, ticketview.EINVALID)
		})
	}
}

func TestEventDetailsRoutes(t *testing.T) {
	e := newEnv(t)
	path := "/api/v1/events/" + demo.EventID + "/details"
	e.fails(req{Path: path}, http.StatusNotFound, ticketview.ENOTFOUND)
	admin := "/api/v1/organizer/events/" + demo.EventID + "/details"
	body := map[string]any{"long_description": "Three nights of jazz by the harbour.",
		"images":     []map[string]any{{"url": "https://img.example/1.jpg", "alt": "the stage", "width": 800, "height": 600}},
		"tags":       []string{"jazz", "outdoor"},
		"performers": []map[string]string{{"name": "The Harbour Band", "role": "headliner"}}}
	e.ok(req{Method: "PUT", Path: admin, Admin: bearer, Body: body}, http.StatusOK, nil)
	var d ticketview.EventDetails
	e.ok(req{Path: path}, http.StatusOK, &d)
	if d.EventID != demo.EventID || len(d.Tags) != 2 || d.Performers[0].Name != "The Harbour Band" || d.UpdatedAt.IsZero() {
		t.Fatalf("details: %+v", d)
	}
	e.fails(req{Method: "PUT", Path: admin, Admin: bearer, Body: map[string]any{"performers": []map[string]string{{"role": "x"}}}},
		http.StatusBadRequest, ticketview.EINVALID)
	e.fails(req{Method: "PUT", Path: "/api/v1/organizer/events/nope/details", Admin: bearer, Body: body}, http.StatusNotFound, ticketview.ENOTFOUND)
}

// Every seat-status change reaches the audit log, and the admin can filter it.
func TestAuditTrail(t *testing.T) {
	e := newEnv(t)
	sec := "/api/v1/events/" + demo.EventID + "/sections/" + demo.FloorVIP
	var h ticketview.Hold
	e.ok(req{Method: "POST", Path: sec + "/holds", Buyer: "ann", Body: map[string]any{"seats": []string{"A-1", "A-2"}}}, http.StatusCreated, &h)
	e.ok(req{Method: "POST", Path: sec + "/holds/" + h.Token + "/confirm", Buyer: "ann", Body: map[string]any{"payment_ref": "p1"}}, http.StatusCreated, nil)
	var h2 ticketview.Hold
	e.ok(req{Method: "POST", Path: sec + "/holds", Buyer: "bob", Body: map[string]any{"seats": []string{"B-1"}}}, http.StatusCreated, &h2)
	e.ok(req{Method: "DELETE", Path: sec + "/holds/" + h2.Token, Buyer: "bob"}, http.StatusNoContent, nil)

	audit := "/api/v1/organizer/events/" + demo.EventID + "/audit"
	var trail api.AuditTrail
	testutil.CheckFor(t, 5*time.Second, func() error {
		trail = api.AuditTrail{}
		e.ok(req{Path: audit, Admin: bearer}, http.StatusOK, &trail)
		if len(trail.Entries) != 4 {
			return fmt.Errorf("%d entries, want 4", len(trail.Entries))
		}
		return nil
	})
	want := []string{"hold_placed", "hold_confirmed", "hold_placed", "hold_released"}
	for i, en := range trail.Entries {
		if en.Type != want[i] || en.Seq != uint64(i+1) || en.Section != demo.FloorVIP {
			t.Fatalf("entry %d: %+v, want type %v seq %d", i, en, want[i], i+1)
		}
	}
	e.ok(req{Path: audit + "?seat=A-2", Admin: bearer}, http.StatusOK, &trail)
	if len(trail.Entries) != 2 || trail.Entries[0].Owner != "ann" {
		t.Fatalf("seat A-2: %+v", trail.Entries)
	}
	e.ok(req{Path: audit + "?owner=bob&limit=1", Admin: bearer}, http.StatusOK, &trail)
	if len(trail.Entries) != 1 || trail.Entries[0].Seats[0] != "B-1" {
		t.Fatalf("bob, limit 1: %+v", trail.Entries)
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?from=yesterday", "?to=2026-13-01T00:00:00Z"} {
		e.fails(req{Path: audit + q, Admin: bearer}, http.StatusBadRequest, ticketview.EINVALID)
	}
	e.fails(req{Path: audit}, http.StatusUnauthorized, ticketview.EUNAUTHORIZED)
}
