package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/internal/testutil"
	"github.com/ticketview/ticketview/pipeline"
)

const wait = 20 * time.Second // deadline of the polls

// numbered returns n messages of topic, keyed round-robin by keys, valued "key/i" with i
// the message's number (from 0) among all.
func numbered(topic string, keys []string, from, n int) []ticketview.Message {
	out := make([]ticketview.Message, n)
	for i := range n {
		k := keys[(from+i)%len(keys)]
		out[i] = ticketview.Message{Topic: topic, Key: k, Value: fmt.Appendf(nil, "%s/%d", k, from+i)}
	}
	return out
}

func values(msgs []ticketview.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Value)
	}
	return out
}

// run runs fn in the background until the returned stop is called (or the test ends);
// stop waits for fn to return and fails the test on its error.
func run(t *testing.T, fn func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("returned %v", err)
				}
			case <-time.After(wait):
				t.Errorf("did not return within %s of its context's end", wait)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// waitLen polls until the log holds n messages.
func waitLen(t *testing.T, l *pipeline.MemoryLog, n int) {
	t.Helper()
	testutil.CheckFor(t, wait, func() error {
		if got := len(l.Messages()); got != n {
			return fmt.Errorf("the log holds %d messages, want %d", got, n)
		}
		return nil
	})
}

// TestRelayInOrder: the relay publishes everything in the order written, in batches,
// marks it published, and reads the outbox at once when woken.
func TestRelayInOrder(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	out := &pipeline.MemoryOutbox{}
	want := numbered("t", []string{"a", "b", "c"}, 0, 1234)
	if err := out.AppendMessages(ctx, want); err != nil {
		t.Fatal(err)
	}
	log := pipeline.NewMemoryLog()
	r := pipeline.NewRelay(pipeline.RelayConfig{Outbox: out, Sink: log, Batch: 100, Idle: time.Hour})
	run(t, r.Run)
	waitLen(t, log, 1234)
	if pending, published := out.Counts(); pending != 0 || published != 1234 {
		t.Errorf("outbox: %d pending, %d published; want 0, 1234", pending, published)
	}
	// Idle is an hour: only Wake can make the relay read again in time.
	more := numbered("t", []string{"a"}, 1234, 10)
	if err := out.AppendMessages(ctx, more); err != nil {
		t.Fatal(err)
	}
	r.Wake()
	waitLen(t, log, 1244)
	if got := values(log.Messages()); !slices.Equal(got, values(append(want, more...))) {
		t.Fatalf("published out of order: %v...", got[:10])
	}
	if relayed, errs := r.Stats(); relayed != 1244 || errs != 0 {
		t.Errorf("Stats = %d, %d; want 1244, 0", relayed, errs)
	}
}

// flakySink fails while failing is set, then publishes to its log.
type flakySink struct {
	*pipeline.MemoryLog
	failing atomic.Bool
	calls   atomic.Int64
}

func (s *flakySink) Publish(ctx context.Context, msgs []ticketview.Message) error {
	s.calls.Add(1)
	if s.failing.Load() {
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "sink down")
	}
	return s.MemoryLog.Publish(ctx, msgs)
}

// flakyOutbox fails MarkPublished while failMarks is positive, counting down.
type flakyOutbox struct {
	*pipeline.MemoryOutbox
	failMarks atomic.Int64
}

func (o *flakyOutbox) MarkPublished(ctx context.Context, offsets []int64) error {
	if o.failMarks.Add(-1) >= 0 {
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "outbox down")
	}
	return o.MemoryOutbox.MarkPublished(ctx, offsets)
}

// TestRelayRetries: while the sink fails, the relay retries and publishes nothing
// further; afterwards everything is there once, in order. A batch whose marking failed
// is marked again, not published again.
func TestRelayRetries(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	out := &flakyOutbox{MemoryOutbox: &pipeline.MemoryOutbox{}}
	sink := &flakySink{MemoryLog: pipeline.NewMemoryLog()}
	sink.failing.Store(true)
	first := numbered("t", []string{"a", "b"}, 0, 50)
	if err := out.AppendMessages(ctx, first); err != nil {
		t.Fatal(err)
	}
	r := pipeline.NewRelay(pipeline.RelayConfig{Outbox: out, Sink: sink, Batch: 20, Idle: 10 * time.Millisecond})
	run(t, r.Run)
	testutil.CheckFor(t, wait, func() error {
		if _, errs := r.Stats(); errs < 3 {
			return fmt.Errorf("%d errors so far", errs)
		}
		return nil
	})
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("%d messages in the sink while it fails", n)
	}
	if calls := sink.calls.Load(); calls < 3 {
		t.Fatalf("%d publish attempts", calls)
	}
	out.failMarks.Store(2)
	sink.failing.Store(false)
	waitLen(t, sink.MemoryLog, 50)
	second := numbered("t", []string{"a", "b"}, 50, 30)
	if err := out.AppendMessages(ctx, second); err != nil {
		t.Fatal(err)
	}
	waitLen(t, sink.MemoryLog, 80)
	if got := values(sink.Messages()); !slices.Equal(got, values(append(first, second...))) {
		t.Fatalf("the sink holds %v", got)
	}
	testutil.CheckFor(t, wait, func() error {
		if pending, published := out.Counts(); pending != 0 || published != 80 {
			return fmt.Errorf("outbox: %d pending, %d published", pending, published)
		}
		return nil
	})
}

