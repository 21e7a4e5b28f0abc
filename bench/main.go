// Command bench is TicketView's flash-sale benchmark harness: it puts an event on sale in
// TicketView and in the two designs teams usually build instead (PostgreSQL row locking,
// Redis locks; bench/baseline), drives the same open-model flash sale at each through the
// same HTTP API shape, checks each store's invariants afterwards, and writes the results
// side by side as JSON and Markdown with plots.
//
//	go run ./bench                      # the full comparison (a few minutes)
//	go run ./bench -short               # the short version (make bench)
//	go run ./bench -targets ticketview -scenarios flash-sale -profile spike -rate 500 -peak 10000
//	go run ./bench -url http://127.0.0.1:8080 -token T -targets ticketview   # a running node
//
// Each target runs as a process of its own (TicketView: cmd/node with a fresh data
// directory; the baselines: this program again with -serve-baseline), one at a time, on the
// same machine as the load generator. After each flash sale the target is killed (SIGKILL)
// and started again, then every section is read back and compared with what the target
// acknowledged: no seat sold twice, nothing over capacity, no acknowledged hold or sale lost.
// The program exits 1 when a check fails.
//
// With -direct (the default) every scenario also has an in-process variant,
// "<scenario>-direct": the same load against the same designs without the HTTP stack,
// TicketView's engine and the baselines' stores called by the load generator in this
// process (see direct.go), each closed and opened again before its check. Results keep
// the target names, so the report compares them scenario by scenario as over HTTP.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ticketview/ticketview/bench/baseline"
	"github.com/ticketview/ticketview/bench/clusterdrv"
	"github.com/ticketview/ticketview/bench/load"
	"github.com/ticketview/ticketview/bench/report"
	"github.com/ticketview/ticketview/internal/cli"
)

type options struct {
	targets, scenarios     []string
	profile                string
	rate, peak             float64
	duration, baDuration   time.Duration
	sections, rows, perRow int
	gaCapacity             int
	mix                    string
	buy                    float64
	thinkMin, thinkMax     time.Duration
	maxBuyers              int
	retries                int
	checkout               bool
	watchers               int
	out                    string
	url, token             string
	journal                string
	nodeBin                string
	postgres, redis        string
	restart                bool
	keep                   bool
	seed                   uint64
	quiet                  bool
	logs                   string
	clusterNodes           int
	direct                 bool
	directPeak             float64
	directScale            int
	directBuyers           int
	directFeeds            bool
}

