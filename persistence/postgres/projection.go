package postgres

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/ticketview/ticketview"
)

// OutboxTopic is the topic of the outbox rows the section events make.
const OutboxTopic = "ticketview.section-events"

// OutboxVersion is the "v" of the outbox payloads.
const OutboxVersion = 1

type secKey struct{ event, section string }

type nameKey struct { // a booking id or a hold token in a section
	sec  secKey
	name string
}

type seatKey struct {
	sec  secKey
	seat int32
}

// keyCols are keys as the columns of an unnest.
type keyCols struct {
	e, s, name []string
	seat       []int32
}

func (k *keyCols) addName(n nameKey) {
	k.e, k.s, k.name = append(k.e, n.sec.event), append(k.s, n.sec.section), append(k.name, n.name)
}

func (k *keyCols) addSeat(s seatKey) {
	k.e, k.s, k.seat = append(k.e, s.sec.event), append(k.s, s.sec.section), append(k.seat, s.seat)
}

// lookups is what the first round trip of a batch reads: its sections (locked), and the
// tickets, bookings and holds its confirmations and cancellations name.
type lookups struct {
	secEvents, secSections []string
	seats                  keyCols
	bookings, holds        keyCols
}

func collectLookups(live []*request) *lookups {
	lk := &lookups{}
	secs := map[secKey]bool{}
	var seats map[seatKey]bool
	var names map[nameKey]uint8 // 1: booking looked up, 2: hold looked up
	for _, r := range live {
		if !secs[r.sec] {
			secs[r.sec] = true
			lk.secEvents, lk.secSections = append(lk.secEvents, r.sec.event), append(lk.secSections, r.sec.section)
		}
		for i := range r.events {
			ev := &r.events[i]
			if ev.Type != ticketview.EvHoldConfirmed && ev.Type != ticketview.EvSaleCancelled {
				continue
			}
			if names == nil {
				seats, names = map[seatKey]bool{}, map[nameKey]uint8{}
			}
			if bk := (nameKey{r.sec, clean(ev.BookingID)}); names[bk]&1 == 0 {
				names[bk] |= 1
				lk.bookings.addName(bk)
			}
			if ev.Type != ticketview.EvHoldConfirmed {
				continue
			}
			if hk := (nameKey{r.sec, clean(ev.Token)}); names[hk]&2 == 0 {
				names[hk] |= 2
				lk.holds.addName(hk)
			}
			for _, seat := range ev.Seats {
				if sk := (seatKey{r.sec, seat}); !seats[sk] {
					seats[sk] = true
					lk.seats.addSeat(sk)
				}
			}
		}
	}
	return lk
}

// secState is a section's journal_sections row as the batch sees it.
type secState struct {
	epoch, last uint64
}

type holdInfo struct {
	seats  []int32
	qty    int32
	prices []int64
}

type bookingState struct {
	cancelled bool
	seats     []int32 // seats of its valid tickets
}

// sim checks the requests of a batch, in queue order, against the state the first round
// trip read, kept up to date with the requests it accepts: the fencing and Seq checks
// of the journal, and the projection's rules (a seat has one valid ticket at most, a
// booking id is used once per section).
type sim struct {
	precheckSeats bool
	secs          map[secKey]*secState
	valid         map[seatKey]string // seat -> booking of its valid ticket
	bookings      map[nameKey]*bookingState
	holds         map[nameKey]*holdInfo // nil: known to be gone
	undo          []undoEntry           // reverts the current request's changes
	unknown       map[secKey]uint64     // the committer's sections of unknown outcome (see committer)
}

func newSim(precheckSeats bool) *sim {
	return &sim{precheckSeats: precheckSeats, secs: map[secKey]*secState{}, valid: map[seatKey]string{},
		bookings: map[nameKey]*bookingState{}, holds: map[nameKey]*holdInfo{}}
}

