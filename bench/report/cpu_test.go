package report

import (
	"strings"
	"testing"

	"github.com/ticketview/ticketview/bench/load"
)

// TestCeiling: the ceiling is the baseline's machine-wide CPU per hold over the load
// generator's CPU per hold in TicketView's run; without CPU data there is none, and the
// report leaves its column out.
func TestCeiling(t *testing.T) {
	run := testRun()
	// ticketview flash-sale: 80,000 holds; the harness spent 4 s on them (50 µs a hold).
	run.Results[0].CPU = &load.CPUUse{Wall: 10, Busy: 19, Idle: 1, Harness: 4, Target: 9, Other: 6, Requests: 100000}
	// redis flash-sale: 20,000 holds for 18 CPU-seconds (900 µs a hold): ceiling 18×.
	run.Results[2].CPU = &load.CPUUse{Wall: 10, Busy: 18, Idle: 2, Harness: 5, Target: 6, Other: 7, Requests: 60000}
	got := Compare(run.Results)
	var redis, pg load.Ratio
	for _, r := range got {
		switch {
		case r.Scenario == "flash-sale" && r.Baseline == "redis":
			redis = r
		case r.Scenario == "flash-sale" && r.Baseline == "postgres":
			pg = r
		}
	}
	if !near(redis.Ceiling, 18) {
		t.Fatalf("redis ceiling = %v, want 18", redis.Ceiling)
	}
	if pg.Ceiling != 0 {
		t.Fatalf("postgres (no CPU data) ceiling = %v, want 0", pg.Ceiling)
	}
	// A TicketView run without holds has no ceiling (no division by zero).
	run.Results[0].Holds = 0
	for _, r := range Compare(run.Results) {
		if r.Ceiling != 0 {
			t.Fatalf("ceiling %v without TicketView holds", r.Ceiling)
		}
	}

	// In-process the harness runs the target too: no ceiling.
	run.Results[0].Holds = 80000
	run.Results[0].Scenario.Transport = "in-process"
	for _, r := range Compare(run.Results) {
		if r.Ceiling != 0 {
			t.Fatalf("ceiling %v in-process", r.Ceiling)
		}
	}

	run = testRun()
	run.Results[0].CPU = &load.CPUUse{Wall: 10, Busy: 19, Idle: 1, Harness: 4, Target: 9, Other: 6, Requests: 100000}
	run.Results[2].CPU = &load.CPUUse{Wall: 10, Busy: 18, Idle: 2, Harness: 5, Target: 6, Other: 7, Requests: 60000}
	md := Markdown(run)
	for _, want := range []string{
		"| baseline | throughput ratio | p99 ratio | oversold | ceiling set by the load generator |",
		"| redis | 3.6× |",
		"| 18× |",
		"### CPU per request",
		// 4 s over 100,000 requests is 40 µs; 19 s is 190 µs; 95% busy; 19 s / 80,000 holds.
		"| ticketview | 100,000 | 95% | 0% | 40 | 90 | 60 | 190 | 238 |",
		"| redis | 60,000 | 90% | 0% | 83.3 | 100 | 117 | 300 | 900 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if c := Console(run); !strings.Contains(c, "vs redis: throughput 3.6×, p99 0.25×, oversold 2 (ceiling set by the load generator: 18×)") {
		t.Errorf("Console lacks the ceiling:\n%s", c)
	}
	// best-available has no CPU data: neither the column nor the table.
	ba := md[strings.Index(md, "## Scenario best-available"):]
	if strings.Contains(ba, "ceiling set by") || strings.Contains(ba, "### CPU per request") {
		t.Error("best-available shows CPU data it does not have")
	}
}

func TestCPUUse(t *testing.T) {
	var u *load.CPUUse
	if u.PerRequest(1) != 0 || u.Utilization() != 0 {
		t.Fatal("a nil CPUUse is not zero")
	}
	u = &load.CPUUse{Busy: 3, Idle: 0.5, Steal: 0.5, Requests: 1000}
	if !near(u.PerRequest(0.5), 500) || !near(u.Utilization(), 0.75) || !near(u.Stolen(), 0.125) {
		t.Fatalf("PerRequest(0.5) = %v, Utilization = %v, Stolen = %v; want 500, 0.75, 0.125", u.PerRequest(0.5), u.Utilization(), u.Stolen())
	}
	if (&load.CPUUse{Busy: 1}).PerRequest(1) != 0 {
		t.Fatal("PerRequest without requests is not 0")
	}
}

func TestNoisy(t *testing.T) {
	run := testRun()
	if ws := Noisy(run); len(ws) != 0 {
		t.Fatalf("Noisy without CPU data = %v", ws)
	}
	run.Results[1].CPU = &load.CPUUse{Busy: 10, Idle: 5, Steal: 5, Requests: 10}     // 25% stolen
	run.Results[2].CPU = &load.CPUUse{Busy: 19, Idle: 0.5, Steal: 0.5, Requests: 10} // 2.5%: fine
	ws := Noisy(run)
	if len(ws) != 1 || ws[0] != "flash-sale / postgres: 25% of the CPU time stolen" {
		t.Fatalf("Noisy = %q", ws)
	}
	if md := Markdown(run); !strings.Contains(md, "## Noisy runs") || !strings.Contains(md, "- flash-sale / postgres: 25% of the CPU time stolen") {
		t.Error("the markdown does not warn of the noisy run")
	}
	if c := Console(run); !strings.Contains(c, "⚠ flash-sale / postgres: 25% of the CPU time stolen") {
		t.Errorf("the console does not warn of the noisy run:\n%s", c)
	}
}
