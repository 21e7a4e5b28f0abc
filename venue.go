package ticketview

import (
	"context"
	"fmt"
	"strings"
)

// SectionKind tells how a section is sold.
type SectionKind string

const (
	Seated           SectionKind = "seated"            // rows of numbered seats
	GeneralAdmission SectionKind = "general_admission" // a capacity, sold by quantity
)

// MaxGACapacity bounds a general-admission section's capacity (counters are 32-bit).
const MaxGACapacity = 1 << 30

// Venue is a place with sections.
type Venue struct {
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	City     string          `json:"city"`
	Address  string          `json:"address"`
	Sections []SectionLayout `json:"sections"`
}

// SectionLayout is the fixed shape of a section: its rows and seats, or its GA capacity.
type SectionLayout struct {
	ID   string      `json:"id"`
	Name string      `json:"name"`
	Kind SectionKind `json:"kind"`
	// Rows, nearest the stage first. Seated sections only.
	Rows []RowLayout `json:"rows,omitempty"`
	// Capacity and Category apply to general-admission sections.
	Capacity int    `json:"capacity,omitempty"`
	Category string `json:"category,omitempty"`
}

// RowLayout is one row; its seats are in order along the row, and seats whose numbers
// follow each other are adjacent.
type RowLayout struct {
	Label string       `json:"label"`
	Seats []SeatLayout `json:"seats"`
}

// SeatLayout is one seat.
type SeatLayout struct {
	Label      string  `json:"label"` // unique in the section, e.g. "A-12"
	Number     int     `json:"number"`
	Category   string  `json:"category"`
	X          float64 `json:"x"`
	Y          float64 `json:"y"`
	Accessible bool    `json:"accessible,omitempty"`
}

// Validate checks the venue's shape.
func (v *Venue) Validate() error {
	if strings.TrimSpace(v.ID) == "" || strings.TrimSpace(v.Name) == "" {
		return Errorf(EINVALID, "venue needs an id and a name")
	}
	if len(v.Sections) == 0 {
		return Errorf(EINVALID, "venue %q has no sections", v.ID)
	}
	seen := map[string]bool{}
	for i := range v.Sections {
		s := &v.Sections[i]
		if seen[s.ID] {
			return Errorf(EINVALID, "venue %q: section %q twice", v.ID, s.ID)
		}
		seen[s.ID] = true
		if err := s.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Section returns the layout of the section with the given id.
func (v *Venue) Section(id string) (*SectionLayout, bool) {
	for i := range v.Sections {
		if v.Sections[i].ID == id {
			return &v.Sections[i], true
		}
	}
	return nil, false
}

// Validate checks a section layout.
func (s *SectionLayout) Validate() error {
	if !validID(s.ID) {
		return Errorf(EINVALID, "section id %q: use letters, digits, '-' and '_'", s.ID)
	}
	switch s.Kind {
	case GeneralAdmission:
		if s.Capacity <= 0 || s.Capacity > MaxGACapacity || s.Category == "" {
			return Errorf(EINVALID, "general-admission section %q needs a capacity (1 to %d) and a category", s.ID, MaxGACapacity)
		}
		if len(s.Rows) > 0 {
			return Errorf(EINVALID, "general-admission section %q has rows", s.ID)
		}
	case Seated:
		if len(s.Rows) == 0 {
			return Errorf(EINVALID, "seated section %q has no rows", s.ID)
		}
		labels := map[string]bool{}
		for _, r := range s.Rows {
			for _, seat := range r.Seats {
				if seat.Label == "" || labels[seat.Label] {
					return Errorf(EINVALID, "section %q: seat label %q empty or repeated", s.ID, seat.Label)
				}
				if seat.Category == "" {
					return Errorf(EINVALID, "section %q: seat %q has no category", s.ID, seat.Label)
				}
				labels[seat.Label] = true
			}
		}
	default:
		return Errorf(EINVALID, "section %q: kind must be %q or %q", s.ID, Seated, GeneralAdmission)
	}
	return nil
}

// SeatCount is the number of seats, or the capacity of a GA section.
func (s *SectionLayout) SeatCount() int {
	if s.Kind == GeneralAdmission {
		return s.Capacity
	}
	n := 0
	for _, r := range s.Rows {
		n += len(r.Seats)
	}
	return n
}

// GridRows builds a rectangular block of rows labelled from firstRow ("A", "B", ...),
// seatsPerRow seats each, with the given category per row index. It is a convenience for
// seeding and tests.
func GridRows(rows, seatsPerRow int, category func(row int) string) []RowLayout {
	out := make([]RowLayout, rows)
	for r := 0; r < rows; r++ {
		label := rowLabel(r)
		seats := make([]SeatLayout, seatsPerRow)
		for n := 0; n < seatsPerRow; n++ {
			seats[n] = SeatLayout{
				Label:    fmt.Sprintf("%s-%d", label, n+1),
				Number:   n + 1,
				Category: category(r),
				X:        float64(n),
				Y:        float64(r),
			}
		}
		out[r] = RowLayout{Label: label, Seats: seats}
	}
	return out
}

func rowLabel(r int) string {
	s := ""
	for r >= 0 {
		s = string(rune('A'+r%26)) + s
		r = r/26 - 1
	}
	return s
}

func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// VenueStore keeps venues. Used by the catalog.
type VenueStore interface {
	CreateVenue(ctx context.Context, v *Venue) error
	FindVenue(ctx context.Context, id string) (*Venue, error)
	// ListVenues returns a page of venues ordered by id, and the number of venues.
	ListVenues(ctx context.Context, offset, limit int) ([]*Venue, int, error)
}