// plan is the outcome of the checks: the accepted requests, in order, with their writes.
type plan struct {
	reqs   []*request
	writes []writes
}

// writes are what one accepted request writes, in event order.
type writes struct {
	sec         secKey
	first, last uint64 // 0, 0: an empty append, which writes nothing
	data        []byte
	acts        []action
}

type actKind uint8

const (
	actHoldPut    actKind = iota // a hold was placed
	actHoldExtend                // its expiry moved
	actHoldDel                   // it ended (released, expired, confirmed)
	actBook                      // a booking with its tickets
	actCancel                    // a booking and its tickets were cancelled
	actOutbox                    // an outbox row
)

type action struct {
	kind    actKind
	key     nameKey
	at      time.Time // actHoldExtend: the new expiry; actCancel: when
	seq     uint64    // actCancel
	hold    *holdRow
	booking *bookingRow
	payload string // actOutbox
}

type holdRow struct {
	owner            string
	seats            []int32
	qty              int32
	prices           []int64
	created, expires time.Time
}

type bookingRow struct {
	owner, token, ref string
	cancelled         bool
	qty               int32
	total             *int64
	at, cancelledAt   time.Time
	seq, cancelSeq    uint64
	tickets           []ticketRow
}

type ticketRow struct {
	seat  *int32
	price *int64
}

// check checks request r and returns its writes, or the error r fails with.
func (s *sim) check(r *request) (writes, error) {
	st := s.secs[r.sec]
	if st == nil {
		return writes{}, fenced(r.id, r.epoch, 0)
	}
	if st.epoch != r.epoch {
		return writes{}, fenced(r.id, r.epoch, st.epoch)
	}
	if e, ok := s.unknown[r.sec]; ok {
		if e == r.epoch {
			return writes{}, &storeError{te: ticketview.Errorf(ticketview.EUNAVAILABLE,
				"postgres: unavailable: section %s: an earlier append of this activation may or may not have been committed (the connection was lost at its commit); activate the section again", r.id)}
		}
		delete(s.unknown, r.sec) // a newer activation: it knows what the journal holds
	}
	if len(r.events) == 0 {
		return writes{sec: r.sec}, nil
	}
	if r.first != st.last+1 {
		return writes{}, ticketview.Errorf(ticketview.EINTERNAL, "section %s: append at seq %d, the journal ends at %d", r.id, r.first, st.last)
	}
	clear(s.undo)
	s.undo = s.undo[:0]
	w := writes{sec: r.sec, first: r.first, last: r.last, data: r.data}
	for i := range r.events {
		if err := s.event(r, &r.events[i], &w); err != nil {
			s.rollback()
			return writes{}, err
		}
	}
	st.last = r.last
	return w, nil
}

// undoEntry restores one map entry the current request changed.
type undoEntry struct {
	kind    uint8 // undoHold, undoBooking, undoValid
	had     bool  // the entry existed before
	name    nameKey
	seat    seatKey
	hold    *holdInfo
	booking *bookingState
	valid   string
}

const (
	undoHold uint8 = iota
	undoBooking
	undoValid
)

func (s *sim) rollback() {
	for i := len(s.undo) - 1; i >= 0; i-- {
		u := &s.undo[i]
		switch {
		case u.kind == undoHold && u.had:
			s.holds[u.name] = u.hold
		case u.kind == undoHold:
			delete(s.holds, u.name)
		case u.kind == undoBooking && u.had:
			s.bookings[u.name] = u.booking
		case u.kind == undoBooking:
			delete(s.bookings, u.name)
		case u.had:
			s.valid[u.seat] = u.valid
		default:
			delete(s.valid, u.seat)
		}
	}
	clear(s.undo)
	s.undo = s.undo[:0]
}

func (s *sim) setHold(k nameKey, h *holdInfo) {
	old, had := s.holds[k]
	s.undo = append(s.undo, undoEntry{kind: undoHold, had: had, name: k, hold: old})
	s.holds[k] = h
}

