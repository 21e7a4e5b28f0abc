// Package api is TicketView's public HTTP API: a JSON interface over the booking engine
// (ticketview.BookingService) and the catalog (events and venues).
//
// Every route lives under /api/v1, except /healthz, /readyz and /metrics. Every error, whatever its source (the
// engine, a malformed request, an unknown route, a body over the limit, a panic), has one
// shape:
//
//	{"error": {"code": "seat_unavailable", "message": "seat A-1 is held"}}
//
// The codes are the domain's (ticketview.E*); the status codes are given by statusOf.
//
// Every route is listed in routeTable (routes.go), which also makes the OpenAPI 3 document
// served at /api/openapi.json; the README has the overview.
//
// Authentication: "Authorization: Bearer <access token>" (a JWT from /api/v1/auth/login,
// /register, /refresh or an OAuth2 callback). The role in force and whether the account
// is disabled are read from the user store (cached for a few seconds). The operator
// token (Config.AdminToken) is an admin; with "X-Buyer-ID: <id>" it acts as that
// customer (load tests, trusted back-office systems). Mutations take an optional
// Idempotency-Key header; a response that repeats the first result of a key carries
// "Idempotent-Replayed: true".
package api

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/pprof"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api/abuse"
	"github.com/ticketview/ticketview/api/auth"
	"github.com/ticketview/ticketview/api/live"
)

// Limits of the API.
const (
	// BodyLimit is the largest request body accepted; a larger one is answered 413.
	BodyLimit = 64 << 10
	// DefaultEventCacheTTL is the binaries' Config.EventCacheTTL.
	DefaultEventCacheTTL = time.Second
	// RequestTimeout bounds the time one request may spend in the engine and the stores.
	RequestTimeout = 15 * time.Second

	maxBuyerIDLen = 128
	maxIdemKeyLen = 128
	maxRefLen     = 256
	maxListLimit  = 100
	defaultLimit  = 20
)

// Config is what the server needs.
type Config struct {
	Bookings ticketview.BookingService
	Events   ticketview.EventStore
	Venues   ticketview.VenueStore
	// EventCacheTTL keeps events read by the buyers' section routes (holds, releases,
	// confirmations, seat maps) this long instead of reading the catalog on every request;
	// edits made through this server drop the entry at once, edits made elsewhere (another
	// gateway) are seen within the TTL. Zero: no cache.
	EventCacheTTL time.Duration
	// Optional read-side stores; a route whose store is nil answers 404.
	Views ticketview.AvailabilityCache // section availability is read here first
	// CacheMiss is told of a section Views has no view of (optional).
	CacheMiss func(ticketview.SectionID)
	SeatMaps  ticketview.SeatMapStore
	Details   ticketview.EventDetailsStore
	Audit     ticketview.AuditLog
	Logger    *zap.Logger
	// AdminToken is the operator token: "Authorization: Bearer <AdminToken>" is an admin
	// (and, with X-Buyer-ID, acts for that buyer). Empty: no operator token.
	AdminToken string
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	// Operations (each optional).
	// Ready answers GET /readyz: nil is 200, an error 503 (default: always ready).
	Ready func(ctx context.Context) error
	// Metrics is served at GET /metrics (Prometheus); 404 when nil.
	Metrics http.Handler
	// ObserveHTTP is told of every request: its route pattern, status and duration.
	ObserveHTTP func(method, route string, status int, took time.Duration)
	// ClusterStatus answers GET /api/v1/admin/cluster (the gateway's cluster status).
	ClusterStatus func(ctx context.Context) (any, error)
	// NodeStatus answers GET /api/v1/admin/node (a node's own status).
	NodeStatus func(ctx context.Context) (any, error)

	// Accounts. Without Auth, only the operator token authenticates.
	Auth     *auth.Service
	Users    ticketview.UserStore
	Sessions ticketview.SessionStore // revoked when an admin disables an account
	// BookingIndex lists bookings (my bookings, an event's bookings, sales); routes that
	// need it answer 503 without it.
	BookingIndex ticketview.BookingIndex
	// Live serves the WebSocket seat maps; without it the route answers 503.
	Live *live.Hub
	// Abuse protection: limits per user and IP, and a CAPTCHA on suspicious patterns
	// (each optional).
	Limiter *abuse.Limiter
	Limits  Limits
	Guard   *abuse.Guard
	// TrustProxy takes the client's IP from X-Forwarded-For (behind a load balancer).
	TrustProxy bool

	// Orders is checkout and payments (the checkout service); without it the order
	// routes answer 503.
	Orders Orders
	// Reports answers the analytics reports; without it the report routes answer 503.
	Reports Reports
	// DirectSales lets customers confirm holds and cancel bookings without an order (the
	// sandbox provider: development and load tests). Otherwise, with Orders set, only
	// the operator and admins may.
	DirectSales bool
}

