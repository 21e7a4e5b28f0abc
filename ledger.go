package ticketview

// BuyerLedger counts the seats each buyer holds and owns across all sections of one event,
// to enforce the event's per-buyer limit. Seats are reserved before a section is asked and
// returned when the request fails or the seats are released, expire or are cancelled.
// It is not safe for concurrent use.
type BuyerLedger struct {
	used map[string]int
}

// NewBuyerLedger starts a ledger from per-owner counts (e.g. summed over the sections).
func NewBuyerLedger(counts map[string]int) *BuyerLedger {
	l := &BuyerLedger{used: make(map[string]int, len(counts))}
	for o, n := range counts {
		if n > 0 {
			l.used[o] = n
		}
	}
	return l
}

// Reserve takes n seats of the owner's allowance, or fails with ELIMIT.
func (l *BuyerLedger) Reserve(owner string, n, limit int) error {
	if n <= 0 {
		return Errorf(EINVALID, "reserve a positive number of seats")
	}
	used := l.used[owner]
	if used+n > limit {
		return Errorf(ELIMIT, "at most %d seats per buyer for this event; you have %d", limit, used)
	}
	l.used[owner] = used + n
	return nil
}

// Return gives n seats back to the owner's allowance.
func (l *BuyerLedger) Return(owner string, n int) {
	if left := l.used[owner] - n; left > 0 {
		l.used[owner] = left
	} else {
		delete(l.used, owner)
	}
}

// Used is how many seats the owner holds and owns.
func (l *BuyerLedger) Used(owner string) int { return l.used[owner] }
