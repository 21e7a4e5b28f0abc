package ticketview_test

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	tv "github.com/ticketview/ticketview"
)

// FuzzSectionCommands decodes the fuzz input into a sequence of commands against a small
// seated section and a small general-admission section, and runs each command against
// the section and against a plain reference model of the rules. After every step it
// checks that the section's answer (error code, seats, prices, expiry, replay flag) is the
// model's, that exactly the predicted events were emitted (expiries first, in expiry
// order), that every seat's status is the model's (so released and expired seats are
// free), that the counts are conserved, and the section's internal invariants. Some steps
// swap the section for its Snapshot→Restore twin. At the end, a Replay of every event
// emitted (directly and through the binary codec) and a Snapshot→Restore must both give
// the same Availability(true) and state.
func FuzzSectionCommands(f *testing.F) {
	for _, seed := range fuzzSeeds {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		worlds := []*world{newWorld(t, false), newWorld(t, true)}
		r := &reader{b: data}
		for steps := 0; len(r.b) > 0 && steps < 400; steps++ {
			op := r.byte()
			worlds[op&1].step(r, int(op>>1))
		}
		for _, w := range worlds {
			w.finish()
		}
	})
}

// fuzzSeeds are a few hand-written command streams (also committed in testdata/fuzz).
var fuzzSeeds = [][]byte{
	[]byte("hold, confirm and cancel across both sections with expiries in between"),
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26},
	{2, 0, 0, 5, 5, 0, 4, 0, 0, 0, 6, 0, 0, 0, 1, 8, 0, 0, 0, 1, 10, 0, 0, 0, 0, 0, 18, 2, 0, 18, 4},
	{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6, 2, 6, 4, 3, 3, 8, 3, 2, 7, 9, 5},
}

type reader struct{ b []byte }

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) n(k int) int { return int(r.byte()) % k }

func pick[T any](r *reader, xs ...T) T { return xs[r.n(len(xs))] }

// ---- the reference model ----

type mHold struct {
	token, owner     string
	seats            []string
	qty              int
	prices           []int64
	created, expires time.Time
}

type mSale struct {
	id, owner, token string
	seats            []string
	qty              int
	prices           []int64
	cancelled        bool
}

type mTomb struct {
	typ     tv.SectionEventType
	at      time.Time
	owner   string
	booking string
}

type mIdem struct {
	typ     tv.SectionEventType
	at      time.Time
	token   string
	booking string
	first   tv.Hold
}

type world struct {
	t     *testing.T
	ga    bool
	name  string
	s     *tv.Section
	fresh func() *tv.Section
	now   time.Time

	// layout
	rows     []string          // pattern (seated)
	labels   []string          // every seat, in section order
	seatCat  map[string]string // label -> category
	access   map[string]bool   // label -> accessible
	capacity map[string]int    // category -> seats or places
	rowOf    map[string][2]int // label -> row, position
	cats     map[string]tv.PriceCategory

	// state
	holds   map[string]*mHold
	sales   map[string]*mSale
	tombs   map[string]mTomb
	idem    map[string]mIdem
	blocked map[string]bool // seated
	gaBlock int

	// bookkeeping
	events   []tv.SectionEvent
	tokens   []string
	bookings []string
	nextID   int
	lastKey  func() // the last command with a key, to retry
}

const gaCapacity = 12

var fuzzRows = []string{"aa....", "vvv|vvv", "dddddd", "..dd.."}

func newWorld(t *testing.T, ga bool) *world {
	w := &world{t: t, ga: ga, now: t0, holds: map[string]*mHold{}, sales: map[string]*mSale{}, tombs: map[string]mTomb{},
		idem: map[string]mIdem{}, blocked: map[string]bool{}, seatCat: map[string]string{}, access: map[string]bool{},
		capacity: map[string]int{}, rowOf: map[string][2]int{}, cats: map[string]tv.PriceCategory{}}
	for _, c := range testCats {
		w.cats[c.Code] = c
	}
	if ga {
		w.name = "GA"
		w.fresh = func() *tv.Section {
			return newSection(t, &tv.SectionLayout{ID: "pit", Kind: tv.GeneralAdmission, Capacity: gaCapacity, Category: "DYN"})
		}
		w.capacity["DYN"] = gaCapacity
	} else {
		w.name = "seated"
		w.rows = fuzzRows
		w.fresh = func() *tv.Section { return patternSection(t, fuzzRows...) }
		for r, row := range refRows(fuzzRows) {
			for p, seat := range row {
				w.labels = append(w.labels, seat.label)
				w.seatCat[seat.label] = seat.cat
				w.access[seat.label] = seat.access
				w.capacity[seat.cat]++
				w.rowOf[seat.label] = [2]int{r, p}
			}
		}
	}
	w.s = w.fresh()
	return w
}

func (w *world) fatalf(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("%s section at %v: %s", w.name, w.now.Sub(t0), fmt.Sprintf(format, args...))
}

func (w *world) status(label string) tv.SeatStatus {
	for _, h := range w.holds {
		if slices.Contains(h.seats, label) {
			return tv.SeatHeld
		}
	}
	for _, s := range w.sales {
		if !s.cancelled && slices.Contains(s.seats, label) {
			return tv.SeatSold
		}
	}
	if w.blocked[label] {
		return tv.SeatBlocked
	}
	return tv.SeatFree
}

