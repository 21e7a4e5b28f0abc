package ticketview_test

import (
	"fmt"
	"testing"
	"time"

	tv "github.com/ticketview/ticketview"
)

// heldGrid is a 2x10 grid where alice holds under "h" since t0, for 10 minutes.
func heldGrid(t *testing.T) (*tv.Section, tv.Hold) {
	t.Helper()
	s := gridSection(t, 2, 10)
	h := mustHold(t, s, tv.HoldRequest{Token: "h", Owner: "alice", Seats: []string{"A-5", "A-6"}}, t0)
	s.TakeEvents()
	return s, h
}

func TestExtend(t *testing.T) {
	type step struct {
		at   time.Duration // after t0
		by   time.Duration
		code string
		exp  time.Duration // expected expiry after t0, on success
	}
	cases := []struct {
		name   string
		owner  string
		token  string
		before func(t *testing.T, s *tv.Section)
		steps  []step
	}{
		{name: "extend moves the expiry by the duration", steps: []step{{at: time.Minute, by: 5 * time.Minute, exp: 15 * time.Minute}}},
		{name: "extend by 30 minutes at once succeeds", steps: []step{{by: 30 * time.Minute, exp: 40 * time.Minute}}},
		{name: "extends add up", steps: []step{{by: time.Minute, exp: 11 * time.Minute}, {at: 10 * time.Minute, by: 2 * time.Minute, exp: 13 * time.Minute}}},
		{name: "extend is capped at two hours after creation, then fails with limit_exceeded", steps: []step{
			{by: 30 * time.Minute, exp: 40 * time.Minute},
			{at: 30 * time.Minute, by: 30 * time.Minute, exp: 70 * time.Minute},
			{at: 60 * time.Minute, by: 30 * time.Minute, exp: 100 * time.Minute},
			{at: 90 * time.Minute, by: 30 * time.Minute, exp: 120 * time.Minute},
			{at: 100 * time.Minute, by: time.Minute, code: tv.ELIMIT},
		}},
		{name: "the hold expires at the two-hour cap", steps: []step{
			{by: 30 * time.Minute, exp: 40 * time.Minute},
			{at: 39 * time.Minute, by: 30 * time.Minute, exp: 70 * time.Minute},
			{at: 69 * time.Minute, by: 30 * time.Minute, exp: 100 * time.Minute},
			{at: 99 * time.Minute, by: 30 * time.Minute, exp: 120 * time.Minute},
			{at: 120 * time.Minute, by: time.Minute, code: tv.EHOLDEXPIRED},
		}},
		{name: "extend by zero fails with invalid_input", steps: []step{{by: 0, code: tv.EINVALID}}},
		{name: "extend by a negative duration fails with invalid_input", steps: []step{{by: -time.Minute, code: tv.EINVALID}}},
		{name: "extend by under a second fails with invalid_input", steps: []step{{by: time.Millisecond, code: tv.EINVALID}}},
		{name: "extend by over 30 minutes fails with invalid_input", steps: []step{{by: 31 * time.Minute, code: tv.EINVALID}}},
		{name: "extend by another owner fails with not_found", owner: "mallory", steps: []step{{by: time.Minute, code: tv.ENOTFOUND}}},
		{name: "extend of an unknown token fails with not_found", token: "nope", steps: []step{{by: time.Minute, code: tv.ENOTFOUND}}},
		{name: "extend after the expiry fails with hold_expired", steps: []step{{at: 10 * time.Minute, by: time.Minute, code: tv.EHOLDEXPIRED}}},
		{name: "extend just before the expiry succeeds", steps: []step{{at: 10*time.Minute - time.Nanosecond, by: time.Minute, exp: 11 * time.Minute}}},
		{name: "extend of a released hold fails with conflict",
			before: func(t *testing.T, s *tv.Section) { wantErr(t, s.Release("h", "alice", "", t0), "") },
			steps:  []step{{by: time.Minute, code: tv.ECONFLICT}}},
		{name: "extend of a confirmed hold fails with conflict",
			before: func(t *testing.T, s *tv.Section) { mustConfirm(t, s, "h", "alice", "b1", t0) },
			steps:  []step{{by: time.Minute, code: tv.ECONFLICT}}},
		{name: "extend of another owner's expired hold fails with not_found", owner: "mallory",
			steps: []step{{at: time.Hour, by: time.Minute, code: tv.ENOTFOUND}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, owner, token := heldCase(t, tc.before, tc.owner, tc.token)
			for i, st := range tc.steps {
				seq := s.Seq()
				h, err := s.Extend(token, owner, "", st.by, t0.Add(st.at))
				wantErr(t, err, st.code)
				checkInv(t, s)
				evs := s.TakeEvents()
				if st.code != "" {
					for _, e := range evs {
						if e.Type != tv.EvHoldExpired {
							t.Errorf("step %d: a failed extend emitted %v", i, e.Type)
						}
					}
					continue
				}
				if !h.ExpiresAt.Equal(t0.Add(st.exp)) {
					t.Errorf("step %d: expires %v, want t0+%v", i, h.ExpiresAt, st.exp)
				}
				if len(evs) != 1 || evs[0].Type != tv.EvHoldExtended || evs[0].Seq != seq+1 || !evs[0].ExpiresAt.Equal(h.ExpiresAt) {
					t.Errorf("step %d: events %+v", i, evs)
				}
				if next, ok := s.NextExpiry(); !ok || !next.Equal(h.ExpiresAt) {
					t.Errorf("step %d: NextExpiry %v %v", i, next, ok)
				}
				if got, _ := s.FindHold("h", "alice"); !got.ExpiresAt.Equal(h.ExpiresAt) {
					t.Errorf("step %d: FindHold expiry %v", i, got.ExpiresAt)
				}
			}
		})
	}
}

