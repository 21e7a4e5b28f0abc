package ticketview

import (
	"container/heap"
	"time"
)

// SeatStatus is the state of one seat.
type SeatStatus uint8

const (
	SeatFree SeatStatus = iota
	SeatHeld
	SeatSold
	SeatBlocked
)

var seatStatusNames = [...]string{"free", "held", "sold", "blocked"}

func (s SeatStatus) String() string {
	if int(s) < len(seatStatusNames) {
		return seatStatusNames[s]
	}
	return "unknown"
}

// MarshalText writes the status by name.
func (s SeatStatus) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a status written by MarshalText.
func (s *SeatStatus) UnmarshalText(b []byte) error {
	for i, name := range seatStatusNames {
		if string(b) == name {
			*s = SeatStatus(i)
			return nil
		}
	}
	return Errorf(EINVALID, "unknown seat status %q", b)
}

// Defaults for holds.
const (
	DefaultHoldTTL     = 10 * time.Minute
	MaxHoldTTL         = 30 * time.Minute // the longest single hold or extension
	MaxHoldLifetime    = 2 * time.Hour    // a hold never lives longer than this in total
	IdempotencyKeyTTL  = 24 * time.Hour   // how long a key's first result is remembered
	MaxSeatsPerRequest = 50
)

// SectionConfig is what a section needs to know about its event and layout.
type SectionConfig struct {
	ID         SectionID
	Layout     *SectionLayout
	Categories []PriceCategory
	Currency   string
}

// Hold is a hold as the buyer sees it.
type Hold struct {
	Token     string     `json:"token"`
	Owner     string     `json:"owner"`
	Event     string     `json:"event"`
	Section   string     `json:"section"`
	Items     []HoldItem `json:"items"`
	Quantity  int        `json:"quantity"`
	Total     Money      `json:"total"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	Replayed  bool       `json:"-"` // true when an idempotent retry returned the first result
}

// HoldItem is a held seat (or, for GA, the quantity of one category) with its fixed price.
type HoldItem struct {
	Seat      string `json:"seat,omitempty"`
	Category  string `json:"category"`
	Quantity  int    `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
}

// BookingStatus is the state of a sale.
type BookingStatus string

const (
	BookingConfirmed BookingStatus = "confirmed"
	BookingCancelled BookingStatus = "cancelled"
)

// Booking is a confirmed sale of a hold's seats.
type Booking struct {
	ID          string        `json:"id"`
	Owner       string        `json:"owner"`
	Event       string        `json:"event"`
	Section     string        `json:"section"`
	HoldToken   string        `json:"hold_token"`
	Items       []HoldItem    `json:"items"`
	Quantity    int           `json:"quantity"`
	Total       Money         `json:"total"`
	PaymentRef  string        `json:"payment_ref"`
	Status      BookingStatus `json:"status"`
	ConfirmedAt time.Time     `json:"confirmed_at"`
	CancelledAt time.Time     `json:"cancelled_at,omitzero"`
	Replayed    bool          `json:"-"`
}

// HoldRequest asks for seats. Exactly one way of choosing is used: Seats (explicit labels),
// BestAvailable with Quantity (seated), or Quantity alone (general admission).
type HoldRequest struct {
	Token         string // chosen by the caller (a secret random string)
	Owner         string
	IdemKey       string
	Seats         []string
	BestAvailable bool
	Quantity      int
	Category      string // best-available: only this category ("" = any)
	Accessible    bool   // best-available: only accessible seats
	AllowSplit    bool   // best-available: non-adjacent seats if no adjacent block exists
	TTL           time.Duration
	Limit         int // most seats this owner may hold and own in this section; 0 = no limit
}

type holdState struct {
	token, owner string
	seats        []int32
	qty          int32
	prices       []int64
	created      time.Time
	expires      time.Time
	heapIdx      int
}

type saleState struct {
	id, owner, token, ref string
	seats                 []int32
	qty                   int32
	prices                []int64
	at, cancelledAt       time.Time
}

type tomb struct {
	typ       SectionEventType
	at        time.Time
	owner     string
	bookingID string
}

type idemEntry struct {
	typ       SectionEventType
	at        time.Time
	token     string
	bookingID string
	hold      *Hold // HoldPlaced: the first result
}

