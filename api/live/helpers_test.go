package live_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/actors"
	"github.com/ticketview/ticketview/api/live"
	"github.com/ticketview/ticketview/demo"
	"github.com/ticketview/ticketview/inmem"
	"github.com/ticketview/ticketview/internal/testutil"
	"github.com/ticketview/ticketview/persistence/sqlite"
)

const (
	event    = demo.EventID
	livePath = "/api/v1/events/%s/live"
	wait     = 20 * time.Second // CheckFor bound: generous, for -race
)

// engineEnv is a real seat engine over SQLite with the demo event, publishing its seat
// deltas to a publisher the test chooses.
type engineEnv struct {
	db  *sqlite.DB
	eng *actors.Engine
}

func newEngine(t *testing.T, deltas ticketview.DeltaPublisher) *engineEnv {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "ticketview.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.Seed(ctx, db, db, time.Now()); err != nil {
		t.Fatal(err)
	}
	eng, err := actors.NewEngine(actors.Config{Store: db, Events: db, Venues: db, Deltas: deltas,
		Logger: zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := eng.Close(); err != nil {
			t.Errorf("engine close: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("db close: %v", err)
		}
	})
	return &engineEnv{db: db, eng: eng}
}

// source is the hub's Source: the engine's availability, with seats.
func (e *engineEnv) source(ctx context.Context, id ticketview.SectionID) (ticketview.Availability, error) {
	return e.eng.Availability(ctx, id, true)
}

// sections lists an event's sections from the catalog.
func (e *engineEnv) sections(ctx context.Context, eventID string) ([]string, error) {
	ev, err := e.db.FindEvent(ctx, eventID)
	if err != nil {
		return nil, err
	}
	v, err := e.db.FindVenue(ctx, ev.VenueID)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(v.Sections))
	for i, s := range v.Sections {
		out[i] = s.ID
	}
	return out, nil
}

