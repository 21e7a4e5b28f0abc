// Package clustertest runs real TicketView clusters for tests and benchmarks: the
// cmd/node and cmd/gateway binaries, built once per process, started as child processes
// on loopback ports against one PostgreSQL schema, with helpers to kill, pause, resume
// and stop them, to drive buyers through the gateway, and to check the invariants that
// must hold whatever happened to the processes (in PostgreSQL and through the API).
//
// A test uses it as:
//
//	c := clustertest.New(t, clustertest.Options{})
//	c.StartNodes(3)
//	gw := c.StartGateway()
//	c.WaitMembers(3)
//	...
//	c.CheckInvariants(ctx)
//
// Every process is killed (SIGKILL, after SIGCONT when it was stopped) and waited for in
// t.Cleanup; the log of each (its stdout and stderr, in a file under t.TempDir) is
// printed when the test failed.
package clustertest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
	tvcluster "github.com/ticketview/ticketview/cluster"
	"github.com/ticketview/ticketview/internal/testutil"
	"github.com/ticketview/ticketview/internal/testutil/pgtest"
	"github.com/ticketview/ticketview/internal/testutil/redistest"
	"github.com/ticketview/ticketview/persistence/postgres"
)

// ExitPaused is the exit code of a node that was paused past its pause limit (cmd/node).
const ExitPaused = 75

// Lines the binaries print on stdout once serving.
const (
	nodeListening    = "ticketview node listening on http://"
	gatewayListening = "ticketview gateway listening on http://"
)

// ---- binaries ----

// Binaries are the paths of the built programs.
type Binaries struct {
	Node    string
	Gateway string
}

var (
	buildOnce sync.Once
	buildDir  string
	built     Binaries
	buildErr  error
)

// Build builds cmd/node and cmd/gateway once per process (plain builds, no race detector:
// the processes under test are the production binaries) into a temporary directory;
// RemoveBinaries deletes it.
func Build() (Binaries, error) {
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			buildErr = errors.New("not inside the module: cannot build the binaries")
			return
		}
		if buildDir, err = os.MkdirTemp("", "ticketview-clustertest-"); err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", buildDir+string(os.PathSeparator), "./cmd/node", "./cmd/gateway")
		cmd.Dir = filepath.Dir(gomod)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/node ./cmd/gateway: %v\n%s", err, out)
			return
		}
		built = Binaries{Node: filepath.Join(buildDir, "node"), Gateway: filepath.Join(buildDir, "gateway")}
	})
	return built, buildErr
}

// RemoveBinaries deletes what Build built (call it from TestMain after m.Run).
func RemoveBinaries() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// ---- catalog ----

// CatalogSpec is the venue and event a cluster sells: Sections seated sections of Rows
// rows of SeatsPerRow seats, one on-sale event.
type CatalogSpec struct {
	Sections    int // default 24
	Rows        int // default 5
	SeatsPerRow int // default 10
	BuyerLimit  int // default 10000
}

func (s CatalogSpec) withDefaults() CatalogSpec {
	if s.Sections <= 0 {
		s.Sections = 24
	}
	if s.Rows <= 0 {
		s.Rows = 5
	}
	if s.SeatsPerRow <= 0 {
		s.SeatsPerRow = 10
	}
	if s.BuyerLimit <= 0 {
		s.BuyerLimit = 10000
	}
	return s
}

// Catalog is what was seeded.
type Catalog struct {
	Venue    string
	Event    string
	Sections []string            // section ids, in the venue's order
	Seats    map[string][]string // section -> seat labels in seat-index order
	Rows     int
	PerRow   int
}

// Capacity is the number of seats of a section.
func (c Catalog) Capacity(section string) int { return len(c.Seats[section]) }

// Identity is the grain identity of a section ("event/section"), as the status lists it.
func (c Catalog) Identity(section string) string {
	return tvcluster.Identity(ticketview.SectionID{Event: c.Event, Section: section})
}

