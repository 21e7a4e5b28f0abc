package ticketview

import (
	"context"
	"math"
	"time"
)

// This file declares the ports the engine's readers and the gateway use beyond the
// section journal (journal.go) and the catalog (event.go, venue.go). Each has a production
// adapter (Redis, MongoDB) and an embedded one, and one contract suite in
// persistence/storetest that both pass.

// AvailabilityCache is a hot, read-optimised copy of each section's availability (per-seat
// status and per-category counts), kept current from the actors' seat deltas so that
// readers need not ask the actor. It is a cache: it may lose anything at any time, and
// the engine stays the truth.
type AvailabilityCache interface {
	// PutAvailability replaces a section's view with a full availability (with seats for a
	// seated section). A view at a higher Seq than a.Seq is kept instead.
	PutAvailability(ctx context.Context, a Availability) error
	// ApplyDeltas applies deltas in order. A delta already covered by the view (Seq at or
	// below the view's) is ignored. A delta for a section with no view, or whose Prev is
	// beyond the view's Seq (deltas were lost), is not applied: the section is returned as
	// stale, its view dropped, and the caller should Put a fresh availability.
	ApplyDeltas(ctx context.Context, deltas []SeatDelta) (stale []SectionID, err error)
	// CachedAvailability returns the view; with withSeats, every seat too. ENOTFOUND when
	// the section has no view.
	CachedAvailability(ctx context.Context, id SectionID, withSeats bool) (Availability, error)
}

// SnapshotCache keeps the latest snapshot of each section where it is quick to read. It
// is a cache beside the SectionStore, which stays the truth.
type SnapshotCache interface {
	PutSnapshot(ctx context.Context, id SectionID, snap *SectionSnapshot) error
	// CachedSnapshot returns ENOTFOUND when there is none.
	CachedSnapshot(ctx context.Context, id SectionID) (*SectionSnapshot, error)
}

// RateCounter counts in fixed windows, for per-user and per-IP limits that hold across
// gateways.
type RateCounter interface {
	// Incr adds n (which may be negative) to the counter key and returns its new value and
	// the time until it resets. A counter that does not exist starts at 0 and lives for
	// window from its first Incr; later calls do not extend it.
	Incr(ctx context.Context, key string, n int64, window time.Duration) (value int64, resetIn time.Duration, err error)
}

// DeltaFeed carries seat deltas from the nodes that produce them to every gateway that
// serves live seat maps. Delivery is at most once and in order per section; readers
// detect a loss with SeatDelta.Prev and resync.
type DeltaFeed interface {
	DeltaPublisher
	// SubscribeDeltas delivers the deltas of one event's sections until ctx ends or Close
	// is called. Deltas published before it returns may be missed.
	SubscribeDeltas(ctx context.Context, event string) (DeltaSubscription, error)
}

// DeltaSubscription is a live stream of deltas.
type DeltaSubscription interface {
	// C delivers deltas; it is closed when the subscription ends.
	C() <-chan SeatDelta
	Close() error
}

// Point is a position on a seat map, in the map's own units.
type Point struct {
	X float64 `json:"x" bson:"x"`
	Y float64 `json:"y" bson:"y"`
}

// SeatMap is the drawing of a venue: where the stage is, the outline and label of each
// section, and where each seat sits. The seat engine does not need it; browsers do.
type SeatMap struct {
	VenueID   string       `json:"venue_id" bson:"_id"`
	Width     float64      `json:"width" bson:"width"`
	Height    float64      `json:"height" bson:"height"`
	Stage     MapShape     `json:"stage" bson:"stage"`
	Sections  []SectionMap `json:"sections" bson:"sections"`
	Version   int64        `json:"version" bson:"version"` // set by the store: 1, 2, ... per venue
	UpdatedAt time.Time    `json:"updated_at" bson:"updated_at"`
}

// MapShape is a labelled polygon.
type MapShape struct {
	Label   string  `json:"label" bson:"label"`
	Polygon []Point `json:"polygon" bson:"polygon"`
}