// Section is the aggregate that owns one section's seats. It is not safe for concurrent
// use: its actor serializes access. Every change is a SectionEvent applied through apply,
// the same path replay takes, so a section rebuilt from its journal equals the original.
type Section struct {
	cfg     SectionConfig
	ga      bool
	labels  []string
	byLabel map[string]int32
	cat     []uint8 // seat -> category index
	row     []int32 // seat -> row index
	access  []bool
	adjNext []bool     // seat i and i+1 are adjacent in a row
	rows    [][2]int32 // row -> [first seat, end)
	status  []SeatStatus
	rowFree []int32

	cats    []PriceCategory
	catIdx  map[string]uint8
	gaCat   uint8
	capTot  []int32 // per category: seats (or GA capacity)
	held    []int32
	sold    []int32
	blocked []int32

	holds   map[string]*holdState
	expiry  expiryHeap
	sales   map[string]*saleState
	tombs   map[string]tomb
	idem    map[string]idemEntry
	byOwner map[string]int32

	seq uint64
	out []SectionEvent
}

// NewSection builds an empty section (every seat free).
func NewSection(cfg SectionConfig) (*Section, error) {
	if cfg.Layout == nil {
		return nil, Errorf(EINVALID, "section %s has no layout", cfg.ID)
	}
	if err := cfg.Layout.Validate(); err != nil {
		return nil, err
	}
	s := &Section{
		cfg:     cfg,
		ga:      cfg.Layout.Kind == GeneralAdmission,
		byLabel: map[string]int32{},
		catIdx:  map[string]uint8{},
		holds:   map[string]*holdState{},
		sales:   map[string]*saleState{},
		tombs:   map[string]tomb{},
		idem:    map[string]idemEntry{},
		byOwner: map[string]int32{},
	}
	if len(cfg.Categories) > 250 {
		return nil, Errorf(EINVALID, "too many categories")
	}
	for i, c := range cfg.Categories {
		s.catIdx[c.Code] = uint8(i)
		s.cats = append(s.cats, c)
	}
	n := len(s.cats)
	s.capTot, s.held, s.sold, s.blocked = make([]int32, n), make([]int32, n), make([]int32, n), make([]int32, n)
	if s.ga {
		ci, ok := s.catIdx[cfg.Layout.Category]
		if !ok {
			return nil, Errorf(EINVALID, "section %s: unknown category %q", cfg.ID, cfg.Layout.Category)
		}
		s.gaCat = ci
		s.capTot[ci] = int32(cfg.Layout.Capacity)
		return s, nil
	}
	total := cfg.Layout.SeatCount()
	s.labels = make([]string, 0, total)
	s.cat = make([]uint8, 0, total)
	s.row = make([]int32, 0, total)
	s.access = make([]bool, 0, total)
	s.adjNext = make([]bool, 0, total)
	for ri, r := range cfg.Layout.Rows {
		start := int32(len(s.labels))
		for j, seat := range r.Seats {
			ci, ok := s.catIdx[seat.Category]
			if !ok {
				return nil, Errorf(EINVALID, "section %s: seat %s has unknown category %q", cfg.ID, seat.Label, seat.Category)
			}
			s.byLabel[seat.Label] = int32(len(s.labels))
			s.labels = append(s.labels, seat.Label)
			s.cat = append(s.cat, ci)
			s.row = append(s.row, int32(ri))
			s.access = append(s.access, seat.Accessible)
			s.adjNext = append(s.adjNext, j+1 < len(r.Seats) && r.Seats[j+1].Number == seat.Number+1)
			s.capTot[ci]++
		}
		s.rows = append(s.rows, [2]int32{start, int32(len(s.labels))})
		s.rowFree = append(s.rowFree, int32(len(r.Seats)))
	}
	s.status = make([]SeatStatus, total)
	return s, nil
}

// ID is the section's identity.
func (s *Section) ID() SectionID { return s.cfg.ID }

// Seq is the sequence number of the last applied event.
func (s *Section) Seq() uint64 { return s.seq }

// TakeEvents returns the events produced since the last call, in order, and forgets them.
func (s *Section) TakeEvents() []SectionEvent {
	out := s.out
	s.out = nil
	return out
}

// HasEvents reports whether events were produced since the last TakeEvents or AppendEvents.
func (s *Section) HasEvents() bool { return len(s.out) > 0 }

// AppendEvents appends the events produced since the last call to dst, in order, forgets
// them and returns the extended slice. Unlike TakeEvents it reuses the section's buffer.
func (s *Section) AppendEvents(dst []SectionEvent) []SectionEvent {
	dst = append(dst, s.out...)
	clear(s.out)
	s.out = s.out[:0]
	return dst
}

// Seats is the number of seats (or GA capacity).
func (s *Section) Seats() int {
	if s.ga {
		return int(s.capTot[s.gaCat])
	}
	return len(s.status)
}