func (s *sim) setBooking(k nameKey, b *bookingState) {
	old, had := s.bookings[k]
	s.undo = append(s.undo, undoEntry{kind: undoBooking, had: had, name: k, booking: old})
	s.bookings[k] = b
}

// setValid records that seat k has a valid ticket of booking, or none ("").
func (s *sim) setValid(k seatKey, booking string) {
	old, had := s.valid[k]
	s.undo = append(s.undo, undoEntry{kind: undoValid, had: had, seat: k, valid: old})
	if booking == "" {
		delete(s.valid, k)
	} else {
		s.valid[k] = booking
	}
}

// event checks one event of r and adds its writes to w.
func (s *sim) event(r *request, ev *ticketview.SectionEvent, w *writes) error {
	sec := r.sec
	switch ev.Type {
	case ticketview.EvHoldPlaced:
		k := nameKey{sec, clean(ev.Token)}
		s.setHold(k, &holdInfo{seats: ev.Seats, qty: ev.Quantity, prices: ev.Prices})
		qty := ev.Quantity
		if len(ev.Seats) > 0 {
			qty = int32(len(ev.Seats))
		}
		w.acts = append(w.acts, action{kind: actHoldPut, key: k, hold: &holdRow{owner: clean(ev.Owner), seats: ev.Seats,
			qty: qty, prices: ev.Prices, created: ev.At, expires: ev.ExpiresAt}})
	case ticketview.EvHoldExtended:
		w.acts = append(w.acts, action{kind: actHoldExtend, key: nameKey{sec, clean(ev.Token)}, at: ev.ExpiresAt})
	case ticketview.EvHoldReleased, ticketview.EvHoldExpired:
		k := nameKey{sec, clean(ev.Token)}
		s.setHold(k, nil)
		w.acts = append(w.acts, action{kind: actHoldDel, key: k})
	case ticketview.EvHoldConfirmed:
		if err := s.confirm(r, ev, w); err != nil {
			return err
		}
	case ticketview.EvSaleCancelled:
		bk := nameKey{sec, clean(ev.BookingID)}
		if b := s.bookings[bk]; b != nil && !b.cancelled {
			for _, seat := range b.seats {
				if sk := (seatKey{sec, seat}); s.valid[sk] == bk.name {
					s.setValid(sk, "")
				}
			}
			s.setBooking(bk, &bookingState{cancelled: true})
			w.acts = append(w.acts, action{kind: actCancel, key: bk, at: ev.At, seq: ev.Seq})
		}
		// A booking the projection does not know (or cancelled already) changes nothing
		// there; the journal has the event all the same.
	}
	if outboxed(ev.Type) {
		w.acts = append(w.acts, action{kind: actOutbox, payload: outboxPayload(r.id, ev)})
	}
	return nil
}

