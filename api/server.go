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
// Routes (S = /api/v1/events/:event/sections/:section):
//
//	GET    /healthz                                  {"status":"ok"}            (live)
//	GET    /readyz                                   {"status":"ready"} or 503  (ready to serve)
//	GET    /metrics                                  Prometheus metrics (when configured)
//	GET    /api/v1/admin/cluster                     cluster status (gateway)   (admin)
//	GET    /api/v1/admin/node                        this node's status         (admin)
//	GET    /debug/pprof/...                          Go's profiler              (admin)
//	GET    /api/v1/events?status&q&from&to&offset&limit  EventList
//	GET    /api/v1/events/:event                     EventDetails
//	GET    S?seats=true                              ticketview.Availability
//	POST   S/holds                                   201 ticketview.Hold      (buyer)
//	GET    S/holds/:token                            ticketview.Hold          (buyer)
//	POST   S/holds/:token/extend                     ticketview.Hold          (buyer)
//	DELETE S/holds/:token                            204                      (buyer)
//	POST   S/holds/:token/confirm                    201 ticketview.Booking   (buyer)
//	GET    S/bookings/:booking                       ticketview.Booking       (buyer)
//	POST   S/bookings/:booking/cancel                ticketview.Booking       (buyer)
//	POST   /api/v1/admin/events/:event/sections/:section/block     ticketview.Availability (admin)
//	POST   /api/v1/admin/events/:event/sections/:section/unblock   ticketview.Availability (admin)
//	GET    /api/v1/admin/events/:event/sections/:section/bookings/:booking          (admin)
//	POST   /api/v1/admin/events/:event/sections/:section/bookings/:booking/cancel   (admin)
//
// Buyer routes need the X-Buyer-ID header (401 without it); admin routes need
// "Authorization: Bearer <AdminToken>" (401 without it, 403 when wrong or when the admin
// API is disabled). Mutations take an optional Idempotency-Key header; a response that
// repeats the first result of a key carries "Idempotent-Replayed: true".
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
)

// Limits of the API.
const (
	// BodyLimit is the largest request body accepted; a larger one is answered 413.
	BodyLimit = 64 << 10
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
	// Optional read-side stores; a route whose store is nil answers 404.
	Views ticketview.AvailabilityCache // section availability is read here first
	// CacheMiss is told of a section Views has no view of (optional).
	CacheMiss func(ticketview.SectionID)
	SeatMaps  ticketview.SeatMapStore
	Details   ticketview.EventDetailsStore
	Audit     ticketview.AuditLog
	Logger    *zap.Logger
	// AdminToken guards /api/v1/admin with "Authorization: Bearer <AdminToken>". When it is
	// empty the admin API is disabled (every admin route answers 403).
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
}

// Server serves the API.
type Server struct {
	cfg Config
	log *zap.Logger
	now func() time.Time
	app *fiber.App

	venues sync.Map // venue id -> *ticketview.Venue; venues never change once created
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
	s.app = fiber.New(fiber.Config{
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
	})
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

	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", s.readyz)
	if s.cfg.Metrics != nil {
		app.Get("/metrics", adaptor.HTTPHandler(s.cfg.Metrics))
	}
	// Go's profiler, for operators (admin token).
	app.Use("/debug/pprof", s.admin, pprof.New())

	v1 := app.Group("/api/v1")
	v1.Get("/events", s.listEvents)
	v1.Get("/events/:event", s.getEvent)
	v1.Get("/events/:event/details", s.getEventDetails)
	v1.Get("/venues/:venue/map", s.getSeatMap)

	v1.Get("/events/:event/sections/:section", s.getSection)
	sec := v1.Group("/events/:event/sections/:section")
	sec.Post("/holds", s.buyer, s.createHold)
	sec.Get("/holds/:token", s.buyer, s.getHold)
	sec.Post("/holds/:token/extend", s.buyer, s.extendHold)
	sec.Post("/holds/:token/confirm", s.buyer, s.confirmHold)
	sec.Delete("/holds/:token", s.buyer, s.releaseHold)
	sec.Get("/bookings/:booking", s.buyer, s.getBooking)
	sec.Post("/bookings/:booking/cancel", s.buyer, s.cancelBooking)

	adm := v1.Group("/admin", s.admin)
	adm.Put("/venues/:venue/map", s.putSeatMap)
	adm.Put("/events/:event/details", s.putEventDetails)
	adm.Get("/events/:event/audit", s.getAudit)
	adm.Get("/cluster", s.status(s.cfg.ClusterStatus, "cluster"))
	adm.Get("/node", s.status(s.cfg.NodeStatus, "node"))
	asec := adm.Group("/events/:event/sections/:section")
	asec.Post("/block", s.block)
	asec.Post("/unblock", s.unblock)
	asec.Get("/bookings/:booking", s.adminGetBooking)
	asec.Post("/bookings/:booking/cancel", s.adminCancelBooking)

	// Anything else: the JSON 404.
	app.Use(func(c *fiber.Ctx) error {
		return ticketview.Errorf(ticketview.ENOTFOUND, "no route %s %s", c.Method(), c.Path())
	})
}

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