func TestRelease(t *testing.T) {
	cases := []struct {
		name   string
		before func(t *testing.T, s *tv.Section)
		owner  string
		token  string
		at     time.Duration
		code   string
		free   bool // free afterwards
		events int  // non-expiry events
	}{
		{name: "release frees the seats", free: true, events: 1},
		{name: "a second release is a no-op", before: func(t *testing.T, s *tv.Section) { wantErr(t, s.Release("h", "alice", "", t0), "") }, free: true},
		{name: "release by another owner fails with not_found and keeps the hold", owner: "mallory", code: tv.ENOTFOUND},
		{name: "release by another owner after a release fails with not_found", owner: "mallory", code: tv.ENOTFOUND, free: true,
			before: func(t *testing.T, s *tv.Section) { wantErr(t, s.Release("h", "alice", "", t0), "") }},
		{name: "release of an unknown token fails with not_found", token: "nope", code: tv.ENOTFOUND},
		{name: "release of an expired hold fails with hold_expired and the seats are free", at: 11 * time.Minute, code: tv.EHOLDEXPIRED, free: true},
		{name: "release of a confirmed hold fails with conflict", code: tv.ECONFLICT,
			before: func(t *testing.T, s *tv.Section) { mustConfirm(t, s, "h", "alice", "b1", t0) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, owner, token := heldCase(t, tc.before, tc.owner, tc.token)
			err := s.Release(token, owner, "", t0.Add(tc.at))
			wantErr(t, err, tc.code)
			checkInv(t, s)
			n := 0
			for _, e := range s.TakeEvents() {
				if e.Type != tv.EvHoldExpired {
					n++
					if e.Type != tv.EvHoldReleased || e.Token != "h" || e.Quantity != 2 || fmt.Sprint(labels(s, e.Seats)) != "[A-5 A-6]" {
						t.Errorf("event %+v", e)
					}
				}
			}
			if n != tc.events {
				t.Errorf("%d events, want %d", n, tc.events)
			}
			st := seatStatus(s)
			if isFree := st["A-5"] == tv.SeatFree && st["A-6"] == tv.SeatFree; isFree != tc.free {
				t.Errorf("seats free: %v, want %v (%v %v)", isFree, tc.free, st["A-5"], st["A-6"])
			}
			if tc.free {
				if _, err := s.FindHold("h", "alice"); err == nil {
					t.Errorf("the hold is still there")
				}
				if s.OwnerCount("alice") != 0 {
					t.Errorf("alice still counts %d seats", s.OwnerCount("alice"))
				}
			}
		})
	}
}

