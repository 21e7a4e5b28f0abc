package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/cluster"
	"github.com/ticketview/ticketview/demo"
	"github.com/ticketview/ticketview/internal/testutil"
	"github.com/ticketview/ticketview/persistence/postgres"
)

var (
	balcony  = ticketview.SectionID{Event: demo.EventID, Section: demo.Balcony}
	standing = ticketview.SectionID{Event: demo.EventID, Section: demo.Standing}
	sections = []ticketview.SectionID{floor, balcony, standing}
)

// holdOf asks for n seats of a section: best available when it is seated.
func holdOf(id ticketview.SectionID, owner string, n int) ticketview.HoldCommand {
	return ticketview.HoldCommand{Section: id, Owner: owner, Quantity: n, BestAvailable: id.Section != demo.Standing}
}

func mustHold(t *testing.T, cl *cluster.Client, cmd ticketview.HoldCommand) ticketview.Hold {
	t.Helper()
	h, err := cl.Hold(context.Background(), cmd)
	if err != nil {
		t.Fatalf("hold %+v: %v", cmd, err)
	}
	return h
}

// overLimit fails the test unless a hold of one more seat for owner is refused with
// ELIMIT in every section.
func overLimit(t *testing.T, cl *cluster.Client, owner string) {
	t.Helper()
	for _, id := range sections {
		if h, err := cl.Hold(context.Background(), holdOf(id, owner, 1)); ticketview.ErrorCode(err) != ticketview.ELIMIT {
			t.Fatalf("%s holding one more seat in %s: %+v, %v; want %s", owner, id.Section, h, err, ticketview.ELIMIT)
		}
	}
}

// heldBy sums what the sections say owner holds and owns.
func heldBy(t *testing.T, cl *cluster.Client, owner string) int {
	t.Helper()
	n := 0
	for _, id := range sections {
		res, err := cl.Call(context.Background(), id, cluster.OpOwnerCounts, cluster.CallArgs{})
		if err != nil {
			t.Fatalf("owner counts of %s: %v", id, err)
		}
		n += res.Counts[owner]
	}
	return n
}

// eventually retries a hold until it is no longer refused for the limit: seats given back
// reach the ledger asynchronously.
func eventually(t *testing.T, cl *cluster.Client, cmd ticketview.HoldCommand) ticketview.Hold {
	t.Helper()
	var h ticketview.Hold
	testutil.CheckFor(t, 5*time.Second, func() error {
		var err error
		h, err = cl.Hold(context.Background(), cmd)
		if ticketview.ErrorCode(err) == ticketview.ELIMIT {
			return err
		} else if err != nil {
			t.Fatalf("hold %+v: %v", cmd, err)
		}
		return nil
	})
	return h
}

// The limit spans the event's sections, a refused or failed hold takes nothing of the
// allowance, and each buyer has their own.
func TestLedgerLimitAcrossSections(t *testing.T) {
	m := startMember(t, openDB(t), nil, 0)
	cl := m.node.Client
	ctx := context.Background()
	mustHold(t, cl, ticketview.HoldCommand{Section: floor, Owner: "alice", Seats: []string{"A-1", "A-2", "A-3"}})
	mustHold(t, cl, holdOf(balcony, "alice", 2))
	mustHold(t, cl, holdOf(standing, "alice", 1))
	overLimit(t, cl, "alice")
	if _, err := cl.Hold(ctx, holdOf(standing, "alice", 7)); ticketview.ErrorCode(err) != ticketview.EINVALID && ticketview.ErrorCode(err) != ticketview.ELIMIT {
		t.Fatalf("7 seats at once: %v", err)
	}
	// Holds the section refuses give their reservation back: after more failures than
	// the limit, carol still has her whole allowance.
	for range demo.BuyerLimit + 1 {
		if _, err := cl.Hold(ctx, ticketview.HoldCommand{Section: floor, Owner: "carol", Seats: []string{"A-1"}}); ticketview.ErrorCode(err) != ticketview.ESEATTAKEN {
			t.Fatalf("carol holding alice's seat: %v; want %s", err, ticketview.ESEATTAKEN)
		}
	}
	mustHold(t, cl, holdOf(standing, "carol", demo.BuyerLimit))
	overLimit(t, cl, "carol")
	if n := heldBy(t, cl, "alice"); n != demo.BuyerLimit {
		t.Fatalf("alice holds %d seats; want %d", n, demo.BuyerLimit)
	}
	if _, err := cl.Hold(ctx, ticketview.HoldCommand{Section: floor, Quantity: 1, BestAvailable: true}); ticketview.ErrorCode(err) != ticketview.EINVALID {
		t.Fatalf("a hold without an owner: %v; want %s", err, ticketview.EINVALID)
	}
}

