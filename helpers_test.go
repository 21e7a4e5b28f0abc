package ticketview_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	tv "github.com/ticketview/ticketview"
)

// t0 is the tests' clock start.
var t0 = time.Date(2030, 3, 1, 18, 0, 0, 0, time.UTC)

var testCats = []tv.PriceCategory{
	{Code: "VIP", Name: "VIP", Price: 500000},
	{Code: "STD", Name: "Standard", Price: 200000},
	{Code: "DYN", Name: "Dynamic", Price: 2000, Floor: 1000, Ceiling: 4000},
	{Code: "GA", Name: "Floor", Price: 1500},
}

// gridSection is a seated section of rows x perRow seats labelled A-1..; rows 0 and 1 are
// VIP, the rest STD; the first and last seat of every row are accessible.
func gridSection(t testing.TB, rows, perRow int) *tv.Section {
	t.Helper()
	rl := tv.GridRows(rows, perRow, func(r int) string {
		if r < 2 {
			return "VIP"
		}
		return "STD"
	})
	for r := range rl {
		rl[r].Seats[0].Accessible = true
		rl[r].Seats[perRow-1].Accessible = true
	}
	return newSection(t, &tv.SectionLayout{ID: "stalls", Name: "Stalls", Kind: tv.Seated, Rows: rl})
}

// gaSection is a general-admission section selling capacity places of category GA.
func gaSection(t testing.TB, capacity int) *tv.Section {
	t.Helper()
	return newSection(t, &tv.SectionLayout{ID: "floor", Name: "Floor", Kind: tv.GeneralAdmission, Capacity: capacity, Category: "GA"})
}

func newSection(t testing.TB, l *tv.SectionLayout) *tv.Section {
	t.Helper()
	s, err := tv.NewSection(tv.SectionConfig{ID: tv.SectionID{Event: "ev1", Section: l.ID}, Layout: l, Categories: testCats, Currency: "INR"})
	if err != nil {
		t.Fatalf("NewSection: %v", err)
	}
	return s
}

// patternSection builds a seated section from one string per row (row 0 nearest the
// stage). Each character is a seat, except '|', an aisle (seat numbers jump, so the seats
// either side are not adjacent):
//
//	'.' free STD   'x' blocked STD   'a' free accessible STD   'A' blocked accessible STD
//	'v' free VIP   'V' blocked VIP   'd' free DYN              'D' blocked DYN
//
// Seats are labelled "<row letter>-<number>", numbers from 1, so the n-th character
// (ignoring aisles) of row A is "A-n" when the row has no aisle.
func patternSection(t testing.TB, rows ...string) *tv.Section {
	t.Helper()
	var rl []tv.RowLayout
	var blocked []string
	for r, pat := range rows {
		label := string(rune('A' + r))
		row := tv.RowLayout{Label: label}
		num := 0
		for _, c := range pat {
			num++
			if c == '|' {
				continue
			}
			seat := tv.SeatLayout{Label: fmt.Sprintf("%s-%d", label, num), Number: num, Category: "STD", X: float64(num), Y: float64(r)}
			switch c {
			case 'a', 'A':
				seat.Accessible = true
			case 'v', 'V':
				seat.Category = "VIP"
			case 'd', 'D':
				seat.Category = "DYN"
			}
			switch c {
			case 'x', 'A', 'V', 'D':
				blocked = append(blocked, seat.Label)
			}
			row.Seats = append(row.Seats, seat)
		}
		rl = append(rl, row)
	}
	s := newSection(t, &tv.SectionLayout{ID: "pattern", Kind: tv.Seated, Rows: rl})
	if len(blocked) > 0 {
		if err := s.Block(blocked, 0, "pattern", t0); err != nil {
			t.Fatalf("block %v: %v", blocked, err)
		}
	}
	s.TakeEvents()
	return s
}

func labels(s *tv.Section, seats []int32) []string {
	if seats == nil {
		return nil
	}
	out := make([]string, len(seats))
	for i, seat := range seats {
		out[i] = s.SeatLabel(seat)
	}
	return out
}

