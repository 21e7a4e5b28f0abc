// Package baseline holds the two designs ticketing teams usually build instead of an
// actor engine, for the benchmark harness (go run ./bench) to drive through the same
// HTTP API shape as TicketView (see bench/load/api.go):
//
//   - "postgres": PostgreSQL row locking. A row per seat, conditional UPDATEs for picked
//     seats, SELECT ... FOR UPDATE SKIP LOCKED for best available, a guarded counter for
//     general admission, a sweeper for expired holds.
//   - "redis": Redis locks. A lock key per seat (SET NX PX), Lua scripts for best
//     available and general admission, sold markers on confirm; bookings are also
//     written to PostgreSQL.
//
// Both are meant as honest, competent implementations of those designs: indexed,
// pooled, and correct (a seat is never sold twice), so that the comparison measures the
// designs and not a strawman.
package baseline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ticketview/ticketview/bench/load"
)

// Store is one design's storage of a flash sale.
type Store interface {
	// Setup (re)creates the layout's sections, every place free, replacing what was
	// there.
	Setup(ctx context.Context, l load.Layout) error
	// Hold holds places of the section for the buyer: explicitly picked seats, the best
	// available seats, or a quantity of general-admission places.
	Hold(ctx context.Context, buyer, section string, req load.HoldRequest) (load.Hold, error)
	// Release gives the buyer's hold back. Releasing a hold that was released or has
	// expired already is not an error; releasing a sold one is ErrConflict.
	Release(ctx context.Context, buyer, section, token string) error
	// Confirm sells the buyer's live hold.
	Confirm(ctx context.Context, buyer, section, token, paymentRef string) (load.Booking, error)
	// Section reads the section's counts and every seat's status from the store.
	Section(ctx context.Context, section string) (load.Availability, error)
	// Close releases the store's connections and stops its background work.
	Close() error
}

// The errors of a Store. The HTTP handler answers them with 409 "conflict", 404
// "not_found" and 400 "invalid"; any other error is 500 "internal".
var (
	// ErrConflict is the clean loss: the seats are taken, the section is sold out, the
	// hold has expired or was sold already.
	ErrConflict = errors.New("conflict")
	// ErrNotFound is an unknown section or hold, or another buyer's hold.
	ErrNotFound = errors.New("not found")
	// ErrInvalid is bad input.
	ErrInvalid = errors.New("invalid")
)

// Config says where a store keeps its data.
type Config struct {
	// PostgresURL is the PostgreSQL server (both kinds: "redis" writes its bookings
	// there).
	PostgresURL string
	// Schema is the PostgreSQL schema of the store's tables (created if missing). The
	// default is "baseline_postgres" or "baseline_redis".
	Schema string
	// RedisURL is the Redis server ("redis" only).
	RedisURL string
	// Prefix namespaces every Redis key ("redis" only); the default is "baseline:".
	Prefix string
	// Conns is the size of the connection pools; the default is 32.
	Conns int
}

// The kinds of store.
const (
	KindPostgres = "postgres"
	KindRedis    = "redis"
)

// Kinds lists the kinds of store Open knows.
func Kinds() []string { return []string{KindPostgres, KindRedis} }

// Open connects to a store of the kind. The layout of the last Setup made on the same
// schema (or key prefix) is loaded, so a restarted service serves the sale it served
// before.
func Open(ctx context.Context, kind string, cfg Config) (Store, error) {
	if cfg.Conns <= 0 {
		cfg.Conns = 32
	}
	if cfg.PostgresURL == "" {
		return nil, fmt.Errorf("baseline %s: the PostgreSQL URL is required", kind)
	}
	switch kind {
	case KindPostgres:
		if cfg.Schema == "" {
			cfg.Schema = "baseline_postgres"
		}
		return openPostgres(ctx, cfg)
	case KindRedis:
		if cfg.Schema == "" {
			cfg.Schema = "baseline_redis"
		}
		if cfg.Prefix == "" {
			cfg.Prefix = "baseline:"
		}
		if cfg.RedisURL == "" {
			return nil, errors.New("baseline redis: the Redis URL is required")
		}
		return openRedis(ctx, cfg)
	default:
		return nil, fmt.Errorf("baseline: unknown kind %q (want one of %s)", kind, strings.Join(Kinds(), ", "))
	}
}

