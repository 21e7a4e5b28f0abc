// Command gateway is the stateless API gateway of a TicketView cluster: it joins the
// cluster as a client (it hosts no sections), serves the HTTP API, and sends each command
// to the grain of its section on the member that owns it. It also serves the cluster
// status (GET /api/v1/admin/cluster), /healthz, /readyz and /metrics.
//
//	gateway -seeds host:port[,host:port] -postgres URL [-http :8080] [-redis URL]
//	        [-mongo URL] [-gossip 127.0.0.1:0] [-remote 127.0.0.1:0] [-advertise host]
//	        [-admin-token T] -jwt-secret K [-admin-email E -admin-password P]
//	        [-google-client-id ...] [-limits ...] [-captcha pow|hcaptcha|recaptcha|turnstile|off]
//
// The catalog (events, venues) is read from PostgreSQL, section availability from Redis
// when set (the nodes keep it), seat maps and event details from MongoDB when set. Every
// flag falls back to an environment variable (TICKETVIEW_SEEDS, ...). Once serving it
// prints "ticketview gateway listening on http://ADDR". SIGINT or SIGTERM stop it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/ticketview/ticketview/api"
	tvcluster "github.com/ticketview/ticketview/cluster"
	"github.com/ticketview/ticketview/inmem"
	"github.com/ticketview/ticketview/internal/cli"
	"github.com/ticketview/ticketview/internal/gateway"
	"github.com/ticketview/ticketview/persistence/mongo"
	"github.com/ticketview/ticketview/persistence/postgres"
	"github.com/ticketview/ticketview/persistence/redis"
	"github.com/ticketview/ticketview/prom"
)

const shutdownTimeout = 10 * time.Second

// Main is the gateway program.
type Main struct {
	HTTP        string
	AdminToken  string
	PostgresURL string
	RedisURL    string
	RedisPrefix string
	MongoURL    string
	MongoDB     string
	Gossip      string   // memberlist listen address (default 127.0.0.1:0)
	Seeds       []string // gossip addresses of members (required)
	Remote      string   // actor remote listen address (default 127.0.0.1:0)
	Advertise   string
	// Gateway holds the accounts, OAuth2, limits, CAPTCHA and live seat map settings.
	Gateway gateway.Settings

	Logger *zap.Logger

	gw     *gateway.Built
	pg     *postgres.DB
	venues *inmem.VenueCache // venues of m.pg, cached (they never change)
	rd     *redis.Client
	mg     *mongo.Store
	node   *tvcluster.Node
	prom   *prom.Registry
	server *api.Server
	ln     net.Listener
	served chan error
	ready  atomic.Bool
	stop   context.CancelFunc

	closeOnce sync.Once
	closeErr  error
}

// NewMain returns a Main with the defaults.
func NewMain() *Main {
	return &Main{HTTP: ":8080", Gossip: "127.0.0.1:0", Remote: "127.0.0.1:0", RedisPrefix: "tv:", MongoDB: "ticketview",
		Gateway: gateway.DefaultSettings()}
}

