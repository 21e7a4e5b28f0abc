// Package report turns a benchmark run (load.Run) into what a performance engineer
// reads: results.json, summary.md with tables, ratios and goals, PNG plots (made with
// gonum.org/v1/plot), and a short console summary.
//
// Targets are named by the harness: "ticketview" is ours (and so is any
// "ticketview-..." target, such as "ticketview-cluster"); every other target is a
// baseline ("postgres", "redis"). Ratios compare the "ticketview" result of a scenario
// with each baseline result of the same scenario.
//
// Hold latency of a result: the hold kinds (load.Op.IsHold) are measured separately, so a
// result's hold percentile (p50, p95, p99, p99.9) is the largest of that percentile among
// the hold kinds that have at least 1% of the result's hold requests. It is an upper
// bound of the percentile over all holds (each kind has at most 1% of its requests above
// its own p99, so all holds together have at most 1% above the largest), and a kind
// with a handful of requests cannot decide it.
package report

import (
	"fmt"
	"strings"

	"github.com/ticketview/ticketview/bench/load"
)

// Names the harness gives targets and scenarios, as the goals use them.
const (
	// TicketView is our target, the one the baselines are compared with.
	TicketView = "ticketview"
	// Postgres is the PostgreSQL row-locking baseline.
	Postgres = "postgres"
	// BestAvailable is the scenario of best-available holds only.
	BestAvailable = "best-available"
)

// Thresholds of the goals.
const (
	GoalThroughput    = 3.0     // TicketView's peak holds/s over the best baseline's, at least
	GoalP99           = 1.0 / 3 // TicketView's hold p99 over the best baseline's, at most
	GoalBestAvailable = 100.0   // TicketView's peak holds/s over postgres's in best-available, at least
	minHoldShare      = 0.01    // share of the hold requests a kind needs to count in the hold percentiles
)

// IsOurs is true for TicketView targets ("ticketview", "ticketview-cluster", ...); the
// others are baselines.
func IsOurs(target string) bool {
	return target == TicketView || strings.HasPrefix(target, TicketView+"-")
}

// HoldLatency is a result's hold latency in milliseconds, over the hold kinds (see the
// package documentation for how the kinds are combined).
type HoldLatency struct {
	Requests            int // hold requests of every kind
	P50, P95, P99, P999 float64
}

// Hold returns the result's hold latency; ok is false when it made no hold request.
func Hold(r load.Result) (h HoldLatency, ok bool) {
	for _, s := range r.Ops {
		if s.Op.IsHold() && s.Count > 0 {
			h.Requests += s.Count
		}
	}
	if h.Requests == 0 {
		return HoldLatency{}, false
	}
	for _, s := range r.Ops {
		if !s.Op.IsHold() || s.Count <= 0 || float64(s.Count) < minHoldShare*float64(h.Requests) {
			continue
		}
		h.P50 = maxFinite(h.P50, s.P50)
		h.P95 = maxFinite(h.P95, s.P95)
		h.P99 = maxFinite(h.P99, s.P99)
		h.P999 = maxFinite(h.P999, s.P999)
	}
	return h, true
}

func maxFinite(a, b float64) float64 {
	if finite(b) && b > a {
		return b
	}
	return a
}

// oversold is what a check found sold beyond the places: seats sold twice and sections
// over capacity.
func oversold(c load.Check) int { return c.SoldTwice + c.OverCapacity }

// scenarioGroup is one scenario's results, in the run's order.
type scenarioGroup struct {
	name    string
	results []*load.Result
}

// byScenario groups results by scenario name, scenarios in order of first appearance.
func byScenario(results []load.Result) []scenarioGroup {
	var groups []scenarioGroup
	index := map[string]int{}
	for i := range results {
		r := &results[i]
		n, ok := index[r.Scenario.Name]
		if !ok {
			n = len(groups)
			index[r.Scenario.Name] = n
			groups = append(groups, scenarioGroup{name: r.Scenario.Name})
		}
		groups[n].results = append(groups[n].results, r)
	}
	return groups
}

