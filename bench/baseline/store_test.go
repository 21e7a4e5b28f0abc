package baseline_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview/bench/baseline"
	"github.com/ticketview/ticketview/bench/load"
)

func TestOpen(t *testing.T) {
	ctx := testCtx(t)
	if _, err := baseline.Open(ctx, "mysql", baseline.Config{PostgresURL: "postgres://x"}); err == nil {
		t.Error("Open of an unknown kind: no error")
	}
	if _, err := baseline.Open(ctx, baseline.KindPostgres, baseline.Config{}); err == nil {
		t.Error("Open without a PostgreSQL URL: no error")
	}
	for _, kind := range baseline.Kinds() {
		d := baseline.Describe(kind)
		if d.Name != kind || d.Design == "" || d.Durability == "" {
			t.Errorf("Describe(%s) = %+v: want its name, design and durability", kind, d)
		}
	}
	if d := baseline.Describe(baseline.KindRedis); !strings.Contains(d.Durability, "PostgreSQL") || !strings.Contains(d.Durability, "Redis memory") {
		t.Errorf("Describe(redis).Durability = %q: want holds in Redis memory, bookings in PostgreSQL", d.Durability)
	}
}

func TestSetup(t *testing.T) {
	forEachKind(t, func(t *testing.T, e env) {
		for name, l := range map[string]load.Layout{
			"no event":        {Sections: testLayout.Sections},
			"no sections":     {Event: "gig"},
			"twice a section": {Event: "gig", Sections: []load.SectionLayout{{ID: "a", GA: true, Capacity: 1}, {ID: "a", GA: true, Capacity: 1}}},
			"empty seated":    {Event: "gig", Sections: []load.SectionLayout{{ID: "a", Rows: 0, PerRow: 5}}},
			"empty GA":        {Event: "gig", Sections: []load.SectionLayout{{ID: "a", GA: true}}},
			"colon in id":     {Event: "gig", Sections: []load.SectionLayout{{ID: "a:b", GA: true, Capacity: 1}}},
		} {
			wantErr(t, name, e.store.Setup(testCtx(t), l), baseline.ErrInvalid)
		}
		// the sale set up before is still there
		if a, _ := read(t, e.store, "floor"); a.Free != 20 {
			t.Fatalf("floor after rejected setups: %+v", a)
		}

		// setting the sale up again frees every place, on a store that has served it
		s, ctx := e.store, testCtx(t)
		h := mustHold(t, s, "alice", "floor", pick("A-1"))
		g := mustHold(t, s, "alice", "pit", ga(5))
		if _, err := s.Confirm(ctx, "alice", "pit", g.Token, "pay"); err != nil {
			t.Fatal(err)
		}
		if err := s.Setup(ctx, testLayout); err != nil {
			t.Fatalf("Setup again: %v", err)
		}
		if a, _ := read(t, s, "floor"); a.Free != 20 {
			t.Fatalf("floor after a new setup: %+v", a)
		}
		if a, _ := read(t, s, "pit"); a.Free != 20 {
			t.Fatalf("pit after a new setup: %+v", a)
		}
		wantErr(t, "release of a hold of the old sale", s.Release(ctx, "alice", "floor", h.Token), baseline.ErrNotFound)
		mustHold(t, s, "bob", "floor", pick("A-1"))
		mustHold(t, s, "bob", "pit", ga(10))
	})
}

func TestPick(t *testing.T) {
	forEachKind(t, func(t *testing.T, e env) {
		s := e.store
		h := mustHold(t, s, "alice", "floor", pick("A-1", "A-2"))
		if got := h.Seats(); !slices.Equal(got, []string{"A-1", "A-2"}) || h.Quantity != 2 {
			t.Fatalf("hold %+v: want A-1, A-2", h)
		}
		_, err := s.Hold(testCtx(t), "bob", "floor", pick("A-3", "A-2"))
		wantErr(t, "bob picks A-3 and the held A-2", err, baseline.ErrConflict)
		_, err = s.Hold(testCtx(t), "alice", "floor", pick("A-1"))
		wantErr(t, "alice picks her own held A-1 again", err, baseline.ErrConflict)
		// the failed pick took nothing: A-3 is free
		wantStatus(t, s, "floor", "free", "A-3")
		wantStatus(t, s, "floor", "held", "A-1", "A-2")
		mustHold(t, s, "bob", "floor", pick("A-3"))
		if a, _ := read(t, s, "floor"); a.Held != 3 || a.Free != 17 || a.Sold != 0 {
			t.Fatalf("floor: %+v, want 3 held", a)
		}
	})
}

