package load

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// holdState is what the ledger knows of one acknowledged hold.
type holdState uint8

const (
	hsLive      holdState = iota // acknowledged, neither released nor sold
	hsReleased                   // release acknowledged
	hsSold                       // sale acknowledged
	hsUncertain                  // a release or sale got no answer: it may or may not have happened
)

type ledgerHold struct {
	hold  Hold
	state holdState
}

// Ledger is what the target acknowledged: every hold, release and sale that got a success
// answer, and how many requests got none. The check compares it with the store.
type Ledger struct {
	mu        sync.Mutex
	holds     map[string]*ledgerHold // by section + token
	sold      map[string][]string    // seated: section/label -> bookings that acknowledged it
	gaSold    map[string]int         // GA: section -> places in acknowledged sales
	uncPlaces int                    // places asked for by requests without an answer (or a 5xx)
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{holds: map[string]*ledgerHold{}, sold: map[string][]string{}, gaSold: map[string]int{}}
}

func holdKey(section, token string) string { return section + "\x00" + token }

func (l *Ledger) held(h Hold) {
	l.mu.Lock()
	l.holds[holdKey(h.Section, h.Token)] = &ledgerHold{hold: h}
	l.mu.Unlock()
}

func (l *Ledger) released(section, token string) {
	l.mu.Lock()
	if lh := l.holds[holdKey(section, token)]; lh != nil {
		lh.state = hsReleased
	}
	l.mu.Unlock()
}

func (l *Ledger) soldHold(section, token, booking string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lh := l.holds[holdKey(section, token)]
	if lh == nil {
		return
	}
	lh.state = hsSold
	if seats := lh.hold.Seats(); len(seats) > 0 {
		for _, s := range seats {
			k := section + "/" + s
			l.sold[k] = append(l.sold[k], booking)
		}
	} else {
		l.gaSold[section] += lh.hold.Quantity
	}
}

// unsure marks a hold whose release or sale got no answer.
func (l *Ledger) unsure(section, token string) {
	l.mu.Lock()
	if lh := l.holds[holdKey(section, token)]; lh != nil && lh.state == hsLive {
		lh.state = hsUncertain
	}
	l.mu.Unlock()
}

// noAnswer counts a request whose outcome is unknown (it asked for places).
func (l *Ledger) noAnswer(places int) {
	l.mu.Lock()
	l.uncPlaces += places
	l.mu.Unlock()
}

// SoldPlaces is the number of places in acknowledged sales.
func (l *Ledger) SoldPlaces() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, b := range l.sold {
		if len(b) > 0 {
			n++
		}
	}
	for _, q := range l.gaSold {
		n += q
	}
	return n
}

const maxDetails = 30

// Check reads every section of the layout through d (from the target's store) and compares
// it with the ledger: no seat sold twice, no section over capacity, every acknowledged live
// hold still held, every acknowledged sale sold, and no more unacknowledged sales than
// requests without an answer.
func (l *Ledger) Check(ctx context.Context, d Driver, layout Layout, now time.Time) Check {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := Check{Uncertain: l.uncPlaces}
	detail := func(format string, args ...any) {
		if len(c.Details) < maxDetails {
			c.Details = append(c.Details, fmt.Sprintf(format, args...))
		}
	}
	// Acknowledged live holds per section: seats, and GA places.
	liveSeats := map[string]map[string]string{} // section -> label -> token
	liveGA := map[string]int{}
	for _, lh := range l.holds {
		if lh.state != hsLive || (!lh.hold.ExpiresAt.IsZero() && lh.hold.ExpiresAt.Before(now)) {
			continue
		}
		sec := lh.hold.Section
		if seats := lh.hold.Seats(); len(seats) > 0 {
			if liveSeats[sec] == nil {
				liveSeats[sec] = map[string]string{}
			}
			for _, s := range seats {
				if other, dup := liveSeats[sec][s]; dup {
					c.SoldTwice++
					detail("seat %s/%s is in two acknowledged live holds (%s, %s)", sec, s, other, lh.hold.Token)
				}
				liveSeats[sec][s] = lh.hold.Token
			}
		} else {
			liveGA[sec] += lh.hold.Quantity
		}
	}
	for _, sec := range layout.Sections {
		av, err := d.Section(ctx, sec.ID)
		if err != nil {
			detail("read section %s: %v", sec.ID, err)
			return c
		}
		if av.Sold > sec.Places() || av.Held+av.Sold > sec.Places() || av.Sold > av.Capacity && av.Capacity > 0 {
			c.OverCapacity++
			detail("section %s: %d held + %d sold of %d places", sec.ID, av.Held, av.Sold, sec.Places())
		}
		if sec.GA {
			sold := l.gaSold[sec.ID]
			if av.Sold < sold {
				c.LostSales += sold - av.Sold
				detail("GA %s: %d places in acknowledged sales, the store has %d sold", sec.ID, sold, av.Sold)
			}
			if av.Sold > sold {
				c.Unacked += av.Sold - sold
			}
			// Places sold beyond the acknowledged sales may come from live holds whose sale
			// got no answer; the rest must still be held.
			extra := max(0, av.Sold-sold)
			if need := liveGA[sec.ID] - extra; av.Held < need {
				c.LostHolds += need - av.Held
				detail("GA %s: %d places in acknowledged live holds, the store holds %d", sec.ID, liveGA[sec.ID], av.Held)
			}
			continue
		}
		status := make(map[string]string, len(av.Seats))
		for _, s := range av.Seats {
			if _, dup := status[s.Label]; dup {
				c.SoldTwice++
				detail("section %s lists seat %s twice", sec.ID, s.Label)
			}
			status[s.Label] = s.Status
		}
		if len(av.Seats) != sec.Places() {
			detail("section %s: the store lists %d seats, the layout has %d", sec.ID, len(av.Seats), sec.Places())
		}
		for r := 0; r < sec.Rows; r++ {
			for n := 0; n < sec.PerRow; n++ {
				label := SeatLabel(r, n)
				bookings := l.sold[sec.ID+"/"+label]
				st := status[label]
				if len(bookings) > 1 {
					c.SoldTwice++
					detail("seat %s/%s was sold to %d acknowledged bookings: %v", sec.ID, label, len(bookings), bookings)
				}
				switch {
				case len(bookings) > 0 && st != "sold":
					c.LostSales++
					detail("seat %s/%s: sale %s acknowledged, the store says %q", sec.ID, label, bookings[0], st)
				case len(bookings) == 0 && st == "sold":
					c.Unacked++
					if tok, ok := liveSeats[sec.ID][label]; ok && l.holds[holdKey(sec.ID, tok)].state == hsLive {
						detail("seat %s/%s is sold in the store but held by acknowledged hold %s", sec.ID, label, tok)
					}
				}
				if tok, ok := liveSeats[sec.ID][label]; ok && st != "held" {
					c.LostHolds++
					detail("seat %s/%s: hold %s acknowledged and live, the store says %q", sec.ID, label, tok, st)
				}
			}
		}
	}
	sort.Strings(c.Details)
	c.Done = true
	return c
}
