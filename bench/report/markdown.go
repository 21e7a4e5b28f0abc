package report

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/ticketview/ticketview/bench/load"
)

// maxListed is how many check details or error samples a result lists at most.
const maxListed = 20

// Markdown renders summary.md: the machine, the command, the targets, per scenario the
// results side by side, the ratios, the latency per request kind, the watchers, the
// check details and the plots (linked relative to the report's directory), and the
// goals.
func Markdown(run load.Run) string { return markdown(run, planCharts(run)) }

// markdown renders summary.md with the planned plots.
func markdown(run load.Run, charts []scenarioCharts) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	date := "date unknown"
	if !run.Started.IsZero() {
		date = run.Started.Format("2006-01-02 15:04:05 Z07:00")
	}
	w("# TicketView flash-sale benchmark, %s\n\n", date)

	m := run.Machine
	w("## Machine\n\n| | |\n|---|---|\n")
	w("| OS / arch | %s / %s |\n", orDash(m.OS), orDash(m.Arch))
	w("| CPUs | %d |\n", m.CPUs)
	w("| CPU model | %s |\n", orDash(m.CPUModel))
	w("| memory | %s GiB |\n", rate(m.MemoryGiB))
	w("| Go | %s |\n", orDash(m.Go))
	w("| PostgreSQL | %s |\n", orDash(m.Postgres))
	w("| Redis | %s |\n", orDash(m.Redis))
	w("| load average before the run | %s |\n", orDash(m.Load))
	w("| note | %s |\n\n", orDash(m.Note))

	w("## Command\n\n")
	if run.Command == "" {
		w("(not recorded)\n\n")
	} else {
		w("```sh\n%s\n```\n\n", strings.ReplaceAll(run.Command, "```", "` ` `"))
	}

	w("## Targets\n\n")
	if len(run.Targets) == 0 {
		w("(not described)\n\n")
	} else {
		w("| target | design | durability |\n|---|---|---|\n")
		for _, t := range run.Targets {
			w("| %s | %s | %s |\n", orDash(t.Name), orDash(t.Design), orDash(t.Durability))
		}
		w("\n")
	}

	if len(run.Results) == 0 {
		w("## Results\n\nno data: the run has no results.\n\n")
	}
	rs := ratios(run)
	for i, g := range byScenario(run.Results) {
		scenarioMarkdown(&b, g, rs, charts[i])
	}

	if ws := Noisy(run); len(ws) > 0 {
		w("## Noisy runs\n\nThe hypervisor gave part of this virtual machine's CPU time to others during these runs: their numbers are lower than the machine's, and a comparison with them is unfair to the side that was slowed. Run again for the README.\n\n")
		for _, s := range ws {
			w("- %s\n", mdEscape(s))
		}
		w("\n")
	}
	w("## Goals\n\n| | goal | measured |\n|---|---|---|\n")
	for _, g := range Goals(run) {
		w("| %s | %s | %s |\n", mark(g.Met), mdEscape(g.Name), mdEscape(g.Measured))
	}
	b.WriteString("\nHold percentiles of a result are the largest of that percentile among the hold kinds " +
		"with at least 1% of its hold requests (an upper bound of the percentile over all holds). " +
		"Throughput ratios compare peak holds/s; a ratio is \"–\" when a side has no data.\n")
	return b.String()
}