// Describe says what the kind of store is, for the report.
func Describe(kind string) load.TargetDoc {
	switch kind {
	case KindPostgres:
		return load.TargetDoc{
			Name: KindPostgres,
			Design: "PostgreSQL row locking (pgx pool). A row per seat, indexed on (section, status, rank). " +
				"Picked seats: one transaction with a conditional UPDATE (free, or held and expired); the rows " +
				"affected must equal the seats asked, else rollback (409). Best available: SELECT ... ORDER BY rank " +
				"LIMIT n FOR UPDATE SKIP LOCKED, then UPDATE: the n best-ranked free seats, not guaranteed adjacent " +
				"(the buyers send allow_split to every design: TicketView keeps a party together whenever a block is free, else splits it). General admission: a guarded counter UPDATE " +
				"on the section's row. Release and confirm lock the hold's row; a sweeper frees expired holds every second.",
			Durability: "holds and bookings: PostgreSQL, committed with synchronous_commit on before the answer " +
				"(an acknowledged hold or sale survives a crash).",
		}
	case KindRedis:
		return load.TargetDoc{
			Name: KindRedis,
			Design: "Redis locks (go-redis pool). Picked seats: a lock key per seat, SET NX PX pipelined, undone with " +
				"a compare-and-delete script on any failure (409). Best available and general admission: one Lua " +
				"script per request on the section (a sorted set of free seats by rank whose lock keys are checked; " +
				"guarded counters). Holds expire with their keys. Confirm: a Lua script turns the hold's locks into " +
				"sold markers, then the booking is inserted into PostgreSQL. Best available is not guaranteed adjacent.",
			Durability: "holds: Redis memory (no AOF on this machine); bookings: PostgreSQL (committed before " +
				"confirm answers). A Redis crash loses the holds and the seat map's sold markers, not the bookings.",
		}
	default:
		return load.TargetDoc{Name: kind, Design: "unknown baseline kind"}
	}
}

// ---- limits and defaults of the API ----

const (
	maxPerRequest   = 10               // seats or places per hold
	defaultHoldTTL  = 15 * time.Minute // when ttl_seconds is not given
	maxHoldTTL      = time.Hour
	maxSectionSeats = 1_000_000
	maxGACapacity   = 10_000_000
	maxSections     = 1_000
	maxIDLen        = 64
	maxRefLen       = 128
)

func conflictf(format string, args ...any) error { return wrapf(ErrConflict, format, args...) }
func notFoundf(format string, args ...any) error { return wrapf(ErrNotFound, format, args...) }
func invalidf(format string, args ...any) error  { return wrapf(ErrInvalid, format, args...) }

func wrapf(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))
}

// ---- the layout, indexed ----

// catalog is a validated layout with its sections indexed.
type catalog struct {
	layout   load.Layout
	sections map[string]*section
}

// section is one section of the catalog. Seated sections list their seats row by row;
// rank orders them for best available: front rows first, then seats nearest the row's
// centre.
type section struct {
	load.SectionLayout
	labels []string       // row-major
	rank   []int          // rank of labels[i]
	index  map[string]int // label -> i
}