// SetCategories replaces the section's price categories after an organizer's price change:
// the same set of codes as now (in any order), each validated as Event.Validate does. New
// holds are priced with them; holds and sales made before keep the prices they were made
// with (the journal and snapshots carry every hold's prices). It changes no seat and makes
// no event: a section rebuilt from its journal with these categories equals this one.
func (s *Section) SetCategories(cats []PriceCategory) error {
	if len(cats) != len(s.cats) {
		return Errorf(EINVALID, "section %s: prices may change, not the categories: want %d categories, got %d",
			s.cfg.ID, len(s.cats), len(cats))
	}
	next := make([]PriceCategory, len(s.cats))
	seen := make([]bool, len(s.cats))
	for _, c := range cats {
		ci, ok := s.catIdx[c.Code]
		switch {
		case !ok:
			return Errorf(EINVALID, "section %s has no category %q: prices may change, not the categories", s.cfg.ID, c.Code)
		case seen[ci]:
			return Errorf(EINVALID, "section %s: category %q given twice", s.cfg.ID, c.Code)
		case c.Price < 0:
			return Errorf(EINVALID, "category %q: negative price", c.Code)
		case (c.Floor != 0 || c.Ceiling != 0) && (c.Floor <= 0 || c.Ceiling < c.Floor || c.Price < c.Floor || c.Price > c.Ceiling):
			return Errorf(EINVALID, "category %q: need 0 < floor <= price <= ceiling", c.Code)
		}
		seen[ci] = true
		next[ci] = c
	}
	s.cats = next
	s.cfg.Categories = append([]PriceCategory(nil), cats...)
	return nil
}

// emit applies a new event and records it for the journal.
func (s *Section) emit(ev SectionEvent) {
	ev.Seq = s.seq + 1
	s.apply(&ev)
	s.out = append(s.out, ev)
}

// Replay applies a journaled event. Events at or below the current sequence are skipped.
func (s *Section) Replay(ev SectionEvent) error {
	if ev.Seq <= s.seq {
		return nil
	}
	if ev.Seq != s.seq+1 {
		return Errorf(EINTERNAL, "section %s: journal gap: have %d, next is %d", s.cfg.ID, s.seq, ev.Seq)
	}
	if err := s.fits(&ev); err != nil {
		return err
	}
	s.apply(&ev)
	return nil
}

// fits checks that a journaled event can follow the current state, so that a journal that
// is damaged or belongs to another layout is refused instead of panicking in apply or
// corrupting the counts. Commands only emit events that fit.
func (s *Section) fits(ev *SectionEvent) error {
	bad := func(what string) error {
		return Errorf(EINTERNAL, "section %s: journal event %d (%s) does not fit: %s", s.cfg.ID, ev.Seq, ev.Type, what)
	}
	// seatsAre checks that the event names distinct seats, each in status st.
	seatsAre := func(st SeatStatus) error {
		if len(ev.Seats) == 0 {
			return bad("no seats")
		}
		const mark = SeatStatus(255)
		var err error
		n := 0
		for _, i := range ev.Seats {
			if i < 0 || int(i) >= len(s.status) || s.status[i] != st {
				err = bad("a seat out of range, named twice, or not " + st.String())
				break
			}
			s.status[i] = mark
			n++
		}
		for _, i := range ev.Seats[:n] {
			s.status[i] = st
		}
		return err
	}
	qty := func(n, most int32) error {
		if len(ev.Seats) > 0 || n <= 0 || n > most {
			return bad("a quantity out of range")
		}
		return nil
	}
	switch ev.Type {
	case EvHoldPlaced:
		if ev.Token == "" || s.holds[ev.Token] != nil {
			return bad("no token, or a live hold has it")
		}
		if s.ga {
			if len(ev.Prices) != 1 {
				return bad("no unit price")
			}
			return qty(ev.Quantity, int32(s.gaFree()))
		}
		if len(ev.Prices) != len(ev.Seats) {
			return bad("not a price per seat")
		}
		return seatsAre(SeatFree)
	case EvHoldExtended, EvHoldReleased, EvHoldExpired:
		if s.holds[ev.Token] == nil {
			return bad("no such live hold")
		}
	case EvHoldConfirmed:
		if s.holds[ev.Token] == nil || ev.BookingID == "" || s.sales[ev.BookingID] != nil {
			return bad("no such live hold, or the booking id is taken")
		}
	case EvSaleCancelled:
		if sale := s.sales[ev.BookingID]; sale == nil || !sale.cancelledAt.IsZero() || ev.At.IsZero() {
			return bad("no such live sale, or no time (a zero time would leave the sale live)")
		}
	case EvSeatsBlocked:
		if s.ga {
			return qty(ev.Quantity, int32(s.gaFree()))
		}
		return seatsAre(SeatFree)
	case EvSeatsUnblocked:
		if s.ga {
			return qty(ev.Quantity, s.blocked[s.gaCat])
		}
		return seatsAre(SeatBlocked)
	default:
		return bad("unknown event type")
	}
	return nil
}