func main() {
	var o options
	var targets, scenarios string
	var short bool
	var serve, serveAddr string
	var bcfg baseline.Config
	var cpuprofile string
	flag.StringVar(&cpuprofile, "cpuprofile", "", "write the harness's own CPU profile here (the load generator's share of the machine)")
	flag.StringVar(&targets, "targets", "ticketview,postgres,redis", "targets to measure: ticketview, postgres, redis, and ticketview-cluster (cluster mode through the cluster client, no HTTP)")
	flag.IntVar(&o.clusterNodes, "cluster-nodes", 1, "ticketview-cluster: node processes")
	flag.StringVar(&scenarios, "scenarios", "flash-sale,best-available", "scenarios: flash-sale (mixed picks, best-available and GA holds, then sales) and best-available (best-available holds only); a name ending in -direct runs only that scenario's in-process variant")
	flag.Float64Var(&o.directPeak, "direct-peak", 100000, "the in-process scenarios' peak arrival rate (buyers/s)")
	flag.IntVar(&o.directBuyers, "direct-max-buyers", 20000, "the in-process scenarios' buyers in flight at most (with think times, in-flight buyers bound the rate a target can be offered)")
	flag.BoolVar(&o.directFeeds, "direct-feeds", false, "in-process TicketView also feeds the audit log, the event log and the live feed after each group commit, as cmd/node does (the baselines have none of them)")
	flag.IntVar(&o.directScale, "direct-scale", 5, "the in-process scenarios' event is this many times larger (rows and GA places)")
	flag.BoolVar(&o.direct, "direct", true, "also run each scenario in-process, without HTTP, as \"<scenario>-direct\" (TicketView's engine and the baselines' stores called directly)")
	flag.BoolVar(&short, "short", false, "the short version (make bench): shorter runs, smaller event")
	flag.StringVar(&o.profile, "profile", "ramp", "arrivals: constant, ramp (rate -> peak) or spike (rate, with peak for a fifth of the time)")
	flag.Float64Var(&o.rate, "rate", 500, "buyers arriving per second (the ramp's start, the spike's base)")
	flag.Float64Var(&o.peak, "peak", 12000, "the ramp's end rate, the spike's rate (buyers/s)")
	flag.DurationVar(&o.duration, "duration", 40*time.Second, "length of the flash-sale scenario's arrivals")
	flag.DurationVar(&o.baDuration, "best-duration", 20*time.Second, "length of the best-available scenario's arrivals")
	flag.IntVar(&o.sections, "sections", 4, "seated sections")
	flag.IntVar(&o.rows, "rows", 50, "rows per seated section")
	flag.IntVar(&o.perRow, "per-row", 100, "seats per row")
	flag.IntVar(&o.gaCapacity, "ga", 20000, "places of the general-admission section (0: none)")
	flag.StringVar(&o.mix, "mix", "pick=50,best=35,ga=15", "flash-sale hold kinds by weight")
	flag.Float64Var(&o.buy, "buy", 0.8, "share of holds bought (the rest released)")
	flag.DurationVar(&o.thinkMin, "think-min", 0, "think time between hold and sale, at least")
	flag.DurationVar(&o.thinkMax, "think-max", 200*time.Millisecond, "think time, at most")
	flag.IntVar(&o.maxBuyers, "max-buyers", 1024, "buyers in flight at most (connections); arrivals beyond are dropped and counted")
	flag.IntVar(&o.retries, "retries", 2, "new picks after a 409")
	flag.BoolVar(&o.checkout, "checkout", false, "TicketView: buy through an order paid with the sandbox provider instead of a direct confirmation")
	flag.IntVar(&o.watchers, "watchers", 200, "TicketView: WebSocket watchers of the live seat map during the flash sale")
	flag.StringVar(&o.out, "out", "", "results directory (default bench/results/latest, or bench/results/short with -short)")
	flag.StringVar(&o.url, "url", "", "drive a running TicketView at this URL instead of starting one (needs -token; no restart before the check)")
	flag.StringVar(&o.token, "token", os.Getenv("TICKETVIEW_ADMIN_TOKEN"), "operator token of the running TicketView (-url)")
	flag.StringVar(&o.journal, "journal", "file", "TicketView's section journal: file or sqlite")
	flag.StringVar(&o.nodeBin, "node-bin", "", "TicketView node binary (default: go build ./cmd/node)")
	flag.StringVar(&o.postgres, "postgres", cli.EnvOr("TICKETVIEW_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"), "PostgreSQL for the baselines")
	flag.StringVar(&o.redis, "redis", cli.EnvOr("TICKETVIEW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis for the Redis baseline")
	flag.BoolVar(&o.restart, "restart", true, "kill (SIGKILL) and restart each target before its check")
	flag.BoolVar(&o.keep, "keep", false, "leave TicketView running at the end (for k6: bench/k6)")
	flag.Uint64Var(&o.seed, "seed", 0, "random seed (0: from the clock)")
	flag.BoolVar(&o.quiet, "quiet", false, "no progress line")
	flag.StringVar(&o.logs, "logs", "", "keep the targets' logs and data in this directory (default: a temporary one, removed)")
	flag.StringVar(&serve, "serve-baseline", "", "internal: serve this baseline design (child process)")
	flag.StringVar(&serveAddr, "baseline-addr", "127.0.0.1:0", "internal: the baseline's listen address")
	flag.StringVar(&bcfg.Schema, "baseline-schema", "ticketview_bench", "internal: the baselines' PostgreSQL schema")
	flag.StringVar(&bcfg.Prefix, "baseline-prefix", "tvbench:", "internal: the Redis baseline's key prefix")
	flag.IntVar(&bcfg.Conns, "baseline-conns", 32, "PostgreSQL connections of a baseline")
	flag.Parse()

	if serve != "" {
		bcfg.PostgresURL, bcfg.RedisURL = o.postgres, o.redis
		if err := serveBaseline(serve, serveAddr, bcfg); err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(1)
		}
		return
	}
	if flag.NArg() > 0 {
		fail("unexpected arguments: %v", flag.Args())
	}
	if short {
		applyShort(&o)
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			fail("cpuprofile: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail("cpuprofile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}
	o.targets = splitList(targets)
	o.scenarios = splitList(scenarios)
	if o.out == "" {
		o.out = filepath.Join(moduleRoot(), "bench", "results", "latest")
		if short {
			o.out = filepath.Join(moduleRoot(), "bench", "results", "short")
		}
	}
	bcfg.PostgresURL, bcfg.RedisURL = o.postgres, o.redis
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run, err := benchmark(ctx, o, bcfg, strings.Join(os.Args, " "))
	if err != nil {
		fail("%v", err)
	}
	files, err := report.Write(o.out, run)
	if err != nil {
		fail("write the report: %v", err)
	}
	fmt.Println(report.Console(run))
	fmt.Printf("results: %s (%d files; summary.md)\n", o.out, len(files))
	for _, r := range run.Results {
		if !r.Check.OK() {
			fmt.Fprintf(os.Stderr, "invariant check FAILED: %s, %s: %+v\n", r.Target, r.Scenario.Name, r.Check)
			os.Exit(1)
		}
	}
}

// applyShort is make bench's version: under 3 minutes for three targets and two scenarios,
// over HTTP and in-process.
func applyShort(o *options) {
	setIfDefault := func(name string, f func()) {
		set := false
		flag.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
		if !set {
			f()
		}
	}
	setIfDefault("duration", func() { o.duration = 10 * time.Second })
	setIfDefault("best-duration", func() { o.baDuration = 6 * time.Second })
	setIfDefault("direct-max-buyers", func() { o.directBuyers = 5000 })
	setIfDefault("direct-scale", func() { o.directScale = 3 })
	setIfDefault("rows", func() { o.rows = 40 })
	setIfDefault("ga", func() { o.gaCapacity = 8000 })
	setIfDefault("watchers", func() { o.watchers = 100 })
}

// scenario is one flash sale the targets go through.
type scenario struct {
	name   string
	layout func(event string) load.Layout
	config load.Config
	direct bool // in-process, without HTTP (directTarget)
}

// scenariosOf builds the scenarios asked for: those over HTTP first, then the in-process
// variants ("-direct": every scenario's with o.direct, and any asked for by name).
func scenariosOf(o options) ([]scenario, error) {
	var overHTTP, inProcess []string
	for _, name := range o.scenarios {
		if base, ok := strings.CutSuffix(name, directSuffix); ok {
			if !slices.Contains(inProcess, base) {
				inProcess = append(inProcess, base)
			}
			continue
		}
		if !slices.Contains(overHTTP, name) {
			overHTTP = append(overHTTP, name)
		}
		if o.direct && !slices.Contains(inProcess, name) {
			inProcess = append(inProcess, name)
		}
	}
	var out []scenario
	// In-process the targets answer in microseconds: a larger event and a higher peak,
	// or every target would only follow the arrivals.
	od := o
	od.peak = o.directPeak
	od.maxBuyers = o.directBuyers
	od.rows *= max(1, o.directScale)
	od.gaCapacity *= max(1, o.directScale)
	for i, names := range [][]string{overHTTP, inProcess} {
		for _, name := range names {
			opts := o
			if i == 1 {
				opts = od
			}
			sc, err := scenarioOf(opts, name)
			if err != nil {
				return nil, err
			}
			if i == 1 {
				sc.name += directSuffix
				sc.config.Scenario = sc.name
				sc.config.Transport = transportInProcess
				sc.direct = true
			}
			out = append(out, sc)
		}
	}
	return out, nil
}

// scenarioOf builds one scenario (over HTTP) by name.
func scenarioOf(o options, name string) (scenario, error) {
	mix, err := load.ParseMix(o.mix)
	if err != nil {
		return scenario{}, err
	}
	seated := func(event string, n int) load.Layout {
		l := load.Layout{Event: event}
		for i := 0; i < n; i++ {
			l.Sections = append(l.Sections, load.SectionLayout{ID: fmt.Sprintf("block-%c", 'a'+i), Rows: o.rows, PerRow: o.perRow, Price: int64(250000 - 20000*i)})
		}
		return l
	}
	c := load.Config{Scenario: name, MaxBuyers: o.maxBuyers, ThinkMin: o.thinkMin, ThinkMax: o.thinkMax, BuyRatio: o.buy,
		Retries: o.retries, Checkout: o.checkout, Seed: o.seed, StopAtSellOut: true}
	var sc scenario
	switch name {
	case "flash-sale":
		c.Mix = mix
		if o.gaCapacity == 0 {
			c.Mix.GA = 0
		}
		c.Profile = load.Profile{Kind: o.profile, Rate: o.rate, Peak: o.peak, Duration: o.duration}
		sc = scenario{name: name, config: c, layout: func(event string) load.Layout {
			l := seated(event, o.sections)
			if o.gaCapacity > 0 {
				l.Sections = append(l.Sections, load.SectionLayout{ID: "floor", GA: true, Capacity: o.gaCapacity, Price: 120000})
			}
			return l
		}}
	case "best-available":
		// Best-available only, on one large section: the design question is how the
		// next best seats are found while every other buyer looks for them too.
		c.Mix = load.Mix{Best: 1}
		c.Profile = load.Profile{Kind: o.profile, Rate: o.rate, Peak: o.peak, Duration: o.baDuration}
		sc = scenario{name: name, config: c, layout: func(event string) load.Layout {
			// As many seats as the flash sale's seated sections, in one section.
			return load.Layout{Event: event, Sections: []load.SectionLayout{{ID: "stalls", Rows: o.rows * o.sections, PerRow: o.perRow, Price: 200000}}}
		}}
	default:
		return scenario{}, fmt.Errorf("unknown scenario %q (flash-sale, best-available; either with %s)", name, directSuffix)
	}
	if err := c.Profile.Validate(); err != nil {
		return scenario{}, err
	}
	return sc, nil
}

func benchmark(ctx context.Context, o options, bcfg baseline.Config, command string) (load.Run, error) {
	run := load.Run{Started: time.Now().UTC(), Command: command}
	scs, err := scenariosOf(o)
	if err != nil {
		return run, err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return run, err
	}
	work := o.logs
	if work == "" {
		if work, err = os.MkdirTemp("", "ticketview-bench-"); err != nil {
			return run, err
		}
		defer os.RemoveAll(work)
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return run, err
	}
	run.Machine = machine(ctx, o)

	// cmd/node, built once for the targets that run it (unless -node-bin gives it).
	nodeBin := func() (string, error) {
		if o.nodeBin == "" {
			bin, err := clusterdrv.BuildNode(ctx, work, func(f string, a ...any) { logf(o, f, a...) })
			if err != nil {
				return "", err
			}
			o.nodeBin = bin
		}
		return o.nodeBin, nil
	}
	var ts []target
	for _, name := range o.targets {
		switch name {
		case "ticketview":
			if o.url != "" {
				ts = append(ts, &remoteTV{url: o.url, token: o.token, conns: o.maxBuyers})
				continue
			}
			bin, err := nodeBin()
			if err != nil {
				return run, err
			}
			tv := newTicketView(bin, work, o.journal, o.maxBuyers, nil)
			tv.directFeeds = o.directFeeds
			ts = append(ts, tv)
		case "ticketview-cluster":
			bin, err := nodeBin()
			if err != nil {
				return run, err
			}
			ts = append(ts, &clusterTarget{nodeBin: bin, postgres: o.postgres, nodes: o.clusterNodes, logf: func(f string, a ...any) { logf(o, f, a...) }})
		case "postgres", "redis":
			self, err := os.Executable()
			if err != nil {
				return run, err
			}
			ts = append(ts, newBaseline(name, self, work, bcfg, o.maxBuyers))
		default:
			return run, fmt.Errorf("unknown target %q (ticketview, ticketview-cluster, postgres, redis)", name)
		}
	}
	var progress io.Writer
	if !o.quiet {
		progress = os.Stderr
		if !isTerminal(os.Stderr) {
			progress = lines{os.Stderr}
		}
	}
	var overHTTP, inProcess []int // indexes into scs
	for i, sc := range scs {
		if sc.direct {
			inProcess = append(inProcess, i)
		} else {
			overHTTP = append(overHTTP, i)
		}
	}
	for _, t := range ts {
		if len(overHTTP) > 0 {
			results, err := runOverHTTP(ctx, o, t, scs, overHTTP, progress)
			run.Targets = append(run.Targets, t.Doc())
			run.Results = append(run.Results, results...)
			if err != nil {
				return run, err
			}
		}
		if len(inProcess) == 0 {
			continue
		}
		dt, ok := t.(directTarget)
		if !ok {
			logf(o, "%s: no in-process variant, skipping the %s scenarios", t.Name(), directSuffix)
			continue
		}
		run.Targets = append(run.Targets, dt.DirectDoc())
		for _, i := range inProcess {
			res, err := runDirect(ctx, o, t.Name(), dt, scs[i], i, progress)
			if err != nil {
				return run, fmt.Errorf("%s, %s: %w", t.Name(), scs[i].name, err)
			}
			run.Results = append(run.Results, res)
		}
	}
	run.Compared = report.Compare(run.Results)
	return run, nil
}

// runOverHTTP starts the target, runs the scenarios (indexes into scs) against it and
// stops it (unless -keep leaves TicketView running).
func runOverHTTP(ctx context.Context, o options, t target, scs []scenario, which []int, progress io.Writer) ([]load.Result, error) {
	logf(o, "starting %s ...", t.Name())
	if err := t.Start(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name(), err)
	}
	var out []load.Result
	for _, i := range which {
		res, err := runScenario(ctx, o, t, scs[i], i, progress)
		if err != nil {
			t.Stop()
			return out, fmt.Errorf("%s, %s: %w", t.Name(), scs[i].name, err)
		}
		out = append(out, res)
	}
	if tv, ok := t.(*tvTarget); ok && o.keep {
		fmt.Printf("TicketView left running at %s (operator token %s)\n", tv.proc.url(), tv.token)
		return out, nil
	}
	t.Stop()
	return out, nil
}

