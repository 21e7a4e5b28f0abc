package inmem_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/inmem"
)

// countingVenues is a VenueStore that counts its reads and returns a fresh copy each time.
type countingVenues struct {
	ticketview.VenueStore
	reads   atomic.Int64
	release chan struct{}
}

func (s *countingVenues) FindVenue(ctx context.Context, id string) (*ticketview.Venue, error) {
	s.reads.Add(1)
	if s.release != nil {
		<-s.release
	}
	if id != "hall" {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "no venue %q", id)
	}
	return &ticketview.Venue{ID: "hall", Name: "Hall"}, nil
}

// TestVenueCache: 50 concurrent first reads of a venue make one store read, later reads
// none; a missing venue is not cached.
func TestVenueCache(t *testing.T) {
	store := &countingVenues{release: make(chan struct{})}
	c := inmem.NewVenueCache(store)
	ctx := context.Background()
	var wg sync.WaitGroup
	got := make([]*ticketview.Venue, 50)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.FindVenue(ctx, "hall")
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		}()
	}
	for store.reads.Load() == 0 {
		// wait for the first reader to reach the store
	}
	close(store.release)
	wg.Wait()
	for _, v := range got {
		if v == nil || v.Name != "Hall" || v != got[0] {
			t.Fatalf("readers got %v (first %p)", v, got[0])
		}
	}
	if _, err := c.FindVenue(ctx, "hall"); err != nil {
		t.Fatal(err)
	}
	if n := store.reads.Load(); n != 1 {
		t.Fatalf("%d store reads, want 1", n)
	}
	for i := 0; i < 2; i++ {
		if _, err := c.FindVenue(ctx, "nowhere"); ticketview.ErrorCode(err) != ticketview.ENOTFOUND {
			t.Fatalf("missing venue: %v", err)
		}
	}
	if n := store.reads.Load(); n != 3 {
		t.Fatalf("%d store reads, want 3 (a missing venue is read again)", n)
	}
}
