package live

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
)

// Defaults and limits.
const (
	DefaultHeartbeat       = 15 * time.Second
	DefaultWriteTimeout    = 10 * time.Second
	DefaultQueueSize       = 256
	DefaultMaxSections     = 64
	DefaultSnapshotTimeout = 10 * time.Second

	// MaxMessageSize is the largest message a client may send.
	MaxMessageSize = 16 << 10

	// CloseTooSlow is the close code of a client dropped because it fell behind.
	CloseTooSlow = websocket.CloseTryAgainLater // 1013
)

// Source reads a section's availability, with its seats, as it is now. It must be at
// least as fresh as the deltas the feed has delivered (read it from the engine, not from
// a cache that may lag): a snapshot older than a delta already seen would be followed by
// a gap.
type Source func(ctx context.Context, id ticketview.SectionID) (ticketview.Availability, error)

// Config is what a Hub needs. Feed, Source and Sections are required; zero values of the
// others take the defaults.
type Config struct {
	Feed   ticketview.DeltaFeed
	Source Source
	// Sections lists an event's section ids (ENOTFOUND for an unknown event); used to
	// validate subscriptions and for "all sections".
	Sections func(ctx context.Context, event string) ([]string, error)
	Logger   *zap.Logger
	// Heartbeat is the ping interval (default 15s); a client that has not answered
	// (pong) within 2 intervals is dropped.
	Heartbeat time.Duration
	// WriteTimeout bounds one write to a client (default 10s); a client that does not
	// take a message within it is dropped.
	WriteTimeout time.Duration
	// QueueSize is how many messages may wait for one client (default 256). A client
	// whose queue is full is slow: it is dropped (close 1013 "too slow, reconnect"); it
	// never slows the hub or the others.
	QueueSize int
	// MaxSections is how many sections one connection may follow (default 64).
	MaxSections int
	// AllowedOrigins lists the Origin values browsers may connect from, as
	// "scheme://host[:port]" or a bare "host[:port]" (any scheme). Empty: the request's
	// own host only (gorilla's default); "*": any origin. A request without Origin (not
	// from a browser) is always accepted.
	AllowedOrigins []string
	// SnapshotTimeout bounds one Source or Sections call (default 10s).
	SnapshotTimeout time.Duration
}

// Validate reports a configuration NewHub cannot serve with (EINVALID).
func (cfg *Config) Validate() error {
	switch {
	case cfg.Feed == nil:
		return ticketview.Errorf(ticketview.EINVALID, "live: Config.Feed is required")
	case cfg.Source == nil:
		return ticketview.Errorf(ticketview.EINVALID, "live: Config.Source is required")
	case cfg.Sections == nil:
		return ticketview.Errorf(ticketview.EINVALID, "live: Config.Sections is required")
	}
	return nil
}

func (cfg *Config) defaults() {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.MaxSections <= 0 {
		cfg.MaxSections = DefaultMaxSections
	}
	if cfg.SnapshotTimeout <= 0 {
		cfg.SnapshotTimeout = DefaultSnapshotTimeout
	}
}

// Stats are the hub's counters.
type Stats struct {
	Clients          int    `json:"clients"`           // connections open
	Subscriptions    int    `json:"subscriptions"`     // (connection, section) pairs followed
	Upstreams        int    `json:"upstreams"`         // events with a feed subscription
	MessagesSent     uint64 `json:"messages_sent"`     // frames written to clients
	SlowDropped      uint64 `json:"slow_dropped"`      // clients dropped because their queue was full
	HeartbeatDropped uint64 `json:"heartbeat_dropped"` // clients dropped for not answering pings
	FloodDropped     uint64 `json:"flood_dropped"`     // clients dropped for sending too many messages
	Resyncs          uint64 `json:"resyncs"`           // snapshots sent to a client that already had one (gap or request)
	UpstreamGaps     uint64 `json:"upstream_gaps"`     // losses seen upstream: a delta's Prev beyond, a lagging or renewed feed subscription
}