// availability is the engine's current availability of a demo section.
func (e *engineEnv) availability(t *testing.T, section string) ticketview.Availability {
	t.Helper()
	a, err := e.eng.Availability(context.Background(), ticketview.SectionID{Event: event, Section: section}, true)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// hold holds seats (or, with none, a GA quantity) for a new buyer and returns the hold.
func (e *engineEnv) hold(t testing.TB, section string, seats []string, qty int) ticketview.Hold {
	t.Helper()
	h, err := e.eng.Hold(context.Background(), ticketview.HoldCommand{Section: ticketview.SectionID{Event: event, Section: section},
		Owner: newOwner(), Seats: seats, Quantity: qty})
	if err != nil {
		t.Fatalf("hold %s %v %d: %v", section, seats, qty, err)
	}
	return h
}

var ownerMu sync.Mutex
var ownerN int

func newOwner() string {
	ownerMu.Lock()
	defer ownerMu.Unlock()
	ownerN++
	return fmt.Sprintf("buyer-%d", ownerN)
}

// gateway is a fiber app on a loopback port serving one hub.
type gateway struct {
	hub  *live.Hub
	addr string
}

func newGateway(t *testing.T, cfg live.Config) *gateway {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	}
	hub := live.NewHub(cfg)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/api/v1/events/:event/live", hub.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	t.Cleanup(func() {
		hub.Close() // before Shutdown: fiber does not wait for hijacked connections
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := app.ShutdownWithContext(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &gateway{hub: hub, addr: ln.Addr().String()}
}

func (g *gateway) url(query string) string {
	u := "ws://" + g.addr + fmt.Sprintf(livePath, event)
	if query != "" {
		u += "?" + query
	}
	return u
}

// secState is a client's view of one section, rebuilt from snapshot and deltas.
type secState struct {
	seq       uint64
	seats     map[string]ticketview.SeatStatus
	cats      []ticketview.CategoryAvailability
	free      int // GA: free places
	snapshots []uint64
	deltas    []uint64 // seqs of the deltas applied, in order
}

// message is any server message.
type message struct {
	Type         string                            `json:"type"`
	Section      string                            `json:"section"`
	Sections     []string                          `json:"sections"`
	Seq          uint64                            `json:"seq"`
	Prev         uint64                            `json:"prev"`
	Seats        []string                          `json:"seats"`
	Status       ticketview.SeatStatus             `json:"status"`
	GAFree       int                               `json:"ga_free"`
	Categories   []ticketview.CategoryAvailability `json:"categories"`
	Availability *ticketview.Availability          `json:"availability"`
	Code         string                            `json:"code"`
	Message      string                            `json:"message"`
}

// wsClient is a real gorilla client that reads everything and checks the protocol.
type wsClient struct {
	t    *testing.T
	name string
	conn *websocket.Conn
	done chan struct{}

	mu         sync.Mutex
	log        []message // every message, in order (snapshot availabilities dropped)
	sections   map[string]*secState
	violations []string
	readErr    error
}

// dial connects and starts reading.
func dial(t *testing.T, name, url string, header http.Header) *wsClient {
	t.Helper()
	return startClient(t, name, dialConn(t, url, header))
}

// dialConn connects (without reading).
func dialConn(t *testing.T, url string, header ...http.Header) *websocket.Conn {
	t.Helper()
	var h http.Header
	if len(header) > 0 {
		h = header[0]
	}
	conn, res, err := websocket.DefaultDialer.Dial(url, h)
	if err != nil {
		body := ""
		if res != nil {
			b, _ := io.ReadAll(res.Body)
			body = fmt.Sprintf(" (%d %s)", res.StatusCode, b)
		}
		t.Fatalf("dial %s: %v%s", url, err, body)
	}
	return conn
}

func startClient(t *testing.T, name string, conn *websocket.Conn) *wsClient {
	c := &wsClient{t: t, name: name, conn: conn, done: make(chan struct{}), sections: map[string]*secState{}}
	go c.read()
	t.Cleanup(c.close)
	return c
}

func (c *wsClient) read() {
	defer close(c.done)
	for {
		typ, data, err := c.conn.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			return
		}
		if typ != websocket.TextMessage {
			c.violation("binary frame from the server")
			continue
		}
		var m message
		if err := json.Unmarshal(data, &m); err != nil {
			c.violation("undecodable message %s: %v", data, err)
			continue
		}
		c.apply(m)
	}
}

func (c *wsClient) violation(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.violations = append(c.violations, fmt.Sprintf(format, args...))
}

// apply rebuilds the client's sections and records anything out of protocol.
func (c *wsClient) apply(m message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	bad := func(format string, args ...any) {
		c.violations = append(c.violations, fmt.Sprintf(format, args...))
	}
	switch m.Type {
	case "snapshot":
		a := m.Availability
		if a == nil || a.Section != m.Section || a.Seq != m.Seq || a.Event != event {
			bad("snapshot %s/%d does not match its availability", m.Section, m.Seq)
			return
		}
		st := c.sections[m.Section]
		if st == nil {
			st = &secState{}
			c.sections[m.Section] = st
		}
		st.seq, st.cats, st.free = a.Seq, a.Categories, a.Free
		st.seats = map[string]ticketview.SeatStatus{}
		for _, s := range a.Seats {
			st.seats[s.Label] = s.Status
		}
		st.snapshots = append(st.snapshots, a.Seq)
		m.Availability = nil
	case "delta":
		st := c.sections[m.Section]
		switch {
		case st == nil:
			bad("delta %s/%d before any snapshot", m.Section, m.Seq)
			return
		case m.Seq <= st.seq:
			bad("delta %s/%d at or below the state's seq %d (duplicate or out of order)", m.Section, m.Seq, st.seq)
			return
		case m.Prev > st.seq:
			bad("delta %s/%d prev %d: gap after %d", m.Section, m.Seq, m.Prev, st.seq)
		}
		for _, l := range m.Seats {
			if _, ok := st.seats[l]; !ok {
				bad("delta %s/%d: unknown seat %s", m.Section, m.Seq, l)
			}
			st.seats[l] = m.Status
		}
		st.cats = m.Categories
		if len(st.seats) == 0 {
			st.free = m.GAFree
		}
		st.seq = m.Seq
		st.deltas = append(st.deltas, m.Seq)
	case "error", "unsubscribed":
	default:
		bad("unknown message type %q", m.Type)
	}
	c.log = append(c.log, m)
}

