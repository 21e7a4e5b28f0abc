package abuse_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api/abuse"
	"github.com/ticketview/ticketview/inmem"
	"github.com/ticketview/ticketview/internal/testutil/redistest"
	"github.com/ticketview/ticketview/persistence/redis"
)

// backend is a RateCounter implementation under test.
type backend struct {
	name string
	// open returns two counters over the same state, as two gateways have: the same
	// in-process counter, or two Redis clients with the same key prefix.
	open func(t testing.TB) (a, b ticketview.RateCounter)
}

func backends() []backend {
	return []backend{
		{"inmem", func(testing.TB) (ticketview.RateCounter, ticketview.RateCounter) {
			c := inmem.NewRateCounter()
			return c, c
		}},
		{"redis", func(t testing.TB) (ticketview.RateCounter, ticketview.RateCounter) {
			prefix := redistest.Prefix(t)
			return openRedis(t, redistest.ServerURL(), prefix), openRedis(t, redistest.ServerURL(), prefix)
		}},
	}
}

// forEachBackend runs f as a parallel subtest per backend.
func forEachBackend(t *testing.T, f func(t *testing.T, bk backend)) {
	t.Helper()
	for _, bk := range backends() {
		t.Run(bk.name, func(t *testing.T) {
			t.Parallel()
			f(t, bk)
		})
	}
}

func openRedis(t testing.TB, url, prefix string) *redis.Client {
	t.Helper()
	c, err := redis.Open(context.Background(), url, redis.Options{Prefix: prefix})
	if err != nil {
		t.Fatalf("redis.Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// downCounter is a Redis counter on a port where nothing listens: every call fails
// with EUNAVAILABLE.
func downCounter(t testing.TB) ticketview.RateCounter {
	return openRedis(t, "redis://127.0.0.1:1/0", "down:")
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// wantCode fails the test unless err carries the ticketview error code.
func wantCode(t testing.TB, what string, err error, code string) {
	t.Helper()
	if got := ticketview.ErrorCode(err); got != code {
		t.Fatalf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

// wantChallenge fails the test unless err is a *ChallengeError with a usable proof of
// work, and returns it.
func wantChallenge(t testing.TB, what string, err error) *abuse.ChallengeError {
	t.Helper()
	var ce *abuse.ChallengeError
	if !errors.As(err, &ce) {
		t.Fatalf("%s: %v, want a *ChallengeError", what, err)
	}
	wantCode(t, what, err, ticketview.ECAPTCHA)
	if !errors.Is(err, &ticketview.Error{Code: ticketview.ECAPTCHA}) || ce.Err == nil || ce.Err.Code != ticketview.ECAPTCHA {
		t.Fatalf("%s: %#v does not unwrap to an ECAPTCHA error", what, ce)
	}
	if ce.Challenge.Kind != abuse.KindProofOfWork || ce.Challenge.Token == "" || ce.Challenge.Difficulty < 1 {
		t.Fatalf("%s: challenge %+v, want a proof of work", what, ce.Challenge)
	}
	if !strings.Contains(err.Error(), ticketview.ECAPTCHA) {
		t.Fatalf("%s: message %q does not name the code", what, err.Error())
	}
	return ce
}

// clock is a fake clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeCounter is an in-process counter on the fake clock.
func fakeCounter(c *clock) *inmem.RateCounter {
	r := inmem.NewRateCounter()
	r.Now = c.Now
	return r
}

// secret is the proof-of-work secret of the tests.
var secret = []byte("0123456789abcdef-test-secret")