func (w *world) ownerCount(owner string) int {
	n := 0
	for _, h := range w.holds {
		if h.owner == owner {
			n += h.qty
		}
	}
	for _, s := range w.sales {
		if s.owner == owner && !s.cancelled {
			n += s.qty
		}
	}
	return n
}

// counts are the held and sold seats (places) of a category.
func (w *world) counts(cat string) (held, sold int) {
	for _, h := range w.holds {
		if w.ga {
			held += h.qty
			continue
		}
		for _, l := range h.seats {
			if w.seatCat[l] == cat {
				held++
			}
		}
	}
	for _, s := range w.sales {
		if s.cancelled {
			continue
		}
		if w.ga {
			sold += s.qty
			continue
		}
		for _, l := range s.seats {
			if w.seatCat[l] == cat {
				sold++
			}
		}
	}
	return held, sold
}

func (w *world) price(cat string) int64 {
	held, sold := w.counts(cat)
	return tv.DynamicPrice(w.cats[cat], sold, held, w.capacity[cat])
}

func (w *world) gaFree() int {
	held, sold := w.counts("DYN")
	return gaCapacity - held - sold - w.gaBlock
}

// expireDue ends the model's holds due at now, in expiry order, and returns them.
func (w *world) expireDue() []*mHold {
	var due []*mHold
	for _, h := range w.holds {
		if !h.expires.After(w.now) {
			due = append(due, h)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		if due[i].expires.Equal(due[j].expires) {
			return due[i].token < due[j].token
		}
		return due[i].expires.Before(due[j].expires)
	})
	for _, h := range due {
		delete(w.holds, h.token)
		w.tombs[h.token] = mTomb{typ: tv.EvHoldExpired, at: w.now, owner: h.owner}
	}
	return due
}

// idemLookup mirrors the section's key check: (entry, replay?, error code).
func (w *world) idemLookup(owner, key string, typ tv.SectionEventType) (mIdem, bool, string) {
	if key == "" {
		return mIdem{}, false, ""
	}
	e, ok := w.idem[owner+"\x00"+key]
	if !ok {
		return mIdem{}, false, ""
	}
	if e.typ != typ {
		return mIdem{}, false, tv.EINVALID
	}
	return e, true, ""
}

func (w *world) remember(owner, key string, e mIdem) {
	if key != "" {
		e.at = w.now
		w.idem[owner+"\x00"+key] = e
	}
}

// endedCode is the error for a hold that is not the owner's live hold.
func (w *world) endedCode(token, owner string) string {
	t, ok := w.tombs[token]
	switch {
	case !ok || t.owner != owner:
		return tv.ENOTFOUND
	case t.typ == tv.EvHoldExpired:
		return tv.EHOLDEXPIRED
	default:
		return tv.ECONFLICT
	}
}

func (w *world) ownHold(token, owner string) (*mHold, string) {
	h, ok := w.holds[token]
	if !ok {
		return nil, w.endedCode(token, owner)
	}
	if h.owner != owner {
		return nil, tv.ENOTFOUND
	}
	return h, ""
}

// ---- steps ----

// outcome of one command, as the model predicts it.
type expect struct {
	code    string // "" = success
	change  bool   // a success that emits one event (not a replay or no-op)
	typ     tv.SectionEventType
	replay  bool
	seats   []string // seats the command takes (hold, block)
	hold    *mHold   // hold result expected
	booking *mSale   // booking result expected
}

// step runs one command read from r. Each step starts with an op byte: its low bit picks
// the section (0 seated, 1 GA), the rest the kind, modulo 14: 0 hold of named seats,
// 1 best-available hold, 2 hold by quantity, 3 up to 5 extends, 4 release, 5 confirm,
// 6 cancel, 7 block, 8 unblock, 9 time passes (then maybe ExpireDue), 10 retry of the last
// command with a key, 11 queries, 12 swap for the Snapshot→Restore twin, 13 odd holds.
// The command's arguments follow, one byte each.
func (w *world) step(r *reader, kind int) {
	w.t.Helper()
	kinds := 14
	kind %= kinds
	if kind == 9 { // time passes; due holds expire now, or on whatever command comes next
		w.now = w.now.Add(pick(r, time.Second, 30*time.Second, time.Minute, 5*time.Minute, 10*time.Minute, 30*time.Minute,
			2*time.Hour, 25*time.Hour, 0, time.Nanosecond))
		if r.n(2) == 0 {
			return
		}
	}
	if kind == 3 { // extend, up to 5 times in a row: enough to reach the lifetime cap
		for n := 1 + r.n(5); n > 0; n-- {
			seq, before, due := w.s.Seq(), w.s.Availability(true), w.expireDue()
			desc, run, ex := w.extend(r)
			w.check(desc, run, ex, due, seq, before)
		}
		return
	}
	if kind == 12 {
		w.swapForRestored()
		return
	}
	if kind == 10 { // retry the last command that had a key
		if w.lastKey != nil {
			w.lastKey()
		}
		return
	}
	seq := w.s.Seq()
	before := w.s.Availability(true)
	var due []*mHold
	if kind != 11 { // queries expire nothing; every command expires what is due first
		due = w.expireDue()
	}
	var ex expect
	var desc string
	var run func() (any, error)
	switch kind {
	case 0, 1, 2, 13:
		desc, run, ex = w.hold(r, kind)
	case 3:
		desc, run, ex = w.extend(r)
	case 4:
		desc, run, ex = w.release(r)
	case 5:
		desc, run, ex = w.confirm(r)
	case 6:
		desc, run, ex = w.cancel(r)
	case 7, 8:
		desc, run, ex = w.block(r, kind == 8)
	case 9:
		desc = "ExpireDue"
		run = func() (any, error) { return w.s.ExpireDue(w.now), nil }
	case 11:
		desc, run, ex = w.query(r)
	}
	w.check(desc, run, ex, due, seq, before)
}