// Seats that come back — a hold released, a hold expired, a sale cancelled — give the
// allowance back, and no more than that.
func TestLedgerReturnsSeats(t *testing.T) {
	m := startMember(t, openDB(t), nil, 0)
	cl := m.node.Client
	ctx := context.Background()
	released := mustHold(t, cl, holdOf(floor, "alice", 2))
	sold := mustHold(t, cl, holdOf(standing, "alice", 2))
	mustHold(t, cl, holdOf(balcony, "alice", 2))
	overLimit(t, cl, "alice")

	if err := cl.Release(ctx, floor, released.Token, "alice", ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, cl, holdOf(floor, "alice", 2))
	overLimit(t, cl, "alice")

	b, err := cl.Confirm(ctx, standing, sold.Token, "alice", "pay-1", "")
	if err != nil {
		t.Fatal(err)
	}
	overLimit(t, cl, "alice") // sold seats count as well
	if _, err := cl.Cancel(ctx, standing, b.ID, "alice", ""); err != nil {
		t.Fatal(err)
	}
	expiring := holdOf(standing, "alice", 2)
	expiring.TTL = 2 * time.Second
	eventually(t, cl, expiring)
	if _, err := cl.Hold(ctx, holdOf(balcony, "alice", 1)); ticketview.ErrorCode(err) != ticketview.ELIMIT {
		t.Fatalf("one more seat before the hold expires: %v; want %s", err, ticketview.ELIMIT)
	}
	eventually(t, cl, holdOf(balcony, "alice", 2)) // once it has expired
	overLimit(t, cl, "alice")
	if n := heldBy(t, cl, "alice"); n != demo.BuyerLimit {
		t.Fatalf("alice holds %d seats; want %d", n, demo.BuyerLimit)
	}
}

// A retry under the caller's idempotency key gets the first answer even at the limit, and
// a replay takes nothing of the allowance; holds under the client's own keys are never
// reported as replays.
func TestLedgerIdempotentRetryAtLimit(t *testing.T) {
	m := startMember(t, openDB(t), nil, 0)
	cl := m.node.Client
	ctx := context.Background()
	cmd := holdOf(standing, "alice", demo.BuyerLimit)
	cmd.IdemKey = "k-all"
	first := mustHold(t, cl, cmd)
	if first.Replayed {
		t.Fatal("the first hold is reported as a replay")
	}
	again := mustHold(t, cl, cmd) // at the limit: answered by the section's replay
	if again.Token != first.Token || !again.Replayed {
		t.Fatalf("retry at the limit: %+v; want the first hold %s, replayed", again, first.Token)
	}
	other := cmd
	other.IdemKey, other.Quantity = "k-other", 1
	if _, err := cl.Hold(ctx, other); ticketview.ErrorCode(err) != ticketview.ELIMIT {
		t.Fatalf("a new key at the limit: %v; want %s", err, ticketview.ELIMIT)
	}

	// Below the limit the replay reserves first, and gives the reservation back.
	bob := holdOf(floor, "bob", 3)
	bob.IdemKey = "k-bob"
	h1 := mustHold(t, cl, bob)
	h2 := mustHold(t, cl, bob)
	if h2.Token != h1.Token || !h2.Replayed {
		t.Fatalf("bob's retry: %+v; want the first hold %s, replayed", h2, h1.Token)
	}
	if h := mustHold(t, cl, holdOf(balcony, "bob", 3)); h.Replayed {
		t.Fatal("a hold under a key of the client's own is reported as a replay")
	}
	overLimit(t, cl, "bob")

	if err := cl.Release(ctx, standing, first.Token, "alice", ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, cl, holdOf(balcony, "alice", demo.BuyerLimit))
}

