// Package redis holds the Redis adapters of the engine's read-side ports: the
// availability cache (ticketview.AvailabilityCache), the snapshot cache
// (ticketview.SnapshotCache), fixed-window rate counters (ticketview.RateCounter) and the
// seat-delta feed between nodes and gateways (ticketview.DeltaFeed), all on one *Client.
//
// Redis is a cache here, never the truth: the section journals and snapshots live in the
// SectionStore, and the section actors own the seats. Losing Redis, or any key in it,
// loses no data: a missing view is ENOTFOUND (the caller asks the actor and puts a fresh
// one), a lost delta shows as a gap (SeatDelta.Prev) and the view is resynced, a missing
// snapshot is read from the store. Every key expires (Options.TTL, 24 h by default,
// refreshed on each write), so the views of abandoned sections do not live forever.
//
// Keys, under Options.Prefix ("tv:" by default); {E/S} is the section's event and section
// id, in braces so that the keys of one section share a Redis Cluster hash slot:
//
//	av:{E/S}:meta    hash  seq (the view's journal position), nseats (seats in the
//	                       layout), info (JSON: event, section, name, kind), counts
//	                       (JSON: capacity, free, held, sold, blocked, categories) and
//	                       layout (the layout's id: a hash of its bytes)
//	av:{E/S}:seats   hash  seat label → status (0 free, 1 held, 2 sold, 3 blocked)
//	av:{E/S}:layout  string the seats' static data (label, row, number, category, x, y,
//	                       accessible) in layout order, in a compact binary encoding;
//	                       clients keep decoded layouts by id, as they never change
//	snap:{E/S}       hash  seq and data (the newest snapshot, JSON)
//	rate:<key>       string a fixed-window counter, expiring with its window
//
// and the Pub/Sub channel deltas:<event> carries an event's seat deltas as JSON.
//
// Every check-and-write (a Put that must not replace a newer view, deltas checked against
// the view's seq, a counter's first increment) is one Lua script (EVALSHA), so it is
// atomic however many nodes and gateways share the server. Open does not wait for Redis:
// when it is down or slow, calls fail within about a second with an EUNAVAILABLE
// *ticketview.Error (connection failures and timeouts), and the client reconnects by
// itself when Redis is back.
package redis

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/ticketview/ticketview"
)

// Options configure a Client. Zero values take the defaults.
type Options struct {
	// Prefix starts every key and channel name (default "tv:"), so that several
	// deployments or tests can share one server.
	Prefix string
	// DialTimeout, ReadTimeout and WriteTimeout bound each connection attempt and each
	// read and write on a connection (default 1 s each, unless the URL sets them), so a
	// down Redis fails calls fast instead of stalling the callers.
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// MaxRetries is how often a call is retried after a network error or timeout, on
	// another connection (default 0: a cache fails fast, and its callers fall back to
	// the engine; connections that died while idle in the pool are noticed before use
	// anyway).
	MaxRetries int
	// PoolSize is the base number of pooled connections (default go-redis's: 10 per
	// GOMAXPROCS).
	PoolSize int
	// TTL is how long a section's view and snapshot live after their last write
	// (default 24 h).
	TTL time.Duration
	// PublishBuffer is the number of deltas PublishDelta queues for the publisher
	// goroutine before it drops them (default 8192).
	PublishBuffer int
	// SubscriptionBuffer is the number of deltas a subscription queues for its reader
	// before it drops them (default 1024).
	SubscriptionBuffer int
}

const (
	defaultPrefix      = "tv:"
	defaultTimeout     = time.Second
	defaultTTL         = 24 * time.Hour
	defaultPublishBuf  = 8192
	defaultSubBuf      = 1024
	publishBatch       = 256
	healthCheckEvery   = 15 * time.Second
	subscribeRetryBase = 50 * time.Millisecond
)

func (o *Options) defaults(u *goredis.Options) {
	if o.Prefix == "" {
		o.Prefix = defaultPrefix
	}
	pick := func(opt, fromURL time.Duration) time.Duration {
		switch {
		case opt != 0:
			return opt
		case fromURL > 0:
			return fromURL
		}
		return defaultTimeout
	}
	o.DialTimeout = pick(o.DialTimeout, u.DialTimeout)
	o.ReadTimeout = pick(o.ReadTimeout, u.ReadTimeout)
	o.WriteTimeout = pick(o.WriteTimeout, u.WriteTimeout)
	if o.TTL <= 0 {
		o.TTL = defaultTTL
	}
	if o.PublishBuffer <= 0 {
		o.PublishBuffer = defaultPublishBuf
	}
	if o.SubscriptionBuffer <= 0 {
		o.SubscriptionBuffer = defaultSubBuf
	}
}

