package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/ticketview/ticketview"
)

var _ ticketview.Outbox = (*DB)(nil)

// The outbox table (migrations/0001) gets the section events' messages from the
// committers (projection.go), and those of orders and events in the transactions that
// change them; its relay reads it here. Its payload is jsonb: a message's value comes
// back as the same JSON value, not necessarily the same bytes (jsonb orders an object's
// keys its own way).

// Limits of the outbox's reads.
const (
	defaultMessageLimit = 100  // messages answered when the caller gives no limit
	maxMessageLimit     = 1000 // the most messages one read answers
)

const (
	// qInsMessages writes messages in order: ids are taken in the order of the arrays.
	qInsMessages = `INSERT INTO outbox (topic, key, payload)
		SELECT k.topic, k.key, k.payload::jsonb
		FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(topic, key, payload, n)
		ORDER BY k.n`
	qPendingMessages = `SELECT id, topic, key, payload::text FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1`
	qMarkPublished   = `UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[]) AND published_at IS NULL`
)

// checkMessages validates messages before they are written: EINVALID unless each has a
// topic, its topic and key are short UTF-8 text and its value is JSON.
func checkMessages(msgs []ticketview.Message) error {
	for i := range msgs {
		m := &msgs[i]
		switch {
		case m.Topic == "" || !validKeyText(m.Topic) || !validKeyText(m.Key):
			return ticketview.Errorf(ticketview.EINVALID, "message %d: the topic and key must be UTF-8 without NUL, at most %d bytes, and the topic not empty", i, maxOrderKeyLen)
		case !json.Valid(m.Value):
			return ticketview.Errorf(ticketview.EINVALID, "message %d (%s): the value is not JSON", i, m.Topic)
		}
	}
	return nil
}

// insertMessages writes messages to the outbox in tx, in order, with one statement.
func insertMessages(ctx context.Context, tx pgx.Tx, msgs []ticketview.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, qInsMessages, messageArgs(msgs)...)
	return err
}

// queueMessages queues the statement that writes messages to the outbox, in order.
func queueMessages(b *pgx.Batch, msgs []ticketview.Message) {
	if len(msgs) > 0 {
		b.Queue(qInsMessages, messageArgs(msgs)...)
	}
}

// messageArgs are the arguments of qInsMessages.
func messageArgs(msgs []ticketview.Message) []any {
	topics, keys, values := make([]string, len(msgs)), make([]string, len(msgs)), make([]string, len(msgs))
	for i, m := range msgs {
		topics[i], keys[i], values[i] = m.Topic, m.Key, string(m.Value)
	}
	return []any{topics, keys, values}
}

// AppendMessages validates the messages (EINVALID: see checkMessages) and writes them
// to the outbox, in order, in one transaction.
func (db *DB) AppendMessages(ctx context.Context, msgs []ticketview.Message) error {
	if err := checkMessages(msgs); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := db.open(); err != nil {
		return err
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error { return insertMessages(ctx, tx, msgs) })
	return writeErr("append messages", err)
}

// PendingMessages returns up to limit messages not yet published, in id order, with
// Offset their row id. limit defaults to 100 (when 0 or less) and is at most 1000. Ids
// are taken when rows are written, not when they commit: a row of a transaction still
// running may appear later with a lower id than rows already answered (rows of one key
// are written one transaction after the other, so they keep their order).
func (db *DB) PendingMessages(ctx context.Context, limit int) ([]ticketview.Message, error) {
	if err := db.open(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = defaultMessageLimit
	}
	limit = min(limit, maxMessageLimit)
	var out []ticketview.Message
	err := db.read(ctx, func(conn *pgx.Conn) error {
		out = []ticketview.Message{}
		rows, err := conn.Query(ctx, qPendingMessages, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m ticketview.Message
			var payload []byte
			if err := rows.Scan(&m.Offset, &m.Topic, &m.Key, &payload); err != nil {
				return err
			}
			var b bytes.Buffer
			if json.Compact(&b, payload) == nil { // jsonb's text has spaces after ':' and ','
				payload = b.Bytes()
			}
			m.Value = payload
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, storeErr("pending messages", err)
	}
	return out, nil
}

// MarkPublished marks the messages with these offsets (row ids) published; offsets of no
// message, or of a message already published, are ignored.
func (db *DB) MarkPublished(ctx context.Context, offsets []int64) error {
	ids := slices.Clone(offsets)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return nil
	}
	if err := db.open(); err != nil {
		return err
	}
	_, err := db.pool.Exec(ctx, qMarkPublished, ids)
	return storeErr("mark messages published", err)
}
