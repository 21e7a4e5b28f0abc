package ticketview

// Internal test helpers: an invariant checker and a state comparison, exported to the
// external test package (ticketview_test) through this _test file only.

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// CheckInvariants verifies, from the section's internals, that its state is consistent:
//   - every seat is in at most one live hold or one non-cancelled sale;
//   - seat statuses agree with holds and sales (held ⇔ in exactly one hold, sold ⇔ in
//     exactly one live sale, free or blocked ⇔ in neither);
//   - per category free+held+sold+blocked == capacity, none negative (GA: held+sold+blocked
//     <= capacity), and the counters equal a recount;
//   - rowFree matches a recount;
//   - byOwner equals the recount from holds and live sales;
//   - the expiry heap holds exactly the live holds, with correct indexes and heap order.
func CheckInvariants(s *Section) error {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	n := len(s.cats)
	if len(s.capTot) != n || len(s.held) != n || len(s.sold) != n || len(s.blocked) != n {
		return fmt.Errorf("counter slices have wrong length")
	}

	// Recount from holds and sales.
	owner := map[string]int32{}
	heldBy := map[int32]string{} // seat -> hold token
	soldBy := map[int32]string{} // seat -> booking id
	var gaHeld, gaSold int32
	for tok, h := range s.holds {
		if h.token != tok {
			fail("hold under key %q has token %q", tok, h.token)
		}
		if h.owner == "" {
			fail("hold %q has no owner", tok)
		}
		if !h.expires.After(h.created) {
			fail("hold %q expires %v, not after its creation %v", tok, h.expires, h.created)
		}
		if h.expires.After(h.created.Add(MaxHoldLifetime)) {
			fail("hold %q lives longer than %s", tok, MaxHoldLifetime)
		}
		if s.ga {
			if h.seats != nil || h.qty <= 0 || len(h.prices) != 1 {
				fail("GA hold %q: seats=%v qty=%d prices=%v", tok, h.seats, h.qty, h.prices)
			}
			gaHeld += h.qty
		} else {
			if len(h.seats) == 0 || len(h.prices) != len(h.seats) || int(h.qty) != len(h.seats) {
				fail("hold %q: %d seats, qty %d, %d prices", tok, len(h.seats), h.qty, len(h.prices))
			}
			for _, seat := range h.seats {
				if seat < 0 || int(seat) >= len(s.status) {
					fail("hold %q: seat index %d out of range", tok, seat)
					continue
				}
				if other, dup := heldBy[seat]; dup {
					fail("seat %s in holds %q and %q", s.labels[seat], other, tok)
				}
				heldBy[seat] = tok
			}
		}
		owner[h.owner] += h.count()
	}
	for id, sale := range s.sales {
		if sale.id != id {
			fail("sale under key %q has id %q", id, sale.id)
		}
		if !sale.cancelledAt.IsZero() {
			continue
		}
		if s.ga {
			if sale.seats != nil || sale.qty <= 0 || len(sale.prices) != 1 {
				fail("GA sale %q: seats=%v qty=%d prices=%v", id, sale.seats, sale.qty, sale.prices)
			}
			gaSold += sale.qty
		} else {
			if len(sale.seats) == 0 || len(sale.prices) != len(sale.seats) {
				fail("sale %q: %d seats, %d prices", id, len(sale.seats), len(sale.prices))
			}
			for _, seat := range sale.seats {
				if seat < 0 || int(seat) >= len(s.status) {
					fail("sale %q: seat index %d out of range", id, seat)
					continue
				}
				if other, dup := soldBy[seat]; dup {
					fail("seat %s in live sales %q and %q", s.labels[seat], other, id)
				}
				if tok, dup := heldBy[seat]; dup {
					fail("seat %s in live sale %q and hold %q", s.labels[seat], id, tok)
				}
				soldBy[seat] = id
			}
		}
		owner[sale.owner] += sale.count()
	}

	// Counters.
	if s.ga {
		c := s.gaCat
		if s.held[c] != gaHeld {
			fail("GA held counter %d, holds add up to %d", s.held[c], gaHeld)
		}
		if s.sold[c] != gaSold {
			fail("GA sold counter %d, live sales add up to %d", s.sold[c], gaSold)
		}
		if s.held[c] < 0 || s.sold[c] < 0 || s.blocked[c] < 0 {
			fail("GA negative counter: held %d sold %d blocked %d", s.held[c], s.sold[c], s.blocked[c])
		}
		if s.held[c]+s.sold[c]+s.blocked[c] > s.capTot[c] {
			fail("GA held %d + sold %d + blocked %d > capacity %d", s.held[c], s.sold[c], s.blocked[c], s.capTot[c])
		}
		if int(s.capTot[c]) != s.cfg.Layout.Capacity {
			fail("GA capacity %d, layout says %d", s.capTot[c], s.cfg.Layout.Capacity)
		}
		for ci := range s.cats {
			if uint8(ci) != c && (s.capTot[ci] != 0 || s.held[ci] != 0 || s.sold[ci] != 0 || s.blocked[ci] != 0) {
				fail("GA: category %s has counts", s.cats[ci].Code)
			}
		}
	} else {
		capN, held, sold, blocked := make([]int32, n), make([]int32, n), make([]int32, n), make([]int32, n)
		rowFree := make([]int32, len(s.rows))
		for i, st := range s.status {
			seat := int32(i)
			c := s.cat[i]
			capN[c]++
			_, inHold := heldBy[seat]
			_, inSale := soldBy[seat]
			switch st {
			case SeatFree:
				rowFree[s.row[i]]++
			case SeatHeld:
				held[c]++
			case SeatSold:
				sold[c]++
			case SeatBlocked:
				blocked[c]++
			default:
				fail("seat %s has status %d", s.labels[i], st)
			}
			if (st == SeatHeld) != inHold {
				fail("seat %s is %s but in a hold: %v", s.labels[i], st, inHold)
			}
			if (st == SeatSold) != inSale {
				fail("seat %s is %s but in a live sale: %v", s.labels[i], st, inSale)
			}
		}
		for ci := range s.cats {
			if capN[ci] != s.capTot[ci] || held[ci] != s.held[ci] || sold[ci] != s.sold[ci] || blocked[ci] != s.blocked[ci] {
				fail("category %s: counters cap/held/sold/blocked %d/%d/%d/%d, recount %d/%d/%d/%d", s.cats[ci].Code,
					s.capTot[ci], s.held[ci], s.sold[ci], s.blocked[ci], capN[ci], held[ci], sold[ci], blocked[ci])
			}
			free := s.capTot[ci] - s.held[ci] - s.sold[ci] - s.blocked[ci]
			if free < 0 || s.held[ci] < 0 || s.sold[ci] < 0 || s.blocked[ci] < 0 {
				fail("category %s: negative count", s.cats[ci].Code)
			}
		}
		if !slices.Equal(rowFree, s.rowFree) {
			fail("rowFree %v, recount %v", s.rowFree, rowFree)
		}
	}

	// byOwner.
	for o, c := range s.byOwner {
		if c < 0 {
			fail("byOwner[%q] = %d < 0", o, c)
		}
		if c != owner[o] {
			fail("byOwner[%q] = %d, recount %d", o, c, owner[o])
		}
	}
	for o, c := range owner {
		if s.byOwner[o] != c {
			fail("owner %q has %d seats, byOwner says %d", o, c, s.byOwner[o])
		}
	}

	// Expiry heap.
	if len(s.expiry) != len(s.holds) {
		fail("expiry heap has %d holds, %d live", len(s.expiry), len(s.holds))
	}
	for i, h := range s.expiry {
		if h.heapIdx != i {
			fail("heap[%d] = hold %q with heapIdx %d", i, h.token, h.heapIdx)
		}
		if s.holds[h.token] != h {
			fail("heap[%d] = hold %q, not the live hold", i, h.token)
		}
		if i > 0 && s.expiry.Less(i, (i-1)/2) {
			fail("heap order broken at %d", i)
		}
	}

	if len(errs) > 0 {
		return fmt.Errorf("section %s invariants:\n  %s", s.cfg.ID, strings.Join(errs, "\n  "))
	}
	return nil
}

