// Package demo seeds a demo venue and event so that a fresh node has something to sell.
package demo

import (
	"context"
	"fmt"
	"time"

	ticketview "github.com/ticketview/ticketview"
)

// Identities of the demo data. They are stable: seeding again finds them and does nothing.
const (
	VenueID = "harbour-arena"
	EventID = "harbour-nights-2027"

	// Section ids of the demo venue.
	FloorVIP = "floor-vip" // seated, 10 rows x 30, VIP
	Balcony  = "balcony"   // seated, 40 rows x 60, General; accessible seats on row A
	Standing = "standing"  // general admission, 3000 places, General

	// Category codes of the demo event.
	VIP     = "VIP"
	General = "General"

	StandingCapacity = 3000
	BuyerLimit       = 6
)

// balconyAccessible are the seat numbers of the balcony's front row with wheelchair access.
var balconyAccessible = map[int]bool{1: true, 2: true, 3: true, 58: true, 59: true, 60: true}

// Venue returns the demo venue: 300 VIP seats on the floor, 2400 balcony seats and 3000
// standing places.
func Venue() *ticketview.Venue {
	floor := ticketview.GridRows(10, 30, func(int) string { return VIP })
	balcony := ticketview.GridRows(40, 60, func(int) string { return General })
	for i := range balcony[0].Seats {
		s := &balcony[0].Seats[i]
		s.Accessible = balconyAccessible[s.Number]
	}
	return &ticketview.Venue{
		ID:      VenueID,
		Name:    "Harbour Arena",
		City:    "Mumbai",
		Address: "1 Harbour Road, Mumbai",
		Sections: []ticketview.SectionLayout{
			{ID: FloorVIP, Name: "Floor VIP", Kind: ticketview.Seated, Rows: floor},
			{ID: Balcony, Name: "Balcony", Kind: ticketview.Seated, Rows: balcony},
			{ID: Standing, Name: "Standing", Kind: ticketview.GeneralAdmission, Capacity: StandingCapacity, Category: General},
		},
	}
}

// Event returns the demo event, on sale, starting 60 days after now (at 19:30 UTC).
func Event(now time.Time) *ticketview.Event {
	day := now.UTC().Add(60 * 24 * time.Hour).Truncate(24 * time.Hour)
	return &ticketview.Event{
		ID:          EventID,
		Name:        "Harbour Nights",
		Description: "An evening of live music by the sea.",
		StartsAt:    day.Add(19*time.Hour + 30*time.Minute),
		Location:    "Harbour Arena, Mumbai",
		City:        "Mumbai",
		Genre:       "music",
		VenueID:     VenueID,
		Currency:    "INR",
		Categories: []ticketview.PriceCategory{
			{Code: VIP, Name: "VIP", Price: 500000, Floor: 400000, Ceiling: 900000},
			{Code: General, Name: "General", Price: 150000},
		},
		BuyerLimit: BuyerLimit,
		Status:     ticketview.EventOnSale,
		CreatedAt:  now.UTC(),
	}
}

// Seed creates the demo venue and event unless the event exists. It is idempotent: a
// second call (or a restart of a node with the same data) changes nothing.
func Seed(ctx context.Context, events ticketview.EventStore, venues ticketview.VenueStore, now time.Time) error {
	if exists, err := found(events.FindEvent(ctx, EventID)); err != nil || exists {
		return err
	}
	v := Venue()
	if err := v.Validate(); err != nil {
		return fmt.Errorf("demo venue: %w", err)
	}
	if exists, err := found(venues.FindVenue(ctx, VenueID)); err != nil {
		return err
	} else if !exists {
		if err := venues.CreateVenue(ctx, v); err != nil && ticketview.ErrorCode(err) != ticketview.ECONFLICT {
			return fmt.Errorf("demo venue: %w", err)
		}
	}
	e := Event(now)
	if err := e.Validate(); err != nil {
		return fmt.Errorf("demo event: %w", err)
	}
	if err := events.CreateEvent(ctx, e); err != nil {
		// Another seeder may have won the race: that is as good as creating it.
		if exists, ferr := found(events.FindEvent(ctx, EventID)); ferr == nil && exists {
			return nil
		}
		return fmt.Errorf("demo event: %w", err)
	}
	return nil
}

// found turns a store lookup into (exists, error), treating not_found as "does not exist".
func found[T any](_ T, err error) (bool, error) {
	switch {
	case err == nil:
		return true, nil
	case ticketview.ErrorCode(err) == ticketview.ENOTFOUND:
		return false, nil
	default:
		return false, err
	}
}
