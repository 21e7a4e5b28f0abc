// Command cluster measures a TicketView cluster on loopback: holds/s through the cluster
// client (the gateway's) with 1 and 3 nodes, and the failover time over repeated kills.
//
//	go run ./bench/cluster [-nodes 1,3] [-callers 64] [-duration 10s] [-sections 12] [-kills 10]
//
// It builds cmd/node, starts the nodes as processes against a fresh schema of the test
// PostgreSQL (TICKETVIEW_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test),
// joins them as a cluster client in this process, and drives general-admission holds
// (one seat each, a new buyer each time, so neither capacity nor buyer limits end the run).
//
// Failover: the member owning a probed section is killed (SIGKILL); the time is from the
// kill until a request to that section succeeds through the client; a new node then
// joins, and the next kill follows once there are three members again.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
	tvcluster "github.com/ticketview/ticketview/cluster"
	"github.com/ticketview/ticketview/persistence/postgres"
)

const eventID = "bench-cluster"

var (
	nodesFlag = flag.String("nodes", "1,3", "cluster sizes to measure holds/s with")
	callers   = flag.Int("callers", 64, "concurrent callers")
	duration  = flag.Duration("duration", 10*time.Second, "length of each throughput run")
	sections  = flag.Int("sections", 12, "general-admission sections of the event")
	kills     = flag.Int("kills", 10, "failovers to measure (0 skips)")
	nodeBin   = flag.String("node-bin", "", "node binary (default: go build ./cmd/node)")
	cpuProf   = flag.String("cpuprofile", "", "write this process's CPU profile (the client side) to the file")
)

func main() {
	flag.Parse()
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/cluster:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "tv-bench-cluster")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := *nodeBin
	if bin == "" {
		bin = filepath.Join(tmp, "node")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/node").CombinedOutput(); err != nil {
			return fmt.Errorf("building the node: %v\n%s", err, out)
		}
	}
	for _, s := range strings.Split(*nodesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-nodes %q", *nodesFlag)
		}
		if err := throughput(ctx, bin, tmp, n); err != nil {
			return err
		}
	}
	if *kills > 0 {
		return failovers(ctx, bin, tmp)
	}
	return nil
}

// ---- the cluster under test ----

type cluster struct {
	bin, dir, pgURL string
	nodes           []*proc
	client          *tvcluster.Node
	seq             int
}

type proc struct {
	cmd  *exec.Cmd
	http string
	id   string
	done chan struct{}
}

func newCluster(ctx context.Context, bin, dir string) (*cluster, error) {
	base := os.Getenv("TICKETVIEW_TEST_POSTGRES_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	schema := fmt.Sprintf("bench_cluster_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6)
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return nil, err
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	c := &cluster{bin: bin, dir: dir, pgURL: base + sep + "search_path=" + schema}
	db, err := postgres.Open(ctx, c.pgURL, postgres.Options{})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	v := &ticketview.Venue{ID: "bench-venue", Name: "Bench Arena", City: "Loopback"}
	for i := range *sections {
		v.Sections = append(v.Sections, ticketview.SectionLayout{ID: fmt.Sprintf("ga-%02d", i), Name: fmt.Sprintf("GA %d", i),
			Kind: ticketview.GeneralAdmission, Capacity: 1_000_000, Category: "General"})
	}
	if err := db.CreateVenue(ctx, v); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	ev := &ticketview.Event{ID: eventID, Name: "Bench", VenueID: v.ID, Currency: "INR", StartsAt: now.Add(30 * 24 * time.Hour),
		Categories: []ticketview.PriceCategory{{Code: "General", Name: "General", Price: 1000}},
		BuyerLimit: 10, Status: ticketview.EventOnSale, CreatedAt: now}
	if err := db.CreateEvent(ctx, ev); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *cluster) sectionIDs() []ticketview.SectionID {
	out := make([]ticketview.SectionID, *sections)
	for i := range out {
		out[i] = ticketview.SectionID{Event: eventID, Section: fmt.Sprintf("ga-%02d", i)}
	}
	return out
}

// startNode starts a node process that joins through the first live one.
func (c *cluster) startNode() (*proc, error) {
	c.seq++
	args := []string{"-data", filepath.Join(c.dir, fmt.Sprintf("n%d", c.seq)), "-http", "127.0.0.1:0",
		"-gossip", "127.0.0.1:0", "-remote", "127.0.0.1:0", "-postgres", c.pgURL, "-seed=false", "-audit=false",
		"-admin-token", "bench", "-jwt-secret", "bench-access-token-key-0123456789abcdef"}
	if seeds := c.seeds(); seeds != "" {
		args = append(args, "-seeds", seeds)
	}
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(os.Environ(), "TICKETVIEW_REDIS_URL=", "TICKETVIEW_MONGO_URL=", "TICKETVIEW_SEEDS=", "TICKETVIEW_GOSSIP=")
	logf, err := os.Create(filepath.Join(c.dir, fmt.Sprintf("n%d.log", c.seq)))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ticketview node listening on http://"); ok {
				addr <- a
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	select {
	case p.http = <-addr:
	case <-p.done:
		return nil, fmt.Errorf("node %d exited at start; see %s", c.seq, logf.Name())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("node %d did not start", c.seq)
	}
	st, err := p.status()
	if err != nil {
		return nil, err
	}
	p.id = st.ID
	c.nodes = append(c.nodes, p)
	return p, nil
}

