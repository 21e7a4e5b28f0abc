package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ticketview/ticketview"
)

var _ ticketview.OrderStore = (*DB)(nil)

// Orders are kept as their JSON (migrations/0004_orders.sql) with copies of the fields
// the store looks them up, filters and orders by. Creating or updating an order writes
// the messages it recorded (Order.TakeMessages) to the outbox in the same transaction.

// Limits of the order queries.
const (
	maxOrderKeyLen  = 255  // ids, idempotency keys, provider names and references
	defaultDueLimit = 100  // DueOrders without a limit
	maxDueLimit     = 1000 // the most orders one DueOrders answers
)

const (
	orderSelectCols = `data, version, idem_key`

	qOrder       = `SELECT ` + orderSelectCols + ` FROM orders WHERE id = $1`
	qOrderByIdem = `SELECT ` + orderSelectCols + ` FROM orders WHERE buyer = $1 AND idem_key = $2 AND idem_key <> ''`
	qOrderByRef  = `SELECT ` + orderSelectCols + ` FROM orders WHERE provider = $1 AND provider_order_id = $2
		AND provider_order_id <> '' ORDER BY created_at, id LIMIT 1`
	// qInsOrder inserts an order unless the buyer has one with its idempotency key.
	qInsOrder = `INSERT INTO orders (id, buyer, event, status, pay_by, paid, provider, provider_order_id, idem_key,
			created_at, updated_at, version, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::text::jsonb)
		ON CONFLICT (buyer, idem_key) WHERE idem_key <> '' DO NOTHING`
	// qUpdOrder saves an order (its idem_key is the stored one: UpdateOrder keeps it).
	qUpdOrder = `UPDATE orders SET buyer = $2, event = $3, status = $4, pay_by = $5, paid = $6, provider = $7,
			provider_order_id = $8, idem_key = $9, created_at = $10, updated_at = $11, version = $12,
			data = $13::text::jsonb
		WHERE id = $1`
	qDueOrders = `SELECT ` + orderSelectCols + ` FROM (
			(SELECT id, pay_by, ` + orderSelectCols + ` FROM orders WHERE status = 'pending_payment' AND pay_by <= $1
				ORDER BY pay_by, id LIMIT $2)
			UNION ALL
			(SELECT id, pay_by, ` + orderSelectCols + ` FROM orders WHERE status = 'expired' AND paid
				ORDER BY pay_by, id LIMIT $2)
		) d ORDER BY pay_by, id LIMIT $2`
)

// validKeyText reports whether s can be a key of an order or a message: at most
// maxOrderKeyLen bytes of UTF-8 without NUL.
func validKeyText(s string) bool { return len(s) <= maxOrderKeyLen && validText(s) }

// checkOrder validates an order before it is stored: EINVALID unless it has an id, a
// buyer and a known status, its keys are short UTF-8 text and its times fit the store.
func checkOrder(o *ticketview.Order) error {
	switch {
	case o == nil:
		return ticketview.Errorf(ticketview.EINVALID, "no order")
	case o.ID == "" || o.Buyer == "":
		return ticketview.Errorf(ticketview.EINVALID, "an order needs an id and a buyer")
	case !validKeyText(o.ID) || !validKeyText(o.Buyer) || !validKeyText(o.Event) || !validKeyText(o.IdemKey) ||
		!validKeyText(o.Provider) || !validKeyText(o.ProviderOrderID):
		return ticketview.Errorf(ticketview.EINVALID, "order %q: ids, keys and references must be UTF-8 without NUL, at most %d bytes", o.ID, maxOrderKeyLen)
	case !o.Status.Valid():
		return ticketview.Errorf(ticketview.EINVALID, "order %q: unknown status %q", o.ID, o.Status)
	case !storable(o.PayBy, o.CreatedAt, o.UpdatedAt):
		return ticketview.Errorf(ticketview.EINVALID, "order %q: times must be between the years 1678 and 2262", o.ID)
	}
	return nil
}

// unixNanos is t in Unix nanoseconds, 0 for the zero time.
func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// orderArgs are the arguments of qInsOrder and qUpdOrder for o.
func orderArgs(o *ticketview.Order) ([]any, error) {
	data, err := json.Marshal(o)
	if err != nil {
		return nil, ticketview.Errorf(ticketview.EINTERNAL, "encode order %q: %v", o.ID, err)
	}
	_, paid := o.Paid()
	return []any{o.ID, o.Buyer, o.Event, string(o.Status), unixNanos(o.PayBy), paid, o.Provider, o.ProviderOrderID,
		o.IdemKey, unixNanos(o.CreatedAt), unixNanos(o.UpdatedAt), o.Version, string(data)}, nil
}

