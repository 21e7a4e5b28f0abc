// Command live measures live seat maps: N WebSocket subscribers on one section, and the
// time from a hold being acknowledged by the seat engine to its delta arriving at every
// subscriber.
//
//	go run ./bench/live [-subscribers 10000] [-holds 50] [-split=true]
//
// The server side is the real wiring of one gateway in this process: the actor engine
// over SQLite with the demo event, an in-process delta feed, the api/live hub on a fiber
// app on loopback. The subscribers are gorilla/websocket clients following the demo's
// floor-vip section. With -split (the default) they run in a child process (this program
// again, -role clients), so each process holds one descriptor per subscriber; in one
// process each subscriber costs two (its end and the server's), which the descriptor
// limit caps.
//
// Holds are made one at a time, each after the previous delta reached every subscriber,
// so that each is measured on its own. For each hold: per-subscriber latency is its
// delta's arrival at a subscriber (when ReadMessage returned) minus the moment Hold
// returned; the last-subscriber latency is the largest of those. Both processes read the
// same wall clock.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gorilla/websocket"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/actors"
	"github.com/ticketview/ticketview/api/live"
	"github.com/ticketview/ticketview/demo"
	"github.com/ticketview/ticketview/inmem"
	"github.com/ticketview/ticketview/persistence/sqlite"
)

var (
	subscribers = flag.Int("subscribers", 10000, "WebSocket subscribers on the section")
	holds       = flag.Int("holds", 50, "holds to measure (one seat each, one after the other)")
	split       = flag.Bool("split", true, "run the subscribers in a child process (one descriptor per subscriber in each process, instead of two in one)")
	dialers     = flag.Int("dialers", 64, "concurrent connection attempts")
	timeout     = flag.Duration("timeout", 60*time.Second, "how long one hold's delta may take to reach everybody")
	cpuProfile  = flag.String("cpuprofile", "", "write the server side's CPU profile of the holds to this file")
	role        = flag.String("role", "", "internal: clients (the child process)")
	url         = flag.String("url", "", "internal: the child's WebSocket URL")
)

// fdReserve is what the server side keeps for itself besides the subscribers.
const fdReserve = 100

func main() {
	flag.Parse()
	var err error
	if *role == "clients" {
		err = runChild()
	} else {
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "live:", err)
		os.Exit(1)
	}
}

// raiseFDLimit raises the soft descriptor limit to the hard one and returns it.
func raiseFDLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r)
	}
	return r.Cur
}

