// Package redistest gives each test its own key prefix on the test Redis, so tests run in
// parallel against one real server, and deletes the test's keys when it ends.
//
// The server is TICKETVIEW_TEST_REDIS_URL, by default redis://127.0.0.1:6379/0 (what
// `make test` ensures is running).
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultURL is the test server when TICKETVIEW_TEST_REDIS_URL is not set.
const DefaultURL = "redis://127.0.0.1:6379/0"

// ServerURL is the test server's address.
func ServerURL() string {
	if u := os.Getenv("TICKETVIEW_TEST_REDIS_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Prefix checks that the server answers and returns a fresh key prefix ("t:<hex>:") whose
// keys are deleted when the test ends.
func Prefix(t testing.TB) string {
	t.Helper()
	opt, err := redis.ParseURL(ServerURL())
	if err != nil {
		t.Fatalf("TICKETVIEW_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		t.Fatalf("Redis at %s is not reachable (%v): start it, or set TICKETVIEW_TEST_REDIS_URL; `make test` starts it", opt.Addr, err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	prefix := "t:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		for len(keys) > 0 {
			n := min(len(keys), 500)
			c.Del(ctx, keys[:n]...)
			keys = keys[n:]
		}
	})
	return prefix
}