// The contract the client relies on: reserves and returns under an idempotency key are
// applied once, a return of another activation's reservation is ignored, a section keeps
// the token the caller chose (a retry of the client's own attempt is recognizable) and
// refuses a hold nobody reserved.
func TestLedgerContract(t *testing.T) {
	m := startMember(t, openDB(t), nil, 0)
	cl := m.node.Client
	ctx := context.Background()
	reserve := func(n int, key string) (cluster.CallResult, error) {
		return cl.CallLedger(ctx, demo.EventID, cluster.OpReserve, cluster.CallArgs{Owner: "erin", Quantity: n, IdemKey: key})
	}
	r1, err := reserve(4, "rsv-1")
	if err != nil || r1.Ledger == "" {
		t.Fatalf("reserve: %+v, %v", r1, err)
	}
	if r, err := reserve(4, "rsv-1"); err != nil || r.Ledger != r1.Ledger {
		t.Fatalf("reserve retried: %+v, %v", r, err)
	}
	if _, err := reserve(2, "rsv-2"); err != nil {
		t.Fatalf("reserving up to the limit after a retried reserve: %v", err)
	}
	if _, err := reserve(1, "rsv-3"); ticketview.ErrorCode(err) != ticketview.ELIMIT {
		t.Fatalf("reserving over the limit: %v", err)
	}
	giveBack := func(args cluster.CallArgs) {
		t.Helper()
		args.Owner = "erin"
		if _, err := cl.CallLedger(ctx, demo.EventID, cluster.OpReturn, args); err != nil {
			t.Fatalf("return %+v: %v", args, err)
		}
	}
	giveBack(cluster.CallArgs{Quantity: 2, Ledger: "led_another_activation", IdemKey: "ret-0"})
	if _, err := reserve(1, "rsv-4"); ticketview.ErrorCode(err) != ticketview.ELIMIT {
		t.Fatalf("after a return of another activation's reservation: %v; want %s", err, ticketview.ELIMIT)
	}
	giveBack(cluster.CallArgs{Quantity: 2, Ledger: r1.Ledger, IdemKey: "ret-1"})
	giveBack(cluster.CallArgs{Quantity: 2, Ledger: r1.Ledger, IdemKey: "ret-1"})
	if _, err := reserve(2, "rsv-5"); err != nil {
		t.Fatalf("after a return: %v", err)
	}
	if _, err := reserve(1, "rsv-6"); ticketview.ErrorCode(err) != ticketview.ELIMIT {
		t.Fatalf("a retried return was applied twice: %v", err)
	}

	hold := &ticketview.HoldCommand{Owner: "dora", IdemKey: "k-own", Quantity: 1}
	for i, want := range []bool{false, true} {
		res, err := cl.Call(ctx, standing, cluster.OpHold, cluster.CallArgs{Hold: hold, Token: "hold_dora", Reserved: true})
		if err != nil || res.Hold == nil || res.Hold.Token != "hold_dora" || res.Hold.Replayed != want {
			t.Fatalf("hold call %d: %+v, %v; want token hold_dora, replayed %v", i, res.Hold, err, want)
		}
	}
	res, err := cl.Call(ctx, standing, cluster.OpHold, cluster.CallArgs{Hold: hold, ReplayOnly: true})
	if err != nil || res.Hold == nil || res.Hold.Token != "hold_dora" {
		t.Fatalf("replay-only call: %+v, %v", res.Hold, err)
	}
	res, err = cl.Call(ctx, standing, cluster.OpHold, cluster.CallArgs{Hold: &ticketview.HoldCommand{Owner: "dora", IdemKey: "k-none", Quantity: 1}, ReplayOnly: true})
	if err != nil || res.Hold != nil {
		t.Fatalf("replay-only call of an unknown key: %+v, %v; want no hold", res.Hold, err)
	}
	if _, err := cl.Call(ctx, standing, cluster.OpHold, cluster.CallArgs{Hold: &ticketview.HoldCommand{Owner: "dora", Quantity: 1}}); ticketview.ErrorCode(err) != ticketview.EINVALID {
		t.Fatalf("a hold without a reservation: %v; want %s", err, ticketview.EINVALID)
	}
	if _, err := cl.CallLedger(ctx, "no-such-event", cluster.OpReserve, cluster.CallArgs{Owner: "erin", Quantity: 1}); ticketview.ErrorCode(err) != ticketview.ENOTFOUND {
		t.Fatalf("the ledger of an unknown event: %v; want %s", err, ticketview.ENOTFOUND)
	}
}

