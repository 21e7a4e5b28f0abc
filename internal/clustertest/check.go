package clustertest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	ticketview "github.com/ticketview/ticketview"
)

// maxReported bounds the violations of one kind a check reports.
const maxReported = 15

// reporter collects violations, reporting at most maxReported of each kind.
type reporter struct {
	mu    sync.Mutex
	kinds map[string]int
	lines []string
}

func (r *reporter) add(kind, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kinds == nil {
		r.kinds = map[string]int{}
	}
	r.kinds[kind]++
	if r.kinds[kind] <= maxReported {
		r.lines = append(r.lines, kind+": "+fmt.Sprintf(format, args...))
	}
}

func (r *reporter) report(t interface {
	Helper()
	Errorf(string, ...any)
}) int {
	t.Helper()
	total := 0
	for _, n := range r.kinds {
		total += n
	}
	for _, l := range r.lines {
		t.Errorf("%s", l)
	}
	for k, n := range r.kinds {
		if n > maxReported {
			t.Errorf("%s: %d more not shown", k, n-maxReported)
		}
	}
	return total
}

// SectionCounts are a section's counts from PostgreSQL and from the gateway.
type SectionCounts struct {
	Capacity       int
	PGHeld, PGSold int // seats in the holds table; valid tickets
	API            ticketview.Availability
}