// scenarioMarkdown writes one scenario's section.
func scenarioMarkdown(b *strings.Builder, g scenarioGroup, rs []load.Ratio, charts scenarioCharts) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Scenario %s\n\n", orDash(g.name))

	// The load, once when every target had the same, else per target.
	same := true
	for _, r := range g.results[1:] {
		if r.Scenario != g.results[0].Scenario {
			same = false
		}
	}
	for i, r := range g.results {
		if same && i > 0 {
			break
		}
		prefix := ""
		if !same {
			prefix = "**" + mdEscape(r.Target) + "**: "
		}
		w("- %s%s\n", prefix, mdEscape(describe(r.Scenario)))
	}
	w("\n")

	w("| target | holds/s | peak holds/s | sales/s | sell-out s | hold p50 ms | p95 ms | p99 ms | p99.9 ms | conflicts | errors | dropped | invariants |\n")
	w("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, r := range g.results {
		h, ok := Hold(*r)
		lat := "– | – | – | –"
		if ok {
			lat = fmt.Sprintf("%s | %s | %s | %s", ms(h.P50), ms(h.P95), ms(h.P99), ms(h.P999))
		}
		w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", mdEscape(r.Target), rate(r.HoldsPerSec), rate(r.PeakHolds),
			rate(r.SalesPerSec), seconds(r.SellOut), lat, count(r.Conflicts), count(r.Errors), count(r.Dropped), mdEscape(verdict(r.Check)))
	}
	w("\n")

	var in []load.Ratio
	for _, r := range rs {
		if r.Scenario == g.name {
			in = append(in, r)
		}
	}
	if len(in) > 0 {
		ceilings := false
		for _, r := range in {
			ceilings = ceilings || r.Ceiling > 0
		}
		head, rule := "", ""
		if ceilings {
			head, rule = " ceiling set by the load generator |", "--:|"
		}
		w("### TicketView vs baselines\n\n| baseline | throughput ratio | p99 ratio | oversold |%s\n|---|--:|--:|--:|%s\n", head, rule)
		for _, r := range in {
			p99 := times(r.P99)
			if r.P99 > 0 {
				p99 += fmt.Sprintf(" (%s vs %s ms)", ms(r.TicketViewP99), ms(r.BaselineP99))
			}
			over := count(r.Oversold)
			if r.Oversold > 0 {
				over = "✘ " + over
			}
			w("| %s | %s | %s | %s |", mdEscape(r.Baseline), times(r.Throughput), p99, over)
			if ceilings {
				w(" %s |", times(r.Ceiling))
			}
			w("\n")
		}
		w("\n")
		if ceilings {
			w("The ceiling is the throughput ratio TicketView could reach at most here if its server and stores used no CPU at all: " +
				"the baseline's CPU per acknowledged hold (the whole machine's) over the CPU the load generator alone spent per hold driving TicketView " +
				"(see the CPU table below; it bounds the ratio where both runs kept the CPUs busy).\n\n")
		}
	}

	for _, r := range g.results {
		w("### Latency by request kind: %s\n\n", mdEscape(r.Target))
		ops := orderedOps(r.Ops)
		if len(ops) == 0 {
			w("no data\n\n")
			continue
		}
		w("| op | count | ok | 409 | errors | p50 ms | p95 ms | p99 ms | p99.9 ms | max ms |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, s := range ops {
			w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", mdEscape(string(s.Op)), count(s.Count), count(s.OK), count(s.Conflicts),
				count(s.Errors), ms(s.P50), ms(s.P95), ms(s.P99), ms(s.P999), ms(s.Max))
		}
		w("\n")
	}

	cpuMarkdown(b, g)

	watched := false
	for _, r := range g.results {
		watched = watched || r.Watchers != nil
	}
	if watched {
		w("### Watchers\n\n| target | connected | failed | messages | dropped |\n|---|--:|--:|--:|--:|\n")
		for _, r := range g.results {
			if ws := r.Watchers; ws != nil {
				w("| %s | %s | %s | %s | %s |\n", mdEscape(r.Target), count(ws.Connected), count(ws.Failed), count(ws.Messages), count(ws.Dropped))
			}
		}
		w("\n")
	}

	for _, r := range g.results {
		c := r.Check
		if len(c.Details) == 0 && c.Unacked == 0 && c.Uncertain == 0 && !c.Restarted && len(r.ErrorSample) == 0 {
			continue
		}
		w("### Check: %s\n\n", mdEscape(r.Target))
		w("- %s; unacknowledged sold places %s, uncertain requests %s", mdEscape(verdict(c)), count(c.Unacked), count(c.Uncertain))
		if c.Restarted {
			w("; the target was killed and restarted before the check")
		}
		w("\n")
		list(b, "", c.Details)
		if len(r.ErrorSample) > 0 {
			w("- error samples:\n")
			list(b, "  ", r.ErrorSample)
		}
		w("\n")
	}

	w("### Plots\n\n")
	for _, rc := range charts.results {
		for _, c := range rc.charts {
			chartMarkdown(b, c)
		}
	}
	for _, c := range charts.compare {
		chartMarkdown(b, c)
	}
}

// NoisyStolen is the share of CPU time stolen by the hypervisor above which a result is
// called noisy.
const NoisyStolen = 0.05

