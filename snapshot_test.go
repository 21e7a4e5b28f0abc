package ticketview_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	tv "github.com/ticketview/ticketview"
)

// step is a command with a canonical description of its outcome, so that two sections
// can be driven alike and their answers compared.
type step func(s *tv.Section) string

func outcome(v any, err error) string {
	if err != nil {
		return "error " + tv.ErrorCode(err)
	}
	return fmt.Sprintf("%+v", v)
}

func holdStep(at time.Duration, req tv.HoldRequest) step {
	return func(s *tv.Section) string { return outcome(s.Hold(req, t0.Add(at))) }
}
func extendStep(at time.Duration, token, owner, key string, by time.Duration) step {
	return func(s *tv.Section) string { return outcome(s.Extend(token, owner, key, by, t0.Add(at))) }
}
func releaseStep(at time.Duration, token, owner, key string) step {
	return func(s *tv.Section) string { return outcome(nil, s.Release(token, owner, key, t0.Add(at))) }
}
func confirmStep(at time.Duration, token, owner, id, key string) step {
	return func(s *tv.Section) string { return outcome(s.Confirm(token, owner, id, "pay-"+id, key, t0.Add(at))) }
}
func cancelStep(at time.Duration, id, owner, key string) step {
	return func(s *tv.Section) string { return outcome(s.Cancel(id, owner, key, t0.Add(at))) }
}
func blockStep(at time.Duration, seats []string, qty int) step {
	return func(s *tv.Section) string { return outcome(nil, s.Block(seats, qty, "r", t0.Add(at))) }
}
func unblockStep(at time.Duration, seats []string, qty int) step {
	return func(s *tv.Section) string { return outcome(nil, s.Unblock(seats, qty, t0.Add(at))) }
}

// seatedHistory is a busy morning of a 5x10 grid: holds with and without keys, an
// extension, releases, expiries, sales, cancellations by buyer and organizer, blocks.
var seatedHistory = []step{
	holdStep(0, tv.HoldRequest{Token: "h1", Owner: "al", IdemKey: "k1", Seats: []string{"A-1", "A-2"}}),
	holdStep(0, tv.HoldRequest{Token: "h2", Owner: "bo", BestAvailable: true, Quantity: 4}),
	holdStep(time.Minute, tv.HoldRequest{Token: "h3", Owner: "cy", BestAvailable: true, Quantity: 2, Category: "STD", TTL: time.Minute}),
	holdStep(time.Minute, tv.HoldRequest{Token: "h4", Owner: "al", BestAvailable: true, Quantity: 1, Accessible: true, TTL: 30 * time.Minute}),
	extendStep(2*time.Minute, "h4", "al", "k2", 30*time.Minute),
	confirmStep(3*time.Minute, "h1", "al", "b1", "k3"),
	confirmStep(3*time.Minute, "h2", "bo", "b2", ""),
	holdStep(4*time.Minute, tv.HoldRequest{Token: "h5", Owner: "dee", Seats: []string{"E-1", "E-2", "E-3"}}),
	releaseStep(5*time.Minute, "h5", "dee", "k4"),
	cancelStep(6*time.Minute, "b2", "bo", "k5"),
	blockStep(6*time.Minute, []string{"E-10", "E-9"}, 0),
	holdStep(7*time.Minute, tv.HoldRequest{Token: "h6", Owner: "eve", Seats: []string{"B-1", "B-2"}, TTL: 20 * time.Minute}),
	confirmStep(8*time.Minute, "h6", "eve", "b6", ""),
	cancelStep(9*time.Minute, "b6", "", "admin-k"),
	holdStep(9*time.Minute, tv.HoldRequest{Token: "h7", Owner: "fay", BestAvailable: true, Quantity: 3, TTL: 15 * time.Minute}),
	unblockStep(10*time.Minute, []string{"E-9"}, 0),
}