// memLock is a Locker over a lock shared in memory by its holders.
type memLock struct {
	shared *sharedLock
}

type sharedLock struct {
	mu    sync.Mutex
	owner *memLock
}

func (l *memLock) TryLock(ctx context.Context) (bool, error) {
	l.shared.mu.Lock()
	defer l.shared.mu.Unlock()
	if l.shared.owner == nil {
		l.shared.owner = l
	}
	return l.shared.owner == l, nil
}

func (l *memLock) Unlock(ctx context.Context) error {
	l.shared.mu.Lock()
	defer l.shared.mu.Unlock()
	if l.shared.owner == l {
		l.shared.owner = nil
	}
	return nil
}

func (l *memLock) held() bool {
	l.shared.mu.Lock()
	defer l.shared.mu.Unlock()
	return l.shared.owner == l
}

// exclusiveSink counts the publishes of each relay and how many run at once.
type exclusiveSink struct {
	log    *pipeline.MemoryLog
	active *atomic.Int32
	most   *atomic.Int32
	n      atomic.Int64
}

func (s *exclusiveSink) Publish(ctx context.Context, msgs []ticketview.Message) error {
	a := s.active.Add(1)
	defer s.active.Add(-1)
	for {
		m := s.most.Load()
		if a <= m || s.most.CompareAndSwap(m, a) {
			break
		}
	}
	s.n.Add(int64(len(msgs)))
	return s.log.Publish(ctx, msgs)
}

// TestRelayLock: of two relays sharing a lock, only the holder publishes; when it stops,
// it releases the lock and the other takes over, and nothing is published twice.
func TestRelayLock(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	out := &pipeline.MemoryOutbox{}
	log := pipeline.NewMemoryLog()
	var active, most atomic.Int32
	shared := &sharedLock{}
	locks := []*memLock{{shared}, {shared}}
	sinks := []*exclusiveSink{{log: log, active: &active, most: &most}, {log: log, active: &active, most: &most}}
	relays := make([]*pipeline.Relay, 2)
	stops := make([]func(), 2)
	for i := range relays {
		relays[i] = pipeline.NewRelay(pipeline.RelayConfig{Outbox: out, Sink: sinks[i], Lock: locks[i],
			Batch: 7, Idle: 5 * time.Millisecond, LockRetry: 20 * time.Millisecond})
		stops[i] = run(t, relays[i].Run)
	}
	var all []ticketview.Message
	appendMsgs := func(n int) {
		msgs := numbered("t", []string{"a", "b", "c"}, len(all), n)
		all = append(all, msgs...)
		if err := out.AppendMessages(ctx, msgs); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		appendMsgs(20)
		waitLen(t, log, len(all))
	}
	holder := 0
	if locks[1].held() {
		holder = 1
	}
	other := 1 - holder
	if !locks[holder].held() {
		t.Fatal("no relay holds the lock")
	}
	if n := sinks[other].n.Load(); n != 0 {
		t.Fatalf("the relay without the lock published %d messages", n)
	}
	stops[holder]()
	if locks[holder].held() {
		t.Fatal("the stopped relay kept the lock")
	}
	appendMsgs(30)
	waitLen(t, log, len(all))
	if n := sinks[other].n.Load(); n != 30 {
		t.Errorf("the relay that took over published %d messages, want 30", n)
	}
	if got := values(log.Messages()); !slices.Equal(got, values(all)) {
		t.Errorf("published %v", got)
	}
	if m := most.Load(); m != 1 {
		t.Errorf("%d relays published at once", m)
	}
}

// recorder is a handler that records the messages it is given; fail decides whether a
// call fails (calls: of this offset, this one included).
type recorder struct {
	mu    sync.Mutex
	got   []ticketview.Message
	calls map[int64]int
	fail  func(m ticketview.Message, calls int) error
}

func (r *recorder) handle(ctx context.Context, m ticketview.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, m)
	if r.calls == nil {
		r.calls = map[int64]int{}
	}
	r.calls[m.Offset]++
	if r.fail != nil {
		return r.fail(m, r.calls[m.Offset])
	}
	return nil
}

