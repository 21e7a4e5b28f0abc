package ticketview_test

import (
	"fmt"
	"testing"
	"time"

	tv "github.com/ticketview/ticketview"
)

// idemFixture: alice holds under "h" (key k-hold), bob has booking "bb" of B-1.
func idemFixture(t *testing.T) *tv.Section {
	t.Helper()
	s := gridSection(t, 2, 10)
	mustHold(t, s, tv.HoldRequest{Token: "h", Owner: "alice", IdemKey: "k-hold", Seats: []string{"A-5", "A-6"}}, t0)
	mustHold(t, s, tv.HoldRequest{Token: "hb", Owner: "bob", Seats: []string{"B-1"}}, t0)
	mustConfirm(t, s, "hb", "bob", "bb", t0)
	s.TakeEvents()
	return s
}

// TestIdempotentRetries: a command retried with its key returns the first result, marked
// Replayed, and changes nothing (no events, same Seq), whatever happened in between.
func TestIdempotentRetries(t *testing.T) {
	at := t0.Add(time.Minute)
	cases := []struct {
		name    string
		first   func(s *tv.Section) res
		between func(t *testing.T, s *tv.Section)
		retry   func(s *tv.Section) res
		check   func(t *testing.T, first, retry res)
	}{
		{
			name: "a retried hold returns the first hold, replayed",
			first: func(s *tv.Section) res {
				h, err := s.Hold(tv.HoldRequest{Token: "t1", Owner: "carol", IdemKey: "k", Seats: []string{"A-1"}}, at)
				return res{h, err}
			},
			retry: func(s *tv.Section) res {
				h, err := s.Hold(tv.HoldRequest{Token: "t1", Owner: "carol", IdemKey: "k", Seats: []string{"A-1"}}, at)
				return res{h, err}
			},
			check: sameHoldReplayed,
		},
		{
			name: "a retried hold with another request still returns the first hold",
			first: func(s *tv.Section) res {
				h, err := s.Hold(tv.HoldRequest{Token: "t1", Owner: "carol", IdemKey: "k", Seats: []string{"A-1"}}, at)
				return res{h, err}
			},
			retry: func(s *tv.Section) res {
				h, err := s.Hold(tv.HoldRequest{Token: "t2", Owner: "carol", IdemKey: "k", Seats: []string{"A-2"}}, at)
				return res{h, err}
			},
			check: sameHoldReplayed,
		},
		{
			name: "a hold retried after its release returns the first hold and holds nothing",
			first: func(s *tv.Section) res {
				h, err := s.Hold(tv.HoldRequest{Token: "t1", Owner: "carol", IdemKey: "k", Seats: []string{"A-1"}}, at)
				return res{h, err}
			},
			between: func(t *testing.T, s *tv.Section) { wantErr(t, s.Release("t1", "carol", "", at), "") },
			retry: func(s *tv.Section) res {
				h, err := s.Hold(tv.HoldRequest{Token: "t1", Owner: "carol", IdemKey: "k", Seats: []string{"A-1"}}, at)
				return res{h, err}
			},
			check: sameHoldReplayed,
		},
		{
			name: "a retried GA-like best-available hold returns the same seats",
			first: func(s *tv.Section) res {
				h, err := s.Hold(tv.HoldRequest{Token: "t1", Owner: "carol", IdemKey: "k", BestAvailable: true, Quantity: 3}, at)
				return res{h, err}
			},
			retry: func(s *tv.Section) res {
				h, err := s.Hold(tv.HoldRequest{Token: "t1", Owner: "carol", IdemKey: "k", BestAvailable: true, Quantity: 3}, at)
				return res{h, err}
			},
			check: sameHoldReplayed,
		},
		{
			name:  "a retried extend does not extend twice",
			first: func(s *tv.Section) res { h, err := s.Extend("h", "alice", "k", 5*time.Minute, at); return res{h, err} },
			retry: func(s *tv.Section) res { h, err := s.Extend("h", "alice", "k", 5*time.Minute, at); return res{h, err} },
			check: func(t *testing.T, first, retry res) {
				a, b := first.v.(tv.Hold), retry.v.(tv.Hold)
				if !b.ExpiresAt.Equal(t0.Add(15*time.Minute)) || !a.ExpiresAt.Equal(b.ExpiresAt) || !b.Replayed || a.Replayed {
					t.Errorf("first %+v\nretry %+v", a, b)
				}
			},
		},
		{
			name:  "a retried release succeeds again",
			first: func(s *tv.Section) res { return res{nil, s.Release("h", "alice", "k", at)} },
			retry: func(s *tv.Section) res { return res{nil, s.Release("h", "alice", "k", at)} },
		},
		{
			name:  "a retried confirm returns the first booking",
			first: func(s *tv.Section) res { b, err := s.Confirm("h", "alice", "b1", "p1", "k", at); return res{b, err} },
			retry: func(s *tv.Section) res { b, err := s.Confirm("h", "alice", "b1", "p1", "k", at); return res{b, err} },
			check: sameBookingReplayed,
		},
		{
			name:  "a confirm retried with another booking id returns the first booking",
			first: func(s *tv.Section) res { b, err := s.Confirm("h", "alice", "b1", "p1", "k", at); return res{b, err} },
			retry: func(s *tv.Section) res { b, err := s.Confirm("h", "alice", "b2", "p2", "k", at); return res{b, err} },
			check: sameBookingReplayed,
		},
		{
			name:    "a confirm retried after the booking was cancelled returns the booking as it is now",
			first:   func(s *tv.Section) res { b, err := s.Confirm("h", "alice", "b1", "p1", "k", at); return res{b, err} },
			between: func(t *testing.T, s *tv.Section) { _, err := s.Cancel("b1", "alice", "", at); wantErr(t, err, "") },
			retry:   func(s *tv.Section) res { b, err := s.Confirm("h", "alice", "b1", "p1", "k", at); return res{b, err} },
			check: func(t *testing.T, first, retry res) {
				if b := retry.v.(tv.Booking); b.ID != "b1" || !b.Replayed || b.Status != tv.BookingCancelled {
					t.Errorf("retry %+v", b)
				}
			},
		},
		{
			name:  "a retried cancel returns the first result",
			first: func(s *tv.Section) res { b, err := s.Cancel("bb", "bob", "k", at); return res{b, err} },
			retry: func(s *tv.Section) res { b, err := s.Cancel("bb", "bob", "k", at.Add(time.Minute)); return res{b, err} },
			check: sameBookingReplayed,
		},
		{
			name:  "a retried organizer cancel returns the first result",
			first: func(s *tv.Section) res { b, err := s.Cancel("bb", "", "k", at); return res{b, err} },
			retry: func(s *tv.Section) res { b, err := s.Cancel("bb", "", "k", at.Add(time.Minute)); return res{b, err} },
			check: sameBookingReplayed,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := idemFixture(t)
			first := tc.first(s)
			if first.err != nil {
				t.Fatalf("first: %v", first.err)
			}
			if tc.between != nil {
				tc.between(t, s)
			}
			s.TakeEvents()
			seq := s.Seq()
			before := s.Availability(true)
			retry := tc.retry(s)
			if retry.err != nil {
				t.Fatalf("retry: %v", retry.err)
			}
			unchanged(t, s, seq)
			if fmt.Sprint(s.Availability(true)) != fmt.Sprint(before) {
				t.Error("the retry changed availability")
			}
			if tc.check != nil {
				tc.check(t, first, retry)
			}
			checkInv(t, s)
		})
	}
}