// SectionOf is the section id of a grain identity of this catalog's event ("" if another).
func (c Catalog) SectionOf(identity string) string {
	id, err := tvcluster.ParseIdentity(identity)
	if err != nil || id.Event != c.Event {
		return ""
	}
	return id.Section
}

// SeedCatalog creates the venue and the on-sale event in db.
func SeedCatalog(ctx context.Context, db *postgres.DB, spec CatalogSpec) (Catalog, error) {
	spec = spec.withDefaults()
	cat := Catalog{Venue: "ct-arena", Event: "ct-sale", Seats: map[string][]string{}, Rows: spec.Rows, PerRow: spec.SeatsPerRow}
	v := &ticketview.Venue{ID: cat.Venue, Name: "Cluster Test Arena", City: "Pune", Address: "1 Test Road"}
	for i := range spec.Sections {
		id := fmt.Sprintf("s%02d", i+1)
		rows := ticketview.GridRows(spec.Rows, spec.SeatsPerRow, func(int) string { return "STD" })
		v.Sections = append(v.Sections, ticketview.SectionLayout{ID: id, Name: "Section " + id, Kind: ticketview.Seated, Rows: rows})
		cat.Sections = append(cat.Sections, id)
		for _, r := range rows {
			for _, s := range r.Seats {
				cat.Seats[id] = append(cat.Seats[id], s.Label)
			}
		}
	}
	if err := v.Validate(); err != nil {
		return cat, fmt.Errorf("venue: %w", err)
	}
	if err := db.CreateVenue(ctx, v); err != nil {
		return cat, fmt.Errorf("create venue: %w", err)
	}
	now := time.Now().UTC()
	e := &ticketview.Event{
		ID: cat.Event, Name: "Cluster Test Flash Sale", VenueID: cat.Venue, Currency: "INR",
		StartsAt:   now.Add(30 * 24 * time.Hour).Truncate(time.Hour),
		Categories: []ticketview.PriceCategory{{Code: "STD", Name: "Standard", Price: 100000}},
		BuyerLimit: spec.BuyerLimit, Status: ticketview.EventOnSale, CreatedAt: now,
	}
	if err := e.Validate(); err != nil {
		return cat, fmt.Errorf("event: %w", err)
	}
	if err := db.CreateEvent(ctx, e); err != nil {
		return cat, fmt.Errorf("create event: %w", err)
	}
	return cat, nil
}

// ---- cluster ----

// Options configure New.
type Options struct {
	Catalog    CatalogSpec
	AdminToken string // default "clustertest-admin"
	// Redis gives the nodes and the gateway Redis (a key prefix of the test's own). The
	// gateway then reads availability from the nodes' views, which follow the sections
	// asynchronously: CheckInvariants' comparison of availability with PostgreSQL needs
	// the views to have caught up.
	Redis    bool
	NodeArgs []string // extra flags for every node
}

// Cluster is a set of TicketView processes sharing one PostgreSQL schema.
type Cluster struct {
	T           testing.TB
	Bin         Binaries
	PostgresURL string
	AdminToken  string
	Catalog     Catalog
	DB          *postgres.DB // the test's own connection to the schema (invariant checks)

	redisURL, redisPrefix string
	nodeArgs              []string

	mu      sync.Mutex
	procs   []*Process
	gateway *Process
	seq     int
	api     *Client
	logs    string
	dir     string // data directories of the nodes
}

