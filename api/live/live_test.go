package live_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api/live"
	"github.com/ticketview/ticketview/demo"
	"github.com/ticketview/ticketview/internal/testutil"
	"github.com/ticketview/ticketview/internal/testutil/redistest"
	"github.com/ticketview/ticketview/persistence/redis"
)

var allSections = []string{demo.FloorVIP, demo.Balcony, demo.Standing}

// setup is the common wiring: an in-process feed, a real engine publishing to it, and a
// gateway whose hub reads the feed and the engine.
func setup(t *testing.T, cfg live.Config) (*engineEnv, *gateway) {
	t.Helper()
	feed := newFeed(t, 1<<16)
	e := newEngine(t, feed)
	cfg.Feed, cfg.Source, cfg.Sections = feed, e.source, e.sections
	return e, newGateway(t, cfg)
}

// flashSale runs concurrent buyers holding and releasing seats in the seated sections
// and places in the GA one. It returns once every command has been answered, with the
// first unexpected error.
func flashSale(e *engineEnv, workers, rounds int) error {
	ctx := context.Background()
	floor, err := e.eng.Availability(ctx, ticketview.SectionID{Event: event, Section: demo.FloorVIP}, true)
	if err != nil {
		return err
	}
	balcony, err := e.eng.Availability(ctx, ticketview.SectionID{Event: event, Section: demo.Balcony}, true)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []error
	fail := func(err error) {
		mu.Lock()
		failures = append(failures, err)
		mu.Unlock()
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range rounds {
				cmd := ticketview.HoldCommand{Owner: newOwner()}
				switch rng.IntN(3) {
				case 0: // contended: a few floor seats everybody wants
					cmd.Section = ticketview.SectionID{Event: event, Section: demo.FloorVIP}
					cmd.Seats = []string{floor.Seats[rng.IntN(40)].Label}
				case 1:
					cmd.Section = ticketview.SectionID{Event: event, Section: demo.Balcony}
					i := rng.IntN(len(balcony.Seats) - 1)
					cmd.Seats = []string{balcony.Seats[i].Label, balcony.Seats[i+1].Label}
				default:
					cmd.Section = ticketview.SectionID{Event: event, Section: demo.Standing}
					cmd.Quantity = 1 + rng.IntN(4)
				}
				h, err := e.eng.Hold(ctx, cmd)
				if err != nil {
					if c := ticketview.ErrorCode(err); c != ticketview.ESEATTAKEN && c != ticketview.ESOLDOUT {
						fail(err)
					}
					continue
				}
				if rng.IntN(2) == 0 {
					if err := e.eng.Release(ctx, cmd.Section, h.Token, h.Owner, ""); err != nil {
						fail(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		return fmt.Errorf("%d commands failed, first: %w", len(failures), failures[0])
	}
	return nil
}

// TestFlashSaleReachesEverySubscriber: during a flash sale of concurrent holds and
// releases, every subscriber gets a snapshot and then every delta of its sections in
// order, without gap or duplicate, and its state rebuilt from them equals the engine's;
// so do subscribers that join, and resyncs asked for, in the middle of the sale.
func TestFlashSaleReachesEverySubscriber(t *testing.T) {
	e, g := setup(t, live.Config{})
	all1 := dial(t, "all-1", g.url(""), nil)
	all2 := dial(t, "all-2", g.url(""), nil)
	floorOnly := dial(t, "floor", g.url("sections="+demo.FloorVIP), nil)
	all1.waitSnapshots(1, allSections...)
	all2.waitSnapshots(1, allSections...)
	floorOnly.waitSnapshots(1, demo.FloorVIP)

	sale := make(chan error, 1)
	go func() { sale <- flashSale(e, 16, 40) }()
	// Subscribers join while the sale runs, and one client resyncs a section now and then.
	var joiners []*wsClient
	resyncs := 0
	var saleErr error
	for done := false; !done; {
		c := dial(t, fmt.Sprintf("joiner-%d", len(joiners)), g.url(""), nil)
		c.waitSnapshots(1, allSections...)
		joiners = append(joiners, c)
		all1.send(map[string]any{"type": "resync", "section": allSections[resyncs%3]})
		resyncs++
		select {
		case saleErr = <-sale:
			done = true
		default:
		}
	}
	if saleErr != nil {
		t.Fatal(saleErr)
	}
	// A late subscriber joins after the sale and must agree too.
	late := dial(t, "late", g.url("sections="+demo.Balcony+","+demo.Standing), nil)

	for _, s := range allSections {
		want := e.availability(t, s)
		if want.Seq == 0 {
			t.Fatalf("%s: the sale changed nothing", s)
		}
		for _, c := range append([]*wsClient{all1, all2}, joiners...) {
			converged(t, c, want)
		}
		if s == demo.FloorVIP {
			converged(t, floorOnly, want)
		} else {
			converged(t, late, want)
		}
		// The same deltas in the same order at every subscriber, from its snapshot on.
		ref := all2.state(s)
		if len(ref.deltas) == 0 || len(ref.snapshots) != 1 {
			t.Fatalf("%s: %d deltas, %d snapshots", s, len(ref.deltas), len(ref.snapshots))
		}
		others := joiners
		if s == demo.FloorVIP {
			others = append(others, floorOnly)
		}
		for _, c := range others {
			st := c.state(s)
			from := st.snapshots[0]
			want := slices.DeleteFunc(slices.Clone(ref.deltas), func(seq uint64) bool { return seq <= from })
			if !slices.Equal(st.deltas, want) {
				t.Fatalf("%s: %s has %d deltas after its snapshot at %d, the reference %d", s, c.name, len(st.deltas), from, len(want))
			}
		}
	}
	if st := floorOnly.state(demo.Balcony); st != nil {
		t.Fatalf("a floor-only subscriber got balcony messages")
	}
	clients := append([]*wsClient{all1, all2, floorOnly, late}, joiners...)
	for _, c := range clients {
		c.noViolations()
		if err := c.err(); err != nil {
			t.Fatalf("%s: connection ended: %v", c.name, err)
		}
	}
	st := g.hub.Stats()
	if st.Clients != len(clients) || st.Subscriptions != 3+3+1+2+3*len(joiners) || st.Upstreams != 1 {
		t.Fatalf("stats %+v: want %d clients, %d subscriptions, 1 upstream", st, len(clients), 9+3*len(joiners))
	}
	if st.UpstreamGaps != 0 || st.SlowDropped != 0 || st.Resyncs == 0 || st.Resyncs > uint64(resyncs) {
		t.Fatalf("stats %+v: want no gap nor drop, and up to %d resyncs", st, resyncs)
	}
	t.Logf("%d joiners during the sale, %d resyncs asked, stats %+v", len(joiners), resyncs, st)
}

// TestSubscribeUnsubscribeResync drives the client messages.
func TestSubscribeUnsubscribeResync(t *testing.T) {
	e, g := setup(t, live.Config{})
	c := dial(t, "client", g.url("sections="), nil) // nothing until it subscribes
	observer := dial(t, "observer", g.url("sections="+demo.Balcony), nil)
	observer.waitSnapshots(1, demo.Balcony)

	c.send(map[string]any{"type": "subscribe", "sections": []string{demo.FloorVIP}})
	c.waitSnapshots(1, demo.FloorVIP)
	// Already followed sections are left alone; new ones get their snapshot.
	c.send(map[string]any{"type": "subscribe", "sections": []string{demo.FloorVIP, demo.Balcony}})
	c.waitSnapshots(1, demo.Balcony)
	if n := len(c.state(demo.FloorVIP).snapshots); n != 1 {
		t.Fatalf("floor: %d snapshots after subscribing again, want 1", n)
	}
	if got := g.hub.Stats().Subscriptions; got != 3 {
		t.Fatalf("%d subscriptions, want 3", got)
	}

	// A resync is a fresh snapshot of the section.
	h := e.hold(t, demo.FloorVIP, []string{"A-1"}, 0)
	c.waitMessage("the delta of A-1", func(m message) bool { return m.Type == "delta" && slices.Contains(m.Seats, "A-1") })
	c.send(map[string]any{"type": "resync", "section": demo.FloorVIP})
	c.waitSnapshots(2, demo.FloorVIP)
	floor := c.state(demo.FloorVIP)
	if floor.snapshots[1] != floor.seq || floor.seats["A-1"] != ticketview.SeatHeld {
		t.Fatalf("resync snapshot %v, state at %d, A-1 %v", floor.snapshots, floor.seq, floor.seats["A-1"])
	}
	if got := g.hub.Stats().Resyncs; got != 1 {
		t.Fatalf("%d resyncs counted, want 1", got)
	}
	converged(t, c, e.availability(t, demo.FloorVIP))

	// Unsubscribe: acknowledged, and nothing of the section follows the acknowledgement.
	c.send(map[string]any{"type": "unsubscribe", "sections": []string{demo.Balcony}})
	ack := c.waitMessage("unsubscribed", func(m message) bool { return m.Type == "unsubscribed" })
	if !slices.Equal(ack.Sections, []string{demo.Balcony}) {
		t.Fatalf("unsubscribed %v", ack.Sections)
	}
	e.hold(t, demo.Balcony, []string{"A-7"}, 0)
	observer.waitMessage("the delta of balcony A-7", func(m message) bool { return m.Type == "delta" && slices.Contains(m.Seats, "A-7") })
	if err := e.eng.Release(context.Background(), ticketview.SectionID{Event: event, Section: demo.FloorVIP}, h.Token, h.Owner, ""); err != nil {
		t.Fatal(err)
	}
	c.waitMessage("the release of A-1", func(m message) bool {
		return m.Type == "delta" && slices.Contains(m.Seats, "A-1") && m.Status == ticketview.SeatFree
	})
	msgs := c.messages()
	after := slices.IndexFunc(msgs, func(m message) bool { return m.Type == "unsubscribed" })
	for _, m := range msgs[after:] {
		if m.Section == demo.Balcony {
			t.Fatalf("balcony %s %d after unsubscribing", m.Type, m.Seq)
		}
	}
	if got := g.hub.Stats().Subscriptions; got != 2 {
		t.Fatalf("%d subscriptions, want 2", got)
	}
	converged(t, c, e.availability(t, demo.FloorVIP))
	c.noViolations()
	observer.noViolations()
}

// TestBadClientMessages: every malformed or refused message is answered with an error
// and changes nothing; the connection stays usable.
func TestBadClientMessages(t *testing.T) {
	_, g := setup(t, live.Config{MaxSections: 2})
	c := dial(t, "client", g.url("sections="+demo.FloorVIP), nil)
	c.waitSnapshots(1, demo.FloorVIP)

	cases := []struct {
		send any
		code string
	}{
		{"not json", ticketview.EINVALID},
		{`{"sections":["balcony"]}`, ticketview.EINVALID},                               // no type
		{`{"type":"dance"}`, ticketview.EINVALID},                                       // unknown type
		{`{"type":"subscribe"}`, ticketview.EINVALID},                                   // no sections
		{`{"type":"subscribe","sections":["nope"]}`, ticketview.ENOTFOUND},              // unknown section
		{`{"type":"subscribe","sections":["balcony","nope"]}`, ticketview.ENOTFOUND},    // whole or nothing
		{`{"type":"subscribe","sections":["bad id!"]}`, ticketview.EINVALID},            // invalid id
		{`{"type":"subscribe","sections":["balcony","standing"]}`, ticketview.EINVALID}, // over MaxSections (2)
		{`{"type":"resync","section":"balcony"}`, ticketview.EINVALID},                  // not subscribed
		{`{"type":"subscribe","sections":"balcony"}`, ticketview.EINVALID},              // wrong JSON type
		{`{"type":"subscribe","sections":["a","b","c"]}`, ticketview.EINVALID},          // too many in one message
		{[]byte{0xff, 0x00}, ticketview.EINVALID},                                       // binary frame
		{`{"type":"unsubscribe","sections":[""]}`, ticketview.EINVALID},                 // empty id
	}
	for i, tc := range cases {
		if b, ok := tc.send.([]byte); ok {
			if err := c.conn.WriteMessage(websocket.BinaryMessage, b); err != nil {
				t.Fatal(err)
			}
		} else {
			c.send(tc.send)
		}
		m := c.waitError(i+1, tc.code)
		if m.Section != "" {
			t.Fatalf("case %d: error about section %q", i, m.Section)
		}
	}
	// Nothing changed, and the connection still works.
	if st := c.state(demo.Balcony); st != nil {
		t.Fatal("a refused subscribe subscribed")
	}
	if got := g.hub.Stats().Subscriptions; got != 1 {
		t.Fatalf("%d subscriptions, want 1", got)
	}
	c.send(map[string]any{"type": "subscribe", "sections": []string{demo.Balcony}})
	c.waitSnapshots(1, demo.Balcony)
	c.noViolations()
	if g.hub.Stats().FloodDropped != 0 {
		t.Fatal("a client sending a few bad messages was dropped")
	}
}

// TestFloodingClientDropped: a client sending junk without pause is dropped with 1008.
func TestFloodingClientDropped(t *testing.T) {
	_, g := setup(t, live.Config{})
	c := dial(t, "flood", g.url("sections="), nil)
	for range 200 {
		if err := c.conn.WriteMessage(websocket.TextMessage, []byte("junk")); err != nil {
			break // dropped already
		}
	}
	err := c.waitClosed()
	if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Fatalf("ended with %v, want close 1008", err)
	}
	testutil.CheckFor(t, wait, func() error {
		if st := g.hub.Stats(); st.FloodDropped != 1 || st.Clients != 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
}

// TestOversizedMessageCloses: a message over MaxMessageSize closes the connection (1009).
func TestOversizedMessageCloses(t *testing.T) {
	_, g := setup(t, live.Config{})
	c := dial(t, "big", g.url("sections="), nil)
	big := make([]byte, live.MaxMessageSize+1)
	for i := range big {
		big[i] = 'a'
	}
	if err := c.conn.WriteMessage(websocket.TextMessage, big); err != nil {
		t.Fatal(err)
	}
	if err := c.waitClosed(); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("ended with %v, want close 1009", err)
	}
	testutil.CheckFor(t, wait, func() error {
		if st := g.hub.Stats(); st.Clients != 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
}

// TestRefusedRequests: every refusal is an HTTP answer in the API's error shape.
func TestRefusedRequests(t *testing.T) {
	_, g := setup(t, live.Config{MaxSections: 2})

	// Not an upgrade.
	st, body := httpGet(t, g.url(""), nil)
	checkErrorBody(t, st, "application/json", body, http.StatusBadRequest, ticketview.EINVALID)
	// An upgrade without a valid handshake.
	bad := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"8"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	st, body = httpGet(t, g.url(""), bad)
	checkErrorBody(t, st, "application/json", body, http.StatusBadRequest, ticketview.EINVALID)
	bad.Set("Sec-Websocket-Version", "13")
	bad.Set("Sec-Websocket-Key", "short")
	st, body = httpGet(t, g.url(""), bad)
	checkErrorBody(t, st, "application/json", body, http.StatusBadRequest, ticketview.EINVALID)

	// Unknown event, unknown or invalid section, too many sections at once.
	refused(t, "ws://"+g.addr+fmt.Sprintf(livePath, "no-such-event"), nil, http.StatusNotFound, ticketview.ENOTFOUND)
	refused(t, "ws://"+g.addr+fmt.Sprintf(livePath, "bad%20id"), nil, http.StatusBadRequest, ticketview.EINVALID)
	refused(t, g.url("sections=nope"), nil, http.StatusNotFound, ticketview.ENOTFOUND)
	refused(t, g.url("sections=bad!id"), nil, http.StatusBadRequest, ticketview.EINVALID)
	refused(t, g.url(""), nil, http.StatusBadRequest, ticketview.EINVALID) // 3 sections > MaxSections 2
	refused(t, g.url("sections=floor-vip,balcony,standing"), nil, http.StatusBadRequest, ticketview.EINVALID)

	if st := g.hub.Stats(); st.Clients != 0 || st.Upstreams != 0 {
		t.Fatalf("refused requests left %+v", st)
	}
	// The same endpoint serves a valid request.
	c := dial(t, "ok", g.url("sections=floor-vip,balcony"), nil)
	c.waitSnapshots(1, demo.FloorVIP, demo.Balcony)
}

// TestOrigins: browsers may connect from the allowed origins only.
func TestOrigins(t *testing.T) {
	feed := newFeed(t, 0)
	e := newEngine(t, feed)
	gw := func(origins ...string) *gateway {
		return newGateway(t, live.Config{Feed: feed, Source: e.source, Sections: e.sections, AllowedOrigins: origins})
	}
	origin := func(o string) http.Header { return http.Header{"Origin": {o}} }
	q := "sections=" + demo.FloorVIP

	// Empty list: the request's own host only.
	same := gw()
	dial(t, "no origin", same.url(q), nil).waitSnapshots(1, demo.FloorVIP)
	dial(t, "same host", same.url(q), origin("http://"+same.addr)).waitSnapshots(1, demo.FloorVIP)
	refused(t, same.url(q), origin("http://evil.example"), http.StatusForbidden, ticketview.EFORBIDDEN)
	refused(t, same.url(q), origin("null"), http.StatusForbidden, ticketview.EFORBIDDEN)

	// A list: those origins (full, or host only), not the request's host.
	listed := gw("https://tickets.example", "app.example:8443")
	dial(t, "listed", listed.url(q), origin("https://tickets.example")).waitSnapshots(1, demo.FloorVIP)
	dial(t, "listed host", listed.url(q), origin("http://app.example:8443")).waitSnapshots(1, demo.FloorVIP)
	refused(t, listed.url(q), origin("http://tickets.example"), http.StatusForbidden, ticketview.EFORBIDDEN)
	refused(t, listed.url(q), origin("http://"+listed.addr), http.StatusForbidden, ticketview.EFORBIDDEN)

	// "*": anything.
	anyOrigin := gw("*")
	dial(t, "any", anyOrigin.url(q), origin("http://evil.example")).waitSnapshots(1, demo.FloorVIP)
}

// TestSlowClientDropped: a client that never reads is dropped (1013) once its queue is
// full, while a fast one on the same section still gets everything.
func TestSlowClientDropped(t *testing.T) {
	e, g := setup(t, live.Config{QueueSize: 64})
	q := "sections=" + demo.Balcony
	fast := dial(t, "fast", g.url(q), nil)
	conn, _, err := smallReadBuffer().Dial(g.url(q), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fast.waitSnapshots(1, demo.Balcony)

	// The slow client never reads, but asks for a balcony snapshot (some 200 kB) ten
	// times a second, within the flood limit: the socket buffers fill in seconds.
	stop := make(chan struct{})
	asked := make(chan struct{})
	go func() {
		defer close(asked)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
			if conn.WriteJSON(map[string]string{"type": "resync", "section": demo.Balcony}) != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		<-asked
	}()

	// Meanwhile, hold balcony seats, one per command, until the hub has given up on the
	// slow client (or the seats run out).
	seats := e.availability(t, demo.Balcony).Seats
	var wg sync.WaitGroup
	var failed, held atomic.Int64
	next := make(chan string)
	enough := make(chan struct{})
	go func() {
		defer close(next)
		for _, s := range seats {
			select {
			case next <- s.Label:
			case <-enough:
				return
			}
		}
	}()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := range next {
				if _, err := e.eng.Hold(context.Background(), ticketview.HoldCommand{Owner: newOwner(),
					Section: ticketview.SectionID{Event: event, Section: demo.Balcony}, Seats: []string{l}}); err != nil {
					failed.Add(1)
				}
				held.Add(1)
			}
		}()
	}
	testutil.CheckFor(t, wait, func() error {
		if st := g.hub.Stats(); st.SlowDropped != 1 {
			return fmt.Errorf("after %d holds: stats %+v, want the slow client dropped", held.Load(), st)
		}
		return nil
	})
	close(enough)
	wg.Wait()
	if failed.Load() > 0 || held.Load() == 0 {
		t.Fatalf("%d of %d holds failed", failed.Load(), held.Load())
	}

	testutil.CheckFor(t, wait, func() error {
		if st := g.hub.Stats(); st.SlowDropped != 1 || st.Clients != 1 || st.Subscriptions != 1 {
			return fmt.Errorf("stats %+v, want the slow client gone", st)
		}
		return nil
	})
	converged(t, fast, e.availability(t, demo.Balcony))
	fast.noViolations()
	if n := len(fast.state(demo.Balcony).deltas); int64(n) != held.Load() {
		t.Fatalf("fast client got %d deltas of %d holds", n, held.Load())
	}
	if err := fast.err(); err != nil {
		t.Fatalf("fast client dropped: %v", err)
	}

	// The slow client finds its connection closed: with 1013 if the close frame got
	// through, cut off otherwise (its socket was full).
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("slow client still connected: %v", err)
		}
		if ce := (*websocket.CloseError)(nil); errors.As(err, &ce) && ce.Code != live.CloseTooSlow && ce.Code != websocket.CloseAbnormalClosure {
			t.Fatalf("slow client closed with %d, want %d", ce.Code, live.CloseTooSlow)
		}
		break
	}
}

// TestMissingPongDropped: a client that does not answer pings is dropped after two
// heartbeats; one that answers stays.
func TestMissingPongDropped(t *testing.T) {
	_, g := setup(t, live.Config{Heartbeat: 400 * time.Millisecond})
	q := "sections=" + demo.FloorVIP
	var mu sync.Mutex
	goodPings, badPings := 0, 0
	goodConn := dialConn(t, g.url(q))
	goodConn.SetPingHandler(func(data string) error {
		mu.Lock()
		goodPings++
		mu.Unlock()
		return goodConn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	good := startClient(t, "good", goodConn)
	badConn := dialConn(t, g.url(q))
	badConn.SetPingHandler(func(string) error { // no pong
		mu.Lock()
		badPings++
		mu.Unlock()
		return nil
	})
	bad := startClient(t, "bad", badConn)
	bad.waitSnapshots(1, demo.FloorVIP)

	if err := bad.waitClosed(); err == nil {
		t.Fatal("bad client: no error")
	}
	testutil.CheckFor(t, wait, func() error {
		if st := g.hub.Stats(); st.HeartbeatDropped != 1 || st.Clients != 1 {
			return fmt.Errorf("stats %+v, want the silent client dropped", st)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if badPings < 1 || goodPings < 2 {
		t.Fatalf("pings: bad %d, good %d", badPings, goodPings)
	}
	if err := good.err(); err != nil {
		t.Fatalf("the client answering pings was dropped: %v", err)
	}
}

// TestUpstreamGapResyncs: a delta whose Prev is beyond what the hub has, and a feed
// subscription that dropped deltas, make the hub send every subscriber of the section a
// fresh snapshot; the bogus delta is never passed on.
func TestUpstreamGapResyncs(t *testing.T) {
	feed := newFeed(t, 1<<16)
	e := newEngine(t, feed)
	g := newGateway(t, live.Config{Feed: feed, Source: e.source, Sections: e.sections})
	q := "sections=" + demo.FloorVIP + "," + demo.Standing
	a, b := dial(t, "a", g.url(q), nil), dial(t, "b", g.url(q), nil)
	a.waitSnapshots(1, demo.FloorVIP, demo.Standing)
	b.waitSnapshots(1, demo.FloorVIP, demo.Standing)
	e.hold(t, demo.FloorVIP, []string{"B-2"}, 0)
	cur := e.availability(t, demo.FloorVIP)
	converged(t, a, cur)
	converged(t, b, cur)

	// A delta from beyond: deltas cur+1..cur+99 "lost".
	id := ticketview.SectionID{Event: event, Section: demo.FloorVIP}
	feed.PublishDelta(ticketview.SeatDelta{Section: id, Seq: cur.Seq + 100, Prev: cur.Seq + 99,
		Seats: []string{"C-3"}, Status: ticketview.SeatSold})
	a.waitSnapshots(2, demo.FloorVIP)
	b.waitSnapshots(2, demo.FloorVIP)
	for _, c := range []*wsClient{a, b} {
		st := c.state(demo.FloorVIP)
		if st.snapshots[1] != cur.Seq || st.seats["C-3"] != ticketview.SeatFree {
			t.Fatalf("%s: resync snapshot at %v, C-3 %v", c.name, st.snapshots, st.seats["C-3"])
		}
		if n := len(c.state(demo.Standing).snapshots); n != 1 {
			t.Fatalf("%s: a gap in floor-vip resynced standing too (%d snapshots)", c.name, n)
		}
	}
	if st := g.hub.Stats(); st.UpstreamGaps != 1 || st.Resyncs != 2 {
		t.Fatalf("stats %+v: want 1 gap, 2 resyncs", st)
	}
	// Real deltas go on from the snapshot.
	e.hold(t, demo.FloorVIP, []string{"C-4"}, 0)
	converged(t, a, e.availability(t, demo.FloorVIP))
	converged(t, b, e.availability(t, demo.FloorVIP))
	a.noViolations()
	b.noViolations()
}

// TestLaggingFeedResyncs: when the feed subscription drops deltas (its queue overflowed),
// every subscriber of the event gets fresh snapshots.
func TestLaggingFeedResyncs(t *testing.T) {
	feed := newFeed(t, 1) // a queue of one: a burst overflows it
	e := newEngine(t, feed)
	g := newGateway(t, live.Config{Feed: feed, Source: e.source, Sections: e.sections})
	c := dial(t, "c", g.url("sections="+demo.FloorVIP), nil)
	c.waitSnapshots(1, demo.FloorVIP)

	// A burst for a section nobody follows: the hub loses some of them.
	other := ticketview.SectionID{Event: event, Section: demo.Balcony}
	for i := range uint64(20000) {
		feed.PublishDelta(ticketview.SeatDelta{Section: other, Seq: i + 1, Prev: i, Status: ticketview.SeatHeld})
	}
	c.waitSnapshots(2, demo.FloorVIP)
	if st := g.hub.Stats(); st.UpstreamGaps == 0 || st.Resyncs == 0 {
		t.Fatalf("stats %+v: want the loss counted", st)
	}
	e.hold(t, demo.FloorVIP, []string{"D-5"}, 0)
	converged(t, c, e.availability(t, demo.FloorVIP))
	c.noViolations()
}

// TestTwoGatewaysOneRedisFeed: two hubs (two gateways) fed by one Redis feed see the
// same sequence of deltas.
func TestTwoGatewaysOneRedisFeed(t *testing.T) {
	prefix := redistest.Prefix(t)
	open := func() *redis.Client {
		rc, err := redis.Open(context.Background(), redistest.ServerURL(), redis.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rc.Close() })
		return rc
	}
	publisher, feed1, feed2 := open(), open(), open()
	e := newEngine(t, publisher)
	g1 := newGateway(t, live.Config{Feed: feed1, Source: e.source, Sections: e.sections})
	g2 := newGateway(t, live.Config{Feed: feed2, Source: e.source, Sections: e.sections})
	c1, c2 := dial(t, "gw1", g1.url(""), nil), dial(t, "gw2", g2.url(""), nil)
	c1.waitSnapshots(1, allSections...)
	c2.waitSnapshots(1, allSections...)

	if err := flashSale(e, 8, 25); err != nil {
		t.Fatal(err)
	}
	for _, s := range allSections {
		want := e.availability(t, s)
		converged(t, c1, want)
		converged(t, c2, want)
		if d1, d2 := c1.state(s).deltas, c2.state(s).deltas; len(d1) == 0 || !slices.Equal(d1, d2) {
			t.Fatalf("%s: the gateways' clients saw different deltas (%d, %d)", s, len(d1), len(d2))
		}
	}
	c1.noViolations()
	c2.noViolations()
	for _, g := range []*gateway{g1, g2} {
		if st := g.hub.Stats(); st.Upstreams != 1 || st.UpstreamGaps != 0 {
			t.Fatalf("stats %+v", st)
		}
	}
	// The last client of an event gone, its Redis subscription goes too.
	c1.close()
	c2.close()
	testutil.CheckFor(t, wait, func() error {
		if s1, s2 := g1.hub.Stats(), g2.hub.Stats(); s1.Upstreams+s2.Upstreams+s1.Clients+s2.Clients != 0 {
			return fmt.Errorf("stats %+v %+v", s1, s2)
		}
		return nil
	})
	noHubGoroutines(t, "persistence/redis.(*Subscription)")
}

// TestUpstreamFollowsClients: one feed subscription per event while it has clients.
func TestUpstreamFollowsClients(t *testing.T) {
	_, g := setup(t, live.Config{})
	q := "sections=" + demo.FloorVIP
	a, b := dial(t, "a", g.url(q), nil), dial(t, "b", g.url(q), nil)
	a.waitSnapshots(1, demo.FloorVIP)
	b.waitSnapshots(1, demo.FloorVIP)
	if st := g.hub.Stats(); st.Upstreams != 1 || st.Clients != 2 {
		t.Fatalf("stats %+v: want one upstream for two clients", st)
	}
	a.close()
	testutil.CheckFor(t, wait, func() error {
		if st := g.hub.Stats(); st.Clients != 1 || st.Upstreams != 1 || st.Subscriptions != 1 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	b.close()
	testutil.CheckFor(t, wait, func() error {
		if st := g.hub.Stats(); st.Clients != 0 || st.Upstreams != 0 || st.Subscriptions != 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	noHubGoroutines(t)
	// And a new client starts a new one.
	c := dial(t, "c", g.url(q), nil)
	c.waitSnapshots(1, demo.FloorVIP)
	if st := g.hub.Stats(); st.Upstreams != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestCloseLeaksNothing: Close closes every connection with 1001, ends the feed
// subscriptions and every goroutine of the hub, and refuses new connections.
func TestCloseLeaksNothing(t *testing.T) {
	e, g := setup(t, live.Config{})
	var clients []*wsClient
	for i := range 6 {
		q := "sections=" + allSections[i%3]
		clients = append(clients, dial(t, fmt.Sprintf("c%d", i), g.url(q), nil))
	}
	for i, c := range clients {
		c.waitSnapshots(1, allSections[i%3])
	}
	e.hold(t, demo.FloorVIP, []string{"E-1"}, 0)
	e.hold(t, demo.Standing, nil, 2)
	if len(hubGoroutines()) == 0 {
		t.Fatal("no hub goroutines seen: the check below would prove nothing")
	}

	g.hub.Close()
	for _, c := range clients {
		if err := c.waitClosed(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Fatalf("%s: ended with %v, want 1001", c.name, err)
		}
	}
	if st := g.hub.Stats(); st.Clients != 0 || st.Upstreams != 0 || st.Subscriptions != 0 {
		t.Fatalf("after Close: %+v", st)
	}
	noHubGoroutines(t)
	refused(t, g.url(""), nil, http.StatusServiceUnavailable, ticketview.EUNAVAILABLE)
	g.hub.Close() // twice is harmless
}

// TestMisconfiguredHub answers 503 instead of panicking.
func TestMisconfiguredHub(t *testing.T) {
	cfg := live.Config{}
	if err := cfg.Validate(); ticketview.ErrorCode(err) != ticketview.EINVALID {
		t.Fatalf("Validate: %v", err)
	}
	g := newGateway(t, cfg)
	refused(t, g.url(""), nil, http.StatusServiceUnavailable, ticketview.EUNAVAILABLE)
}
