package actors

import (
	"context"
	"errors"
	"fmt"
	"github.com/ticketview/ticketview/internal/testutil"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/inmem"
	"github.com/ticketview/ticketview/internal/testutil/pgtest"
	"github.com/ticketview/ticketview/persistence/journalfile"
	"github.com/ticketview/ticketview/persistence/postgres"
	"github.com/ticketview/ticketview/persistence/sqlite"
)

// ---- fixtures ----

const testEvent = "concert"

// testSnapshotEvery is small in tests so that recovery from snapshots is exercised;
// benchmarks use the default.
var testSnapshotEvery = 50

func testVenue(gaCapacity int) *ticketview.Venue {
	return &ticketview.Venue{ID: "hall", Name: "Hall", City: "Pune", Sections: []ticketview.SectionLayout{
		{ID: "stalls", Name: "Stalls", Kind: ticketview.Seated,
			Rows: ticketview.GridRows(10, 10, func(int) string { return "General" })},
		{ID: "circle", Name: "Circle", Kind: ticketview.Seated,
			Rows: ticketview.GridRows(4, 10, func(int) string { return "VIP" })},
		{ID: "floor", Name: "Floor", Kind: ticketview.GeneralAdmission, Capacity: gaCapacity, Category: "General"},
	}}
}

func testEventFor(limit int) *ticketview.Event {
	return &ticketview.Event{ID: testEvent, Name: "Concert", VenueID: "hall", Currency: "INR",
		StartsAt: time.Now().Add(30 * 24 * time.Hour), Status: ticketview.EventOnSale, BuyerLimit: limit,
		Categories: []ticketview.PriceCategory{{Code: "General", Name: "General", Price: 1000}, {Code: "VIP", Name: "VIP", Price: 5000}}}
}

// The journals every engine test that matters for durability runs against: the embedded
// default (an append-only journal file), SQLite, and PostgreSQL (a schema per test).
var journals = []string{"file", "sqlite", "postgres"}

type env struct {
	path    string // the SQLite catalog (and SQLite journal)
	journal string // "file", "sqlite" or "postgres"
	pgURL   string // the PostgreSQL schema of the "postgres" journal, kept across restarts
	pg      *postgres.DB
	db      *sqlite.DB
	jf      *journalfile.Store
	store   ticketview.SectionStore
	eng     *Engine
	bus     *inmem.Bus
}

// newEnv opens fresh stores (SQLite journal) with the test venue and event and starts an
// engine on them.
func newEnv(t testing.TB, gaCapacity, limit int) *env {
	return newEnvWith(t, "sqlite", gaCapacity, limit)
}

// newEnvWith is newEnv with the journal of the given kind.
func newEnvWith(t testing.TB, journal string, gaCapacity, limit int) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{path: filepath.Join(dir, "tv.db"), journal: journal}
	e.open(t)
	ctx := context.Background()
	if err := e.db.CreateVenue(ctx, testVenue(gaCapacity)); err != nil {
		t.Fatal(err)
	}
	if err := e.db.CreateEvent(ctx, testEventFor(limit)); err != nil {
		t.Fatal(err)
	}
	e.start(t, e.store)
	t.Cleanup(e.close)
	return e
}

// open opens the catalog and the journal.
func (e *env) open(t testing.TB) {
	t.Helper()
	db, err := sqlite.Open(e.path)
	if err != nil {
		t.Fatal(err)
	}
	e.db, e.store = db, db
	if e.journal == "file" {
		if e.jf, err = journalfile.Open(e.path + ".journal"); err != nil {
			t.Fatal(err)
		}
		e.store = e.jf
	}
	if e.journal == "postgres" {
		if e.pgURL == "" {
			e.pgURL = pgtest.URL(t)
		}
		if e.pg, err = postgres.Open(context.Background(), e.pgURL, postgres.Options{}); err != nil {
			t.Fatal(err)
		}
		e.store = e.pg
	}
}

func (e *env) start(t testing.TB, store ticketview.SectionStore) { e.startWith(t, store, nil) }

// restartOn replaces the engine with one on store (the real store, wrapped by a test).
func (e *env) restartOn(t testing.TB, store ticketview.SectionStore) {
	t.Helper()
	e.eng.Close()
	e.start(t, store)
}