// seatedFuture is what happens next: retries of keys from before, repeats of ended
// commands, expiries of holds from before, and new work.
var seatedFuture = []step{
	holdStep(11*time.Minute, tv.HoldRequest{Token: "h1", Owner: "al", IdemKey: "k1", Seats: []string{"A-1", "A-2"}}),
	extendStep(11*time.Minute, "h4", "al", "k2", 30*time.Minute),
	confirmStep(11*time.Minute, "h1", "al", "b1", "k3"),
	confirmStep(11*time.Minute, "h1", "al", "b1-again", ""),
	releaseStep(11*time.Minute, "h5", "dee", "k4"),
	releaseStep(11*time.Minute, "h5", "dee", ""),
	cancelStep(11*time.Minute, "b2", "bo", "k5"),
	cancelStep(11*time.Minute, "b6", "", "admin-k"),
	holdStep(11*time.Minute, tv.HoldRequest{Token: "x", Owner: "al", IdemKey: "k3", Seats: []string{"D-1"}}),
	confirmStep(12*time.Minute, "h3", "cy", "b3", ""),
	holdStep(12*time.Minute, tv.HoldRequest{Token: "h8", Owner: "gus", BestAvailable: true, Quantity: 6}),
	holdStep(12*time.Minute, tv.HoldRequest{Token: "h9", Owner: "al", Seats: []string{"C-5"}, Limit: 3}),
	holdStep(12*time.Minute, tv.HoldRequest{Token: "h9", Owner: "al", Seats: []string{"C-5"}, Limit: 4}),
	confirmStep(25*time.Minute, "h7", "fay", "b7", ""),
	extendStep(30*time.Minute, "h4", "al", "", 30*time.Minute),
	blockStep(30*time.Minute, []string{"A-1"}, 0),
	blockStep(30*time.Minute, []string{"C-1", "C-2"}, 0),
	holdStep(31*time.Minute, tv.HoldRequest{Token: "h10", Owner: "hal", BestAvailable: true, Quantity: 4, AllowSplit: true}),
	cancelStep(32*time.Minute, "b1", "al", ""),
	holdStep(33*time.Minute, tv.HoldRequest{Token: "h11", Owner: "hal", Seats: []string{"A-1"}}),
	holdStep(3*time.Hour, tv.HoldRequest{Token: "h12", Owner: "ivy", BestAvailable: true, Quantity: 10}),
}

var gaHistory = []step{
	holdStep(0, tv.HoldRequest{Token: "g1", Owner: "al", IdemKey: "k1", Quantity: 3}),
	holdStep(0, tv.HoldRequest{Token: "g2", Owner: "bo", Quantity: 4, TTL: time.Minute}),
	holdStep(0, tv.HoldRequest{Token: "g3", Owner: "cy", Quantity: 2}),
	confirmStep(time.Minute, "g1", "al", "b1", "k2"),
	blockStep(2*time.Minute, nil, 3),
	releaseStep(2*time.Minute, "g3", "cy", ""),
	holdStep(3*time.Minute, tv.HoldRequest{Token: "g4", Owner: "dee", Quantity: 5}),
	confirmStep(3*time.Minute, "g4", "dee", "b4", ""),
	cancelStep(4*time.Minute, "b4", "dee", "k3"),
	holdStep(5*time.Minute, tv.HoldRequest{Token: "g5", Owner: "eve", Quantity: 6, TTL: 20 * time.Minute}),
}

var gaFuture = []step{
	holdStep(6*time.Minute, tv.HoldRequest{Token: "g1", Owner: "al", IdemKey: "k1", Quantity: 3}),
	confirmStep(6*time.Minute, "g1", "al", "b1", "k2"),
	cancelStep(6*time.Minute, "b4", "dee", "k3"),
	holdStep(6*time.Minute, tv.HoldRequest{Token: "g6", Owner: "fay", Quantity: 9}),
	holdStep(6*time.Minute, tv.HoldRequest{Token: "g6", Owner: "fay", Quantity: 8}),
	unblockStep(7*time.Minute, nil, 4),
	unblockStep(7*time.Minute, nil, 3),
	holdStep(30*time.Minute, tv.HoldRequest{Token: "g7", Owner: "gus", Quantity: 20}),
	confirmStep(30*time.Minute, "g5", "eve", "b5", ""),
}