// run is the server side, and the subscribers too without -split.
func run() error {
	ctx := context.Background()
	limit := raiseFDLimit()
	n := *subscribers
	perSub := uint64(1)
	if !*split {
		perSub = 2
	}
	if fit := int((limit - min(limit, fdReserve)) / perSub); n > fit {
		fmt.Printf("note: %d subscribers do not fit the descriptor limit %d at %d per subscriber: measuring %d\n", n, limit, perSub, fit)
		n = fit
	}

	dir, err := os.MkdirTemp("", "bench-live-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(filepath.Join(dir, "ticketview.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := demo.Seed(ctx, db, db, time.Now()); err != nil {
		return err
	}
	feed := inmem.NewDeltaFeed(1 << 16)
	defer feed.Close()
	eng, err := actors.NewEngine(actors.Config{Store: db, Events: db, Venues: db, Deltas: feed})
	if err != nil {
		return err
	}
	if err := eng.Start(ctx); err != nil {
		return err
	}
	defer eng.Close()
	id := ticketview.SectionID{Event: demo.EventID, Section: demo.FloorVIP}
	hub := live.NewHub(live.Config{Feed: feed,
		Source: func(ctx context.Context, id ticketview.SectionID) (ticketview.Availability, error) {
			return eng.Availability(ctx, id, true)
		},
		Sections: func(ctx context.Context, event string) ([]string, error) {
			if event != demo.EventID {
				return nil, ticketview.Errorf(ticketview.ENOTFOUND, "no event %s", event)
			}
			return []string{demo.FloorVIP, demo.Balcony, demo.Standing}, nil
		}})
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/api/v1/events/:event/live", hub.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = app.Listener(ln) }()
	defer func() {
		hub.Close()
		_ = app.Shutdown()
	}()
	wsURL := fmt.Sprintf("ws://%s/api/v1/events/%s/live?sections=%s", ln.Addr(), demo.EventID, demo.FloorVIP)

	var subs fleetControl
	if *split {
		c, err := startChild(wsURL)
		if err != nil {
			return err
		}
		defer c.close()
		subs = c
	} else {
		subs = newFleet()
	}
	start := time.Now()
	connected, err := subs.connect(wsURL, n, *dialers)
	if err != nil {
		return err
	}
	connectTook := time.Since(start)
	if connected < n {
		fmt.Printf("note: %d of %d subscribers connected\n", connected, n)
	}

	avail, err := eng.Availability(ctx, id, true)
	if err != nil {
		return err
	}
	const warmup = 3
	total := warmup + *holds
	if total > len(avail.Seats) {
		return fmt.Errorf("%d holds: the section has %d seats", total, len(avail.Seats))
	}
	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pf.Close()
	}
	var holdTook []time.Duration
	late := 0
	for i := range total {
		label := avail.Seats[i].Label
		t0 := time.Now()
		if _, err := eng.Hold(ctx, ticketview.HoldCommand{Section: id, Owner: fmt.Sprintf("bench-%d", i), Seats: []string{label}}); err != nil {
			return fmt.Errorf("hold %s: %w", label, err)
		}
		acked := time.Now()
		if i >= warmup {
			holdTook = append(holdTook, acked.Sub(t0))
			subs.ack(label, acked.UnixNano())
		}
		if !subs.waitAll(label, *timeout) {
			late++
		}
	}
	pprof.StopCPUProfile()
	res, err := subs.result()
	if err != nil {
		return err
	}
	st := hub.Stats()

	mode := "in a child process"
	if !*split {
		mode = "in this process"
	}
	fmt.Printf("live seat maps: %d subscribers on %s (subscribers %s), %d holds, GOMAXPROCS %d\n",
		connected, id, mode, *holds, runtime.GOMAXPROCS(0))
	fmt.Printf("%-28s %10s %10s %10s %s\n", "", "p50", "p99", "max", "")
	row := func(name string, v []time.Duration, note string) {
		p := percentiles(v)
		fmt.Printf("%-28s %10s %10s %10s %s\n", name, p[0], p[1], p[2], note)
	}
	row("ack -> delta, per subscriber", res.PerSubscriber, fmt.Sprintf("(%d deliveries, %d missing)", len(res.PerSubscriber), res.Missing))
	row("ack -> delta, last subscriber", res.Last, fmt.Sprintf("(%d holds)", len(res.Last)))
	row("hold (engine ack)", holdTook, "")
	fmt.Printf("connect + snapshot of %d subscribers: %s; holds not delivered to all within %s: %d\n", connected, connectTook.Round(time.Millisecond), *timeout, late)
	fmt.Printf("hub: %d messages sent, %d slow dropped, %d heartbeat dropped, %d resyncs, %d upstream gaps\n",
		st.MessagesSent, st.SlowDropped, st.HeartbeatDropped, st.Resyncs, st.UpstreamGaps)
	return nil
}