func (e *env) startWith(t testing.TB, store ticketview.SectionStore, tune func(*Config)) {
	t.Helper()
	e.bus = inmem.NewBus()
	cfg := Config{Store: store, Events: e.db, Venues: e.db, Deltas: e.bus, Publisher: e.bus, SnapshotEvery: testSnapshotEvery}
	if tune != nil {
		tune(&cfg)
	}
	eng, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.eng = eng
}

func (e *env) close() {
	if e.eng != nil {
		e.eng.Close()
		e.eng = nil
	}
	if e.jf != nil {
		e.jf.Close()
		e.jf = nil
	}
	if e.pg != nil {
		e.pg.Close()
		e.pg = nil
	}
	if e.db != nil {
		e.db.Close()
		e.db = nil
	}
}

// restart closes the engine and the stores and opens them again on the same files.
func (e *env) restart(t *testing.T) {
	t.Helper()
	e.close()
	e.open(t)
	e.start(t, e.store)
}

func sid(section string) ticketview.SectionID {
	return ticketview.SectionID{Event: testEvent, Section: section}
}

func avail(t testing.TB, eng *Engine, section string) ticketview.Availability {
	t.Helper()
	a, err := eng.Availability(context.Background(), sid(section), true)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := ticketview.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// ---- tests ----

// 1,000 concurrent buyers for 100 seats: exactly 100 win, each seat in one hold only.
func TestThousandBuyersHundredSeatsExactlyHundredWinners(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmd  func(buyer int) ticketview.HoldCommand
	}{
		{"best-available in a 100-seat section", func(b int) ticketview.HoldCommand {
			return ticketview.HoldCommand{Section: sid("stalls"), Owner: fmt.Sprint("buyer-", b), BestAvailable: true, Quantity: 1}
		}},
		{"explicit seats, everyone wanting the same few", func(b int) ticketview.HoldCommand {
			// buyers fight over seats in order: buyer b wants seat b%100, then the section is full
			return ticketview.HoldCommand{Section: sid("stalls"), Owner: fmt.Sprint("buyer-", b),
				Seats: []string{fmt.Sprintf("%s-%d", string(rune('A'+(b%100)/10)), b%10+1)}}
		}},
		{"general admission with 100 places", func(b int) ticketview.HoldCommand {
			return ticketview.HoldCommand{Section: sid("floor"), Owner: fmt.Sprint("buyer-", b), Quantity: 1}
		}},
	} {
		for _, journal := range journals {
			t.Run(journal+"/"+tc.name, func(t *testing.T) {
				e := newEnvWith(t, journal, 100, 0)
				var wg sync.WaitGroup
				var mu sync.Mutex
				var winners []ticketview.Hold
				var losers atomic.Int64
				start := make(chan struct{})
				for b := 0; b < 1000; b++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						h, err := e.eng.Hold(context.Background(), tc.cmd(b))
						if err != nil {
							if c := ticketview.ErrorCode(err); c != ticketview.ESEATTAKEN && c != ticketview.ESOLDOUT {
								t.Errorf("buyer %d: unexpected error %v", b, err)
							}
							losers.Add(1)
							return
						}
						mu.Lock()
						winners = append(winners, h)
						mu.Unlock()
					}()
				}
				close(start)
				wg.Wait()
				if len(winners) != 100 || losers.Load() != 900 {
					t.Fatalf("winners = %d, losers = %d; want 100 and 900", len(winners), losers.Load())
				}
				section := winners[0].Section
				a := avail(t, e.eng, section)
				if a.Held != 100 || a.Free != 0 {
					t.Fatalf("availability held=%d free=%d, want 100 and 0", a.Held, a.Free)
				}
				if section == "floor" {
					return
				}
				seen := map[string]string{}
				for _, h := range winners {
					for _, it := range h.Items {
						if other, dup := seen[it.Seat]; dup {
							t.Fatalf("seat %s in two holds: %s and %s", it.Seat, other, h.Token)
						}
						seen[it.Seat] = h.Token
					}
				}
				if len(seen) != 100 {
					t.Fatalf("%d distinct seats held, want 100", len(seen))
				}
				// And the journal agrees: after a restart the same 100 holds are there.
				e.restart(t)
				if a := avail(t, e.eng, section); a.Held != 100 {
					t.Fatalf("after restart held=%d, want 100", a.Held)
				}
			})
		}
	}
}