// CheckInvariants checks, in PostgreSQL and through the gateway, what must hold whatever
// happened to the processes, and reports each violation with t.Errorf:
//
//   - no seat has two valid tickets;
//   - the tickets agree with the bookings (a confirmed booking has exactly its quantity of
//     valid tickets, a cancelled one none);
//   - no seat is both held and sold, nor held twice (holds table);
//   - per section, held + sold <= capacity in PostgreSQL, and the gateway's availability
//     (the section's grain) says the same counts: capacity, sold, held, and
//     free + held + sold + blocked = capacity.
//
// It returns the per-section counts.
func (c *Cluster) CheckInvariants(ctx context.Context) map[string]SectionCounts {
	t := c.T
	t.Helper()
	var rep reporter
	pool := c.DB.Pool()
	ev := c.Catalog.Event

	rows, err := pool.Query(ctx, `SELECT section_id, seat_index, count(*) FROM tickets
		WHERE event_id = $1 AND status = 'valid' AND seat_index IS NOT NULL
		GROUP BY section_id, seat_index HAVING count(*) > 1`, ev)
	if err != nil {
		t.Fatalf("query double sales: %v", err)
	}
	for rows.Next() {
		var sec string
		var idx, n int
		if err := rows.Scan(&sec, &idx, &n); err != nil {
			t.Fatal(err)
		}
		rep.add("seat sold twice", "section %s seat %s has %d valid tickets", sec, c.label(sec, idx), n)
	}
	rows.Close()

	rows, err = pool.Query(ctx, `SELECT b.section_id, b.id, b.status, b.quantity,
			count(t.id) FILTER (WHERE t.status = 'valid')
		FROM bookings b LEFT JOIN tickets t
			ON t.event_id = b.event_id AND t.section_id = b.section_id AND t.booking_id = b.id
		WHERE b.event_id = $1
		GROUP BY b.section_id, b.id, b.status, b.quantity`, ev)
	if err != nil {
		t.Fatalf("query bookings and tickets: %v", err)
	}
	for rows.Next() {
		var sec, id, status string
		var qty, valid int
		if err := rows.Scan(&sec, &id, &status, &qty, &valid); err != nil {
			t.Fatal(err)
		}
		if (status == "confirmed" && valid != qty) || (status == "cancelled" && valid != 0) {
			rep.add("tickets disagree with bookings", "booking %s/%s is %s for %d seats but has %d valid tickets", sec, id, status, qty, valid)
		}
	}
	rows.Close()

	rows, err = pool.Query(ctx, `SELECT h.section_id, s, h.token FROM holds h, unnest(h.seats) s
		WHERE h.event_id = $1 AND EXISTS (SELECT 1 FROM tickets t WHERE t.event_id = h.event_id
			AND t.section_id = h.section_id AND t.seat_index = s AND t.status = 'valid')`, ev)
	if err != nil {
		t.Fatalf("query held and sold seats: %v", err)
	}
	for rows.Next() {
		var sec, token string
		var idx int
		if err := rows.Scan(&sec, &idx, &token); err != nil {
			t.Fatal(err)
		}
		rep.add("seat held and sold", "section %s seat %s is sold and held by hold %s", sec, c.label(sec, idx), token)
	}
	rows.Close()

	rows, err = pool.Query(ctx, `SELECT section_id, s, count(*) FROM holds, unnest(seats) s
		WHERE event_id = $1 GROUP BY section_id, s HAVING count(*) > 1`, ev)
	if err != nil {
		t.Fatalf("query double holds: %v", err)
	}
	for rows.Next() {
		var sec string
		var idx, n int
		if err := rows.Scan(&sec, &idx, &n); err != nil {
			t.Fatal(err)
		}
		rep.add("seat held twice", "section %s seat %s is in %d holds", sec, c.label(sec, idx), n)
	}
	rows.Close()

	counts := map[string]SectionCounts{}
	for _, sec := range c.Catalog.Sections {
		counts[sec] = SectionCounts{Capacity: c.Catalog.Capacity(sec)}
	}
	rows, err = pool.Query(ctx, `SELECT section_id, sum(quantity) FROM holds WHERE event_id = $1 GROUP BY section_id`, ev)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var sec string
		var n int
		if err := rows.Scan(&sec, &n); err != nil {
			t.Fatal(err)
		}
		sc := counts[sec]
		sc.PGHeld = n
		counts[sec] = sc
	}
	rows.Close()
	rows, err = pool.Query(ctx, `SELECT section_id, count(*) FROM tickets WHERE event_id = $1 AND status = 'valid' GROUP BY section_id`, ev)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var sec string
		var n int
		if err := rows.Scan(&sec, &n); err != nil {
			t.Fatal(err)
		}
		sc := counts[sec]
		sc.PGSold = n
		counts[sec] = sc
	}
	rows.Close()

	api := c.API()
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, sec := range c.Catalog.Sections {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var a ticketview.Availability
			var r Response
			for range 3 { // a 503 here is tolerated only as long as the gateway retries
				if a, r = api.Availability(ctx, sec); r.Status != http.StatusServiceUnavailable {
					break
				}
			}
			mu.Lock()
			sc := counts[sec]
			sc.API = a
			counts[sec] = sc
			mu.Unlock()
			if r.Status != http.StatusOK || r.Err != nil {
				rep.add("availability unreadable", "GET section %s: %s", sec, r)
				return
			}
			switch {
			case sc.PGHeld+sc.PGSold > sc.Capacity:
				rep.add("oversold", "section %s: %d held + %d sold > capacity %d (PostgreSQL)", sec, sc.PGHeld, sc.PGSold, sc.Capacity)
			case a.Capacity != sc.Capacity:
				rep.add("availability wrong", "section %s: capacity %d, want %d", sec, a.Capacity, sc.Capacity)
			case a.Held+a.Sold > a.Capacity:
				rep.add("oversold", "section %s: %d held + %d sold > capacity %d (gateway)", sec, a.Held, a.Sold, a.Capacity)
			case a.Free+a.Held+a.Sold+a.Blocked != a.Capacity:
				rep.add("availability wrong", "section %s: free %d + held %d + sold %d + blocked %d != capacity %d",
					sec, a.Free, a.Held, a.Sold, a.Blocked, a.Capacity)
			case a.Sold != sc.PGSold || a.Held != sc.PGHeld:
				rep.add("availability disagrees with PostgreSQL", "section %s: gateway says held %d sold %d, PostgreSQL held %d sold %d",
					sec, a.Held, a.Sold, sc.PGHeld, sc.PGSold)
			}
		}()
	}
	wg.Wait()
	rep.report(t)
	return counts
}

// Epochs are the sections' activation epochs in the store (journal_sections): how many
// times each was activated, anywhere.
func (c *Cluster) Epochs(ctx context.Context) (map[string]int64, error) {
	rows, err := c.DB.Pool().Query(ctx, `SELECT section_id, epoch FROM journal_sections WHERE event_id = $1`, c.Catalog.Event)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var sec string
		var e int64
		if err := rows.Scan(&sec, &e); err != nil {
			return nil, err
		}
		out[sec] = e
	}
	return out, rows.Err()
}

func (c *Cluster) label(section string, idx int) string {
	if l := c.Catalog.Seats[section]; idx >= 0 && idx < len(l) {
		return l[idx]
	}
	return fmt.Sprintf("#%d", idx)
}