func newCatalog(l load.Layout) (*catalog, error) {
	if err := checkID("event", l.Event); err != nil {
		return nil, err
	}
	if len(l.Sections) == 0 || len(l.Sections) > maxSections {
		return nil, invalidf("a layout has 1 to %d sections", maxSections)
	}
	c := &catalog{layout: l, sections: make(map[string]*section, len(l.Sections))}
	c.layout.Sections = slices.Clone(l.Sections)
	for _, sl := range l.Sections {
		if err := checkID("section id", sl.ID); err != nil {
			return nil, err
		}
		if strings.ContainsAny(sl.ID, ":,/") {
			return nil, invalidf("section id %q must not contain ':', ',' or '/'", sl.ID)
		}
		if _, dup := c.sections[sl.ID]; dup {
			return nil, invalidf("section %q appears twice", sl.ID)
		}
		s := &section{SectionLayout: sl}
		if sl.GA {
			if sl.Capacity < 1 || sl.Capacity > maxGACapacity || sl.Rows != 0 || sl.PerRow != 0 {
				return nil, invalidf("general-admission section %q needs a capacity of 1 to %d and no rows", sl.ID, maxGACapacity)
			}
		} else {
			if sl.Rows < 1 || sl.PerRow < 1 || sl.Rows > maxSectionSeats || sl.PerRow > maxSectionSeats ||
				sl.Rows*sl.PerRow > maxSectionSeats || sl.Capacity != 0 {
				return nil, invalidf("seated section %q needs rows and per_row of at least 1, at most %d seats, and no capacity", sl.ID, maxSectionSeats)
			}
			s.index = make(map[string]int, sl.Rows*sl.PerRow)
			order := centreOut(sl.PerRow)
			for r := range sl.Rows {
				for n := range sl.PerRow {
					label := load.SeatLabel(r, n)
					s.index[label] = len(s.labels)
					s.labels = append(s.labels, label)
					s.rank = append(s.rank, r*sl.PerRow+order[n])
				}
			}
		}
		c.sections[sl.ID] = s
	}
	return c, nil
}

func checkID(what, id string) error {
	if id == "" || len(id) > maxIDLen || strings.TrimSpace(id) != id {
		return invalidf("%s must be 1 to %d characters without surrounding spaces", what, maxIDLen)
	}
	return nil
}

// centreOut gives, for each seat n of a row of perRow seats, its position when the row's
// seats are ordered by distance from the centre (the lower number first on a tie).
func centreOut(perRow int) []int {
	seats := make([]int, perRow)
	for n := range seats {
		seats[n] = n
	}
	dist := func(n int) int { return max(2*n-(perRow-1), (perRow-1)-2*n) }
	slices.SortStableFunc(seats, func(a, b int) int { return dist(a) - dist(b) })
	pos := make([]int, perRow)
	for i, n := range seats {
		pos[n] = i
	}
	return pos
}

// holdKind is how a hold chooses its places.
type holdKind int

const (
	pickSeats holdKind = iota
	bestAvailable
	generalAdmission
)

// holdPlan is a validated hold request.
type holdPlan struct {
	sec      *section
	kind     holdKind
	seats    []string // pickSeats
	quantity int
	ttl      time.Duration
}

// section finds a section of the sale (ErrNotFound without a sale or that section).
func (c *catalog) section(id string) (*section, error) {
	if c == nil {
		return nil, notFoundf("no sale is set up")
	}
	sec, ok := c.sections[id]
	if !ok {
		return nil, notFoundf("no section %q", id)
	}
	return sec, nil
}