// Server serves the API.
type Server struct {
	cfg Config
	log *zap.Logger
	now func() time.Time
	app *fiber.App

	venues      sync.Map // venue id -> *ticketview.Venue; venues never change once created
	events      sync.Map // event id -> cachedEvent (Config.EventCacheTTL)
	userCache   userCache
	table       []route
	doc         []byte // the OpenAPI document
	liveHandler fiber.Handler
}

// NewServer builds the server and its routes.
func NewServer(cfg Config) *Server {
	s := &Server{cfg: cfg, log: cfg.Logger, now: cfg.Now}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.now == nil {
		s.now = time.Now
	}
	fcfg := fiber.Config{
		AppName:               "ticketview",
		BodyLimit:             BodyLimit,
		ErrorHandler:          s.handleError,
		DisableStartupMessage: true,
		// Values from the request (params, headers) outlive the handler: they go into the
		// engine's state (a hold's owner). Immutable makes fiber copy them.
		Immutable:    true,
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  2 * time.Minute,
	}
	if cfg.TrustProxy {
		fcfg.ProxyHeader = fiber.HeaderXForwardedFor
	}
	s.app = fiber.New(fcfg)
	if cfg.Live != nil {
		s.liveHandler = cfg.Live.Handler()
	}
	s.routes()
	return s
}

// App is the fiber application, for tests and for mounting.
func (s *Server) App() *fiber.App { return s.app }

// Serve serves HTTP on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting connections and waits for requests in flight, until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.app.ShutdownWithContext(ctx) }

func (s *Server) routes() {
	app := s.app
	app.Use(s.requestID, s.accessLog, recover.New(recover.Config{
		EnableStackTrace: true,
		StackTraceHandler: func(c *fiber.Ctx, e any) {
			s.log.Error("panic in handler", zap.Any("panic", e), zap.String("request_id", requestIDOf(c)),
				zap.String("method", c.Method()), zap.String("path", c.Path()), zap.StackSkip("stack", 3))
		},
	}))
	if s.cfg.Metrics != nil {
		app.Get("/metrics", adaptor.HTTPHandler(s.cfg.Metrics))
	}
	// Everything below knows who calls, and is limited per user and IP.
	app.Use(s.authn, s.rateLimit)
	// Go's profiler, for operators.
	app.Use("/debug/pprof", s.roles(admins), pprof.New())

	s.table = s.routeTable()
	for _, r := range s.table {
		app.Add(r.method, r.path, s.roles(r.access), r.handler)
	}
	s.doc = s.openAPIDocument()

	// Anything else: the JSON 404.
	app.Use(func(c *fiber.Ctx) error {
		return ticketview.Errorf(ticketview.ENOTFOUND, "no route %s %s", c.Method(), c.Path())
	})
}

func (s *Server) healthz(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) }

// readyz answers whether the process can serve requests now.
func (s *Server) readyz(c *fiber.Ctx) error {
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(c.UserContext()); err != nil {
			return ticketview.Errorf(ticketview.EUNAVAILABLE, "not ready: %s", ticketview.ErrorMessage(err))
		}
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

// status serves an operations status document, when the process has one.
func (s *Server) status(fn func(context.Context) (any, error), what string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if fn == nil {
			return ticketview.Errorf(ticketview.ENOTFOUND, "this process has no %s status", what)
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
		defer cancel()
		v, err := fn(ctx)
		if err != nil {
			return err
		}
		return c.JSON(v)
	}
}