// confirm checks a confirmation: its booking id is new in the section and none of its
// seats has a valid ticket; it becomes a booking with a ticket per seat (or place).
func (s *sim) confirm(r *request, ev *ticketview.SectionEvent, w *writes) error {
	sec := r.sec
	if ev.BookingID == "" {
		return ticketview.Errorf(ticketview.EINTERNAL, "section %s: event %d confirms a hold without a booking id", r.id, ev.Seq)
	}
	bk := nameKey{sec, clean(ev.BookingID)}
	if s.bookings[bk] != nil {
		return ticketview.Errorf(ticketview.ECONFLICT, "section %s: event %d: booking id %q is already used in the section", r.id, ev.Seq, ev.BookingID)
	}
	hk := nameKey{sec, clean(ev.Token)}
	hold := s.holds[hk]
	for i, seat := range ev.Seats {
		if s.precheckSeats {
			if other, sold := s.valid[seatKey{sec, seat}]; sold {
				return ticketview.Errorf(ticketview.ECONFLICT, "section %s: event %d would sell seat %d again: booking %q has a valid ticket for it",
					r.id, ev.Seq, seat, other)
			}
		}
		for _, prev := range ev.Seats[:i] {
			if prev == seat {
				return ticketview.Errorf(ticketview.ECONFLICT, "section %s: event %d sells seat %d twice", r.id, ev.Seq, seat)
			}
		}
	}
	b := &bookingRow{owner: clean(ev.Owner), token: hk.name, ref: clean(ev.Reference), at: ev.At, seq: ev.Seq}
	var total int64
	known := true
	if len(ev.Seats) > 0 {
		price := seatPrices(ev, hold)
		b.qty = int32(len(ev.Seats))
		b.tickets = make([]ticketRow, len(ev.Seats))
		for i := range ev.Seats {
			b.tickets[i] = ticketRow{seat: &ev.Seats[i], price: price(i)}
			if p := b.tickets[i].price; p != nil {
				total += *p
			} else {
				known = false
			}
		}
	} else if ev.Quantity > 0 {
		unit := unitPrice(ev, hold)
		b.qty = ev.Quantity
		b.tickets = make([]ticketRow, ev.Quantity)
		for i := range b.tickets {
			b.tickets[i] = ticketRow{price: unit}
		}
		if unit != nil {
			total = *unit * int64(ev.Quantity)
		} else {
			known = false
		}
	}
	if known {
		b.total = &total
	}
	for _, seat := range ev.Seats {
		s.setValid(seatKey{sec, seat}, bk.name)
	}
	s.setBooking(bk, &bookingState{seats: ev.Seats})
	s.setHold(hk, nil)
	w.acts = append(w.acts, action{kind: actBook, key: bk, booking: b}, action{kind: actHoldDel, key: hk})
	return nil
}

// seatPrices returns the price of the confirmation's i-th seat: the event's own price
// per seat if it has them, else the one fixed in the hold; nil if neither is known.
func seatPrices(ev *ticketview.SectionEvent, hold *holdInfo) func(i int) *int64 {
	if len(ev.Prices) == len(ev.Seats) {
		return func(i int) *int64 { return &ev.Prices[i] }
	}
	if hold == nil || len(hold.prices) != len(hold.seats) {
		return func(int) *int64 { return nil }
	}
	return func(i int) *int64 {
		if i < len(hold.seats) && hold.seats[i] == ev.Seats[i] {
			return &hold.prices[i]
		}
		for j, seat := range hold.seats {
			if seat == ev.Seats[i] {
				return &hold.prices[j]
			}
		}
		return nil
	}
}

// unitPrice is a general-admission confirmation's price per place, if known.
func unitPrice(ev *ticketview.SectionEvent, hold *holdInfo) *int64 {
	switch {
	case len(ev.Prices) == 1:
		return &ev.Prices[0]
	case hold != nil && len(hold.prices) == 1:
		return &hold.prices[0]
	}
	return nil
}

// outboxed reports whether events of the type go to the outbox.
func outboxed(t ticketview.SectionEventType) bool {
	switch t {
	case ticketview.EvHoldPlaced, ticketview.EvHoldReleased, ticketview.EvHoldExpired,
		ticketview.EvHoldConfirmed, ticketview.EvSaleCancelled:
		return true
	}
	return false
}