// scanOrder reads a row of orderSelectCols. The version and the idempotency key come from
// their columns.
func scanOrder(row pgx.Row) (*ticketview.Order, error) {
	var data []byte
	var version int64
	var idem string
	if err := row.Scan(&data, &version, &idem); err != nil {
		return nil, err
	}
	o := new(ticketview.Order)
	if err := json.Unmarshal(data, o); err != nil {
		return nil, ticketview.Errorf(ticketview.EINTERNAL, "order: corrupt record: %v", err)
	}
	o.Version, o.IdemKey = version, idem
	return o, nil
}

// writeErr maps the failure of an order or outbox write: a value the server cannot take
// (SQLSTATE class 22, such as a NUL in a JSON string) is EINVALID; see storeErr for the
// rest.
func writeErr(op string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && strings.HasPrefix(pe.Code, "22") {
		return &storeError{te: ticketview.Errorf(ticketview.EINVALID, "postgres: %s: the server cannot store a value (%s)", op, pe.Message), cause: err}
	}
	return storeErr(op, err)
}

// CreateOrder validates the order (EINVALID) and stores it with Version 1, writing the
// messages it recorded to the outbox in the same transaction. When the buyer already has
// an order with the same IdemKey (not empty), that order is returned with created false
// and nothing is written: of concurrent creates with one key, the unique index lets one
// insert and the others wait for it, then return its order. A taken id is ECONFLICT.
func (db *DB) CreateOrder(ctx context.Context, o *ticketview.Order) (*ticketview.Order, bool, error) {
	if err := checkOrder(o); err != nil {
		return nil, false, err
	}
	msgs := o.TakeMessages()
	if err := checkMessages(msgs); err != nil {
		return nil, false, err
	}
	if err := db.open(); err != nil {
		return nil, false, err
	}
	o.Version = 1
	args, err := orderArgs(o)
	if err != nil {
		return nil, false, err
	}
	op := "create order " + o.ID
	var existing *ticketview.Order
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, qInsOrder, args...)
		if isUnique(err, "orders_pkey") {
			return &storeError{te: ticketview.Errorf(ticketview.ECONFLICT, "order %q already exists", o.ID), cause: err}
		} else if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 { // the buyer's order with this key, committed before ours
			existing, err = scanOrder(tx.QueryRow(ctx, qOrderByIdem, o.Buyer, o.IdemKey))
			return err
		}
		return insertMessages(ctx, tx, msgs)
	})
	if err != nil {
		return nil, false, writeErr(op, err)
	}
	if existing != nil {
		return existing, false, nil
	}
	return o, true, nil
}

// inTx runs fn in a transaction on a pooled connection and commits if fn succeeds; it
// rolls back otherwise, and when fn panics.
func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background()) // after Commit, a no-op
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// FindOrder returns the order, or ENOTFOUND.
func (db *DB) FindOrder(ctx context.Context, id string) (*ticketview.Order, error) {
	return db.findOrder(ctx, "order "+strconv.Quote(id), qOrder, id)
}

// FindOrderByProviderRef returns the order with the provider's order id (the first one
// created, should there be several), or ENOTFOUND.
func (db *DB) FindOrderByProviderRef(ctx context.Context, provider, ref string) (*ticketview.Order, error) {
	return db.findOrder(ctx, fmt.Sprintf("order with %s reference %q", provider, ref), qOrderByRef, provider, ref)
}

func (db *DB) findOrder(ctx context.Context, what, query string, keys ...string) (*ticketview.Order, error) {
	args := make([]any, len(keys))
	for i, k := range keys {
		if !validText(k) { // no order has such a key
			return nil, ticketview.Errorf(ticketview.ENOTFOUND, "%s not found", what)
		}
		args[i] = k
	}
	if err := db.open(); err != nil {
		return nil, err
	}
	var o *ticketview.Order
	err := db.read(ctx, func(conn *pgx.Conn) (err error) {
		o, err = scanOrder(conn.QueryRow(ctx, query, args...))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "%s not found", what)
	}
	if err != nil {
		return nil, storeErr("find order", err)
	}
	return o, nil
}