// A new activation of the ledger (here: the member restarted) counts what the sections
// hold, and ignores the returns of seats it already found free — a hold that expired
// while no member ran is released when its section recovers, after the ledger counted it.
func TestLedgerRebuiltAfterRestart(t *testing.T) {
	db := openDB(t)
	m1 := startMember(t, db, nil, 0)
	cl := m1.node.Client
	ctx := context.Background()
	mustHold(t, cl, holdOf(floor, "alice", 2))
	mustHold(t, cl, holdOf(standing, "alice", 2))
	short := holdOf(balcony, "alice", 2)
	short.TTL = 2 * time.Second
	expires := time.Now().Add(short.TTL)
	mustHold(t, cl, short)
	h := mustHold(t, cl, holdOf(standing, "bob", demo.BuyerLimit))
	if err := cl.Release(ctx, standing, h.Token, "bob", ""); err != nil {
		t.Fatal(err)
	}
	m1.close(true)
	time.Sleep(time.Until(expires) + 100*time.Millisecond)

	m2 := startMember(t, db, nil, 0)
	cl = m2.node.Client
	if _, err := cl.Hold(ctx, holdOf(standing, "alice", 3)); ticketview.ErrorCode(err) != ticketview.ELIMIT {
		t.Fatalf("alice (4 seats held) asking for 3 more after the restart: %v; want %s", err, ticketview.ELIMIT)
	}
	mustHold(t, cl, holdOf(standing, "alice", 2)) // the expired hold no longer counts
	time.Sleep(300 * time.Millisecond)            // the expiry's return reaches the ledger
	overLimit(t, cl, "alice")
	mustHold(t, cl, holdOf(floor, "bob", demo.BuyerLimit))
	overLimit(t, cl, "bob")
	if got := m2.node.Lookup.Active(cluster.LedgerKind); len(got) != 1 || got[0] != demo.EventID {
		t.Fatalf("ledger grains active = %v; want [%s]", got, demo.EventID)
	}
}

// One buyer racing for seats across the sections gets at most the limit.
func TestLedgerRaceOneBuyer(t *testing.T) {
	m := startMember(t, openDB(t), nil, 0)
	cl := m.node.Client
	const racers = 20
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  int
		errs []error
	)
	for i := range racers {
		wg.Go(func() {
			_, err := cl.Hold(context.Background(), holdOf(sections[i%len(sections)], "racer", 1))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case ticketview.ErrorCode(err) != ticketview.ELIMIT:
				errs = append(errs, fmt.Errorf("racer %d: %w", i, err))
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if held := heldBy(t, cl, "racer"); won != demo.BuyerLimit || held != demo.BuyerLimit {
		t.Fatalf("%d holds placed, %d seats held; want %d", won, held, demo.BuyerLimit)
	}
	overLimit(t, cl, "racer")
}

// slowAppends makes every journal write take at least delay.
type slowAppends struct {
	*postgres.DB
	delay time.Duration
}

func (s slowAppends) Append(ctx context.Context, id ticketview.SectionID, epoch uint64, evs []ticketview.SectionEvent) error {
	time.Sleep(s.delay)
	return s.DB.Append(ctx, id, epoch, evs)
}

func (s slowAppends) AppendAsync(ctx context.Context, id ticketview.SectionID, epoch uint64, evs []ticketview.SectionEvent) func() error {
	wait := s.DB.AppendAsync(ctx, id, epoch, evs)
	return func() error {
		time.Sleep(s.delay)
		return wait()
	}
}

// When the client's first attempt at a hold times out but the hold is placed, its retry
// gets the hold as a replay: the client keeps the reservation (the hold is there) and
// reports a first answer. Reserves retried after a timeout are counted once.
func TestLedgerClientRetryOfItsOwnHold(t *testing.T) {
	db := openDB(t)
	m := startMemberOn(t, slowAppends{DB: db, delay: 80 * time.Millisecond}, db, nil, 0)
	cl := cluster.NewClient(m.node.Cluster)
	cl.AttemptTimeout = 30 * time.Millisecond // shorter than a commit
	var retried atomic.Int32
	cl.Observe = func(op string, _ time.Duration, attempts int, err error) {
		if op == cluster.OpHold && attempts > 1 && err == nil {
			retried.Add(1)
		}
	}
	cmd := holdOf(standing, "alice", 3)
	if h := mustHold(t, cl, cmd); h.Replayed {
		t.Fatalf("hold under a key of the client's own: %+v; want a first answer", h)
	}
	cmd.IdemKey = "k-alice"
	if h := mustHold(t, cl, cmd); h.Replayed {
		t.Fatalf("hold under the caller's key, placed by the client's first attempt: %+v; want a first answer", h)
	}
	if retried.Load() < 2 {
		t.Fatalf("%d holds succeeded after a retry; the test expects both to (attempt timeout below the commit time)", retried.Load())
	}
	overLimit(t, m.node.Client, "alice")
	if n := heldBy(t, m.node.Client, "alice"); n != demo.BuyerLimit {
		t.Fatalf("alice holds %d seats; want %d", n, demo.BuyerLimit)
	}
}