// 20 workers, one seat, one winner.
func TestTwentyWorkersOneSeatOneWinner(t *testing.T) {
	e := newEnv(t, 10, 0)
	var wins atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 20; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.eng.Hold(context.Background(), ticketview.HoldCommand{Section: sid("stalls"),
				Owner: fmt.Sprint("w", w), Seats: []string{"A-5"}})
			if err == nil {
				wins.Add(1)
			} else if !errors.Is(err, ticketview.ErrSeatTaken) {
				t.Errorf("worker %d: %v", w, err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d winners, want 1", wins.Load())
	}
}

// Everything acknowledged survives a restart of the engine and the store; nothing else appears.
func TestRestartRecoversExactlyWhatWasAcknowledged(t *testing.T) {
	for _, journal := range journals {
		t.Run(journal, func(t *testing.T) {
			e := newEnvWith(t, journal, 50, 0)
			ctx := context.Background()
			h1, err := e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("stalls"), Owner: "ann", Seats: []string{"A-1", "A-2"}})
			if err != nil {
				t.Fatal(err)
			}
			h2, err := e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("stalls"), Owner: "bob", BestAvailable: true, Quantity: 3})
			if err != nil {
				t.Fatal(err)
			}
			bk, err := e.eng.Confirm(ctx, sid("stalls"), h2.Token, "bob", "pay-1", "")
			if err != nil {
				t.Fatal(err)
			}
			h3, err := e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("floor"), Owner: "cat", Quantity: 4})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.eng.Release(ctx, sid("floor"), h3.Token, "cat", ""); err != nil {
				t.Fatal(err)
			}
			before := avail(t, e.eng, "stalls")

			e.restart(t)

			after := avail(t, e.eng, "stalls")
			if fmt.Sprint(before.Seats) != fmt.Sprint(after.Seats) || before.Held != 2 || before.Sold != 3 {
				t.Fatalf("seat map changed across restart or wrong counts: held=%d sold=%d", before.Held, before.Sold)
			}
			if got, err := e.eng.FindHold(ctx, sid("stalls"), h1.Token, "ann"); err != nil || !got.ExpiresAt.Equal(h1.ExpiresAt) {
				t.Fatalf("hold after restart: %+v, %v", got, err)
			}
			if got, err := e.eng.FindBooking(ctx, sid("stalls"), bk.ID, "bob"); err != nil || got.Total != bk.Total {
				t.Fatalf("booking after restart: %+v, %v", got, err)
			}
			if a := avail(t, e.eng, "floor"); a.Free != 50 {
				t.Fatalf("released GA places not free after restart: free=%d", a.Free)
			}
			// The ledger is rebuilt too: ann has 2, bob 3.
			if _, err := e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("floor"), Owner: "bob", Quantity: 4}); !errors.Is(err, ticketview.ErrLimit) {
				t.Fatalf("bob over the limit after restart: %v", err)
			}
		})
	}
}

// A panicking command restarts the actor, which rebuilds its state from the journal.
func TestPanicRestartsActorWithAcknowledgedState(t *testing.T) {
	for _, journal := range journals {
		t.Run(journal, func(t *testing.T) {
			e := newEnvWith(t, journal, 10, 0)
			ctx := context.Background()
			h, err := e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("stalls"), Owner: "ann", Seats: []string{"B-3"}})
			if err != nil {
				t.Fatal(err)
			}
			c, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			_, err = e.eng.call(c, sid("stalls"), &command{run: func(*ticketview.Section, time.Time) (any, error) { panic("boom") }})
			wantCode(t, err, ticketview.EINTERNAL) // answered at once, not left to time out
			testutil.CheckFor(t, 5*time.Second, func() error {
				_, err := e.eng.FindHold(ctx, sid("stalls"), h.Token, "ann")
				return err
			})
			if _, err := e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("stalls"), Owner: "bob", Seats: []string{"B-3"}}); !errors.Is(err, ticketview.ErrSeatTaken) {
				t.Fatalf("seat held before the panic was given to another buyer: %v", err)
			}
		})
	}
}

// faultyStore is the real store with a switch that makes journal writes fail.
type faultyStore struct {
	ticketview.SectionStore
	fail    atomic.Bool
	failOne atomic.Bool // fail the next write only
}

func (f *faultyStore) Append(ctx context.Context, id ticketview.SectionID, epoch uint64, evs []ticketview.SectionEvent) error {
	if f.fail.Load() {
		return errors.New("disk on fire")
	}
	return f.SectionStore.Append(ctx, id, epoch, evs)
}