// UpdateOrder loads the order and locks its row (SELECT ... FOR UPDATE), calls fn on it,
// validates the result and saves it with Version one more and the messages fn's changes
// recorded, all in one transaction: concurrent updates of an order run one after the
// other and none is lost. If fn fails, nothing is written and its error is returned as
// is; a missing order is ENOTFOUND (fn is not called); a changed id or an invalid result
// is EINVALID. The IdemKey stays as it was stored. fn runs on the caller's goroutine
// while the row is locked: it must be quick.
func (db *DB) UpdateOrder(ctx context.Context, id string, fn func(*ticketview.Order) error) (*ticketview.Order, error) {
	if fn == nil {
		return nil, ticketview.Errorf(ticketview.EINVALID, "no update function")
	}
	if !validText(id) {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "order %q not found", id)
	}
	if err := db.open(); err != nil {
		return nil, err
	}
	var out *ticketview.Order
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		o, err := scanOrder(tx.QueryRow(ctx, qOrder+` FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return ticketview.Errorf(ticketview.ENOTFOUND, "order %q not found", id)
		} else if err != nil {
			return err
		}
		version, key := o.Version, o.IdemKey
		if err := fn(o); err != nil {
			return fnError{err}
		}
		if o.ID != id {
			return ticketview.Errorf(ticketview.EINVALID, "order %q: the id cannot change", id)
		}
		o.IdemKey, o.Version = key, version+1
		if err := checkOrder(o); err != nil {
			return err
		}
		msgs := o.TakeMessages()
		if err := checkMessages(msgs); err != nil {
			return err
		}
		args, err := orderArgs(o)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, qUpdOrder, args...); err != nil {
			return err
		}
		if err := insertMessages(ctx, tx, msgs); err != nil {
			return err
		}
		out = o
		return nil
	})
	var fe fnError
	if errors.As(err, &fe) {
		return nil, fe.err
	}
	if err != nil {
		return nil, writeErr("update order "+id, err)
	}
	return out, nil
}

// fnError carries the error of an update function out of the transaction, unchanged.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// ListOrders returns one page of the orders that pass the filter, newest first (by
// CreatedAt, then id), and how many pass it in all, both read in one snapshot. Buyer,
// Event and Status match exactly (text that is not UTF-8 without NUL, or a status that
// is none of the order statuses, is EINVALID). Limit defaults to 20 (when 0 or less) and
// is at most 100; a negative offset is 0.
func (db *DB) ListOrders(ctx context.Context, f ticketview.OrderFilter) ([]*ticketview.Order, int, error) {
	if !validText(f.Buyer) || !validText(f.Event) {
		return nil, 0, ticketview.Errorf(ticketview.EINVALID, "order filter text must be UTF-8 without NUL")
	}
	if f.Status != "" && !f.Status.Valid() {
		return nil, 0, ticketview.Errorf(ticketview.EINVALID, "unknown order status %q", f.Status)
	}
	if err := db.open(); err != nil {
		return nil, 0, err
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Buyer != "" {
		where = append(where, "buyer = "+arg(f.Buyer))
	}
	if f.Event != "" {
		where = append(where, "event = "+arg(f.Event))
	}
	if f.Status != "" {
		where = append(where, "status = "+arg(string(f.Status)))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)
	offset := max(f.Offset, 0)
	countArgs := append([]any(nil), args...)
	page := `SELECT ` + orderSelectCols + ` FROM orders` + cond + ` ORDER BY created_at DESC, id LIMIT ` + arg(limit) +
		` OFFSET ` + arg(offset)

	var out []*ticketview.Order
	var total int
	err := db.read(ctx, func(conn *pgx.Conn) error {
		out = []*ticketview.Order{}
		var err error
		total, err = readPage(ctx, conn, `SELECT count(*) FROM orders`+cond, countArgs, page, args, func(rows pgx.Rows) error {
			o, err := scanOrder(rows)
			if err != nil {
				return err
			}
			out = append(out, o)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, 0, storeErr("list orders", err)
	}
	return out, total, nil
}

// DueOrders returns up to limit orders the checkout service must look at: pending ones
// whose PayBy is at or before now, and expired ones that were paid; oldest PayBy first
// (then by id). limit defaults to 100 (when 0 or less) and is at most 1000.
func (db *DB) DueOrders(ctx context.Context, now time.Time, limit int) ([]*ticketview.Order, error) {
	if !storable(now) {
		return nil, ticketview.Errorf(ticketview.EINVALID, "due orders: the time must be between the years 1678 and 2262")
	}
	if err := db.open(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = defaultDueLimit
	}
	limit = min(limit, maxDueLimit)
	var out []*ticketview.Order
	err := db.read(ctx, func(conn *pgx.Conn) error {
		out = []*ticketview.Order{}
		rows, err := conn.Query(ctx, qDueOrders, unixNanos(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			o, err := scanOrder(rows)
			if err != nil {
				return err
			}
			out = append(out, o)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, storeErr("due orders", err)
	}
	return out, nil
}