// Noisy lists the results during which the hypervisor took more than NoisyStolen of the
// machine's CPU time.
func Noisy(run load.Run) []string {
	var out []string
	for _, r := range run.Results {
		if st := r.CPU.Stolen(); st > NoisyStolen {
			out = append(out, fmt.Sprintf("%s / %s: %s%% of the CPU time stolen", r.Scenario.Name, r.Target, rate(st*100)))
		}
	}
	return out
}

// cpuMarkdown is the table of where the machine's CPU went during each target's run.
func cpuMarkdown(b *strings.Builder, g scenarioGroup) {
	measured := false
	for _, r := range g.results {
		measured = measured || r.CPU != nil
	}
	if !measured {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("### CPU per request\n\nMicroseconds of CPU per request (every kind, 409s included) while the buyers were served; " +
		"the load generator shares the machine with the target. In-process, the harness column holds the target too.\n\n")
	w("| target | requests | CPUs busy | stolen | load generator µs | target process µs | other µs | total µs | per hold µs |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range g.results {
		u := r.CPU
		if u == nil {
			continue
		}
		perHold := "–"
		if r.Holds > 0 {
			perHold = rate(u.Busy / float64(r.Holds) * 1e6)
		}
		w("| %s | %s | %s%% | %s%% | %s | %s | %s | %s | %s |\n", mdEscape(r.Target), count(u.Requests), rate(u.Utilization()*100), rate(u.Stolen()*100),
			rate(u.PerRequest(u.Harness)), rate(u.PerRequest(u.Target)), rate(u.PerRequest(u.Other)), rate(u.PerRequest(u.Busy)), perHold)
	}
	w("\nOther is the rest of the machine: the target's servers (PostgreSQL, Redis), kernel work not charged to a process, anything else running. " +
		"Stolen is the time this virtual machine's CPUs wanted but the hypervisor gave to others: where it is more than a few percent, the run was slowed by a neighbour and its numbers are noisy.\n\n")
}

// orderedOps are the kinds with requests, in load.Ops order (unknown kinds last).
func orderedOps(in []load.OpStats) []load.OpStats {
	rank := func(o load.Op) int {
		if i := slices.Index(load.Ops, o); i >= 0 {
			return i
		}
		return len(load.Ops)
	}
	var ops []load.OpStats
	for _, s := range in {
		if s.Count > 0 {
			ops = append(ops, s)
		}
	}
	slices.SortStableFunc(ops, func(a, b load.OpStats) int { return rank(a.Op) - rank(b.Op) })
	return ops
}

// list writes up to maxListed items as a Markdown list.
func list(b *strings.Builder, indent string, items []string) {
	for i, s := range items {
		if i == maxListed {
			fmt.Fprintf(b, "%s- … %s more\n", indent, count(len(items)-maxListed))
			break
		}
		fmt.Fprintf(b, "%s- `%s`\n", indent, strings.ReplaceAll(strings.ReplaceAll(s, "`", "'"), "\n", " "))
	}
}

// chartMarkdown writes a plot's image, or why there is none.
func chartMarkdown(b *strings.Builder, c chart) {
	switch {
	case c.err != nil:
		fmt.Fprintf(b, "%s: plot failed (%s)\n\n", mdEscape(c.caption), mdEscape(c.err.Error()))
	case c.p == nil:
		fmt.Fprintf(b, "%s: no data\n\n", mdEscape(c.caption))
	default:
		fmt.Fprintf(b, "![%s](%s)\n\n", mdEscape(c.caption), c.file)
	}
}

// describe is a line about the scenario's load.
func describe(s load.Scenario) string {
	var parts []string
	arrivals := fmt.Sprintf("%s, %s buyers/s", orDash(s.Profile), rate(s.Rate))
	if s.PeakRate > 0 {
		arrivals += fmt.Sprintf(" up to %s", rate(s.PeakRate))
	}
	parts = append(parts, arrivals, fmt.Sprintf("for %s", s.Duration))
	parts = append(parts, fmt.Sprintf("at most %s buyers in flight", count(s.MaxBuyers)))
	parts = append(parts, fmt.Sprintf("%s places in %s sections", count(s.Places), count(s.Sections)))
	if s.Mix != "" {
		parts = append(parts, "mix "+s.Mix)
	}
	parts = append(parts, fmt.Sprintf("buy ratio %s", rate(s.BuyRatio)))
	if s.Think != "" {
		parts = append(parts, "think "+s.Think)
	}
	if s.Checkout != "" {
		parts = append(parts, "checkout "+s.Checkout)
	}
	parts = append(parts, fmt.Sprintf("%s watchers", count(s.Watchers)))
	if s.Transport != "" {
		parts = append(parts, "transport "+s.Transport)
	}
	if s.TTLSeconds > 0 {
		parts = append(parts, fmt.Sprintf("hold TTL %ds", s.TTLSeconds))
	}
	return strings.Join(parts, ", ")
}

// verdict is "ok" for a clean check, else what is wrong.
func verdict(c load.Check) string {
	if !c.Done {
		return "✘ not checked"
	}
	if c.OK() {
		if c.Restarted {
			return "ok (after a restart)"
		}
		return "ok"
	}
	var bad []string
	add := func(n int, what string) {
		if n != 0 {
			bad = append(bad, fmt.Sprintf("%s %s", what, count(n)))
		}
	}
	add(c.SoldTwice, "sold twice")
	add(c.OverCapacity, "over capacity")
	add(c.LostHolds, "lost holds")
	add(c.LostSales, "lost sales")
	if c.Unacked > c.Uncertain {
		bad = append(bad, fmt.Sprintf("unacknowledged sold %s > uncertain %s", count(c.Unacked), count(c.Uncertain)))
	}
	return "✘ " + strings.Join(bad, ", ")
}

func mark(ok bool) string {
	if ok {
		return "✔"
	}
	return "✘"
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "–"
	}
	return mdEscape(s)
}