// AppendAsync keeps the engine's pipelined path (two writes in flight) under test: a
// failed write never reaches the store, so the one queued behind it fails there.
func (f *faultyStore) AppendAsync(ctx context.Context, id ticketview.SectionID, epoch uint64, evs []ticketview.SectionEvent) func() error {
	if f.fail.Load() || f.failOne.CompareAndSwap(true, false) {
		return func() error { return errors.New("disk on fire") }
	}
	return f.SectionStore.(ticketview.AsyncAppender).AppendAsync(ctx, id, epoch, evs)
}

// A failed group commit acknowledges nothing, and the section carries on from the store.
func TestFailedCommitAcknowledgesNothing(t *testing.T) {
	for _, journal := range journals {
		t.Run(journal, func(t *testing.T) {
			e := newEnvWith(t, journal, 10, 0)
			fs := &faultyStore{SectionStore: e.store}
			e.restartOn(t, fs)
			ctx := context.Background()
			if _, err := e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("stalls"), Owner: "ann", Seats: []string{"A-1"}}); err != nil {
				t.Fatal(err)
			}
			fs.fail.Store(true)
			var wg sync.WaitGroup
			for i := 0; i < 10; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("stalls"), Owner: fmt.Sprint("b", i), Seats: []string{fmt.Sprintf("C-%d", i+1)}})
					wantCode(t, err, ticketview.EUNAVAILABLE)
				}()
			}
			wg.Wait()
			fs.fail.Store(false)
			a := avail(t, e.eng, "stalls")
			if a.Held != 1 {
				t.Fatalf("held = %d after failed commits, want only the 1 acknowledged", a.Held)
			}
			// The seats of the failed holds are free for others, and the ledger gave them back.
			if _, err := e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("stalls"), Owner: "b1", Seats: []string{"C-2", "C-3", "C-4", "C-5", "C-6", "C-7"}}); err != nil {
				t.Fatalf("after recovery: %v", err)
			}
			if e.eng.Stats().CommitFailures == 0 {
				t.Fatal("commit failures not counted")
			}
		})
	}
}

// A section activated elsewhere fences this one off: its writes are refused and it stops.
func TestStaleActivationIsFencedOff(t *testing.T) {
	for _, journal := range journals {
		t.Run(journal, func(t *testing.T) {
			e := newEnvWith(t, journal, 10, 0)
			ctx := context.Background()
			if _, err := e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("stalls"), Owner: "ann", Seats: []string{"A-1"}}); err != nil {
				t.Fatal(err)
			}
			other, err := NewEngine(Config{Store: e.store, Events: e.db, Venues: e.db})
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			if _, err := other.Hold(ctx, ticketview.HoldCommand{Section: sid("stalls"), Owner: "bob", Seats: []string{"A-2"}}); err != nil {
				t.Fatal(err)
			}
			// The first engine still thinks it owns the section: its write must be refused.
			_, err = e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("stalls"), Owner: "cat", Seats: []string{"A-2"}})
			wantCode(t, err, ticketview.EUNAVAILABLE)
			a := avail(t, other, "stalls")
			if a.Held != 2 {
				t.Fatalf("newer activation sees held=%d, want 2 (ann, bob)", a.Held)
			}
			// The fenced actor stopped; the next command here activates the section anew
			// (taking it back) and sees both holds: it does not hang on the dead actor.
			testutil.CheckFor(t, 5*time.Second, func() error {
				c, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				_, err := e.eng.Hold(c, ticketview.HoldCommand{Section: sid("stalls"), Owner: "cat", Seats: []string{"A-3"}})
				return err
			})
			if a := avail(t, e.eng, "stalls"); a.Held != 3 {
				t.Fatalf("after taking the section back held=%d, want 3", a.Held)
			}
		})
	}
}