// percentiles returns p50, p99 and max, rounded.
func percentiles(v []time.Duration) [3]time.Duration {
	if len(v) == 0 {
		return [3]time.Duration{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	at := func(q int) time.Duration { return s[min(len(s)-1, len(s)*q/100)].Round(10 * time.Microsecond) }
	return [3]time.Duration{at(50), at(99), s[len(s)-1].Round(10 * time.Microsecond)}
}

// result is what the subscribers measured.
type result struct {
	PerSubscriber []time.Duration `json:"per_subscriber"`
	Last          []time.Duration `json:"last"`
	Missing       int             `json:"missing"` // deliveries that never came
}

// fleetControl drives the subscribers, here or in the child.
type fleetControl interface {
	connect(url string, n, dialers int) (int, error)
	ack(label string, at int64)
	waitAll(label string, d time.Duration) bool
	result() (result, error)
}

// fleet is the subscribers: one gorilla client and reader goroutine each. The readers
// do as little as they can (no JSON decoding, no shared lock) so that the measurement is
// the server's more than the harness's.
type fleet struct {
	n       int
	subs    []*subscriber
	readers sync.WaitGroup
	labels  sync.Map // label -> *labelState

	mu   sync.Mutex
	acks map[string]int64
}

// labelState counts the subscribers that have a hold's delta.
type labelState struct {
	count atomic.Int64
	all   chan struct{} // closed when every subscriber has it
}

// subscriber is one connection and what it saw.
type subscriber struct {
	conn     *websocket.Conn
	arrivals []arrival // written by its reader only; read once the reader has ended
}

type arrival struct {
	label string
	at    int64 // unix ns
}

func newFleet() *fleet { return &fleet{acks: map[string]int64{}} }

func (f *fleet) label(l string) *labelState {
	if v, ok := f.labels.Load(l); ok {
		return v.(*labelState)
	}
	v, _ := f.labels.LoadOrStore(l, &labelState{all: make(chan struct{})})
	return v.(*labelState)
}

// connect dials n subscribers and waits for each one's snapshot.
func (f *fleet) connect(url string, n, dialers int) (int, error) {
	raiseFDLimit()
	dialer := &websocket.Dialer{HandshakeTimeout: 30 * time.Second}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		firstErr  error
		next      atomic.Int64
		snapshots sync.WaitGroup
	)
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				conn, _, err := dialer.Dial(url, nil)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				s := &subscriber{conn: conn}
				f.subs = append(f.subs, s)
				mu.Unlock()
				snapshots.Add(1)
				f.readers.Add(1)
				go f.read(s, snapshots.Done)
			}
		}()
	}
	wg.Wait()
	snapshots.Wait()
	f.n = len(f.subs)
	if f.n == 0 {
		return 0, fmt.Errorf("no subscriber connected: %v", firstErr)
	}
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "live: %d connections failed, first: %v\n", n-f.n, firstErr)
	}
	return f.n, nil
}

var (
	snapshotPrefix = []byte(`{"type":"snapshot"`)
	deltaPrefix    = []byte(`{"type":"delta"`)
	seatsKey       = []byte(`"seats":["`)
	heldKey        = []byte(`"status":"held"`)
)

// read records the arrival of every hold's delta (a delta of one held seat).
func (f *fleet) read(s *subscriber, snapshot func()) {
	defer f.readers.Done()
	buf := make([]byte, 0, 1024)
	got := false
	defer func() {
		if !got {
			snapshot()
		}
	}()
	for {
		_, r, err := s.conn.NextReader()
		if err != nil {
			return
		}
		buf = buf[:0]
		for {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			k, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+k]
			if err == io.EOF {
				break
			} else if err != nil {
				return
			}
		}
		at := time.Now().UnixNano()
		switch {
		case !got && bytes.HasPrefix(buf, snapshotPrefix):
			got = true
			snapshot()
		case bytes.HasPrefix(buf, deltaPrefix) && bytes.Contains(buf, heldKey):
			i := bytes.Index(buf, seatsKey)
			if i < 0 {
				continue
			}
			rest := buf[i+len(seatsKey):]
			j := bytes.IndexByte(rest, '"')
			if j < 0 || (j+1 < len(rest) && rest[j+1] != ']') {
				continue // not exactly one seat
			}
			label := string(rest[:j])
			s.arrivals = append(s.arrivals, arrival{label, at})
			if ls := f.label(label); ls.count.Add(1) == int64(f.n) {
				close(ls.all)
			}
		}
	}
}