func (r *recorder) messages() []ticketview.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *recorder) values() []string { return values(r.messages()) }

func (r *recorder) waitCount(t *testing.T, n int) {
	t.Helper()
	testutil.CheckFor(t, wait, func() error {
		if got := len(r.values()); got < n {
			return fmt.Errorf("%d messages handled, want %d", got, n)
		}
		return nil
	})
}

// TestLogSource: a LogSource (over a MemoryLog's MessageLog side) delivers the group's
// topics in order, retries a failed message before any after it, commits what was
// handled, and a restarted consumer of the group resumes after the commit with the
// message that had not been handled.
func TestLogSource(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	log := pipeline.NewMemoryLog()
	msgs := numbered("t", []string{"k"}, 0, 8)
	msgs = slices.Insert(msgs, 3, ticketview.Message{Topic: "other", Key: "k", Value: []byte("not mine")})
	if err := log.Publish(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	src := &pipeline.LogSource{Log: log, Poll: 5 * time.Millisecond}

	cutoff := make(chan struct{})
	first := &recorder{fail: func(m ticketview.Message, calls int) error {
		switch string(m.Value) {
		case "k/1":
			if calls <= 2 {
				return errors.New("not yet")
			}
		case "k/5":
			select {
			case <-cutoff:
			default:
				close(cutoff)
			}
			return errors.New("down")
		}
		return nil
	}}
	stop := run(t, func(ctx context.Context) error { return src.Consume(ctx, "g", []string{"t"}, first.handle) })
	<-cutoff
	stop()
	want := []string{"k/0", "k/1", "k/1", "k/1", "k/2", "k/3", "k/4", "k/5"}
	if got := first.values(); !slices.Equal(got[:len(want)], want) {
		t.Fatalf("first consumer handled %v, want %v then k/5 again", got, want)
	}
	if off, err := log.GroupOffset(ctx, "g"); err != nil || off != 6 { // k/4 is the 6th message
		t.Fatalf("committed offset %d, %v; want 6", off, err)
	}

	second := &recorder{}
	run(t, func(ctx context.Context) error { return src.Consume(ctx, "g", []string{"t"}, second.handle) })
	second.waitCount(t, 3)
	if err := log.Publish(ctx, numbered("t", []string{"k"}, 8, 2)); err != nil {
		t.Fatal(err)
	}
	second.waitCount(t, 5)
	if got, want := second.values(), []string{"k/5", "k/6", "k/7", "k/8", "k/9"}; !slices.Equal(got, want) {
		t.Fatalf("second consumer handled %v, want %v", got, want)
	}
}

// TestLogSourceWake: a caught-up group with a long poll interval reads new messages at
// once when woken.
func TestLogSourceWake(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	log := pipeline.NewMemoryLog()
	src := &pipeline.LogSource{Log: log, Poll: time.Hour}
	r := &recorder{}
	run(t, func(ctx context.Context) error { return src.Consume(ctx, "g", []string{"t"}, r.handle) })
	// The first read may come before or after the publish: wake until handled.
	if err := log.Publish(ctx, numbered("t", []string{"k"}, 0, 1)); err != nil {
		t.Fatal(err)
	}
	testutil.CheckFor(t, wait, func() error {
		src.Wake()
		if len(r.values()) == 0 {
			return errors.New("not handled yet")
		}
		return nil
	})
}

// TestMemoryLogGroups: groups of a MemoryLog are independent, each gets every message in
// order, and consumers waiting for messages get those published later.
func TestMemoryLogGroups(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	log := pipeline.NewMemoryLog()
	all := numbered("t", []string{"a", "b"}, 0, 10)
	if err := log.Publish(ctx, all[:5]); err != nil {
		t.Fatal(err)
	}
	g1, g2 := &recorder{}, &recorder{}
	run(t, func(ctx context.Context) error { return log.Consume(ctx, "g1", []string{"t"}, g1.handle) })
	g1.waitCount(t, 5)
	run(t, func(ctx context.Context) error { return log.Consume(ctx, "g2", []string{"t"}, g2.handle) })
	if err := log.Publish(ctx, all[5:]); err != nil {
		t.Fatal(err)
	}
	g1.waitCount(t, 10)
	g2.waitCount(t, 10)
	for name, r := range map[string]*recorder{"g1": g1, "g2": g2} {
		if got := r.values(); !slices.Equal(got, values(all)) {
			t.Errorf("%s handled %v", name, got)
		}
	}
	testutil.CheckFor(t, wait, func() error {
		for _, g := range []string{"g1", "g2"} {
			if off, err := log.GroupOffset(ctx, g); err != nil || off != 10 {
				return fmt.Errorf("group %s: offset %d, %v; want 10", g, off, err)
			}
		}
		return nil
	})
}

// TestBadInput: missing parts and messages without a topic are EINVALID.
func TestBadInput(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	log := pipeline.NewMemoryLog()
	h := func(context.Context, ticketview.Message) error { return nil }
	for name, err := range map[string]error{
		"relay without sink":      pipeline.NewRelay(pipeline.RelayConfig{Outbox: &pipeline.MemoryOutbox{}}).Run(ctx),
		"relay without outbox":    pipeline.NewRelay(pipeline.RelayConfig{Sink: log}).Run(ctx),
		"log source without log":  (&pipeline.LogSource{}).Consume(ctx, "g", []string{"t"}, h),
		"consume without group":   log.Consume(ctx, "", []string{"t"}, h),
		"consume without topics":  (&pipeline.LogSource{Log: log}).Consume(ctx, "g", nil, h),
		"consume without handler": log.Consume(ctx, "g", []string{"t"}, nil),
		"publish without topic":   log.Publish(ctx, []ticketview.Message{{Key: "k"}}),
		"append without topic":    (&pipeline.MemoryOutbox{}).AppendMessages(ctx, []ticketview.Message{{Key: "k"}}),
		"commit without group":    log.CommitGroupOffset(ctx, "", 1),
	} {
		if ticketview.ErrorCode(err) != ticketview.EINVALID {
			t.Errorf("%s: %v, want EINVALID", name, err)
		}
	}
}

// TestLogSourceConcurrency: a group named in Concurrency has a batch's messages handled
// at once (more than one in the handler at a time); a failure sends the batch on one
// message at a time from the failed one, handling again those after it, and in the end
// every message is handled and the offset of the last is committed. Other groups keep
// their order.
func TestLogSourceConcurrency(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	log := pipeline.NewMemoryLog()
	const n = 40
	msgs := numbered("t", []string{"k"}, 0, n)
	if err := log.Publish(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	src := &pipeline.LogSource{Log: log, Poll: 5 * time.Millisecond, Batch: n, Concurrency: map[string]int{"fast": 8}}

	var mu sync.Mutex
	in, most := 0, 0
	release := make(chan struct{})
	r := &recorder{}
	handle := func(ctx context.Context, m ticketview.Message) error {
		mu.Lock()
		in++
		most = max(most, in)
		if most >= 2 {
			select {
			case <-release:
			default:
				close(release)
			}
		}
		mu.Unlock()
		// Stay in the handler until a second message is in one too (or a while passed,
		// for the sequential group): shows that handlers overlap.
		select {
		case <-release:
		case <-time.After(50 * time.Millisecond):
		}
		mu.Lock()
		in--
		mu.Unlock()
		return r.handle(ctx, m)
	}
	r.fail = func(m ticketview.Message, calls int) error {
		if string(m.Value) == "k/10" && calls == 1 {
			return errors.New("not yet")
		}
		return nil
	}
	run(t, func(ctx context.Context) error { return src.Consume(ctx, "fast", []string{"t"}, handle) })
	testutil.CheckFor(t, wait, func() error {
		if off, err := log.GroupOffset(ctx, "fast"); err != nil || off != n { // offsets count from 1
			return fmt.Errorf("committed offset %d, %v", off, err)
		}
		return nil
	})
	mu.Lock()
	overlap := most
	mu.Unlock()
	if overlap < 2 {
		t.Fatalf("at most %d message in the handler at once, want several", overlap)
	}
	r.mu.Lock()
	calls := maps.Clone(r.calls)
	r.mu.Unlock()
	for i := int64(1); i <= n; i++ {
		if calls[i] == 0 {
			t.Fatalf("offset %d never handled (calls %v)", i, calls)
		}
	}
	if calls[11] < 2 { // k/10 is the 11th message: failed once, handled again
		t.Fatalf("the failed message was handled %d times, want 2", calls[11])
	}

	// A group not named handles one message at a time, in order.
	seq := &recorder{}
	var seqIn, seqMost int
	var seqMu sync.Mutex
	run(t, func(ctx context.Context) error {
		return src.Consume(ctx, "ordered", []string{"t"}, func(ctx context.Context, m ticketview.Message) error {
			seqMu.Lock()
			seqIn++
			seqMost = max(seqMost, seqIn)
			seqMu.Unlock()
			defer func() { seqMu.Lock(); seqIn--; seqMu.Unlock() }()
			return seq.handle(ctx, m)
		})
	})
	seq.waitCount(t, n)
	if got := seq.values(); !slices.Equal(got, values(msgs)) {
		t.Fatalf("ordered group handled %v, want %v", got, values(msgs))
	}
	seqMu.Lock()
	defer seqMu.Unlock()
	if seqMost != 1 {
		t.Fatalf("ordered group had %d messages in the handler at once", seqMost)
	}
}
