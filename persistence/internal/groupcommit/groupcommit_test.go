package groupcommit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type req struct {
	Request
	id    int
	block chan struct{} // if set, apply waits on it after taking the request
	taken chan struct{} // if set, closed by apply once it took the request
}

var errClosed = errors.New("closed")

// recorder is a store's apply: it takes the requests, records their ids in order and
// the size of each batch, and answers them.
type recorder struct {
	mu      sync.Mutex
	applied []int
	batches []int
}

func (rc *recorder) apply(reqs []*req) int {
	live := Take(nil, reqs)
	rc.mu.Lock()
	for _, r := range live {
		rc.applied = append(rc.applied, r.id)
	}
	rc.batches = append(rc.batches, len(live))
	rc.mu.Unlock()
	for _, r := range live {
		if r.taken != nil {
			close(r.taken)
		}
		if r.block != nil {
			<-r.block
		}
	}
	for _, r := range live {
		r.Answer()
	}
	return len(live)
}

func (rc *recorder) ids() []int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]int(nil), rc.applied...)
}

func start(t *testing.T, cfg Config) (*Queue[*req], *recorder) {
	t.Helper()
	if cfg.Size == 0 {
		cfg.Size = 64
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 16
	}
	if cfg.Closed == nil {
		cfg.Closed = errClosed
	}
	q := New[*req](cfg)
	rc := &recorder{}
	go q.Run(rc.apply)
	t.Cleanup(func() {
		select {
		case <-q.quit: // the test closed it
		default:
			q.Close()
		}
	})
	return q, rc
}

// block submits a request that holds the committer inside apply until release is called.
func block(t *testing.T, q *Queue[*req]) (release func() error) {
	t.Helper()
	b := &req{id: -1, block: make(chan struct{}), taken: make(chan struct{})}
	if err := q.Submit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.taken:
	case <-time.After(10 * time.Second):
		t.Fatal("the committer did not take the blocking request")
	}
	var once sync.Once
	release = func() error {
		once.Do(func() { close(b.block) })
		return q.Await(context.Background(), b)
	}
	t.Cleanup(func() { release() }) // before the queue's Close, even if the test failed
	return release
}

func waitLen(t *testing.T, q *Queue[*req], n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for q.Len() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", q.Len(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestAppliedInQueueOrder(t *testing.T) {
	q, rc := start(t, Config{MaxBatch: 7}) // several batches
	release := block(t, q)
	const n = 50
	reqs := make([]*req, n)
	for i := range reqs {
		reqs[i] = &req{id: i}
		if err := q.Submit(context.Background(), reqs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		if err := q.Await(context.Background(), r); err != nil {
			t.Fatalf("request %d: %v", r.id, err)
		}
	}
	got := rc.ids()
	if len(got) != n+1 {
		t.Fatalf("applied %d requests, want %d", len(got), n+1)
	}
	for i, id := range got[1:] {
		if id != i {
			t.Fatalf("applied in order %v, want queue order", got)
		}
	}
}

func TestCancelWithdrawsQueuedRequest(t *testing.T) {
	q, rc := start(t, Config{})
	release := block(t, q)
	ctx, cancel := context.WithCancel(context.Background())
	r := &req{id: 1}
	if err := q.Submit(ctx, r); err != nil {
		t.Fatal(err)
	}
	after := &req{id: 2}
	if err := q.Submit(context.Background(), after); err != nil {
		t.Fatal(err)
	}
	cancel()
	done := make(chan error, 1)
	go func() { done <- q.Await(ctx, r) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled queued request: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled caller kept waiting behind a busy committer")
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if err := q.Await(context.Background(), after); err != nil {
		t.Fatal(err)
	}
	for _, id := range rc.ids() {
		if id == 1 {
			t.Fatalf("the withdrawn request was applied: %v", rc.ids())
		}
	}
}

func TestCancelAfterTakenReportsOutcome(t *testing.T) {
	q, _ := start(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	r := &req{id: 1, block: make(chan struct{}), taken: make(chan struct{})}
	if err := q.Submit(ctx, r); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release := func() { once.Do(func() { close(r.block) }) }
	t.Cleanup(release) // before the queue's Close, even if the test failed
	<-r.taken
	cancel()
	done := make(chan error, 1)
	go func() { done <- q.Await(ctx, r) }()
	select {
	case err := <-done:
		t.Fatalf("Await returned %v before the commit", err)
	case <-time.After(20 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("taken request: %v, want its outcome (nil)", err)
	}
}

func TestCloseFailsQueuedRequests(t *testing.T) {
	for range 20 { // the committer must never prefer queued requests to Close
		testCloseFailsQueuedRequests(t)
	}
}

func testCloseFailsQueuedRequests(t *testing.T) {
	q, rc := start(t, Config{})
	release := block(t, q)
	reqs := make([]*req, 5)
	for i := range reqs {
		reqs[i] = &req{id: i}
		if err := q.Submit(context.Background(), reqs[i]); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan struct{})
	go func() { q.Close(); close(closed) }()
	<-q.quit
	if err := release(); err != nil {
		t.Fatalf("the request taken before Close: %v", err)
	}
	<-closed
	for _, r := range reqs {
		if err := q.Await(context.Background(), r); !errors.Is(err, errClosed) {
			t.Fatalf("request %d queued at Close: %v, want the closed error", r.id, err)
		}
	}
	if got := rc.ids(); len(got) != 1 {
		t.Fatalf("applied %v after Close, want only the blocking request", got)
	}
	if err := q.Do(context.Background(), &req{id: 9}); !errors.Is(err, errClosed) {
		t.Fatalf("request after Close: %v, want the closed error", err)
	}
}

// TestLoneWriterNeverWaits: with a commit delay that would last for hours, a lone writer's
// requests are still committed one by one at once.
func TestLoneWriterNeverWaits(t *testing.T) {
	q, rc := start(t, Config{GatherMin: 8, GatherQuiet: time.Hour, GatherMax: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 100 {
		if err := q.Do(ctx, &req{id: i}); err != nil {
			t.Fatalf("request %d: %v (did the committer wait for more?)", i, err)
		}
	}
	if got := len(rc.ids()); got != 100 {
		t.Fatalf("applied %d requests, want 100", got)
	}
}

// TestGatherWaitsForAnsweredCallers: after a commit answered GatherMin or more callers,
// the committer waits for them to come back, so the next batches stay full.
func TestGatherWaitsForAnsweredCallers(t *testing.T) {
	const writers, rounds = 16, 5
	q, rc := start(t, Config{MaxBatch: writers, GatherMin: 8, GatherQuiet: 10 * time.Second, GatherMax: 10 * time.Second})
	release := block(t, q)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				if err := q.Do(ctx, &req{id: w*rounds + i}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	waitLen(t, q, writers)
	if err := release(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	want := []int{1}
	for range rounds {
		want = append(want, writers)
	}
	if len(rc.batches) != len(want) {
		t.Fatalf("batches %v, want %v", rc.batches, want)
	}
	for i := range want {
		if rc.batches[i] != want[i] {
			t.Fatalf("batches %v, want %v", rc.batches, want)
		}
	}
}