// Client is a connection pool to one Redis server, and the adapters on it. It is safe for
// concurrent use.
type Client struct {
	rdb     *goredis.Client
	opts    Options
	prefix  string
	ttl     string // Options.TTL in milliseconds, as a script argument
	scripts *scripts
	layouts layoutCache

	pubQ      chan ticketview.SeatDelta
	pubStop   chan struct{}
	pubDone   chan struct{}
	published atomic.Uint64
	dropped   atomic.Uint64

	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed atomic.Bool
	once   sync.Once
}

var (
	_ ticketview.AvailabilityCache = (*Client)(nil)
	_ ticketview.SnapshotCache     = (*Client)(nil)
	_ ticketview.RateCounter       = (*Client)(nil)
	_ ticketview.DeltaFeed         = (*Client)(nil)
)

// Open returns a client of the Redis server at url (redis://[user:password@]host:port/db,
// or rediss:// for TLS). It fails only for a malformed url (EINVALID): it does not wait
// for Redis, since the engine works without its cache. Connections are made on demand,
// so calls fail with EUNAVAILABLE until Redis answers, and work from then on; Ping tells
// whether it answers now. ctx is for the future; Open does no I/O.
func Open(ctx context.Context, url string, opts Options) (*Client, error) {
	o, err := goredis.ParseURL(url)
	if err != nil {
		return nil, ticketview.Errorf(ticketview.EINVALID, "redis: url: %v", err)
	}
	opts.defaults(o)
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout
	o.MaxRetries = opts.MaxRetries
	if o.MaxRetries <= 0 {
		o.MaxRetries = -1 // go-redis: no retries
	}
	o.MinRetryBackoff, o.MaxRetryBackoff = 8*time.Millisecond, 64*time.Millisecond
	o.DialerRetries = 1 // one dial per attempt: a down server fails at once
	o.ContextTimeoutEnabled = true
	o.DisableIdentity = true
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if opts.PoolSize > 0 {
		o.PoolSize = opts.PoolSize
	}
	rdb := goredis.NewClient(o)
	c := &Client{
		rdb: rdb, opts: opts, prefix: opts.Prefix,
		ttl:     formatInt(opts.TTL.Milliseconds()),
		scripts: newScripts(""),
		pubQ:    make(chan ticketview.SeatDelta, opts.PublishBuffer),
		pubStop: make(chan struct{}),
		pubDone: make(chan struct{}),
		subs:    map[*Subscription]struct{}{},
	}
	go c.publishLoop()
	return c, nil
}

// Close ends every subscription, publishes the deltas still queued (for at most about a
// second) and closes the connections. Calls after Close fail with EUNAVAILABLE.
func (c *Client) Close() error {
	var err error
	c.once.Do(func() {
		c.closed.Store(true)
		close(c.pubStop)
		<-c.pubDone
		c.mu.Lock()
		subs := make([]*Subscription, 0, len(c.subs))
		for s := range c.subs {
			subs = append(subs, s)
		}
		c.mu.Unlock()
		for _, s := range subs {
			s.Close()
		}
		err = c.rdb.Close()
	})
	return err
}

// Ping checks that Redis answers: nil, or EUNAVAILABLE within about a second.
func (c *Client) Ping(ctx context.Context) error {
	return wrapErr("ping", c.rdb.Ping(ctx).Err())
}

// Prefix is the prefix of the client's keys and channels.
func (c *Client) Prefix() string { return c.prefix }

// opError is what calls return when Redis fails: a *ticketview.Error (for its code and
// message) that also unwraps to the cause (context.DeadlineExceeded, net errors, ...).
type opError struct {
	tv    *ticketview.Error
	cause error
}

func (e *opError) Error() string   { return e.tv.Error() }
func (e *opError) Unwrap() []error { return []error{e.tv, e.cause} }

// wrapErr turns a go-redis error into an *opError: EUNAVAILABLE for connection failures,
// timeouts, cancellations, a closed client and the server's transient refusals (loading,
// read-only replica, out of memory, busy script); EINTERNAL for any other server error.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var rerr goredis.Error
	if errors.As(err, &rerr) && !transient(rerr.Error()) {
		return &opError{tv: ticketview.Errorf(ticketview.EINTERNAL, "redis: %s: %v", op, err), cause: err}
	}
	return &opError{tv: ticketview.Errorf(ticketview.EUNAVAILABLE, "redis: unavailable: %s: %v", op, err), cause: err}
}

func transient(msg string) bool {
	for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "BUSY", "OOM", "MISCONF", "NOREPLICAS"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func notFound(format string, args ...any) error {
	return ticketview.Errorf(ticketview.ENOTFOUND, format, args...)
}
