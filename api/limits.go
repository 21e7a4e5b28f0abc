package api

import (
	"context"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api/abuse"
)

// Limits are the per-user and per-IP limits. They hold across gateways when the
// Limiter's counter is shared (Redis); 0 turns a limit off. The operator token is not
// limited.
type Limits struct {
	UserRPS         int64         // requests per second per signed-in user
	IPRPS           int64         // requests per second per client IP
	HoldsInFlight   int64         // hold requests being served at once, per user and per IP
	SeatsPerEventIP int64         // seats held per event per IP in SeatsWindow (the per-buyer limit is the engine's)
	SeatsWindow     time.Duration // default 10 minutes
	LoginsPerMinute int64         // login and password-change attempts per IP, per email and per account
}

// DefaultLimits are generous for people and tight for scripts.
func DefaultLimits() Limits {
	return Limits{UserRPS: 20, IPRPS: 200, HoldsInFlight: 4, SeatsPerEventIP: 60, SeatsWindow: 10 * time.Minute, LoginsPerMinute: 10}
}

// HeaderCaptcha carries the solution of a CAPTCHA challenge on the retried request.
const HeaderCaptcha = "X-Captcha-Solution"

// retryError is a refusal with a time to wait, sent as Retry-After.
type retryError struct {
	err   *ticketview.Error
	after time.Duration
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

func rateLimited(after time.Duration, format string, args ...any) error {
	return &retryError{err: ticketview.Errorf(ticketview.ERATELIMITED, format, args...), after: after}
}

// retryAfterSeconds rounds a wait up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) string {
	n := int64(math.Ceil(d.Seconds()))
	if n < 1 {
		n = 1
	}
	return strconv.FormatInt(n, 10)
}

func (s *Server) limited(c *fiber.Ctx) bool {
	if s.cfg.Limiter == nil {
		return false
	}
	p := principalOf(c)
	return p == nil || !p.Operator
}

// limit counts one request against key; over limit in the window it is refused.
func (s *Server) limit(c *fiber.Ctx, key string, limit int64, window time.Duration) error {
	if limit <= 0 || !s.limited(c) {
		return nil
	}
	d, err := s.cfg.Limiter.Allow(c.UserContext(), key, limit, window)
	if err != nil {
		return s.limiterDown(err)
	}
	if !d.Allowed {
		return rateLimited(d.RetryAfter, "too many requests: at most %d per %s", limit, window)
	}
	return nil
}

// limiterDown lets requests through when the counters cannot be reached: the limits
// protect the engine, which has its own limits; refusing everyone would be worse. Any
// other error (a request the limiter refuses as invalid) is returned.
func (s *Server) limiterDown(err error) error {
	if ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		return err
	}
	s.log.Warn("rate limiter unavailable: letting the request through", zap.Error(err))
	return nil
}

// rateLimit is the middleware of the per-second limits.
func (s *Server) rateLimit(c *fiber.Ctx) error {
	if !s.limited(c) {
		return c.Next()
	}
	if err := s.limit(c, "rps-ip:"+c.IP(), s.cfg.Limits.IPRPS, time.Second); err != nil {
		return err
	}
	if p := principalOf(c); p != nil {
		if err := s.limit(c, "rps-user:"+p.ID, s.cfg.Limits.UserRPS, time.Second); err != nil {
			return err
		}
	}
	return c.Next()
}

// holdSlots takes the caller's in-flight hold slots (user and IP); release gives them back.
func (s *Server) holdSlots(c *fiber.Ctx) (release func(), err error) {
	release = func() {}
	n := s.cfg.Limits.HoldsInFlight
	if n <= 0 || !s.limited(c) {
		return release, nil
	}
	var rels []func()
	release = func() {
		for _, r := range rels {
			r()
		}
	}
	for _, key := range []string{"inflight-user:" + buyerOf(c), "inflight-ip:" + c.IP()} {
		rel, d, err := s.cfg.Limiter.Acquire(c.UserContext(), key, n, RequestTimeout*2)
		if err != nil {
			release()
			return func() {}, s.limiterDown(err)
		}
		if !d.Allowed {
			release()
			return func() {}, rateLimited(d.RetryAfter, "too many holds in flight: at most %d at once", n)
		}
		rels = append(rels, rel)
	}
	return release, nil
}

// seatAllowance counts the seats a hold asks for against the IP's allowance for the
// event.
func (s *Server) seatAllowance(c *fiber.Ctx, event string, seats int) error {
	n := s.cfg.Limits.SeatsPerEventIP
	if n <= 0 || !s.limited(c) {
		return nil
	}
	w := s.cfg.Limits.SeatsWindow
	if w <= 0 {
		w = 10 * time.Minute
	}
	if int64(seats) > n {
		return rateLimited(w, "too many seats held from this address for event %q: at most %d per %s", event, n, w)
	}
	d, err := s.cfg.Limiter.AllowN(c.UserContext(), "seats-ip:"+event+":"+c.IP(), int64(seats), n, w)
	if err != nil {
		return s.limiterDown(err)
	}
	if !d.Allowed {
		return rateLimited(d.RetryAfter, "too many seats held from this address for event %q: at most %d per %s", event, n, w)
	}
	return nil
}

// captcha asks for a CAPTCHA when the subjects look like a bot (see abuse.Guard); the
// client retries with the solution in X-Captcha-Solution.
func (s *Server) captcha(c *fiber.Ctx, sig abuse.Signal, subjects ...string) error {
	if s.cfg.Guard == nil || !s.limited(c) {
		return nil
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), RequestTimeout)
	defer cancel()
	err := s.cfg.Guard.Check(ctx, sig, subjects, c.Get(HeaderCaptcha), c.IP())
	var ce *abuse.ChallengeError
	if err != nil && !errors.As(err, &ce) && ticketview.ErrorCode(err) == ticketview.EUNAVAILABLE {
		return s.limiterDown(err)
	}
	return err
}

// recordConflict tells the guard of a refused hold.
func (s *Server) recordConflict(c *fiber.Ctx, err error, subjects ...string) {
	if s.cfg.Guard == nil || !s.limited(c) {
		return
	}
	switch ticketview.ErrorCode(err) {
	case ticketview.ESEATTAKEN, ticketview.ESOLDOUT:
		if rerr := s.cfg.Guard.Record(c.UserContext(), abuse.SignalConflict, subjects...); rerr != nil {
			s.log.Warn("recording a conflict", zap.Error(rerr))
		}
	}
}