// OutboxEvent is the JSON payload of an outbox row (version 1).
type OutboxEvent struct {
	V         int       `json:"v"`
	Type      string    `json:"type"` // ticketview.SectionEventType.String()
	Event     string    `json:"event"`
	Section   string    `json:"section"`
	Seq       uint64    `json:"seq"`
	At        time.Time `json:"at"`
	Hold      string    `json:"hold,omitempty"` // HoldRef of the hold's token (the token itself is a secret)
	Owner     string    `json:"owner,omitempty"`
	Seats     []int32   `json:"seats,omitempty"` // seat indexes (see the seats table)
	Prices    []int64   `json:"prices,omitempty"`
	Quantity  int32     `json:"quantity,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	BookingID string    `json:"booking_id,omitempty"`
	Reference string    `json:"reference,omitempty"`
}

// outboxPayload is the JSON of the event's OutboxEvent, as encoding/json writes it,
// written by hand: it is made for a good part of all events, and reflection would be
// most of the cost.
func outboxPayload(id ticketview.SectionID, ev *ticketview.SectionEvent) string {
	b := make([]byte, 0, 256)
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, OutboxVersion, 10)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, ev.Type.String())
	b = append(b, `,"event":`...)
	b = appendJSONString(b, clean(id.Event))
	b = append(b, `,"section":`...)
	b = appendJSONString(b, clean(id.Section))
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, `,"at":`...)
	b = appendJSONTime(b, ev.At)
	if ev.Token != "" {
		b = append(b, `,"hold":`...)
		b = appendJSONString(b, HoldRef(ev.Token))
	}
	if ev.Owner != "" {
		b = append(b, `,"owner":`...)
		b = appendJSONString(b, clean(ev.Owner))
	}
	if len(ev.Seats) > 0 {
		b = append(b, `,"seats":[`...)
		for i, x := range ev.Seats {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(x), 10)
		}
		b = append(b, ']')
	}
	if len(ev.Prices) > 0 {
		b = append(b, `,"prices":[`...)
		for i, x := range ev.Prices {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, x, 10)
		}
		b = append(b, ']')
	}
	if ev.Quantity != 0 {
		b = append(b, `,"quantity":`...)
		b = strconv.AppendInt(b, int64(ev.Quantity), 10)
	}
	if !ev.ExpiresAt.IsZero() {
		b = append(b, `,"expires_at":`...)
		b = appendJSONTime(b, ev.ExpiresAt)
	}
	if ev.BookingID != "" {
		b = append(b, `,"booking_id":`...)
		b = appendJSONString(b, clean(ev.BookingID))
	}
	if ev.Reference != "" {
		b = append(b, `,"reference":`...)
		b = appendJSONString(b, clean(ev.Reference))
	}
	return string(append(b, '}'))
}

// HoldRef is how the outbox names a hold: the first 16 hex digits of the SHA-256 of its
// token. Consumers can follow a hold from placed to ended with it, but cannot act on the
// hold, which the token allows.
func HoldRef(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:8])
}

// appendJSONString appends s, valid UTF-8, as a JSON string, escaped as encoding/json
// escapes it.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == '\u2028' || r == '\u2029' {
				b = append(b, s[start:i]...)
				b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONTime appends t as encoding/json writes a time.Time (RFC 3339 with
// nanoseconds); a time beyond what it can write becomes null.
func appendJSONTime(b []byte, t time.Time) []byte {
	if y := t.Year(); y < 0 || y > 9999 {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// clean makes s storable in a text column (and in jsonb): valid UTF-8 without NUL. The
// journal keeps the original bytes.
func clean(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// merged is the net effect of a sequence of writes, as one statement per table: a
// booking confirmed and cancelled within it is inserted cancelled, a hold placed and
// ended within it is not inserted, and so on. Its statements run in an order that keeps
// every constraint (cancellations of earlier bookings before new tickets).
type merged struct {
	secLast  map[secKey]uint64
	secOrder []secKey

	jE, jS       []string
	jFirst, jEnd []int64
	jData        [][]byte

	holds     map[nameKey]*holdMerge
	holdOrder []nameKey
	books     map[nameKey]*bookMerge
	bookOrder []nameKey

	outKeys, outPayloads []string
}

type holdMerge struct {
	del    bool      // delete the stored row
	extend time.Time // set the stored row's expiry (non-zero)
	put    *holdRow  // then insert (or replace) this row
}

type bookMerge struct {
	cancel    bool // cancel the stored booking
	cancelAt  time.Time
	cancelSeq uint64
	ins       *bookingRow // insert this booking
}

func (m *merged) add(w *writes) {
	if w.first == 0 {
		return
	}
	if m.secLast == nil {
		m.secLast, m.holds, m.books = map[secKey]uint64{}, map[nameKey]*holdMerge{}, map[nameKey]*bookMerge{}
	}
	if _, ok := m.secLast[w.sec]; !ok {
		m.secOrder = append(m.secOrder, w.sec)
	}
	m.secLast[w.sec] = w.last
	m.jE, m.jS = append(m.jE, w.sec.event), append(m.jS, w.sec.section)
	m.jFirst, m.jEnd, m.jData = append(m.jFirst, int64(w.first)), append(m.jEnd, int64(w.last)), append(m.jData, w.data)
	for i := range w.acts {
		a := &w.acts[i]
		switch a.kind {
		case actHoldPut:
			h := m.hold(a.key)
			row := *a.hold
			h.put = &row
		case actHoldExtend:
			h := m.hold(a.key)
			if h.put != nil {
				h.put.expires = a.at
			} else if !h.del {
				h.extend = a.at
			}
		case actHoldDel:
			h := m.hold(a.key)
			h.put, h.del, h.extend = nil, true, time.Time{}
		case actBook:
			b := m.book(a.key)
			row := *a.booking
			row.tickets = append([]ticketRow(nil), row.tickets...)
			b.ins = &row
		case actCancel:
			b := m.book(a.key)
			if b.ins != nil {
				b.ins.cancelled, b.ins.cancelledAt, b.ins.cancelSeq = true, a.at, a.seq
			} else {
				b.cancel, b.cancelAt, b.cancelSeq = true, a.at, a.seq
			}
		case actOutbox:
			m.outKeys = append(m.outKeys, w.sec.event+"/"+w.sec.section)
			m.outPayloads = append(m.outPayloads, a.payload)
		}
	}
}

func (m *merged) hold(k nameKey) *holdMerge {
	h := m.holds[k]
	if h == nil {
		h = &holdMerge{}
		m.holds[k] = h
		m.holdOrder = append(m.holdOrder, k)
	}
	return h
}

func (m *merged) book(k nameKey) *bookMerge {
	b := m.books[k]
	if b == nil {
		b = &bookMerge{}
		m.books[k] = b
		m.bookOrder = append(m.bookOrder, k)
	}
	return b
}

// Statements of the second round trip: each writes any number of rows, given as arrays,
// to one or more tables (data-modifying WITH queries). Rows one statement writes are
// never written twice by it, and a statement that must see another's effects comes
// after it: the holds of a batch are deleted, extended or upserted (never two of these
// for one hold); bookings cancelled before new tickets are inserted (a seat may be sold
// again once its booking is cancelled).
const (
	// qWriteJournal moves the sections' last_seq, adds the journal rows and the outbox rows.
	qWriteJournal = `WITH s AS (
			UPDATE journal_sections j SET last_seq = k.last
			FROM unnest($1::text[], $2::text[], $3::bigint[]) AS k(e, s, last)
			WHERE j.event_id = k.e AND j.section_id = k.s
		), o AS (
			INSERT INTO outbox (topic, key, payload)
			SELECT $9, k.key, k.payload::jsonb FROM unnest($10::text[], $11::text[]) WITH ORDINALITY AS k(key, payload, n)
			ORDER BY k.n
		)
		INSERT INTO journal (event_id, section_id, first_seq, last_seq, data)
		SELECT * FROM unnest($4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bytea[])`
	// qWriteHolds deletes ended holds, moves extended ones' expiry and upserts new ones.
	qWriteHolds = `WITH d AS (
			DELETE FROM holds h USING unnest($1::text[], $2::text[], $3::text[]) AS k(e, s, tok)
			WHERE h.event_id = k.e AND h.section_id = k.s AND h.token = k.tok
		), x AS (
			UPDATE holds h SET expires_at = k.exp
			FROM unnest($4::text[], $5::text[], $6::text[], $7::timestamptz[]) AS k(e, s, tok, exp)
			WHERE h.event_id = k.e AND h.section_id = k.s AND h.token = k.tok
		)
		INSERT INTO holds (event_id, section_id, token, owner, seats, quantity, prices, created_at, expires_at)
		SELECT k.e, k.s, k.tok, k.owner, k.seats::int[], k.qty, k.prices::bigint[], k.created, k.exp
		FROM unnest($8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::int[], $14::text[],
			$15::timestamptz[], $16::timestamptz[]) AS k(e, s, tok, owner, seats, qty, prices, created, exp)
		ON CONFLICT (event_id, section_id, token) DO UPDATE SET owner = excluded.owner, seats = excluded.seats,
			quantity = excluded.quantity, prices = excluded.prices, created_at = excluded.created_at,
			expires_at = excluded.expires_at`
	// qCancelBookings cancels stored bookings and their tickets. (status <> 'cancelled'
	// rather than = 'valid': the partial index on valid tickets must not look like a way
	// to find a booking's tickets.)
	qCancelBookings = `WITH b AS (
			UPDATE bookings b SET status = 'cancelled', cancelled_at = k.at, cancel_seq = k.seq
			FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[]) AS k(e, s, id, at, seq)
			WHERE b.event_id = k.e AND b.section_id = k.s AND b.id = k.id AND b.status = 'confirmed'
		)
		UPDATE tickets t SET status = 'cancelled', cancelled_at = k.at
		FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS k(e, s, id, at)
		WHERE t.event_id = k.e AND t.section_id = k.s AND t.booking_id = k.id AND t.status <> 'cancelled'`
	// qInsBookings inserts bookings and their tickets (the foreign key is checked at the
	// end of the statement, when both are there).
	qInsBookings = `WITH b AS (
			INSERT INTO bookings (event_id, section_id, id, owner, hold_token, status, quantity, total, payment_ref,
				confirmed_at, cancelled_at, confirm_seq, cancel_seq)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[],
				$8::bigint[], $9::text[], $10::timestamptz[], $11::timestamptz[], $12::bigint[], $13::bigint[])
		)
		INSERT INTO tickets (event_id, section_id, booking_id, seat_index, price, status, issued_at, cancelled_at)
		SELECT * FROM unnest($14::text[], $15::text[], $16::text[], $17::int[], $18::bigint[], $19::text[],
			$20::timestamptz[], $21::timestamptz[])`
)

// queue queues m's statements on b.
func (m *merged) queue(b *pgx.Batch) {
	if len(m.secOrder) == 0 {
		return
	}
	var se, ss []string
	var sl []int64
	for _, k := range m.secOrder {
		se, ss, sl = append(se, k.event), append(ss, k.section), append(sl, int64(m.secLast[k]))
	}
	outKeys, outPayloads := m.outKeys, m.outPayloads
	if outKeys == nil { // an empty array, not NULL
		outKeys, outPayloads = []string{}, []string{}
	}
	b.Queue(qWriteJournal, se, ss, sl, m.jE, m.jS, m.jFirst, m.jEnd, m.jData, OutboxTopic, outKeys, outPayloads)

	var del, ext, put keyCols
	extAt := []time.Time{}
	pOwner, pSeats, pPrices := []string{}, []string{}, []string{}
	pQty := []int32{}
	pCreated, pExpires := []*time.Time{}, []*time.Time{}
	for _, k := range m.holdOrder {
		h := m.holds[k]
		switch {
		case h.put != nil: // an upsert replaces a stored row: no delete needed
			r := h.put
			put.addName(k)
			pOwner, pSeats, pPrices = append(pOwner, r.owner), append(pSeats, intArray(r.seats)), append(pPrices, intArray(r.prices))
			pQty = append(pQty, r.qty)
			pCreated, pExpires = append(pCreated, tsOrNil(r.created)), append(pExpires, tsOrNil(r.expires))
		case h.del:
			del.addName(k)
		case !h.extend.IsZero():
			ext.addName(k)
			extAt = append(extAt, h.extend)
		}
	}
	if len(m.holdOrder) > 0 {
		del.nonNil()
		ext.nonNil()
		put.nonNil()
		b.Queue(qWriteHolds, del.e, del.s, del.name, ext.e, ext.s, ext.name, extAt,
			put.e, put.s, put.name, pOwner, pSeats, pQty, pPrices, pCreated, pExpires)
	}

	var canc, ins keyCols
	var cAt []time.Time
	var cSeq []int64
	bOwner, bToken, bStatus, bRef := []string{}, []string{}, []string{}, []string{}
	bQty := []int32{}
	bTotal := []*int64{}
	bAt, bCancelAt := []*time.Time{}, []*time.Time{}
	bSeq := []int64{}
	bCancelSeq := []*int64{}
	tE, tS, tBooking, tStatus := []string{}, []string{}, []string{}, []string{}
	tSeat := []*int32{}
	tPrice := []*int64{}
	tAt, tCancelAt := []*time.Time{}, []*time.Time{}
	for _, k := range m.bookOrder {
		bm := m.books[k]
		if bm.cancel {
			canc.addName(k)
			cAt, cSeq = append(cAt, bm.cancelAt), append(cSeq, int64(bm.cancelSeq))
		}
		r := bm.ins
		if r == nil {
			continue
		}
		ins.addName(k)
		status, tstatus := "confirmed", "valid"
		var cancelSeq *int64
		if r.cancelled {
			status, tstatus = "cancelled", "cancelled"
			cs := int64(r.cancelSeq)
			cancelSeq = &cs
		}
		bOwner, bToken, bStatus, bRef = append(bOwner, r.owner), append(bToken, r.token), append(bStatus, status), append(bRef, r.ref)
		bQty, bTotal = append(bQty, r.qty), append(bTotal, r.total)
		bAt, bCancelAt = append(bAt, tsOrNil(r.at)), append(bCancelAt, tsOrNil(r.cancelledAt))
		bSeq, bCancelSeq = append(bSeq, int64(r.seq)), append(bCancelSeq, cancelSeq)
		for _, t := range r.tickets {
			tE, tS, tBooking, tStatus = append(tE, k.sec.event), append(tS, k.sec.section), append(tBooking, k.name), append(tStatus, tstatus)
			tSeat, tPrice = append(tSeat, t.seat), append(tPrice, t.price)
			tAt, tCancelAt = append(tAt, tsOrNil(r.at)), append(tCancelAt, tsOrNil(r.cancelledAt))
		}
	}
	if len(canc.e) > 0 {
		b.Queue(qCancelBookings, canc.e, canc.s, canc.name, cAt, cSeq)
	}
	if len(ins.e) > 0 {
		b.Queue(qInsBookings, ins.e, ins.s, ins.name, bOwner, bToken, bStatus, bQty, bTotal, bRef, bAt, bCancelAt, bSeq, bCancelSeq,
			tE, tS, tBooking, tSeat, tPrice, tStatus, tAt, tCancelAt)
	}
}

// nonNil makes k's columns empty arrays rather than NULL.
func (k *keyCols) nonNil() {
	if k.e == nil {
		k.e, k.s, k.name = []string{}, []string{}, []string{}
	}
}

func tsOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// intArray is the PostgreSQL array literal of xs ("{1,2,3}").
func intArray[T int32 | int64](xs []T) string {
	b := make([]byte, 0, 2+len(xs)*6)
	b = append(b, '{')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(x), 10)
	}
	return string(append(b, '}'))
}