func runSteps(s *tv.Section, steps []step) []string {
	out := make([]string, len(steps))
	for i, st := range steps {
		out[i] = st(s)
	}
	return out
}

// twin builds a copy of s: by restoring its snapshot, or by replaying its events.
type twinFunc func(t *testing.T, s *tv.Section, events []tv.SectionEvent, fresh func() *tv.Section) *tv.Section

var twins = map[string]twinFunc{
	"Snapshot then Restore": func(t *testing.T, s *tv.Section, _ []tv.SectionEvent, fresh func() *tv.Section) *tv.Section {
		r := fresh()
		if err := r.Restore(s.Snapshot(t0.Add(10 * time.Minute))); err != nil {
			t.Fatal(err)
		}
		return r
	},
	"Snapshot through JSON then Restore": func(t *testing.T, s *tv.Section, _ []tv.SectionEvent, fresh func() *tv.Section) *tv.Section {
		data, err := json.Marshal(s.Snapshot(t0.Add(10 * time.Minute)))
		if err != nil {
			t.Fatal(err)
		}
		var snap tv.SectionSnapshot
		if err := json.Unmarshal(data, &snap); err != nil {
			t.Fatal(err)
		}
		r := fresh()
		if err := r.Restore(&snap); err != nil {
			t.Fatal(err)
		}
		return r
	},
	"Replay of TakeEvents": func(t *testing.T, _ *tv.Section, evs []tv.SectionEvent, fresh func() *tv.Section) *tv.Section {
		return replayInto(t, fresh(), evs)
	},
	"Replay of the encoded journal": func(t *testing.T, _ *tv.Section, evs []tv.SectionEvent, fresh func() *tv.Section) *tv.Section {
		var decoded []tv.SectionEvent
		for i := 0; i < len(evs); i += 3 { // several records, as group commits write them
			d, err := tv.UnmarshalEvents(tv.MarshalEvents(nil, evs[i:min(i+3, len(evs))]))
			if err != nil {
				t.Fatal(err)
			}
			decoded = append(decoded, d...)
		}
		return replayInto(t, fresh(), decoded)
	},
	"Restore of an early snapshot, then Replay of the rest": nil, // built in the test
}