// TestExpiryOnAnyCommand: a hold past its ExpiresAt frees its seats by itself, on whatever
// command comes next, before that command runs.
func TestExpiryOnAnyCommand(t *testing.T) {
	cmds := []struct {
		name string
		run  func(s *tv.Section, now time.Time) error
	}{
		{"a later hold", func(s *tv.Section, now time.Time) error {
			_, err := s.Hold(tv.HoldRequest{Token: "x", Owner: "bob", Seats: []string{"B-1"}}, now)
			return err
		}},
		{"a later hold of the expired seats", func(s *tv.Section, now time.Time) error {
			_, err := s.Hold(tv.HoldRequest{Token: "x", Owner: "bob", Seats: []string{"A-5"}}, now)
			return err
		}},
		{"a later failing hold", func(s *tv.Section, now time.Time) error {
			_, err := s.Hold(tv.HoldRequest{Token: "x", Owner: "bob", Seats: []string{"Z-1"}}, now)
			if err == nil {
				return fmt.Errorf("hold of Z-1 succeeded")
			}
			return nil
		}},
		{"a later extend of another hold", func(s *tv.Section, now time.Time) error {
			_, err := s.Extend("long", "bob", "", time.Minute, now)
			return err
		}},
		{"a later release of another hold", func(s *tv.Section, now time.Time) error { return s.Release("long", "bob", "", now) }},
		{"a later confirm of another hold", func(s *tv.Section, now time.Time) error {
			_, err := s.Confirm("long", "bob", "b9", "p9", "", now)
			return err
		}},
		{"a later cancel", func(s *tv.Section, now time.Time) error {
			_, err := s.Cancel("sold", "", "", now)
			return err
		}},
		{"a later block", func(s *tv.Section, now time.Time) error { return s.Block([]string{"B-9"}, 0, "", now) }},
		{"a later unblock", func(s *tv.Section, now time.Time) error { return s.Unblock([]string{"B-10"}, 0, now) }},
		{"ExpireDue", func(s *tv.Section, now time.Time) error {
			if n := s.ExpireDue(now); n != 1 {
				return fmt.Errorf("ExpireDue expired %d holds, want 1", n)
			}
			return nil
		}},
	}
	for _, c := range cmds {
		for _, late := range []time.Duration{0, time.Nanosecond, time.Hour} {
			t.Run(fmt.Sprintf("%s at expiry+%v frees the seats", c.name, late), func(t *testing.T) {
				s, h := heldGrid(t)
				mustHold(t, s, tv.HoldRequest{Token: "long", Owner: "bob", Seats: []string{"B-2"}, TTL: 30 * time.Minute}, t0)
				mustHold(t, s, tv.HoldRequest{Token: "tosell", Owner: "bob", Seats: []string{"B-3"}, TTL: 30 * time.Minute}, t0)
				mustConfirm(t, s, "tosell", "bob", "sold", t0)
				wantErr(t, s.Block([]string{"B-10"}, 0, "", t0), "")
				s.TakeEvents()
				if late == time.Hour {
					// long must outlive the first hold by far enough.
					if _, err := s.Extend("long", "bob", "", 30*time.Minute, t0); err != nil {
						t.Fatal(err)
					}
					if _, err := s.Extend("long", "bob", "", 30*time.Minute, t0); err != nil {
						t.Fatal(err)
					}
					s.TakeEvents()
				}
				// Nothing happens by itself before a command.
				wantStatus(t, s, tv.SeatHeld, "A-5", "A-6")
				now := h.ExpiresAt.Add(late)
				if err := c.run(s, now); err != nil {
					t.Fatal(err)
				}
				checkInv(t, s)
				evs := s.TakeEvents()
				if len(evs) == 0 || evs[0].Type != tv.EvHoldExpired || evs[0].Token != "h" || !evs[0].At.Equal(now) {
					t.Fatalf("first event %+v, want the expiry of h", evs)
				}
				if c.name != "a later hold of the expired seats" {
					wantStatus(t, s, tv.SeatFree, "A-5", "A-6")
				} else {
					wantStatus(t, s, tv.SeatFree, "A-6")
					wantStatus(t, s, tv.SeatHeld, "A-5")
				}
				_, err := s.FindHold("h", "alice")
				wantErr(t, err, tv.EHOLDEXPIRED)
				if s.OwnerCount("alice") != 0 {
					t.Errorf("alice still counts %d seats", s.OwnerCount("alice"))
				}
			})
		}
	}
}

func TestHoldStillLiveJustBeforeExpiry(t *testing.T) {
	s, h := heldGrid(t)
	if n := s.ExpireDue(h.ExpiresAt.Add(-time.Nanosecond)); n != 0 {
		t.Fatalf("expired %d holds early", n)
	}
	wantStatus(t, s, tv.SeatHeld, "A-5", "A-6")
	if _, err := s.Confirm("h", "alice", "b1", "p1", "", h.ExpiresAt.Add(-time.Nanosecond)); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, s, tv.SeatSold, "A-5", "A-6")
}