type res struct {
	v   any
	err error
}

func sameHoldReplayed(t *testing.T, first, retry res) {
	t.Helper()
	a, b := first.v.(tv.Hold), retry.v.(tv.Hold)
	if a.Replayed || !b.Replayed {
		t.Errorf("Replayed: first %v, retry %v", a.Replayed, b.Replayed)
	}
	b.Replayed = false
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("first %+v\nretry %+v", a, b)
	}
}

func sameBookingReplayed(t *testing.T, first, retry res) {
	t.Helper()
	a, b := first.v.(tv.Booking), retry.v.(tv.Booking)
	if a.Replayed || !b.Replayed {
		t.Errorf("Replayed: first %v, retry %v", a.Replayed, b.Replayed)
	}
	b.Replayed = false
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("first %+v\nretry %+v", a, b)
	}
}

// TestIdempotencyKeyReuse: a key names one command of its owner; reusing it for another
// kind of command fails with invalid_input and changes nothing.
func TestIdempotencyKeyReuse(t *testing.T) {
	cmds := map[string]func(s *tv.Section) error{
		"hold": func(s *tv.Section) error {
			_, err := s.Hold(tv.HoldRequest{Token: "t9", Owner: "alice", IdemKey: "k", Seats: []string{"A-9"}}, t0)
			return err
		},
		"extend":  func(s *tv.Section) error { _, err := s.Extend("h", "alice", "k", time.Minute, t0); return err },
		"release": func(s *tv.Section) error { return s.Release("h", "alice", "k", t0) },
		"confirm": func(s *tv.Section) error { _, err := s.Confirm("h", "alice", "b1", "p1", "k", t0); return err },
	}
	order := []string{"hold", "extend", "release", "confirm"}
	for _, first := range order {
		for _, second := range order {
			if first == second {
				continue
			}
			t.Run(fmt.Sprintf("a key used for %s then for %s fails with invalid_input", first, second), func(t *testing.T) {
				s := gridSection(t, 2, 10)
				mustHold(t, s, tv.HoldRequest{Token: "h", Owner: "alice", Seats: []string{"A-5"}}, t0)
				if err := cmds[first](s); err != nil {
					t.Fatal(err)
				}
				if first == "release" || first == "confirm" {
					// give the second command a live hold to act on
					mustHold(t, s, tv.HoldRequest{Token: "h", Owner: "alice", Seats: []string{"A-7"}}, t0)
				}
				s.TakeEvents()
				seq := s.Seq()
				wantErr(t, cmds[second](s), tv.EINVALID)
				unchanged(t, s, seq)
			})
		}
	}
	t.Run("a cancel key used for a hold fails with invalid_input", func(t *testing.T) {
		s := idemFixture(t)
		if _, err := s.Cancel("bb", "bob", "k", t0); err != nil {
			t.Fatal(err)
		}
		s.TakeEvents()
		_, err := s.Hold(tv.HoldRequest{Token: "t", Owner: "bob", IdemKey: "k", Seats: []string{"A-1"}}, t0)
		wantErr(t, err, tv.EINVALID)
		unchanged(t, s, s.Seq())
	})
	t.Run("the same key of different owners names different commands", func(t *testing.T) {
		s := gridSection(t, 2, 10)
		a := mustHold(t, s, tv.HoldRequest{Token: "ta", Owner: "alice", IdemKey: "k", Seats: []string{"A-1"}}, t0)
		b := mustHold(t, s, tv.HoldRequest{Token: "tb", Owner: "bob", IdemKey: "k", Seats: []string{"A-2"}}, t0)
		if a.Replayed || b.Replayed || b.Token != "tb" {
			t.Fatalf("%+v %+v", a, b)
		}
		wantErr(t, s.Release("tb", "bob", "k2", t0), "")
		if _, err := s.Extend("ta", "alice", "k2", time.Minute, t0); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("an organizer's cancel key does not use up the buyer's key", func(t *testing.T) {
		s := idemFixture(t)
		if _, err := s.Cancel("bb", "", "k", t0); err != nil {
			t.Fatal(err)
		}
		h, err := s.Hold(tv.HoldRequest{Token: "t", Owner: "bob", IdemKey: "k", Seats: []string{"A-1"}}, t0)
		wantErr(t, err, "")
		if h.Replayed || h.Token != "t" {
			t.Fatalf("hold %+v", h)
		}
	})
	t.Run("a failed command does not use up its key", func(t *testing.T) {
		s := gridSection(t, 2, 10)
		mustHold(t, s, tv.HoldRequest{Token: "x", Owner: "bob", Seats: []string{"A-1"}}, t0)
		_, err := s.Hold(tv.HoldRequest{Token: "t", Owner: "alice", IdemKey: "k", Seats: []string{"A-1"}}, t0)
		wantErr(t, err, tv.ESEATTAKEN)
		h, err := s.Hold(tv.HoldRequest{Token: "t", Owner: "alice", IdemKey: "k", Seats: []string{"A-2"}}, t0)
		wantErr(t, err, "")
		if h.Replayed || fmt.Sprint(holdLabels(h)) != "[A-2]" {
			t.Fatalf("hold %+v", h)
		}
	})
}

func TestReplayHold(t *testing.T) {
	s := idemFixture(t)
	h, ok := s.ReplayHold("alice", "k-hold")
	if !ok || h.Token != "h" || !h.Replayed || fmt.Sprint(holdLabels(h)) != "[A-5 A-6]" {
		t.Fatalf("ReplayHold = %+v, %v", h, ok)
	}
	if _, ok := s.ReplayHold("bob", "k-hold"); ok {
		t.Fatal("another owner's key replayed")
	}
	if _, ok := s.ReplayHold("alice", "nope"); ok {
		t.Fatal("an unknown key replayed")
	}
	if _, ok := s.ReplayHold("alice", ""); ok {
		t.Fatal("no key replayed")
	}
	if err := s.Release("h", "alice", "k-rel", t0); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.ReplayHold("alice", "k-rel"); ok {
		t.Fatal("a release key replayed as a hold")
	}
	s.TakeEvents()
	seq := s.Seq()
	// After the release the first result is still the answer.
	if h, ok := s.ReplayHold("alice", "k-hold"); !ok || h.Token != "h" || !h.Replayed {
		t.Fatalf("ReplayHold after release = %+v, %v", h, ok)
	}
	unchanged(t, s, seq)
}