// SectionMap is one section on the map.
type SectionMap struct {
	SectionID string    `json:"section_id" bson:"section_id"`
	Shape     MapShape  `json:"shape" bson:"shape"`
	LabelAt   Point     `json:"label_at" bson:"label_at"`
	Color     string    `json:"color,omitempty" bson:"color,omitempty"`
	Seats     []SeatPin `json:"seats,omitempty" bson:"seats,omitempty"`
}

// SeatPin places one seat on the map.
type SeatPin struct {
	Label    string  `json:"label" bson:"label"`
	Row      string  `json:"row" bson:"row"`
	At       Point   `json:"at" bson:"at"`
	Rotation float64 `json:"rotation,omitempty" bson:"rotation,omitempty"`
}

// Validate checks a seat map before it is stored.
func (m *SeatMap) Validate() error {
	if !validID(m.VenueID) {
		return Errorf(EINVALID, "seat map needs a valid venue id")
	}
	if m.Width <= 0 || m.Height <= 0 {
		return Errorf(EINVALID, "seat map needs a positive width and height")
	}
	seen := map[string]bool{}
	for _, s := range m.Sections {
		if !validID(s.SectionID) || seen[s.SectionID] {
			return Errorf(EINVALID, "seat map: section %q invalid or repeated", s.SectionID)
		}
		seen[s.SectionID] = true
		if len(s.Shape.Polygon) > 0 && len(s.Shape.Polygon) < 3 {
			return Errorf(EINVALID, "seat map: section %q outline needs at least 3 points", s.SectionID)
		}
		labels := map[string]bool{}
		for _, p := range s.Seats {
			if p.Label == "" || labels[p.Label] {
				return Errorf(EINVALID, "seat map: section %q seat %q empty or repeated", s.SectionID, p.Label)
			}
			labels[p.Label] = true
		}
	}
	return nil
}

// SeatMapStore keeps seat maps.
type SeatMapStore interface {
	// PutSeatMap stores the map, replacing the venue's previous one, and sets its Version
	// and UpdatedAt.
	PutSeatMap(ctx context.Context, m *SeatMap) error
	// FindSeatMap returns ENOTFOUND when the venue has no map.
	FindSeatMap(ctx context.Context, venueID string) (*SeatMap, error)
}

// EventDetails is the rich description of an event, beyond what selling it needs.
type EventDetails struct {
	EventID         string      `json:"event_id" bson:"_id"`
	LongDescription string      `json:"long_description" bson:"long_description"`
	Images          []Image     `json:"images,omitempty" bson:"images,omitempty"`
	Tags            []string    `json:"tags,omitempty" bson:"tags,omitempty"`
	Performers      []Performer `json:"performers,omitempty" bson:"performers,omitempty"`
	Links           []Link      `json:"links,omitempty" bson:"links,omitempty"`
	UpdatedAt       time.Time   `json:"updated_at" bson:"updated_at"`
}

// Image is a picture of an event.
type Image struct {
	URL    string `json:"url" bson:"url"`
	Alt    string `json:"alt" bson:"alt"`
	Width  int    `json:"width,omitempty" bson:"width,omitempty"`
	Height int    `json:"height,omitempty" bson:"height,omitempty"`
}

// Performer is someone on stage.
type Performer struct {
	Name string `json:"name" bson:"name"`
	Role string `json:"role,omitempty" bson:"role,omitempty"`
	Bio  string `json:"bio,omitempty" bson:"bio,omitempty"`
}

// Link is a labelled address.
type Link struct {
	Label string `json:"label" bson:"label"`
	URL   string `json:"url" bson:"url"`
}

