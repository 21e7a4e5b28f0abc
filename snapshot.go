package ticketview

import (
	"container/heap"
	"time"
)

// SectionSnapshot is a section's whole state at a journal position.
type SectionSnapshot struct {
	Seq       uint64         `json:"seq"`
	TakenAt   time.Time      `json:"taken_at"`
	Status    []byte         `json:"status,omitempty"` // seated: one SeatStatus per seat
	GABlocked int32          `json:"ga_blocked,omitempty"`
	Holds     []SnapshotHold `json:"holds,omitempty"`
	Sales     []SnapshotSale `json:"sales,omitempty"`
	Tombs     []SnapshotTomb `json:"tombs,omitempty"`
	Idem      []SnapshotIdem `json:"idem,omitempty"`
}

type SnapshotHold struct {
	Token   string    `json:"token"`
	Owner   string    `json:"owner"`
	Seats   []int32   `json:"seats,omitempty"`
	Qty     int32     `json:"qty,omitempty"`
	Prices  []int64   `json:"prices"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

type SnapshotSale struct {
	ID          string    `json:"id"`
	Owner       string    `json:"owner"`
	Token       string    `json:"token"`
	Ref         string    `json:"ref"`
	Seats       []int32   `json:"seats,omitempty"`
	Qty         int32     `json:"qty,omitempty"`
	Prices      []int64   `json:"prices"`
	At          time.Time `json:"at"`
	CancelledAt time.Time `json:"cancelled_at,omitzero"`
}

type SnapshotTomb struct {
	Token     string           `json:"token"`
	Type      SectionEventType `json:"type"`
	At        time.Time        `json:"at"`
	Owner     string           `json:"owner"`
	BookingID string           `json:"booking_id,omitempty"`
}

type SnapshotIdem struct {
	Key       string           `json:"key"`
	Type      SectionEventType `json:"type"`
	At        time.Time        `json:"at"`
	Token     string           `json:"token,omitempty"`
	BookingID string           `json:"booking_id,omitempty"`
	Hold      *Hold            `json:"hold,omitempty"`
}

// Snapshot forgets idempotency keys and ended-hold records older than IdempotencyKeyTTL
// and returns a copy of the state. The section's state equals what Restore rebuilds.
func (s *Section) Snapshot(now time.Time) *SectionSnapshot {
	cut := now.Add(-IdempotencyKeyTTL)
	snap := &SectionSnapshot{Seq: s.seq, TakenAt: now}
	if s.ga {
		snap.GABlocked = s.blocked[s.gaCat]
	} else {
		snap.Status = make([]byte, len(s.status))
		for i, st := range s.status {
			snap.Status[i] = byte(st)
		}
	}
	for _, h := range s.expiry { // heap order: deterministic enough, restored by heap.Push
		snap.Holds = append(snap.Holds, SnapshotHold{Token: h.token, Owner: h.owner, Seats: h.seats,
			Qty: h.qty, Prices: h.prices, Created: h.created, Expires: h.expires})
	}
	for _, sale := range s.sales {
		snap.Sales = append(snap.Sales, SnapshotSale{ID: sale.id, Owner: sale.owner, Token: sale.token,
			Ref: sale.ref, Seats: sale.seats, Qty: sale.qty, Prices: sale.prices, At: sale.at, CancelledAt: sale.cancelledAt})
	}
	for tok, t := range s.tombs {
		if t.at.Before(cut) {
			delete(s.tombs, tok)
			continue
		}
		snap.Tombs = append(snap.Tombs, SnapshotTomb{Token: tok, Type: t.typ, At: t.at, Owner: t.owner, BookingID: t.bookingID})
	}
	for k, e := range s.idem {
		if e.at.Before(cut) {
			delete(s.idem, k)
			continue
		}
		snap.Idem = append(snap.Idem, SnapshotIdem{Key: k, Type: e.typ, At: e.at, Token: e.token, BookingID: e.bookingID, Hold: e.hold})
	}
	return snap
}

// Restore replaces an empty section's state with a snapshot's.
func (s *Section) Restore(snap *SectionSnapshot) error {
	if s.seq != 0 {
		return Errorf(EINTERNAL, "restore into a used section")
	}
	bad := func(what string) error { return Errorf(EINTERNAL, "snapshot of %s: %s", s.cfg.ID, what) }
	if !s.ga {
		if len(snap.Status) != len(s.status) {
			return bad("seat count differs from the layout")
		}
		for i, st := range snap.Status {
			if st > byte(SeatBlocked) {
				return bad("unknown seat status")
			}
			s.count(int32(i), SeatFree, -1)
			s.count(int32(i), SeatStatus(st), +1)
			s.status[i] = SeatStatus(st)
		}
	} else {
		s.blocked[s.gaCat] = snap.GABlocked
	}
	for _, h := range snap.Holds {
		hs := &holdState{token: h.Token, owner: h.Owner, seats: h.Seats, qty: h.Qty, prices: h.Prices,
			created: h.Created, expires: h.Expires}
		if hs.seats != nil && len(hs.prices) != len(hs.seats) {
			return bad("hold without a price per seat")
		}
		for _, seat := range hs.seats {
			if seat < 0 || int(seat) >= len(s.status) || s.status[seat] != SeatHeld {
				return bad("hold on a seat not held")
			}
		}
		s.holds[hs.token] = hs
		heap.Push(&s.expiry, hs)
		if s.ga {
			s.held[s.gaCat] += hs.qty
		}
		s.byOwner[hs.owner] += hs.count()
	}
	for _, sl := range snap.Sales {
		sale := &saleState{id: sl.ID, owner: sl.Owner, token: sl.Token, ref: sl.Ref, seats: sl.Seats, qty: sl.Qty,
			prices: sl.Prices, at: sl.At, cancelledAt: sl.CancelledAt}
		if sale.seats != nil && len(sale.prices) != len(sale.seats) {
			return bad("sale without a price per seat")
		}
		for _, seat := range sale.seats {
			if seat < 0 || int(seat) >= len(s.status) || sale.cancelledAt.IsZero() && s.status[seat] != SeatSold {
				return bad("sale of a seat not sold")
			}
		}
		s.sales[sale.id] = sale
		if sale.cancelledAt.IsZero() {
			if s.ga {
				s.sold[s.gaCat] += sale.qty
			}
			s.byOwner[sale.owner] += sale.count()
		}
	}
	for _, t := range snap.Tombs {
		s.tombs[t.Token] = tomb{typ: t.Type, at: t.At, owner: t.Owner, bookingID: t.BookingID}
	}
	for _, e := range snap.Idem {
		s.idem[e.Key] = idemEntry{typ: e.Type, at: e.At, token: e.Token, bookingID: e.BookingID, hold: e.Hold}
	}
	s.seq = snap.Seq
	return nil
}

// Availability is a section's seat map and counts.
type Availability struct {
	Event      string                 `json:"event"`
	Section    string                 `json:"section"`
	Name       string                 `json:"name"`
	Kind       SectionKind            `json:"kind"`
	Seq        uint64                 `json:"seq"`
	Capacity   int                    `json:"capacity"`
	Free       int                    `json:"free"`
	Held       int                    `json:"held"`
	Sold       int                    `json:"sold"`
	Blocked    int                    `json:"blocked"`
	Categories []CategoryAvailability `json:"categories"`
	Seats      []SeatView             `json:"seats,omitempty"`
}

// CategoryAvailability counts one category's seats, with its current price.
type CategoryAvailability struct {
	Code     string `json:"code"`
	Capacity int    `json:"capacity"`
	Free     int    `json:"free"`
	Held     int    `json:"held"`
	Sold     int    `json:"sold"`
	Blocked  int    `json:"blocked"`
	Price    int64  `json:"price"`
}

// SeatView is one seat on the map.
type SeatView struct {
	Label      string     `json:"label"`
	Row        string     `json:"row"`
	Number     int        `json:"number"`
	Category   string     `json:"category"`
	X          float64    `json:"x"`
	Y          float64    `json:"y"`
	Accessible bool       `json:"accessible,omitempty"`
	Status     SeatStatus `json:"status"`
}

// Availability reports counts per category and, with seats, every seat's status.
func (s *Section) Availability(withSeats bool) Availability {
	a := Availability{Event: s.cfg.ID.Event, Section: s.cfg.ID.Section, Name: s.cfg.Layout.Name,
		Kind: s.cfg.Layout.Kind, Seq: s.seq}
	for ci, c := range s.cats {
		if s.capTot[ci] == 0 {
			continue
		}
		ca := CategoryAvailability{Code: c.Code, Capacity: int(s.capTot[ci]), Held: int(s.held[ci]),
			Sold: int(s.sold[ci]), Blocked: int(s.blocked[ci]), Price: s.priceIdx(uint8(ci))}
		ca.Free = ca.Capacity - ca.Held - ca.Sold - ca.Blocked
		a.Categories = append(a.Categories, ca)
		a.Capacity += ca.Capacity
		a.Free += ca.Free
		a.Held += ca.Held
		a.Sold += ca.Sold
		a.Blocked += ca.Blocked
	}
	if withSeats && !s.ga {
		a.Seats = make([]SeatView, 0, len(s.status))
		for _, r := range s.cfg.Layout.Rows {
			for _, seat := range r.Seats {
				a.Seats = append(a.Seats, SeatView{Label: seat.Label, Row: r.Label, Number: seat.Number,
					Category: seat.Category, X: seat.X, Y: seat.Y, Accessible: seat.Accessible,
					Status: s.status[s.byLabel[seat.Label]]})
			}
		}
	}
	return a
}

// SeatLabel is the label of seat index i.
func (s *Section) SeatLabel(i int32) string { return s.labels[i] }

// IsGA reports whether the section is general admission.
func (s *Section) IsGA() bool { return s.ga }

// Size is the number of entries a snapshot of the section holds beyond its seat map:
// live holds, sales, and remembered ended holds and idempotency keys.
func (s *Section) Size() int { return len(s.holds) + len(s.sales) + len(s.tombs) + len(s.idem) }

// Free is the number of free seats (or GA places) in the section.
func (s *Section) Free() int {
	if s.ga {
		return s.gaFree()
	}
	n := 0
	for _, f := range s.rowFree {
		n += int(f)
	}
	return n
}
