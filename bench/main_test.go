package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/ticketview/ticketview/bench/baseline"
	"github.com/ticketview/ticketview/bench/load"
	"github.com/ticketview/ticketview/bench/report"
	"github.com/ticketview/ticketview/internal/cli"
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
// killed and restarted before its check; then the same scenarios in-process ("-direct":
// the engine and the stores called without HTTP, closed and reopened before the check).
// Every check must pass and the report must hold the twelve results with their
// comparisons.
func TestHarnessEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/node and runs three servers")
	}
	pg := cli.EnvOr("TICKETVIEW_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
	rd := cli.EnvOr("TICKETVIEW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
	o := options{
		targets: []string{"ticketview", "postgres", "redis"}, scenarios: []string{"flash-sale", "best-available"},
		profile: "constant", rate: 300, peak: 300, duration: 4 * time.Second, baDuration: 2 * time.Second,
		sections: 2, rows: 6, perRow: 10, gaCapacity: 60, mix: "pick=50,best=35,ga=15", buy: 0.8,
		thinkMax: 20 * time.Millisecond, maxBuyers: 64, retries: 2, watchers: 5,
		out: t.TempDir(), journal: "file", postgres: pg, redis: rd, restart: true, quiet: true, direct: true,
	}
	suffix := randomHex(4)
	bcfg := baseline.Config{PostgresURL: pg, RedisURL: rd, Schema: "bench_harness_test_" + suffix, Prefix: "bench-harness-test-" + suffix + ":", Conns: 8}
	t.Cleanup(func() { dropBaselines(t, bcfg) })
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	run, err := benchmark(ctx, o, bcfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Results) != 12 {
		t.Fatalf("%d results, want 3 targets x 2 scenarios x (HTTP, in-process)", len(run.Results))
	}
	for _, r := range run.Results {
		direct := strings.HasSuffix(r.Scenario.Name, directSuffix)
		if want := map[bool]string{false: "http", true: transportInProcess}[direct]; r.Scenario.Transport != want {
			t.Errorf("%s/%s: transport %q, want %q", r.Target, r.Scenario.Name, r.Scenario.Transport, want)
		}
		if direct && r.Watchers != nil {
			t.Errorf("%s/%s: watchers in-process: %+v", r.Target, r.Scenario.Name, r.Watchers)
		}
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
		// The CPU accounting (Linux): every request counted; over HTTP the target's own
		// process used CPU, in-process there is none apart from the harness. (A process's
		// time includes what the hypervisor stole while it ran; the machine's busy time
		// does not.)
		if u := r.CPU; runtime.GOOS == "linux" && (u == nil || u.Requests != r.Requests() || u.Harness <= 0 || u.Busy+u.Steal+0.05 < u.Harness ||
			direct != (u.Target == 0)) {
			t.Errorf("%s/%s: CPU %+v for %d requests", r.Target, r.Scenario.Name, u, r.Requests())
		}
		if r.Target == "ticketview" && r.Scenario.Name == "flash-sale" && (r.Watchers == nil || r.Watchers.Connected != 5 || r.Watchers.Messages == 0) {
			t.Errorf("ticketview watchers: %+v", r.Watchers)
		}
	}
	var compared []string
	for _, c := range run.Compared {
		compared = append(compared, c.Scenario+"/"+c.Baseline)
	}
	slices.Sort(compared)
	if want := []string{"best-available-direct/postgres", "best-available-direct/redis", "best-available/postgres", "best-available/redis",
		"flash-sale-direct/postgres", "flash-sale-direct/redis", "flash-sale/postgres", "flash-sale/redis"}; !slices.Equal(compared, want) {
		t.Errorf("comparisons %v, want %v", compared, want)
	}
	for _, c := range run.Compared {
		// The load generator's ceiling over HTTP (Linux), none in-process.
		if direct := strings.HasSuffix(c.Scenario, directSuffix); runtime.GOOS == "linux" && direct != (c.Ceiling == 0) {
			t.Errorf("%s/%s: ceiling %v", c.Scenario, c.Baseline, c.Ceiling)
		}
	}
	if len(run.Targets) != 6 || run.Machine.CPUs == 0 {
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
	if err := json.Unmarshal(b, &back); err != nil || len(back.Results) != 12 {
		t.Fatalf("results.json: %v, %d results", err, len(back.Results))
	}
	if len(files) < 10 {
		t.Errorf("report files: %v", files)
	}
}

// dropBaselines removes what the baselines of cfg left: the schemas of the child
// processes and of the in-process stores, and their Redis keys.
func dropBaselines(t *testing.T, cfg baseline.Config) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, cfg.PostgresURL)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer conn.Close(ctx)
	for _, kind := range baseline.Kinds() {
		bt := &baseTarget{kind: kind, cfg: cfg}
		for _, schema := range []string{cfg.Schema + "_" + kind, bt.directConfig().Schema} {
			if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	direct := (&baseTarget{kind: baseline.KindRedis, cfg: cfg}).directConfig().Prefix
	for _, prefix := range []string{cfg.Prefix, direct} {
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			if err := rdb.Del(ctx, iter.Val()).Err(); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		if err := iter.Err(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
}

// TestScenariosOf: every scenario over HTTP, then the in-process variants (all of them
// with -direct, else those asked for by name), each once.
func TestScenariosOf(t *testing.T) {
	base := options{profile: "constant", rate: 10, peak: 10, duration: time.Second, baDuration: time.Second,
		sections: 1, rows: 2, perRow: 2, gaCapacity: 4, mix: "pick=1", buy: 0.5}
	for _, tc := range []struct {
		asked  []string
		direct bool
		want   []string
	}{
		{[]string{"flash-sale", "best-available"}, true, []string{"flash-sale", "best-available", "flash-sale-direct", "best-available-direct"}},
		{[]string{"flash-sale", "best-available"}, false, []string{"flash-sale", "best-available"}},
		{[]string{"best-available-direct", "flash-sale"}, false, []string{"flash-sale", "best-available-direct"}},
		{[]string{"flash-sale-direct", "flash-sale", "flash-sale-direct"}, true, []string{"flash-sale", "flash-sale-direct"}},
	} {
		o := base
		o.scenarios, o.direct = tc.asked, tc.direct
		scs, err := scenariosOf(o)
		if err != nil {
			t.Fatalf("%v: %v", tc.asked, err)
		}
		var got []string
		for _, sc := range scs {
			got = append(got, sc.name)
			direct := strings.HasSuffix(sc.name, directSuffix)
			if sc.direct != direct || sc.config.Scenario != sc.name || (sc.config.Transport == transportInProcess) != direct {
				t.Errorf("%v: scenario %s: direct %v, config %q over %q", tc.asked, sc.name, sc.direct, sc.config.Scenario, sc.config.Transport)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v (direct %v): %v, want %v", tc.asked, tc.direct, got, tc.want)
		}
	}
	for _, bad := range []string{"nope", "nope-direct", "flash-sale-direct-direct"} {
		o := base
		o.scenarios = []string{bad}
		if _, err := scenariosOf(o); err == nil {
			t.Errorf("scenario %q accepted", bad)
		}
	}
}

// TestStoreStatus: the in-process baselines answer with the codes of their HTTP handler.
func TestStoreStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("%w: seat A-1 is taken", baseline.ErrConflict), http.StatusConflict},
		{fmt.Errorf("%w: no section", baseline.ErrNotFound), http.StatusNotFound},
		{fmt.Errorf("%w: bad quantity", baseline.ErrInvalid), http.StatusBadRequest},
		{context.DeadlineExceeded, http.StatusInternalServerError},
		{errors.New("connection reset"), http.StatusInternalServerError},
	} {
		if st := storeStatus(tc.err); st.Code != tc.code || st.Err == nil {
			t.Errorf("storeStatus(%v) = %+v, want %d", tc.err, st, tc.code)
		}
	}
}