// StateDiff describes how two sections' states differ ("" when equal): seats, counters,
// holds, sales, owner counts and the sequence. With memory, tombstones and idempotency
// records are compared too.
func StateDiff(a, b *Section, memory bool) string {
	var d []string
	add := func(format string, args ...any) { d = append(d, fmt.Sprintf(format, args...)) }
	if a.seq != b.seq {
		add("seq %d vs %d", a.seq, b.seq)
	}
	if !slices.Equal(a.status, b.status) {
		add("seat statuses differ")
	}
	if !slices.Equal(a.rowFree, b.rowFree) {
		add("rowFree %v vs %v", a.rowFree, b.rowFree)
	}
	if !slices.Equal(a.held, b.held) || !slices.Equal(a.sold, b.sold) || !slices.Equal(a.blocked, b.blocked) || !slices.Equal(a.capTot, b.capTot) {
		add("counters held %v/%v sold %v/%v blocked %v/%v", a.held, b.held, a.sold, b.sold, a.blocked, b.blocked)
	}
	if len(a.holds) != len(b.holds) {
		add("%d vs %d holds", len(a.holds), len(b.holds))
	}
	for tok, ha := range a.holds {
		hb, ok := b.holds[tok]
		if !ok {
			add("hold %q missing", tok)
			continue
		}
		if ha.owner != hb.owner || !slices.Equal(ha.seats, hb.seats) || ha.qty != hb.qty || !slices.Equal(ha.prices, hb.prices) ||
			!ha.created.Equal(hb.created) || !ha.expires.Equal(hb.expires) {
			add("hold %q differs: %+v vs %+v", tok, *ha, *hb)
		}
	}
	if len(a.expiry) != len(b.expiry) {
		add("expiry heaps %d vs %d", len(a.expiry), len(b.expiry))
	} else if len(a.expiry) > 0 && a.expiry[0].token != b.expiry[0].token {
		add("next expiry %q vs %q", a.expiry[0].token, b.expiry[0].token)
	}
	if len(a.sales) != len(b.sales) {
		add("%d vs %d sales", len(a.sales), len(b.sales))
	}
	for id, sa := range a.sales {
		sb, ok := b.sales[id]
		if !ok {
			add("sale %q missing", id)
			continue
		}
		if sa.owner != sb.owner || sa.token != sb.token || sa.ref != sb.ref || !slices.Equal(sa.seats, sb.seats) || sa.qty != sb.qty ||
			!slices.Equal(sa.prices, sb.prices) || !sa.at.Equal(sb.at) || !sa.cancelledAt.Equal(sb.cancelledAt) {
			add("sale %q differs: %+v vs %+v", id, *sa, *sb)
		}
	}
	owners := map[string]bool{}
	for o := range a.byOwner {
		owners[o] = true
	}
	for o := range b.byOwner {
		owners[o] = true
	}
	for o := range owners {
		if a.byOwner[o] != b.byOwner[o] {
			add("byOwner[%q] %d vs %d", o, a.byOwner[o], b.byOwner[o])
		}
	}
	if memory {
		if len(a.tombs) != len(b.tombs) {
			add("%d vs %d tombs", len(a.tombs), len(b.tombs))
		}
		for tok, ta := range a.tombs {
			tb, ok := b.tombs[tok]
			if !ok || ta.typ != tb.typ || !ta.at.Equal(tb.at) || ta.owner != tb.owner || ta.bookingID != tb.bookingID {
				add("tomb %q: %+v vs %+v", tok, ta, tb)
			}
		}
		if len(a.idem) != len(b.idem) {
			add("%d vs %d idempotency records", len(a.idem), len(b.idem))
		}
		for k, ea := range a.idem {
			eb, ok := b.idem[k]
			if !ok || ea.typ != eb.typ || !ea.at.Equal(eb.at) || ea.token != eb.token || ea.bookingID != eb.bookingID ||
				(ea.hold == nil) != (eb.hold == nil) || ea.hold != nil && !sameHold(*ea.hold, *eb.hold) {
				add("idempotency record %q: %+v vs %+v", k, ea, eb)
			}
		}
	}
	sort.Strings(d)
	return strings.Join(d, "; ")
}

