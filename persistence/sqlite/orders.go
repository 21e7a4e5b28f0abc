package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ticketview/ticketview"
)

var _ ticketview.OrderStore = (*DB)(nil)

// Orders are kept as their JSON (schema/0005_orders.sql) with copies of the fields the
// store looks them up, filters and orders by. Their writes go through the committer like
// every other write, and write the messages the order recorded (Order.TakeMessages) to
// the outbox in the same transaction.

// Limits of the order queries.
const (
	maxOrderKeyLen  = 255  // ids, idempotency keys, provider names and references
	defaultDueLimit = 100  // DueOrders without a limit
	maxDueLimit     = 1000 // the most orders one DueOrders answers
)

// Order queries. An order is read as orderSelectCols and written as orderInsertCols (see
// encodeOrder); an update writes every column but id and idem_key.
const (
	orderSelectCols  = `data, version, idem_key`
	orderInsertCols  = `id, buyer, event, status, pay_by, paid, provider, provider_order_id, idem_key, created_at, updated_at, version, data`
	orderUpdateAssns = `buyer = ?, event = ?, status = ?, pay_by = ?, paid = ?, provider = ?, provider_order_id = ?,
		created_at = ?, updated_at = ?, version = ?, data = ?`

	qOrder       = `SELECT ` + orderSelectCols + ` FROM orders WHERE id = ?`
	qOrderByIdem = `SELECT ` + orderSelectCols + ` FROM orders WHERE buyer = ? AND idem_key = ? AND idem_key <> ''`
	qOrderExists = `SELECT 1 FROM orders WHERE id = ?`
	qOrderByRef  = `SELECT ` + orderSelectCols + ` FROM orders WHERE provider = ? AND provider_order_id = ? AND provider_order_id <> ''
		ORDER BY created_at, id LIMIT 1`
	qInsOrder  = `INSERT INTO orders (` + orderInsertCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qUpdOrder  = `UPDATE orders SET ` + orderUpdateAssns + ` WHERE id = ?`
	qDueOrders = `SELECT ` + orderSelectCols + ` FROM (
			SELECT id, pay_by, ` + orderSelectCols + ` FROM orders WHERE status = 'pending_payment' AND pay_by <= ?
			UNION ALL
			SELECT id, pay_by, ` + orderSelectCols + ` FROM orders WHERE status = 'expired' AND paid = 1
		) ORDER BY pay_by, id LIMIT ?`
)

// validKeyText reports whether s can be a key of an order: at most maxOrderKeyLen bytes
// of UTF-8 without NUL.
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

// orderRow is an order's row: its columns in orderInsertCols order.
type orderRow []any

// encodeOrder makes the row of o.
func encodeOrder(o *ticketview.Order) (orderRow, error) {
	data, err := json.Marshal(o)
	if err != nil {
		return nil, ticketview.Errorf(ticketview.EINTERNAL, "encode order %q: %v", o.ID, err)
	}
	_, paid := o.Paid()
	return orderRow{o.ID, o.Buyer, o.Event, string(o.Status), unixNanos(o.PayBy), paid, o.Provider, o.ProviderOrderID,
		o.IdemKey, unixNanos(o.CreatedAt), unixNanos(o.UpdatedAt), o.Version, string(data)}, nil
}

// updateArgs are the arguments of qUpdOrder: the columns but id and idem_key, then id.
func (r orderRow) updateArgs() []any {
	args := make([]any, 0, len(r))
	args = append(args, r[1:8]...) // buyer ... provider_order_id
	args = append(args, r[9:]...)  // created_at ... data
	return append(args, r[0])
}

// scanOrder reads a row of orderSelectCols. The version and the idempotency key come from
// their columns.
func scanOrder(row scanner) (*ticketview.Order, error) {
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

// CreateOrder validates the order (EINVALID) and stores it with Version 1, writing the
// messages it recorded to the outbox in the same transaction. When the buyer already has
// an order with the same IdemKey (not empty), that order is returned with created false
// and nothing is written; the committer being the only writer, of concurrent creates
// with one key exactly one creates. A taken id is ECONFLICT.
func (db *DB) CreateOrder(ctx context.Context, o *ticketview.Order) (*ticketview.Order, bool, error) {
	if err := checkOrder(o); err != nil {
		return nil, false, err
	}
	msgs := o.TakeMessages()
	if err := checkMessages(msgs); err != nil {
		return nil, false, err
	}
	o.Version = 1
	row, err := encodeOrder(o)
	if err != nil {
		return nil, false, err
	}
	id, buyer, key := o.ID, o.Buyer, o.IdemKey
	var existing *ticketview.Order
	err = db.do(ctx, "", func(b *batch) error {
		// The committer is the only writer: what it reads here stays true until it writes.
		if key != "" {
			s, err := b.c.prepared(qOrderByIdem)
			if err != nil {
				return b.fail(err)
			}
			switch got, err := scanOrder(s.QueryRowContext(bg, buyer, key)); {
			case err == nil:
				existing = got
				return nil
			case isDomainErr(err): // a corrupt record
				return err
			case !errors.Is(err, sql.ErrNoRows):
				return b.fail(fmt.Errorf("create order %s: %w", id, err))
			}
		}
		s, err := b.c.prepared(qOrderExists)
		if err != nil {
			return b.fail(err)
		}
		var one int
		switch err := s.QueryRowContext(bg, id).Scan(&one); {
		case err == nil:
			return ticketview.Errorf(ticketview.ECONFLICT, "order %q already exists", id)
		case !errors.Is(err, sql.ErrNoRows):
			return b.fail(fmt.Errorf("create order %s: %w", id, err))
		}
		if _, err := b.exec("create order "+id, qInsOrder, row...); err != nil {
			return err
		}
		return b.addMessages(msgs)
	})
	if err != nil {
		return nil, false, err
	}
	if existing != nil {
		return existing, false, nil
	}
	return o, true, nil
}

// FindOrder returns the order, or ENOTFOUND.
func (db *DB) FindOrder(ctx context.Context, id string) (*ticketview.Order, error) {
	return db.findOrder(ctx, qOrder, fmt.Sprintf("order %q", id), id)
}

// FindOrderByProviderRef returns the order with the provider's order id (the first one
// created, should there be several), or ENOTFOUND.
func (db *DB) FindOrderByProviderRef(ctx context.Context, provider, ref string) (*ticketview.Order, error) {
	return db.findOrder(ctx, qOrderByRef, fmt.Sprintf("order with %s reference %q", provider, ref), provider, ref)
}

func (db *DB) findOrder(ctx context.Context, query, what string, args ...any) (*ticketview.Order, error) {
	s, err := db.readStmt(ctx, query)
	if err != nil {
		return nil, unavailable("find order", err)
	}
	o, err := scanOrder(s.QueryRowContext(ctx, args...))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "%s not found", what)
	case isDomainErr(err): // a corrupt record
		return nil, err
	case err != nil:
		return nil, unavailable("find order", err)
	}
	return o, nil
}

