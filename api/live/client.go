package live

import (
	"encoding/json"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
)

// Flood control: a token bucket per connection. Every message costs one token, a
// malformed or refused one badCost; the bucket holds floodBurst and refills floodRate a
// second. A client that empties it is dropped (close 1008).
const (
	floodBurst = 64
	floodRate  = 16
	badCost    = 4
)

// client is one WebSocket connection. Its reader is the connection handler (the hijack
// goroutine); its writer is the only goroutine that writes data frames.
type client struct {
	hub    *Hub
	feed   *eventFeed // set by attach, then fixed
	ws     *websocket.Conn
	raw    net.Conn  // the TCP connection itself, safe to use from any goroutine
	cork   *corkConn // what gorilla writes to: lets the writer send queued messages in one write
	event  string
	known  map[string]bool // the event's sections
	remote string

	out        chan outMsg
	quit       chan struct{} // closed by kill
	writerDone chan struct{}
	dead       atomic.Bool
	once       sync.Once
	code       int // close code to send (0: none); written before quit is closed
	reason     string

	subs map[string]*subState // by section; guarded by feed.mu
}

func newClient(h *Hub, ws *websocket.Conn, raw net.Conn, cork *corkConn, event string, known []string, remote string) *client {
	c := &client{hub: h, ws: ws, raw: raw, cork: cork, event: event, known: make(map[string]bool, len(known)), remote: remote,
		out: make(chan outMsg, h.cfg.QueueSize), quit: make(chan struct{}), writerDone: make(chan struct{}),
		subs: map[string]*subState{}}
	for _, s := range known {
		c.known[s] = true
	}
	return c
}

// send queues a message without blocking. It is false only when the queue is full: the
// client is slow. A message for a dead client is dropped (true).
func (c *client) send(m outMsg) bool {
	if c.dead.Load() {
		return true
	}
	select {
	case c.out <- m:
		return true
	default:
		return false
	}
}

// kill ends the connection: the writer sends a close frame with code (none when 0) and
// the reader then ends. It is true for the call that killed the client. A write stuck on
// the client is cut short after the close grace.
func (c *client) kill(code int, reason string) bool {
	killed := false
	c.once.Do(func() {
		killed = true
		c.code, c.reason = code, reason
		c.dead.Store(true)
		close(c.quit)
		if code != 0 {
			_ = c.raw.SetWriteDeadline(time.Now().Add(c.hub.grace))
		}
	})
	return killed
}

// serve runs the connection until it ends: subscriptions, reader, writer.
func (c *client) serve(initial []string) {
	c.hub.wg.Add(1) // the caller is counted in wg
	go c.writeLoop()
	defer c.finish()
	if len(initial) > 0 {
		if err := c.feed.subscribe(c, initial); err != nil {
			c.sendError(err, "")
		}
	}
	c.readLoop()
}

// finish detaches the client, stops the writer and waits for it: nothing may use the
// connection once the hijack handler returns.
func (c *client) finish() {
	c.hub.detach(c)
	c.kill(0, "")
	for {
		_ = c.raw.SetWriteDeadline(time.Now())
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-c.writerDone:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// writeLoop writes queued messages and pings until the client is killed or a write fails.
func (c *client) writeLoop() {
	defer c.hub.wg.Done()
	defer close(c.writerDone)
	ping := time.NewTicker(c.hub.cfg.Heartbeat)
	defer ping.Stop()
	wt := c.hub.cfg.WriteTimeout
	for {
		select {
		case <-c.quit: // before anything else queued
			c.goodbye()
			return
		default:
		}
		var err error
		select {
		case <-c.quit:
			c.goodbye()
			return
		case m := <-c.out:
			// Messages queued behind this one go out in the same write (one system call
			// instead of one each: under an on-sale's load the queue is rarely empty).
			_ = c.ws.SetWriteDeadline(time.Now().Add(wt))
			c.cork.hold()
			for n := 1; ; n++ {
				if m.pm != nil {
					err = c.ws.WritePreparedMessage(m.pm)
				} else {
					err = c.ws.WriteMessage(websocket.TextMessage, m.data)
				}
				if err != nil {
					break
				}
				c.hub.sent.Add(1)
				if n >= maxBatch || c.cork.buffered() >= maxBatchBytes {
					break
				}
				select {
				case m = <-c.out:
					continue
				default:
				}
				break
			}
			if ferr := c.cork.release(); err == nil {
				err = ferr
			}
		case <-ping.C:
			err = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(wt))
		}
		if err != nil {
			c.hub.log.Debug("write failed; dropping the client", zap.String("remote", c.remote), zap.Error(err))
			c.kill(0, "")
			_ = c.raw.SetReadDeadline(time.Now()) // ends the reader
			return
		}
	}
}

// goodbye sends the close frame of a kill and gives the client the close grace to
// answer it before the reader is cut off.
func (c *client) goodbye() {
	if c.code == 0 {
		_ = c.raw.SetReadDeadline(time.Now())
		return
	}
	deadline := time.Now().Add(c.hub.grace)
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(c.code, c.reason), deadline)
	_ = c.raw.SetReadDeadline(deadline)
}

