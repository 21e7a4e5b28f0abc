package report

import (
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketview/ticketview/bench/load"
)

var bounds = []float64{0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}

// op is an OpStats with a histogram centred around p50.
func op(kind load.Op, n int, p50, p99 float64) load.OpStats {
	counts := make([]int, len(bounds)+1)
	left := n
	for i, b := range bounds {
		if b >= p50 && left > 0 {
			c := left * 9 / 10
			if c == 0 {
				c = left
			}
			counts[i] += c
			left -= c
		}
	}
	counts[len(bounds)] += left
	return load.OpStats{
		Op: kind, Count: n, OK: n * 9 / 10, Conflicts: n / 10,
		P50: p50, P95: p99 * 0.8, P99: p99, P999: p99 * 1.5, Max: p99 * 3, Mean: p50 * 1.2,
		Bounds: slices.Clone(bounds), Counts: counts,
	}
}

// seconds is a 10-second timeline at about holds/s, with second 4 without holds (a gap
// in the latency lines) and a p50 of 0 in second 6.
func secondsOf(holds int, p50, p99 float64) []load.Second {
	var tl []load.Second
	for t := range 10 {
		s := load.Second{T: t, Arrivals: holds / 2, Holds: holds * (t + 5) / 10, Sales: holds / 3, HoldP50: p50, HoldP99: p99 * float64(1+t%3), InFlight: 10}
		if t == 4 {
			s.Holds, s.HoldP50, s.HoldP99 = 0, 0, 0
		}
		if t == 6 {
			s.HoldP50 = 0
		}
		tl = append(tl, s)
	}
	return tl
}

func result(scenario, target string, perSec, peak, p99 float64) load.Result {
	return load.Result{
		Target: target,
		Scenario: load.Scenario{
			Name: scenario, Profile: "constant", Rate: 500, Duration: 10 * time.Second, MaxBuyers: 2000,
			Places: 5000, Sections: 4, Mix: "pick=50,best=35,ga=15", BuyRatio: 0.7, Think: "0-500ms",
			Checkout: "confirm", Transport: "http", TTLSeconds: 60,
		},
		Started:     time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Elapsed:     10,
		Arrived:     5000,
		Dropped:     3,
		Holds:       int(perSec * 10),
		HeldPlaces:  int(perSec * 20),
		Sales:       1234,
		SoldPlaces:  2468,
		HoldsPerSec: perSec,
		PeakHolds:   peak,
		SalesPerSec: 123.4,
		SellOut:     8.25,
		Conflicts:   4321,
		Errors:      7,
		ErrorSample: []string{"hold: 500 internal | boom"},
		Ops: []load.OpStats{
			op(load.OpPick, 6000, p99/8, p99*0.8),
			op(load.OpBest, 4000, p99/5, p99),
			op(load.OpRelease, 2000, 0.4, 2),
			op(load.OpConfirm, 1500, 1.5, 9),
		},
		Timeline: secondsOf(int(perSec), p99/5, p99),
		Check:    load.Check{Done: true},
	}
}

