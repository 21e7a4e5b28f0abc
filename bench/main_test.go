package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ticketview/ticketview/bench/baseline"
	"github.com/ticketview/ticketview/bench/load"
	"github.com/ticketview/ticketview/bench/report"
)

// TestMain lets the test binary serve a baseline as the harness's child process does
// (the harness starts os.Executable() with -serve-baseline).
func TestMain(m *testing.M) {
	for i, a := range os.Args {
		if a == "-serve-baseline" && i+1 < len(os.Args) {
			main()
			os.Exit(0)
		}
	}
	os.Exit(m.Run())
}

// TestHarnessEndToEnd runs the harness as make bench does, much smaller: TicketView (the
// real cmd/node) and both baselines, a constant flash sale that sells out, each target
// killed and restarted before its check. Every check must pass and the report must hold
// the three results with their comparisons.
func TestHarnessEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/node and runs three servers")
	}
	pg := envOr("TICKETVIEW_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
	rd := envOr("TICKETVIEW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
	o := options{
		targets: []string{"ticketview", "postgres", "redis"}, scenarios: []string{"flash-sale", "best-available"},
		profile: "constant", rate: 300, peak: 300, duration: 4 * time.Second, baDuration: 2 * time.Second,
		sections: 2, rows: 6, perRow: 10, gaCapacity: 60, mix: "pick=50,best=35,ga=15", buy: 0.8,
		thinkMax: 20 * time.Millisecond, maxBuyers: 64, retries: 2, watchers: 5,
		out: t.TempDir(), journal: "file", postgres: pg, redis: rd, restart: true, quiet: true,
	}
	bcfg := baseline.Config{PostgresURL: pg, RedisURL: rd, Schema: "bench_harness_test", Prefix: "bench-harness-test:", Conns: 8}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	run, err := benchmark(ctx, o, bcfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Results) != 6 {
		t.Fatalf("%d results, want 3 targets x 2 scenarios", len(run.Results))
	}
	for _, r := range run.Results {
		if !r.Check.OK() || !r.Check.Restarted {
			t.Errorf("%s/%s: check %+v", r.Target, r.Scenario.Name, r.Check)
		}
		if r.Holds == 0 || r.Sales == 0 || r.Errors != 0 {
			t.Errorf("%s/%s: %d holds, %d sales, %d errors %v", r.Target, r.Scenario.Name, r.Holds, r.Sales, r.Errors, r.ErrorSample)
		}
		// 300 buyers/s for 4 s against 180 places: every target sells out.
		if r.SellOut == 0 || r.SoldPlaces != r.Scenario.Places {
			t.Errorf("%s/%s: sold %d of %d places, sell-out %.1fs", r.Target, r.Scenario.Name, r.SoldPlaces, r.Scenario.Places, r.SellOut)
		}
		if r.Target == "ticketview" && r.Scenario.Name == "flash-sale" && (r.Watchers == nil || r.Watchers.Connected != 5 || r.Watchers.Messages == 0) {
			t.Errorf("ticketview watchers: %+v", r.Watchers)
		}
	}
	if len(run.Compared) != 4 {
		t.Errorf("%d comparisons, want 2 baselines x 2 scenarios: %+v", len(run.Compared), run.Compared)
	}
	if len(run.Targets) != 3 || run.Machine.CPUs == 0 {
		t.Errorf("targets %+v, machine %+v", run.Targets, run.Machine)
	}
	// The report as main writes it.
	files, err := report.Write(o.out, run)
	if err != nil {
		t.Fatal(err)
	}
	var back load.Run
	b, err := os.ReadFile(filepath.Join(o.out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &back); err != nil || len(back.Results) != 6 {
		t.Fatalf("results.json: %v, %d results", err, len(back.Results))
	}
	if len(files) < 10 {
		t.Errorf("report files: %v", files)
	}
}
