// Package clusterdrv drives TicketView through its cluster client (what the gateway
// serves the API with) instead of HTTP: a load.Driver whose requests go straight to the
// sections' grains, and a starter of the cluster it drives.
//
//	c, err := clusterdrv.Start(ctx, clusterdrv.Options{Nodes: 3, Layout: layout})
//	...
//	defer c.Close()
//	d := c.Driver()
//
// Start builds cmd/node (unless Options.NodeBin names a binary), creates a fresh schema
// in PostgreSQL, seeds the venue and the on-sale event of the layout there, starts the
// node processes in cluster mode against that schema, and joins this process to the
// cluster as a client.
package clusterdrv

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/bench/load"
	tvcluster "github.com/ticketview/ticketview/cluster"
	"github.com/ticketview/ticketview/persistence/postgres"
)

// DefaultPostgresURL is the server used when neither Options.PostgresURL nor the
// environment variable TICKETVIEW_TEST_POSTGRES_URL says otherwise.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Options configure Start.
type Options struct {
	// NodeBin is the cmd/node binary to run; empty builds one (go build ./cmd/node, from
	// the module the working directory is in) into a temporary directory.
	NodeBin string
	// PostgresURL is the server to create the schema on (default
	// TICKETVIEW_TEST_POSTGRES_URL, else DefaultPostgresURL).
	PostgresURL string
	// Nodes is the number of node processes (default 1).
	Nodes int
	// Layout is the event to seed: its seated and general-admission sections.
	Layout load.Layout
	// Logf, when set, is told of the steps of Start and Close.
	Logf func(format string, args ...any)
}

// Token and key of the nodes: the admin API is only used to read each node's status.
const (
	adminToken = "clusterdrv-admin"
	jwtSecret  = "clusterdrv-access-token-key-0123456789"
	venueID    = "bench-venue"
	listening  = "ticketview node listening on http://"
)

// Timeouts of Start.
const (
	nodeStartTimeout = 60 * time.Second
	membersTimeout   = 30 * time.Second
	warmTimeout      = 30 * time.Second
)

// Cluster is a running TicketView cluster with this process joined as a client.
type Cluster struct {
	layout load.Layout
	logf   func(string, ...any)

	dir       string // temporary directory: the built binary, data directories, logs
	serverURL string // the server, without the schema
	schema    string
	dbURL     string // the server, with search_path set to the schema

	bin    string // the node binary
	procs  []*proc
	client *tvcluster.Node // set once, by the first up

	closeOnce sync.Once
	closeErr  error
}

// proc is a node process.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	addr    string // HTTP host:port
	gossip  string // memberlist address
	done    chan struct{}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Start starts a cluster of o.Nodes node processes selling o.Layout and joins it as a
// client; it returns once the client sees every member and each section of the layout is
// active on its owner. On failure everything started is stopped again.
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	if err := validate(o.Layout); err != nil {
		return nil, err
	}
	if o.Nodes <= 0 {
		o.Nodes = 1
	}
	c = &Cluster{layout: o.Layout, logf: o.Logf, serverURL: o.PostgresURL}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	if c.serverURL == "" {
		c.serverURL = os.Getenv("TICKETVIEW_TEST_POSTGRES_URL")
	}
	if c.serverURL == "" {
		c.serverURL = DefaultPostgresURL
	}
	if c.dir, err = os.MkdirTemp("", "tv-clusterdrv-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = c.Close()
			c = nil
		}
	}()
	bin := o.NodeBin
	if bin == "" {
		if bin, err = BuildNode(ctx, c.dir, c.logf); err != nil {
			return c, err
		}
	}
	if err = c.createSchema(ctx); err != nil {
		return c, err
	}
	if err = c.seed(ctx); err != nil {
		return c, fmt.Errorf("seeding the event: %w", err)
	}
	c.bin = bin
	if err = c.up(ctx, o.Nodes); err != nil {
		return c, err
	}
	c.logf("clusterdrv: %d node(s) up, event %s seeded in schema %s", o.Nodes, c.layout.Event, c.schema)
	return c, nil
}

