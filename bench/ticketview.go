package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ticketview/ticketview/bench/clusterdrv"
	"github.com/ticketview/ticketview/bench/load"
)

// tvTarget is TicketView: cmd/node as a process, embedded storage in a fresh data
// directory (the section journal durable before a hold is acknowledged), driven over its
// HTTP API with the operator token acting for each buyer (X-Buyer-ID: neither JWT parsing
// nor the rate limits are what is measured; -limits off and -captcha off).
type tvTarget struct {
	proc    *process
	dir     string // work directory: the node's data, the direct scenarios' engines
	token   string
	journal string
	conns   int
	setups  int
	extra   []string
	// directFeeds: the in-process engine feeds the audit log, the event log and the live
	// feed, as cmd/node does (-direct-feeds).
	directFeeds bool
}

func newTicketView(bin, dir, journal string, conns int, extra []string) *tvTarget {
	t := &tvTarget{token: "bench-" + randomHex(16), dir: dir, journal: journal, conns: conns, extra: extra}
	data := filepath.Join(dir, "ticketview-data")
	t.proc = &process{name: "ticketview", bin: bin, logDir: dir, args: func(addr string) []string {
		return append([]string{"-data", data, "-http", addr, "-admin-token", t.token, "-seed=false",
			"-limits", "off", "-captcha", "off", "-journal", t.journal}, t.extra...)
	}}
	return t
}

func (t *tvTarget) Name() string { return "ticketview" }

func (t *tvTarget) Doc() load.TargetDoc {
	return load.TargetDoc{Name: t.Name(),
		Design:     "actor per section (cmd/node, one process): every hold, release and sale serialised in the section's actor, in memory; best-available in the actor",
		Durability: fmt.Sprintf("acknowledged after the section journal (%s, group commit with fsync) has it; killed with SIGKILL and recovered before the check", t.journal)}
}

func (t *tvTarget) Start(ctx context.Context) error { return t.proc.start(ctx) }

func (t *tvTarget) Restart(ctx context.Context) error {
	fmt.Fprintln(os.Stderr, "bench: ticketview: SIGKILL and restart before the check ...")
	t.proc.kill()
	return t.proc.start(ctx)
}

func (t *tvTarget) Stop() { t.proc.stop() }

func (t *tvTarget) Watchers(layout load.Layout, n int) load.Watcher {
	if n <= 0 {
		return nil
	}
	return load.LiveWatchers{URL: load.WatchURL(t.proc.url(), layout.Event), N: n, Token: t.token, Sections: sectionIDs(layout)}
}

// Setup creates a venue with the layout's sections (seated ones as grids), an event on it
// with one price category per section, and publishes it.
func (t *tvTarget) Setup(ctx context.Context, layout load.Layout) (load.Driver, error) {
	t.setups++
	admin, err := load.NewHTTP(t.proc.url(), layout.Event, t.token, 4)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	venue := fmt.Sprintf("%s-venue", layout.Event)
	var sections []map[string]any
	var cats []map[string]any
	for i, s := range layout.Sections {
		cat := fmt.Sprintf("C%d", i+1)
		cats = append(cats, map[string]any{"code": cat, "name": "Category " + s.ID, "price": s.Price})
		if s.GA {
			sections = append(sections, map[string]any{"id": s.ID, "name": s.ID, "kind": "general_admission", "capacity": s.Capacity, "category": cat})
			continue
		}
		sections = append(sections, map[string]any{"id": s.ID, "name": s.ID, "kind": "seated",
			"grid": map[string]any{"rows": s.Rows, "per_row": s.PerRow, "category": cat}})
	}
	call := func(method, path string, body any, want int) error {
		st := admin.Do(ctx, method, path, "", body, nil)
		if st.Code != want {
			return fmt.Errorf("%s %s: %d %v", method, path, st.Code, st.Err)
		}
		return nil
	}
	if err := call("POST", "/api/v1/venues", map[string]any{"id": venue, "name": "Bench Arena", "city": "Mumbai", "sections": sections}, http.StatusCreated); err != nil {
		return nil, err
	}
	starts := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Hour)
	if err := call("POST", "/api/v1/organizer/events", map[string]any{"id": layout.Event, "name": "Flash sale " + layout.Event, "venue_id": venue,
		"currency": "INR", "starts_at": starts, "categories": cats, "buyer_limit": 20}, http.StatusCreated); err != nil {
		return nil, err
	}
	if err := call("POST", "/api/v1/organizer/events/"+layout.Event+"/publish", nil, http.StatusOK); err != nil {
		return nil, err
	}
	d, err := load.NewHTTP(t.proc.url(), layout.Event, t.token, t.conns)
	if err != nil {
		return nil, err
	}
	return load.TicketView{HTTP: d}, nil
}

// eventID makes an event id for a scenario (TicketView keeps every event of a run).
func eventID(scenario string, n int) string {
	return fmt.Sprintf("flash-%s-%d", strings.ReplaceAll(scenario, "_", "-"), n)
}

// sectionIDs are the layout's section ids.
func sectionIDs(l load.Layout) []string {
	out := make([]string, len(l.Sections))
	for i, s := range l.Sections {
		out[i] = s.ID
	}
	return out
}

// clusterTarget is TicketView in cluster mode driven through the cluster client directly
// (what the gateway uses), without HTTP: node processes against PostgreSQL
// (bench/clusterdrv), a new cluster for each scenario. Before the check every node is
// killed and started again; the sections recover from their journals in PostgreSQL.
type clusterTarget struct {
	nodeBin, postgres string
	nodes             int
	c                 *clusterdrv.Cluster
	logf              func(string, ...any)
}

func (t *clusterTarget) Name() string { return "ticketview-cluster" }

func (t *clusterTarget) Doc() load.TargetDoc {
	return load.TargetDoc{Name: t.Name(),
		Design:     fmt.Sprintf("TicketView cluster mode, %d node process(es), driven through the cluster client (protoactor grains, no HTTP)", t.nodes),
		Durability: "acknowledged after the section journal in PostgreSQL has it"}
}

func (t *clusterTarget) Start(context.Context) error { return nil }

// Restart kills the node processes (SIGKILL) and starts them again on the same schema.
func (t *clusterTarget) Restart(ctx context.Context) error {
	if t.c == nil {
		return errNoRestart
	}
	return t.c.Restart(ctx)
}

func (t *clusterTarget) Watchers(load.Layout, int) load.Watcher { return nil }

func (t *clusterTarget) pids() []int {
	if t.c == nil {
		return nil
	}
	return t.c.PIDs()
}

func (t *clusterTarget) Stop() {
	if t.c != nil {
		_ = t.c.Close()
		t.c = nil
	}
}

func (t *clusterTarget) Setup(ctx context.Context, layout load.Layout) (load.Driver, error) {
	t.Stop()
	c, err := clusterdrv.Start(ctx, clusterdrv.Options{NodeBin: t.nodeBin, PostgresURL: t.postgres, Nodes: t.nodes, Layout: layout, Logf: t.logf})
	if err != nil {
		return nil, err
	}
	t.c = c
	return c.Driver(), nil
}