// New builds the binaries (once), creates a fresh PostgreSQL schema, applies the
// migrations and seeds the catalog. It starts no process.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	bin, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	// The test's temporary directory is removed by a cleanup registered at its first use:
	// use it before registering killAll, so that it goes after the processes (their logs
	// are printed from it).
	c := &Cluster{T: t, Bin: bin, AdminToken: opts.AdminToken, nodeArgs: opts.NodeArgs, dir: t.TempDir()}
	if c.AdminToken == "" {
		c.AdminToken = "clustertest-admin"
	}
	c.PostgresURL = pgtest.URL(t)
	if opts.Redis {
		c.redisURL, c.redisPrefix = redistest.ServerURL(), redistest.Prefix(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if c.DB, err = postgres.Open(ctx, c.PostgresURL, postgres.Options{MaxConns: 4, Committers: 1}); err != nil {
		t.Fatalf("opening the test schema: %v", err)
	}
	t.Cleanup(func() { _ = c.DB.Close() })
	if c.Catalog, err = SeedCatalog(ctx, c.DB, opts.Catalog); err != nil {
		t.Fatalf("seeding the catalog: %v", err)
	}
	// Registered after the schema's cleanup, so it runs before it: processes die first.
	t.Cleanup(c.killAll)
	return c
}

// Process is a running (or finished) node or gateway.
type Process struct {
	Name    string // "node1", "node2", ..., "gateway"
	Role    string // "node" or "gateway"
	Addr    string // HTTP host:port
	ID      string // cluster member id
	Gossip  string // memberlist address (nodes)
	LogPath string

	cmd     *exec.Cmd
	logf    *os.File
	done    chan struct{} // closed once the process has exited and been waited for
	state   *os.ProcessState
	stopped atomic.Bool
	token   string
	started time.Time
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the exit code (-1 when killed by a signal or still running).
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.state.ExitCode()
}

// ExitState describes how the process ended ("running" if it has not).
func (p *Process) ExitState() string {
	if !p.Exited() {
		return "running"
	}
	return p.state.String()
}

// Kill sends SIGKILL (resuming the process first if it was stopped) and waits for it.
func (p *Process) Kill() {
	if p.Exited() {
		return
	}
	if p.stopped.Load() {
		_ = p.Cont()
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop pauses the process (SIGSTOP).
func (p *Process) Stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	p.stopped.Store(true)
	return nil
}

// Cont resumes a stopped process (SIGCONT).
func (p *Process) Cont() error {
	err := p.cmd.Process.Signal(syscall.SIGCONT)
	if err == nil {
		p.stopped.Store(false)
	}
	return err
}

// Term sends SIGTERM and waits up to timeout for the exit; it returns the exit code, or an
// error if the process did not exit in time (it is then killed). A stopped process only
// sees the signal once resumed (Cont).
func (p *Process) Term(timeout time.Duration) (int, error) {
	if !p.Exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	return p.Wait(timeout)
}

// Wait waits up to timeout for the process to exit by itself and returns its exit code;
// past the timeout it kills the process and returns an error.
func (p *Process) Wait(timeout time.Duration) (int, error) {
	select {
	case <-p.done:
		return p.state.ExitCode(), nil
	case <-time.After(timeout):
		p.Kill()
		return -1, fmt.Errorf("%s (pid %d) did not exit within %v; killed", p.Name, p.Pid(), timeout)
	}
}

// LogTail returns the last n lines of the process's log, leaving out the access log lines
// of requests that succeeded (info level).
func (p *Process) LogTail(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", p.LogPath, err)
	}
	var lines []string
	skipped := 0
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if strings.Contains(l, `"level":"info"`) && strings.Contains(l, `"msg":"request"`) {
			skipped++
			continue
		}
		lines = append(lines, l)
	}
	if skipped > 0 {
		lines = append(lines, fmt.Sprintf("(%d access log lines of successful requests left out)", skipped))
	}
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d earlier lines)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// LogContains reports whether the log holds s.
func (p *Process) LogContains(s string) bool {
	b, _ := os.ReadFile(p.LogPath)
	return strings.Contains(string(b), s)
}

var statusHTTP = &http.Client{Timeout: 5 * time.Second}

// getJSON GETs http://Addr+path with the admin token and decodes a 200 answer into out.
func (p *Process) getJSON(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.Addr+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	res, err := statusHTTP.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		var e ErrorBody
		_ = json.NewDecoder(res.Body).Decode(&e)
		return fmt.Errorf("GET %s on %s: %s %s %s", path, p.Name, res.Status, e.Error.Code, e.Error.Message)
	}
	return json.NewDecoder(res.Body).Decode(out)
}