// Holds expire by themselves: seats come back and the buyer's allowance too.
func TestHoldsExpireByThemselves(t *testing.T) {
	e := newEnv(t, 10, 2)
	ctx := context.Background()
	if _, err := e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("stalls"), Owner: "ann", Seats: []string{"A-1", "A-2"}, TTL: time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("floor"), Owner: "ann", Quantity: 1}); !errors.Is(err, ticketview.ErrLimit) {
		t.Fatalf("third seat for a buyer limited to 2: %v", err)
	}
	sub := e.bus.SubscribeDeltas(16)
	testutil.CheckFor(t, 5*time.Second, func() error {
		if a := avail(t, e.eng, "stalls"); a.Held != 0 {
			return fmt.Errorf("still %d held", a.Held)
		}
		return nil
	})
	// The hold's own delta may reach the bus after the subscription began: skip it.
	for expired := false; !expired; {
		select {
		case d := <-sub.C:
			if d.Section == sid("stalls") && d.Seq == 1 && d.Status == ticketview.SeatHeld {
				continue
			}
			if d.Status != ticketview.SeatFree || len(d.Seats) != 2 {
				t.Fatalf("expiry delta = %+v", d)
			}
			expired = true
		case <-time.After(2 * time.Second):
			t.Fatal("no delta for the expiry")
		}
	}
	if _, err := e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("floor"), Owner: "ann", Quantity: 2}); err != nil {
		t.Fatalf("allowance not returned after expiry: %v", err)
	}
}

// The per-buyer limit holds across the sections of an event.
func TestBuyerLimitAcrossSections(t *testing.T) {
	e := newEnv(t, 100, 0) // default limit: 6
	ctx := context.Background()
	h, err := e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("stalls"), Owner: "ann", BestAvailable: true, Quantity: 4})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("floor"), Owner: "ann", Quantity: 3})
	wantCode(t, err, ticketview.ELIMIT)
	if _, err := e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("circle"), Owner: "ann", BestAvailable: true, Quantity: 2}); err != nil {
		t.Fatal(err)
	}
	if err := e.eng.Release(ctx, sid("stalls"), h.Token, "ann", ""); err != nil {
		t.Fatal(err)
	}
	testutil.CheckFor(t, 2*time.Second, func() error {
		_, err := e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("floor"), Owner: "ann", Quantity: 3})
		return err
	})
	// A refused hold gives its reservation back: a seat conflict does not eat the allowance.
	_, err = e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("stalls"), Owner: "bob", Seats: []string{"Z-1"}})
	wantCode(t, err, ticketview.ENOTFOUND)
	if _, err := e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("floor"), Owner: "bob", Quantity: 6}); err != nil {
		t.Fatalf("failed request ate bob's allowance: %v", err)
	}
}

// An idempotent retry returns the first hold and takes no second share of the allowance.
func TestIdempotentHoldRetry(t *testing.T) {
	e := newEnv(t, 100, 0)
	ctx := context.Background()
	cmd := ticketview.HoldCommand{Section: sid("floor"), Owner: "ann", Quantity: 4, IdemKey: "k1"}
	h1, err := e.eng.Hold(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := e.eng.Hold(ctx, cmd)
	if err != nil || h2.Token != h1.Token || !h2.Replayed {
		t.Fatalf("retry = %+v, %v; want the first hold %s", h2, err, h1.Token)
	}
	if a := avail(t, e.eng, "floor"); a.Held != 4 {
		t.Fatalf("held = %d, want 4", a.Held)
	}
	if _, err := e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("floor"), Owner: "ann", Quantity: 2}); err != nil {
		t.Fatalf("retry consumed allowance: %v", err)
	}
}

