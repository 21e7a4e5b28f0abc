package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// NodeStatus is what a member reports of itself (GET /api/v1/admin/node).
type NodeStatus struct {
	ID             string         `json:"id"`
	Address        string         `json:"address"` // protoactor remote
	Gossip         string         `json:"gossip"`
	HTTPAddr       string         `json:"http_addr"`
	StartedAt      time.Time      `json:"started_at"`
	UptimeSeconds  float64        `json:"uptime_seconds"`
	ActiveSections int            `json:"active_sections"`
	Sections       []string       `json:"sections"`         // identities of the sections active here
	RequestsPerSec float64        `json:"requests_per_sec"` // section commands, over the last 10 s
	RequestsTotal  int64          `json:"requests_total"`
	Memory         MemoryStatus   `json:"memory"`
	Engine         any            `json:"engine,omitempty"` // the engine's counters
	Goroutines     int            `json:"goroutines"`
	Role           string         `json:"role"`
	Extra          map[string]any `json:"extra,omitempty"`
}

// MemoryStatus is the Go runtime's view of the process's memory.
type MemoryStatus struct {
	HeapAllocBytes uint64 `json:"heap_alloc_bytes"`
	SysBytes       uint64 `json:"sys_bytes"`
	NumGC          uint32 `json:"num_gc"`
}

// ReadMemory reads the runtime's memory statistics.
func ReadMemory() MemoryStatus {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return MemoryStatus{HeapAllocBytes: m.HeapAlloc, SysBytes: m.Sys, NumGC: m.NumGC}
}

// Status is the cluster status the gateway serves (GET /api/v1/admin/cluster).
type Status struct {
	At       time.Time          `json:"at"`
	Self     string             `json:"self"` // the gateway's member id
	Members  []MemberStatus     `json:"members"`
	Clients  []NodeInfo         `json:"clients"`
	Sections []SectionPlacement `json:"sections"`
	Changes  []MembershipChange `json:"changes"` // recent, oldest first
}

// MemberStatus is a member as the membership sees it, with its own report when it answered.
type MemberStatus struct {
	NodeInfo
	UptimeSeconds float64     `json:"uptime_seconds"`
	Report        *NodeStatus `json:"report,omitempty"`
	ReportError   string      `json:"report_error,omitempty"`
}

// SectionPlacement says where a section lives: Owner is the member the placement gives it
// to now; ActiveOn lists the members that report it active (two during a move).
type SectionPlacement struct {
	Section  string   `json:"section"`
	Owner    string   `json:"owner"`
	ActiveOn []string `json:"active_on"`
}

// StatusSource is what Collect needs from the gateway's cluster node.
type StatusSource struct {
	Node *Node
	// Sections lists the identities of the sections to place (e.g. every section of the
	// events on sale); nil means only those reported active.
	Sections func(ctx context.Context) ([]string, error)
	// HTTP fetches members' reports; AdminToken authorizes it.
	HTTP       *http.Client
	AdminToken string
}

// Collect builds the cluster status: members from the membership, each member's report
// fetched from its HTTP address (bounded by ctx), placement from the lookup's table.
func Collect(ctx context.Context, src StatusSource) (Status, error) {
	now := time.Now()
	st := Status{At: now.UTC(), Self: src.Node.ID(), Changes: src.Node.Provider.History()}
	client := src.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	addrOf := map[string]string{} // remote address -> member id
	var wg sync.WaitGroup
	for _, n := range src.Node.Provider.Nodes() {
		if n.Role != "member" {
			st.Clients = append(st.Clients, n)
			continue
		}
		ms := MemberStatus{NodeInfo: n}
		if !n.Since.IsZero() {
			ms.UptimeSeconds = now.Sub(n.Since).Seconds()
		}
		if n.State == "alive" || n.State == "suspect" {
			addrOf[fmt.Sprintf("%s:%d", n.Host, n.Port)] = n.ID
		}
		st.Members = append(st.Members, ms)
	}
	for i := range st.Members {
		m := &st.Members[i]
		if m.HTTPAddr == "" || (m.State != "alive" && m.State != "suspect") {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := fetchReport(ctx, client, m.HTTPAddr, src.AdminToken)
			if err != nil {
				m.ReportError = err.Error()
				return
			}
			m.Report = rep
		}()
	}
	wg.Wait()
	sort.Slice(st.Members, func(i, j int) bool { return st.Members[i].ID < st.Members[j].ID })

	active := map[string][]string{}
	for _, m := range st.Members {
		if m.Report == nil {
			continue
		}
		for _, s := range m.Report.Sections {
			active[s] = append(active[s], m.ID)
		}
	}
	ids := map[string]bool{}
	if src.Sections != nil {
		list, err := src.Sections(ctx)
		if err != nil {
			return st, err
		}
		for _, s := range list {
			ids[s] = true
		}
	}
	for s := range active {
		ids[s] = true
	}
	for s := range ids {
		p := SectionPlacement{Section: s, ActiveOn: active[s]}
		if addr := src.Node.Lookup.Owner(SectionKind, s); addr != "" {
			p.Owner = addrOf[addr]
		}
		if p.ActiveOn == nil {
			p.ActiveOn = []string{}
		}
		st.Sections = append(st.Sections, p)
	}
	sort.Slice(st.Sections, func(i, j int) bool { return st.Sections[i].Section < st.Sections[j].Section })
	return st, nil
}

func fetchReport(ctx context.Context, client *http.Client, addr, token string) (*NodeStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/v1/admin/node", nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", addr, res.Status)
	}
	var rep NodeStatus
	if err := json.NewDecoder(res.Body).Decode(&rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// RateMeter counts events and tells their rate over the last 10 seconds.
type RateMeter struct {
	total   atomic.Int64
	mu      sync.Mutex
	samples [11]struct {
		at time.Time
		n  int64
	}
	next int
}

// Add counts n events.
func (r *RateMeter) Add(n int64) { r.total.Add(n) }

// Set sets the count (for a counter kept elsewhere).
func (r *RateMeter) Set(n int64) { r.total.Store(n) }

// Total is the count so far.
func (r *RateMeter) Total() int64 { return r.total.Load() }

// Rate samples the counter and returns events per second over about the last 10 s
// (sampled at each call, at most once a second).
func (r *RateMeter) Rate(now time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.total.Load()
	last := r.samples[(r.next+len(r.samples)-1)%len(r.samples)]
	if last.at.IsZero() || now.Sub(last.at) >= time.Second {
		r.samples[r.next] = struct {
			at time.Time
			n  int64
		}{now, cur}
		r.next = (r.next + 1) % len(r.samples)
	}
	oldest := r.samples[r.next]
	if oldest.at.IsZero() {
		oldest = r.samples[0]
	}
	if d := now.Sub(oldest.at).Seconds(); d > 0 && !oldest.at.IsZero() {
		return float64(cur-oldest.n) / d
	}
	return 0
}