// LedgerReport says what became of the acknowledged holds.
type LedgerReport struct {
	Holds           int // acknowledged holds
	Sales           int // acknowledged sales
	StillHeld       int // holds found as they were acknowledged
	ConfirmedLater  int // holds whose confirmation was not acknowledged but happened
	Lost            int // acknowledged holds or sales not found
	PGBookings      int // bookings of the event in PostgreSQL
	UnackedBookings int // bookings with no acknowledged confirmation (unknown outcomes)
	PGHolds         int // live holds of the event in PostgreSQL
	UnackedHolds    int // live holds in PostgreSQL that were never acknowledged (unknown outcomes)
	// Samples of the unacknowledged holds and bookings ("section/token", "section/id").
	UnackedSamples []string
}

// ExpectExact reports (t.Errorf) every hold or booking in PostgreSQL that was not
// acknowledged. Call it when every mutation had a definite answer (no 503, no transport
// error): then the store must hold exactly what was acknowledged, and anything more is a
// command executed twice (an idempotent retry that was not recognized) or out of nowhere.
func (r LedgerReport) ExpectExact(t interface {
	Helper()
	Errorf(string, ...any)
}) {
	t.Helper()
	if r.UnackedHolds > 0 || r.UnackedBookings > 0 {
		t.Errorf("PostgreSQL has %d holds and %d bookings nobody was told of, though every request had a definite answer (executed twice?): %v",
			r.UnackedHolds, r.UnackedBookings, r.UnackedSamples)
	}
}