// Deltas and domain events arrive after the change is durable, in order, once each.
func TestDeltasAndEventsInOrder(t *testing.T) {
	e := newEnv(t, 10, 0)
	deltas := e.bus.SubscribeDeltas(1024)
	events := e.bus.SubscribeEvents(1024)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("stalls"), Owner: fmt.Sprint("b", i), BestAvailable: true, Quantity: 1})
			if err == nil && i%2 == 0 {
				_ = e.eng.Release(ctx, sid("stalls"), h.Token, h.Owner, "")
			}
		}()
	}
	wg.Wait()
	a := avail(t, e.eng, "stalls")
	var seqs []uint64
	state := map[string]ticketview.SeatStatus{}
	var last ticketview.SeatDelta
	for len(seqs) < int(a.Seq) {
		select {
		case d := <-deltas.C:
			if d.Prev != last.Seq {
				t.Fatalf("delta %d: Prev %d, want the previous delta's Seq %d", d.Seq, d.Prev, last.Seq)
			}
			if len(d.Categories) != 1 || d.Categories[0].Capacity != a.Capacity ||
				d.Categories[0].Free+d.Categories[0].Held+d.Categories[0].Sold+d.Categories[0].Blocked != a.Capacity {
				t.Fatalf("delta %d: categories %+v", d.Seq, d.Categories)
			}
			last = d
			seqs = append(seqs, d.Seq)
			for _, s := range d.Seats {
				state[s] = d.Status
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("got %d deltas, want %d", len(seqs), a.Seq)
		}
	}
	if !sort.SliceIsSorted(seqs, func(i, j int) bool { return seqs[i] < seqs[j] }) || seqs[0] != 1 {
		t.Fatalf("deltas out of order: %v", seqs)
	}
	for _, s := range a.Seats {
		if st, ok := state[s.Label]; ok && st != s.Status || !ok && s.Status != ticketview.SeatFree {
			t.Fatalf("seat %s: deltas say %v, map says %v", s.Label, st, s.Status)
		}
	}
	if c := last.Categories[0]; c.Held+c.Sold != a.Held+a.Sold || c.Free != a.Free {
		t.Fatalf("last delta's counts %+v, availability %+v", c, a)
	}
	var lastSeq uint64
	for n := 0; n < int(a.Seq); n++ {
		ev := <-events.C
		if ev.Seq != lastSeq+1 || ev.Section != sid("stalls") {
			t.Fatalf("event %d after %d", ev.Seq, lastSeq)
		}
		if len(ev.Labels) != len(ev.Seats) || len(ev.Labels) == 0 || ev.Labels[0] == "" {
			t.Fatalf("event %d: labels %v for seats %v", ev.Seq, ev.Labels, ev.Seats)
		}
		lastSeq = ev.Seq
	}
}

// Snapshots are taken as the journal grows, and recovery from snapshot + tail is exact.
func TestRecoveryFromSnapshotAndJournal(t *testing.T) {
	for _, journal := range journals {
		t.Run(journal, func(t *testing.T) {
			e := newEnvWith(t, journal, 1000, 1000) // SnapshotEvery is 50 in tests
			ctx := context.Background()
			for i := 0; i < 173; i++ {
				h, err := e.eng.Hold(ctx, ticketview.HoldCommand{Section: sid("floor"), Owner: fmt.Sprint("b", i%7), Quantity: 1 + i%3})
				if err != nil {
					t.Fatal(err)
				}
				if i%4 == 0 {
					if _, err := e.eng.Confirm(ctx, sid("floor"), h.Token, h.Owner, "p", ""); err != nil {
						t.Fatal(err)
					}
				}
			}
			before := avail(t, e.eng, "floor")
			e.restart(t)
			after := avail(t, e.eng, "floor")
			if before.Seq != after.Seq || before.Held != after.Held || before.Sold != after.Sold || before.Held == 0 || before.Sold == 0 {
				t.Fatalf("before %+v\nafter %+v", before, after)
			}
		})
	}
}

// slowStore is the real store with journal writes made slow.
type slowStore struct {
	ticketview.SectionStore
	delay time.Duration
}

func (s *slowStore) Append(ctx context.Context, id ticketview.SectionID, epoch uint64, evs []ticketview.SectionEvent) error {
	time.Sleep(s.delay)
	return s.SectionStore.Append(ctx, id, epoch, evs)
}

