package api

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

type ctxKey int

const (
	ctxRequestID ctxKey = iota
	ctxBuyer
	ctxPrincipal
)

// HeaderBuyerID names the buyer the operator token acts for (load tests, trusted
// back-office systems). With an access token it is refused: a customer is the token's
// user.
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
		user := ""
		if p := principalOf(c); p != nil {
			user = p.ID
		}
		ce.Write(
			zap.String("request_id", requestIDOf(c)),
			zap.String("method", c.Method()),
			zap.String("path", c.Path()),
			zap.Int("status", st),
			zap.Duration("latency", time.Since(start)),
			zap.String("ip", c.IP()),
			zap.String("user", user),
		)
	}
	return nil
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