func TestHoldRejectsBadRequests(t *testing.T) {
	forEachKind(t, func(t *testing.T, e env) {
		ctx := testCtx(t)
		for name, c := range map[string]struct {
			section string
			req     load.HoldRequest
		}{
			"no way of choosing": {"floor", load.HoldRequest{}},
			"two ways":           {"floor", load.HoldRequest{Seats: []string{"A-1"}, BestAvailable: true, Quantity: 1}},
			"unknown seat":       {"floor", pick("Z-99")},
			"seat twice":         {"floor", pick("A-1", "A-1")},
			"quantity 11":        {"floor", best(11)},
			"quantity 0 best":    {"floor", best(0)},
			"11 seats":           {"floor", pick("A-1", "A-2", "A-3", "A-4", "A-5", "B-1", "B-2", "B-3", "B-4", "B-5", "C-1")},
			"quantity vs seats":  {"floor", load.HoldRequest{Seats: []string{"A-1"}, Quantity: 2}},
			"negative quantity":  {"pit", ga(-1)},
			"GA over 10":         {"pit", ga(11)},
			"GA on seated":       {"floor", ga(2)},
			"best on GA":         {"pit", best(2)},
			"seats on GA":        {"pit", pick("A-1")},
			"ttl over an hour":   {"floor", load.HoldRequest{Seats: []string{"A-1"}, TTLSeconds: 3601}},
			"negative ttl":       {"floor", load.HoldRequest{Seats: []string{"A-1"}, TTLSeconds: -1}},
		} {
			_, err := e.store.Hold(ctx, "alice", c.section, c.req)
			wantErr(t, name, err, baseline.ErrInvalid)
		}
		_, err := e.store.Hold(ctx, "alice", "balcony", best(1))
		wantErr(t, "unknown section", err, baseline.ErrNotFound)
		if a, _ := read(t, e.store, "floor"); a.Free != 20 {
			t.Fatalf("floor after bad requests: %+v, want every seat free", a)
		}
		// the default TTL is 15 minutes; ttl_seconds overrides it
		h := mustHold(t, e.store, "alice", "floor", pick("A-1"))
		if d := time.Until(h.ExpiresAt); d < 14*time.Minute || d > 16*time.Minute {
			t.Errorf("default hold expires in %v, want 15m", d)
		}
		h = mustHold(t, e.store, "alice", "floor", load.HoldRequest{Seats: []string{"A-2"}, TTLSeconds: 3600})
		if d := time.Until(h.ExpiresAt); d < 59*time.Minute || d > 61*time.Minute {
			t.Errorf("ttl_seconds 3600: the hold expires in %v, want 1h", d)
		}
	})
}