// find returns the group's first result of the target, or nil.
func (g scenarioGroup) find(target string) *load.Result {
	for _, r := range g.results {
		if r.Target == target {
			return r
		}
	}
	return nil
}

// Compare fills the TicketView-vs-baseline ratios: for each scenario (in order of first
// appearance), for each baseline result in it, against the scenario's first "ticketview"
// result. Scenarios without a "ticketview" result give no ratio.
//
// Throughput is TicketView's PeakHolds over the baseline's; P99 is TicketView's hold p99
// over the baseline's (see Hold). A ratio is 0 when it is undefined: a side has no peak
// holds/s, or no hold latency. Oversold and TVOversold are the baseline's and TicketView's
// Check.SoldTwice + Check.OverCapacity.
func Compare(results []load.Result) []load.Ratio {
	var out []load.Ratio
	for _, g := range byScenario(results) {
		tv := g.find(TicketView)
		if tv == nil {
			continue
		}
		tvHold, tvOK := Hold(*tv)
		for _, b := range g.results {
			if IsOurs(b.Target) {
				continue
			}
			r := load.Ratio{
				Scenario:   g.name,
				Baseline:   b.Target,
				Oversold:   oversold(b.Check),
				TVOversold: oversold(tv.Check),
			}
			if finite(tv.PeakHolds) && finite(b.PeakHolds) && tv.PeakHolds > 0 && b.PeakHolds > 0 {
				r.Throughput = tv.PeakHolds / b.PeakHolds
			}
			bHold, bOK := Hold(*b)
			if tvOK {
				r.TicketViewP99 = tvHold.P99
			}
			if bOK {
				r.BaselineP99 = bHold.P99
			}
			if r.TicketViewP99 > 0 && r.BaselineP99 > 0 {
				r.P99 = r.TicketViewP99 / r.BaselineP99
			}
			r.Ceiling = ceiling(tv, b)
			out = append(out, r)
		}
	}
	return out
}

// ceiling is Ratio.Ceiling: the baseline's machine-wide CPU per acknowledged hold over
// the load generator's CPU per hold in TicketView's run (0 when either is unknown, and
// in-process, where the harness's CPU is the target's too).
func ceiling(tv, b *load.Result) float64 {
	if tv.Scenario.Transport == "in-process" || tv.CPU == nil || b.CPU == nil || tv.Holds == 0 || b.Holds == 0 || tv.CPU.Harness <= 0 {
		return 0
	}
	return (b.CPU.Busy / float64(b.Holds)) / (tv.CPU.Harness / float64(tv.Holds))
}

// ratios are the run's ratios: Run.Compared when the harness filled it, else Compare.
func ratios(run load.Run) []load.Ratio {
	if len(run.Compared) > 0 {
		return run.Compared
	}
	return Compare(run.Results)
}