// TestRecoveryReproducesTheSection is the crash-recovery guarantee: a section rebuilt from
// a snapshot, or by replaying its journal, equals the original, and answers every later
// command exactly as the original does.
func TestRecoveryReproducesTheSection(t *testing.T) {
	kinds := []struct {
		name            string
		fresh           func(t *testing.T) *tv.Section
		history, future []step
	}{
		{"seated", func(t *testing.T) *tv.Section { return gridSection(t, 5, 10) }, seatedHistory, seatedFuture},
		{"GA", func(t *testing.T) *tv.Section { return gaSection(t, 20) }, gaHistory, gaFuture},
	}
	for _, k := range kinds {
		for name, twin := range twins {
			t.Run(k.name+": "+name+" gives an equal section that behaves the same", func(t *testing.T) {
				fresh := func() *tv.Section { return k.fresh(t) }
				s := fresh()
				var evs []tv.SectionEvent
				var early *tv.SectionSnapshot
				for i, st := range k.history {
					st(s)
					if i == len(k.history)/2 {
						early = s.Snapshot(t0.Add(5 * time.Minute))
					}
					evs = append(evs, s.TakeEvents()...)
					checkInv(t, s)
				}
				var r *tv.Section
				if twin == nil {
					r = fresh()
					if err := r.Restore(early); err != nil {
						t.Fatal(err)
					}
					replayInto(t, r, evs) // events up to the snapshot are skipped
				} else {
					r = twin(t, s, evs, fresh)
				}
				checkInv(t, r)
				sameAvailability(t, "after recovery", s, r)
				if d := tv.StateDiff(s, r, true); d != "" {
					t.Fatalf("state differs: %s", d)
				}
				if a, b := tv.LiveHoldTokens(s), tv.LiveHoldTokens(r); !sameStrings(a, b) {
					t.Fatalf("live holds %v vs %v", a, b)
				}
				for _, tok := range tv.LiveHoldTokens(s) {
					for _, o := range []string{"al", "bo", "cy", "dee", "eve", "fay"} {
						if a, b := outcome(s.FindHold(tok, o)), outcome(r.FindHold(tok, o)); a != b {
							t.Errorf("FindHold(%s, %s): %s vs %s", tok, o, a, b)
						}
					}
				}
				for _, id := range []string{"b1", "b2", "b3", "b4", "b6", "b7", "nope"} {
					if a, b := outcome(s.FindBooking(id, "")), outcome(r.FindBooking(id, "")); a != b {
						t.Errorf("FindBooking(%s): %s vs %s", id, a, b)
					}
				}
				if a, b := fmt.Sprint(s.OwnerCounts()), fmt.Sprint(r.OwnerCounts()); a != b {
					t.Errorf("owner counts %s vs %s", a, b)
				}
				na, oka := s.NextExpiry()
				nb, okb := r.NextExpiry()
				if oka != okb || !na.Equal(nb) {
					t.Errorf("NextExpiry %v %v vs %v %v", na, oka, nb, okb)
				}
				s.TakeEvents()
				a, b := runSteps(s, k.future), runSteps(r, k.future)
				for i := range a {
					if a[i] != b[i] {
						t.Errorf("future step %d:\noriginal %s\nrecovered %s", i, a[i], b[i])
					}
				}
				checkInv(t, s)
				checkInv(t, r)
				sameAvailability(t, "after the same future", s, r)
				if d := tv.StateDiff(s, r, true); d != "" {
					t.Fatalf("state differs after the same future: %s", d)
				}
			})
		}
	}
}

func TestReplaySkipsOldEventsAndRefusesGaps(t *testing.T) {
	s := gridSection(t, 2, 10)
	runSteps(s, seatedHistory[:4])
	evs := s.TakeEvents()
	r := gridSection(t, 2, 10)
	if err := r.Replay(evs[1]); tv.ErrorCode(err) != tv.EINTERNAL {
		t.Fatalf("a gap: %v", err)
	}
	if r.Seq() != 0 {
		t.Fatalf("seq %d after a refused event", r.Seq())
	}
	replayInto(t, r, evs)
	replayInto(t, r, evs) // all at or below the sequence: skipped
	if r.Seq() != s.Seq() {
		t.Fatalf("seq %d, want %d", r.Seq(), s.Seq())
	}
	if evs := r.TakeEvents(); len(evs) != 0 {
		t.Fatalf("replay emitted %d events", len(evs))
	}
	if d := tv.StateDiff(s, r, true); d != "" {
		t.Fatal(d)
	}
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	good := func() *tv.SectionSnapshot {
		s := gridSection(t, 2, 10)
		runSteps(s, seatedHistory[:4])
		return s.Snapshot(t0)
	}
	cases := []struct {
		name    string
		used    bool
		breakIt func(*tv.SectionSnapshot)
	}{
		{name: "restoring into a used section fails", used: true, breakIt: func(*tv.SectionSnapshot) {}},
		{name: "a snapshot with another seat count fails", breakIt: func(s *tv.SectionSnapshot) { s.Status = s.Status[1:] }},
		{name: "a snapshot with an unknown seat status fails", breakIt: func(s *tv.SectionSnapshot) { s.Status[3] = 9 }},
		{name: "a snapshot with a hold on a free seat fails", breakIt: func(s *tv.SectionSnapshot) { s.Holds[0].Seats = []int32{19} }},
		{name: "a snapshot with a hold on a seat out of range fails", breakIt: func(s *tv.SectionSnapshot) { s.Holds[0].Seats = []int32{20} }},
		{name: "a snapshot with a hold on a negative seat fails", breakIt: func(s *tv.SectionSnapshot) { s.Holds[0].Seats = []int32{-1} }},
		{name: "a snapshot with a sale of a seat out of range fails", breakIt: func(s *tv.SectionSnapshot) {
			s.Sales = append(s.Sales, tv.SnapshotSale{ID: "x", Owner: "o", Seats: []int32{-3}, Prices: []int64{1}, At: t0})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snap := good()
			tc.breakIt(snap)
			r := gridSection(t, 2, 10)
			if tc.used {
				mustHold(t, r, tv.HoldRequest{Token: "t", Owner: "o", Seats: []string{"B-1"}}, t0)
			}
			wantErr(t, r.Restore(snap), tv.EINTERNAL)
		})
	}
}

