package api_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api"
)

// brokenStore is an EventStore and VenueStore whose FindEvent fails in the way the event
// id asks for.
type brokenStore struct{}

func (brokenStore) CreateEvent(context.Context, *ticketview.Event) error { return nil }
func (brokenStore) ListEvents(context.Context, ticketview.EventFilter) ([]*ticketview.Event, int, error) {
	return nil, 0, ticketview.Errorf(ticketview.ERATELIMITED, "slow down")
}
func (brokenStore) UpdateEvent(context.Context, string, func(*ticketview.Event) error) (*ticketview.Event, error) {
	return nil, nil
}
func (brokenStore) ListVenues(context.Context, int, int) ([]*ticketview.Venue, int, error) {
	return nil, 0, nil
}
func (brokenStore) CreateVenue(context.Context, *ticketview.Venue) error { return nil }
func (brokenStore) FindVenue(context.Context, string) (*ticketview.Venue, error) {
	return nil, ticketview.Errorf(ticketview.ENOTFOUND, "no venue")
}

func (brokenStore) FindEvent(ctx context.Context, id string) (*ticketview.Event, error) {
	switch id {
	case "panic":
		panic("store exploded")
	case "plain-error":
		return nil, errors.New("disk on fire at /secret/path")
	case "internal":
		return nil, ticketview.Errorf(ticketview.EINTERNAL, "invariant broken at /secret/path")
	case "unavailable":
		return nil, ticketview.Errorf(ticketview.EUNAVAILABLE, "database locked")
	case "deadline":
		return nil, context.DeadlineExceeded
	case "dangling-venue":
		return &ticketview.Event{ID: id, VenueID: "gone"}, nil
	}
	return nil, ticketview.Errorf(ticketview.ENOTFOUND, "no event")
}

// TestErrorMapping checks the statuses of errors that the real stack rarely makes:
// panics, plain errors and internal errors (message hidden), outages (503 with
// Retry-After), rate limits (429).
func TestErrorMapping(t *testing.T) {
	srv := api.NewServer(api.Config{Events: brokenStore{}, Venues: brokenStore{}})
	cases := []struct {
		path       string
		status     int
		code       string
		retryAfter bool
	}{
		{"/api/v1/events/panic", 500, ticketview.EINTERNAL, false},
		{"/api/v1/events/plain-error", 500, ticketview.EINTERNAL, false},
		{"/api/v1/events/internal", 500, ticketview.EINTERNAL, false},
		{"/api/v1/events/dangling-venue", 500, ticketview.EINTERNAL, false},
		{"/api/v1/events/unavailable", 503, ticketview.EUNAVAILABLE, true},
		{"/api/v1/events/deadline", 503, ticketview.EUNAVAILABLE, true},
		{"/api/v1/events", 429, ticketview.ERATELIMITED, true},
		{"/api/v1/events/missing", 404, ticketview.ENOTFOUND, false},
	}
	for _, tc := range cases {
		res, err := srv.App().Test(httptest.NewRequest("GET", tc.path, nil), -1)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		r := req{Method: "GET", Path: tc.path}
		d := checkError(t, r, resp{Status: res.StatusCode, Header: res.Header, Body: body}, tc.status, tc.code)
		if tc.status == http.StatusInternalServerError && d.Message != "internal error" {
			t.Errorf("%s: internal message exposed: %q", tc.path, d.Message)
		}
		if got := res.Header.Get("Retry-After") != ""; got != tc.retryAfter {
			t.Errorf("%s: Retry-After %q", tc.path, res.Header.Get("Retry-After"))
		}
		if res.Header.Get("X-Request-ID") == "" {
			t.Errorf("%s: no request id", tc.path)
		}
	}
}
