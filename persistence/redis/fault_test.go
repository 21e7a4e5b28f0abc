package redis_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/internal/testutil"
	"github.com/ticketview/ticketview/internal/testutil/redistest"
	"github.com/ticketview/ticketview/internal/testutil/tcpproxy"
	"github.com/ticketview/ticketview/persistence/redis"
	"github.com/ticketview/ticketview/persistence/storetest"
)

// proxied starts a tcpproxy to the test server and returns it with the URL through it.
func proxied(t *testing.T) (*tcpproxy.Proxy, string) {
	t.Helper()
	opt, err := goredis.ParseURL(redistest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	p := tcpproxy.New(t, opt.Addr)
	return p, "redis://" + p.Addr() + "/" + strconv.Itoa(opt.DB)
}

// failsFast runs call and checks it fails with EUNAVAILABLE within 2 s.
func failsFast(t *testing.T, what string, call func(ctx context.Context) error) {
	t.Helper()
	start := time.Now()
	err := call(testCtx(t))
	took := time.Since(start)
	if ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE || !errors.Is(err, ticketview.ErrUnavailable) {
		t.Fatalf("%s with Redis down: %v (code %q), want unavailable", what, err, ticketview.ErrorCode(err))
	}
	if took > 2*time.Second {
		t.Fatalf("%s with Redis down took %s, want under 2s", what, took)
	}
}

// Redis goes away and comes back: calls fail fast with EUNAVAILABLE while it is away,
// publishing never blocks, and the same Client (and a subscription made before) work
// again once it is back.
func TestRedisDownAndBack(t *testing.T) {
	t.Parallel()
	p, url := proxied(t)
	c := openURL(t, url, redis.Options{})
	ctx := testCtx(t)
	id := storetest.NewSectionID()
	a := storetest.SampleAvailability(id, 5, 2, 6)
	if err := c.PutAvailability(ctx, a); err != nil {
		t.Fatal(err)
	}
	sub, err := c.SubscribeDeltas(ctx, id.Event)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	model := storetest.SampleAvailability(id, 5, 2, 6) // what the view should be
	d6 := storetest.SeatChange(&model, 6, 5, ticketview.SeatHeld, "A-1")
	if stale, err := c.ApplyDeltas(ctx, []ticketview.SeatDelta{d6}); err != nil || len(stale) != 0 {
		t.Fatalf("ApplyDeltas: stale %v, %v", stale, err)
	}
	c.PublishDelta(d6)
	receiveSeq(t, sub, 6, 10*time.Second)
	at6 := storetest.SampleAvailability(id, 5, 2, 6)
	storetest.SeatChange(&at6, 6, 5, ticketview.SeatHeld, "A-1")

	p.Down()
	d7 := storetest.SeatChange(&model, 7, 6, ticketview.SeatSold, "A-2")
	failsFast(t, "CachedAvailability", func(ctx context.Context) error { _, err := c.CachedAvailability(ctx, id, false); return err })
	failsFast(t, "CachedAvailability with seats", func(ctx context.Context) error { _, err := c.CachedAvailability(ctx, id, true); return err })
	failsFast(t, "PutAvailability", func(ctx context.Context) error { return c.PutAvailability(ctx, a) })
	failsFast(t, "ApplyDeltas", func(ctx context.Context) error {
		_, err := c.ApplyDeltas(ctx, []ticketview.SeatDelta{d7})
		return err
	})
	failsFast(t, "PutSnapshot", func(ctx context.Context) error { return c.PutSnapshot(ctx, id, storetest.SampleSnapshot(1, 4)) })
	failsFast(t, "CachedSnapshot", func(ctx context.Context) error { _, err := c.CachedSnapshot(ctx, id); return err })
	failsFast(t, "Incr", func(ctx context.Context) error { _, _, err := c.Incr(ctx, "k", 1, time.Minute); return err })
	failsFast(t, "SubscribeDeltas", func(ctx context.Context) error { _, err := c.SubscribeDeltas(ctx, id.Event); return err })

	// Publishing never blocks: what cannot go out is dropped and counted.
	dropped := c.DeltasDropped()
	const burst = 20_000
	deltas := make([]ticketview.SeatDelta, burst)
	for i := range deltas {
		deltas[i] = storetest.SampleDelta(id.Event, id.Section, uint64(100+i))
	}
	published := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		for _, d := range deltas {
			c.PublishDelta(d)
		}
		published <- time.Since(start)
	}()
	select {
	case took := <-published:
		t.Logf("%d PublishDelta with Redis down: %s", burst, took)
	case <-time.After(10 * time.Second):
		t.Fatalf("%d PublishDelta with Redis down blocked", burst)
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		if n := c.DeltasDropped() - dropped; n != burst {
			return fmt.Errorf("%d of %d deltas dropped", n, burst)
		}
		return nil
	})

	// The subscription is still open while Redis is away.
	select {
	case d, ok := <-sub.C():
		t.Fatalf("subscription delivered %+v (open %v) while Redis was down", d, ok)
	default:
	}

	p.Up()
	testutil.CheckFor(t, 10*time.Second, func() error {
		got, err := c.CachedAvailability(ctx, id, true)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, at6) {
			t.Fatalf("view after the outage: %+v, want %+v", got, at6)
		}
		return nil
	})
	if stale, err := c.ApplyDeltas(ctx, []ticketview.SeatDelta{d7}); err != nil || len(stale) != 0 {
		t.Fatalf("ApplyDeltas after Redis came back: stale %v, %v", stale, err)
	}
	if got, err := c.CachedAvailability(ctx, id, true); err != nil || !reflect.DeepEqual(got, model) {
		t.Fatalf("view after Redis came back: %+v, %v; want %+v", got, err, model)
	}
	if v, _, err := c.Incr(ctx, "k", 2, time.Minute); err != nil || v != 2 {
		t.Fatalf("Incr after Redis came back: %d, %v", v, err)
	}
	// The old subscription resubscribed by itself: a delta published now reaches it.
	seq := uint64(1_000_000)
	testutil.CheckFor(t, 15*time.Second, func() error {
		seq++
		c.PublishDelta(storetest.SampleDelta(id.Event, id.Section, seq))
		deadline := time.After(200 * time.Millisecond)
		for {
			select {
			case d, ok := <-sub.C():
				if !ok {
					t.Fatal("subscription closed while Redis was down")
				}
				if d.Seq >= 1_000_000 {
					return nil
				}
			case <-deadline:
				return fmt.Errorf("the subscription made before the outage gets nothing")
			}
		}
	})
	sub2, err := c.SubscribeDeltas(ctx, id.Event)
	if err != nil {
		t.Fatalf("SubscribeDeltas after Redis came back: %v", err)
	}
	defer sub2.Close()
	c.PublishDelta(storetest.SampleDelta(id.Event, id.Section, 2_000_000))
	receiveSeq(t, sub2, 2_000_000, 10*time.Second)
}

