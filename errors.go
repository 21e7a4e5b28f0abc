package ticketview

import (
	"errors"
	"fmt"
)

// Error codes. They are stable: clients and the HTTP layer map them to status codes.
const (
	EINVALID      = "invalid_input"    // the request is malformed or breaks a rule of its own
	ENOTFOUND     = "not_found"        // the event, section, seat, hold or booking does not exist
	ESEATTAKEN    = "seat_unavailable" // a requested seat is held, sold or blocked
	ESOLDOUT      = "insufficient_availability"
	EHOLDEXPIRED  = "hold_expired"
	ELIMIT        = "limit_exceeded" // per-buyer limit
	ECONFLICT     = "conflict"       // the state changed: e.g. confirming a released hold
	ENOTONSALE    = "not_on_sale"
	EFORBIDDEN    = "forbidden"   // the caller does not own the hold or booking
	EUNAVAILABLE  = "unavailable" // storage or a dependency is down; retry later
	EINTERNAL     = "internal"
	EUNAUTHORIZED = "unauthorized"
	ERATELIMITED  = "rate_limited"
	ECAPTCHA      = "captcha_required" // suspicious traffic: solve the challenge and retry
	EPAYMENT      = "payment_declined" // the payment provider refused the payment; another may succeed
)

// Error is the domain's error: a stable code and a message for people.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("ticketview: %s: %s", e.Code, e.Message) }

// Is makes errors.Is match any *Error with the same code, so the sentinels below work
// with errors that carry a specific message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err's *Error, EINTERNAL for any other non-nil error.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message for people; internal errors are not exposed.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Sentinels, for errors.Is.
var (
	ErrInvalid     = &Error{Code: EINVALID, Message: "invalid input"}
	ErrNotFound    = &Error{Code: ENOTFOUND, Message: "not found"}
	ErrSeatTaken   = &Error{Code: ESEATTAKEN, Message: "seat unavailable"}
	ErrSoldOut     = &Error{Code: ESOLDOUT, Message: "not enough seats available"}
	ErrHoldExpired = &Error{Code: EHOLDEXPIRED, Message: "hold expired"}
	ErrLimit       = &Error{Code: ELIMIT, Message: "limit exceeded"}
	ErrConflict    = &Error{Code: ECONFLICT, Message: "conflict"}
	ErrNotOnSale   = &Error{Code: ENOTONSALE, Message: "event is not on sale"}
	ErrForbidden   = &Error{Code: EFORBIDDEN, Message: "forbidden"}
	ErrUnavailable = &Error{Code: EUNAVAILABLE, Message: "service unavailable"}
)

// ErrFenced is returned by a store when a newer activation of the section exists. It is
// its own error (errors.Is(err, ErrFenced) matches fencing only, not every unavailable
// error) and unwraps to an unavailable *Error, so callers see a retryable 503.
var ErrFenced error = &FencedError{err: &Error{Code: EUNAVAILABLE, Message: "section moved: a newer activation owns it"}}

// FencedError is the type of ErrFenced.
type FencedError struct{ err *Error }

func (e *FencedError) Error() string { return e.err.Error() }
func (e *FencedError) Unwrap() error { return e.err }
