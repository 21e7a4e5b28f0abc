package api

import (
	"crypto/subtle"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	ticketview "github.com/ticketview/ticketview"
)

type ctxKey int

const (
	ctxRequestID ctxKey = iota
	ctxBuyer
)

// HeaderBuyerID identifies the buyer. It is trusted as sent: JWT authentication replaces it
// in a later issue, and then the buyer comes from the verified token instead.
const HeaderBuyerID = "X-Buyer-ID"

// HeaderIdempotencyKey makes a mutation safe to retry: the engine answers a repeated key
// with the first result.
const HeaderIdempotencyKey = "Idempotency-Key"

// HeaderReplayed is set to "true" on a response that repeats the first result of an
// idempotent request.
const HeaderReplayed = "Idempotent-Replayed"

// requestID takes the caller's X-Request-ID when it is sane, or makes one, and echoes it.
func (s *Server) requestID(c *fiber.Ctx) error {
	id := c.Get(fiber.HeaderXRequestID)
	if !token(id, 64) {
		id = uuid.NewString()
	}
	c.Locals(ctxRequestID, id)
	c.Set(fiber.HeaderXRequestID, id)
	return c.Next()
}

func requestIDOf(c *fiber.Ctx) string {
	id, _ := c.Locals(ctxRequestID).(string)
	return id
}

// accessLog logs one line per request. It answers errors itself (through the
// ErrorHandler) so that the status it logs is the one sent.
func (s *Server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		if herr := s.handleError(c, err); herr != nil {
			s.log.Error("writing an error response", zap.Error(herr))
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	st := c.Response().StatusCode()
	if s.cfg.ObserveHTTP != nil {
		route := "unmatched"
		if r := c.Route(); r != nil && r.Path != "/" {
			route = r.Path // the pattern, not the path: few label values
		}
		s.cfg.ObserveHTTP(c.Method(), route, st, time.Since(start))
	}
	lvl := zapcore.InfoLevel
	switch {
	case st >= 500:
		lvl = zapcore.ErrorLevel
	case st >= 400:
		lvl = zapcore.WarnLevel
	}
	if ce := s.log.Check(lvl, "request"); ce != nil {
		buyer, _ := c.Locals(ctxBuyer).(string)
		ce.Write(
			zap.String("request_id", requestIDOf(c)),
			zap.String("method", c.Method()),
			zap.String("path", c.Path()),
			zap.Int("status", st),
			zap.Duration("latency", time.Since(start)),
			zap.String("ip", c.IP()),
			zap.String("buyer", buyer),
		)
	}
	return nil
}

// buyer requires the X-Buyer-ID header on routes that act for a buyer.
//
// TODO(auth): JWT authentication replaces this header in a later issue.
func (s *Server) buyer(c *fiber.Ctx) error {
	id := strings.TrimSpace(c.Get(HeaderBuyerID))
	if id == "" {
		return ticketview.Errorf(ticketview.EUNAUTHORIZED, "the %s header is required", HeaderBuyerID)
	}
	if !printable(id, maxBuyerIDLen) {
		return ticketview.Errorf(ticketview.EUNAUTHORIZED, "the %s header is not a valid buyer id", HeaderBuyerID)
	}
	c.Locals(ctxBuyer, id)
	return c.Next()
}

func buyerOf(c *fiber.Ctx) string {
	id, _ := c.Locals(ctxBuyer).(string)
	return id
}

// idemKey is the Idempotency-Key header, "" when absent.
func idemKey(c *fiber.Ctx) (string, error) {
	k := c.Get(HeaderIdempotencyKey)
	if k != "" && !printable(k, maxIdemKeyLen) {
		return "", invalid("the %s header must be at most %d printable characters", HeaderIdempotencyKey, maxIdemKeyLen)
	}
	return k, nil
}

// admin guards the admin routes with the bearer token.
func (s *Server) admin(c *fiber.Ctx) error {
	if s.cfg.AdminToken == "" {
		return ticketview.Errorf(ticketview.EFORBIDDEN, "admin API disabled")
	}
	auth := c.Get(fiber.HeaderAuthorization)
	scheme, tok, ok := strings.Cut(auth, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="ticketview-admin"`)
		return ticketview.Errorf(ticketview.EUNAUTHORIZED, "admin routes need an Authorization: Bearer token")
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.AdminToken)) != 1 {
		return ticketview.Errorf(ticketview.EFORBIDDEN, "wrong admin token")
	}
	return c.Next()
}

// printable reports whether s is 1..max printable ASCII characters.
func printable(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// token reports whether s is 1..max letters, digits, '-', '_' or '.'.
func token(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
