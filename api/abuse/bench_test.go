package abuse_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/ticketview/ticketview/api/abuse"
)

// BenchmarkLimiterAllow measures one Allow (one counter round trip when allowed) on
// each counter, over 1,000 keys that are never refused.
func BenchmarkLimiterAllow(b *testing.B) {
	for _, bk := range backends() {
		b.Run(bk.name, func(b *testing.B) {
			c, _ := bk.open(b)
			l := abuse.NewLimiter(c, "bench:")
			ctx := testCtx(b)
			keys := make([]string, 1000)
			for i := range keys {
				keys[i] = "user:" + strconv.Itoa(i)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				d, err := l.Allow(ctx, keys[i%len(keys)], 1<<40, time.Minute)
				if err != nil || !d.Allowed {
					b.Fatalf("%+v, %v", d, err)
				}
				i++
			}
		})
	}
}

// BenchmarkLimiterAcquire measures taking and releasing an in-flight slot (three
// counter calls to take, one to release).
func BenchmarkLimiterAcquire(b *testing.B) {
	for _, bk := range backends() {
		b.Run(bk.name, func(b *testing.B) {
			c, _ := bk.open(b)
			l := abuse.NewLimiter(c, "bench:")
			ctx := testCtx(b)
			b.ReportAllocs()
			for b.Loop() {
				release, d, err := l.Acquire(ctx, "inflight", 1<<20, time.Minute)
				if err != nil || !d.Allowed {
					b.Fatalf("%+v, %v", d, err)
				}
				release()
			}
		})
	}
}