// EngineStats are the engine counters of a node's report.
type EngineStats struct {
	Sections      int   `json:"sections"`
	Activations   int64 `json:"activations"`
	Reactivations int64 `json:"reactivations"`
	Fenced        int64 `json:"fenced"`
	Commands      int64 `json:"commands"`
}

// NodeReport is GET /api/v1/admin/node, with the engine counters decoded.
type NodeReport struct {
	tvcluster.NodeStatus
	Engine EngineStats `json:"engine"`
}

// NodeStatus is the node's own report.
func (p *Process) NodeStatus(ctx context.Context) (NodeReport, error) {
	var r NodeReport
	err := p.getJSON(ctx, "/api/v1/admin/node", &r)
	return r, err
}

// Ready reports whether GET /readyz answers 200.
func (p *Process) Ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.Addr+"/readyz", nil)
	if err != nil {
		return err
	}
	res, err := statusHTTP.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s /readyz: %s", p.Name, res.Status)
	}
	return nil
}

// childEnv is the environment of a child: the test's, without any TICKETVIEW_ variable
// (the flags say everything).
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TICKETVIEW_") {
			env = append(env, kv)
		}
	}
	return env
}

// seeds are the gossip addresses of the running nodes.
func (c *Cluster) seeds() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, p := range c.procs {
		if p.Role == "node" && p.Gossip != "" && !p.Exited() && !p.stopped.Load() {
			out = append(out, p.Gossip)
		}
	}
	return out
}

// StartNode starts a node (joining through the running nodes, if any) and returns it once
// it serves and has reported its member id.
func (c *Cluster) StartNode() *Process {
	t := c.T
	t.Helper()
	c.mu.Lock()
	c.seq++
	name := fmt.Sprintf("node%d", c.seq)
	c.mu.Unlock()
	args := []string{"-data", filepath.Join(c.dir, name), "-http", "127.0.0.1:0", "-gossip", "127.0.0.1:0",
		"-remote", "127.0.0.1:0", "-postgres", c.PostgresURL, "-seed=false", "-admin-token", c.AdminToken,
		"-jwt-secret", testJWTSecret}
	if s := c.seeds(); len(s) > 0 {
		args = append(args, "-seeds", strings.Join(s, ","))
	}
	if c.redisURL != "" {
		args = append(args, "-redis", c.redisURL, "-redis-prefix", c.redisPrefix)
	}
	args = append(args, c.nodeArgs...)
	p := c.start(name, "node", c.Bin.Node, args, nodeListening)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	testutil.CheckFor(t, 20*time.Second, func() error {
		r, err := p.NodeStatus(ctx)
		if err != nil {
			return err
		}
		if r.ID == "" || r.Gossip == "" {
			return fmt.Errorf("%s reports no member id or gossip address yet: %+v", name, r.NodeStatus)
		}
		p.ID, p.Gossip = r.ID, r.Gossip
		return nil
	})
	t.Logf("%s: pid %d http %s gossip %s id %s (started in %v)", name, p.Pid(), p.Addr, p.Gossip, p.ID,
		time.Since(p.started).Round(time.Millisecond))
	return p
}

// StartNodes starts n nodes, one after the other.
func (c *Cluster) StartNodes(n int) []*Process {
	c.T.Helper()
	out := make([]*Process, n)
	for i := range out {
		out[i] = c.StartNode()
	}
	return out
}

