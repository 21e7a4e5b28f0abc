package ticketview_test

import (
	"fmt"
	"testing"
	"time"

	tv "github.com/ticketview/ticketview"
)

// occupiedGrid is a 4x10 grid (A,B VIP; C,D STD) where "other" holds, has
// bought is blocked.
func occupiedGrid(t *testing.T) *tv.Section {
	t.Helper()
	s := gridSection(t, 4, 10)
	mustHold(t, s, tv.HoldRequest{Token: "o1", Owner: "other", Seats: []string{"A-1", "A-2"}}, t0)
	mustHold(t, s, tv.HoldRequest{Token: "o2", Owner: "other", Seats: []string{"A-3"}}, t0)
	mustConfirm(t, s, "o2", "other", "bk-o2", t0)
	if err := s.Block([]string{"A-4"}, 0, "camera", t0); err != nil {
		t.Fatal(err)
	}
	s.TakeEvents()
	return s
}

func TestHoldSeated(t *testing.T) {
	many := make([]string, 51)
	for i := range many {
		many[i] = fmt.Sprintf("%s-%d", string(rune('A'+i/10)), i%10+1)
	}
	cases := []struct {
		name      string
		req       tv.HoldRequest
		code      string
		wantSeats []string // held on success
		freeAfter []string // seats that must still be free afterwards
	}{
		{name: "hold of two free seats holds exactly them", req: tv.HoldRequest{Seats: []string{"B-1", "B-2"}}, wantSeats: []string{"B-1", "B-2"}},
		{name: "hold with quantity equal to the seat count succeeds", req: tv.HoldRequest{Seats: []string{"C-5"}, Quantity: 1}, wantSeats: []string{"C-5"}},
		{name: "hold of a sold seat fails with seat_unavailable", req: tv.HoldRequest{Seats: []string{"A-3"}}, code: tv.ESEATTAKEN},
		{name: "hold of a held seat fails with seat_unavailable", req: tv.HoldRequest{Seats: []string{"A-2"}}, code: tv.ESEATTAKEN},
		{name: "hold of a blocked seat fails with seat_unavailable", req: tv.HoldRequest{Seats: []string{"A-4"}}, code: tv.ESEATTAKEN},
		{name: "hold with one taken seat among free ones holds nothing", req: tv.HoldRequest{Seats: []string{"B-5", "B-6", "A-3", "B-7"}},
			code: tv.ESEATTAKEN, freeAfter: []string{"B-5", "B-6", "B-7"}},
		{name: "hold with one held seat last holds nothing", req: tv.HoldRequest{Seats: []string{"A-5", "A-6", "A-1"}},
			code: tv.ESEATTAKEN, freeAfter: []string{"A-5", "A-6"}},
		{name: "hold of an unknown seat fails with not_found", req: tv.HoldRequest{Seats: []string{"B-1", "Z-99"}}, code: tv.ENOTFOUND, freeAfter: []string{"B-1"}},
		{name: "hold naming a seat twice fails with invalid_input", req: tv.HoldRequest{Seats: []string{"B-1", "B-2", "B-1"}}, code: tv.EINVALID, freeAfter: []string{"B-1", "B-2"}},
		{name: "hold without an owner fails with invalid_input", req: tv.HoldRequest{Owner: "-", Seats: []string{"B-1"}}, code: tv.EINVALID},
		{name: "hold without a token fails with invalid_input", req: tv.HoldRequest{Token: "-", Seats: []string{"B-1"}}, code: tv.EINVALID},
		{name: "hold with a token in use fails with conflict", req: tv.HoldRequest{Token: "o1", Seats: []string{"B-1"}}, code: tv.ECONFLICT},
		{name: "hold with neither seats nor best-available fails with invalid_input", req: tv.HoldRequest{Quantity: 2}, code: tv.EINVALID},
		{name: "hold with seats and best-available fails with invalid_input", req: tv.HoldRequest{Seats: []string{"B-1"}, BestAvailable: true, Quantity: 1}, code: tv.EINVALID},
		{name: "hold with seats and another quantity fails with invalid_input", req: tv.HoldRequest{Seats: []string{"B-1"}, Quantity: 2}, code: tv.EINVALID},
		{name: "hold of more than 50 seats fails with invalid_input", req: tv.HoldRequest{Seats: many}, code: tv.EINVALID},
		{name: "hold for under a second fails with invalid_input", req: tv.HoldRequest{Seats: []string{"B-1"}, TTL: time.Millisecond}, code: tv.EINVALID},
		{name: "hold with a negative time fails with invalid_input", req: tv.HoldRequest{Seats: []string{"B-1"}, TTL: -time.Minute}, code: tv.EINVALID},
		{name: "hold for over 30 minutes fails with invalid_input", req: tv.HoldRequest{Seats: []string{"B-1"}, TTL: 31 * time.Minute}, code: tv.EINVALID},
		{name: "hold for exactly 30 minutes succeeds", req: tv.HoldRequest{Seats: []string{"B-1"}, TTL: 30 * time.Minute}, wantSeats: []string{"B-1"}},
		{name: "best-available for zero seats fails with invalid_input", req: tv.HoldRequest{BestAvailable: true}, code: tv.EINVALID},
		{name: "best-available for 51 seats fails with invalid_input", req: tv.HoldRequest{BestAvailable: true, Quantity: 51}, code: tv.EINVALID},
		{name: "best-available of an unknown category fails with invalid_input", req: tv.HoldRequest{BestAvailable: true, Quantity: 2, Category: "BOX"}, code: tv.EINVALID},
		{name: "best-available wider than any row fails with insufficient_availability", req: tv.HoldRequest{BestAvailable: true, Quantity: 11}, code: tv.ESOLDOUT},
		{name: "best-available of 2 holds the centre of the front row", req: tv.HoldRequest{BestAvailable: true, Quantity: 2}, wantSeats: []string{"A-5", "A-6"}},
		{name: "hold over the per-section limit fails with limit_exceeded", req: tv.HoldRequest{Owner: "other", Seats: []string{"B-1", "B-2"}, Limit: 4}, code: tv.ELIMIT, freeAfter: []string{"B-1", "B-2"}},
		{name: "hold up to exactly the per-section limit succeeds", req: tv.HoldRequest{Owner: "other", Seats: []string{"B-1"}, Limit: 4}, wantSeats: []string{"B-1"}},
		{name: "a limit counts only the owner's own seats", req: tv.HoldRequest{Seats: []string{"B-1", "B-2", "B-3", "B-4"}, Limit: 4}, wantSeats: []string{"B-1", "B-2", "B-3", "B-4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := occupiedGrid(t)
			req := tc.req
			switch req.Owner {
			case "":
				req.Owner = "alice"
			case "-":
				req.Owner = ""
			}
			switch req.Token {
			case "":
				req.Token = "tok"
			case "-":
				req.Token = ""
			}
			seq := s.Seq()
			before := s.Availability(true)
			now := t0.Add(time.Minute)
			h, err := s.Hold(req, now)
			wantErr(t, err, tc.code)
			checkInv(t, s)
			if tc.code != "" {
				unchanged(t, s, seq)
				if got := s.Availability(true); fmt.Sprint(got) != fmt.Sprint(before) {
					t.Errorf("a failed hold changed availability")
				}
				wantStatus(t, s, tv.SeatFree, tc.freeAfter...)
				return
			}
			if got := holdLabels(h); !sameStrings(got, tc.wantSeats) {
				t.Fatalf("held %v, want %v", got, tc.wantSeats)
			}
			wantStatus(t, s, tv.SeatHeld, tc.wantSeats...)
			ttl := req.TTL
			if ttl == 0 {
				ttl = tv.DefaultHoldTTL
			}
			if h.Token != req.Token || h.Owner != req.Owner || h.Event != "ev1" || h.Section != "stalls" || h.Quantity != len(tc.wantSeats) ||
				!h.CreatedAt.Equal(now) || !h.ExpiresAt.Equal(now.Add(ttl)) || h.Replayed {
				t.Errorf("hold %+v", h)
			}
			var total int64
			for _, it := range h.Items {
				if it.Quantity != 1 || it.UnitPrice <= 0 || (it.Category != "VIP" && it.Category != "STD") {
					t.Errorf("item %+v", it)
				}
				total += it.UnitPrice
			}
			if h.Total != (tv.Money{Amount: total, Currency: "INR"}) {
				t.Errorf("total %v, items add up to %d", h.Total, total)
			}
			if evs := s.TakeEvents(); len(evs) != 1 || evs[0].Type != tv.EvHoldPlaced || evs[0].Seq != seq+1 {
				t.Errorf("events %+v", evs)
			}
			if f, err := s.FindHold(req.Token, req.Owner); err != nil || fmt.Sprint(f) != fmt.Sprint(h) {
				t.Errorf("FindHold = %+v, %v; want %+v", f, err, h)
			}
		})
	}
}

