package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ticketview/ticketview"
)

// storeError is a store failure: errors.As finds its *ticketview.Error (code and a message
// for people, without addresses or credentials), and errors.Is/As still reach the
// driver's error that caused it, which Error includes for logs.
type storeError struct {
	te    *ticketview.Error
	cause error
}

func (e *storeError) Error() string {
	if e.cause == nil {
		return e.te.Message
	}
	return e.te.Message + ": " + e.cause.Error()
}

func (e *storeError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.te}
	}
	return []error{e.te, e.cause}
}

// SQLSTATE codes the store looks at.
const (
	sqlUniqueViolation = "23505"
	sqlQueryCanceled   = "57014"
	sqlSerialization   = "40001"
	sqlDeadlock        = "40P01"
	sqlLockUnavailable = "55P03"
	sqlReadOnlyTx      = "25006"
)

// storeErr maps err, from op, to the store's errors: an error that already has a
// ticketview code (fencing, a refused request) is returned as it is; a unique violation is
// ECONFLICT; a failure to reach or keep the server, a timeout (the caller's context
// included), or a server error that a retry may cure is EUNAVAILABLE ("postgres:
// unavailable: op: reason"); anything else is EINTERNAL.
func storeErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var te *ticketview.Error
	if errors.As(err, &te) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == sqlUniqueViolation:
			return &storeError{te: ticketview.Errorf(ticketview.ECONFLICT, "postgres: %s: already exists (%s)", op, pe.ConstraintName), cause: err}
		case retryableCode(pe.Code):
			return unavailableErr(op, err)
		}
		return &storeError{te: ticketview.Errorf(ticketview.EINTERNAL, "postgres: %s: the server refused it (SQLSTATE %s)", op, pe.Code), cause: err}
	}
	if isConnErr(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return unavailableErr(op, err)
	}
	return &storeError{te: ticketview.Errorf(ticketview.EINTERNAL, "postgres: %s: %v", op, err), cause: err}
}

// unavailableErr is an EUNAVAILABLE error for a failure to reach the server.
func unavailableErr(op string, cause error) error {
	return &storeError{
		te:    &ticketview.Error{Code: ticketview.EUNAVAILABLE, Message: "postgres: unavailable: " + op + ": " + reason(cause)},
		cause: cause,
	}
}

// retryableCode reports whether a server error says "not now" rather than "never":
// connection exceptions, too many connections or no resources, shutdown and restart,
// cancelled statements, serialization failures and deadlocks, a read-only server.
func retryableCode(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"), strings.HasPrefix(code, "57P"),
		strings.HasPrefix(code, "58"):
		return true
	}
	switch code {
	case sqlQueryCanceled, sqlSerialization, sqlDeadlock, sqlLockUnavailable, sqlReadOnlyTx:
		return true
	}
	return false
}

// reason says in a few words why the server could not be used.
func reason(err error) string {
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.As(err, &ce):
		return "cannot connect to the server"
	case errors.As(err, &pe):
		switch {
		case strings.HasPrefix(pe.Code, "57P"):
			return "the server is shutting down or starting"
		case strings.HasPrefix(pe.Code, "53"):
			return "the server is out of resources or connections"
		case pe.Code == sqlSerialization || pe.Code == sqlDeadlock || pe.Code == sqlLockUnavailable:
			return "a concurrent transaction conflicted, try again"
		case pe.Code == sqlQueryCanceled:
			return "the statement was cancelled"
		case pe.Code == sqlReadOnlyTx:
			return "the server is read-only"
		}
		return "connection failure"
	case errors.Is(err, errClosed):
		return "the store is closed"
	}
	return "connection lost"
}

// isConnErr reports whether err is a failure of the connection (rather than a refusal by
// the server): after it, the connection is broken and the pool drops it.
func isConnErr(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNREFUSED) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		errors.As(err, new(*pgconn.ConnectError))
}

func fenced(id ticketview.SectionID, epoch, current uint64) error {
	return fmt.Errorf("postgres: section %s: epoch %d, current %d: %w", id, epoch, current, ticketview.ErrFenced)
}
