package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/internal/testutil"
	"github.com/ticketview/ticketview/internal/testutil/redistest"
	"github.com/ticketview/ticketview/persistence/redis"
	"github.com/ticketview/ticketview/persistence/storetest"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openTest opens a client on the test server with a fresh key prefix (unless opts has
// one), closed when the test ends.
func openTest(t testing.TB, opts redis.Options) *redis.Client {
	t.Helper()
	return openURL(t, redistest.ServerURL(), opts)
}

func openURL(t testing.TB, url string, opts redis.Options) *redis.Client {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = redistest.Prefix(t)
	}
	c, err := redis.Open(testCtx(t), url, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// raw is a plain go-redis client on the test server, to look at and tamper with keys.
func raw(t testing.TB) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(redistest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestAvailabilityCache(t *testing.T) {
	t.Parallel()
	storetest.TestAvailabilityCache(t, func(t *testing.T) ticketview.AvailabilityCache {
		t.Parallel()
		return openTest(t, redis.Options{})
	})
}

func TestSnapshotCache(t *testing.T) {
	t.Parallel()
	storetest.TestSnapshotCache(t, func(t *testing.T) ticketview.SnapshotCache {
		t.Parallel()
		return openTest(t, redis.Options{})
	})
}

func TestRateCounter(t *testing.T) {
	t.Parallel()
	storetest.TestRateCounter(t, func(t *testing.T) ticketview.RateCounter {
		t.Parallel()
		return openTest(t, redis.Options{})
	})
}

func TestDeltaFeed(t *testing.T) {
	t.Parallel()
	storetest.TestDeltaFeed(t, func(t *testing.T) ticketview.DeltaFeed {
		t.Parallel()
		return openTest(t, redis.Options{})
	})
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := ticketview.ErrorCode(err); got != code {
		t.Fatalf("%s: %v (code %q), want code %q", what, err, got, code)
	}
}

// The keys are where the package comment says, under the prefix, with their TTL; the
// deltas go out on the documented channel as JSON.
func TestKeyLayout(t *testing.T) {
	t.Parallel()
	prefix := redistest.Prefix(t)
	c := openTest(t, redis.Options{Prefix: prefix})
	r := raw(t)
	ctx := testCtx(t)
	id := storetest.NewSectionID()
	a := storetest.SampleAvailability(id, 9, 2, 5)
	if err := c.PutAvailability(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := c.PutSnapshot(ctx, id, storetest.SampleSnapshot(9, 10)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Incr(ctx, "ip:10.0.0.1", 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	tag := "{" + id.Event + "/" + id.Section + "}"
	want := []string{prefix + "av:" + tag + ":layout", prefix + "av:" + tag + ":meta", prefix + "av:" + tag + ":seats",
		prefix + "rate:ip:10.0.0.1", prefix + "snap:" + tag}
	keys, err := r.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %q, want %q", keys, want)
	}
	for _, k := range want {
		ttl := r.PTTL(ctx, k).Val()
		limit, floor := 24*time.Hour, 24*time.Hour-time.Minute
		if k == prefix+"rate:ip:10.0.0.1" {
			limit, floor = time.Minute, 50*time.Second
		}
		if ttl > limit || ttl < floor {
			t.Fatalf("%s: TTL %s, want in [%s, %s]", k, ttl, floor, limit)
		}
	}
	meta := r.HGetAll(ctx, prefix+"av:"+tag+":meta").Val()
	if meta["seq"] != "9" || meta["nseats"] != "10" {
		t.Fatalf("meta %v", meta)
	}
	var counts struct {
		Free       int `json:"free"`
		Categories []ticketview.CategoryAvailability
	}
	if err := json.Unmarshal([]byte(meta["counts"]), &counts); err != nil || counts.Free != a.Free || !reflect.DeepEqual(counts.Categories, a.Categories) {
		t.Fatalf("counts %s (%v), want free %d", meta["counts"], err, a.Free)
	}
	seats := r.HGetAll(ctx, prefix+"av:"+tag+":seats").Val()
	if len(seats) != len(a.Seats) {
		t.Fatalf("%d seat statuses, want %d", len(seats), len(a.Seats))
	}
	for _, s := range a.Seats {
		if seats[s.Label] != fmt.Sprint(int(s.Status)) {
			t.Fatalf("seat %s: status %q, want %d", s.Label, seats[s.Label], s.Status)
		}
	}

	sub := r.Subscribe(ctx, prefix+"deltas:"+id.Event)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	d := storetest.SampleDelta(id.Event, id.Section, 10)
	c.PublishDelta(d)
	msg, err := sub.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got ticketview.SeatDelta
	if err := json.Unmarshal([]byte(msg.Payload), &got); err != nil || !reflect.DeepEqual(got, d) {
		t.Fatalf("published %s (%v), want %+v", msg.Payload, err, d)
	}
	testutil.CheckFor(t, 5*time.Second, func() error {
		if n := c.DeltasPublished(); n != 1 || c.DeltasDropped() != 0 {
			return fmt.Errorf("published %d, dropped %d; want 1, 0", n, c.DeltasDropped())
		}
		return nil
	})
}

// Views expire after the TTL since their last write; a delta refreshes it.
func TestViewTTL(t *testing.T) {
	t.Parallel()
	const ttl = 3 * time.Second
	c := openTest(t, redis.Options{TTL: ttl})
	r := raw(t)
	ctx := testCtx(t)
	id := storetest.NewSectionID()
	a := storetest.SampleAvailability(id, 1, 2, 4)
	if err := c.PutAvailability(ctx, a); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if stale, err := c.ApplyDeltas(ctx, []ticketview.SeatDelta{storetest.SeatChange(&a, 2, 1, ticketview.SeatHeld, "A-1")}); err != nil || len(stale) != 0 {
		t.Fatalf("ApplyDeltas: stale %v, %v", stale, err)
	}
	tag := "{" + id.Event + "/" + id.Section + "}"
	for _, k := range []string{"meta", "seats", "layout"} {
		// Without the refresh, at most 2 s would be left.
		if left := r.PTTL(ctx, c.Prefix()+"av:"+tag+":"+k).Val(); left < ttl-500*time.Millisecond || left > ttl {
			t.Fatalf("%s: TTL %s after a delta, want about %s", k, left, ttl)
		}
	}

	short := openTest(t, redis.Options{TTL: 300 * time.Millisecond})
	id2 := storetest.NewSectionID()
	b := storetest.SampleAvailability(id2, 1, 1, 4)
	if err := short.PutAvailability(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := short.PutSnapshot(ctx, id2, storetest.SampleSnapshot(1, 4)); err != nil {
		t.Fatal(err)
	}
	testutil.CheckFor(t, 5*time.Second, func() error {
		_, err1 := short.CachedAvailability(ctx, id2, false)
		_, err2 := short.CachedSnapshot(ctx, id2)
		if ticketview.ErrorCode(err1) != ticketview.ENOTFOUND || ticketview.ErrorCode(err2) != ticketview.ENOTFOUND {
			return fmt.Errorf("view: %v, snapshot: %v", err1, err2)
		}
		return nil
	})
	stale, err := short.ApplyDeltas(ctx, []ticketview.SeatDelta{storetest.SeatChange(&b, 2, 1, ticketview.SeatHeld, "A-1")})
	if err != nil || !slices.Equal(stale, []ticketview.SectionID{id2}) {
		t.Fatalf("after expiry: stale %v, %v; want [%s]", stale, err, id2)
	}
}

// A view that lost a key (evicted under memory pressure) is never served half: with
// seats it is ENOTFOUND, and the next delta reports it stale and drops the rest.
func TestEvictedKeyMakesViewStale(t *testing.T) {
	t.Parallel()
	c := openTest(t, redis.Options{})
	r := raw(t)
	ctx := testCtx(t)
	for _, lost := range []string{"seats", "layout"} {
		id := storetest.NewSectionID()
		a := storetest.SampleAvailability(id, 4, 2, 4)
		if err := c.PutAvailability(ctx, a); err != nil {
			t.Fatal(err)
		}
		base := c.Prefix() + "av:{" + id.Event + "/" + id.Section + "}:"
		r.Del(ctx, base+lost)
		_, err := c.CachedAvailability(ctx, id, true)
		wantCode(t, "with seats after losing "+lost, err, ticketview.ENOTFOUND)
		if got, err := c.CachedAvailability(ctx, id, false); err != nil || got.Free != a.Free || got.Seq != 4 {
			t.Fatalf("counts after losing %s: %+v, %v", lost, got, err)
		}
		stale, err := c.ApplyDeltas(ctx, []ticketview.SeatDelta{storetest.SeatChange(&a, 5, 4, ticketview.SeatHeld, "A-1")})
		if err != nil || !slices.Equal(stale, []ticketview.SectionID{id}) {
			t.Fatalf("delta after losing %s: stale %v, %v", lost, stale, err)
		}
		if n := r.Exists(ctx, base+"meta", base+"seats", base+"layout").Val(); n != 0 {
			t.Fatalf("%d keys left of a stale view", n)
		}
	}
	// One seat status lost: the count no longer matches.
	id := storetest.NewSectionID()
	a := storetest.SampleAvailability(id, 4, 2, 4)
	if err := c.PutAvailability(ctx, a); err != nil {
		t.Fatal(err)
	}
	r.HDel(ctx, c.Prefix()+"av:{"+id.Event+"/"+id.Section+"}:seats", "B-2")
	_, err := c.CachedAvailability(ctx, id, true)
	wantCode(t, "with a seat status lost", err, ticketview.ENOTFOUND)
}

// After a Redis restart (or SCRIPT FLUSH) the scripts are gone; every call loads them
// again by itself, pipelined ones included.
func TestScriptsReloaded(t *testing.T) {
	t.Parallel()
	c := openTest(t, redis.Options{})
	redis.SetScriptNonce(c, fmt.Sprintf("test %d", time.Now().UnixNano()))
	r := raw(t)
	ctx := testCtx(t)
	hashes := redis.ScriptHashes(c)
	if ex := r.ScriptExists(ctx, hashes...).Val(); slices.Contains(ex, true) {
		t.Fatalf("scripts known before use: %v", ex)
	}
	id := storetest.NewSectionID()
	a := storetest.SampleAvailability(id, 1, 1, 4)
	if err := c.PutAvailability(ctx, a); err != nil {
		t.Fatal(err)
	}
	d := storetest.SeatChange(&a, 2, 1, ticketview.SeatSold, "A-2")
	if stale, err := c.ApplyDeltas(ctx, []ticketview.SeatDelta{d}); err != nil || len(stale) != 0 {
		t.Fatalf("ApplyDeltas: stale %v, %v", stale, err)
	}
	if err := c.PutSnapshot(ctx, id, storetest.SampleSnapshot(2, 4)); err != nil {
		t.Fatal(err)
	}
	if v, _, err := c.Incr(ctx, "k", 3, time.Minute); err != nil || v != 3 {
		t.Fatalf("Incr: %d, %v", v, err)
	}
	got, err := c.CachedAvailability(ctx, id, true)
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("after reloads: %+v, %v; want %+v", got, err, a)
	}
	if ex := r.ScriptExists(ctx, hashes...).Val(); slices.Contains(ex, false) {
		t.Fatalf("scripts not loaded after use: %v", ex)
	}
}

// A foreign value where the cache expects its own is an internal error, not "unavailable"
// (retrying would not help).
func TestWrongTypeIsInternal(t *testing.T) {
	t.Parallel()
	c := openTest(t, redis.Options{})
	r := raw(t)
	ctx := testCtx(t)
	id := storetest.NewSectionID()
	r.Set(ctx, c.Prefix()+"av:{"+id.Event+"/"+id.Section+"}:meta", "junk", time.Minute)
	_, err := c.CachedAvailability(ctx, id, false)
	wantCode(t, "reading a string as a view", err, ticketview.EINTERNAL)
	var rerr goredis.Error
	if !errors.As(err, &rerr) {
		t.Fatalf("error %v does not unwrap to the Redis error", err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	_, err := redis.Open(testCtx(t), "http://nowhere", redis.Options{})
	wantCode(t, "Open with a bad url", err, ticketview.EINVALID)
}

// A subscriber that does not read keeps the oldest deltas that fit its queue, and counts
// the rest as lagged; nobody waits for it.
func TestSlowSubscriberLags(t *testing.T) {
	t.Parallel()
	c := openTest(t, redis.Options{SubscriptionBuffer: 4})
	ctx := testCtx(t)
	ev := storetest.NewSectionID().Event
	ds, err := c.SubscribeDeltas(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	sub := ds.(*redis.Subscription)
	for i := uint64(1); i <= 100; i++ {
		c.PublishDelta(storetest.SampleDelta(ev, "A", i))
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		if got := sub.Lagged() + uint64(len(sub.C())); got != 100 {
			return fmt.Errorf("%d of 100 deltas received (%d lagged)", got, sub.Lagged())
		}
		return nil
	})
	if sub.Lagged() != 96 {
		t.Fatalf("lagged %d, want 96", sub.Lagged())
	}
	for want := uint64(1); want <= 4; want++ {
		if d := <-sub.C(); d.Seq != want {
			t.Fatalf("kept delta %d, want %d", d.Seq, want)
		}
	}
}