// ParseFlags reads the flags, each defaulting to its environment variable.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.StringVar(&m.HTTP, "http", cli.EnvOr("TICKETVIEW_HTTP", m.HTTP), "HTTP listen address (env TICKETVIEW_HTTP)")
	secrets := cli.NewSecrets(fs) // -help prints none of their environment defaults
	secrets.String(&m.AdminToken, "admin-token", "TICKETVIEW_ADMIN_TOKEN", "bearer token of the admin API and of the nodes' status; empty disables it (env TICKETVIEW_ADMIN_TOKEN)")
	secrets.String(&m.PostgresURL, "postgres", "TICKETVIEW_POSTGRES_URL", "PostgreSQL URL of the catalog (env TICKETVIEW_POSTGRES_URL)")
	secrets.String(&m.RedisURL, "redis", "TICKETVIEW_REDIS_URL", "Redis URL: availability read from the nodes' views (env TICKETVIEW_REDIS_URL)")
	secrets.String(&m.MongoURL, "mongo", "TICKETVIEW_MONGO_URL", "MongoDB URL: seat maps and event details (env TICKETVIEW_MONGO_URL)")
	fs.StringVar(&m.RedisPrefix, "redis-prefix", cli.EnvOr("TICKETVIEW_REDIS_PREFIX", m.RedisPrefix), "prefix of every Redis key (env TICKETVIEW_REDIS_PREFIX)")
	fs.StringVar(&m.MongoDB, "mongo-db", cli.EnvOr("TICKETVIEW_MONGO_DB", m.MongoDB), "MongoDB database name (env TICKETVIEW_MONGO_DB)")
	fs.StringVar(&m.Gossip, "gossip", cli.EnvOr("TICKETVIEW_GOSSIP", m.Gossip), "memberlist listen address host:port (env TICKETVIEW_GOSSIP)")
	seeds := fs.String("seeds", cli.EnvOr("TICKETVIEW_SEEDS", strings.Join(m.Seeds, ",")), "comma-separated gossip addresses of cluster members (env TICKETVIEW_SEEDS)")
	fs.StringVar(&m.Remote, "remote", cli.EnvOr("TICKETVIEW_REMOTE", m.Remote), "actor remote listen address host:port (env TICKETVIEW_REMOTE)")
	fs.StringVar(&m.Advertise, "advertise", cli.EnvOr("TICKETVIEW_ADVERTISE", m.Advertise), "host the members reach this gateway at (env TICKETVIEW_ADVERTISE)")
	m.Gateway.Register(fs, secrets)
	if err := fs.Parse(args); err != nil {
		return err
	}
	secrets.Resolve()
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	m.Seeds = cli.SplitList(*seeds)
	return m.validate()
}

func (m *Main) validate() error {
	if len(m.Seeds) == 0 {
		return errors.New("-seeds is required: the gossip address of at least one cluster member")
	}
	if m.PostgresURL == "" {
		return errors.New("-postgres is required: the catalog the nodes share")
	}
	return m.Gateway.Validate(true)
}

// Run joins the cluster and serves the API; it returns once serving.
func (m *Main) Run(ctx context.Context) (err error) {
	if err := m.validate(); err != nil {
		return err
	}
	if m.Logger == nil {
		if m.Logger, err = zap.NewProduction(); err != nil {
			return err
		}
	}
	defer func() {
		if err != nil {
			_ = m.Close()
		}
	}()
	m.prom = prom.New()
	if m.pg, err = postgres.Open(ctx, m.PostgresURL, postgres.Options{}); err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	m.venues = inmem.NewVenueCache(m.pg)
	cfg := api.Config{Events: m.pg, Venues: m.venues, Logger: m.Logger.Named("http"), AdminToken: m.AdminToken,
		Ready: m.readyCheck, Metrics: m.prom.Handler(), ObserveHTTP: m.prom.ObserveHTTP, ClusterStatus: m.clusterStatus,
		BookingIndex: m.pg, EventCacheTTL: api.DefaultEventCacheTTL}
	if m.RedisURL != "" {
		if m.rd, err = redis.Open(ctx, m.RedisURL, redis.Options{Prefix: m.RedisPrefix}); err != nil {
			return fmt.Errorf("Redis: %w", err)
		}
		cfg.Views = m.rd
	}
	if m.MongoURL != "" {
		if m.mg, err = mongo.Open(ctx, m.MongoURL, m.MongoDB); err != nil {
			return fmt.Errorf("MongoDB: %w", err)
		}
		cfg.SeatMaps, cfg.Details = m.mg, m.mg
	}
	if m.ln, err = net.Listen("tcp", m.HTTP); err != nil {
		return err
	}
	rhost, rport, err := tvcluster.SplitHostPort(m.Remote, "-remote")
	if err != nil {
		return err
	}
	ghost, gport, err := tvcluster.SplitHostPort(m.Gossip, "-gossip")
	if err != nil {
		return err
	}
	if m.node, err = tvcluster.StartClient(tvcluster.Config{Host: rhost, Port: rport, AdvertiseHost: m.Advertise,
		Gossip: tvcluster.MemberlistConfig{BindAddr: ghost, BindPort: gport, AdvertiseAddr: m.Advertise, Seeds: m.Seeds,
			HTTPAddr: m.ln.Addr().String()},
		Logger: m.Logger.Named("cluster")}); err != nil {
		return err
	}
	m.node.Client.Observe = m.prom.ObserveCall
	m.prom.RegisterMembership(func() []prom.Member {
		var out []prom.Member
		for _, x := range m.node.Provider.Nodes() {
			out = append(out, prom.Member{ID: x.ID, Role: x.Role, State: x.State})
		}
		return out
	})
	bg, stop := context.WithCancel(context.Background())
	m.stop = stop
	go m.countChanges(bg)
	cfg.Bookings = m.node.Client
	gdeps := gateway.Deps{Users: m.pg, Sessions: m.pg, Counter: inmem.NewRateCounter(), Bookings: m.node.Client,
		Events: m.pg, Venues: m.venues, Logger: m.Logger, Now: time.Now}
	if m.rd != nil {
		// Limits and live seat maps across gateways go through Redis; without it each
		// gateway limits alone and has no live seat maps (the nodes' deltas reach no one).
		gdeps.Counter, gdeps.Feed = m.rd, m.rd
	}
	if m.gw, err = gateway.Build(ctx, m.Gateway, gdeps); err != nil {
		return err
	}
	m.gw.Apply(&cfg, gdeps, m.Gateway)
	m.server = api.NewServer(cfg)
	m.served = make(chan error, 1)
	go func(ln net.Listener) { m.served <- m.server.Serve(ln) }(m.ln)
	m.ready.Store(true)
	m.Logger.Info("ticketview gateway started", zap.String("http", m.HTTPAddr()), zap.Strings("seeds", m.Seeds),
		zap.Bool("redis", m.rd != nil), zap.Bool("mongo", m.mg != nil))
	return nil
}