// VerifyLedger checks that nothing acknowledged was lost, reporting each loss with
// t.Errorf:
//
//   - every acknowledged sale is a confirmed booking in PostgreSQL, of its hold, whose
//     valid tickets are the hold's seats, and the gateway finds it (GET booking);
//   - every other acknowledged hold is found through the gateway (GET hold: 200, same
//     owner and seats, and a row in the holds table), or, when a confirmation of it was
//     sent, it is a confirmed booking in PostgreSQL.
func (c *Cluster) VerifyLedger(ctx context.Context, l *Ledger) LedgerReport {
	t := c.T
	t.Helper()
	var rep reporter
	pool := c.DB.Pool()
	ev := c.Catalog.Event

	type pgBooking struct {
		section, id, status, holdToken, owner string
		quantity                              int
		seats                                 []string
	}
	byID := map[string]*pgBooking{}    // section/id -> booking
	byToken := map[string]*pgBooking{} // section/hold token -> booking
	rows, err := pool.Query(ctx, `SELECT section_id, id, status, hold_token, owner, quantity FROM bookings WHERE event_id = $1`, ev)
	if err != nil {
		t.Fatalf("query bookings: %v", err)
	}
	for rows.Next() {
		b := &pgBooking{}
		if err := rows.Scan(&b.section, &b.id, &b.status, &b.holdToken, &b.owner, &b.quantity); err != nil {
			t.Fatal(err)
		}
		byID[b.section+"/"+b.id] = b
		byToken[b.section+"/"+b.holdToken] = b
	}
	rows.Close()
	rows, err = pool.Query(ctx, `SELECT section_id, booking_id, seat_index FROM tickets
		WHERE event_id = $1 AND status = 'valid' AND seat_index IS NOT NULL ORDER BY section_id, booking_id, seat_index`, ev)
	if err != nil {
		t.Fatalf("query tickets: %v", err)
	}
	for rows.Next() {
		var sec, id string
		var idx int
		if err := rows.Scan(&sec, &id, &idx); err != nil {
			t.Fatal(err)
		}
		if b := byID[sec+"/"+id]; b != nil {
			b.seats = append(b.seats, c.label(sec, idx))
		}
	}
	rows.Close()
	pgHolds := map[string]string{} // section/token -> owner
	rows, err = pool.Query(ctx, `SELECT section_id, token, owner FROM holds WHERE event_id = $1`, ev)
	if err != nil {
		t.Fatalf("query holds: %v", err)
	}
	for rows.Next() {
		var sec, token, owner string
		if err := rows.Scan(&sec, &token, &owner); err != nil {
			t.Fatal(err)
		}
		pgHolds[sec+"/"+token] = owner
	}
	rows.Close()

	out := LedgerReport{PGBookings: len(byID)}
	holds := l.Holds()
	acked := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	api := c.API()
	sorted := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
	for _, h := range holds {
		out.Holds++
		if h.BookingID != "" {
			out.Sales++
			acked[h.Section+"/"+h.BookingID] = true
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if h.BookingID != "" {
				b := byID[h.Section+"/"+h.BookingID]
				switch {
				case b == nil:
					rep.add("acknowledged sale lost", "booking %s of hold %s (section %s, %s, acknowledged %s) is not in PostgreSQL",
						h.BookingID, h.Token, h.Section, h.Owner, h.At.Format("15:04:05.000"))
					return
				case b.status != "confirmed" || b.holdToken != h.Token || b.owner != h.Owner:
					rep.add("acknowledged sale wrong", "booking %s/%s in PostgreSQL: %s, hold %s, owner %s; want confirmed, hold %s, owner %s",
						h.Section, h.BookingID, b.status, b.holdToken, b.owner, h.Token, h.Owner)
					return
				case !slices.Equal(sorted(b.seats), sorted(h.Seats)):
					rep.add("acknowledged sale wrong", "booking %s/%s: valid tickets for %v, the hold had %v", h.Section, h.BookingID, b.seats, h.Seats)
					return
				}
				got, r := retryGet(ctx, func() (ticketview.Booking, Response) { return api.GetBooking(ctx, h.Section, h.BookingID, h.Owner) })
				if r.Status != http.StatusOK || r.Err != nil {
					rep.add("acknowledged sale lost", "GET booking %s/%s through the gateway: %s", h.Section, h.BookingID, r)
				} else if got.Status != ticketview.BookingConfirmed || !slices.Equal(sorted(SeatsOf(got.Items)), sorted(h.Seats)) {
					rep.add("acknowledged sale wrong", "GET booking %s/%s: %s for %v, want confirmed for %v", h.Section, h.BookingID, got.Status, SeatsOf(got.Items), h.Seats)
				}
				return
			}
			got, r := retryGet(ctx, func() (ticketview.Hold, Response) { return api.GetHold(ctx, h.Section, h.Token, h.Owner) })
			switch {
			case r.Status == http.StatusOK && r.Err == nil:
				if got.Token != h.Token || got.Owner != h.Owner || !slices.Equal(sorted(SeatsOf(got.Items)), sorted(h.Seats)) {
					rep.add("acknowledged hold changed", "hold %s/%s: now %s %v, acknowledged %s %v", h.Section, h.Token, got.Owner, SeatsOf(got.Items), h.Owner, h.Seats)
					return
				}
				if _, ok := pgHolds[h.Section+"/"+h.Token]; !ok {
					rep.add("acknowledged hold missing from PostgreSQL", "hold %s/%s answers through the gateway but has no row in holds", h.Section, h.Token)
					return
				}
				mu.Lock()
				out.StillHeld++
				mu.Unlock()
			case h.ConfirmSent && byToken[h.Section+"/"+h.Token] != nil && byToken[h.Section+"/"+h.Token].status == "confirmed":
				b := byToken[h.Section+"/"+h.Token]
				if !slices.Equal(sorted(b.seats), sorted(h.Seats)) {
					rep.add("acknowledged hold changed", "hold %s/%s became booking %s with seats %v, the hold had %v", h.Section, h.Token, b.id, b.seats, h.Seats)
					return
				}
				mu.Lock()
				out.ConfirmedLater++
				mu.Unlock()
			default:
				rep.add("acknowledged hold lost", "hold %s/%s of %s (seats %v, acknowledged %s, confirm sent %v): GET hold %s; booking of it in PostgreSQL: %v",
					h.Section, h.Token, h.Owner, h.Seats, h.At.Format("15:04:05.000"), h.ConfirmSent, r, byToken[h.Section+"/"+h.Token] != nil)
			}
		}()
	}
	wg.Wait()
	for k := range byID {
		if !acked[k] {
			out.UnackedBookings++
			if len(out.UnackedSamples) < 10 {
				out.UnackedSamples = append(out.UnackedSamples, "booking "+k)
			}
		}
	}
	ackedHolds := map[string]bool{}
	for _, h := range holds {
		ackedHolds[h.Section+"/"+h.Token] = true
	}
	out.PGHolds = len(pgHolds)
	for k := range pgHolds {
		if !ackedHolds[k] {
			out.UnackedHolds++
			if len(out.UnackedSamples) < 10 {
				out.UnackedSamples = append(out.UnackedSamples, "hold "+k)
			}
		}
	}
	out.Lost = rep.report(t)
	return out
}

// retryGet retries a read answered 503 a few times (the gateway already retries inside).
func retryGet[T any](ctx context.Context, f func() (T, Response)) (T, Response) {
	var v T
	var r Response
	for i := range 3 {
		v, r = f()
		if r.Status != http.StatusServiceUnavailable && r.Err == nil {
			return v, r
		}
		select {
		case <-ctx.Done():
			return v, r
		case <-time.After(time.Duration(i+1) * 200 * time.Millisecond):
		}
	}
	return v, r
}