func TestBestAvailable(t *testing.T) {
	sl, _ := testLayout.Section("floor")
	forEachKind(t, func(t *testing.T, e env) {
		s := e.store
		// a picked seat in the middle of the front row: best available must skip it
		mustHold(t, s, "bob", "floor", pick("A-3"))
		seen := map[string]bool{"A-3": true}
		for {
			_, st := read(t, s, "floor")
			var free []string
			for l, v := range st {
				if v == "free" {
					free = append(free, l)
				}
			}
			if len(free) < 3 {
				break
			}
			h := mustHold(t, s, "alice", "floor", best(3))
			got := h.Seats()
			if want := byRank(sl, free)[:3]; !slices.Equal(byRank(sl, got), want) {
				t.Fatalf("best available 3 = %v, want the best-ranked free seats %v", got, want)
			}
			for _, l := range got {
				if seen[l] {
					t.Fatalf("seat %s held twice", l)
				}
				seen[l] = true
			}
			wantStatus(t, s, "floor", "held", got...)
		}
		// 19 seats: 6 holds of 3, one seat left. 3 more is a clean loss that takes nothing.
		_, err := s.Hold(testCtx(t), "alice", "floor", best(3))
		wantErr(t, "best available 3 with one seat free", err, baseline.ErrConflict)
		if a, _ := read(t, s, "floor"); a.Free != 1 {
			t.Fatalf("after a sold-out best available: %+v, want the one seat still free", a)
		}
		h := mustHold(t, s, "carol", "floor", best(1))
		if seen[h.Seats()[0]] {
			t.Fatalf("the last seat %v was held already", h.Seats())
		}
		_, err = s.Hold(testCtx(t), "carol", "floor", best(1))
		wantErr(t, "best available on a full section", err, baseline.ErrConflict)
	})
}

func TestGeneralAdmission(t *testing.T) {
	forEachKind(t, func(t *testing.T, e env) {
		s := e.store
		a := mustHold(t, s, "alice", "pit", ga(10))
		if a.Quantity != 10 || len(a.Items) != 1 || a.Items[0].Quantity != 10 || len(a.Seats()) != 0 {
			t.Fatalf("GA hold %+v: want one item of 10", a)
		}
		mustHold(t, s, "bob", "pit", ga(8))
		_, err := s.Hold(testCtx(t), "carol", "pit", ga(3))
		wantErr(t, "3 over the capacity", err, baseline.ErrConflict)
		mustHold(t, s, "carol", "pit", ga(2))
		_, err = s.Hold(testCtx(t), "dave", "pit", ga(1))
		wantErr(t, "a full GA section", err, baseline.ErrConflict)
		if got, _ := read(t, s, "pit"); got.Held != 20 || got.Free != 0 || got.Capacity != 20 {
			t.Fatalf("pit: %+v, want 20 held", got)
		}
		if err := s.Release(testCtx(t), "alice", "pit", a.Token); err != nil {
			t.Fatal(err)
		}
		mustHold(t, s, "dave", "pit", ga(10))
		if got, _ := read(t, s, "pit"); got.Held != 20 {
			t.Fatalf("pit: %+v, want 20 held", got)
		}
	})
}

func TestRelease(t *testing.T) {
	forEachKind(t, func(t *testing.T, e env) {
		s, ctx := e.store, testCtx(t)
		h := mustHold(t, s, "alice", "floor", pick("B-1", "B-2"))
		if err := s.Release(ctx, "alice", "floor", h.Token); err != nil {
			t.Fatalf("Release: %v", err)
		}
		wantStatus(t, s, "floor", "free", "B-1", "B-2")
		mustHold(t, s, "bob", "floor", pick("B-2"))
		if err := s.Release(ctx, "alice", "floor", h.Token); err != nil {
			t.Fatalf("Release of a released hold: %v, want nothing to do", err)
		}
		wantStatus(t, s, "floor", "held", "B-2") // bob's, untouched

		// best available gets a released seat back: fill the box, release one
		all := mustHold(t, s, "alice", "box", best(2))
		_, err := s.Hold(ctx, "bob", "box", best(1))
		wantErr(t, "best available on a full box", err, baseline.ErrConflict)
		if err := s.Release(ctx, "alice", "box", all.Token); err != nil {
			t.Fatal(err)
		}
		got := mustHold(t, s, "bob", "box", best(2))
		if !slices.Equal(byRank(testLayout.Sections[1], got.Seats()), []string{"A-1", "A-2"}) {
			t.Fatalf("best available after the release: %v", got.Seats())
		}
		// a picked seat released is back for best available too
		if err := s.Release(ctx, "bob", "box", got.Token); err != nil {
			t.Fatal(err)
		}
		p := mustHold(t, s, "carol", "box", pick("A-1"))
		mustHold(t, s, "dave", "box", best(1)) // A-2; A-1 is skipped
		if err := s.Release(ctx, "carol", "box", p.Token); err != nil {
			t.Fatal(err)
		}
		if h := mustHold(t, s, "erin", "box", best(1)); h.Seats()[0] != "A-1" {
			t.Fatalf("best available after carol's release: %v, want A-1", h.Seats())
		}
	})
}