// ---- commands ----

// Hold places a hold. It is all-or-nothing.
func (s *Section) Hold(req HoldRequest, now time.Time) (Hold, error) {
	s.ExpireDue(now)
	if req.Owner == "" || req.Token == "" {
		return Hold{}, Errorf(EINVALID, "a hold needs an owner and a token")
	}
	if h, ok, err := s.replayed(req.Owner, req.IdemKey, EvHoldPlaced); ok || err != nil {
		return h.holdResult(s), err
	}
	if _, dup := s.holds[req.Token]; dup {
		return Hold{}, Errorf(ECONFLICT, "hold token already in use")
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = DefaultHoldTTL
	}
	if ttl < time.Second || ttl > MaxHoldTTL {
		return Hold{}, Errorf(EINVALID, "hold time must be between 1s and %s", MaxHoldTTL)
	}
	ev := SectionEvent{Type: EvHoldPlaced, At: now, Token: req.Token, Owner: req.Owner,
		ExpiresAt: now.Add(ttl), IdemKey: req.IdemKey}
	var n int
	if s.ga {
		if len(req.Seats) > 0 || req.BestAvailable {
			return Hold{}, Errorf(EINVALID, "section %s is general admission: ask for a quantity", s.cfg.ID.Section)
		}
		if req.Quantity <= 0 || req.Quantity > MaxSeatsPerRequest {
			return Hold{}, Errorf(EINVALID, "quantity must be between 1 and %d", MaxSeatsPerRequest)
		}
		if req.Category != "" && req.Category != s.cats[s.gaCat].Code {
			return Hold{}, Errorf(EINVALID, "section %s sells only %s", s.cfg.ID.Section, s.cats[s.gaCat].Code)
		}
		if s.gaFree() < req.Quantity {
			return Hold{}, Errorf(ESOLDOUT, "only %d places left", s.gaFree())
		}
		n = req.Quantity
		ev.Quantity = int32(n)
		ev.Prices = []int64{s.Price(s.cats[s.gaCat].Code)}
	} else {
		seats, err := s.chooseSeats(req)
		if err != nil {
			return Hold{}, err
		}
		n = len(seats)
		ev.Seats = seats
		ev.Quantity = int32(n)
		ev.Prices = make([]int64, n)
		for i, seat := range seats {
			ev.Prices[i] = s.priceIdx(s.cat[seat])
		}
	}
	if req.Limit > 0 && int(s.byOwner[req.Owner])+n > req.Limit {
		return Hold{}, Errorf(ELIMIT, "at most %d seats per buyer; you have %d", req.Limit, s.byOwner[req.Owner])
	}
	s.emit(ev)
	return s.holds[req.Token].view(s), nil
}

func (s *Section) chooseSeats(req HoldRequest) ([]int32, error) {
	if len(req.Seats) > 0 {
		if req.BestAvailable || req.Quantity != 0 && req.Quantity != len(req.Seats) {
			return nil, Errorf(EINVALID, "ask either for seats or for a best-available quantity")
		}
		if len(req.Seats) > MaxSeatsPerRequest {
			return nil, Errorf(EINVALID, "at most %d seats per request", MaxSeatsPerRequest)
		}
		seats := make([]int32, len(req.Seats))
		for i, label := range req.Seats {
			idx, ok := s.byLabel[label]
			if !ok {
				return nil, Errorf(ENOTFOUND, "no seat %q in section %s", label, s.cfg.ID.Section)
			}
			for _, prev := range seats[:i] {
				if prev == idx {
					return nil, Errorf(EINVALID, "seat %q asked for twice", label)
				}
			}
			if s.status[idx] != SeatFree {
				return nil, Errorf(ESEATTAKEN, "seat %s is %s", label, s.status[idx])
			}
			seats[i] = idx
		}
		return seats, nil
	}
	if !req.BestAvailable {
		return nil, Errorf(EINVALID, "ask for seats, or for best-available with a quantity")
	}
	if req.Quantity <= 0 || req.Quantity > MaxSeatsPerRequest {
		return nil, Errorf(EINVALID, "quantity must be between 1 and %d", MaxSeatsPerRequest)
	}
	cat := -1
	if req.Category != "" {
		ci, ok := s.catIdx[req.Category]
		if !ok {
			return nil, Errorf(EINVALID, "unknown category %q", req.Category)
		}
		cat = int(ci)
	}
	if seats := s.BestAvailable(req.Quantity, cat, req.Accessible, req.AllowSplit); seats != nil {
		return seats, nil
	}
	return nil, Errorf(ESOLDOUT, "no %d seats available together", req.Quantity)
}