// check runs a command and compares everything with the model's prediction.
func (w *world) check(desc string, run func() (any, error), ex expect, due []*mHold, seq uint64, before tv.Availability) {
	w.t.Helper()
	v, err := run()
	if got := tv.ErrorCode(err); got != ex.code {
		w.fatalf("%s: error %v (code %q), model expects %q", desc, err, got, ex.code)
	}
	evs := w.s.TakeEvents()
	w.events = append(w.events, evs...)
	for i, e := range evs {
		if e.Seq != seq+uint64(i)+1 {
			w.fatalf("%s: event %d has seq %d after %d", desc, i, e.Seq, seq)
		}
	}
	if len(evs) < len(due) {
		w.fatalf("%s: %d events, but %d holds were due", desc, len(evs), len(due))
	}
	for i, h := range due {
		e := evs[i]
		if e.Type != tv.EvHoldExpired || e.Token != h.token || e.Owner != h.owner || !e.At.Equal(w.now) || int(e.Quantity) != h.qty ||
			!w.ga && !slices.Equal(labels(w.s, e.Seats), h.seats) {
			w.fatalf("%s: event %d is %+v, want the expiry of %+v", desc, i, e, *h)
		}
		if _, reused := w.holds[h.token]; reused {
			continue // this very command placed a new hold under the token
		}
		if _, err := w.s.FindHold(h.token, h.owner); tv.ErrorCode(err) != tv.EHOLDEXPIRED {
			w.fatalf("%s: FindHold of expired %s: %v", desc, h.token, err)
		}
	}
	rest := evs[len(due):]
	if !ex.change || ex.code != "" {
		if len(rest) != 0 {
			w.fatalf("%s: emitted %+v, model expects no change", desc, rest)
		}
		if ex.code == "" && len(due) == 0 && w.s.Seq() != seq {
			w.fatalf("%s: seq moved without events", desc)
		}
	} else if len(rest) != 1 || rest[0].Type != ex.typ {
		w.fatalf("%s: emitted %+v, want one %v", desc, rest, ex.typ)
	}
	if ex.code == "" {
		w.checkResult(desc, v, ex)
	}
	w.checkState(desc, before, due, ex)
}

func (w *world) checkResult(desc string, v any, ex expect) {
	w.t.Helper()
	switch {
	case ex.hold != nil:
		h := v.(tv.Hold)
		m := ex.hold
		if h.Token != m.token || h.Owner != m.owner || h.Replayed != ex.replay || h.Quantity != m.qty ||
			!h.CreatedAt.Equal(m.created) || !h.ExpiresAt.Equal(m.expires) {
			w.fatalf("%s: hold %+v, model %+v (replay %v)", desc, h, *m, ex.replay)
		}
		var total int64
		if w.ga {
			if len(h.Items) != 1 || h.Items[0].Quantity != m.qty || h.Items[0].UnitPrice != m.prices[0] || h.Items[0].Category != "DYN" {
				w.fatalf("%s: items %+v, model %+v", desc, h.Items, *m)
			}
			total = m.prices[0] * int64(m.qty)
		} else {
			if len(h.Items) != len(m.seats) {
				w.fatalf("%s: items %+v, model %+v", desc, h.Items, *m)
			}
			for i, it := range h.Items {
				if it.Seat != m.seats[i] || it.UnitPrice != m.prices[i] || it.Category != w.seatCat[it.Seat] || it.Quantity != 1 {
					w.fatalf("%s: item %d %+v, model seat %s price %d", desc, i, it, m.seats[i], m.prices[i])
				}
				total += it.UnitPrice
			}
		}
		if h.Total != (tv.Money{Amount: total, Currency: "INR"}) {
			w.fatalf("%s: total %v, want %d", desc, h.Total, total)
		}
	case ex.booking != nil:
		b := v.(tv.Booking)
		m := ex.booking
		status := tv.BookingConfirmed
		if m.cancelled {
			status = tv.BookingCancelled
		}
		if b.ID != m.id || b.Owner != m.owner || b.HoldToken != m.token || b.Quantity != m.qty || b.Status != status || b.Replayed != ex.replay {
			w.fatalf("%s: booking %+v, model %+v (replay %v)", desc, b, *m, ex.replay)
		}
		if !w.ga && !slices.Equal(holdLabels(tv.Hold{Items: b.Items}), m.seats) {
			w.fatalf("%s: booking seats %v, model %v", desc, b.Items, m.seats)
		}
	}
}