func TestExpireDueAndNextExpiry(t *testing.T) {
	s := gridSection(t, 2, 10)
	if _, ok := s.NextExpiry(); ok {
		t.Fatal("NextExpiry with no holds")
	}
	if n := s.ExpireDue(t0.Add(24 * time.Hour)); n != 0 {
		t.Fatalf("ExpireDue with no holds expired %d", n)
	}
	for i, ttl := range []time.Duration{5, 3, 7, 3} { // minutes
		mustHold(t, s, tv.HoldRequest{Token: fmt.Sprintf("h%d", i), Owner: "o", Seats: []string{fmt.Sprintf("A-%d", i+1)}, TTL: ttl * time.Minute}, t0)
	}
	s.TakeEvents()
	next, ok := s.NextExpiry()
	if !ok || !next.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("NextExpiry %v %v", next, ok)
	}
	// Extending the earliest ones moves NextExpiry.
	if _, err := s.Extend("h1", "o", "", 10*time.Minute, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Extend("h3", "o", "", 10*time.Minute, t0); err != nil {
		t.Fatal(err)
	}
	if next, _ := s.NextExpiry(); !next.Equal(t0.Add(5 * time.Minute)) {
		t.Fatalf("NextExpiry after extends %v", next)
	}
	s.TakeEvents()
	if n := s.ExpireDue(t0.Add(7 * time.Minute)); n != 2 {
		t.Fatalf("ExpireDue expired %d, want 2", n)
	}
	evs := s.TakeEvents()
	if len(evs) != 2 || evs[0].Token != "h0" || evs[1].Token != "h2" {
		t.Fatalf("expiries out of order: %+v", evs)
	}
	wantStatus(t, s, tv.SeatFree, "A-1", "A-3")
	wantStatus(t, s, tv.SeatHeld, "A-2", "A-4")
	// Two holds expiring at the same instant go in token order.
	if next, _ := s.NextExpiry(); !next.Equal(t0.Add(13 * time.Minute)) {
		t.Fatalf("NextExpiry %v", next)
	}
	if n := s.ExpireDue(t0.Add(13 * time.Minute)); n != 2 {
		t.Fatalf("ExpireDue expired %d, want 2", n)
	}
	if evs := s.TakeEvents(); evs[0].Token != "h1" || evs[1].Token != "h3" {
		t.Fatalf("expiries out of order: %+v", evs)
	}
	if _, ok := s.NextExpiry(); ok {
		t.Fatal("NextExpiry after everything expired")
	}
	checkInv(t, s)
}

