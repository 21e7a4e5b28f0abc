package main

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice, in 1/100 s.
	b := []byte("cpu  1000 20 300 5000 100 10 40 30 0 0\ncpu0 500 10 150 2500 50 5 20 15 0 0\nintr 1\n")
	busy, idle, steal, ok := parseProcStat(b)
	if !ok || !approx(busy, 13.7) || !approx(idle, 51) || !approx(steal, 0.3) {
		t.Fatalf("parseProcStat = %v, %v, %v, %v; want busy 13.7 s (user+nice+system+irq+softirq), idle 51 s (idle+iowait), steal 0.3 s", busy, idle, steal, ok)
	}
	for _, bad := range []string{"", "intr 1 2 3\n", "cpu 1 2 3\n", "cpu 1 2 3 x 5 6 7 8 9\n"} {
		if _, _, _, ok := parseProcStat([]byte(bad)); ok {
			t.Errorf("parseProcStat(%q) is ok", bad)
		}
	}
}

func TestParsePidStat(t *testing.T) {
	// A command name with spaces and a ')' of its own: fields count from the last ')'.
	b := []byte("4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 100 1000 50\n")
	cpu, ok := parsePidStat(b)
	if !ok || !approx(cpu, 3.25) {
		t.Fatalf("parsePidStat = %v, %v; want 3.25 s (utime 250 + stime 75 ticks)", cpu, ok)
	}
	for _, bad := range []string{"", "4242 no parens", "4242 (p) S 1 2 3", "4242 (p) S 1 4242 4242 0 -1 4194560 100 0 0 0 x 75"} {
		if _, ok := parsePidStat([]byte(bad)); ok {
			t.Errorf("parsePidStat(%q) is ok", bad)
		}
	}
}

// TestSampleCPU reads this machine's /proc: a busy loop in this process shows up as this
// process's CPU time and as the machine's busy time; Other is what is left.
func TestSampleCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	a := sampleCPU([]int{os.Getpid()})
	if !a.ok {
		t.Fatal("sampleCPU on Linux is not ok")
	}
	var b cpuSample
	x := 0
	for b = sampleCPU([]int{os.Getpid()}); b.self-a.self < 0.05; b = sampleCPU([]int{os.Getpid()}) {
		for i := range 1_000_000 {
			x += i
		}
	}
	_ = x
	u := cpuUse(a, b, 10)
	if u == nil || u.Harness < 0.05 || !approxTo(u.Target, u.Harness, 0.02) || u.Busy < u.Harness-0.02 || u.Wall <= 0 || u.Requests != 10 {
		t.Fatalf("cpuUse = %+v; want the harness's busy loop (≥ 0.05 s) counted for the harness, the target (the same pid) and the machine", u)
	}
	if u.Other < 0 {
		t.Fatalf("Other = %v < 0", u.Other)
	}
	if cpuUse(cpuSample{}, b, 1) != nil || cpuUse(a, cpuSample{at: time.Now()}, 1) != nil {
		t.Fatal("cpuUse of a failed sample is not nil")
	}
}

func approx(a, b float64) bool { return approxTo(a, b, 1e-9) }

func approxTo(a, b, d float64) bool { return a-b <= d && b-a <= d }