// Validate checks details before they are stored.
func (d *EventDetails) Validate() error {
	if !validID(d.EventID) {
		return Errorf(EINVALID, "event details need a valid event id")
	}
	for _, t := range d.Tags {
		if t == "" || len(t) > 64 {
			return Errorf(EINVALID, "tag %q: 1 to 64 characters", t)
		}
	}
	for _, p := range d.Performers {
		if p.Name == "" {
			return Errorf(EINVALID, "performer needs a name")
		}
	}
	for _, im := range d.Images {
		if im.URL == "" {
			return Errorf(EINVALID, "image needs a url")
		}
	}
	return nil
}

// DetailsFilter selects event details; empty fields match everything.
type DetailsFilter struct {
	Tag       string
	Performer string // exact name
	Limit     int    // 0 means 50
}

// EventDetailsStore keeps event details.
type EventDetailsStore interface {
	// PutEventDetails stores the details, replacing earlier ones, and sets UpdatedAt.
	PutEventDetails(ctx context.Context, d *EventDetails) error
	// FindEventDetails returns ENOTFOUND when there are none.
	FindEventDetails(ctx context.Context, eventID string) (*EventDetails, error)
	// SearchEventDetails returns matching details ordered by event id.
	SearchEventDetails(ctx context.Context, f DetailsFilter) ([]*EventDetails, error)
}

// AuditEntry records one change of seat status in a section: who, what, when.
type AuditEntry struct {
	Section   SectionID        `json:"section" bson:"-"`
	Seq       uint64           `json:"seq" bson:"seq"`
	Type      SectionEventType `json:"type" bson:"type"`
	At        time.Time        `json:"at" bson:"at"`
	Owner     string           `json:"owner,omitempty" bson:"owner,omitempty"`
	Token     string           `json:"token,omitempty" bson:"token,omitempty"`
	BookingID string           `json:"booking_id,omitempty" bson:"booking_id,omitempty"`
	Seats     []string         `json:"seats,omitempty" bson:"seats,omitempty"` // labels
	Quantity  int32            `json:"quantity" bson:"quantity"`
	Reference string           `json:"reference,omitempty" bson:"reference,omitempty"`
}

// ValidateAudit checks entries before any is stored: a valid section, a Seq (1 to
// MaxInt64, which every store can index), a type, a time, no negative quantity and no
// empty seat label.
func ValidateAudit(entries []AuditEntry) error {
	for i := range entries {
		e := &entries[i]
		switch {
		case !validID(e.Section.Event) || !validID(e.Section.Section):
			return Errorf(EINVALID, "audit entry %d: invalid section %q", i, e.Section)
		case e.Seq == 0 || e.Seq > math.MaxInt64:
			return Errorf(EINVALID, "audit entry %d (%s): seq %d out of range", i, e.Section, e.Seq)
		case e.Type == 0:
			return Errorf(EINVALID, "audit entry %d (%s/%d): no type", i, e.Section, e.Seq)
		case e.At.IsZero():
			return Errorf(EINVALID, "audit entry %d (%s/%d): no time", i, e.Section, e.Seq)
		case e.Quantity < 0:
			return Errorf(EINVALID, "audit entry %d (%s/%d): negative quantity", i, e.Section, e.Seq)
		}
		for _, l := range e.Seats {
			if l == "" {
				return Errorf(EINVALID, "audit entry %d (%s/%d): empty seat label", i, e.Section, e.Seq)
			}
		}
	}
	return nil
}

// AuditFilter selects audit entries; empty fields match everything except Event, which
// is required.
type AuditFilter struct {
	Event   string
	Section string
	Seat    string // entries that changed this seat label
	Owner   string
	From    time.Time // At >= From
	To      time.Time // At < To
	Limit   int       // 0 means 100
}

// AuditLog keeps the seat-status history of every section.
type AuditLog interface {
	// AppendAudit stores entries. It is idempotent: an entry whose (Section, Seq) is
	// already stored is skipped, so redelivered events are recorded once.
	AppendAudit(ctx context.Context, entries []AuditEntry) error
	// AuditTrail returns matching entries ordered by section, then Seq.
	AuditTrail(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}