func TestConfirm(t *testing.T) {
	cases := []struct {
		name    string
		before  func(t *testing.T, s *tv.Section)
		owner   string
		token   string
		booking string
		ref     string
		at      time.Duration
		code    string
		replay  bool
		booked  string // booking id expected
	}{
		{name: "confirm within the hold makes a booking with its items and total", booked: "b1"},
		{name: "confirm a moment before the expiry succeeds", at: 10*time.Minute - time.Nanosecond, booked: "b1"},
		{name: "confirm at the expiry fails with hold_expired", at: 10 * time.Minute, code: tv.EHOLDEXPIRED},
		{name: "confirm after expiry fails with hold_expired", at: time.Hour, code: tv.EHOLDEXPIRED},
		{name: "confirm of a released hold fails with conflict", code: tv.ECONFLICT,
			before: func(t *testing.T, s *tv.Section) { wantErr(t, s.Release("h", "alice", "", t0), "") }},
		{name: "confirm twice with the same token returns the same booking, replayed", replay: true, booked: "b1", booking: "b2",
			before: func(t *testing.T, s *tv.Section) { mustConfirm(t, s, "h", "alice", "b1", t0) }},
		{name: "confirm by another owner fails with not_found", owner: "mallory", code: tv.ENOTFOUND},
		{name: "confirm by another owner of a confirmed hold fails with not_found", owner: "mallory", code: tv.ENOTFOUND,
			before: func(t *testing.T, s *tv.Section) { mustConfirm(t, s, "h", "alice", "b1", t0) }},
		{name: "confirm by another owner of an expired hold fails with not_found", owner: "mallory", at: time.Hour, code: tv.ENOTFOUND},
		{name: "confirm of an unknown token fails with not_found", token: "nope", code: tv.ENOTFOUND},
		{name: "confirm without a booking id fails with invalid_input", booking: "-", code: tv.EINVALID},
		{name: "confirm without a payment reference fails with invalid_input", ref: "-", code: tv.EINVALID},
		{name: "confirm with a booking id in use fails with conflict", booking: "sold", code: tv.ECONFLICT},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, h := heldGrid(t)
			mustHold(t, s, tv.HoldRequest{Token: "other", Owner: "bob", Seats: []string{"B-1"}}, t0)
			mustConfirm(t, s, "other", "bob", "sold", t0)
			if tc.before != nil {
				tc.before(t, s)
			}
			s.TakeEvents()
			owner, token, booking, ref := "alice", "h", "b1", "pay-1"
			for p, v := range map[*string]string{&owner: tc.owner, &token: tc.token, &booking: tc.booking, &ref: tc.ref} {
				switch v {
				case "":
				case "-":
					*p = ""
				default:
					*p = v
				}
			}
			seq := s.Seq()
			now := t0.Add(tc.at)
			b, err := s.Confirm(token, owner, booking, ref, "", now)
			wantErr(t, err, tc.code)
			checkInv(t, s)
			if tc.code != "" {
				for _, e := range s.TakeEvents() {
					if e.Type != tv.EvHoldExpired {
						t.Errorf("a failed confirm emitted %v", e.Type)
					}
				}
				if tc.at < 10*time.Minute && tc.before == nil {
					wantStatus(t, s, tv.SeatHeld, "A-5", "A-6")
				}
				return
			}
			if tc.replay {
				unchanged(t, s, seq)
			}
			if b.ID != tc.booked || b.Owner != "alice" || b.HoldToken != "h" || b.Status != tv.BookingConfirmed || b.Replayed != tc.replay ||
				b.Quantity != 2 || b.Total != h.Total || fmt.Sprint(b.Items) != fmt.Sprint(h.Items) || b.Event != "ev1" || b.Section != "stalls" ||
				!b.CancelledAt.IsZero() || b.PaymentRef == "" {
				t.Errorf("booking %+v\nhold %+v", b, h)
			}
			if !tc.replay && (!b.ConfirmedAt.Equal(now) || b.PaymentRef != ref) {
				t.Errorf("booking %+v", b)
			}
			wantStatus(t, s, tv.SeatSold, "A-5", "A-6")
			if _, err := s.FindHold("h", "alice"); tv.ErrorCode(err) != tv.ECONFLICT {
				t.Errorf("FindHold of a confirmed hold: %v", err)
			}
			got, err := s.FindBooking(b.ID, "alice")
			if err != nil || got.ID != b.ID || got.Total != b.Total {
				t.Errorf("FindBooking %+v %v", got, err)
			}
			if _, err := s.FindBooking(b.ID, "mallory"); tv.ErrorCode(err) != tv.ENOTFOUND {
				t.Errorf("FindBooking by another owner: %v", err)
			}
			if _, err := s.FindBooking(b.ID, ""); err != nil {
				t.Errorf("FindBooking by the organizer: %v", err)
			}
			if s.OwnerCount("alice") != 2 {
				t.Errorf("alice counts %d seats", s.OwnerCount("alice"))
			}
		})
	}
}

func TestConfirmGA(t *testing.T) {
	s := gaSection(t, 10)
	h := mustHold(t, s, tv.HoldRequest{Token: "h", Owner: "al", Quantity: 4}, t0)
	b := mustConfirm(t, s, "h", "al", "b1", t0)
	if b.Quantity != 4 || b.Total.Amount != 6000 || fmt.Sprint(b.Items) != fmt.Sprint(h.Items) {
		t.Errorf("booking %+v", b)
	}
	a := s.Availability(false)
	if a.Sold != 4 || a.Held != 0 || a.Free != 6 {
		t.Errorf("availability %+v", a)
	}
	checkInv(t, s)
}