// countChanges feeds the membership-change counter.
func (m *Main) countChanges(ctx context.Context) {
	var seen time.Time
	for {
		for _, c := range m.node.Provider.History() {
			if c.At.After(seen) {
				seen = c.At
				m.prom.MembershipChanged(c.Change)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-m.node.Provider.Changes():
		case <-time.After(5 * time.Second):
		}
	}
}

func (m *Main) readyCheck(context.Context) error {
	if !m.ready.Load() {
		return errors.New("starting or stopping")
	}
	if m.node.Cluster.MemberList.Length() == 0 {
		return errors.New("no cluster member known yet")
	}
	return nil
}

// clusterStatus is GET /api/v1/admin/cluster.
func (m *Main) clusterStatus(ctx context.Context) (any, error) {
	return tvcluster.Collect(ctx, tvcluster.StatusSource{
		Node: m.node, AdminToken: m.AdminToken, HTTP: &http.Client{Timeout: 2 * time.Second},
		Sections: func(ctx context.Context) ([]string, error) { return tvcluster.SectionIdentities(ctx, m.pg, m.pg) },
	})
}

// HTTPAddr is the bound HTTP address ("" before Run).
func (m *Main) HTTPAddr() string {
	if m.ln == nil {
		return ""
	}
	return m.ln.Addr().String()
}

// Served yields Serve's result once (nil before Run).
func (m *Main) Served() <-chan error { return m.served }

// Close stops serving, leaves the cluster and closes the stores; safe to call twice.
func (m *Main) Close() error {
	m.closeOnce.Do(func() {
		m.ready.Store(false)
		var errs []error
		if m.stop != nil {
			m.stop()
		}
		if m.gw != nil {
			m.gw.Close() // the live seat maps' connections: fiber's Shutdown does not wait for them
		}
		if m.server != nil {
			ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			errs = append(errs, m.server.Shutdown(ctx))
			cancel()
		} else if m.ln != nil {
			errs = append(errs, m.ln.Close())
		}
		if m.node != nil {
			errs = append(errs, m.node.Close(true))
		}
		if m.rd != nil {
			errs = append(errs, m.rd.Close())
		}
		if m.mg != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			errs = append(errs, m.mg.Close(ctx))
			cancel()
		}
		if m.pg != nil {
			m.pg.Close()
		}
		if m.Logger != nil {
			_ = m.Logger.Sync()
		}
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}

func main() {
	m := NewMain()
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "ticketview gateway:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ticketview gateway:", err)
		os.Exit(1)
	}
	fmt.Printf("ticketview gateway listening on http://%s\n", m.HTTPAddr())
	code := 0
	select {
	case <-ctx.Done():
		m.Logger.Info("shutting down")
	case err := <-m.Served():
		m.Logger.Error("the HTTP server stopped", zap.Error(err))
		code = 1
	}
	stop()
	if err := m.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "ticketview gateway: closing:", err)
		code = 1
	}
	os.Exit(code)
}