// A read that arrives while a write is under way is answered when the write ends, even
// if nothing else is written after it.
func TestReadDuringWriteIsAnsweredWhenWriteEnds(t *testing.T) {
	e := newEnv(t, 10, 0)
	e.restartOn(t, &slowStore{SectionStore: e.db, delay: 200 * time.Millisecond})
	pid, err := e.eng.pid(context.Background(), sid("stalls"))
	if err != nil {
		t.Fatal(err)
	}
	hold := &command{done: make(chan result, 1), run: func(s *ticketview.Section, now time.Time) (any, error) {
		return s.Hold(ticketview.HoldRequest{Token: "t1", Owner: "ann", Seats: []string{"A-1"}}, now)
	}}
	read := &command{done: make(chan result, 1), run: func(s *ticketview.Section, now time.Time) (any, error) {
		return s.Availability(false), nil
	}}
	// Mailbox order: the read is handled while the hold's write is under way.
	e.eng.system.Root.Send(pid, hold)
	e.eng.system.Root.Send(pid, read)
	select {
	case r := <-read.done:
		if r.err != nil || r.v.(ticketview.Availability).Held != 1 {
			t.Fatalf("read = %+v, %v; want held=1", r.v, r.err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("read during a write was never answered")
	}
	if r := <-hold.done; r.err != nil {
		t.Fatal(r.err)
	}
}

// A failed write takes down the one applied after it, whether that one is already queued
// in the store (two writes in flight: the store refuses it, its sequence no longer
// follows on) or still waiting in the actor: neither caller hears yes, and the reloaded
// section holds neither.
func TestFailedWriteFailsTheWriteQueuedBehindIt(t *testing.T) {
	for _, journal := range journals {
		t.Run(journal, func(t *testing.T) {
			e := newEnvWith(t, journal, 10, 0)
			fs := &faultyStore{SectionStore: e.store}
			e.restartOn(t, fs)
			pid, err := e.eng.pid(context.Background(), sid("stalls"))
			if err != nil {
				t.Fatal(err)
			}
			hold := func(token, seat string) *command {
				return &command{done: make(chan result, 1), run: func(s *ticketview.Section, now time.Time) (any, error) {
					return s.Hold(ticketview.HoldRequest{Token: token, Owner: "o-" + token, Seats: []string{seat}}, now)
				}}
			}
			a, b1, b2 := hold("a", "A-1"), hold("b1", "A-2"), hold("b2", "A-3")
			e.eng.system.Root.Send(pid, a)
			<-a.done
			fs.failOne.Store(true)
			e.eng.system.Root.Send(pid, b1)
			e.eng.system.Root.Send(pid, b2)
			for name, c := range map[string]*command{"b1": b1, "b2": b2} {
				select {
				case r := <-c.done:
					wantCode(t, r.err, ticketview.EUNAVAILABLE)
				case <-time.After(5 * time.Second):
					t.Fatalf("%s never answered", name)
				}
			}
			av := avail(t, e.eng, "stalls")
			if av.Held != 1 {
				t.Fatalf("held = %d after the failed writes, want 1 (a only)", av.Held)
			}
			for _, s := range av.Seats {
				if (s.Label == "A-2" || s.Label == "A-3") && s.Status != ticketview.SeatFree {
					t.Fatalf("seat %s is %v, want free", s.Label, s.Status)
				}
			}
		})
	}
}

// A panic while a write is under way and another command waits behind it leaves nobody
// waiting: the hold being written gets its true outcome (here the new incarnation's
// activation fences the slow write off, so it fails, and the seat is free), and the
// waiting one, whose change died with the old state, is told to try again. (An answer
// also settles the caller's per-buyer reservation: see the limit tests.)
func TestPanicLeavesNobodyWaiting(t *testing.T) {
	e := newEnv(t, 10, 0)
	e.restartOn(t, &slowStore{SectionStore: e.db, delay: 300 * time.Millisecond})
	pid, err := e.eng.pid(context.Background(), sid("stalls"))
	if err != nil {
		t.Fatal(err)
	}
	hold := func(owner, seat string) *command {
		return &command{done: make(chan result, 1), run: func(s *ticketview.Section, now time.Time) (any, error) {
			return s.Hold(ticketview.HoldRequest{Token: "t-" + owner, Owner: owner, Seats: []string{seat}}, now)
		}}
	}
	boom := &command{done: make(chan result, 1), run: func(*ticketview.Section, time.Time) (any, error) { panic("boom") }}
	ann, bob := hold("ann", "A-1"), hold("bob", "A-2")
	// Mailbox order: ann's write goes out (slow), bob waits behind it, then the panic.
	for _, c := range []*command{ann, bob, boom} {
		e.eng.system.Root.Send(pid, c)
	}
	annOK := false
	for name, c := range map[string]*command{"boom": boom, "ann": ann, "bob": bob} {
		select {
		case r := <-c.done:
			switch name {
			case "boom":
				wantCode(t, r.err, ticketview.EINTERNAL)
			case "ann":
				annOK = r.err == nil
				if !annOK {
					wantCode(t, r.err, ticketview.EUNAVAILABLE)
				}
			case "bob":
				wantCode(t, r.err, ticketview.EUNAVAILABLE)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("%s is still waiting after the restart", name)
		}
	}
	// What ann was told is what the section holds; bob's seat is free.
	want := 0
	if annOK {
		want = 1
	}
	if a := avail(t, e.eng, "stalls"); a.Held != want {
		t.Fatalf("held %d after the restart; ann was told ok=%v", a.Held, annOK)
	}
}