func (f *fleet) ack(label string, at int64) {
	f.mu.Lock()
	f.acks[label] = at
	f.mu.Unlock()
}

func (f *fleet) waitAll(label string, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-f.label(label).all:
		return true
	case <-t.C:
		return false
	}
}

// result closes the connections and computes the latencies.
func (f *fleet) result() (result, error) {
	for _, s := range f.subs {
		_ = s.conn.Close()
	}
	f.readers.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	var r result
	last := map[string]time.Duration{}
	seen := map[string]int{}
	for _, s := range f.subs {
		for _, a := range s.arrivals {
			ack, ok := f.acks[a.label]
			if !ok {
				continue // a warm-up hold
			}
			d := time.Duration(a.at - ack)
			r.PerSubscriber = append(r.PerSubscriber, d)
			last[a.label] = max(last[a.label], d)
			seen[a.label]++
		}
	}
	for label := range f.acks {
		r.Missing += f.n - seen[label]
		if seen[label] > 0 {
			r.Last = append(r.Last, last[label])
		}
	}
	return r, nil
}

// ---- the child process ----

// child is the subscribers in a child process, driven over its stdin and stdout:
//
//	parent -> child: "connect <n> <dialers>", "ack <label> <unix ns>", "wait <label> <ns>", "result"
//	child -> parent: "connected <n>", "waited <label> <true|false>", "result <json>", "error <text>"
type child struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines *bufio.Scanner
}

func startChild(wsURL string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-role", "clients", "-url", wsURL)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	lines := bufio.NewScanner(out)
	lines.Buffer(make([]byte, 1<<20), 1<<30)
	return &child{cmd: cmd, in: in, lines: lines}, nil
}

func (c *child) call(format string, args ...any) (string, error) {
	if _, err := fmt.Fprintf(c.in, format+"\n", args...); err != nil {
		return "", err
	}
	if !c.lines.Scan() {
		return "", fmt.Errorf("child: %v", c.lines.Err())
	}
	line := c.lines.Text()
	if msg, ok := strings.CutPrefix(line, "error "); ok {
		return "", errors.New("child: " + msg)
	}
	return line, nil
}

func (c *child) connect(_ string, n, dialers int) (int, error) {
	line, err := c.call("connect %d %d", n, dialers)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimPrefix(line, "connected "))
}

func (c *child) ack(label string, at int64) { _, _ = fmt.Fprintf(c.in, "ack %s %d\n", label, at) }

func (c *child) waitAll(label string, d time.Duration) bool {
	line, err := c.call("wait %s %d", label, int64(d))
	return err == nil && strings.HasSuffix(line, " true")
}

func (c *child) result() (result, error) {
	line, err := c.call("result")
	if err != nil {
		return result{}, err
	}
	var r result
	err = json.Unmarshal([]byte(strings.TrimPrefix(line, "result ")), &r)
	return r, err
}

func (c *child) close() {
	_ = c.in.Close()
	_ = c.cmd.Wait()
}

// runChild serves the parent's commands until its stdin closes.
func runChild() error {
	f := newFleet()
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
	}
	for in.Scan() {
		cmd := strings.Fields(in.Text())
		if len(cmd) == 0 {
			continue
		}
		switch cmd[0] {
		case "connect":
			n, _ := strconv.Atoi(cmd[1])
			d, _ := strconv.Atoi(cmd[2])
			c, err := f.connect(*url, n, d)
			if err != nil {
				say("error %v", err)
				continue
			}
			say("connected %d", c)
		case "ack":
			at, _ := strconv.ParseInt(cmd[2], 10, 64)
			f.ack(cmd[1], at)
		case "wait":
			d, _ := strconv.ParseInt(cmd[2], 10, 64)
			say("waited %s %t", cmd[1], f.waitAll(cmd[1], time.Duration(d)))
		case "result":
			r, _ := f.result()
			b, _ := json.Marshal(r)
			say("result %s", b)
		default:
			say("error unknown command %q", cmd[0])
		}
	}
	return in.Err()
}