// send writes a client message.
func (c *wsClient) send(v any) {
	c.t.Helper()
	var err error
	if b, ok := v.(string); ok {
		err = c.conn.WriteMessage(websocket.TextMessage, []byte(b))
	} else {
		err = c.conn.WriteJSON(v)
	}
	if err != nil {
		c.t.Fatalf("%s: send: %v", c.name, err)
	}
}

func (c *wsClient) close() {
	_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = c.conn.Close()
	<-c.done
}

// state returns a copy of a section's state (nil when the client has none).
func (c *wsClient) state(section string) *secState {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.sections[section]
	if st == nil {
		return nil
	}
	cp := *st
	cp.seats = maps(st.seats)
	cp.snapshots = slices.Clone(st.snapshots)
	cp.deltas = slices.Clone(st.deltas)
	return &cp
}

func maps(m map[string]ticketview.SeatStatus) map[string]ticketview.SeatStatus {
	out := make(map[string]ticketview.SeatStatus, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// messages returns the messages received so far.
func (c *wsClient) messages() []message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.log)
}

// err is the error that ended reading (nil while reading).
func (c *wsClient) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readErr
}

// noViolations fails the test with the client's protocol violations.
func (c *wsClient) noViolations() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.violations) > 0 {
		c.t.Fatalf("%s: %d protocol violations, first: %s", c.name, len(c.violations), strings.Join(c.violations[:min(5, len(c.violations))], "; "))
	}
}

// waitSnapshots waits until the client has n snapshots of each section.
func (c *wsClient) waitSnapshots(n int, sections ...string) {
	c.t.Helper()
	testutil.CheckFor(c.t, wait, func() error {
		for _, s := range sections {
			if st := c.state(s); st == nil || len(st.snapshots) < n {
				return fmt.Errorf("%s: fewer than %d snapshots of %s", c.name, n, s)
			}
		}
		return nil
	})
}

// waitMessage waits for a message that matches and returns it.
func (c *wsClient) waitMessage(what string, match func(message) bool) message {
	c.t.Helper()
	var found message
	testutil.CheckFor(c.t, wait, func() error {
		for _, m := range c.messages() {
			if match(m) {
				found = m
				return nil
			}
		}
		if err := c.err(); err != nil {
			return fmt.Errorf("%s: no %s; connection ended: %v", c.name, what, err)
		}
		return fmt.Errorf("%s: no %s yet", c.name, what)
	})
	return found
}

// waitError waits for the n-th error message (counting from 1) and checks its code.
func (c *wsClient) waitError(n int, code string) message {
	c.t.Helper()
	var errs []message
	testutil.CheckFor(c.t, wait, func() error {
		errs = errs[:0]
		for _, m := range c.messages() {
			if m.Type == "error" {
				errs = append(errs, m)
			}
		}
		if len(errs) < n {
			return fmt.Errorf("%s: %d error messages, want %d", c.name, len(errs), n)
		}
		return nil
	})
	if m := errs[n-1]; m.Code != code || m.Message == "" {
		c.t.Fatalf("%s: error %d is %q %q, want code %q", c.name, n, m.Code, m.Message, code)
	}
	return errs[n-1]
}

// waitClosed waits until reading ends and returns the error it ended with.
func (c *wsClient) waitClosed() error {
	c.t.Helper()
	select {
	case <-c.done:
		return c.err()
	case <-time.After(wait):
		c.t.Fatalf("%s: still connected after %s", c.name, wait)
		return nil
	}
}

