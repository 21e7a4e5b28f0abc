package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"sort"
	"sync"
	"time"
)

// NodeStatus is what a member reports of itself (GET /api/v1/admin/node).
type NodeStatus struct {
	ID             string       `json:"id"`
	Address        string       `json:"address"` // protoactor remote
	Gossip         string       `json:"gossip"`
	HTTPAddr       string       `json:"http_addr"`
	StartedAt      time.Time    `json:"started_at"`
	UptimeSeconds  float64      `json:"uptime_seconds"`
	ActiveSections int          `json:"active_sections"`
	Sections       []string     `json:"sections"`         // identities of the sections active here
	RequestsPerSec float64      `json:"requests_per_sec"` // section commands, over the last 10 s
	RequestsTotal  int64        `json:"requests_total"`
	Memory         MemoryStatus `json:"memory"`
	Engine         any          `json:"engine,omitempty"` // the engine's counters
	Goroutines     int          `json:"goroutines"`
	Role           string       `json:"role"`
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

// RateMeter turns a counter into a rate over about the last 10 seconds. It keeps one
// sample of the counter per second at most, taken when Rate is called.
type RateMeter struct {
	mu      sync.Mutex
	samples []rateSample // oldest first, at most 11
}

type rateSample struct {
	at time.Time
	n  int64
}

// Rate records the counter's value total at now and returns its rate per second since the
// oldest sample kept (0 until there are two samples a second apart).
func (r *RateMeter) Rate(now time.Time, total int64) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if k := len(r.samples); k == 0 || now.Sub(r.samples[k-1].at) >= time.Second {
		r.samples = append(r.samples, rateSample{now, total})
		if len(r.samples) > 11 {
			r.samples = r.samples[1:]
		}
	}
	oldest := r.samples[0]
	if d := now.Sub(oldest.at).Seconds(); d > 0 {
		return float64(total-oldest.n) / d
	}
	return 0
}