func TestHoldGeneralAdmission(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(t *testing.T, s *tv.Section) // before the hold
		req    tv.HoldRequest
		code   string
		wantGA int // free places after
	}{
		{name: "GA hold of 3 places holds 3", req: tv.HoldRequest{Quantity: 3}, wantGA: 7},
		{name: "GA hold of the whole capacity succeeds", req: tv.HoldRequest{Quantity: 10}, wantGA: 0},
		{name: "GA hold over capacity fails with insufficient_availability", req: tv.HoldRequest{Quantity: 11}, code: tv.ESOLDOUT, wantGA: 10},
		{name: "GA hold larger than what holds, sales and blocks leave fails with insufficient_availability",
			setup: gaBusy, req: tv.HoldRequest{Quantity: 3}, code: tv.ESOLDOUT, wantGA: 2},
		{name: "GA hold of exactly what is left succeeds", setup: gaBusy, req: tv.HoldRequest{Quantity: 2}, wantGA: 0},
		{name: "GA hold naming seats fails with invalid_input", req: tv.HoldRequest{Seats: []string{"A-1"}}, code: tv.EINVALID, wantGA: 10},
		{name: "GA best-available fails with invalid_input", req: tv.HoldRequest{BestAvailable: true, Quantity: 2}, code: tv.EINVALID, wantGA: 10},
		{name: "GA hold of zero places fails with invalid_input", req: tv.HoldRequest{}, code: tv.EINVALID, wantGA: 10},
		{name: "GA hold of negative places fails with invalid_input", req: tv.HoldRequest{Quantity: -1}, code: tv.EINVALID, wantGA: 10},
		{name: "GA hold of more than 50 places fails with invalid_input", req: tv.HoldRequest{Quantity: 51}, code: tv.EINVALID, wantGA: 10},
		{name: "GA hold of another category fails with invalid_input", req: tv.HoldRequest{Quantity: 1, Category: "VIP"}, code: tv.EINVALID, wantGA: 10},
		{name: "GA hold naming its own category succeeds", req: tv.HoldRequest{Quantity: 1, Category: "GA"}, wantGA: 9},
		{name: "GA hold over the per-section limit fails with limit_exceeded", req: tv.HoldRequest{Quantity: 5, Limit: 4}, code: tv.ELIMIT, wantGA: 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := gaSection(t, 10)
			if tc.setup != nil {
				tc.setup(t, s)
			}
			seq := s.Seq()
			req := tc.req
			req.Owner, req.Token = "alice", "tok"
			h, err := s.Hold(req, t0)
			wantErr(t, err, tc.code)
			checkInv(t, s)
			if got := s.Availability(true).Free; got != tc.wantGA {
				t.Errorf("free %d, want %d", got, tc.wantGA)
			}
			if s.Availability(true).Seats != nil {
				t.Errorf("a GA section has a seat map")
			}
			if tc.code != "" {
				unchanged(t, s, seq)
				return
			}
			want := []tv.HoldItem{{Category: "GA", Quantity: req.Quantity, UnitPrice: 1500}}
			if fmt.Sprint(h.Items) != fmt.Sprint(want) || h.Quantity != req.Quantity || h.Total.Amount != int64(1500*req.Quantity) {
				t.Errorf("hold %+v", h)
			}
			if got := s.OwnerCount("alice"); got != req.Quantity {
				t.Errorf("owner count %d", got)
			}
		})
	}
}