func receiveSeq(t *testing.T, s ticketview.DeltaSubscription, seq uint64, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case got, ok := <-s.C():
			if !ok {
				t.Fatalf("C closed before delta %d", seq)
			}
			if got.Seq == seq {
				return
			}
		case <-deadline:
			t.Fatalf("no delta %d within %s", seq, d)
		}
	}
}

// A server that accepts connections but never answers (a hung Redis, a black-holed
// route) makes calls fail within the timeouts, not hang.
func TestUnresponsiveServerFailsFast(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read or answered
			mu.Unlock()
		}
	}()
	c := openURL(t, "redis://"+ln.Addr().String()+"/0", redis.Options{Prefix: "unused:"})
	for _, call := range []struct {
		what string
		fn   func(ctx context.Context) error
	}{
		{"Ping", c.Ping},
		{"Incr", func(ctx context.Context) error { _, _, err := c.Incr(ctx, "k", 1, time.Minute); return err }},
		{"CachedAvailability", func(ctx context.Context) error {
			_, err := c.CachedAvailability(ctx, storetest.NewSectionID(), true)
			return err
		}},
	} {
		start := time.Now()
		err := call.fn(testCtx(t))
		took := time.Since(start)
		if ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE || !errors.Is(err, ticketview.ErrUnavailable) {
			t.Fatalf("%s on a server that never answers: %v, want unavailable", call.what, err)
		}
		if took > 2500*time.Millisecond {
			t.Fatalf("%s on a server that never answers took %s, want about 1s", call.what, took)
		}
	}
}

// Open does not need Redis: a client opened while it is down fails fast, and works once
// Redis is up, with no new Open.
func TestOpenWhileDown(t *testing.T) {
	t.Parallel()
	p, url := proxied(t)
	p.Down()
	c := openURL(t, url, redis.Options{})
	failsFast(t, "Ping", c.Ping)
	failsFast(t, "Incr", func(ctx context.Context) error { _, _, err := c.Incr(ctx, "k", 1, time.Minute); return err })
	p.Up()
	testutil.CheckFor(t, 10*time.Second, func() error { return c.Ping(testCtx(t)) })
	if v, _, err := c.Incr(testCtx(t), "k", 1, time.Minute); err != nil || v != 1 {
		t.Fatalf("Incr: %d, %v", v, err)
	}
}