// converged waits until the client's section is at the engine's seq and checks it
// equals the engine's availability: every seat's status, the category counts, GA free.
func converged(t *testing.T, c *wsClient, want ticketview.Availability) {
	t.Helper()
	testutil.CheckFor(t, wait, func() error {
		if st := c.state(want.Section); st == nil || st.seq < want.Seq {
			return fmt.Errorf("%s: %s not at seq %d yet", c.name, want.Section, want.Seq)
		}
		return nil
	})
	st := c.state(want.Section)
	if st.seq != want.Seq {
		t.Fatalf("%s: %s at seq %d, beyond the engine's %d", c.name, want.Section, st.seq, want.Seq)
	}
	seats := map[string]ticketview.SeatStatus{}
	for _, s := range want.Seats {
		seats[s.Label] = s.Status
	}
	if !reflect.DeepEqual(st.seats, seats) {
		diff := 0
		for l, s := range seats {
			if st.seats[l] != s {
				diff++
			}
		}
		t.Fatalf("%s: %s seats differ from the engine's in %d places", c.name, want.Section, diff)
	}
	if !reflect.DeepEqual(st.cats, want.Categories) {
		t.Fatalf("%s: %s categories %+v, engine %+v", c.name, want.Section, st.cats, want.Categories)
	}
	if want.Kind == ticketview.GeneralAdmission && st.free != want.Free {
		t.Fatalf("%s: %s GA free %d, engine %d", c.name, want.Section, st.free, want.Free)
	}
}

// httpGet does a plain request to the live endpoint.
func httpGet(t *testing.T, url string, header http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, strings.Replace(url, "ws://", "http://", 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := (&http.Client{Timeout: wait}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// refused dials and expects the handshake to be refused with status and code in the
// API's error shape.
func refused(t *testing.T, url string, header http.Header, status int, code string) {
	t.Helper()
	conn, res, err := websocket.DefaultDialer.Dial(url, header)
	if err == nil {
		conn.Close()
		t.Fatalf("dial %s: connected, want %d %s", url, status, code)
	}
	if res == nil {
		t.Fatalf("dial %s: %v, want %d %s", url, err, status, code)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	checkErrorBody(t, res.StatusCode, res.Header.Get("Content-Type"), b, status, code)
}

// checkErrorBody checks the API's one error shape: {"error":{"code":...,"message":...}}.
func checkErrorBody(t *testing.T, gotStatus int, contentType string, body []byte, status int, code string) {
	t.Helper()
	if gotStatus != status {
		t.Fatalf("status %d, want %d: %s", gotStatus, status, body)
	}
	if !strings.HasPrefix(contentType, "application/json") {
		t.Fatalf("content type %q: %s", contentType, body)
	}
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil {
		t.Fatalf("not the error shape: %s: %v", body, err)
	}
	if eb.Error.Code != code || eb.Error.Message == "" {
		t.Fatalf("error %q %q, want code %q", eb.Error.Code, eb.Error.Message, code)
	}
}

// hubGoroutines lists the goroutines running code of the live package (or any of
// extra, e.g. a feed adapter's subscription).
func hubGoroutines(extra ...string) []string {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "ticketview/api/live.") {
			out = append(out, g)
			continue
		}
		for _, e := range extra {
			if strings.Contains(g, e) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// noHubGoroutines waits until no goroutine of the hub is left.
func noHubGoroutines(t *testing.T, extra ...string) {
	t.Helper()
	testutil.CheckFor(t, wait, func() error {
		if gs := hubGoroutines(extra...); len(gs) > 0 {
			return fmt.Errorf("%d goroutines left, first:\n%s", len(gs), gs[0])
		}
		return nil
	})
}

// smallReadBuffer is a dialer whose connections have a tiny receive buffer, so that a
// client that does not read fills up at once.
func smallReadBuffer() *websocket.Dialer {
	return &websocket.Dialer{
		HandshakeTimeout: wait,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
				var serr error
				err := rc.Control(func(fd uintptr) {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
				})
				if err != nil {
					return err
				}
				return serr
			}}
			return d.DialContext(ctx, network, addr)
		},
	}
}

// newFeed is the in-process feed, closed when the test ends.
func newFeed(t *testing.T, buffer int) *inmem.DeltaFeed {
	f := inmem.NewDeltaFeed(buffer)
	t.Cleanup(func() { f.Close() })
	return f
}