// checkState compares the whole section with the model.
func (w *world) checkState(desc string, before tv.Availability, due []*mHold, ex expect) {
	w.t.Helper()
	if err := tv.CheckInvariants(w.s); err != nil {
		w.fatalf("%s: %v", desc, err)
	}
	a := w.s.Availability(true)
	total := 0
	for _, c := range a.Categories {
		if c.Free < 0 || c.Held < 0 || c.Sold < 0 || c.Blocked < 0 || c.Free+c.Held+c.Sold+c.Blocked != c.Capacity || c.Capacity != w.capacity[c.Code] {
			w.fatalf("%s: category counts %+v", desc, c)
		}
		held, sold := w.counts(c.Code)
		if c.Held != held || c.Sold != sold {
			w.fatalf("%s: category %s held %d sold %d, model %d %d", desc, c.Code, c.Held, c.Sold, held, sold)
		}
		if c.Price != w.price(c.Code) {
			w.fatalf("%s: category %s price %d, model %d", desc, c.Code, c.Price, w.price(c.Code))
		}
		total += c.Capacity
	}
	if total != a.Capacity || a.Capacity != before.Capacity || a.Capacity != w.s.Seats() ||
		a.Free+a.Held+a.Sold+a.Blocked != a.Capacity {
		w.fatalf("%s: counts not conserved: %+v", desc, a)
	}
	if w.ga {
		if a.Blocked != w.gaBlock {
			w.fatalf("%s: GA blocked %d, model %d", desc, a.Blocked, w.gaBlock)
		}
	} else {
		if len(a.Seats) != len(w.labels) {
			w.fatalf("%s: seat map has %d seats", desc, len(a.Seats))
		}
		for _, sv := range a.Seats {
			if want := w.status(sv.Label); sv.Status != want {
				w.fatalf("%s: seat %s is %v, model says %v", desc, sv.Label, sv.Status, want)
			}
		}
		// Released and expired seats are free, unless this very command took them.
		for _, h := range due {
			for _, l := range h.seats {
				if st := w.status(l); st != tv.SeatFree && !(ex.code == "" && slices.Contains(ex.seats, l)) {
					w.fatalf("%s: seat %s of expired hold %s is %v", desc, l, h.token, st)
				}
			}
		}
	}
	live := make([]string, 0, len(w.holds))
	for tok := range w.holds {
		live = append(live, tok)
	}
	sort.Strings(live)
	if got := tv.LiveHoldTokens(w.s); !slices.Equal(got, live) {
		w.fatalf("%s: live holds %v, model %v", desc, got, live)
	}
	for _, o := range fuzzOwners {
		if got, want := w.s.OwnerCount(o), w.ownerCount(o); got != want {
			w.fatalf("%s: owner %s counts %d, model %d", desc, o, got, want)
		}
	}
	next, ok := w.s.NextExpiry()
	var want time.Time
	for _, h := range w.holds {
		if want.IsZero() || h.expires.Before(want) {
			want = h.expires
		}
	}
	if ok != (len(w.holds) > 0) || !next.Equal(want) {
		w.fatalf("%s: NextExpiry %v %v, model %v", desc, next, ok, want)
	}
}

var fuzzOwners = []string{"al", "bo", "cy"}

func (w *world) owner(r *reader) string {
	if r.n(16) == 0 {
		return ""
	}
	return pick(r, fuzzOwners...)
}

func (w *world) key(r *reader) string {
	if r.n(2) == 0 {
		return ""
	}
	return pick(r, "k0", "k1", "k2")
}

func (w *world) token(r *reader) string {
	if len(w.tokens) == 0 || r.n(4) == 0 {
		return "nope"
	}
	return w.tokens[len(w.tokens)-1-r.n(min(len(w.tokens), 8))]
}

func (w *world) bookingID(r *reader) string {
	switch {
	case r.n(12) == 0:
		return ""
	case len(w.bookings) == 0 || r.n(3) == 0:
		w.nextID++
		return fmt.Sprintf("b%d", w.nextID)
	}
	return w.bookings[len(w.bookings)-1-r.n(min(len(w.bookings), 8))]
}

func (w *world) seatLabels(r *reader, max int) []string {
	k := 1 + r.n(max)
	var out []string
	for i := 0; i < k; i++ {
		switch j := r.n(len(w.labels) + 2); {
		case j == len(w.labels):
			out = append(out, "Z-9")
		case j == len(w.labels)+1 && len(out) > 0:
			out = append(out, out[0])
		default:
			out = append(out, w.labels[j%len(w.labels)])
		}
	}
	return out
}