// readLoop reads the client's messages until the connection ends. The read deadline is
// two heartbeats, renewed by every pong.
func (c *client) readLoop() {
	ws, hb := c.ws, c.hub.cfg.Heartbeat
	ws.SetReadLimit(MaxMessageSize)
	_ = ws.SetReadDeadline(time.Now().Add(2 * hb))
	ws.SetPongHandler(func(string) error {
		if !c.dead.Load() {
			_ = ws.SetReadDeadline(time.Now().Add(2 * hb))
		}
		return nil
	})
	tokens, last := float64(floodBurst), time.Now()
	for {
		typ, data, err := ws.ReadMessage()
		if err != nil {
			var ne net.Error
			if !c.dead.Load() && errors.As(err, &ne) && ne.Timeout() {
				c.hub.heartbeat.Add(1)
				c.hub.log.Debug("client missed its pongs; dropped", zap.String("remote", c.remote))
			}
			return
		}
		if c.dead.Load() {
			continue // draining until the close handshake ends
		}
		cost := 1.0
		if !c.handle(typ, data) {
			cost = badCost
		}
		now := time.Now()
		tokens = min(floodBurst, tokens+now.Sub(last).Seconds()*floodRate) - cost
		last = now
		if tokens < 0 && c.kill(websocket.ClosePolicyViolation, "too many messages") {
			c.hub.flood.Add(1)
			c.hub.log.Info("flooding client dropped", zap.String("remote", c.remote))
		}
	}
}

// handle acts on one client message; false when it was malformed or refused.
func (c *client) handle(typ int, data []byte) bool {
	if typ != websocket.TextMessage {
		c.sendError(ticketview.Errorf(ticketview.EINVALID, "messages are JSON text frames"), "")
		return false
	}
	var m ClientMessage
	if err := json.Unmarshal(data, &m); err != nil {
		c.sendError(ticketview.Errorf(ticketview.EINVALID, "malformed message: %v", err), "")
		return false
	}
	names := m.Sections
	if m.Section != "" {
		names = append(names, m.Section)
	}
	var err error
	switch m.Type {
	case TypeSubscribe, TypeUnsubscribe, TypeResync:
		if names, err = c.checkSections(names, m.Type == TypeUnsubscribe); err != nil {
			break
		}
		switch m.Type {
		case TypeSubscribe:
			err = c.feed.subscribe(c, names)
		case TypeUnsubscribe:
			c.feed.unsubscribe(c, names)
		default:
			for _, name := range names {
				if err = c.feed.resync(c, name); err != nil {
					break
				}
			}
		}
	case "":
		err = ticketview.Errorf(ticketview.EINVALID, `a message needs a "type"`)
	default:
		err = ticketview.Errorf(ticketview.EINVALID, "unknown message type %q: subscribe, unsubscribe or resync", m.Type)
	}
	if err != nil {
		c.sendError(err, "")
		return false
	}
	return true
}

// checkSections validates and dedupes a message's sections: at least one, at most
// MaxSections, each a section of the event (any valid id when unknownOK).
func (c *client) checkSections(names []string, unknownOK bool) ([]string, error) {
	if len(names) == 0 {
		return nil, ticketview.Errorf(ticketview.EINVALID, `name the sections: "sections": ["a", ...]`)
	}
	if limit := c.hub.cfg.MaxSections; len(names) > limit {
		return nil, ticketview.Errorf(ticketview.EINVALID, "a message may name at most %d sections", limit)
	}
	out := make([]string, 0, len(names))
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		switch {
		case !validID(name):
			return nil, ticketview.Errorf(ticketview.EINVALID, "invalid section id %q", name)
		case !c.known[name] && !unknownOK:
			return nil, ticketview.Errorf(ticketview.ENOTFOUND, "event %s has no section %q", c.event, name)
		case !seen[name]:
			seen[name] = true
			out = append(out, name)
		}
	}
	return out, nil
}

// sendError queues an error message (from the reader: a full queue drops the client).
func (c *client) sendError(err error, section string) {
	if !c.send(errorMsg(err, section)) {
		f := c.feed
		f.mu.Lock()
		f.dropSlowLocked(c)
		f.mu.Unlock()
	}
}

// validID is the domain's rule for ids: 1 to 64 of [A-Za-z0-9_-].
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

// Bounds of one write of queued messages.
const (
	maxBatch      = 64
	maxBatchBytes = 64 << 10
)

// corkConn is the connection gorilla writes to. While held, writes are kept in a buffer;
// release sends them in one write. Control frames (gorilla's pong, written by the reader)
// take the same path, in order.
type corkConn struct {
	net.Conn
	mu   sync.Mutex
	held bool
	buf  []byte
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *corkConn) hold() {
	c.mu.Lock()
	c.held = true
	c.mu.Unlock()
}

func (c *corkConn) buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.buf)
}

// release writes what was buffered and stops buffering.
func (c *corkConn) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = false
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	if cap(c.buf) > 4*maxBatchBytes {
		c.buf = nil // do not keep a snapshot-sized buffer for every client
	} else {
		c.buf = c.buf[:0]
	}
	return err
}