// testRun has two scenarios and three targets; redis oversells in flash-sale.
func testRun() load.Run {
	tvFlash := result("flash-sale", "ticketview", 8000, 9000, 5)
	// 0.05% of the holds, with a huge p99: too few to count in the hold p99.
	tvFlash.Ops = append(tvFlash.Ops, op(load.OpGA, 5, 100, 500))
	tvFlash.Watchers = &load.WatchStats{Connected: 1000, Failed: 2, Messages: 123456, Dropped: 1}
	pg := result("flash-sale", "postgres", 800, 1000, 40)
	pg.Ops[2].Counts = pg.Ops[2].Counts[:3] // a malformed histogram: skipped in the plot
	redis := result("flash-sale", "redis", 2000, 2500, 20)
	redis.Check.SoldTwice = 2
	redis.Check.Details = []string{"seat A-1 of floor sold in bookings b1 and b2", "seat A-2 of floor sold in bookings b3 and b4"}

	baTV := result("best-available", "ticketview", 40000, 50000, 2)
	baPG := result("best-available", "postgres", 300, 400, 300)
	baRedis := result("best-available", "redis", 2800, 3000, 15)
	return load.Run{
		Started: time.Date(2026, 3, 1, 11, 59, 0, 0, time.UTC),
		Machine: load.Machine{OS: "linux", Arch: "amd64", CPUs: 2, CPUModel: "Test CPU @ 2GHz", MemoryGiB: 7.5,
			Go: "go1.26.8", Postgres: "PostgreSQL 17.2", Redis: "7.4.1", Load: "0.52 0.40 0.31", Note: "synthetic"},
		Command: "go run ./bench -scenarios flash-sale,best-available",
		Results: []load.Result{tvFlash, pg, redis, baTV, baPG, baRedis},
		Targets: []load.TargetDoc{
			{Name: "ticketview", Design: "actor per section", Durability: "journal fsync"},
			{Name: "postgres", Design: "SELECT ... FOR UPDATE", Durability: "WAL fsync"},
			{Name: "redis", Design: "SET NX locks", Durability: "AOF everysec"},
		},
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestHoldUsesKindsWithOnePercent(t *testing.T) {
	r := testRun().Results[0]
	h, ok := Hold(r)
	if !ok || h.Requests != 10005 {
		t.Fatalf("Hold = %+v, %v; want 10005 requests", h, ok)
	}
	// hold_best's p99 (5) is the largest among pick and best; hold_ga (500) has too few.
	if h.P99 != 5 || h.P50 != 1 || h.P999 != 7.5 {
		t.Fatalf("Hold = %+v; want p50 1, p99 5, p99.9 7.5", h)
	}
	if _, ok := Hold(load.Result{}); ok {
		t.Fatal("Hold of a result without ops is ok")
	}
}

func TestCompare(t *testing.T) {
	got := Compare(testRun().Results)
	want := []load.Ratio{
		{Scenario: "flash-sale", Baseline: "postgres", Throughput: 9, P99: 5.0 / 40, TicketViewP99: 5, BaselineP99: 40},
		{Scenario: "flash-sale", Baseline: "redis", Throughput: 3.6, P99: 0.25, TicketViewP99: 5, BaselineP99: 20, Oversold: 2},
		{Scenario: "best-available", Baseline: "postgres", Throughput: 125, P99: 2.0 / 300, TicketViewP99: 2, BaselineP99: 300},
		{Scenario: "best-available", Baseline: "redis", Throughput: 50000.0 / 3000, P99: 2.0 / 15, TicketViewP99: 2, BaselineP99: 15},
	}
	if len(got) != len(want) {
		t.Fatalf("Compare = %+v; want %d ratios", got, len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Scenario != w.Scenario || g.Baseline != w.Baseline || !near(g.Throughput, w.Throughput) || !near(g.P99, w.P99) ||
			g.TicketViewP99 != w.TicketViewP99 || g.BaselineP99 != w.BaselineP99 || g.Oversold != w.Oversold || g.TVOversold != w.TVOversold {
			t.Errorf("ratio %d = %+v; want %+v", i, g, w)
		}
	}
}

func TestCompareMissingData(t *testing.T) {
	run := testRun()
	// No ticketview in best-available: no ratios there. A ticketview-cluster is ours, not a baseline.
	res := []load.Result{run.Results[0], run.Results[1], result("flash-sale", "ticketview-cluster", 1, 2, 3), run.Results[4]}
	res[1].PeakHolds = 0
	res[1].Ops = nil
	res[0].Check.OverCapacity = 1
	got := Compare(res)
	if len(got) != 1 {
		t.Fatalf("Compare = %+v; want one ratio (flash-sale vs postgres)", got)
	}
	if g := got[0]; g.Baseline != "postgres" || g.Throughput != 0 || g.P99 != 0 || g.BaselineP99 != 0 || g.TicketViewP99 != 5 || g.TVOversold != 1 {
		t.Fatalf("ratio = %+v; want undefined throughput and p99, TicketView oversold 1", g)
	}
	if Compare(nil) != nil {
		t.Fatal("Compare(nil) is not empty")
	}
}

func goalsByName(t *testing.T, gs []Goal) map[string]Goal {
	t.Helper()
	m := map[string]Goal{}
	for _, g := range gs {
		if _, dup := m[g.Name]; dup {
			t.Fatalf("goal %q twice", g.Name)
		}
		if g.Measured == "" {
			t.Errorf("goal %q has no measure", g.Name)
		}
		m[g.Name] = g
	}
	return m
}

func TestGoals(t *testing.T) {
	run := testRun()
	m := goalsByName(t, Goals(run))
	want := map[string]bool{
		"flash-sale: peak holds/s ≥ 3× the best baseline's":     true, // 3.6× redis
		"flash-sale: hold p99 ≤ 1/3 of the best baseline's":     true, // 5 vs 20 ms
		"best-available: peak holds/s ≥ 3× the best baseline's": true,
		"best-available: hold p99 ≤ 1/3 of the best baseline's": true,
		"best-available: peak holds/s ≥ 100× postgres's":        true, // 125×
		"flash-sale / ticketview: zero oversold":                true,
		"flash-sale / postgres: zero oversold":                  true,
		"flash-sale / redis: zero oversold":                     false, // sold twice 2
		"best-available / ticketview: zero oversold":            true,
		"best-available / postgres: zero oversold":              true,
		"best-available / redis: zero oversold":                 true,
	}
	if len(m) != len(want) {
		t.Fatalf("goals = %+v; want %d", m, len(want))
	}
	for name, met := range want {
		g, ok := m[name]
		if !ok {
			t.Errorf("no goal %q in %+v", name, m)
			continue
		}
		if g.Met != met {
			t.Errorf("goal %q met = %v (%s); want %v", name, g.Met, g.Measured, met)
		}
	}
	if g := m["flash-sale: peak holds/s ≥ 3× the best baseline's"]; !strings.Contains(g.Measured, "3.6×") || !strings.Contains(g.Measured, "redis") {
		t.Errorf("measured %q; want 3.6× against redis", g.Measured)
	}

	// Just under the goals: 2.8× the best baseline, 5 ms against its 12 ms, 99×.
	run.Results[0].PeakHolds = 7000
	for i := range run.Results[2].Ops {
		if run.Results[2].Ops[i].Op.IsHold() {
			run.Results[2].Ops[i].P99 = 12
		}
	}
	run.Results[3].PeakHolds = 39600
	run.Results[3].Check.Done = false
	m = goalsByName(t, Goals(run))
	for _, name := range []string{
		"flash-sale: peak holds/s ≥ 3× the best baseline's",
		"flash-sale: hold p99 ≤ 1/3 of the best baseline's",
		"best-available: peak holds/s ≥ 100× postgres's",
		"best-available / ticketview: zero oversold",
	} {
		if g := m[name]; g.Met {
			t.Errorf("goal %q met (%s); want not met", name, g.Measured)
		}
	}
	if g := m["best-available / ticketview: zero oversold"]; !strings.Contains(g.Measured, "not done") {
		t.Errorf("measured %q; want the check not done", g.Measured)
	}
	if g := m["best-available: peak holds/s ≥ 3× the best baseline's"]; !g.Met {
		t.Errorf("best-available 3× not met: %s", g.Measured)
	}

	// Run.Compared, when filled, is what the goals use.
	run = testRun()
	run.Compared = []load.Ratio{{Scenario: "best-available", Baseline: "postgres", Throughput: 99.5, P99: 0.1}}
	m = goalsByName(t, Goals(run))
	if g := m["best-available: peak holds/s ≥ 100× postgres's"]; g.Met || !strings.Contains(g.Measured, "99.5×") {
		t.Errorf("goal with Compared = %+v; want not met at 99.5×", g)
	}
}

func TestGoalsMissingData(t *testing.T) {
	run := testRun()
	run.Results = run.Results[:3] // no best-available
	run.Results[2].PeakHolds = 0  // redis: no throughput
	m := goalsByName(t, Goals(run))
	g := m["best-available: peak holds/s ≥ 100× postgres's"]
	if g.Met || !strings.Contains(g.Measured, "best-available") {
		t.Errorf("best-available goal = %+v; want not met, saying the scenario is missing", g)
	}
	g = m["flash-sale: peak holds/s ≥ 3× the best baseline's"]
	if g.Met || !strings.Contains(g.Measured, "redis") {
		t.Errorf("3× goal = %+v; want not met for lack of redis's throughput", g)
	}

	for _, g := range Goals(load.Run{}) {
		if g.Met {
			t.Errorf("goal %+v met on an empty run", g)
		}
		if g.Measured == "" {
			t.Errorf("goal %q on an empty run says nothing", g.Name)
		}
	}
}

func TestWrite(t *testing.T) {
	run := testRun()
	dir := filepath.Join(t.TempDir(), "out")
	paths, err := Write(dir, run)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}

	want := []string{"results.json", "summary.md"}
	for _, sc := range []string{"flash-sale", "best-available"} {
		for _, tg := range []string{"ticketview", "postgres", "redis"} {
			for _, kind := range []string{"latency", "throughput", "histogram"} {
				want = append(want, sc+"-"+tg+"-"+kind+".png")
			}
		}
		want = append(want, sc+"-compare-throughput.png", sc+"-compare-p99.png")
	}
	var got []string
	for _, p := range paths {
		if filepath.Dir(p) != dir {
			t.Errorf("path %s is not in %s", p, dir)
		}
		got = append(got, filepath.Base(p))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, e := range entries {
		onDisk = append(onDisk, e.Name())
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) || !slices.Equal(onDisk, want) {
		t.Fatalf("written %v, on disk %v; want %v", got, onDisk, want)
	}

	for _, name := range want {
		if !strings.HasSuffix(name, ".png") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() <= 100 || b.Dy() <= 100 {
			t.Errorf("%s is %v", name, b)
		}
	}

	js, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back load.Run
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if !reflect.DeepEqual(back, run) {
		t.Fatalf("results.json does not round-trip:\n%+v\nwant\n%+v", back, run)
	}
	if !strings.Contains(string(js), "\n  \"machine\"") {
		t.Error("results.json is not indented")
	}

	md, err := os.ReadFile(filepath.Join(dir, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	if string(md) != Markdown(run) {
		t.Error("summary.md is not Markdown(run)")
	}
	for _, s := range []string{
		"# TicketView flash-sale benchmark, 2026-03-01 11:59:00 Z",
		"| CPU model | Test CPU @ 2GHz |", "| memory | 7.5 GiB |", "| PostgreSQL | PostgreSQL 17.2 |", "| load average before the run | 0.52 0.40 0.31 |",
		"go run ./bench -scenarios flash-sale,best-available",
		"| redis | SET NX locks | AOF everysec |",
		"## Scenario flash-sale", "## Scenario best-available",
		// target | holds/s | peak | sales/s | sell-out | p50/p95/p99/p99.9 | conflicts | errors | dropped | invariants
		"| ticketview | 8,000 | 9,000 | 123 | 8.25 | 1 | 4 | 5 | 7.5 | 4,321 | 7 | 3 | ok |",
		"| postgres | 800 | 1,000 | 123 | 8.25 | 8 | 32 | 40 | 60 | 4,321 | 7 | 3 | ok |",
		"| redis | 2,000 | 2,500 | 123 | 8.25 | 4 | 16 | 20 | 30 | 4,321 | 7 | 3 | ✘ sold twice 2 |",
		"| ticketview | 40,000 | 50,000 |",
		"| postgres | 9× | 0.125× (5 vs 40 ms) | 0 |",
		"| redis | 3.6× | 0.25× (5 vs 20 ms) | ✘ 2 |",
		"| postgres | 125× | 0.00667× (2 vs 300 ms) | 0 |",
		"| hold_best | 4,000 | 3,600 | 400 | 0 | 1 | 4 | 5 | 7.5 | 15 |",
		"| hold_ga | 5 | 4 | 0 | 0 | 100 | 400 | 500 | 750 | 1,500 |",
		"| ticketview | 1,000 | 2 | 123,456 | 1 |",
		"seat A-1 of floor sold in bookings b1 and b2",
		"  - `hold: 500 internal | boom`",
		"![flash-sale / ticketview: hold latency over time](flash-sale-ticketview-latency.png)",
		"(best-available-compare-p99.png)",
		"| ✘ | flash-sale / redis: zero oversold | 2 sold twice, 0 over capacity |",
		"| ✔ | best-available: peak holds/s ≥ 100× postgres's | 125× |",
	} {
		if !strings.Contains(string(md), s) {
			t.Errorf("summary.md lacks %q", s)
		}
	}
	if t.Failed() {
		t.Log(string(md))
	}
}

func TestNoData(t *testing.T) {
	run := testRun()
	empty := load.Result{Target: "redis", Scenario: load.Scenario{Name: "idle"}}
	run.Results = []load.Result{run.Results[0], empty}
	dir := t.TempDir()
	paths, err := Write(dir, run)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	for _, p := range paths {
		if strings.HasPrefix(filepath.Base(p), "idle-") {
			t.Errorf("plot %s written for a result without data", p)
		}
	}
	md := Markdown(run)
	for _, s := range []string{"## Scenario idle", "idle / redis: hold latency over time: no data", "idle: holds/s of every target: no data",
		"| redis | 0 | 0 | 0 | – | – | – | – | – | 0 | 0 | 0 | ✘ not checked |"} {
		if !strings.Contains(md, s) {
			t.Errorf("summary.md lacks %q", s)
		}
	}

	// An empty run writes results.json and summary.md and nothing else.
	dir = t.TempDir()
	paths, err = Write(dir, load.Run{})
	if err != nil {
		t.Fatalf("Write(empty): %v", err)
	}
	if len(paths) != 2 {
		t.Fatalf("Write(empty) wrote %v", paths)
	}
	if md := Markdown(load.Run{}); !strings.Contains(md, "no data") || !strings.Contains(md, "## Goals") {
		t.Errorf("Markdown(empty) = %s", md)
	}
	if c := Console(load.Run{}); !strings.Contains(c, "no results") {
		t.Errorf("Console(empty) = %s", c)
	}
}

func TestWriteBadInput(t *testing.T) {
	run := testRun()
	run.Results[0].PeakHolds = math.NaN()
	if _, err := Write(t.TempDir(), run); err == nil {
		t.Fatal("Write of a NaN succeeded")
	}
	if _, err := Write("", testRun()); err == nil {
		t.Fatal("Write without a directory succeeded")
	}
	// A file where the directory should be.
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(f, testRun()); err == nil {
		t.Fatal("Write into a file succeeded")
	}
}

func TestConsole(t *testing.T) {
	c := Console(testRun())
	for _, s := range []string{"scenario flash-sale", "scenario best-available", "vs redis: throughput 3.6×, p99 0.25×, oversold 2",
		"✘ flash-sale / redis: zero oversold", "flash-sale / redis: ✘ sold twice 2", "flash-sale / ticketview: ✔ ok", "9,000"} {
		if !strings.Contains(c, s) {
			t.Errorf("Console lacks %q:\n%s", s, c)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{count(1234567), "1,234,567"}, {count(-1234), "-1,234"}, {count(12), "12"},
		{ms(0.01234), "0.0123"}, {ms(12.34), "12.3"}, {ms(5), "5"}, {ms(1234.4), "1,234"}, {ms(math.NaN()), "–"},
		{rate(45.67), "45.7"}, {rate(12345.6), "12,346"}, {times(3.6), "3.6×"}, {times(0), "–"},
		{slug("flash sale/2"), "flash_sale_2"}, {slug(""), "unnamed"}, {tickLabel(0.1 * 3), "0.3"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
