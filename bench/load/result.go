package load

import "time"

// Op is a kind of request the buyers make.
type Op string

// The request kinds, as the report names them.
const (
	OpPick     Op = "hold_pick" // hold of explicitly picked seats
	OpBest     Op = "hold_best" // best-available hold
	OpGA       Op = "hold_ga"   // general-admission hold
	OpRelease  Op = "release"
	OpConfirm  Op = "confirm"
	OpCheckout Op = "checkout" // order + sandbox payment (TicketView only)
)

// Ops lists the kinds in report order.
var Ops = []Op{OpPick, OpBest, OpGA, OpRelease, OpConfirm, OpCheckout}

// IsHold is true for the hold kinds.
func (o Op) IsHold() bool { return o == OpPick || o == OpBest || o == OpGA }

// Run is one invocation of the harness: the machine, and one Result per target and
// scenario.
type Run struct {
	Started  time.Time   `json:"started"`
	Machine  Machine     `json:"machine"`
	Command  string      `json:"command"`
	Results  []Result    `json:"results"`
	Compared []Ratio     `json:"compared,omitempty"`
	Targets  []TargetDoc `json:"targets,omitempty"`
}

// Machine describes where the run was made.
type Machine struct {
	OS        string  `json:"os"`
	Arch      string  `json:"arch"`
	CPUs      int     `json:"cpus"`
	CPUModel  string  `json:"cpu_model"`
	MemoryGiB float64 `json:"memory_gib"`
	Go        string  `json:"go"`
	Postgres  string  `json:"postgres,omitempty"`
	Redis     string  `json:"redis,omitempty"`
	Load      string  `json:"load,omitempty"` // load average before the run
	Note      string  `json:"note,omitempty"`
}

// TargetDoc says what a target is (its design and durability), for the report.
type TargetDoc struct {
	Name       string `json:"name"`
	Design     string `json:"design"`
	Durability string `json:"durability"`
}

// Scenario is the load that was applied.
type Scenario struct {
	Name       string        `json:"name"`
	Profile    string        `json:"profile"` // constant, ramp, spike
	Rate       float64       `json:"rate"`    // buyers/s (constant; start of a ramp; base of a spike)
	PeakRate   float64       `json:"peak_rate,omitempty"`
	Duration   time.Duration `json:"duration"`
	MaxBuyers  int           `json:"max_buyers"` // buyers in flight at most; arrivals beyond are dropped
	Places     int           `json:"places"`
	Sections   int           `json:"sections"`
	Mix        string        `json:"mix"` // e.g. "pick=50,best=35,ga=15"
	BuyRatio   float64       `json:"buy_ratio"`
	Think      string        `json:"think"` // e.g. "0-500ms"
	Checkout   string        `json:"checkout"`
	Watchers   int           `json:"watchers"`
	Transport  string        `json:"transport"` // http, cluster
	TTLSeconds int           `json:"ttl_seconds"`
}

// Result is one target under one scenario.
type Result struct {
	Target   string    `json:"target"`
	Scenario Scenario  `json:"scenario"`
	Started  time.Time `json:"started"`
	Elapsed  float64   `json:"elapsed_s"`

	Arrived int `json:"arrived"` // buyers that arrived
	Dropped int `json:"dropped"` // arrivals not served: MaxBuyers were in flight

	Holds       int      `json:"holds"`         // acknowledged holds
	HeldPlaces  int      `json:"held_places"`   // places in them
	Sales       int      `json:"sales"`         // acknowledged bookings
	SoldPlaces  int      `json:"sold_places"`   // places in them
	HoldsPerSec float64  `json:"holds_per_sec"` // acknowledged holds / elapsed until sell-out (or the end)
	PeakHolds   float64  `json:"peak_holds_per_sec"`
	SalesPerSec float64  `json:"sales_per_sec"`
	SellOut     float64  `json:"sell_out_s,omitempty"` // seconds from the start until every place was sold; 0 if not
	Conflicts   int      `json:"conflicts"`            // clean 409s
	Errors      int      `json:"errors"`               // anything else that was not a success
	ErrorSample []string `json:"error_sample,omitempty"`

	Ops      []OpStats `json:"ops"`
	Timeline []Second  `json:"timeline"`

	Watchers *WatchStats `json:"watchers,omitempty"`
	CPU      *CPUUse     `json:"cpu,omitempty"`
	Check    Check       `json:"check"`
}

// Requests is how many requests the buyers made (every kind, whatever the answer).
func (r Result) Requests() int {
	n := 0
	for _, o := range r.Ops {
		n += o.Count
	}
	return n
}

// CPUUse is where the machine's CPU time went while the buyers were served (from the
// first arrival until the last buyer was done), in CPU seconds over every core. The load
// generator shares the machine with the target, so on a small machine its share bounds
// what any target can be offered. A process's time (Harness, Target) includes what the
// hypervisor stole while it ran; Busy does not: with much Steal, they do not add up.
type CPUUse struct {
	Wall     float64 `json:"wall_s"`
	Busy     float64 `json:"busy_s"`    // the whole machine, every core
	Idle     float64 `json:"idle_s"`    // idle (and waiting for I/O)
	Steal    float64 `json:"steal_s"`   // a virtual machine's CPUs wanted but the hypervisor ran others: a noisy neighbour, not this run's work
	Harness  float64 `json:"harness_s"` // the harness: load generator and watchers (in-process: the target too)
	Target   float64 `json:"target_s"`  // the target's server processes (0 in-process, or for a target it did not start)
	Other    float64 `json:"other_s"`   // the rest: the target's servers (PostgreSQL, Redis), kernel work not charged to a process, anything else running
	Requests int     `json:"requests"`
}