// Extend moves a hold's expiry by d, never past MaxHoldLifetime from its creation.
func (s *Section) Extend(token, owner, idemKey string, d time.Duration, now time.Time) (Hold, error) {
	s.ExpireDue(now)
	if e, ok, err := s.replayed(owner, idemKey, EvHoldExtended); ok || err != nil {
		if err == nil {
			if h := s.holds[e.token]; h != nil {
				v := h.view(s)
				v.Replayed = true
				return v, nil
			}
			return Hold{}, s.endedErr(e.token, owner)
		}
		return Hold{}, err
	}
	h, err := s.ownHold(token, owner)
	if err != nil {
		return Hold{}, err
	}
	if d < time.Second || d > MaxHoldTTL {
		return Hold{}, Errorf(EINVALID, "extension must be between 1s and %s", MaxHoldTTL)
	}
	limit := h.created.Add(MaxHoldLifetime)
	if !h.expires.Before(limit) {
		return Hold{}, Errorf(ELIMIT, "a hold lives at most %s", MaxHoldLifetime)
	}
	exp := h.expires.Add(d)
	if exp.After(limit) {
		exp = limit
	}
	s.emit(SectionEvent{Type: EvHoldExtended, At: now, Token: token, Owner: owner, ExpiresAt: exp, IdemKey: idemKey})
	return h.view(s), nil
}

// Release lets a hold go; its seats are free again.
func (s *Section) Release(token, owner, idemKey string, now time.Time) error {
	s.ExpireDue(now)
	if _, ok, err := s.replayed(owner, idemKey, EvHoldReleased); ok || err != nil {
		return err
	}
	h, err := s.ownHold(token, owner)
	if err != nil {
		if t, ok := s.tombs[token]; ok && t.typ == EvHoldReleased && s.tombOwner(token, owner) {
			return nil // released already: releasing again changes nothing
		}
		return err
	}
	s.emit(SectionEvent{Type: EvHoldReleased, At: now, Token: h.token, Owner: owner, Seats: h.seats, Quantity: h.count(), IdemKey: idemKey})
	return nil
}

// Confirm turns a live hold into a sale with the given booking id.
func (s *Section) Confirm(token, owner, bookingID, paymentRef, idemKey string, now time.Time) (Booking, error) {
	s.ExpireDue(now)
	if e, ok, err := s.replayed(owner, idemKey, EvHoldConfirmed); ok || err != nil {
		if err != nil {
			return Booking{}, err
		}
		b := s.sales[e.bookingID].view(s)
		b.Replayed = true
		return b, nil
	}
	if bookingID == "" || paymentRef == "" {
		return Booking{}, Errorf(EINVALID, "confirming needs a booking id and a payment reference")
	}
	h, err := s.ownHold(token, owner)
	if err != nil {
		if t, ok := s.tombs[token]; ok && t.typ == EvHoldConfirmed && s.tombOwner(token, owner) {
			b := s.sales[t.bookingID].view(s)
			b.Replayed = true
			return b, nil // confirmed already
		}
		return Booking{}, err
	}
	if _, dup := s.sales[bookingID]; dup {
		return Booking{}, Errorf(ECONFLICT, "booking id already used")
	}
	s.emit(SectionEvent{Type: EvHoldConfirmed, At: now, Token: h.token, Owner: owner, BookingID: bookingID,
		Reference: paymentRef, Seats: h.seats, Quantity: h.count(), IdemKey: idemKey})
	return s.sales[bookingID].view(s), nil
}