// Hub serves live seat maps: it keeps one feed subscription per event that has clients
// on this gateway, encodes each delta once and fans it out to the event's clients.
type Hub struct {
	cfg      Config
	log      *zap.Logger
	err      error // a configuration error: every request is answered 503
	origins  originPolicy
	upgrader websocket.Upgrader
	grace    time.Duration // how long a closing connection waits for its close handshake

	ctx    context.Context // ends at Close
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	clients map[*client]struct{}
	feeds   map[string]*eventFeed // by event
	wg      sync.WaitGroup        // every goroutine of the hub, connection handlers included

	subscriptions                                 atomic.Int64
	sent, slow, heartbeat, flood, resyncs, losses atomic.Uint64
}

// NewHub returns a hub. A configuration that fails Validate is logged, and the hub then
// answers every request 503 unavailable.
func NewHub(cfg Config) *Hub {
	cfg.defaults()
	h := &Hub{cfg: cfg, log: cfg.Logger.Named("live"), err: cfg.Validate(), origins: newOriginPolicy(cfg.AllowedOrigins),
		grace: min(cfg.WriteTimeout, time.Second), clients: map[*client]struct{}{}, feeds: map[string]*eventFeed{}}
	if h.err != nil {
		h.log.Error("live seat maps disabled", zap.Error(h.err))
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.WriteTimeout,
		CheckOrigin:      h.checkOrigin,
		Error:            upgradeError,
	}
	return h
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	clients, upstreams := len(h.clients), len(h.feeds)
	h.mu.Unlock()
	return Stats{Clients: clients, Subscriptions: int(h.subscriptions.Load()), Upstreams: upstreams,
		MessagesSent: h.sent.Load(), SlowDropped: h.slow.Load(), HeartbeatDropped: h.heartbeat.Load(),
		FloodDropped: h.flood.Load(), Resyncs: h.resyncs.Load(), UpstreamGaps: h.losses.Load()}
}

// Close closes every connection (close code 1001) and feed subscription, refuses new
// connections (503), and returns once every goroutine of the hub has ended: within
// about a second for clients that answer the close, at most about WriteTimeout for one
// stuck in a write. Closing twice is harmless.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	clients := make([]*client, 0, len(h.clients))
	for c := range h.clients {
		clients = append(clients, c)
	}
	feeds := make([]*eventFeed, 0, len(h.feeds))
	for _, f := range h.feeds {
		feeds = append(feeds, f)
	}
	h.mu.Unlock()
	h.cancel()
	for _, c := range clients {
		c.kill(websocket.CloseGoingAway, "server shutting down")
	}
	for _, f := range feeds {
		f.close()
	}
	h.wg.Wait()
}

// enter counts a connection handler in, unless the hub is closed.
func (h *Hub) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	return true
}

func (h *Hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// attach registers a connected client with its event's feed, subscribing to the feed
// when the client is the event's first.
func (h *Hub) attach(c *client) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "the server is shutting down")
	}
	f := h.feeds[c.event]
	created := f == nil
	if created {
		f = newEventFeed(h, c.event)
		h.feeds[c.event] = f
	}
	f.refs++
	h.clients[c] = struct{}{}
	c.feed = f
	h.mu.Unlock()
	if created {
		f.start()
	}
	<-f.ready
	if f.err != nil {
		h.detach(c)
		return f.err
	}
	return nil
}

// detach forgets a client: its subscriptions end, and the event's feed subscription
// with them when it was the event's last client. Detaching twice is harmless.
func (h *Hub) detach(c *client) {
	f := c.feed
	if f == nil {
		return
	}
	f.mu.Lock()
	f.removeClientLocked(c)
	f.mu.Unlock()
	h.mu.Lock()
	_, attached := h.clients[c]
	delete(h.clients, c)
	last := false
	if attached {
		f.refs--
		if f.refs == 0 {
			if h.feeds[f.event] == f {
				delete(h.feeds, f.event)
			}
			last = true
		}
	}
	h.mu.Unlock()
	if last {
		f.close()
	}
}
