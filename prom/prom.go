// Package prom exposes Prometheus metrics for TicketView processes (nodes and the
// gateway). Each process owns one Registry, separate from the client library's global
// default registry, and serves it with Handler.
//
// All methods are safe for concurrent use. ObserveHTTP and ObserveCall sit on the hot
// path: they do one labelled-child lookup and one observation, no allocation beyond
// what the client library does itself.
package prom

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	ticketview "github.com/ticketview/ticketview"
)

const namespace = "ticketview"

// latencyBuckets cover 100µs (an in-memory hold on a local section) to 10s (a request
// stuck behind failover or storage trouble) on a 1-2.5-5 scale.
var latencyBuckets = []float64{
	0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05,
	0.1, 0.25, 0.5,
	1, 2.5, 5, 10,
}

// failoverBuckets cover 0.25s (a quick reactivation) to 30s (suspicion timeouts plus
// reactivation under load).
var failoverBuckets = []float64{0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30}

// Call outcomes, the values of the outcome label of ticketview_cluster_call_duration_seconds.
const (
	OutcomeOK          = "ok"
	OutcomeRejected    = "rejected"
	OutcomeUnavailable = "unavailable"
	OutcomeError       = "error"
)

// Membership changes, the values of the change label of
// ticketview_cluster_membership_changes_total.
const (
	ChangeJoined  = "joined"
	ChangeLeft    = "left"
	ChangeFailed  = "failed"
	ChangeUpdated = "updated"
)

// Registry holds the process's metrics.
type Registry struct {
	reg *prometheus.Registry

	httpDuration    *prometheus.HistogramVec
	callDuration    *prometheus.HistogramVec
	callRetries     *prometheus.CounterVec
	memberChanges   *prometheus.CounterVec
	failoverSeconds prometheus.Histogram

	engine     *engineCollector
	membership *membershipCollector
}

// New returns a registry with the Go runtime and process collectors and TicketView's
// metrics.
func New() *Registry {
	r := &Registry{
		reg: prometheus.NewRegistry(),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "http_request_duration_seconds",
			Help:      "Duration of HTTP requests by method, route pattern and status class.",
			Buckets:   latencyBuckets,
		}, []string{"method", "route", "code"}),
		callDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "cluster_call_duration_seconds",
			Help:      "Duration of cluster calls from the gateway, retries included, by operation and outcome (ok, rejected, unavailable, error).",
			Buckets:   latencyBuckets,
		}, []string{"op", "outcome"}),
		callRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "cluster_call_retries_total",
			Help:      "Retries of cluster calls (attempts beyond the first), by operation.",
		}, []string{"op"}),
		memberChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "cluster_membership_changes_total",
			Help:      "Cluster membership changes seen by this process (joined, left, failed, updated).",
		}, []string{"change"}),
		failoverSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "cluster_failover_seconds",
			Help:      "Time from a member's failure being declared to its sections serving again elsewhere.",
			Buckets:   failoverBuckets,
		}),
		engine:     newEngineCollector(),
		membership: newMembershipCollector(),
	}
	// The known changes start at zero, so rate() and increase() work from the first scrape.
	for _, c := range []string{ChangeJoined, ChangeLeft, ChangeFailed, ChangeUpdated} {
		r.memberChanges.WithLabelValues(c)
	}
	r.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		r.httpDuration,
		r.callDuration,
		r.callRetries,
		r.memberChanges,
		r.failoverSeconds,
		r.engine,
		r.membership,
	)
	return r
}

// Handler serves the metrics in the Prometheus text format. A collector failing during a
// scrape does not fail the whole scrape: the others are still served.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// statusClasses maps status/100 to its label, precomputed so ObserveHTTP does not format.
var statusClasses = [...]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

// statusClass returns the class of an HTTP status: "1xx" to "5xx", "other" when out of range.
func statusClass(status int) string {
	if status < 100 || status > 599 {
		return statusClasses[0]
	}
	return statusClasses[status/100]
}

// ObserveHTTP records one HTTP request in ticketview_http_request_duration_seconds
// {method,route,code}. route must be the route pattern (e.g. "/api/v1/events/:event"),
// never the raw path; code is the status class ("2xx", "4xx", "5xx", ...).
func (r *Registry) ObserveHTTP(method, route string, status int, took time.Duration) {
	r.httpDuration.WithLabelValues(method, route, statusClass(status)).Observe(took.Seconds())
}

// outcome classifies a cluster call's error.
func outcome(err error) string {
	if err == nil {
		return OutcomeOK
	}
	switch ticketview.ErrorCode(err) {
	case ticketview.EUNAVAILABLE:
		return OutcomeUnavailable
	case ticketview.EINTERNAL:
		return OutcomeError
	default:
		return OutcomeRejected
	}
}

// ObserveCall records one cluster call from the gateway's cluster client:
// ticketview_cluster_call_duration_seconds{op,outcome} and, when attempts > 1,
// ticketview_cluster_call_retries_total{op} by attempts-1. The outcome is "ok" (err is
// nil), "rejected" (a domain error other than unavailable or internal), "unavailable"
// (EUNAVAILABLE) or "error" (anything else). Its signature matches cluster.Client's
// Observe hook.
func (r *Registry) ObserveCall(op string, took time.Duration, attempts int, err error) {
	r.callDuration.WithLabelValues(op, outcome(err)).Observe(took.Seconds())
	retries := r.callRetries.WithLabelValues(op) // created at 0 so the series exists
	if attempts > 1 {
		retries.Add(float64(attempts - 1))
	}
}