// TestSnapshotForgetsOldKeys: keys and ended-hold records older than IdempotencyKeyTTL are
// dropped by Snapshot (which the restored section then equals); younger ones are kept.
func TestSnapshotForgetsOldKeys(t *testing.T) {
	s := gridSection(t, 2, 10)
	mustHold(t, s, tv.HoldRequest{Token: "old", Owner: "al", IdemKey: "k-old", Seats: []string{"A-1"}}, t0)
	wantErr(t, s.Release("old", "al", "", t0), "")
	later := t0.Add(tv.IdempotencyKeyTTL)
	mustHold(t, s, tv.HoldRequest{Token: "new", Owner: "al", IdemKey: "k-new", Seats: []string{"A-2"}}, later)
	if tv.IdemCount(s) != 2 || tv.TombCount(s) != 1 {
		t.Fatalf("idem %d tombs %d", tv.IdemCount(s), tv.TombCount(s))
	}
	snap := s.Snapshot(later.Add(time.Nanosecond))
	if len(snap.Idem) != 1 || len(snap.Tombs) != 0 || tv.IdemCount(s) != 1 || tv.TombCount(s) != 0 {
		t.Fatalf("snapshot keeps %d keys and %d tombs; section %d, %d", len(snap.Idem), len(snap.Tombs), tv.IdemCount(s), tv.TombCount(s))
	}
	r := gridSection(t, 2, 10)
	if err := r.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if d := tv.StateDiff(s, r, true); d != "" {
		t.Fatal(d)
	}
	// The old key is free again; the new one still answers with the first result.
	h, err := r.Hold(tv.HoldRequest{Token: "again", Owner: "al", IdemKey: "k-old", Seats: []string{"A-1"}}, later)
	if err != nil || h.Replayed {
		t.Fatalf("old key: %+v %v", h, err)
	}
	h, err = r.Hold(tv.HoldRequest{Token: "other", Owner: "al", IdemKey: "k-new", Seats: []string{"A-3"}}, later)
	if err != nil || !h.Replayed || h.Token != "new" {
		t.Fatalf("new key: %+v %v", h, err)
	}
}