func sameHold(a, b Hold) bool {
	return a.Token == b.Token && a.Owner == b.Owner && a.Event == b.Event && a.Section == b.Section &&
		slices.Equal(a.Items, b.Items) && a.Quantity == b.Quantity && a.Total == b.Total &&
		a.CreatedAt.Equal(b.CreatedAt) && a.ExpiresAt.Equal(b.ExpiresAt) && a.Replayed == b.Replayed
}

// LiveHoldTokens lists the tokens of the live holds, sorted.
func LiveHoldTokens(s *Section) []string {
	out := make([]string, 0, len(s.holds))
	for t := range s.holds {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// TombCount and IdemCount expose the sizes of the section's memory of ended holds and
// idempotency keys.
func TombCount(s *Section) int { return len(s.tombs) }
func IdemCount(s *Section) int { return len(s.idem) }

// Corrupt lets a test break the section on purpose, to see the checker notice.
func Corrupt(s *Section, what string) {
	switch what {
	case "held-counter":
		s.held[0]++
	case "rowFree":
		s.rowFree[0]--
	case "byOwner":
		s.byOwner["nobody"] = 3
	case "status":
		for i, st := range s.status {
			if st == SeatFree {
				s.status[i] = SeatSold
				return
			}
		}
	case "heap":
		for _, h := range s.expiry {
			h.heapIdx += 7
		}
	}
}