// up starts n node processes, joins them as a client (the client of this process: the
// first start makes it, a restart keeps it and seeds the new nodes with it), and
// activates every section.
func (c *Cluster) up(ctx context.Context, n int) error {
	for i := range n {
		p, err := c.startNode(ctx, c.bin, i+1)
		if err != nil {
			return err
		}
		c.logf("clusterdrv: %s serves http://%s (gossip %s)", p.name, p.addr, p.gossip)
	}
	if c.client == nil {
		// One client for the Cluster's life: protoactor's remote sets process-wide state
		// (grpc's logger) when it starts, racing with a closed client's connections.
		client, err := tvcluster.StartClient(tvcluster.Config{
			Gossip: tvcluster.MemberlistConfig{Seeds: []string{c.procs[0].gossip}},
			Logger: zap.NewNop(),
		})
		if err != nil {
			return fmt.Errorf("joining the cluster as a client: %w", err)
		}
		c.client = client
	}
	if err := c.waitMembers(ctx); err != nil {
		return err
	}
	return c.warm(ctx)
}

// killAll sends SIGKILL to every node process and waits for each to end (15 s at most,
// or until ctx ends).
func (c *Cluster) killAll(ctx context.Context) error {
	for _, p := range c.procs {
		if !p.exited() {
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	var errs []error
	for _, p := range c.procs {
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			errs = append(errs, fmt.Errorf("%s (pid %d) still running 15s after SIGKILL", p.name, p.cmd.Process.Pid))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// Restart kills every node process with SIGKILL and starts as many again on the same data
// directories and schema, seeded with this process's client: once the client sees the
// new members and no other, each section is activated again and recovers from its
// journal in PostgreSQL.
func (c *Cluster) Restart(ctx context.Context) error {
	n := len(c.procs)
	if err := c.killAll(ctx); err != nil {
		return err
	}
	c.procs = nil
	c.logf("clusterdrv: %d node(s) killed, starting them again", n)
	return c.up(ctx, n)
}

// validate checks that the layout can be seeded.
func validate(l load.Layout) error {
	if l.Event == "" {
		return errors.New("clusterdrv: the layout has no event id")
	}
	if len(l.Sections) == 0 {
		return errors.New("clusterdrv: the layout has no sections")
	}
	for _, s := range l.Sections {
		if s.Places() <= 0 {
			return fmt.Errorf("clusterdrv: section %q has no places", s.ID)
		}
		if s.Price < 0 {
			return fmt.Errorf("clusterdrv: section %q has a negative price", s.ID)
		}
	}
	return nil
}

// BuildNode builds cmd/node of the module the working directory is in into dir (the
// harness's targets run it).
func BuildNode(ctx context.Context, dir string, logf func(string, ...any)) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the TicketView module, cannot build cmd/node: run from inside it, or give the node binary (-node-bin)")
	}
	bin := filepath.Join(dir, "node")
	logf("clusterdrv: building cmd/node")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/node")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/node: %v\n%s", err, out)
	}
	return bin, nil
}

