package ticketview_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	tv "github.com/ticketview/ticketview"
)

// sameEvents compares events field by field: times by instant, nil and empty slices alike.
func sameEvents(a, b []tv.SectionEvent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Seq != y.Seq || x.Type != y.Type || !x.At.Equal(y.At) || x.Token != y.Token || x.Owner != y.Owner ||
			!slices.Equal(x.Seats, y.Seats) || !slices.Equal(x.Prices, y.Prices) || x.Quantity != y.Quantity ||
			!x.ExpiresAt.Equal(y.ExpiresAt) || x.BookingID != y.BookingID || x.Reference != y.Reference || x.IdemKey != y.IdemKey {
			return false
		}
	}
	return true
}

func TestMarshalEventsRoundTrip(t *testing.T) {
	full := tv.SectionEvent{Seq: 7, Type: tv.EvHoldPlaced, At: t0.Add(123456789), Token: "tok-é", Owner: "owner",
		Seats: []int32{0, 5, 4999, math.MaxInt32}, Prices: []int64{0, -1, 2000, math.MaxInt64, math.MinInt64}, Quantity: 4,
		ExpiresAt: t0.Add(10 * time.Minute), BookingID: "b", Reference: "ref", IdemKey: "key"}
	local := time.Date(2031, 1, 2, 3, 4, 5, 6, time.FixedZone("IST", 5*3600+1800))
	cases := []struct {
		name string
		evs  []tv.SectionEvent
	}{
		{"no events round-trip to none", nil},
		{"an event with every field round-trips", []tv.SectionEvent{full}},
		{"zero times round-trip as zero times", []tv.SectionEvent{{Seq: 1, Type: tv.EvSeatsBlocked}}},
		{"empty slices round-trip as empty", []tv.SectionEvent{{Seq: 1, Type: tv.EvHoldReleased, At: t0, Seats: []int32{}, Prices: []int64{}}}},
		{"a time in another zone round-trips to the same instant", []tv.SectionEvent{{Seq: 1, Type: tv.EvHoldExtended, At: local, ExpiresAt: local.Add(time.Hour)}}},
		{"a GA event with a negative quantity round-trips", []tv.SectionEvent{{Seq: math.MaxUint64, Type: tv.EvSeatsUnblocked, Quantity: math.MinInt32}}},
		{"a long string round-trips", []tv.SectionEvent{{Seq: 1, Type: 200, Reference: string(bytes.Repeat([]byte("x"), 70000))}}},
		{"several events round-trip in order", []tv.SectionEvent{full, {Seq: 8, Type: tv.EvHoldConfirmed, At: t0, Token: "tok-é", BookingID: "b1"}, {Seq: 9, Type: tv.EvSaleCancelled}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("prefix")
			buf := tv.MarshalEvents(slices.Clone(prefix), tc.evs)
			if !bytes.HasPrefix(buf, prefix) {
				t.Fatal("MarshalEvents did not append")
			}
			got, err := tv.UnmarshalEvents(buf[len(prefix):])
			if err != nil {
				t.Fatal(err)
			}
			if !sameEvents(got, tc.evs) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tc.evs)
			}
		})
	}
}

// TestUnmarshalEventsRejectsDamage: every truncation, trailing garbage and random damage
// is rejected or decoded without a panic.
func TestUnmarshalEventsRejectsDamage(t *testing.T) {
	s := gridSection(t, 3, 10)
	mustHold(t, s, tv.HoldRequest{Token: "t1", Owner: "al", IdemKey: "k", Seats: []string{"A-1", "A-2"}}, t0)
	mustHold(t, s, tv.HoldRequest{Token: "t2", Owner: "bo", BestAvailable: true, Quantity: 3}, t0)
	mustConfirm(t, s, "t1", "al", "b1", t0)
	wantErr(t, s.Block([]string{"C-1"}, 0, "why", t0), "")
	s.ExpireDue(t0.Add(time.Hour))
	evs := s.TakeEvents()
	buf := tv.MarshalEvents(nil, evs)
	if got, err := tv.UnmarshalEvents(buf); err != nil || !sameEvents(got, evs) {
		t.Fatalf("round trip failed: %v", err)
	}
	for n := 0; n < len(buf); n++ {
		if _, err := tv.UnmarshalEvents(buf[:n]); err == nil {
			t.Fatalf("truncation to %d of %d bytes decoded", n, len(buf))
		} else if tv.ErrorCode(err) != tv.EINTERNAL {
			t.Fatalf("truncation: code %q", tv.ErrorCode(err))
		}
	}
	if _, err := tv.UnmarshalEvents(append(slices.Clone(buf), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	for _, bad := range [][]byte{
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // varint overflow
		{0xff, 0xff, 0xff, 0x7f},            // a huge count
		{0x01, 0x01, 0x01, 0x00, 0x00},      // one event, cut short
		{0x01, 0x01, 0x01, 0x00, 0x7f, 'a'}, // a string longer than the input
	} {
		if _, err := tv.UnmarshalEvents(bad); err == nil {
			t.Errorf("%x decoded", bad)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 20000; i++ {
		b := slices.Clone(buf)
		for k := 0; k <= rng.IntN(4); k++ {
			b[rng.IntN(len(b))] = byte(rng.Uint32())
		}
		if got, err := tv.UnmarshalEvents(b); err == nil {
			// whatever decodes must encode and decode to itself
			again, err := tv.UnmarshalEvents(tv.MarshalEvents(nil, got))
			if err != nil || !sameEvents(again, got) {
				t.Fatalf("re-encoding a decoded record failed: %v", err)
			}
		}
	}
}

// FuzzUnmarshalEvents: decoding never panics, and what decodes re-encodes to itself.
func FuzzUnmarshalEvents(f *testing.F) {
	f.Add(tv.MarshalEvents(nil, []tv.SectionEvent{{Seq: 1, Type: tv.EvHoldPlaced, At: t0, Token: "t", Owner: "o",
		Seats: []int32{1, 2}, Prices: []int64{100, 100}, Quantity: 2, ExpiresAt: t0.Add(time.Minute), IdemKey: "k"}}))
	f.Add([]byte{0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := tv.UnmarshalEvents(b)
		if err != nil {
			return
		}
		again, err := tv.UnmarshalEvents(tv.MarshalEvents(nil, got))
		if err != nil || !sameEvents(again, got) {
			t.Fatalf("re-encoding failed: %v", err)
		}
	})
}