// hold: kind 0 explicit seats, 1 best-available, 2 by quantity (GA), 13 odd requests.
func (w *world) hold(r *reader, kind int) (string, func() (any, error), expect) {
	req := tv.HoldRequest{Owner: w.owner(r), IdemKey: w.key(r),
		TTL:   pick(r, 0, time.Second, time.Minute, 5*time.Minute, 30*time.Minute, 31*time.Minute, 500*time.Millisecond),
		Limit: pick(r, 0, 0, 2, 4, 7)}
	if r.n(4) == 0 && len(w.tokens) > 0 {
		req.Token = w.tokens[len(w.tokens)-1]
	} else {
		w.nextID++
		req.Token = fmt.Sprintf("t%d", w.nextID)
	}
	switch kind {
	case 0:
		if w.ga {
			req.Seats = []string{"A-1"}
		} else {
			req.Seats = w.seatLabels(r, 4)
		}
	case 1:
		req.BestAvailable, req.Quantity = true, 1+r.n(5)
		req.Category = pick(r, "", "", "VIP", "DYN", "STD", "BOX")
		req.Accessible = r.n(4) == 0
		req.AllowSplit = r.n(2) == 0
	case 2:
		req.Quantity = 1 + r.n(6)
		req.Category = pick(r, "", "", "", "DYN", "VIP")
	case 13:
		req.Quantity = pick(r, 0, -1, 51, 2)
		req.BestAvailable = r.n(2) == 0
		if r.n(2) == 0 && !w.ga {
			req.Seats = w.seatLabels(r, 2)
		}
	}
	ex := w.predictHold(req)
	if ex.code == "" && ex.change {
		w.tokens = append(w.tokens, req.Token)
	}
	run := func() (any, error) { return w.s.Hold(req, w.now) }
	if req.IdemKey != "" && ex.code == "" {
		w.keyed(func(w *world) (string, func() (any, error), expect) {
			return fmt.Sprintf("retried hold %+v", req), func() (any, error) { return w.s.Hold(req, w.now) }, w.predictHold(req)
		})
	}
	return fmt.Sprintf("hold %+v", req), run, ex
}

// keyed remembers a command to retry with its key later.
func (w *world) keyed(cmd func(w *world) (string, func() (any, error), expect)) {
	w.lastKey = func() {
		seq := w.s.Seq()
		before := w.s.Availability(true)
		due := w.expireDue()
		desc, run, ex := cmd(w)
		w.check(desc, run, ex, due, seq, before)
	}
}

func (w *world) predictHold(req tv.HoldRequest) expect {
	if req.Owner == "" || req.Token == "" {
		return expect{code: tv.EINVALID}
	}
	if e, ok, code := w.idemLookup(req.Owner, req.IdemKey, tv.EvHoldPlaced); code != "" || ok {
		if code != "" {
			return expect{code: code}
		}
		first := e.first
		m := &mHold{token: first.Token, owner: first.Owner, qty: first.Quantity, created: first.CreatedAt, expires: first.ExpiresAt}
		for _, it := range first.Items {
			if it.Seat != "" {
				m.seats = append(m.seats, it.Seat)
			}
			m.prices = append(m.prices, it.UnitPrice)
		}
		if cur := w.holds[e.token]; cur != nil && cur.owner == first.Owner && cur.created.Equal(first.CreatedAt) {
			m = cur // the first hold, as it is now
		}
		return expect{replay: true, hold: m}
	}
	if _, dup := w.holds[req.Token]; dup {
		return expect{code: tv.ECONFLICT}
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = tv.DefaultHoldTTL
	}
	if ttl < time.Second || ttl > tv.MaxHoldTTL {
		return expect{code: tv.EINVALID}
	}
	h := &mHold{token: req.Token, owner: req.Owner, created: w.now, expires: w.now.Add(ttl)}
	if w.ga {
		switch {
		case len(req.Seats) > 0 || req.BestAvailable, req.Quantity <= 0 || req.Quantity > tv.MaxSeatsPerRequest,
			req.Category != "" && req.Category != "DYN":
			return expect{code: tv.EINVALID}
		case w.gaFree() < req.Quantity:
			return expect{code: tv.ESOLDOUT}
		}
		h.qty = req.Quantity
		h.prices = []int64{w.price("DYN")}
	} else {
		seats, code := w.chooseSeats(req)
		if code != "" {
			return expect{code: code}
		}
		h.seats, h.qty = seats, len(seats)
		for _, l := range seats {
			h.prices = append(h.prices, w.price(w.seatCat[l]))
		}
	}
	if req.Limit > 0 && w.ownerCount(req.Owner)+h.qty > req.Limit {
		return expect{code: tv.ELIMIT}
	}
	w.holds[h.token] = h
	if req.IdemKey != "" {
		v := tv.Hold{Token: h.token, Owner: h.owner, Quantity: h.qty, CreatedAt: h.created, ExpiresAt: h.expires}
		for i, p := range h.prices {
			it := tv.HoldItem{Quantity: h.qty, UnitPrice: p}
			if !w.ga {
				it.Seat, it.Quantity = h.seats[i], 1
			}
			v.Items = append(v.Items, it)
		}
		w.remember(req.Owner, req.IdemKey, mIdem{typ: tv.EvHoldPlaced, token: h.token, first: v})
	}
	return expect{change: true, typ: tv.EvHoldPlaced, seats: h.seats, hold: h}
}