// Goal is one of the targets evaluated on a run: what it asks, what was measured
// (or why it could not be), and whether it is met.
type Goal struct {
	Name     string `json:"name"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// Goals evaluates the targets on the run's ratios (Run.Compared, or Compare of
// the results when it is empty) and checks:
//
//   - in every scenario with a "ticketview" result and baselines, TicketView's peak
//     holds/s is at least 3× the best baseline's (the one with the highest peak holds/s),
//   - with at most 1/3 of that baseline's hold p99,
//   - in scenario "best-available", TicketView's peak holds/s is at least 100× the
//     "postgres" result's,
//   - every result (every target, every scenario) was checked and oversold nothing
//     (Check.SoldTwice + Check.OverCapacity == 0).
//
// Missing data (no such scenario, target, throughput or latency, no check) is a goal not
// met, and Measured says what is missing.
func Goals(run load.Run) []Goal {
	var goals []Goal
	rs := ratios(run)

	// Scenarios in the order of the results, then any only the ratios name.
	var scenarios []string
	seen := map[string]bool{}
	for _, g := range byScenario(run.Results) {
		seen[g.name] = true
		scenarios = append(scenarios, g.name)
	}
	for _, r := range rs {
		if !seen[r.Scenario] {
			seen[r.Scenario] = true
			scenarios = append(scenarios, r.Scenario)
		}
	}
	compared := false
	for _, sc := range scenarios {
		var in []load.Ratio
		for _, r := range rs {
			if r.Scenario == sc {
				in = append(in, r)
			}
		}
		if len(in) == 0 {
			continue
		}
		compared = true
		goals = append(goals, speedGoals(sc, in)...)
	}
	if !compared {
		why := "no scenario has both a \"ticketview\" result and a baseline result"
		goals = append(goals,
			Goal{Name: fmt.Sprintf("peak holds/s ≥ %g× the best baseline's", GoalThroughput), Measured: why},
			Goal{Name: "hold p99 ≤ 1/3 of the best baseline's", Measured: why})
	}

	goals = append(goals, bestAvailableGoal(rs))

	if len(run.Results) == 0 {
		goals = append(goals, Goal{Name: "zero oversold in every result", Measured: "no results"})
	}
	for _, r := range run.Results {
		g := Goal{Name: fmt.Sprintf("%s / %s: zero oversold", r.Scenario.Name, r.Target)}
		switch {
		case !r.Check.Done:
			g.Measured = "the invariant check was not done"
		default:
			g.Measured = fmt.Sprintf("%s sold twice, %s over capacity", count(r.Check.SoldTwice), count(r.Check.OverCapacity))
			g.Met = oversold(r.Check) == 0
		}
		goals = append(goals, g)
	}
	return goals
}

// speedGoals are the throughput and p99 goals of one scenario, against its best
// baseline: the one with the smallest throughput ratio (the highest peak holds/s).
func speedGoals(scenario string, in []load.Ratio) []Goal {
	tput := Goal{Name: fmt.Sprintf("%s: peak holds/s ≥ %g× the best baseline's", scenario, GoalThroughput)}
	p99 := Goal{Name: fmt.Sprintf("%s: hold p99 ≤ 1/3 of the best baseline's", scenario)}
	var undefined []string
	best := -1
	for i, r := range in {
		if r.Throughput <= 0 || !finite(r.Throughput) {
			undefined = append(undefined, r.Baseline)
			continue
		}
		if best < 0 || r.Throughput < in[best].Throughput {
			best = i
		}
	}
	if len(undefined) > 0 {
		why := fmt.Sprintf("no throughput ratio against %s (a side has no peak holds/s)", strings.Join(undefined, ", "))
		tput.Measured, p99.Measured = why, why
		return []Goal{tput, p99}
	}
	b := in[best]
	tput.Measured = fmt.Sprintf("%s against %s", times(b.Throughput), b.Baseline)
	tput.Met = b.Throughput >= GoalThroughput
	if b.P99 <= 0 || !finite(b.P99) {
		p99.Measured = fmt.Sprintf("no hold p99 ratio against %s (a side has no hold latency)", b.Baseline)
	} else {
		p99.Measured = fmt.Sprintf("%s ms against %s's %s ms (%s)", ms(b.TicketViewP99), b.Baseline, ms(b.BaselineP99), times(b.P99))
		p99.Met = b.P99 <= GoalP99+1e-12
	}
	return []Goal{tput, p99}
}

// bestAvailableGoal is TicketView ≥ 100× postgres in scenario best-available.
func bestAvailableGoal(rs []load.Ratio) Goal {
	g := Goal{Name: fmt.Sprintf("%s: peak holds/s ≥ %g× %s's", BestAvailable, GoalBestAvailable, Postgres)}
	for _, r := range rs {
		if r.Scenario != BestAvailable || r.Baseline != Postgres {
			continue
		}
		if r.Throughput <= 0 || !finite(r.Throughput) {
			g.Measured = "no throughput ratio (a side has no peak holds/s)"
			return g
		}
		g.Measured = times(r.Throughput)
		g.Met = r.Throughput >= GoalBestAvailable
		return g
	}
	g.Measured = fmt.Sprintf("no %q result compared with \"ticketview\" in scenario %q", Postgres, BestAvailable)
	return g
}