func TestConfirm(t *testing.T) {
	forEachKind(t, func(t *testing.T, e env) {
		s, ctx := e.store, testCtx(t)
		h := mustHold(t, s, "alice", "floor", pick("C-1", "C-2"))
		b, err := s.Confirm(ctx, "alice", "floor", h.Token, "pay-1")
		if err != nil {
			t.Fatalf("Confirm: %v", err)
		}
		if b.ID == "" || b.HoldToken != h.Token || b.Section != "floor" || b.Quantity != 2 || b.Status != "confirmed" ||
			len(b.Items) != 2 || !slices.Contains([]string{b.Items[0].Seat, b.Items[1].Seat}, "C-1") {
			t.Fatalf("booking %+v", b)
		}
		wantStatus(t, s, "floor", "sold", "C-1", "C-2")
		if n := bookingRows(t, e.cfg.Schema, h.Token); n != 1 {
			t.Fatalf("%d bookings rows in PostgreSQL for the hold, want 1", n)
		}
		_, err = s.Confirm(ctx, "alice", "floor", h.Token, "pay-2")
		wantErr(t, "second confirm", err, baseline.ErrConflict)
		wantErr(t, "release of a sold hold", s.Release(ctx, "alice", "floor", h.Token), baseline.ErrConflict)
		_, err = s.Hold(ctx, "bob", "floor", pick("C-2"))
		wantErr(t, "pick of a sold seat", err, baseline.ErrConflict)
		if a, _ := read(t, s, "floor"); a.Sold != 2 || a.Held != 0 {
			t.Fatalf("floor: %+v, want 2 sold", a)
		}

		g := mustHold(t, s, "bob", "pit", ga(4))
		if b, err := s.Confirm(ctx, "bob", "pit", g.Token, ""); err != nil || b.Quantity != 4 {
			t.Fatalf("Confirm GA: %+v, %v", b, err)
		}
		if a, _ := read(t, s, "pit"); a.Sold != 4 || a.Held != 0 || a.Free != 16 {
			t.Fatalf("pit: %+v, want 4 sold", a)
		}

		// a released hold cannot be confirmed
		r := mustHold(t, s, "carol", "floor", pick("D-1"))
		if err := s.Release(ctx, "carol", "floor", r.Token); err != nil {
			t.Fatal(err)
		}
		_, err = s.Confirm(ctx, "carol", "floor", r.Token, "pay-3")
		wantErr(t, "confirm of a released hold", err, baseline.ErrConflict)

		// a store opened again (a restarted service) serves the same sale
		again := openStore(t, e.kind, e.cfg)
		wantStatus(t, again, "floor", "sold", "C-1", "C-2")
		if a, _ := read(t, again, "pit"); a.Sold != 4 {
			t.Fatalf("pit read by a reopened store: %+v", a)
		}
		_, err = again.Hold(ctx, "dave", "floor", pick("C-1"))
		wantErr(t, "pick of a sold seat through a reopened store", err, baseline.ErrConflict)
	})
}