// Console is a short summary for the terminal: per scenario a table of the targets and
// the ratios, then the goals and the invariant verdicts.
func Console(run load.Run) string {
	var b strings.Builder
	date := ""
	if !run.Started.IsZero() {
		date = " " + run.Started.Format("2006-01-02 15:04:05")
	}
	fmt.Fprintf(&b, "TicketView benchmark%s on %s/%s, %d CPUs\n", date, run.Machine.OS, run.Machine.Arch, run.Machine.CPUs)
	if len(run.Results) == 0 {
		b.WriteString("no results\n")
	}
	rs := ratios(run)
	for _, g := range byScenario(run.Results) {
		fmt.Fprintf(&b, "\nscenario %s\n", g.name)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "  target\tholds/s\tpeak\tsales/s\tsell-out s\tp50 ms\tp99 ms\tconflicts\terrors\tdropped\t\n")
		for _, r := range g.results {
			p50, p99 := "–", "–"
			if h, ok := Hold(*r); ok {
				p50, p99 = ms(h.P50), ms(h.P99)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Target, rate(r.HoldsPerSec), rate(r.PeakHolds), rate(r.SalesPerSec),
				seconds(r.SellOut), p50, p99, count(r.Conflicts), count(r.Errors), count(r.Dropped))
		}
		tw.Flush()
		for _, r := range rs {
			if r.Scenario == g.name {
				fmt.Fprintf(&b, "  vs %s: throughput %s, p99 %s, oversold %s", r.Baseline, times(r.Throughput), times(r.P99), count(r.Oversold))
				if r.Ceiling > 0 {
					fmt.Fprintf(&b, " (ceiling set by the load generator: %s)", times(r.Ceiling))
				}
				b.WriteString("\n")
			}
		}
	}

	if ws := Noisy(run); len(ws) > 0 {
		b.WriteString("\nnoisy runs (CPU time stolen by the hypervisor: run again)\n")
		for _, s := range ws {
			fmt.Fprintf(&b, "  ⚠ %s\n", s)
		}
	}
	b.WriteString("\ngoals\n")
	for _, g := range Goals(run) {
		fmt.Fprintf(&b, "  %s %s: %s\n", mark(g.Met), g.Name, g.Measured)
	}
	b.WriteString("\ninvariants\n")
	if len(run.Results) == 0 {
		b.WriteString("  no results\n")
	}
	for _, r := range run.Results {
		v := verdict(r.Check)
		if v == "ok" || strings.HasPrefix(v, "ok ") {
			v = "✔ " + v
		}
		fmt.Fprintf(&b, "  %s / %s: %s\n", r.Scenario.Name, r.Target, v)
	}
	return b.String()
}