func runScenario(ctx context.Context, o options, t target, sc scenario, i int, progress io.Writer) (load.Result, error) {
	layout := sc.layout(eventID(sc.name, int(time.Now().Unix()%100000)*10+i))
	d, err := t.Setup(ctx, layout)
	if err != nil {
		return load.Result{}, err
	}
	defer d.Close()
	cfg := sc.config
	cfg.Target = t.Name()
	cfg.Layout = layout
	cfg.Progress = progress
	if sc.name == "flash-sale" {
		cfg.Watch = t.Watchers(layout, o.watchers)
	}
	logf(o, "%s: %s, %s, %s places in %d sections", t.Name(), sc.name, cfg.Profile, load.Thousands(int64(layout.Places())), len(layout.Sections))
	if _, ok := t.(*clusterTarget); ok {
		cfg.Transport = "cluster client"
	}
	pids := pidsOf(t)
	before := sampleCPU(pids)
	res, ledger, err := load.Drive(ctx, cfg, d)
	if err != nil {
		return res, err
	}
	res.CPU = cpuUse(before, sampleCPU(pids), res.Requests())
	if _, remote := t.(*remoteTV); o.restart && !remote {
		switch err := t.Restart(ctx); {
		case errors.Is(err, errNoRestart):
			logf(o, "%s: not restarted before the check", t.Name())
		case err != nil:
			return res, fmt.Errorf("restart: %w", err)
		default:
			res.Check.Restarted = true
		}
	}
	_ = d.Close() // its connections were to the process that was killed
	restarted := res.Check.Restarted
	res.Check = ledger.Check(ctx, d, layout, time.Now())
	res.Check.Restarted = restarted
	logResult(o, t.Name(), sc.name, res)
	return res, nil
}

