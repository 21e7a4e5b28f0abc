package postgres

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketview/ticketview"
)

var _ ticketview.BookingIndex = (*DB)(nil)

// The booking index is read from the bookings table, which the committer keeps from the
// section journals in the transaction that writes the journal rows (projection.go): it
// holds exactly what was acknowledged.

// Listing limits, as for events.
const (
	defaultBookingLimit = 20
	maxBookingLimit     = 100
)

// bookingCols are the columns ListBookings reads: a total the projection could not price
// is 0, and the currency is the event's in the catalog ("" when the event is not in it).
const bookingCols = `b.event_id, b.section_id, b.id, b.owner, b.hold_token, b.status, b.quantity,
	coalesce(b.total, 0), coalesce(e.currency, ''), b.payment_ref, b.confirmed_at, b.cancelled_at`

// ListBookings returns a page of the bookings that pass the filter (Owner and Event
// exact; empty matches every one), newest first: by confirmation time, then booking id,
// event and section, all descending; and how many pass it in all, both read in one
// snapshot. Limit defaults to 20 and is at most 100; a negative Offset is 0. The bookings
// carry no Items; Total is in the event's currency as the catalog has it ("" when the
// event is not in the catalog), 0 when the hold's prices were never journaled. Times are
// in UTC, to the microsecond (timestamptz).
func (db *DB) ListBookings(ctx context.Context, f ticketview.BookingFilter) ([]ticketview.Booking, int, error) {
	if err := db.open(); err != nil {
		return nil, 0, err
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	// The projection stores ids made storable by clean; so are the filter's.
	if f.Owner != "" {
		where = append(where, "b.owner = "+arg(clean(f.Owner)))
	}
	if f.Event != "" {
		where = append(where, "b.event_id = "+arg(clean(f.Event)))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultBookingLimit
	}
	limit = min(limit, maxBookingLimit)
	offset := max(f.Offset, 0)
	countArgs := append([]any(nil), args...)
	page := `SELECT ` + bookingCols + ` FROM bookings b LEFT JOIN events e ON e.id = b.event_id` + cond + `
		ORDER BY b.confirmed_at DESC, b.id DESC, b.event_id DESC, b.section_id DESC LIMIT ` + arg(limit) + ` OFFSET ` + arg(offset)

	var out []ticketview.Booking
	var total int
	err := db.read(ctx, func(conn *pgx.Conn) error {
		out = []ticketview.Booking{}
		var err error
		total, err = readPage(ctx, conn, `SELECT count(*) FROM bookings b`+cond, countArgs, page, args, func(rows pgx.Rows) error {
			var bk ticketview.Booking
			var status string
			var cancelled *time.Time
			if err := rows.Scan(&bk.Event, &bk.Section, &bk.ID, &bk.Owner, &bk.HoldToken, &status, &bk.Quantity,
				&bk.Total.Amount, &bk.Total.Currency, &bk.PaymentRef, &bk.ConfirmedAt, &cancelled); err != nil {
				return err
			}
			bk.Status, bk.ConfirmedAt = ticketview.BookingStatus(status), bk.ConfirmedAt.UTC()
			if cancelled != nil {
				bk.CancelledAt = cancelled.UTC()
			}
			out = append(out, bk)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, 0, storeErr("list bookings", err)
	}
	return out, total, nil
}

// salesQuery sums the bookings per event; cond is "" (every event) or a WHERE clause.
func salesQuery(cond string) string {
	return `SELECT event_id, count(*) FILTER (WHERE status = 'confirmed'), count(*) FILTER (WHERE status = 'cancelled'),
		coalesce(sum(quantity) FILTER (WHERE status = 'confirmed'), 0),
		coalesce(sum(total) FILTER (WHERE status = 'confirmed'), 0)::bigint
		FROM bookings` + cond + ` GROUP BY event_id ORDER BY event_id`
}

var (
	qSalesAll    = salesQuery("")
	qSalesEvents = salesQuery(" WHERE event_id = ANY($1::text[])")
)

// SalesByEvent sums the bookings of the events (of every event with a booking when
// events is nil), in event id order (byte order); an event without bookings is left out,
// and one whose bookings are all cancelled is not. Bookings counts the confirmed ones,
// Tickets their seats and places, Revenue their totals (a booking whose hold's prices
// were never journaled adds 0); Cancelled counts the cancelled ones.
func (db *DB) SalesByEvent(ctx context.Context, events []string) ([]ticketview.EventSales, error) {
	if err := db.open(); err != nil {
		return nil, err
	}
	out := []ticketview.EventSales{}
	query, args := qSalesAll, []any(nil)
	if events != nil {
		if len(events) == 0 {
			return out, nil
		}
		ids := make([]string, len(events))
		for i, e := range events {
			ids[i] = clean(e)
		}
		query, args = qSalesEvents, []any{ids}
	}
	err := db.read(ctx, func(conn *pgx.Conn) error {
		out = out[:0]
		rows, err := conn.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s ticketview.EventSales
			if err := rows.Scan(&s.Event, &s.Bookings, &s.Cancelled, &s.Tickets, &s.Revenue); err != nil {
				return err
			}
			out = append(out, s)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, storeErr("sales by event", err)
	}
	return out, nil
}