// createSchema creates a fresh schema; the nodes and the seeding use it through
// search_path.
func (c *Cluster) createSchema(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.serverURL)
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	schema := "clusterdrv_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return fmt.Errorf("PostgreSQL: creating schema %s: %w", schema, err)
	}
	c.schema = schema
	u, err := url.Parse(c.serverURL)
	if err != nil {
		return fmt.Errorf("PostgreSQL URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	c.dbURL = u.String()
	return nil
}

// dropSchema drops the schema and everything in it.
func (c *Cluster) dropSchema() error {
	if c.schema == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.serverURL)
	if err != nil {
		return fmt.Errorf("dropping schema %s: %w", c.schema, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA "+c.schema+" CASCADE"); err != nil {
		return fmt.Errorf("dropping schema %s: %w", c.schema, err)
	}
	c.schema = ""
	return nil
}

// CategoryOf is the price category code of a section: one category per section.
func CategoryOf(section string) string { return "cat-" + section }

// Catalog returns the venue and the on-sale event of a layout: seated sections of Rows
// rows of PerRow seats labelled as load.SeatLabel labels them, general-admission sections
// of Capacity places, one price category per section (CategoryOf) with its Price, and a
// buyer limit high enough never to be what ends a hold.
func Catalog(l load.Layout, now time.Time) (*ticketview.Venue, *ticketview.Event) {
	v := &ticketview.Venue{ID: venueID, Name: "Bench Arena", City: "Loopback", Address: "127.0.0.1"}
	e := &ticketview.Event{
		ID: l.Event, Name: "Bench flash sale", VenueID: v.ID, Currency: "INR",
		StartsAt:   now.UTC().Add(30 * 24 * time.Hour).Truncate(time.Hour),
		BuyerLimit: ticketview.MaxBuyerLimit, Status: ticketview.EventOnSale, CreatedAt: now.UTC(),
	}
	for _, s := range l.Sections {
		cat := CategoryOf(s.ID)
		e.Categories = append(e.Categories, ticketview.PriceCategory{Code: cat, Name: "Section " + s.ID, Price: s.Price})
		sec := ticketview.SectionLayout{ID: s.ID, Name: "Section " + s.ID}
		if s.GA {
			sec.Kind, sec.Capacity, sec.Category = ticketview.GeneralAdmission, s.Capacity, cat
		} else {
			sec.Kind = ticketview.Seated
			for r := range s.Rows {
				row := ticketview.RowLayout{Label: load.RowLabel(r)}
				for n := range s.PerRow {
					row.Seats = append(row.Seats, ticketview.SeatLayout{Label: load.SeatLabel(r, n), Number: n + 1,
						Category: cat, X: float64(n), Y: float64(r)})
				}
				sec.Rows = append(sec.Rows, row)
			}
		}
		v.Sections = append(v.Sections, sec)
	}
	return v, e
}

// seed creates the venue and the event in the schema.
func (c *Cluster) seed(ctx context.Context) error {
	db, err := postgres.Open(ctx, c.dbURL, postgres.Options{MaxConns: 2, Committers: 1})
	if err != nil {
		return err
	}
	defer db.Close()
	v, e := Catalog(c.layout, time.Now())
	if err := v.Validate(); err != nil {
		return fmt.Errorf("venue: %w", err)
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("event: %w", err)
	}
	if err := db.CreateVenue(ctx, v); err != nil {
		return fmt.Errorf("creating the venue: %w", err)
	}
	if err := db.CreateEvent(ctx, e); err != nil {
		return fmt.Errorf("creating the event: %w", err)
	}
	return nil
}

// childEnv is this process's environment without any TICKETVIEW_ variable: the flags say
// everything.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TICKETVIEW_") {
			env = append(env, kv)
		}
	}
	return env
}

