package cluster

import (
	"testing"
	"time"
)

func TestRateMeterOverTheLastTenSeconds(t *testing.T) {
	var r RateMeter
	t0 := time.Unix(1000, 0)
	if got := r.Rate(t0, 0); got != 0 {
		t.Fatalf("first sample: %v", got)
	}
	if got := r.Rate(t0.Add(time.Second), 100); got != 100 {
		t.Fatalf("100 in 1 s: %v", got)
	}
	if got := r.Rate(t0.Add(1500*time.Millisecond), 250); got != 250/1.5 {
		t.Fatalf("250 in 1.5 s: %v", got)
	}
	// 20 s at 10/s: the window forgets the first burst.
	n := int64(250)
	var got float64
	for i := 2; i <= 22; i++ {
		n += 10
		got = r.Rate(t0.Add(time.Duration(i)*time.Second), n)
	}
	if got != 10 {
		t.Fatalf("rate after 20 s at 10/s = %v; want 10 (the window is ~10 s)", got)
	}
}
