package prom_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/prom"
)

// scrape serves one request to r's handler and parses the text exposition.
func scrape(t *testing.T, r *prom.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("scrape: content type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("scrape: parse: %v", err)
	}
	return fams
}

// find returns the series of family name with exactly the given labels, nil if absent.
func find(fams map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
				continue next
			}
		}
		return m
	}
	return nil
}

// value returns the value of a counter, gauge or untyped series; it fails if absent.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	m := find(fams, name, labels...)
	if m == nil {
		t.Fatalf("%s%v: no such series", name, labels)
	}
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	t.Fatalf("%s%v: not a counter or gauge", name, labels)
	return 0
}

// histogram returns a histogram series; it fails if absent.
func histogram(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) *dto.Histogram {
	t.Helper()
	m := find(fams, name, labels...)
	if m == nil || m.Histogram == nil {
		t.Fatalf("%s%v: no such histogram series", name, labels)
	}
	return m.GetHistogram()
}

// bucket returns the cumulative count of the bucket with upper bound le.
func bucket(t *testing.T, h *dto.Histogram, le float64) uint64 {
	t.Helper()
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() == le {
			return b.GetCumulativeCount()
		}
	}
	t.Fatalf("no bucket le=%g", le)
	return 0
}

// compareText checks that the named families of a scrape equal those of expected, a
// text exposition. (testutil.ScrapeAndCompare would do, but pulls a module go.mod lacks.)
func compareText(t *testing.T, got map[string]*dto.MetricFamily, expected string, names ...string) {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	want, err := p.TextToMetricFamilies(strings.NewReader(expected))
	if err != nil {
		t.Fatalf("parse expected: %v", err)
	}
	text := func(f *dto.MetricFamily) string {
		if f == nil {
			return "<absent>"
		}
		var b strings.Builder
		if _, err := expfmt.MetricFamilyToText(&b, f); err != nil {
			t.Fatalf("render %s: %v", f.GetName(), err)
		}
		return b.String()
	}
	for _, name := range names {
		if g, w := text(got[name]), text(want[name]); g != w {
			t.Errorf("%s:\ngot:\n%s\nwant:\n%s", name, g, w)
		}
	}
}

func approx(a, b float64) bool { d := a - b; return d < 1e-9 && d > -1e-9 }

func TestRuntimeAndProcessCollectors(t *testing.T) {
	fams := scrape(t, prom.New())
	if g := value(t, fams, "go_goroutines"); g < 1 {
		t.Errorf("go_goroutines = %v, want >= 1", g)
	}
	if fams["go_memstats_alloc_bytes"] == nil {
		t.Errorf("go_memstats_alloc_bytes missing")
	}
	// The process collector only works where procfs does; check it on Linux.
	if runtime.GOOS == "linux" {
		if v := value(t, fams, "process_start_time_seconds"); v < 1e9 {
			t.Errorf("process_start_time_seconds = %v", v)
		}
	}
	// Nothing of ours is exported before it is used or registered, except the
	// membership-change counters, which start at zero.
	for _, name := range []string{"ticketview_sections_active", "ticketview_cluster_nodes", "ticketview_http_request_duration_seconds"} {
		if fams[name] != nil {
			t.Errorf("%s exported before use", name)
		}
	}
	for _, c := range []string{"joined", "left", "failed", "updated"} {
		if v := value(t, fams, "ticketview_cluster_membership_changes_total", "change", c); v != 0 {
			t.Errorf("changes{%s} = %v, want 0", c, v)
		}
	}
}

func TestRegistriesAreIndependent(t *testing.T) {
	a, b := prom.New(), prom.New() // a second New must not panic on duplicate registration
	a.ObserveHTTP("GET", "/x", 200, time.Millisecond)
	if find(scrape(t, b), "ticketview_http_request_duration_seconds", "method", "GET", "route", "/x", "code", "2xx") != nil {
		t.Fatal("an observation on one registry shows on another")
	}
}

