package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api/abuse"
)

// ErrorBody is the one shape of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is a stable code (ticketview.E*) and a message for people.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Challenge is set with code captcha_required: solve it and retry the request with
	// the solution in the X-Captcha-Solution header.
	Challenge *abuse.Challenge `json:"challenge,omitempty"`
}

// statusOf maps a domain error code to the HTTP status:
//
//	invalid_input                                               400 (malformed or semantically invalid alike)
//	unauthorized                                                401
//	payment_declined                                            402 (another instrument may succeed)
//	forbidden, captcha_required (with a challenge)              403
//	not_found                                                   404
//	seat_unavailable, insufficient_availability, conflict,
//	hold_expired, not_on_sale                                   409 (the state of the section or event forbids it)
//	limit_exceeded                                              422 (the per-buyer limit: retrying will not help
//	                                                                 until the buyer releases or cancels seats)
//	rate_limited                                                429 (with Retry-After)
//	unavailable                                                 503 (with Retry-After)
//	internal and anything unknown                               500 (message hidden)
//
// A body over BodyLimit is answered 413 with code invalid_input.
func statusOf(code string) int {
	switch code {
	case ticketview.EINVALID:
		return http.StatusBadRequest
	case ticketview.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case ticketview.EPAYMENT:
		return http.StatusPaymentRequired
	case ticketview.EFORBIDDEN, ticketview.ECAPTCHA:
		return http.StatusForbidden
	case ticketview.ENOTFOUND:
		return http.StatusNotFound
	case ticketview.ESEATTAKEN, ticketview.ESOLDOUT, ticketview.ECONFLICT, ticketview.EHOLDEXPIRED, ticketview.ENOTONSALE:
		return http.StatusConflict
	case ticketview.ELIMIT:
		return http.StatusUnprocessableEntity
	case ticketview.ERATELIMITED:
		return http.StatusTooManyRequests
	case ticketview.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// codeOfStatus maps fiber's own errors (unknown route, body too large, ...) to a code.
func codeOfStatus(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return ticketview.EUNAUTHORIZED
	case status == http.StatusForbidden:
		return ticketview.EFORBIDDEN
	case status == http.StatusNotFound, status == http.StatusMethodNotAllowed:
		return ticketview.ENOTFOUND
	case status == http.StatusTooManyRequests:
		return ticketview.ERATELIMITED
	case status == http.StatusServiceUnavailable, status == http.StatusGatewayTimeout:
		return ticketview.EUNAVAILABLE
	case status >= 500:
		return ticketview.EINTERNAL
	default:
		return ticketview.EINVALID
	}
}

// classify turns any error into a status and the body to send.
func classify(err error) (int, ErrorDetail) {
	var fe *fiber.Error
	var te *ticketview.Error
	switch {
	case errors.As(err, &te):
		st := statusOf(te.Code)
		if st == http.StatusInternalServerError {
			return st, ErrorDetail{Code: ticketview.EINTERNAL, Message: "internal error"}
		}
		return st, ErrorDetail{Code: te.Code, Message: te.Message}
	case errors.As(err, &fe):
		st := fe.Code
		if st < 400 || st > 599 {
			st = http.StatusInternalServerError
		}
		code := codeOfStatus(st)
		msg := fe.Message
		switch {
		case st == http.StatusRequestEntityTooLarge:
			msg = fmt.Sprintf("request body too large: the limit is %d bytes", BodyLimit)
		case code == ticketview.EINTERNAL:
			st, msg = http.StatusInternalServerError, "internal error"
		}
		return st, ErrorDetail{Code: code, Message: msg}
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, ErrorDetail{Code: ticketview.EUNAVAILABLE, Message: "the request timed out; try again"}
	default:
		return http.StatusInternalServerError, ErrorDetail{Code: ticketview.EINTERNAL, Message: "internal error"}
	}
}

// handleError is fiber's ErrorHandler: it writes every error in the one JSON shape.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	st, body := classify(err)
	var ce *abuse.ChallengeError
	if errors.As(err, &ce) {
		ch := ce.Challenge
		body.Challenge = &ch
	}
	if requestIDOf(c) == "" { // errors raised before the middleware ran (e.g. body too large)
		id := uuid.NewString()
		c.Locals(ctxRequestID, id)
		c.Set(fiber.HeaderXRequestID, id)
	}
	if st >= 500 {
		s.log.Error("request failed", zap.Error(err), zap.Int("status", st),
			zap.String("request_id", requestIDOf(c)), zap.String("method", c.Method()), zap.String("path", c.Path()))
	}
	var re *retryError
	if errors.As(err, &re) {
		c.Set(fiber.HeaderRetryAfter, retryAfterSeconds(re.after))
	} else if st == http.StatusServiceUnavailable || st == http.StatusTooManyRequests {
		c.Set(fiber.HeaderRetryAfter, "1")
	}
	return c.Status(st).JSON(ErrorBody{Error: body})
}

func invalid(format string, args ...any) error {
	return ticketview.Errorf(ticketview.EINVALID, format, args...)
}