func TestNotYours(t *testing.T) {
	forEachKind(t, func(t *testing.T, e env) {
		s, ctx := e.store, testCtx(t)
		h := mustHold(t, s, "alice", "floor", pick("A-1"))
		wantErr(t, "bob releases alice's hold", s.Release(ctx, "bob", "floor", h.Token), baseline.ErrNotFound)
		_, err := s.Confirm(ctx, "bob", "floor", h.Token, "pay")
		wantErr(t, "bob confirms alice's hold", err, baseline.ErrNotFound)
		wantErr(t, "release in another section", s.Release(ctx, "alice", "box", h.Token), baseline.ErrNotFound)
		wantErr(t, "release of an unknown token", s.Release(ctx, "alice", "floor", "no-such-token"), baseline.ErrNotFound)
		_, err = s.Confirm(ctx, "alice", "floor", "no-such-token", "pay")
		wantErr(t, "confirm of an unknown token", err, baseline.ErrNotFound)
		wantStatus(t, s, "floor", "held", "A-1") // still alice's
		if _, err := s.Confirm(ctx, "alice", "floor", h.Token, "pay"); err != nil {
			t.Fatalf("alice confirms her hold: %v", err)
		}
	})
}

func TestExpiry(t *testing.T) {
	forEachKind(t, func(t *testing.T, e env) {
		s, ctx := e.store, testCtx(t)
		short := func(r load.HoldRequest) load.HoldRequest { r.TTLSeconds = 1; return r }
		picked := mustHold(t, s, "alice", "floor", short(pick("A-1", "A-2")))
		box := mustHold(t, s, "alice", "box", short(best(2)))
		pit := mustHold(t, s, "alice", "pit", short(ga(10)))
		pit2 := mustHold(t, s, "alice", "pit", short(ga(10)))
		if d := time.Until(pit.ExpiresAt); d > 2*time.Second {
			t.Fatalf("a 1 s hold expires in %v", d)
		}
		_, err := s.Hold(ctx, "bob", "box", best(1))
		wantErr(t, "best available on the held box", err, baseline.ErrConflict)

		poll(t, "the picked seats are free again", 20*time.Second, func() bool {
			_, st := read(t, s, "floor")
			return st["A-1"] == "free" && st["A-2"] == "free"
		})
		mustHold(t, s, "bob", "floor", pick("A-2", "A-1"))
		poll(t, "the box's seats are free for best available again", 20*time.Second, func() bool {
			_, err := s.Hold(ctx, "bob", "box", best(2))
			return err == nil
		})
		poll(t, "the pit's places are free again", 20*time.Second, func() bool {
			_, err := s.Hold(ctx, "bob", "pit", ga(10))
			return err == nil
		})
		mustHold(t, s, "bob", "pit", ga(10))

		for _, h := range []load.Hold{picked, box, pit, pit2} {
			_, err := s.Confirm(ctx, "alice", h.Section, h.Token, "pay")
			wantErr(t, "confirm of an expired hold in "+h.Section, err, baseline.ErrConflict)
			if err := s.Release(ctx, "alice", h.Section, h.Token); err != nil {
				t.Fatalf("release of an expired hold in %s: %v, want nothing to do", h.Section, err)
			}
		}
		// bob's holds are untouched by alice's expired ones
		wantStatus(t, s, "floor", "held", "A-1", "A-2")
		wantStatus(t, s, "box", "held", "A-1", "A-2")
		if a, _ := read(t, s, "pit"); a.Held != 20 {
			t.Fatalf("pit: %+v, want bob's 20 held", a)
		}
	})
}

