package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/ticketview/ticketview"
)

var (
	_ ticketview.Outbox     = (*DB)(nil)
	_ ticketview.MessageLog = (*DB)(nil)
)

// The outbox (schema/0005_orders.sql) gets the messages of orders and events in the
// transactions that change them, and those of the section journals through
// AppendMessages. The committer being the only writer, row ids grow in commit order: a
// reader that has seen id n will never see a new row below it, so the table is also the
// embedded default's message log, which consumer groups read by position
// (ReadMessages, GroupOffset, CommitGroupOffset).

// Limits of the outbox's reads.
const (
	defaultMessageLimit = 100  // messages answered when the caller gives no limit
	maxMessageLimit     = 1000 // the most messages one read answers
	maxTopics           = 64   // the most topics one ReadMessages filters on
)

const (
	qPendingMessages = `SELECT id, topic, key, value FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT ?`
	qGroupOffset     = `SELECT "offset" FROM consumer_offsets WHERE group_name = ?`
	qPutGroupOffset  = `INSERT INTO consumer_offsets (group_name, "offset") VALUES (?, ?)
		ON CONFLICT (group_name) DO UPDATE SET "offset" = excluded."offset"`
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

// addMessages writes messages to the outbox in the batch's transaction, in order: the rows
// of a multi-row INSERT go in in order, so their ids (the offsets) follow msgs.
func (b *batch) addMessages(msgs []ticketview.Message) error {
	now := time.Now().UnixNano()
	return b.execRows("write the outbox", insMessages, len(msgs), func(args []any, i int) []any {
		m := &msgs[i]
		return append(args, m.Topic, m.Key, string(m.Value), now)
	})
}

// messageLimit is limit with its default and bound.
func messageLimit(limit int) int {
	if limit <= 0 {
		return defaultMessageLimit
	}
	return min(limit, maxMessageLimit)
}

// AppendMessages validates the messages (EINVALID: see checkMessages) and writes them
// to the outbox, in order, in one transaction of the committer.
func (db *DB) AppendMessages(ctx context.Context, msgs []ticketview.Message) error {
	if err := checkMessages(msgs); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	msgs = slices.Clone(msgs) // the caller may reuse its slice once we return
	return db.do(ctx, "", func(b *batch) error { return b.addMessages(msgs) })
}

// PendingMessages returns up to limit messages not yet published, in the order they were
// written, with Offset their row id. limit defaults to 100 (when 0 or less) and is at
// most 1000.
func (db *DB) PendingMessages(ctx context.Context, limit int) ([]ticketview.Message, error) {
	s, err := db.readStmt(ctx, qPendingMessages)
	if err != nil {
		return nil, unavailable("pending messages", err)
	}
	return queryMessages(ctx, s, "pending messages", messageLimit(limit))
}

// MarkPublished marks the messages with these offsets (row ids) published, in one
// transaction of the committer; offsets of no message, or of a message already
// published, are ignored.
func (db *DB) MarkPublished(ctx context.Context, offsets []int64) error {
	ids := slices.Clone(offsets)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return nil
	}
	return db.do(ctx, "", func(b *batch) error {
		now := time.Now().UnixNano()
		for rest := ids; len(rest) > 0; {
			n := min(len(rest), maxRowsPerStmt)
			args := make([]any, 0, n+1)
			args = append(args, now)
			for _, id := range rest[:n] {
				args = append(args, id)
			}
			q := `UPDATE outbox SET published_at = ? WHERE published_at IS NULL AND id IN (` + repeat("?", n) + `)`
			if _, err := b.exec("mark messages published", q, args...); err != nil {
				return err
			}
			rest = rest[n:]
		}
		return nil
	})
}

// ReadMessages returns up to limit messages of the topics (of every topic when topics is
// empty) written after offset, in the order they were written, with Offset their row id,
// published or not. limit defaults to 100 (when 0 or less) and is at most 1000; more than
// 64 topics, or one that is not UTF-8 without NUL, is EINVALID.
func (db *DB) ReadMessages(ctx context.Context, after int64, topics []string, limit int) ([]ticketview.Message, error) {
	ts := slices.Clone(topics)
	slices.Sort(ts)
	ts = slices.Compact(ts)
	if len(ts) > maxTopics {
		return nil, ticketview.Errorf(ticketview.EINVALID, "read messages: at most %d topics", maxTopics)
	}
	args := []any{max(after, 0)}
	q := `SELECT id, topic, key, value FROM outbox WHERE id > ?`
	if len(ts) > 0 {
		for _, t := range ts {
			if !validText(t) {
				return nil, ticketview.Errorf(ticketview.EINVALID, "read messages: topics must be UTF-8 without NUL")
			}
			args = append(args, t)
		}
		q += ` AND topic IN (` + repeat("?", len(ts)) + `)`
	}
	q += ` ORDER BY id LIMIT ?`
	s, err := db.readStmt(ctx, q)
	if err != nil {
		return nil, unavailable("read messages", err)
	}
	return queryMessages(ctx, s, "read messages", append(args, messageLimit(limit))...)
}

// queryMessages runs a query of (id, topic, key, value) rows.
func queryMessages(ctx context.Context, s *sql.Stmt, op string, args ...any) ([]ticketview.Message, error) {
	rows, err := s.QueryContext(ctx, args...)
	if err != nil {
		return nil, unavailable(op, err)
	}
	defer rows.Close()
	out := []ticketview.Message{}
	for rows.Next() {
		var m ticketview.Message
		var value string
		if err := rows.Scan(&m.Offset, &m.Topic, &m.Key, &value); err != nil {
			return nil, unavailable(op, err)
		}
		m.Value = []byte(value)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, err)
	}
	return out, nil
}

// checkGroup validates a consumer group's name.
func checkGroup(group string) error {
	if group == "" || !validKeyText(group) {
		return ticketview.Errorf(ticketview.EINVALID, "consumer group %q: the name must be 1 to %d bytes of UTF-8 without NUL", group, maxOrderKeyLen)
	}
	return nil
}

// GroupOffset returns the last offset the consumer group committed, 0 when it never did.
func (db *DB) GroupOffset(ctx context.Context, group string) (int64, error) {
	if err := checkGroup(group); err != nil {
		return 0, err
	}
	s, err := db.readStmt(ctx, qGroupOffset)
	if err != nil {
		return 0, unavailable("group offset", err)
	}
	var off int64
	switch err := s.QueryRowContext(ctx, group).Scan(&off); {
	case err == nil:
		return off, nil
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	default:
		return 0, unavailable("group offset", err)
	}
}

// CommitGroupOffset records offset as the consumer group's position (a negative offset
// is EINVALID), in a transaction of the committer.
func (db *DB) CommitGroupOffset(ctx context.Context, group string, offset int64) error {
	if err := checkGroup(group); err != nil {
		return err
	}
	if offset < 0 {
		return ticketview.Errorf(ticketview.EINVALID, "consumer group %q: negative offset %d", group, offset)
	}
	return db.do(ctx, "", func(b *batch) error {
		_, err := b.exec("commit group offset "+group, qPutGroupOffset, group, offset)
		return err
	})
}