// Cancel cancels (refunds) a sale; its seats are free again. owner "" acts as the
// organizer or admin and may cancel any booking.
func (s *Section) Cancel(bookingID, owner, idemKey string, now time.Time) (Booking, error) {
	if now.IsZero() { // a zero cancellation time would read as "not cancelled"
		return Booking{}, Errorf(EINVALID, "cancelling needs the time")
	}
	s.ExpireDue(now)
	if e, ok, err := s.replayed(owner, idemKey, EvSaleCancelled); ok || err != nil {
		if err != nil {
			return Booking{}, err
		}
		b := s.sales[e.bookingID].view(s)
		b.Replayed = true
		return b, nil
	}
	sale, ok := s.sales[bookingID]
	if !ok || owner != "" && sale.owner != owner {
		return Booking{}, Errorf(ENOTFOUND, "no booking %q", bookingID)
	}
	if !sale.cancelledAt.IsZero() {
		b := sale.view(s)
		b.Replayed = true
		return b, nil // cancelled already
	}
	if owner != sale.owner {
		// The organizer's key is not the buyer's, yet the event names the buyer, under whom
		// apply remembers keys: keep it out of the buyer's keys. Cancelling again is a
		// no-op that returns the booking anyway.
		idemKey = ""
	}
	s.emit(SectionEvent{Type: EvSaleCancelled, At: now, Owner: sale.owner, BookingID: bookingID, Seats: sale.seats,
		Quantity: sale.count(), IdemKey: idemKey})
	return sale.view(s), nil
}

// Block takes free seats off sale (organizer, admin). For GA, quantity places are blocked.
func (s *Section) Block(labels []string, quantity int, reason string, now time.Time) error {
	s.ExpireDue(now)
	ev := SectionEvent{Type: EvSeatsBlocked, At: now, Reference: reason}
	if s.ga {
		if quantity <= 0 {
			return Errorf(EINVALID, "block a positive number of places")
		}
		if quantity > s.gaFree() {
			return Errorf(ESOLDOUT, "can block between 1 and %d places", s.gaFree())
		}
		ev.Quantity = int32(quantity)
	} else {
		seats, err := s.seatList(labels, func(st SeatStatus) bool { return st == SeatFree })
		if err != nil {
			return err
		}
		ev.Seats = seats
		ev.Quantity = int32(len(seats))
	}
	s.emit(ev)
	return nil
}

// Unblock puts blocked seats back on sale.
func (s *Section) Unblock(labels []string, quantity int, now time.Time) error {
	s.ExpireDue(now)
	ev := SectionEvent{Type: EvSeatsUnblocked, At: now}
	if s.ga {
		if quantity <= 0 || quantity > int(s.blocked[s.gaCat]) {
			return Errorf(EINVALID, "can unblock between 1 and %d places", s.blocked[s.gaCat])
		}
		ev.Quantity = int32(quantity)
	} else {
		seats, err := s.seatList(labels, func(st SeatStatus) bool { return st == SeatBlocked })
		if err != nil {
			return err
		}
		ev.Seats = seats
		ev.Quantity = int32(len(seats))
	}
	s.emit(ev)
	return nil
}

func (s *Section) seatList(labels []string, ok func(SeatStatus) bool) ([]int32, error) {
	if len(labels) == 0 || len(labels) > len(s.status) {
		return nil, Errorf(EINVALID, "name the seats")
	}
	seen := make(map[int32]bool, len(labels))
	seats := make([]int32, 0, len(labels))
	for _, l := range labels {
		idx, found := s.byLabel[l]
		if !found {
			return nil, Errorf(ENOTFOUND, "no seat %q", l)
		}
		if seen[idx] {
			return nil, Errorf(EINVALID, "seat %q named twice", l)
		}
		seen[idx] = true
		if !ok(s.status[idx]) {
			return nil, Errorf(ESEATTAKEN, "seat %s is %s", l, s.status[idx])
		}
		seats = append(seats, idx)
	}
	return seats, nil
}

// ExpireDue expires every hold whose time has come, in expiry order, and reports how many.
func (s *Section) ExpireDue(now time.Time) int {
	n := 0
	for len(s.expiry) > 0 && !s.expiry[0].expires.After(now) {
		h := s.expiry[0]
		s.emit(SectionEvent{Type: EvHoldExpired, At: now, Token: h.token, Owner: h.owner, Seats: h.seats, Quantity: h.count()})
		n++
	}
	return n
}

// NextExpiry is the earliest hold expiry, and false when nothing is held.
func (s *Section) NextExpiry() (time.Time, bool) {
	if len(s.expiry) == 0 {
		return time.Time{}, false
	}
	return s.expiry[0].expires, true
}

func (s *Section) ownHold(token, owner string) (*holdState, error) {
	h, ok := s.holds[token]
	if !ok {
		return nil, s.endedErr(token, owner)
	}
	if h.owner != owner {
		return nil, Errorf(ENOTFOUND, "no hold with that token")
	}
	return h, nil
}