func (p *proc) status() (tvcluster.NodeStatus, error) {
	var st tvcluster.NodeStatus
	req, _ := http.NewRequest(http.MethodGet, "http://"+p.http+"/api/v1/admin/node", nil)
	req.Header.Set("Authorization", "Bearer bench")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer res.Body.Close()
	return st, jsonDecode(res.Body, &st)
}

func (c *cluster) seeds() string {
	for _, p := range c.nodes {
		select {
		case <-p.done:
		default:
			if st, err := p.status(); err == nil {
				return st.Gossip
			}
		}
	}
	return ""
}

func (c *cluster) join() error {
	n, err := tvcluster.StartClient(tvcluster.Config{Gossip: tvcluster.MemberlistConfig{Seeds: []string{c.seeds()}}, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	c.client = n
	return nil
}

// waitMembers waits until the client sees n members.
func (c *cluster) waitMembers(n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c.client.Cluster.MemberList.Length() == n {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("the client sees %d members, not %d", c.client.Cluster.MemberList.Length(), n)
}

func (c *cluster) close() {
	if c.client != nil {
		_ = c.client.Close(true)
	}
	for _, p := range c.nodes {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range c.nodes {
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
		}
	}
}

// ---- holds/s ----

func throughput(ctx context.Context, bin, tmp string, n int) error {
	c, err := newCluster(ctx, bin, filepath.Join(tmp, fmt.Sprintf("tp%d", n)))
	if err != nil {
		return err
	}
	defer c.close()
	for range n {
		if _, err := c.startNode(); err != nil {
			return err
		}
	}
	if err := c.join(); err != nil {
		return err
	}
	if err := c.waitMembers(n); err != nil {
		return err
	}
	ids := c.sectionIDs()
	for _, id := range ids { // activation is not part of the measure
		if err := c.client.Client.Touch(ctx, id); err != nil {
			return fmt.Errorf("warming %s: %w", id, err)
		}
	}
	var (
		ok, failed atomic.Int64
		mu         sync.Mutex
		lat        []time.Duration
		wg         sync.WaitGroup
	)
	stop := time.Now().Add(*duration)
	for w := range *callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := 0; time.Now().Before(stop); i++ {
				id := ids[(w+i)%len(ids)]
				t0 := time.Now()
				_, err := c.client.Client.Hold(ctx, ticketview.HoldCommand{Section: id, Owner: fmt.Sprintf("b%d-%d", w, i), Quantity: 1})
				if err != nil {
					failed.Add(1)
					continue
				}
				ok.Add(1)
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	fmt.Printf("nodes=%d callers=%d sections=%d: %.0f holds/s, p50 %v, p99 %v, errors %d\n", n, *callers, *sections,
		float64(ok.Load())/duration.Seconds(), pct(lat, 50), pct(lat, 99), failed.Load())
	return nil
}

// ---- failover ----

func failovers(ctx context.Context, bin, tmp string) error {
	c, err := newCluster(ctx, bin, filepath.Join(tmp, "failover"))
	if err != nil {
		return err
	}
	defer c.close()
	for range 3 {
		if _, err := c.startNode(); err != nil {
			return err
		}
	}
	if err := c.join(); err != nil {
		return err
	}
	if err := c.waitMembers(3); err != nil {
		return err
	}
	ids := c.sectionIDs()
	var times []time.Duration
	for k := range *kills {
		id := ids[k%len(ids)]
		if err := c.client.Client.Touch(ctx, id); err != nil {
			return err
		}
		// The owner of the probed section.
		var victim *proc
		for _, p := range c.live() {
			if st, err := p.status(); err == nil && slices.Contains(st.Sections, tvcluster.Identity(id)) {
				victim = p
			}
		}
		if victim == nil {
			return fmt.Errorf("no live node reports %s active", id)
		}
		t0 := time.Now()
		_ = victim.cmd.Process.Kill()
		for {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := c.client.Client.Availability(cctx, id, false)
			cancel()
			if err == nil {
				break
			}
			if time.Since(t0) > 60*time.Second {
				return fmt.Errorf("%s did not come back within 60s: %v", id, err)
			}
		}
		took := time.Since(t0)
		times = append(times, took)
		fmt.Printf("kill %d: %s back after %v\n", k+1, id, took.Round(time.Millisecond))
		<-victim.done
		if _, err := c.startNode(); err != nil {
			return err
		}
		if err := c.waitMembers(3); err != nil {
			return err
		}
	}
	slices.Sort(times)
	fmt.Printf("failover over %d kills: min %v, p50 %v, p90 %v, max %v\n", len(times),
		times[0].Round(time.Millisecond), pct(times, 50).Round(time.Millisecond), pct(times, 90).Round(time.Millisecond),
		times[len(times)-1].Round(time.Millisecond))
	return nil
}

func (c *cluster) live() []*proc {
	var out []*proc
	for _, p := range c.nodes {
		select {
		case <-p.done:
		default:
			out = append(out, p)
		}
	}
	return out
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