func TestCancel(t *testing.T) {
	cases := []struct {
		name     string
		ga       bool
		owner    string
		booking  string
		twice    bool
		zeroTime bool
		code     string
	}{
		{name: "cancel frees the seats and marks the booking cancelled"},
		{name: "cancel by the organizer frees the seats", owner: "-"},
		{name: "cancel by another owner fails with not_found", owner: "mallory", code: tv.ENOTFOUND},
		{name: "cancel of an unknown booking fails with not_found", booking: "nope", code: tv.ENOTFOUND},
		{name: "cancel twice returns the same booking, replayed, changing nothing", twice: true},
		{name: "cancel twice by the organizer returns the same booking", owner: "-", twice: true},
		{name: "GA cancel frees the places", ga: true},
		{name: "GA cancel twice returns the same booking", ga: true, twice: true},
		{name: "cancel without a time fails with invalid_input", zeroTime: true, code: tv.EINVALID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s *tv.Section
			if tc.ga {
				s = gaSection(t, 10)
				mustHold(t, s, tv.HoldRequest{Token: "h", Owner: "alice", Quantity: 2}, t0)
			} else {
				s, _ = heldGrid(t)
			}
			first := mustConfirm(t, s, "h", "alice", "b1", t0)
			s.TakeEvents()
			owner, id := "alice", "b1"
			if tc.owner == "-" {
				owner = ""
			} else if tc.owner != "" {
				owner = tc.owner
			}
			if tc.booking != "" {
				id = tc.booking
			}
			now := t0.Add(time.Minute)
			var prev tv.Booking
			if tc.twice {
				var err error
				if prev, err = s.Cancel(id, owner, "", now); err != nil {
					t.Fatal(err)
				}
				s.TakeEvents()
			}
			seq := s.Seq()
			at := now.Add(time.Minute)
			if tc.zeroTime {
				at = time.Time{}
			}
			b, err := s.Cancel(id, owner, "", at)
			wantErr(t, err, tc.code)
			checkInv(t, s)
			if tc.code != "" {
				unchanged(t, s, seq)
				if got, _ := s.FindBooking("b1", ""); got.Status != tv.BookingConfirmed {
					t.Errorf("booking is %s", got.Status)
				}
				return
			}
			if b.Status != tv.BookingCancelled || b.ID != "b1" || b.Owner != "alice" || b.Total != first.Total || b.Replayed != tc.twice {
				t.Errorf("booking %+v", b)
			}
			if tc.twice {
				unchanged(t, s, seq)
				if !b.CancelledAt.Equal(prev.CancelledAt) || !b.CancelledAt.Equal(now) {
					t.Errorf("second cancel: cancelled at %v, first said %v", b.CancelledAt, prev.CancelledAt)
				}
			} else {
				evs := s.TakeEvents()
				if len(evs) != 1 || evs[0].Type != tv.EvSaleCancelled || evs[0].Owner != "alice" || evs[0].BookingID != "b1" || evs[0].Quantity != 2 {
					t.Errorf("events %+v", evs)
				}
				if !tc.ga && fmt.Sprint(labels(s, evs[0].Seats)) != "[A-5 A-6]" {
					t.Errorf("cancel event seats %v", labels(s, evs[0].Seats))
				}
			}
			if tc.ga {
				if a := s.Availability(false); a.Free != 10 || a.Sold != 0 {
					t.Errorf("availability %+v", a)
				}
			} else {
				wantStatus(t, s, tv.SeatFree, "A-5", "A-6")
			}
			if s.OwnerCount("alice") != 0 {
				t.Errorf("alice counts %d seats", s.OwnerCount("alice"))
			}
			// The freed seats can be held again.
			req := tv.HoldRequest{Token: "again", Owner: "bob", Seats: []string{"A-5", "A-6"}}
			if tc.ga {
				req = tv.HoldRequest{Token: "again", Owner: "bob", Quantity: 10}
			}
			mustHold(t, s, req, now.Add(time.Minute))
		})
	}
}