// endedErr explains why the owner's hold is not live. An ended hold of another owner is
// not found, as a live one is: its state is none of the caller's business.
func (s *Section) endedErr(token, owner string) error {
	t, ok := s.tombs[token]
	switch {
	case !ok || t.owner != owner:
		return Errorf(ENOTFOUND, "no hold with that token")
	case t.typ == EvHoldExpired:
		return Errorf(EHOLDEXPIRED, "the hold expired at %s", t.at.Format(time.RFC3339))
	case t.typ == EvHoldConfirmed:
		return Errorf(ECONFLICT, "the hold was confirmed already")
	default:
		return Errorf(ECONFLICT, "the hold was released")
	}
}

func (s *Section) tombOwner(token, owner string) bool { return s.tombs[token].owner == owner }

// replayed looks up an idempotency key. ok reports a first result to return; err is set
// when the key was used for a different kind of command.
func (s *Section) replayed(owner, key string, typ SectionEventType) (idemEntry, bool, error) {
	if key == "" {
		return idemEntry{}, false, nil
	}
	e, ok := s.idem[owner+"\x00"+key]
	if !ok {
		return idemEntry{}, false, nil
	}
	if e.typ != typ {
		return idemEntry{}, false, Errorf(EINVALID, "idempotency key was used for another request")
	}
	return e, true, nil
}

func (e idemEntry) holdResult(s *Section) Hold {
	if e.hold == nil {
		return Hold{}
	}
	h := *e.hold
	if cur := s.holds[e.token]; cur != nil && cur.owner == h.Owner && cur.created.Equal(h.CreatedAt) {
		h = cur.view(s) // the first hold, as it is now (not a later hold under the same token)
	}
	h.Replayed = true
	return h
}

// ---- state transitions (also the replay path) ----

func (s *Section) apply(ev *SectionEvent) {
	s.seq = ev.Seq
	switch ev.Type {
	case EvHoldPlaced:
		h := &holdState{token: ev.Token, owner: ev.Owner, seats: ev.Seats, qty: ev.Quantity,
			prices: ev.Prices, created: ev.At, expires: ev.ExpiresAt}
		s.holds[h.token] = h
		heap.Push(&s.expiry, h)
		if s.ga {
			s.held[s.gaCat] += h.qty
		} else {
			s.setSeats(h.seats, SeatHeld)
		}
		s.byOwner[h.owner] += h.count()
		if ev.IdemKey != "" {
			v := h.view(s)
			s.idem[ev.Owner+"\x00"+ev.IdemKey] = idemEntry{typ: ev.Type, at: ev.At, token: ev.Token, hold: &v}
		}
		return
	case EvHoldExtended:
		h := s.holds[ev.Token]
		h.expires = ev.ExpiresAt
		heap.Fix(&s.expiry, h.heapIdx)
	case EvHoldReleased, EvHoldExpired:
		h := s.holds[ev.Token]
		s.dropHold(h)
		if s.ga {
			s.held[s.gaCat] -= h.qty
		} else {
			s.setSeats(h.seats, SeatFree)
		}
		s.byOwner[h.owner] -= h.count()
		s.tombs[h.token] = tomb{typ: ev.Type, at: ev.At, owner: h.owner}
	case EvHoldConfirmed:
		h := s.holds[ev.Token]
		s.dropHold(h)
		sale := &saleState{id: ev.BookingID, owner: h.owner, token: h.token, ref: ev.Reference,
			seats: h.seats, qty: h.qty, prices: h.prices, at: ev.At}
		s.sales[sale.id] = sale
		if s.ga {
			s.held[s.gaCat] -= h.qty
			s.sold[s.gaCat] += h.qty
		} else {
			s.setSeats(h.seats, SeatSold)
		}
		s.tombs[h.token] = tomb{typ: ev.Type, at: ev.At, owner: h.owner, bookingID: sale.id}
	case EvSaleCancelled:
		sale := s.sales[ev.BookingID]
		sale.cancelledAt = ev.At
		if s.ga {
			s.sold[s.gaCat] -= sale.qty
		} else {
			s.setSeats(sale.seats, SeatFree)
		}
		s.byOwner[sale.owner] -= sale.count()
	case EvSeatsBlocked:
		if s.ga {
			s.blocked[s.gaCat] += ev.Quantity
		} else {
			s.setSeats(ev.Seats, SeatBlocked)
		}
	case EvSeatsUnblocked:
		if s.ga {
			s.blocked[s.gaCat] -= ev.Quantity
		} else {
			s.setSeats(ev.Seats, SeatFree)
		}
	}
	if ev.IdemKey != "" {
		s.idem[ev.Owner+"\x00"+ev.IdemKey] = idemEntry{typ: ev.Type, at: ev.At, token: ev.Token, bookingID: ev.BookingID}
	}
}