// gaBusy leaves 2 of 10 GA places: 3 held, 2 sold, 3 blocked.
func gaBusy(t *testing.T, s *tv.Section) {
	mustHold(t, s, tv.HoldRequest{Token: "b1", Owner: "bob", Quantity: 3}, t0)
	mustHold(t, s, tv.HoldRequest{Token: "b2", Owner: "bob", Quantity: 2}, t0)
	mustConfirm(t, s, "b2", "bob", "bk-b2", t0)
	if err := s.Block(nil, 3, "press", t0); err != nil {
		t.Fatal(err)
	}
	s.TakeEvents()
}

func TestHoldLimitCountsHeldAndBoughtSeats(t *testing.T) {
	s := gridSection(t, 2, 10)
	mustHold(t, s, tv.HoldRequest{Token: "h1", Owner: "al", Seats: []string{"A-1", "A-2"}, Limit: 4}, t0)
	mustHold(t, s, tv.HoldRequest{Token: "h2", Owner: "al", Seats: []string{"A-3", "A-4"}, Limit: 4}, t0)
	mustConfirm(t, s, "h2", "al", "b2", t0)
	_, err := s.Hold(tv.HoldRequest{Token: "h3", Owner: "al", Seats: []string{"A-5"}, Limit: 4}, t0)
	wantErr(t, err, tv.ELIMIT)
	// Releasing a hold gives its seats back to the allowance.
	wantErr(t, s.Release("h1", "al", "", t0), "")
	mustHold(t, s, tv.HoldRequest{Token: "h3", Owner: "al", Seats: []string{"A-5", "A-6"}, Limit: 4}, t0)
	_, err = s.Hold(tv.HoldRequest{Token: "h4", Owner: "al", BestAvailable: true, Quantity: 1, Limit: 4}, t0)
	wantErr(t, err, tv.ELIMIT)
	// Cancelling a booking gives its seats back too.
	if _, err := s.Cancel("b2", "al", "", t0); err != nil {
		t.Fatal(err)
	}
	mustHold(t, s, tv.HoldRequest{Token: "h4", Owner: "al", BestAvailable: true, Quantity: 2, Limit: 4}, t0)
	// An expired hold gives its seats back.
	_, err = s.Hold(tv.HoldRequest{Token: "h5", Owner: "al", Seats: []string{"B-1"}, Limit: 4}, t0)
	wantErr(t, err, tv.ELIMIT)
	mustHold(t, s, tv.HoldRequest{Token: "h5", Owner: "al", Seats: []string{"B-1", "B-2"}, Limit: 4}, t0.Add(tv.DefaultHoldTTL))
	if got := s.OwnerCount("al"); got != 2 {
		t.Errorf("owner count %d, want 2", got)
	}
	if got := s.OwnerCounts(); fmt.Sprint(got) != "map[al:2]" {
		t.Errorf("OwnerCounts %v", got)
	}
	checkInv(t, s)
}