func TestBlockUnblock(t *testing.T) {
	cases := []struct {
		name    string
		ga      bool
		block   []string
		qty     int
		unblock bool
		code    string
		want    map[string]tv.SeatStatus
	}{
		{name: "block of free seats blocks them", block: []string{"B-1", "B-2"}, want: map[string]tv.SeatStatus{"B-1": tv.SeatBlocked, "B-2": tv.SeatBlocked}},
		{name: "block of a held seat fails with seat_unavailable", block: []string{"A-5"}, code: tv.ESEATTAKEN},
		{name: "block of a sold seat fails with seat_unavailable", block: []string{"A-1"}, code: tv.ESEATTAKEN},
		{name: "block of a blocked seat fails with seat_unavailable", block: []string{"A-10"}, code: tv.ESEATTAKEN},
		{name: "block with one held seat blocks nothing", block: []string{"B-1", "A-6", "B-2"}, code: tv.ESEATTAKEN,
			want: map[string]tv.SeatStatus{"B-1": tv.SeatFree, "B-2": tv.SeatFree, "A-6": tv.SeatHeld}},
		{name: "block of an unknown seat fails with not_found", block: []string{"B-1", "Q-1"}, code: tv.ENOTFOUND, want: map[string]tv.SeatStatus{"B-1": tv.SeatFree}},
		{name: "block of no seats fails with invalid_input", code: tv.EINVALID},
		{name: "block naming a seat twice fails with invalid_input", block: []string{"B-1", "B-1"}, code: tv.EINVALID},
		{name: "unblock of blocked seats frees them", block: []string{"A-10"}, unblock: true, want: map[string]tv.SeatStatus{"A-10": tv.SeatFree}},
		{name: "unblock of a free seat fails with seat_unavailable", block: []string{"B-1"}, unblock: true, code: tv.ESEATTAKEN},
		{name: "unblock of a held seat fails with seat_unavailable", block: []string{"A-5"}, unblock: true, code: tv.ESEATTAKEN},
		{name: "unblock of no seats fails with invalid_input", unblock: true, code: tv.EINVALID},
		{name: "GA block by quantity takes free places", ga: true, qty: 5},
		{name: "GA block of every free place succeeds", ga: true, qty: 7},
		{name: "GA block cannot take held or sold places: insufficient_availability", ga: true, qty: 8, code: tv.ESOLDOUT},
		{name: "GA block of zero places fails with invalid_input", ga: true, qty: 0, code: tv.EINVALID},
		{name: "GA block of negative places fails with invalid_input", ga: true, qty: -2, code: tv.EINVALID},
		{name: "GA unblock of blocked places frees them", ga: true, qty: 1, unblock: true},
		{name: "GA unblock of more than blocked fails with invalid_input", ga: true, qty: 2, unblock: true, code: tv.EINVALID},
		{name: "GA unblock of zero places fails with invalid_input", ga: true, qty: 0, unblock: true, code: tv.EINVALID},
		{name: "GA unblock of 2^32+1 places fails with invalid_input", ga: true, qty: 1<<32 + 1, unblock: true, code: tv.EINVALID},
		{name: "GA block of 2^32+1 places fails with insufficient_availability", ga: true, qty: 1<<32 + 1, code: tv.ESOLDOUT},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s *tv.Section
			if tc.ga {
				// 10 places: 1 held, 1 sold, 1 blocked.
				s = gaSection(t, 10)
				mustHold(t, s, tv.HoldRequest{Token: "h", Owner: "al", Quantity: 1}, t0)
				mustHold(t, s, tv.HoldRequest{Token: "s", Owner: "al", Quantity: 1}, t0)
				mustConfirm(t, s, "s", "al", "b", t0)
				wantErr(t, s.Block(nil, 1, "mixer", t0), "")
			} else {
				// held, A-1 sold, A-10 blocked.
				s, _ = heldGrid(t)
				mustHold(t, s, tv.HoldRequest{Token: "s", Owner: "al", Seats: []string{"A-1"}}, t0)
				mustConfirm(t, s, "s", "al", "b", t0)
				wantErr(t, s.Block([]string{"A-10"}, 0, "camera", t0), "")
			}
			s.TakeEvents()
			before := s.Availability(false)
			seq := s.Seq()
			var err error
			if tc.unblock {
				err = s.Unblock(tc.block, tc.qty, t0)
			} else {
				err = s.Block(tc.block, tc.qty, "reason", t0)
			}
			wantErr(t, err, tc.code)
			checkInv(t, s)
			for l, st := range tc.want {
				wantStatus(t, s, st, l)
			}
			after := s.Availability(false)
			if tc.code != "" {
				unchanged(t, s, seq)
				if fmt.Sprint(after) != fmt.Sprint(before) {
					t.Errorf("failed block changed availability")
				}
				return
			}
			n := tc.qty
			if !tc.ga {
				n = len(tc.block)
			}
			if tc.unblock {
				n = -n
			}
			if after.Blocked != before.Blocked+n || after.Free != before.Free-n || after.Held != before.Held || after.Sold != before.Sold {
				t.Errorf("availability %+v -> %+v", before, after)
			}
			evs := s.TakeEvents()
			if len(evs) != 1 || (evs[0].Type != tv.EvSeatsBlocked) == !tc.unblock {
				t.Errorf("events %+v", evs)
			}
			if !tc.unblock && evs[0].Reference != "reason" {
				t.Errorf("block event reason %q", evs[0].Reference)
			}
		})
	}
}