func holdLabels(h tv.Hold) []string {
	var out []string
	for _, it := range h.Items {
		out = append(out, it.Seat)
	}
	return out
}

// seatStatus returns the status of every seat by label.
func seatStatus(s *tv.Section) map[string]tv.SeatStatus {
	out := map[string]tv.SeatStatus{}
	for _, v := range s.Availability(true).Seats {
		out[v.Label] = v.Status
	}
	return out
}

func wantStatus(t testing.TB, s *tv.Section, want tv.SeatStatus, seats ...string) {
	t.Helper()
	st := seatStatus(s)
	for _, l := range seats {
		if got, ok := st[l]; !ok || got != want {
			t.Errorf("seat %s is %v, want %v", l, got, want)
		}
	}
}

var sentinels = map[string]error{
	tv.EINVALID:     tv.ErrInvalid,
	tv.ENOTFOUND:    tv.ErrNotFound,
	tv.ESEATTAKEN:   tv.ErrSeatTaken,
	tv.ESOLDOUT:     tv.ErrSoldOut,
	tv.EHOLDEXPIRED: tv.ErrHoldExpired,
	tv.ELIMIT:       tv.ErrLimit,
	tv.ECONFLICT:    tv.ErrConflict,
	tv.ENOTONSALE:   tv.ErrNotOnSale,
	tv.EFORBIDDEN:   tv.ErrForbidden,
	tv.EUNAVAILABLE: tv.ErrUnavailable,
}

// wantErr checks err against an error code: "" means success.
func wantErr(t testing.TB, err error, code string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("succeeded, want %s", code)
	}
	if got := tv.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
	if sent, ok := sentinels[code]; ok && !errors.Is(err, sent) {
		t.Fatalf("errors.Is(%v, sentinel %s) is false", err, code)
	}
	for c, sent := range sentinels {
		if c != code && errors.Is(err, sent) {
			t.Fatalf("errors.Is(%v, sentinel %s) is true, want only %s", err, c, code)
		}
	}
}

func checkInv(t testing.TB, s *tv.Section) {
	t.Helper()
	if err := tv.CheckInvariants(s); err != nil {
		t.Fatal(err)
	}
}

// unchanged asserts that a command changed nothing: same sequence, no events.
func unchanged(t testing.TB, s *tv.Section, seq uint64) {
	t.Helper()
	if s.Seq() != seq {
		t.Errorf("seq moved from %d to %d", seq, s.Seq())
	}
	if evs := s.TakeEvents(); len(evs) != 0 {
		t.Errorf("emitted %d events: %+v", len(evs), evs)
	}
}

func mustHold(t testing.TB, s *tv.Section, req tv.HoldRequest, now time.Time) tv.Hold {
	t.Helper()
	h, err := s.Hold(req, now)
	if err != nil {
		t.Fatalf("hold %+v: %v", req, err)
	}
	return h
}

func mustConfirm(t testing.TB, s *tv.Section, token, owner, booking string, now time.Time) tv.Booking {
	t.Helper()
	b, err := s.Confirm(token, owner, booking, "pay-"+booking, "", now)
	if err != nil {
		t.Fatalf("confirm %s: %v", token, err)
	}
	return b
}

// replayInto rebuilds a fresh section from events.
func replayInto(t testing.TB, fresh *tv.Section, evs []tv.SectionEvent) *tv.Section {
	t.Helper()
	for _, e := range evs {
		if err := fresh.Replay(e); err != nil {
			t.Fatalf("replay seq %d: %v", e.Seq, err)
		}
	}
	return fresh
}

func sameAvailability(t testing.TB, what string, a, b *tv.Section) {
	t.Helper()
	if x, y := a.Availability(true), b.Availability(true); !reflect.DeepEqual(x, y) {
		t.Errorf("%s: availability differs:\n%+v\n%+v", what, x, y)
	}
}

func sameStrings(a, b []string) bool { return slices.Equal(a, b) }