func TestObserveHTTP(t *testing.T) {
	r := prom.New()
	r.ObserveHTTP("GET", "/api/v1/events/:event", 200, 2*time.Millisecond)
	r.ObserveHTTP("GET", "/api/v1/events/:event", 204, 30*time.Millisecond)
	r.ObserveHTTP("GET", "/api/v1/events/:event", 404, 300*time.Microsecond)
	r.ObserveHTTP("POST", "/api/v1/holds", 409, time.Millisecond)
	r.ObserveHTTP("POST", "/api/v1/holds", 503, 12*time.Second)
	r.ObserveHTTP("POST", "/api/v1/holds", 0, time.Millisecond)

	fams := scrape(t, r)
	const name = "ticketview_http_request_duration_seconds"
	h := histogram(t, fams, name, "method", "GET", "route", "/api/v1/events/:event", "code", "2xx")
	if h.GetSampleCount() != 2 || !approx(h.GetSampleSum(), 0.032) {
		t.Errorf("GET 2xx: count %d sum %v, want 2 and 0.032", h.GetSampleCount(), h.GetSampleSum())
	}
	if got := bucket(t, h, 0.0025); got != 1 {
		t.Errorf("GET 2xx le=0.0025: %d, want 1", got)
	}
	if got := bucket(t, h, 0.05); got != 2 {
		t.Errorf("GET 2xx le=0.05: %d, want 2", got)
	}
	h = histogram(t, fams, name, "method", "GET", "route", "/api/v1/events/:event", "code", "4xx")
	if h.GetSampleCount() != 1 || bucket(t, h, 0.00025) != 0 || bucket(t, h, 0.0005) != 1 {
		t.Errorf("GET 4xx: %v", h)
	}
	if h := histogram(t, fams, name, "method", "POST", "route", "/api/v1/holds", "code", "4xx"); h.GetSampleCount() != 1 {
		t.Errorf("POST 4xx count %d, want 1", h.GetSampleCount())
	}
	h = histogram(t, fams, name, "method", "POST", "route", "/api/v1/holds", "code", "5xx")
	if h.GetSampleCount() != 1 || bucket(t, h, 10) != 0 {
		t.Errorf("POST 5xx of 12s: count %d, le=10 %d; want 1 and 0", h.GetSampleCount(), bucket(t, h, 10))
	}
	if histogram(t, fams, name, "method", "POST", "route", "/api/v1/holds", "code", "other").GetSampleCount() != 1 {
		t.Errorf("status 0 not counted as other")
	}
	// Buckets span 100µs to 10s (the text format adds +Inf).
	bs := h.GetBucket()
	if first, last := bs[0].GetUpperBound(), bs[len(bs)-2].GetUpperBound(); first != 0.0001 || last != 10 {
		t.Errorf("buckets span %g..%g, want 0.0001..10", first, last)
	}
	if n := len(fams[name].GetMetric()); n != 5 {
		t.Errorf("%d series, want 5 (status classes, not codes)", n)
	}
}

func TestObserveCall(t *testing.T) {
	r := prom.New()
	r.ObserveCall("hold", 3*time.Millisecond, 1, nil)
	r.ObserveCall("hold", 7*time.Millisecond, 3, nil)
	r.ObserveCall("hold", 1*time.Millisecond, 2, fmt.Errorf("wrapped: %w", ticketview.Errorf(ticketview.ESEATTAKEN, "seat %s is sold", "A-1")))
	r.ObserveCall("confirm", 2*time.Second, 4, ticketview.ErrUnavailable)
	r.ObserveCall("confirm", time.Millisecond, 1, ticketview.ErrFenced)
	r.ObserveCall("confirm", time.Millisecond, 1, errors.New("boom"))
	r.ObserveCall("confirm", time.Millisecond, 1, ticketview.Errorf(ticketview.EINTERNAL, "bad"))
	r.ObserveCall("release", time.Millisecond, 0, nil) // attempts < 1 must not decrement

	fams := scrape(t, r)
	const dur = "ticketview_cluster_call_duration_seconds"
	for _, c := range []struct {
		op, outcome string
		count       uint64
		sum         float64
	}{
		{"hold", "ok", 2, 0.010},
		{"hold", "rejected", 1, 0.001},
		{"confirm", "unavailable", 2, 2.001},
		{"confirm", "error", 2, 0.002},
		{"release", "ok", 1, 0.001},
	} {
		h := histogram(t, fams, dur, "op", c.op, "outcome", c.outcome)
		if h.GetSampleCount() != c.count || !approx(h.GetSampleSum(), c.sum) {
			t.Errorf("%s/%s: count %d sum %v, want %d and %v", c.op, c.outcome, h.GetSampleCount(), h.GetSampleSum(), c.count, c.sum)
		}
	}
	if n := len(fams[dur].GetMetric()); n != 5 {
		t.Errorf("%d duration series, want 5", n)
	}
	const retries = "ticketview_cluster_call_retries_total"
	for op, want := range map[string]float64{"hold": 3, "confirm": 3, "release": 0} {
		if got := value(t, fams, retries, "op", op); got != want {
			t.Errorf("retries{op=%s} = %v, want %v", op, got, want)
		}
	}
}