// UpdateOrder loads the order, calls fn on it, validates the result and saves it with
// Version one more and the messages fn's changes recorded, all in one transaction of the
// committer: updates of an order run one after the other and none is lost. If fn fails,
// nothing is written and its error is returned as is; a missing order is ENOTFOUND (fn
// is not called); a changed id or an invalid result is EINVALID. The IdemKey stays as it
// was stored. fn runs on the committer's goroutine: it must be quick and must not call
// the store.
func (db *DB) UpdateOrder(ctx context.Context, id string, fn func(*ticketview.Order) error) (*ticketview.Order, error) {
	if fn == nil {
		return nil, ticketview.Errorf(ticketview.EINVALID, "no update function")
	}
	var out *ticketview.Order
	var panicked any
	err := db.do(ctx, "", func(b *batch) error {
		s, err := b.c.prepared(qOrder)
		if err != nil {
			return b.fail(err)
		}
		o, err := scanOrder(s.QueryRowContext(bg, id))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return ticketview.Errorf(ticketview.ENOTFOUND, "order %q not found", id)
		case isDomainErr(err): // a corrupt record
			return err
		case err != nil:
			return b.fail(fmt.Errorf("update order %s: %w", id, err))
		}
		version, key := o.Version, o.IdemKey
		if err := callSafely(fn, o, &panicked); err != nil {
			return err
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
		row, err := encodeOrder(o)
		if err != nil {
			return err
		}
		if _, err := b.exec("update order "+id, qUpdOrder, row.updateArgs()...); err != nil {
			return err
		}
		if err := b.addMessages(msgs); err != nil {
			return err
		}
		out = o
		return nil
	})
	if panicked != nil {
		panic(panicked) // on the caller's goroutine, not the committer's
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

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
	var where []string
	var args []any
	if f.Buyer != "" {
		where, args = append(where, "buyer = ?"), append(args, f.Buyer)
	}
	if f.Event != "" {
		where, args = append(where, "event = ?"), append(args, f.Event)
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(f.Status))
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

	// Prepared before the transaction: see readStmt. There are 8 shapes of filter.
	countStmt, err := db.readStmt(ctx, `SELECT count(*) FROM orders`+cond)
	if err != nil {
		return nil, 0, unavailable("list orders", err)
	}
	pageStmt, err := db.readStmt(ctx, `SELECT `+orderSelectCols+` FROM orders`+cond+` ORDER BY created_at DESC, id LIMIT ? OFFSET ?`)
	if err != nil {
		return nil, 0, unavailable("list orders", err)
	}
	tx, err := db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, unavailable("list orders", err)
	}
	defer tx.Rollback()
	var total int
	if err := tx.StmtContext(ctx, countStmt).QueryRowContext(ctx, args...).Scan(&total); err != nil {
		return nil, 0, unavailable("list orders", err)
	}
	out, err := queryOrders(ctx, tx.StmtContext(ctx, pageStmt), "list orders", append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
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
	if limit <= 0 {
		limit = defaultDueLimit
	}
	limit = min(limit, maxDueLimit)
	s, err := db.readStmt(ctx, qDueOrders)
	if err != nil {
		return nil, unavailable("due orders", err)
	}
	return queryOrders(ctx, s, "due orders", unixNanos(now), limit)
}

// queryOrders runs a query of orderSelectCols rows.
func queryOrders(ctx context.Context, s *sql.Stmt, op string, args ...any) ([]*ticketview.Order, error) {
	rows, err := s.QueryContext(ctx, args...)
	if err != nil {
		return nil, unavailable(op, err)
	}
	defer rows.Close()
	out := []*ticketview.Order{}
	for rows.Next() {
		o, err := scanOrder(rows)
		if isDomainErr(err) { // a corrupt record
			return nil, err
		} else if err != nil {
			return nil, unavailable(op, err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, err)
	}
	return out, nil
}

// isDomainErr reports whether err is (or wraps) a *ticketview.Error: the store's own
// verdict, as opposed to a failure of the database.
func isDomainErr(err error) bool {
	var te *ticketview.Error
	return errors.As(err, &te)
}