// TestBlockedSeatsAreNotSold: blocked seats are out of best-available and explicit holds,
// and a block cannot take a held seat from its holder.
func TestBlockedSeatsAreNotSold(t *testing.T) {
	s := patternSection(t, "xxxx..xxxx")
	_, err := s.Hold(tv.HoldRequest{Token: "t", Owner: "o", Seats: []string{"A-1"}}, t0)
	wantErr(t, err, tv.ESEATTAKEN)
	_, err = s.Hold(tv.HoldRequest{Token: "t", Owner: "o", BestAvailable: true, Quantity: 3, AllowSplit: true}, t0)
	wantErr(t, err, tv.ESOLDOUT)
	h := mustHold(t, s, tv.HoldRequest{Token: "t", Owner: "o", BestAvailable: true, Quantity: 2}, t0)
	if fmt.Sprint(holdLabels(h)) != "[A-5 A-6]" {
		t.Fatalf("held %v", holdLabels(h))
	}
	wantErr(t, s.Block([]string{"A-5"}, 0, "", t0), tv.ESEATTAKEN)
	wantErr(t, s.Unblock([]string{"A-1", "A-2"}, 0, t0), "")
	wantStatus(t, s, tv.SeatFree, "A-1", "A-2")
	wantStatus(t, s, tv.SeatHeld, "A-5", "A-6")
	checkInv(t, s)
}

func TestBuyerLedger(t *testing.T) {
	var ev tv.Event
	if ev.Limit() != 6 || tv.DefaultBuyerLimit != 6 {
		t.Fatalf("default limit %d", ev.Limit())
	}
	ev.BuyerLimit = 2
	if ev.Limit() != 2 {
		t.Fatalf("limit %d", ev.Limit())
	}
	type op struct {
		ret   bool
		owner string
		n     int
		code  string
		used  int
	}
	cases := []struct {
		name  string
		start map[string]int
		ops   []op
	}{
		{name: "reserving up to the default limit of 6 succeeds", ops: []op{{owner: "a", n: 4, used: 4}, {owner: "a", n: 2, used: 6}}},
		{name: "reserving past the limit fails with limit_exceeded and takes nothing", ops: []op{{owner: "a", n: 4, used: 4}, {owner: "a", n: 3, code: tv.ELIMIT, used: 4}}},
		{name: "a single request over the limit fails with limit_exceeded", ops: []op{{owner: "a", n: 7, code: tv.ELIMIT, used: 0}}},
		{name: "returned seats can be reserved again", ops: []op{{owner: "a", n: 6, used: 6}, {ret: true, owner: "a", n: 2, used: 4}, {owner: "a", n: 2, used: 6}}},
		{name: "owners have separate allowances", ops: []op{{owner: "a", n: 6, used: 6}, {owner: "b", n: 6, used: 6}}},
		{name: "reserving zero seats fails with invalid_input", ops: []op{{owner: "a", n: 0, code: tv.EINVALID}}},
		{name: "reserving negative seats fails with invalid_input", ops: []op{{owner: "a", n: -1, code: tv.EINVALID}}},
		{name: "returning more than used leaves zero", ops: []op{{owner: "a", n: 2, used: 2}, {ret: true, owner: "a", n: 5, used: 0}, {owner: "a", n: 6, used: 6}}},
		{name: "a ledger starts from the counts it is given", start: map[string]int{"a": 5, "b": 0, "c": -1},
			ops: []op{{owner: "a", n: 2, code: tv.ELIMIT, used: 5}, {owner: "a", n: 1, used: 6}, {owner: "c", n: 6, used: 6}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := tv.NewBuyerLedger(tc.start)
			for i, o := range tc.ops {
				if o.ret {
					l.Return(o.owner, o.n)
				} else {
					err := l.Reserve(o.owner, o.n, tv.DefaultBuyerLimit)
					if o.code == "" && err != nil || o.code != "" && tv.ErrorCode(err) != o.code {
						t.Fatalf("op %d: %v, want %q", i, err, o.code)
					}
				}
				if got := l.Used(o.owner); got != o.used {
					t.Fatalf("op %d: used %d, want %d", i, got, o.used)
				}
			}
		})
	}
}

// heldCase is the start of a table case on alice's hold "h": the section after the case's
// before step (its events taken), and the owner and token the case acts as.
func heldCase(t *testing.T, before func(*testing.T, *tv.Section), owner, token string) (*tv.Section, string, string) {
	t.Helper()
	s, _ := heldGrid(t)
	if before != nil {
		before(t, s)
		s.TakeEvents()
	}
	if owner == "" {
		owner = "alice"
	}
	if token == "" {
		token = "h"
	}
	return s, owner, token
}