// TestReplayRefusesEventsThatDoNotFit: a journal that does not belong to the section (or
// is damaged) is refused with an internal error, never applied half-way or panicking.
func TestReplayRefusesEventsThatDoNotFit(t *testing.T) {
	at := t0
	placed := func(seats ...int32) tv.SectionEvent {
		return tv.SectionEvent{Type: tv.EvHoldPlaced, At: at, Token: "t", Owner: "o", Seats: seats,
			Prices: make([]int64, len(seats)), Quantity: int32(len(seats)), ExpiresAt: at.Add(time.Minute)}
	}
	cases := []struct {
		name string
		ga   bool
		evs  []tv.SectionEvent
	}{
		{name: "an extension of an unknown hold is refused", evs: []tv.SectionEvent{{Type: tv.EvHoldExtended, Token: "x", ExpiresAt: at}}},
		{name: "a release of an unknown hold is refused", evs: []tv.SectionEvent{{Type: tv.EvHoldReleased, Token: "x"}}},
		{name: "an expiry of an unknown hold is refused", evs: []tv.SectionEvent{{Type: tv.EvHoldExpired, Token: "x"}}},
		{name: "a confirmation of an unknown hold is refused", evs: []tv.SectionEvent{{Type: tv.EvHoldConfirmed, Token: "x", BookingID: "b"}}},
		{name: "a confirmation under a used booking id is refused", evs: []tv.SectionEvent{placed(1), {Type: tv.EvHoldConfirmed, Token: "t", BookingID: "b"},
			func() tv.SectionEvent { e := placed(2); e.Token = "u"; return e }(), {Type: tv.EvHoldConfirmed, Token: "u", BookingID: "b"}}},
		{name: "a cancellation of an unknown sale is refused", evs: []tv.SectionEvent{{Type: tv.EvSaleCancelled, BookingID: "b"}}},
		{name: "a second cancellation of a sale is refused", evs: []tv.SectionEvent{placed(1), {Type: tv.EvHoldConfirmed, Token: "t", BookingID: "b"},
			{Type: tv.EvSaleCancelled, BookingID: "b", At: at}, {Type: tv.EvSaleCancelled, BookingID: "b", At: at}}},
		{name: "a cancellation without a time is refused", evs: []tv.SectionEvent{placed(1), {Type: tv.EvHoldConfirmed, Token: "t", BookingID: "b"},
			{Type: tv.EvSaleCancelled, BookingID: "b"}}},
		{name: "a hold of a seat out of range is refused", evs: []tv.SectionEvent{placed(20)}},
		{name: "a hold of a negative seat is refused", evs: []tv.SectionEvent{placed(-1)}},
		{name: "a hold of a held seat is refused", evs: []tv.SectionEvent{placed(1), func() tv.SectionEvent { e := placed(1); e.Token = "u"; return e }()}},
		{name: "a hold naming a seat twice is refused", evs: []tv.SectionEvent{placed(3, 3)}},
		{name: "a hold under a live token is refused", evs: []tv.SectionEvent{placed(1), placed(2)}},
		{name: "a hold without a price per seat is refused", evs: []tv.SectionEvent{{Type: tv.EvHoldPlaced, Token: "t", Owner: "o", Seats: []int32{1}, Quantity: 1, At: at, ExpiresAt: at}}},
		{name: "a hold of no seats is refused", evs: []tv.SectionEvent{placed()}},
		{name: "a block of a held seat is refused", evs: []tv.SectionEvent{placed(1), {Type: tv.EvSeatsBlocked, Seats: []int32{1}, Quantity: 1}}},
		{name: "an unblock of a free seat is refused", evs: []tv.SectionEvent{{Type: tv.EvSeatsUnblocked, Seats: []int32{4}, Quantity: 1}}},
		{name: "an event of an unknown type is refused", evs: []tv.SectionEvent{{Type: 99}}},
		{name: "a GA hold over capacity is refused", ga: true, evs: []tv.SectionEvent{{Type: tv.EvHoldPlaced, Token: "t", Owner: "o", Quantity: 21, Prices: []int64{1}, At: at, ExpiresAt: at}}},
		{name: "a GA hold of seats is refused", ga: true, evs: []tv.SectionEvent{placed(1)}},
		{name: "a GA block over capacity is refused", ga: true, evs: []tv.SectionEvent{{Type: tv.EvSeatsBlocked, Quantity: 21}}},
		{name: "a GA unblock of more than blocked is refused", ga: true, evs: []tv.SectionEvent{{Type: tv.EvSeatsBlocked, Quantity: 2}, {Type: tv.EvSeatsUnblocked, Quantity: 3}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := gridSection(t, 2, 10)
			if tc.ga {
				s = gaSection(t, 20)
			}
			var err error
			for i, e := range tc.evs {
				e.Seq = uint64(i + 1)
				if err = s.Replay(e); err != nil {
					if i != len(tc.evs)-1 {
						t.Fatalf("event %d refused: %v", i, err)
					}
					break
				}
			}
			wantErr(t, err, tv.EINTERNAL)
			if s.Seq() != uint64(len(tc.evs)-1) {
				t.Errorf("seq %d after a refused event", s.Seq())
			}
			checkInv(t, s)
		})
	}
}