// MembershipChanged counts one membership change in
// ticketview_cluster_membership_changes_total{change}; change is one of "joined",
// "left", "failed", "updated". A failover starts with a "failed".
func (r *Registry) MembershipChanged(change string) {
	r.memberChanges.WithLabelValues(change).Inc()
}

// FailoverObserved records in ticketview_cluster_failover_seconds the time from a
// member's failure being declared to its sections serving again elsewhere.
func (r *Registry) FailoverObserved(took time.Duration) {
	r.failoverSeconds.Observe(took.Seconds())
}

// EngineStats are the seat engine's counters (a copy of the fields of actors.Stats, so
// that prom imports nothing of TicketView's but the root package).
type EngineStats struct {
	Sections        int   // active sections (gauge ticketview_sections_active)
	Activations     int64 // counter ticketview_section_activations_total
	Reactivations   int64 // counter ticketview_section_reactivations_total (activations of sections active before: restart, failover, move)
	Fenced          int64 // counter ticketview_section_fenced_total (activations fenced off by a newer one)
	Commits         int64 // counter ticketview_journal_commits_total
	CommittedEvents int64 // counter ticketview_journal_events_total
	CommitFailures  int64 // counter ticketview_journal_commit_failures_total
}

// RegisterEngine exports the engine's counters, read by one call of stats at each
// scrape. stats must be safe to call from the scraping goroutine. Calling it again
// replaces the previous source; until it is called, no engine metrics are exported
// (a gateway has no engine).
func (r *Registry) RegisterEngine(stats func() EngineStats) {
	r.engine.stats.Store(&stats)
}

// engineCollector exports EngineStats, calling the source once per scrape.
type engineCollector struct {
	stats atomic.Pointer[func() EngineStats]

	sections, activations, reactivations, fenced, commits, events, failures *prometheus.Desc
}

func newEngineCollector() *engineCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, nil, nil)
	}
	return &engineCollector{
		sections:      d("sections_active", "Sections active on this node."),
		activations:   d("section_activations_total", "Section activations on this node."),
		reactivations: d("section_reactivations_total", "Activations of sections that were active before (restart, failover, move)."),
		fenced:        d("section_fenced_total", "Section activations fenced off by a newer activation."),
		commits:       d("journal_commits_total", "Journal commits."),
		events:        d("journal_events_total", "Events committed to the journal."),
		failures:      d("journal_commit_failures_total", "Failed journal commits."),
	}
}

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sections, c.activations, c.reactivations, c.fenced, c.commits, c.events, c.failures} {
		ch <- d
	}
}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.stats.Load()
	if f == nil || *f == nil {
		return
	}
	s := (*f)()
	ch <- prometheus.MustNewConstMetric(c.sections, prometheus.GaugeValue, float64(s.Sections))
	for _, m := range []struct {
		d *prometheus.Desc
		v int64
	}{
		{c.activations, s.Activations},
		{c.reactivations, s.Reactivations},
		{c.fenced, s.Fenced},
		{c.commits, s.Commits},
		{c.events, s.CommittedEvents},
		{c.failures, s.CommitFailures},
	} {
		ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v))
	}
}

// Member is one node of the cluster as the membership sees it.
type Member struct {
	ID    string
	Role  string // "member" or "client"
	State string // "alive", "suspect", "dead", "left"
}

// RegisterMembership exports gauge ticketview_cluster_nodes{role,state}, the count of
// nodes per role and state, from one call of nodes at each scrape. Every known role and
// state pair is exported, at 0 when no node is in it, so alerts on e.g. state="dead"
// see a value rather than an absent series; unknown roles or states are exported as
// they come. Calling it again replaces the previous source; until it is called, the
// gauge is not exported.
func (r *Registry) RegisterMembership(nodes func() []Member) {
	r.membership.nodes.Store(&nodes)
}

var (
	knownRoles  = []string{"member", "client"}
	knownStates = []string{"alive", "suspect", "dead", "left"}
)

type roleState struct{ role, state string }

// membershipCollector exports ticketview_cluster_nodes, calling the source once per scrape.
type membershipCollector struct {
	nodes atomic.Pointer[func() []Member]
	desc  *prometheus.Desc
}

func newMembershipCollector() *membershipCollector {
	return &membershipCollector{desc: prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "cluster", "nodes"),
		"Cluster nodes by role and state, as this process's membership sees them.",
		[]string{"role", "state"}, nil)}
}

func (c *membershipCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *membershipCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.nodes.Load()
	if f == nil || *f == nil {
		return
	}
	counts := make(map[roleState]int, len(knownRoles)*len(knownStates))
	for _, role := range knownRoles {
		for _, state := range knownStates {
			counts[roleState{role, state}] = 0
		}
	}
	for _, m := range (*f)() {
		counts[roleState{m.Role, m.State}]++
	}
	for k, n := range counts { // the registry sorts the series
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), k.role, k.state)
	}
}