// PerRequest is CPU seconds as microseconds per request (0 without requests).
func (u *CPUUse) PerRequest(seconds float64) float64 {
	if u == nil || u.Requests == 0 {
		return 0
	}
	return seconds / float64(u.Requests) * 1e6
}

// Utilization is the busy share of the machine's CPU time (0 to 1).
func (u *CPUUse) Utilization() float64 {
	if u == nil || u.Busy+u.Idle+u.Steal <= 0 {
		return 0
	}
	return u.Busy / (u.Busy + u.Idle + u.Steal)
}

// Stolen is the share of the machine's CPU time the hypervisor gave to others (0 to 1).
func (u *CPUUse) Stolen() float64 {
	if u == nil || u.Busy+u.Idle+u.Steal <= 0 {
		return 0
	}
	return u.Steal / (u.Busy + u.Idle + u.Steal)
}

// OpStats are one request kind's counts and latencies (milliseconds).
type OpStats struct {
	Op        Op      `json:"op"`
	Count     int     `json:"count"`
	OK        int     `json:"ok"`
	Conflicts int     `json:"conflicts"`
	Errors    int     `json:"errors"`
	P50       float64 `json:"p50_ms"`
	P95       float64 `json:"p95_ms"`
	P99       float64 `json:"p99_ms"`
	P999      float64 `json:"p999_ms"`
	Max       float64 `json:"max_ms"`
	Mean      float64 `json:"mean_ms"`
	// Histogram of latencies: Counts[i] requests took less than Bounds[i] ms (and at
	// least Bounds[i-1]); the last count is everything above the last bound.
	Bounds []float64 `json:"hist_bounds_ms"`
	Counts []int     `json:"hist_counts"`
}

// Second is one second of the run (T is its start, seconds from the run's start).
type Second struct {
	T         int     `json:"t"`
	Arrivals  int     `json:"arrivals"`
	Holds     int     `json:"holds"` // acknowledged holds finished in this second
	Sales     int     `json:"sales"` // acknowledged sales
	Conflicts int     `json:"conflicts"`
	Errors    int     `json:"errors"`
	HoldP50   float64 `json:"hold_p50_ms"` // over the holds of every kind finished in this second
	HoldP99   float64 `json:"hold_p99_ms"`
	InFlight  int     `json:"in_flight"` // buyers in flight at the end of the second
}

// WatchStats are the WebSocket watchers' counts.
type WatchStats struct {
	Connected int `json:"connected"`
	Failed    int `json:"failed"`
	Messages  int `json:"messages"`
	Dropped   int `json:"dropped"` // connections that ended before the run did
}

// Check is the invariant check of the target's store against the acknowledged ledger,
// after the run. SoldTwice, OverCapacity and Lost must all be 0.
type Check struct {
	Done         bool     `json:"done"`
	SoldTwice    int      `json:"sold_twice"`    // seats in two acknowledged bookings, or sold twice in the store
	OverCapacity int      `json:"over_capacity"` // sections with more sold (or held + sold) than places
	LostHolds    int      `json:"lost_holds"`    // acknowledged, live holds whose places the store does not hold
	LostSales    int      `json:"lost_sales"`    // acknowledged sales whose places the store has not sold
	Unacked      int      `json:"unacked"`       // places sold in the store without an acknowledged sale (allowed up to Uncertain)
	Uncertain    int      `json:"uncertain"`     // places asked for by requests that got no answer (or a 5xx): their outcome is unknown
	Restarted    bool     `json:"restarted"`     // the target was killed (SIGKILL) and restarted before the check
	Details      []string `json:"details,omitempty"`
}

// OK is true when no invariant is broken.
func (c Check) OK() bool {
	return c.Done && c.SoldTwice == 0 && c.OverCapacity == 0 && c.LostHolds == 0 && c.LostSales == 0 && c.Unacked <= c.Uncertain
}

// Ratio compares TicketView with a baseline under one scenario.
type Ratio struct {
	Scenario      string  `json:"scenario"`
	Baseline      string  `json:"baseline"`
	Throughput    float64 `json:"throughput_ratio"` // TicketView's peak holds/s over the baseline's
	P99           float64 `json:"p99_ratio"`        // TicketView's hold p99 over the baseline's
	TicketViewP99 float64 `json:"ticketview_p99_ms"`
	BaselineP99   float64 `json:"baseline_p99_ms"`
	// Ceiling is the throughput ratio TicketView could reach at most on this machine if its
	// server and stores used no CPU at all: the baseline's CPU per acknowledged hold (the
	// whole machine's) over the CPU the load generator alone spent per hold for TicketView.
	// 0 without CPU accounting. It bounds Throughput where both runs kept the CPUs busy.
	Ceiling    float64 `json:"ceiling_ratio,omitempty"`
	Oversold   int     `json:"baseline_oversold"`   // the baseline's SoldTwice + OverCapacity
	TVOversold int     `json:"ticketview_oversold"` // TicketView's
}