func TestRegisterEngine(t *testing.T) {
	r := prom.New()
	var calls atomic.Int64
	var mu sync.Mutex
	s := prom.EngineStats{Sections: 3, Activations: 5, Reactivations: 1, Fenced: 0, Commits: 40, CommittedEvents: 95, CommitFailures: 2}
	r.RegisterEngine(func() prom.EngineStats {
		calls.Add(1)
		mu.Lock()
		defer mu.Unlock()
		return s
	})

	check := func(want map[string]float64) {
		t.Helper()
		fams := scrape(t, r)
		for name, v := range want {
			if got := value(t, fams, name); got != v {
				t.Errorf("%s = %v, want %v", name, got, v)
			}
			typ := fams[name].GetType()
			if name == "ticketview_sections_active" && typ != dto.MetricType_GAUGE || name != "ticketview_sections_active" && typ != dto.MetricType_COUNTER {
				t.Errorf("%s has type %v", name, typ)
			}
		}
	}
	check(map[string]float64{
		"ticketview_sections_active":               3,
		"ticketview_section_activations_total":     5,
		"ticketview_section_reactivations_total":   1,
		"ticketview_section_fenced_total":          0,
		"ticketview_journal_commits_total":         40,
		"ticketview_journal_events_total":          95,
		"ticketview_journal_commit_failures_total": 2,
	})
	if n := calls.Load(); n != 1 {
		t.Errorf("stats called %d times in one scrape, want 1", n)
	}

	mu.Lock()
	s = prom.EngineStats{Sections: 2, Activations: 7, Reactivations: 3, Fenced: 1, Commits: 41, CommittedEvents: 99, CommitFailures: 2}
	mu.Unlock()
	check(map[string]float64{
		"ticketview_sections_active":               2,
		"ticketview_section_activations_total":     7,
		"ticketview_section_reactivations_total":   3,
		"ticketview_section_fenced_total":          1,
		"ticketview_journal_commits_total":         41,
		"ticketview_journal_events_total":          99,
		"ticketview_journal_commit_failures_total": 2,
	})

	// Registering again replaces the source rather than panicking.
	r.RegisterEngine(func() prom.EngineStats { return prom.EngineStats{Sections: 9} })
	check(map[string]float64{"ticketview_sections_active": 9, "ticketview_journal_commits_total": 0})
}

func TestRegisterMembership(t *testing.T) {
	r := prom.New()
	var mu sync.Mutex
	nodes := []prom.Member{
		{ID: "n1", Role: "member", State: "alive"},
		{ID: "n2", Role: "member", State: "alive"},
		{ID: "n3", Role: "member", State: "suspect"},
		{ID: "g1", Role: "client", State: "alive"},
	}
	r.RegisterMembership(func() []prom.Member {
		mu.Lock()
		defer mu.Unlock()
		return append([]prom.Member(nil), nodes...)
	})

	const name = "ticketview_cluster_nodes"
	fams := scrape(t, r)
	want := map[[2]string]float64{
		{"member", "alive"}: 2, {"member", "suspect"}: 1, {"member", "dead"}: 0, {"member", "left"}: 0,
		{"client", "alive"}: 1, {"client", "suspect"}: 0, {"client", "dead"}: 0, {"client", "left"}: 0,
	}
	for k, v := range want {
		if got := value(t, fams, name, "role", k[0], "state", k[1]); got != v {
			t.Errorf("nodes{%s,%s} = %v, want %v", k[0], k[1], got, v)
		}
	}
	if n := len(fams[name].GetMetric()); n != 8 {
		t.Errorf("%d series, want 8", n)
	}

	mu.Lock()
	nodes[2].State = "dead"
	nodes = append(nodes, prom.Member{ID: "n4", Role: "member", State: "alive"}, prom.Member{ID: "x", Role: "observer", State: "alive"})
	mu.Unlock()
	fams = scrape(t, r)
	for k, v := range map[[2]string]float64{{"member", "alive"}: 3, {"member", "suspect"}: 0, {"member", "dead"}: 1, {"observer", "alive"}: 1} {
		if got := value(t, fams, name, "role", k[0], "state", k[1]); got != v {
			t.Errorf("after change: nodes{%s,%s} = %v, want %v", k[0], k[1], got, v)
		}
	}
}

