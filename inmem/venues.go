package inmem

import (
	"context"
	"sync"

	"golang.org/x/sync/singleflight"

	ticketview "github.com/ticketview/ticketview"
)

// VenueCache is a VenueStore that keeps every venue it has read: venues never change once
// created, and a stadium's venue (tens of thousands of seats) costs tens of milliseconds
// to decode. Concurrent reads of a venue not yet cached wait for one read of the store
// (at the start of an on-sale, a thousand requests arrive at once).
//
// The venues it returns are shared: callers must not change them.
type VenueCache struct {
	ticketview.VenueStore
	venues sync.Map // id -> *ticketview.Venue
	loads  singleflight.Group
}

// NewVenueCache caches the venues of store.
func NewVenueCache(store ticketview.VenueStore) *VenueCache { return &VenueCache{VenueStore: store} }

// FindVenue returns the venue, from the cache when it was read before.
func (c *VenueCache) FindVenue(ctx context.Context, id string) (*ticketview.Venue, error) {
	if v, ok := c.venues.Load(id); ok {
		return v.(*ticketview.Venue), nil
	}
	v, err, _ := c.loads.Do(id, func() (any, error) {
		if v, ok := c.venues.Load(id); ok {
			return v, nil
		}
		// Not the caller's context: the read is shared by every caller waiting for it.
		v, err := c.VenueStore.FindVenue(context.WithoutCancel(ctx), id)
		if err != nil {
			return nil, err
		}
		c.venues.Store(id, v)
		return v, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*ticketview.Venue), nil
}