func TestOneWinner(t *testing.T) {
	forEachKind(t, func(t *testing.T, e env) {
		const workers = 20
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			won    []load.Hold
			others []error
		)
		start := make(chan struct{})
		for w := range workers {
			wg.Go(func() {
				<-start
				h, err := e.store.Hold(testCtx(t), fmt.Sprintf("buyer-%d", w), "floor", pick("B-2", "B-3"))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won = append(won, h)
				case !isErr(err, baseline.ErrConflict):
					others = append(others, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if len(won) != 1 || len(others) != 0 {
			t.Fatalf("%d winners (want 1), errors other than conflicts: %v", len(won), others)
		}
		wantStatus(t, e.store, "floor", "held", "B-2", "B-3")
		if a, _ := read(t, e.store, "floor"); a.Held != 2 {
			t.Fatalf("floor: %+v, want 2 held", a)
		}
	})
}

// TestSellOut: 32 buyers ask for the best available and for general admission until
// both sections are sold out, confirming about half of their holds.
func TestSellOut(t *testing.T) {
	layout := load.Layout{Event: "rush", Sections: []load.SectionLayout{
		{ID: "stalls", Rows: 10, PerRow: 20}, {ID: "lawn", GA: true, Capacity: 300},
	}}
	forEachKind(t, func(t *testing.T, e env) {
		s := e.store
		if err := s.Setup(testCtx(t), layout); err != nil {
			t.Fatal(err)
		}
		type outcome struct {
			hold load.Hold
			sold bool
		}
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			acked  []outcome
			failed []error
		)
		for w := range 32 {
			wg.Go(func() {
				buyer := fmt.Sprintf("buyer-%d", w)
				rng := rand.New(rand.NewPCG(uint64(w), 7))
				open := map[string]bool{"stalls": true, "lawn": true}
				for len(open) > 0 {
					section := "stalls"
					if !open[section] || open["lawn"] && rng.IntN(2) == 0 {
						section = "lawn"
					}
					n := 1 + rng.IntN(4)
					req := best(n)
					if section == "lawn" {
						req = ga(n)
					}
					h, err := s.Hold(testCtx(t), buyer, section, req)
					if isErr(err, baseline.ErrConflict) && n > 1 {
						req.Quantity = 1
						h, err = s.Hold(testCtx(t), buyer, section, req)
					}
					switch {
					case isErr(err, baseline.ErrConflict):
						delete(open, section)
						continue
					case err != nil:
						mu.Lock()
						failed = append(failed, err)
						mu.Unlock()
						return
					}
					o := outcome{hold: h}
					if rng.IntN(2) == 0 {
						if _, err := s.Confirm(testCtx(t), buyer, section, h.Token, "pay"); err != nil {
							mu.Lock()
							failed = append(failed, fmt.Errorf("confirm: %w", err))
							mu.Unlock()
							return
						}
						o.sold = true
					}
					mu.Lock()
					acked = append(acked, o)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(failed) > 0 {
			t.Fatalf("%d requests failed, e.g. %v", len(failed), failed[0])
		}

		// mop up: what a contended loss left free is free for an uncontended buyer
		for _, c := range []struct {
			section string
			req     load.HoldRequest
		}{{"stalls", best(1)}, {"lawn", ga(1)}} {
			for {
				h, err := s.Hold(testCtx(t), "mop", c.section, c.req)
				if isErr(err, baseline.ErrConflict) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				acked = append(acked, outcome{hold: h})
			}
		}

		owner := map[string]string{}
		want := map[string]string{}
		var gaHeld, gaSold int
		for _, o := range acked {
			for _, l := range o.hold.Seats() {
				if prev, dup := owner[l]; dup {
					t.Fatalf("seat %s is in two acknowledged holds (%s, %s)", l, prev, o.hold.Token)
				}
				owner[l] = o.hold.Token
				want[l] = map[bool]string{false: "held", true: "sold"}[o.sold]
			}
			if o.hold.Section == "lawn" {
				if o.sold {
					gaSold += o.hold.Quantity
				} else {
					gaHeld += o.hold.Quantity
				}
			}
		}
		if gaHeld+gaSold != 300 {
			t.Fatalf("lawn: %d held + %d sold acknowledged, want the 300 places", gaHeld, gaSold)
		}
		if len(want) != 200 {
			t.Fatalf("stalls: %d seats in acknowledged holds, want the 200", len(want))
		}
		a, st := read(t, s, "stalls")
		for l, w := range want {
			if st[l] != w {
				t.Fatalf("seat %s reads %q, want %q (acknowledged)", l, st[l], w)
			}
		}
		if a.Free != 0 {
			t.Fatalf("stalls: %+v, want sold out", a)
		}
		if a, _ := read(t, s, "lawn"); a.Held != gaHeld || a.Sold != gaSold || a.Free != 0 {
			t.Fatalf("lawn: %+v, want %d held and %d sold", a, gaHeld, gaSold)
		}
	})
}

func isErr(err, target error) bool { return err != nil && errors.Is(err, target) }