func (s *Section) dropHold(h *holdState) {
	heap.Remove(&s.expiry, h.heapIdx)
	delete(s.holds, h.token)
}

func (s *Section) setSeats(seats []int32, to SeatStatus) {
	for _, i := range seats {
		from := s.status[i]
		s.count(i, from, -1)
		s.count(i, to, +1)
		s.status[i] = to
	}
}

func (s *Section) count(i int32, st SeatStatus, d int32) {
	c := s.cat[i]
	switch st {
	case SeatFree:
		s.rowFree[s.row[i]] += d
	case SeatHeld:
		s.held[c] += d
	case SeatSold:
		s.sold[c] += d
	case SeatBlocked:
		s.blocked[c] += d
	}
}

func (h *holdState) count() int32 {
	if h.seats == nil {
		return h.qty
	}
	return int32(len(h.seats))
}

func (sale *saleState) count() int32 {
	if sale.seats == nil {
		return sale.qty
	}
	return int32(len(sale.seats))
}

func (s *Section) gaFree() int {
	c := s.gaCat
	return int(s.capTot[c] - s.held[c] - s.sold[c] - s.blocked[c])
}

// items describes seats (or a GA quantity) with their prices.
func (s *Section) items(seats []int32, qty int32, prices []int64) ([]HoldItem, int, Money) {
	total := Money{Currency: s.cfg.Currency}
	if seats == nil {
		var unit int64
		if len(prices) > 0 {
			unit = prices[0]
		}
		total.Amount = unit * int64(qty)
		return []HoldItem{{Category: s.cats[s.gaCat].Code, Quantity: int(qty), UnitPrice: unit}}, int(qty), total
	}
	items := make([]HoldItem, len(seats))
	for i, seat := range seats {
		items[i] = HoldItem{Seat: s.labels[seat], Category: s.cats[s.cat[seat]].Code, Quantity: 1, UnitPrice: prices[i]}
		total.Amount += prices[i]
	}
	return items, len(seats), total
}

func (h *holdState) view(s *Section) Hold {
	items, n, total := s.items(h.seats, h.qty, h.prices)
	return Hold{Token: h.token, Owner: h.owner, Event: s.cfg.ID.Event, Section: s.cfg.ID.Section,
		Items: items, Quantity: n, Total: total, CreatedAt: h.created, ExpiresAt: h.expires}
}

func (sale *saleState) view(s *Section) Booking {
	items, n, total := s.items(sale.seats, sale.qty, sale.prices)
	b := Booking{ID: sale.id, Owner: sale.owner, Event: s.cfg.ID.Event, Section: s.cfg.ID.Section,
		HoldToken: sale.token, Items: items, Quantity: n, Total: total, PaymentRef: sale.ref,
		Status: BookingConfirmed, ConfirmedAt: sale.at, CancelledAt: sale.cancelledAt}
	if !sale.cancelledAt.IsZero() {
		b.Status = BookingCancelled
	}
	return b
}

// ---- queries ----

// FindHold returns a live hold of the owner.
func (s *Section) FindHold(token, owner string) (Hold, error) {
	h, err := s.ownHold(token, owner)
	if err != nil {
		return Hold{}, err
	}
	return h.view(s), nil
}

// FindBooking returns a booking of the owner ("" for organizer or admin).
func (s *Section) FindBooking(id, owner string) (Booking, error) {
	sale, ok := s.sales[id]
	if !ok || owner != "" && sale.owner != owner {
		return Booking{}, Errorf(ENOTFOUND, "no booking %q", id)
	}
	return sale.view(s), nil
}

// OwnerCount is how many seats the owner holds and owns in this section.
func (s *Section) OwnerCount(owner string) int { return int(s.byOwner[owner]) }

// OwnerCounts is OwnerCount for every owner with seats.
func (s *Section) OwnerCounts() map[string]int {
	out := make(map[string]int, len(s.byOwner))
	for o, n := range s.byOwner {
		if n > 0 {
			out[o] = int(n)
		}
	}
	return out
}

// expiryHeap orders holds by expiry.
type expiryHeap []*holdState

func (h expiryHeap) Len() int { return len(h) }
func (h expiryHeap) Less(i, j int) bool {
	if h[i].expires.Equal(h[j].expires) {
		return h[i].token < h[j].token
	}
	return h[i].expires.Before(h[j].expires)
}
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}
func (h *expiryHeap) Push(x any) {
	hs := x.(*holdState)
	hs.heapIdx = len(*h)
	*h = append(*h, hs)
}
func (h *expiryHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return x
}