func TestMembershipChangesAndFailover(t *testing.T) {
	r := prom.New()
	r.MembershipChanged("joined")
	r.MembershipChanged("joined")
	r.MembershipChanged("joined")
	r.MembershipChanged("failed")
	r.MembershipChanged("updated")
	r.FailoverObserved(800 * time.Millisecond)
	r.FailoverObserved(4 * time.Second)
	r.FailoverObserved(45 * time.Second)

	compareText(t, scrape(t, r), `
# HELP ticketview_cluster_membership_changes_total Cluster membership changes seen by this process (joined, left, failed, updated).
# TYPE ticketview_cluster_membership_changes_total counter
ticketview_cluster_membership_changes_total{change="failed"} 1
ticketview_cluster_membership_changes_total{change="joined"} 3
ticketview_cluster_membership_changes_total{change="left"} 0
ticketview_cluster_membership_changes_total{change="updated"} 1
# HELP ticketview_cluster_failover_seconds Time from a member's failure being declared to its sections serving again elsewhere.
# TYPE ticketview_cluster_failover_seconds histogram
ticketview_cluster_failover_seconds_bucket{le="0.25"} 0
ticketview_cluster_failover_seconds_bucket{le="0.5"} 0
ticketview_cluster_failover_seconds_bucket{le="1"} 1
ticketview_cluster_failover_seconds_bucket{le="2"} 1
ticketview_cluster_failover_seconds_bucket{le="3"} 1
ticketview_cluster_failover_seconds_bucket{le="5"} 2
ticketview_cluster_failover_seconds_bucket{le="7.5"} 2
ticketview_cluster_failover_seconds_bucket{le="10"} 2
ticketview_cluster_failover_seconds_bucket{le="15"} 2
ticketview_cluster_failover_seconds_bucket{le="20"} 2
ticketview_cluster_failover_seconds_bucket{le="30"} 2
ticketview_cluster_failover_seconds_bucket{le="+Inf"} 3
ticketview_cluster_failover_seconds_sum 49.8
ticketview_cluster_failover_seconds_count 3
`, "ticketview_cluster_membership_changes_total", "ticketview_cluster_failover_seconds")
}

// TestConcurrent exercises every method from many goroutines while scraping, for -race,
// and checks that no observation is lost.
func TestConcurrent(t *testing.T) {
	r := prom.New()
	var sections atomic.Int64
	r.RegisterEngine(func() prom.EngineStats { return prom.EngineStats{Sections: int(sections.Load())} })
	r.RegisterMembership(func() []prom.Member { return []prom.Member{{ID: "n1", Role: "member", State: "alive"}} })

	const workers, each = 8, 200
	var wg sync.WaitGroup
	stop := make(chan struct{})
	scraped := make(chan struct{})
	go func() {
		defer close(scraped)
		for {
			select {
			case <-stop:
				return
			default:
				rec := httptest.NewRecorder()
				r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			}
		}
	}()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r.ObserveHTTP("GET", "/api/v1/events/:event", 200, time.Millisecond)
				r.ObserveCall("hold", time.Millisecond, 2, nil)
				r.MembershipChanged("updated")
				r.FailoverObserved(time.Second)
				sections.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-scraped

	fams := scrape(t, r)
	const n = workers * each
	if c := histogram(t, fams, "ticketview_http_request_duration_seconds", "method", "GET", "route", "/api/v1/events/:event", "code", "2xx").GetSampleCount(); c != n {
		t.Errorf("http count %d, want %d", c, n)
	}
	if c := histogram(t, fams, "ticketview_cluster_call_duration_seconds", "op", "hold", "outcome", "ok").GetSampleCount(); c != n {
		t.Errorf("call count %d, want %d", c, n)
	}
	if v := value(t, fams, "ticketview_cluster_call_retries_total", "op", "hold"); v != n {
		t.Errorf("retries %v, want %d", v, n)
	}
	if v := value(t, fams, "ticketview_cluster_membership_changes_total", "change", "updated"); v != n {
		t.Errorf("changes %v, want %d", v, n)
	}
	if v := value(t, fams, "ticketview_sections_active"); v != n {
		t.Errorf("sections %v, want %d", v, n)
	}
}

func BenchmarkObserveHTTP(b *testing.B) {
	r := prom.New()
	b.ReportAllocs()
	for b.Loop() {
		r.ObserveHTTP("GET", "/api/v1/events/:event", 200, time.Millisecond)
	}
}

func BenchmarkObserveCall(b *testing.B) {
	r := prom.New()
	err := ticketview.Errorf(ticketview.ESEATTAKEN, "taken")
	b.ReportAllocs()
	for b.Loop() {
		r.ObserveCall("hold", time.Millisecond, 2, err)
	}
}