func (w *world) chooseSeats(req tv.HoldRequest) ([]string, string) {
	if len(req.Seats) > 0 {
		if req.BestAvailable || req.Quantity != 0 && req.Quantity != len(req.Seats) || len(req.Seats) > tv.MaxSeatsPerRequest {
			return nil, tv.EINVALID
		}
		for i, l := range req.Seats {
			if _, ok := w.seatCat[l]; !ok {
				return nil, tv.ENOTFOUND
			}
			if slices.Contains(req.Seats[:i], l) {
				return nil, tv.EINVALID
			}
			if w.status(l) != tv.SeatFree {
				return nil, tv.ESEATTAKEN
			}
		}
		return slices.Clone(req.Seats), ""
	}
	if !req.BestAvailable || req.Quantity <= 0 || req.Quantity > tv.MaxSeatsPerRequest {
		return nil, tv.EINVALID
	}
	if _, ok := w.cats[req.Category]; req.Category != "" && !ok {
		return nil, tv.EINVALID
	}
	parsed := refRows(w.rows)
	for r := range parsed {
		for p := range parsed[r] {
			parsed[r][p].free = w.status(parsed[r][p].label) == tv.SeatFree
		}
	}
	seats := refPick(parsed, req.Quantity, req.Category, req.Accessible, req.AllowSplit)
	if seats == nil {
		return nil, tv.ESOLDOUT
	}
	return seats, ""
}

func (w *world) extend(r *reader) (string, func() (any, error), expect) {
	token, owner, key := w.token(r), w.owner(r), w.key(r)
	if h := w.holds[token]; h != nil && r.n(4) != 0 {
		owner = h.owner
	}
	d := pick(r, time.Minute, 10*time.Minute, 30*time.Minute, 30*time.Minute, 30*time.Minute, 0, time.Millisecond, 31*time.Minute, -time.Minute)
	predict := func(w *world) expect {
		if e, ok, code := w.idemLookup(owner, key, tv.EvHoldExtended); code != "" || ok {
			if code != "" {
				return expect{code: code}
			}
			if h := w.holds[e.token]; h != nil {
				return expect{replay: true, hold: h}
			}
			return expect{code: w.endedCode(e.token, owner)}
		}
		h, code := w.ownHold(token, owner)
		if code != "" {
			return expect{code: code}
		}
		if d < time.Second || d > tv.MaxHoldTTL {
			return expect{code: tv.EINVALID}
		}
		limit := h.created.Add(tv.MaxHoldLifetime)
		if !h.expires.Before(limit) {
			return expect{code: tv.ELIMIT}
		}
		h.expires = h.expires.Add(d)
		if h.expires.After(limit) {
			h.expires = limit
		}
		w.remember(owner, key, mIdem{typ: tv.EvHoldExtended, token: token})
		return expect{change: true, typ: tv.EvHoldExtended, hold: h}
	}
	desc := fmt.Sprintf("extend %s by %s owner %q key %q", token, d, owner, key)
	run := func() (any, error) { return w.s.Extend(token, owner, key, d, w.now) }
	ex := predict(w)
	if key != "" && ex.code == "" {
		w.keyed(func(w *world) (string, func() (any, error), expect) { return "retried " + desc, run, predict(w) })
	}
	return desc, run, ex
}

func (w *world) release(r *reader) (string, func() (any, error), expect) {
	token, owner, key := w.token(r), w.owner(r), w.key(r)
	if h := w.holds[token]; h != nil && r.n(4) != 0 {
		owner = h.owner
	}
	var released []string
	predict := func(w *world) expect {
		if _, ok, code := w.idemLookup(owner, key, tv.EvHoldReleased); code != "" || ok {
			return expect{code: code}
		}
		h, code := w.ownHold(token, owner)
		if code != "" {
			if t, ok := w.tombs[token]; ok && t.typ == tv.EvHoldReleased && t.owner == owner {
				return expect{}
			}
			return expect{code: code}
		}
		delete(w.holds, token)
		w.tombs[token] = mTomb{typ: tv.EvHoldReleased, at: w.now, owner: owner}
		w.remember(owner, key, mIdem{typ: tv.EvHoldReleased, token: token})
		released = h.seats
		return expect{change: true, typ: tv.EvHoldReleased}
	}
	desc := fmt.Sprintf("release %s owner %q key %q", token, owner, key)
	run := func() (any, error) {
		err := w.s.Release(token, owner, key, w.now)
		for _, l := range released { // what a release frees is free at once
			if st := seatStatus(w.s)[l]; st != tv.SeatFree {
				w.fatalf("%s: released seat %s is %v", desc, l, st)
			}
		}
		return nil, err
	}
	ex := predict(w)
	if key != "" && ex.code == "" {
		w.keyed(func(w *world) (string, func() (any, error), expect) {
			released = nil
			return "retried " + desc, run, predict(w)
		})
	}
	return desc, run, ex
}