// StartGateway starts the gateway, joining through the running nodes.
func (c *Cluster) StartGateway() *Process {
	t := c.T
	t.Helper()
	s := c.seeds()
	if len(s) == 0 {
		t.Fatal("StartGateway: no node runs (start nodes first)")
	}
	args := []string{"-http", "127.0.0.1:0", "-gossip", "127.0.0.1:0", "-remote", "127.0.0.1:0",
		"-seeds", strings.Join(s, ","), "-postgres", c.PostgresURL, "-admin-token", c.AdminToken,
		"-jwt-secret", testJWTSecret}
	if c.redisURL != "" {
		args = append(args, "-redis", c.redisURL, "-redis-prefix", c.redisPrefix)
	}
	p := c.start("gateway", "gateway", c.Bin.Gateway, args, gatewayListening)
	c.mu.Lock()
	c.gateway = p
	c.api = NewClient(p.Addr, c.Catalog.Event)
	c.api.Token = c.AdminToken
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	testutil.CheckFor(t, 20*time.Second, func() error {
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		p.ID = st.Self
		return nil
	})
	t.Logf("gateway: pid %d http %s id %s (started in %v)", p.Pid(), p.Addr, p.ID, time.Since(p.started).Round(time.Millisecond))
	return p
}

func (c *Cluster) start(name, role, bin string, args []string, listening string) *Process {
	t := c.T
	t.Helper()
	p := &Process{Name: name, Role: role, LogPath: filepath.Join(c.logDir(), name+".log"), done: make(chan struct{}), token: c.AdminToken}
	f, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p.logf = f
	fmt.Fprintf(f, "### %s %s\n", bin, strings.Join(redactArgs(args), " "))
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = childEnv()
	p.cmd.Stderr = f
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	addrs := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintf(f, "[stdout] %s\n", line)
			if addr, ok := strings.CutPrefix(line, listening); ok {
				select {
				case addrs <- addr:
				default:
				}
			}
		}
		_ = p.cmd.Wait() // stdout is drained: now Wait may close it
		p.state = p.cmd.ProcessState
		fmt.Fprintf(f, "### %s exited: %s\n", name, p.state)
		close(p.done)
	}()
	select {
	case p.Addr = <-addrs:
	case <-p.done:
		t.Fatalf("%s exited before listening (%s):\n%s", name, p.ExitState(), p.LogTail(80))
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not say where it listens within 60s:\n%s", name, p.LogTail(80))
	}
	return p
}

// LogDirEnv names an environment variable: when set, the logs of the processes are kept
// in a directory per test under it instead of a temporary directory.
const LogDirEnv = "CLUSTERTEST_LOG_DIR"

func (c *Cluster) logDir() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.logs != "" {
		return c.logs
	}
	c.logs = c.dir
	if root := os.Getenv(LogDirEnv); root != "" {
		dir := filepath.Join(root, strings.NewReplacer("/", "_", " ", "_").Replace(c.T.Name())+"-"+time.Now().Format("150405.000"))
		if err := os.MkdirAll(dir, 0o755); err == nil {
			c.logs = dir
		}
	}
	return c.logs
}

// testJWTSecret is the access-token key every process of a test cluster shares.
const testJWTSecret = "clustertest-access-token-key-0123456789"

func redactArgs(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	for i := range out {
		if i > 0 && (out[i-1] == "-admin-token" || out[i-1] == "-jwt-secret") {
			out[i] = "***"
		}
	}
	return out
}

// killAll is the cleanup: every process still running is resumed, killed and waited
// for; on failure each log's tail is printed.
func (c *Cluster) killAll() {
	c.mu.Lock()
	procs := append([]*Process(nil), c.procs...)
	c.mu.Unlock()
	for _, p := range procs {
		if !p.Exited() {
			if p.stopped.Load() {
				_ = p.Cont()
			}
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			c.T.Errorf("%s (pid %d) still running 10s after SIGKILL", p.Name, p.Pid())
		}
		if c.T.Failed() {
			c.T.Logf("---- %s (pid %d, %s, id %s) log %s ----\n%s", p.Name, p.Pid(), p.ExitState(), p.ID, p.LogPath, p.LogTail(150))
		}
		_ = p.logf.Close()
	}
}

// Gateway is the gateway process (nil before StartGateway).
func (c *Cluster) Gateway() *Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gateway
}

// API is a client of the gateway's HTTP API.
func (c *Cluster) API() *Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.api == nil {
		c.T.Fatal("API: no gateway started")
	}
	return c.api
}