// runDirect runs an in-process scenario: a fresh instance of the target's design in this
// process, driven without HTTP, closed and opened again (with -restart) before the check.
func runDirect(ctx context.Context, o options, name string, t directTarget, sc scenario, i int, progress io.Writer) (res load.Result, err error) {
	layout := sc.layout(eventID(sc.name, int(time.Now().Unix()%100000)*10+i))
	inst, err := t.Direct(ctx, layout)
	if err != nil {
		return res, fmt.Errorf("in-process setup: %w", err)
	}
	defer func() {
		if cerr := inst.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing the in-process %s: %w", name, cerr)
		}
	}()
	cfg := sc.config
	cfg.Target = name
	cfg.Layout = layout
	cfg.Progress = progress
	logf(o, "%s: %s, %s, %s places in %d sections, in-process", name, sc.name, cfg.Profile, load.Thousands(int64(layout.Places())), len(layout.Sections))
	before := sampleCPU(nil)
	res, ledger, err := load.Drive(ctx, cfg, inst.Driver())
	if err != nil {
		return res, err
	}
	res.CPU = cpuUse(before, sampleCPU(nil), res.Requests())
	restarted := false
	if o.restart {
		logf(o, "%s: closing and reopening the in-process instance before the check ...", name)
		if err := inst.Restart(ctx); err != nil {
			return res, fmt.Errorf("restart: %w", err)
		}
		restarted = true
	}
	res.Check = ledger.Check(ctx, inst.Driver(), layout, time.Now())
	res.Check.Restarted = restarted
	logResult(o, name, sc.name, res)
	return res, nil
}

