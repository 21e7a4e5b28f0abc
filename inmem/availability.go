package inmem

import (
	"context"
	"slices"
	"sync"

	ticketview "github.com/ticketview/ticketview"
)

// AvailabilityCache is the in-process ticketview.AvailabilityCache: one view per section
// in a map, the embedded counterpart of the Redis cache with the same semantics. Views
// live as long as the cache (a process holds the views of its own events only).
//
// A delta's Categories become the view's per-category counts, and its totals are
// recomputed from them. A delta with neither seats nor categories (general admission)
// sets the free count of the section, and of its category when it has exactly one, to
// GAFree. When the view has seats, a delta naming a seat it does not have marks the
// section stale like a gap does (the view does not match the section's layout). An
// empty Categories is returned as nil, as the Redis cache does.
type AvailabilityCache struct {
	mu    sync.RWMutex
	views map[ticketview.SectionID]*availView
}

type availView struct {
	a     ticketview.Availability // Seats in layout order, nil when the view has none
	index map[string]int          // seat label → index in a.Seats
}

var _ ticketview.AvailabilityCache = (*AvailabilityCache)(nil)

// NewAvailabilityCache returns an empty cache.
func NewAvailabilityCache() *AvailabilityCache {
	return &AvailabilityCache{views: map[ticketview.SectionID]*availView{}}
}

// PutAvailability implements ticketview.AvailabilityCache. It refuses an availability
// without event or section, or with a seat label twice, with EINVALID.
func (c *AvailabilityCache) PutAvailability(ctx context.Context, a ticketview.Availability) error {
	if err := checkAvailability(a); err != nil {
		return err
	}
	v := &availView{a: a}
	v.a.Categories, v.a.Seats = nil, nil
	if len(a.Categories) > 0 {
		v.a.Categories = slices.Clone(a.Categories)
	}
	if len(a.Seats) > 0 {
		v.a.Seats = slices.Clone(a.Seats)
		v.index = make(map[string]int, len(a.Seats))
		for i, s := range a.Seats {
			v.index[s.Label] = i
		}
	}
	id := ticketview.SectionID{Event: a.Event, Section: a.Section}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.views[id]; old != nil && old.a.Seq > a.Seq {
		return nil
	}
	c.views[id] = v
	return nil
}

// checkAvailability returns EINVALID when a cannot be cached: no event or section, or
// a seat label twice.
func checkAvailability(a ticketview.Availability) error {
	if a.Event == "" || a.Section == "" {
		return ticketview.Errorf(ticketview.EINVALID, "availability needs an event and a section")
	}
	if len(a.Seats) > 0 {
		seen := make(map[string]struct{}, len(a.Seats))
		for _, s := range a.Seats {
			if _, dup := seen[s.Label]; dup || s.Label == "" {
				return ticketview.Errorf(ticketview.EINVALID, "availability of %s/%s: seat label %q empty or repeated", a.Event, a.Section, s.Label)
			}
			seen[s.Label] = struct{}{}
		}
	}
	return nil
}

// ApplyDeltas implements ticketview.AvailabilityCache. The deltas of one section are
// applied under one lock, atomically; each stale section is reported once, in the order
// it first appears.
func (c *AvailabilityCache) ApplyDeltas(ctx context.Context, deltas []ticketview.SeatDelta) ([]ticketview.SectionID, error) {
	if len(deltas) == 0 {
		return nil, nil
	}
	var stale []ticketview.SectionID
	isStale := func(id ticketview.SectionID) bool { return slices.Contains(stale, id) }
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range deltas {
		d := &deltas[i]
		if isStale(d.Section) {
			continue
		}
		v := c.views[d.Section]
		if v == nil {
			stale = append(stale, d.Section)
			continue
		}
		if d.Seq <= v.a.Seq {
			continue // already covered
		}
		if d.Prev > v.a.Seq || !v.hasSeats(d.Seats) {
			delete(c.views, d.Section)
			stale = append(stale, d.Section)
			continue
		}
		for _, l := range d.Seats {
			if j, ok := v.index[l]; ok {
				v.a.Seats[j].Status = d.Status
			}
		}
		switch {
		case len(d.Categories) > 0:
			setCounts(&v.a, d.Categories)
		case len(d.Seats) == 0:
			setGAFree(&v.a, d.GAFree)
		}
		v.a.Seq = d.Seq
	}
	return stale, nil
}

// hasSeats reports whether the view knows every label (always, for a view without seats).
func (v *availView) hasSeats(labels []string) bool {
	if v.index == nil {
		return true
	}
	for _, l := range labels {
		if _, ok := v.index[l]; !ok {
			return false
		}
	}
	return true
}

// setCounts makes cats (copied) a's per-category counts and recomputes its totals from them.
func setCounts(a *ticketview.Availability, cats []ticketview.CategoryAvailability) {
	a.Categories = slices.Clone(cats)
	a.Capacity, a.Free, a.Held, a.Sold, a.Blocked = 0, 0, 0, 0, 0
	for _, ca := range cats {
		a.Capacity += ca.Capacity
		a.Free += ca.Free
		a.Held += ca.Held
		a.Sold += ca.Sold
		a.Blocked += ca.Blocked
	}
}

// setGAFree sets a's free count, and its category's when it has exactly one, to free: what
// a general-admission delta without categories tells.
func setGAFree(a *ticketview.Availability, free int) {
	a.Free = free
	if len(a.Categories) == 1 {
		a.Categories = slices.Clone(a.Categories)
		a.Categories[0].Free = free
	}
}

// CachedAvailability implements ticketview.AvailabilityCache; the result is a copy.
func (c *AvailabilityCache) CachedAvailability(ctx context.Context, id ticketview.SectionID, withSeats bool) (ticketview.Availability, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v := c.views[id]
	if v == nil {
		return ticketview.Availability{}, ticketview.Errorf(ticketview.ENOTFOUND, "no cached availability for %s", id)
	}
	a := v.a
	a.Categories = slices.Clone(v.a.Categories)
	a.Seats = nil
	if withSeats {
		a.Seats = slices.Clone(v.a.Seats)
	}
	return a, nil
}