// plan validates a hold request against the catalog.
func (c *catalog) plan(buyer, sectionID string, req load.HoldRequest) (holdPlan, error) {
	if c == nil {
		return holdPlan{}, notFoundf("no sale is set up")
	}
	if err := checkBuyer(buyer); err != nil {
		return holdPlan{}, err
	}
	sec, err := c.section(sectionID)
	if err != nil {
		return holdPlan{}, err
	}
	p := holdPlan{sec: sec, ttl: defaultHoldTTL}
	switch {
	case req.TTLSeconds < 0 || time.Duration(req.TTLSeconds)*time.Second > maxHoldTTL:
		return holdPlan{}, invalidf("ttl_seconds must be between 1 and %d", int(maxHoldTTL/time.Second))
	case req.TTLSeconds > 0:
		p.ttl = time.Duration(req.TTLSeconds) * time.Second
	}
	if req.Quantity < 0 || req.Quantity > maxPerRequest {
		return holdPlan{}, invalidf("quantity must be between 1 and %d", maxPerRequest)
	}
	switch {
	case len(req.Seats) > 0:
		if req.BestAvailable {
			return holdPlan{}, invalidf("ask either for seats or for best_available, not both")
		}
		if req.Quantity != 0 && req.Quantity != len(req.Seats) {
			return holdPlan{}, invalidf("quantity (%d) differs from the number of seats (%d)", req.Quantity, len(req.Seats))
		}
		if len(req.Seats) > maxPerRequest {
			return holdPlan{}, invalidf("at most %d seats per hold", maxPerRequest)
		}
		if sec.GA {
			return holdPlan{}, invalidf("section %q is general admission: ask for a quantity", sectionID)
		}
		seen := make(map[string]bool, len(req.Seats))
		for _, label := range req.Seats {
			if _, ok := sec.index[label]; !ok {
				return holdPlan{}, invalidf("no seat %q in section %q", label, sectionID)
			}
			if seen[label] {
				return holdPlan{}, invalidf("seat %q is asked twice", label)
			}
			seen[label] = true
		}
		p.kind, p.seats, p.quantity = pickSeats, slices.Clone(req.Seats), len(req.Seats)
	case req.BestAvailable:
		if req.Quantity == 0 {
			return holdPlan{}, invalidf("best_available needs a quantity between 1 and %d", maxPerRequest)
		}
		if sec.GA {
			return holdPlan{}, invalidf("section %q is general admission: ask for a quantity", sectionID)
		}
		p.kind, p.quantity = bestAvailable, req.Quantity
	default:
		if req.Quantity == 0 {
			return holdPlan{}, invalidf("ask for seats, for best_available with a quantity, or (general admission) for a quantity")
		}
		if !sec.GA {
			return holdPlan{}, invalidf("section %q is seated: ask for seats or for best_available", sectionID)
		}
		p.kind, p.quantity = generalAdmission, req.Quantity
	}
	return p, nil
}

func checkBuyer(buyer string) error {
	if buyer == "" || len(buyer) > 256 {
		return invalidf("the buyer must be 1 to 256 characters")
	}
	return nil
}

// checkHoldRef validates the buyer and token of a release or confirm and finds the
// section.
func (c *catalog) checkHoldRef(buyer, sectionID, token string) (*section, error) {
	if c == nil {
		return nil, notFoundf("no sale is set up")
	}
	if err := checkBuyer(buyer); err != nil {
		return nil, err
	}
	sec, err := c.section(sectionID)
	if err != nil {
		return nil, err
	}
	if token == "" || len(token) > 64 {
		return nil, notFoundf("no hold with that token")
	}
	return sec, nil
}

func checkPaymentRef(ref string) error {
	if len(ref) > maxRefLen {
		return invalidf("payment_ref must be at most %d characters", maxRefLen)
	}
	return nil
}

// items are the hold items of seats, or of a general-admission quantity.
func items(seats []string, quantity int) []load.HoldItem {
	if len(seats) == 0 {
		return []load.HoldItem{{Quantity: quantity}}
	}
	out := make([]load.HoldItem, len(seats))
	for i, s := range seats {
		out[i] = load.HoldItem{Seat: s, Quantity: 1}
	}
	return out
}

// sortByRank orders labels of the section best-ranked first.
func (s *section) sortByRank(labels []string) {
	slices.SortFunc(labels, func(a, b string) int { return s.rank[s.index[a]] - s.rank[s.index[b]] })
}

// availability counts the seat views of a seated section.
func availability(sec *section, seats []load.SeatView) load.Availability {
	a := load.Availability{Section: sec.ID, Capacity: sec.Places(), Seats: seats}
	for _, v := range seats {
		switch v.Status {
		case "free":
			a.Free++
		case "held":
			a.Held++
		case "sold":
			a.Sold++
		}
	}
	return a
}

// layoutOf is implemented by the stores of this package: the layout of the sale set up.
type layoutOf interface {
	currentLayout() (load.Layout, bool)
}