// logResult logs a scenario's outcome and its check.
func logResult(o options, target, scenario string, res load.Result) {
	verdict := "ok"
	if !res.Check.OK() {
		verdict = fmt.Sprintf("FAILED %+v", res.Check)
	}
	logf(o, "%s: %s: %s holds (%.0f/s, peak %.0f/s), %s sales, sell-out %.1fs, %s 409s, %s errors; check %s",
		target, scenario, load.Thousands(int64(res.Holds)), res.HoldsPerSec, res.PeakHolds, load.Thousands(int64(res.Sales)),
		res.SellOut, load.Thousands(int64(res.Conflicts)), load.Thousands(int64(res.Errors)), verdict)
}

// remoteTV is a TicketView someone else started (-url): set up through its API, never
// restarted.
type remoteTV struct {
	url, token string
	conns      int
}

func (r *remoteTV) Name() string { return "ticketview" }
func (r *remoteTV) Doc() load.TargetDoc {
	return load.TargetDoc{Name: "ticketview", Design: "a running TicketView at " + r.url, Durability: "as that node was started"}
}
func (r *remoteTV) Start(context.Context) error { return nil }
func (r *remoteTV) Restart(context.Context) error {
	return errors.New("a running TicketView is not restarted")
}
func (r *remoteTV) Stop() {}
func (r *remoteTV) Watchers(layout load.Layout, n int) load.Watcher {
	if n <= 0 {
		return nil
	}
	return load.LiveWatchers{URL: load.WatchURL(r.url, layout.Event), N: n, Token: r.token, Sections: sectionIDs(layout)}
}
func (r *remoteTV) Setup(ctx context.Context, layout load.Layout) (load.Driver, error) {
	tv := &tvTarget{proc: &process{addr: strings.TrimPrefix(r.url, "http://")}, token: r.token, conns: r.conns}
	return tv.Setup(ctx, layout)
}

func logf(o options, format string, args ...any) {
	if o.quiet {
		return
	}
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// lines turns the progress line's carriage returns into new lines when stderr is not a
// terminal (a log file, CI).
type lines struct{ w io.Writer }

func (l lines) Write(p []byte) (int, error) {
	s := strings.TrimRight(strings.TrimPrefix(string(p), "\r"), " ")
	if s == "" || s == "\n" {
		return len(p), nil
	}
	_, err := io.WriteString(l.w, s+"\n")
	return len(p), err
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