func (w *world) confirm(r *reader) (string, func() (any, error), expect) {
	token, owner, key, id := w.token(r), w.owner(r), w.key(r), w.bookingID(r)
	if h := w.holds[token]; h != nil && r.n(4) != 0 {
		owner = h.owner
	}
	ref := pick(r, "pay", "pay", "pay", "")
	predict := func(w *world) expect {
		if e, ok, code := w.idemLookup(owner, key, tv.EvHoldConfirmed); code != "" || ok {
			if code != "" {
				return expect{code: code}
			}
			return expect{replay: true, booking: w.sales[e.booking]}
		}
		if id == "" || ref == "" {
			return expect{code: tv.EINVALID}
		}
		h, code := w.ownHold(token, owner)
		if code != "" {
			if t, ok := w.tombs[token]; ok && t.typ == tv.EvHoldConfirmed && t.owner == owner {
				return expect{replay: true, booking: w.sales[t.booking]}
			}
			return expect{code: code}
		}
		if _, dup := w.sales[id]; dup {
			return expect{code: tv.ECONFLICT}
		}
		delete(w.holds, token)
		sale := &mSale{id: id, owner: h.owner, token: token, seats: h.seats, qty: h.qty, prices: h.prices}
		w.sales[id] = sale
		w.bookings = append(w.bookings, id)
		w.tombs[token] = mTomb{typ: tv.EvHoldConfirmed, at: w.now, owner: owner, booking: id}
		w.remember(owner, key, mIdem{typ: tv.EvHoldConfirmed, token: token, booking: id})
		return expect{change: true, typ: tv.EvHoldConfirmed, booking: sale}
	}
	desc := fmt.Sprintf("confirm %s owner %q as %q ref %q key %q", token, owner, id, ref, key)
	run := func() (any, error) { return w.s.Confirm(token, owner, id, ref, key, w.now) }
	ex := predict(w)
	if key != "" && ex.code == "" {
		w.keyed(func(w *world) (string, func() (any, error), expect) { return "retried " + desc, run, predict(w) })
	}
	return desc, run, ex
}

func (w *world) cancel(r *reader) (string, func() (any, error), expect) {
	id, owner, key := w.bookingID(r), w.owner(r), w.key(r)
	if s := w.sales[id]; s != nil && r.n(3) != 0 {
		owner = s.owner
	}
	predict := func(w *world) expect {
		if e, ok, code := w.idemLookup(owner, key, tv.EvSaleCancelled); code != "" || ok {
			if code != "" {
				return expect{code: code}
			}
			return expect{replay: true, booking: w.sales[e.booking]}
		}
		sale, ok := w.sales[id]
		if !ok || owner != "" && sale.owner != owner {
			return expect{code: tv.ENOTFOUND}
		}
		if sale.cancelled {
			return expect{replay: true, booking: sale}
		}
		sale.cancelled = true
		if owner == sale.owner {
			w.remember(owner, key, mIdem{typ: tv.EvSaleCancelled, booking: id})
		}
		return expect{change: true, typ: tv.EvSaleCancelled, booking: sale}
	}
	desc := fmt.Sprintf("cancel %q owner %q key %q", id, owner, key)
	run := func() (any, error) { return w.s.Cancel(id, owner, key, w.now) }
	ex := predict(w)
	if key != "" && ex.code == "" {
		w.keyed(func(w *world) (string, func() (any, error), expect) { return "retried " + desc, run, predict(w) })
	}
	return desc, run, ex
}

func (w *world) block(r *reader, unblock bool) (string, func() (any, error), expect) {
	verb := "block"
	typ := tv.EvSeatsBlocked
	if unblock {
		verb, typ = "unblock", tv.EvSeatsUnblocked
	}
	if w.ga {
		qty := r.n(6) - 1
		desc := fmt.Sprintf("%s %d places", verb, qty)
		var ex expect
		switch {
		case qty <= 0:
			ex.code = tv.EINVALID
		case !unblock && qty > w.gaFree():
			ex.code = tv.ESOLDOUT
		case unblock && qty > w.gaBlock:
			ex.code = tv.EINVALID
		case unblock:
			w.gaBlock -= qty
			ex = expect{change: true, typ: typ}
		default:
			w.gaBlock += qty
			ex = expect{change: true, typ: typ}
		}
		return desc, func() (any, error) {
			if unblock {
				return nil, w.s.Unblock(nil, qty, w.now)
			}
			return nil, w.s.Block(nil, qty, "r", w.now)
		}, ex
	}
	var seats []string
	var blocked []string
	for _, l := range w.labels {
		if w.blocked[l] {
			blocked = append(blocked, l)
		}
	}
	switch {
	case r.n(10) == 0:
	case unblock && len(blocked) > 0 && r.n(3) != 0:
		seats = []string{blocked[r.n(len(blocked))]} // usually one that is blocked
	default:
		seats = w.seatLabels(r, 3)
	}
	desc := fmt.Sprintf("%s %v", verb, seats)
	ex := expect{change: true, typ: typ, seats: seats}
	want := tv.SeatFree
	if unblock {
		want = tv.SeatBlocked
	}
	if len(seats) == 0 {
		ex = expect{code: tv.EINVALID}
	}
	for i, l := range seats {
		if _, ok := w.seatCat[l]; !ok {
			ex = expect{code: tv.ENOTFOUND}
			break
		}
		if slices.Contains(seats[:i], l) {
			ex = expect{code: tv.EINVALID}
			break
		}
		if w.status(l) != want {
			ex = expect{code: tv.ESEATTAKEN}
			break
		}
	}
	if ex.code == "" {
		for _, l := range seats {
			if unblock {
				delete(w.blocked, l)
			} else {
				w.blocked[l] = true
			}
		}
	}
	return desc, func() (any, error) {
		if unblock {
			return nil, w.s.Unblock(seats, 0, w.now)
		}
		return nil, w.s.Block(seats, 0, "r", w.now)
	}, ex
}