// startNode starts node number n (joining through the first) and returns it once it
// serves HTTP and has reported its gossip address.
func (c *Cluster) startNode(ctx context.Context, bin string, n int) (*proc, error) {
	name := fmt.Sprintf("node%d", n)
	args := []string{"-data", filepath.Join(c.dir, name), "-http", "127.0.0.1:0", "-gossip", "127.0.0.1:0",
		"-remote", "127.0.0.1:0", "-postgres", c.dbURL, "-seed=false", "-audit=false",
		"-admin-token", adminToken, "-jwt-secret", jwtSecret}
	switch {
	case len(c.procs) > 0:
		args = append(args, "-seeds", c.procs[0].gossip)
	case c.client != nil: // a restart: join the client, which knows no other member now
		args = append(args, "-seeds", c.client.Provider.GossipAddr())
	}
	logPath := filepath.Join(c.dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = childEnv()
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	c.procs = append(c.procs, p)
	addrs := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), listening); ok {
				select {
				case addrs <- a:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	timer := time.NewTimer(nodeStartTimeout)
	defer timer.Stop()
	select {
	case p.addr = <-addrs:
	case <-p.done:
		return nil, fmt.Errorf("%s exited at start (%s):\n%s", name, cmd.ProcessState, logTail(logPath, 30))
	case <-timer.C:
		return nil, fmt.Errorf("%s did not say where it listens within %v:\n%s", name, nodeStartTimeout, logTail(logPath, 30))
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	st, err := nodeStatus(ctx, p.addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if st.Gossip == "" {
		return nil, fmt.Errorf("%s reports no gossip address: is it in cluster mode?", name)
	}
	p.gossip = st.Gossip
	return p, nil
}

var statusHTTP = &http.Client{Timeout: 5 * time.Second}

// nodeStatus is a node's GET /api/v1/admin/node.
func nodeStatus(ctx context.Context, addr string) (tvcluster.NodeStatus, error) {
	var st tvcluster.NodeStatus
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/v1/admin/node", nil)
	if err != nil {
		return st, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := statusHTTP.Do(req)
	if err != nil {
		return st, fmt.Errorf("reading the node status: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return st, fmt.Errorf("reading the node status: %s", res.Status)
	}
	if err := jsonDecode(res.Body, &st); err != nil {
		return st, fmt.Errorf("reading the node status: %w", err)
	}
	return st, nil
}

// waitMembers waits until the client's membership shows the running node processes
// alive, and no other member alive (after a restart, the killed ones must be found dead
// first). (protoactor's MemberList is not safe to read from outside its own goroutine;
// the provider's list is.)
func (c *Cluster) waitMembers(ctx context.Context) error {
	want := map[string]bool{}
	for _, p := range c.procs {
		want[p.gossip] = true
	}
	deadline := time.Now().Add(membersTimeout)
	for {
		got, others := 0, 0
		for _, ni := range c.client.Provider.Nodes() {
			if ni.Role != tvcluster.RoleMember || ni.State != tvcluster.NodeAlive {
				continue
			}
			if want[ni.Gossip] {
				got++
			} else {
				others++
			}
		}
		if got == len(want) && others == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the client sees %d of %d members alive and %d others after %v", got, len(want), others, membersTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// warm activates every section on its owner, so that activations are not part of what a
// load measures.
func (c *Cluster) warm(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, warmTimeout)
	defer cancel()
	for _, s := range c.layout.Sections {
		if err := c.client.Client.Touch(ctx, c.id(s.ID)); err != nil {
			return fmt.Errorf("activating section %s: %w", s.ID, err)
		}
	}
	return nil
}

func (c *Cluster) id(section string) ticketview.SectionID {
	return ticketview.SectionID{Event: c.layout.Event, Section: section}
}

// Client is the cluster client this process joined with.
func (c *Cluster) Client() *tvcluster.Client { return c.client.Client }

// Schema is the PostgreSQL schema the nodes use.
func (c *Cluster) Schema() string { return c.schema }

// PIDs are the node processes' ids (those running).
func (c *Cluster) PIDs() []int {
	var out []int
	for _, p := range c.procs {
		if p.cmd != nil && p.cmd.Process != nil && !p.exited() {
			out = append(out, p.cmd.Process.Pid)
		}
	}
	return out
}

// Close leaves the cluster, kills the node processes (SIGKILL), drops the schema and
// removes the temporary directory (the built binary, the nodes' data and logs). It may be
// called more than once.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		var errs []error
		if c.client != nil {
			errs = append(errs, c.client.Close(false))
		}
		errs = append(errs, c.killAll(context.Background()))
		errs = append(errs, c.dropSchema())
		if c.dir != "" {
			errs = append(errs, os.RemoveAll(c.dir))
		}
		c.closeErr = errors.Join(errs...)
		c.logf("clusterdrv: cluster closed")
	})
	return c.closeErr
}

// logTail is the last n lines of a log file.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