// Nodes are the node processes started, running or not, in start order.
func (c *Cluster) Nodes() []*Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Process
	for _, p := range c.procs {
		if p.Role == "node" {
			out = append(out, p)
		}
	}
	return out
}

// NodeByID is the node process with the member id (nil if none).
func (c *Cluster) NodeByID(id string) *Process {
	for _, p := range c.Nodes() {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// Status is the gateway's cluster status.
func (c *Cluster) Status(ctx context.Context) (tvcluster.Status, error) {
	var st tvcluster.Status
	gw := c.Gateway()
	if gw == nil {
		return st, errors.New("no gateway")
	}
	err := gw.getJSON(ctx, "/api/v1/admin/cluster", &st)
	return st, err
}

// AliveMembers are the ids of the members the gateway's status shows alive.
func AliveMembers(st tvcluster.Status) []string {
	var out []string
	for _, m := range st.Members {
		if m.State == tvcluster.NodeAlive {
			out = append(out, m.ID)
		}
	}
	return out
}

// WaitMembers waits (up to 30 s) until the gateway sees exactly n alive members, each of
// which answered its status report.
func (c *Cluster) WaitMembers(n int) tvcluster.Status {
	c.T.Helper()
	var st tvcluster.Status
	testutil.CheckFor(c.T, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		if st, err = c.Status(ctx); err != nil {
			return err
		}
		alive := 0
		for _, m := range st.Members {
			if m.State != tvcluster.NodeAlive {
				continue
			}
			alive++
			if m.Report == nil {
				return fmt.Errorf("member %s has no report: %s", m.ID, m.ReportError)
			}
		}
		if alive != n {
			return fmt.Errorf("%d alive members, want %d: %s", alive, n, describeMembers(st))
		}
		return nil
	})
	return st
}

func describeMembers(st tvcluster.Status) string {
	var parts []string
	for _, m := range st.Members {
		parts = append(parts, m.ID+"="+m.State)
	}
	return strings.Join(parts, " ")
}

// Placement is where the gateway's status says each section (of the catalog) lives.
type Placement map[string]tvcluster.SectionPlacement // section id -> placement

// PlacementOf extracts the catalog's sections from a status.
func (c *Cluster) PlacementOf(st tvcluster.Status) Placement {
	out := Placement{}
	for _, s := range st.Sections {
		if sec := c.Catalog.SectionOf(s.Section); sec != "" {
			out[sec] = s
		}
	}
	return out
}

// SectionsOf is the sections a node reports active on it (section ids of the catalog).
func (c *Cluster) SectionsOf(r NodeReport) []string {
	var out []string
	for _, s := range r.Sections {
		if sec := c.Catalog.SectionOf(s); sec != "" {
			out = append(out, sec)
		}
	}
	return out
}

// WaitSettled waits (up to d) until every section of the catalog is active on exactly one
// member, that member being its owner, and the owners are all among the members the
// status shows alive; it returns that status.
func (c *Cluster) WaitSettled(d time.Duration) tvcluster.Status {
	c.T.Helper()
	var st tvcluster.Status
	testutil.CheckFor(c.T, d, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		if st, err = c.Status(ctx); err != nil {
			return err
		}
		return c.settled(st)
	})
	return st
}

func (c *Cluster) settled(st tvcluster.Status) error {
	alive := map[string]bool{}
	for _, id := range AliveMembers(st) {
		alive[id] = true
	}
	pl := c.PlacementOf(st)
	for _, sec := range c.Catalog.Sections {
		p, ok := pl[sec]
		switch {
		case !ok:
			return fmt.Errorf("section %s missing from the status", sec)
		case len(p.ActiveOn) != 1:
			return fmt.Errorf("section %s active on %v (owner %q)", sec, p.ActiveOn, p.Owner)
		case p.Owner != p.ActiveOn[0]:
			return fmt.Errorf("section %s: owner %q but active on %v", sec, p.Owner, p.ActiveOn)
		case !alive[p.Owner]:
			return fmt.Errorf("section %s owned by %q, not an alive member", sec, p.Owner)
		}
	}
	return nil
}