// query asks without changing anything (FindHold, FindBooking, BestAvailable).
func (w *world) query(r *reader) (string, func() (any, error), expect) {
	token, owner := w.token(r), w.owner(r)
	if h := w.holds[token]; h != nil && r.n(4) != 0 {
		owner = h.owner
	}
	n := 1 + r.n(4)
	return fmt.Sprintf("queries of %s by %q", token, owner), func() (any, error) {
		h, err := w.s.FindHold(token, owner)
		if m, code := w.ownHold(token, owner); tv.ErrorCode(err) != code || m != nil && !h.ExpiresAt.Equal(m.expires) {
			w.fatalf("FindHold(%s, %s) = %+v, %v; model %v %q", token, owner, h, err, m, code)
		}
		if id := w.bookingID(r); id != "" {
			b, err := w.s.FindBooking(id, owner)
			sale := w.sales[id]
			if (sale == nil || owner != "" && sale.owner != owner) != (tv.ErrorCode(err) == tv.ENOTFOUND) ||
				err == nil && (b.ID != id || (b.Status == tv.BookingCancelled) != sale.cancelled) {
				w.fatalf("FindBooking(%s, %s) = %+v, %v; model %+v", id, owner, b, err, sale)
			}
		}
		if !w.ga {
			got := labels(w.s, w.s.BestAvailable(n, -1, false, true))
			want, code := w.chooseSeats(tv.HoldRequest{BestAvailable: true, Quantity: n, AllowSplit: true})
			if code != "" {
				want = nil
			}
			if !slices.Equal(got, want) {
				w.fatalf("BestAvailable(%d) = %v, model %v", n, got, want)
			}
		}
		return nil, nil
	}, expect{}
}

// swapForRestored replaces the section with one restored from its snapshot, after checking
// the two are equal; the model forgets what the snapshot forgets.
func (w *world) swapForRestored() {
	w.t.Helper()
	snap := w.s.Snapshot(w.now)
	cut := w.now.Add(-tv.IdempotencyKeyTTL)
	for k, e := range w.idem {
		if e.at.Before(cut) {
			delete(w.idem, k)
		}
	}
	for k, tb := range w.tombs {
		if tb.at.Before(cut) {
			delete(w.tombs, k)
		}
	}
	r := w.fresh()
	if err := r.Restore(snap); err != nil {
		w.fatalf("restore: %v", err)
	}
	if d := tv.StateDiff(w.s, r, true); d != "" {
		w.fatalf("restored section differs: %s", d)
	}
	if !reflect.DeepEqual(w.s.Availability(true), r.Availability(true)) {
		w.fatalf("restored availability differs")
	}
	if tv.IdemCount(r) != len(w.idem) || tv.TombCount(r) != len(w.tombs) {
		w.fatalf("restored section remembers %d keys and %d tombs, model %d and %d", tv.IdemCount(r), tv.TombCount(r), len(w.idem), len(w.tombs))
	}
	w.s = r
}

// finish: replaying every event into a fresh section, directly and through the codec, and
// a Snapshot→Restore all give the same section.
func (w *world) finish() {
	w.t.Helper()
	w.events = append(w.events, w.s.TakeEvents()...)
	want := w.s.Availability(true)
	replayed := w.fresh()
	for _, e := range w.events {
		if err := replayed.Replay(e); err != nil {
			w.fatalf("replay: %v", err)
		}
	}
	var decoded []tv.SectionEvent
	for i := 0; i < len(w.events); i += 7 {
		d, err := tv.UnmarshalEvents(tv.MarshalEvents(nil, w.events[i:min(i+7, len(w.events))]))
		if err != nil {
			w.fatalf("decode: %v", err)
		}
		decoded = append(decoded, d...)
	}
	viaCodec := w.fresh()
	for _, e := range decoded {
		if err := viaCodec.Replay(e); err != nil {
			w.fatalf("replay of decoded events: %v", err)
		}
	}
	restored := w.fresh()
	if err := restored.Restore(w.s.Snapshot(w.now)); err != nil {
		w.fatalf("restore: %v", err)
	}
	for name, other := range map[string]*tv.Section{"replay": replayed, "replay via codec": viaCodec, "restore": restored} {
		if err := tv.CheckInvariants(other); err != nil {
			w.fatalf("%s: %v", name, err)
		}
		if got := other.Availability(true); !reflect.DeepEqual(got, want) {
			w.fatalf("%s: availability differs:\n%+v\n%+v", name, got, want)
		}
		if d := tv.StateDiff(w.s, other, name == "restore"); d != "" {
			w.fatalf("%s: state differs: %s", name, d)
		}
	}
}
