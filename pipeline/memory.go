package pipeline

import (
	"context"
	"slices"
	"sync"

	"go.uber.org/zap"

	"github.com/ticketview/ticketview"
)

var (
	_ ticketview.MessageSink   = (*MemoryLog)(nil)
	_ ticketview.MessageSource = (*MemoryLog)(nil)
	_ ticketview.MessageLog    = (*MemoryLog)(nil)
	_ ticketview.Outbox        = (*MemoryOutbox)(nil)
)

// checkMessages reports a message without a topic as EINVALID.
func checkMessages(op string, msgs []ticketview.Message) error {
	for i := range msgs {
		if msgs[i].Topic == "" {
			return ticketview.Errorf(ticketview.EINVALID, "%s: message %d has no topic", op, i)
		}
	}
	return nil
}

// MemoryLog is an append-only message log in memory, with the consumer groups' offsets:
// the sink and source of a node that runs without Kafka (relay → MemoryLog → workers in
// the same process), and a log for tests. It is one partition: every message has the
// next offset (from 1), and groups get them all in that order. Consumers waiting for
// messages are woken when some are published. Nothing survives the process. It is safe
// for concurrent use.
type MemoryLog struct {
	// Log, if set before use, gets the consumers' warnings (handler failures).
	Log *zap.Logger

	mu       sync.Mutex
	msgs     []ticketview.Message // msgs[i] has offset i+1
	groups   map[string]int64
	appended signal
}

// NewMemoryLog returns an empty log.
func NewMemoryLog() *MemoryLog { return &MemoryLog{} }

// Publish implements ticketview.MessageSink: it appends msgs, giving them the next
// offsets, and wakes the consumers. A message without a topic is EINVALID and nothing is
// appended.
func (l *MemoryLog) Publish(ctx context.Context, msgs []ticketview.Message) error {
	if err := checkMessages("memory log: publish", msgs); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "memory log: publish: %v", err)
	}
	l.mu.Lock()
	for _, m := range msgs {
		m.Value = slices.Clone(m.Value)
		m.Offset, m.Partition = int64(len(l.msgs))+1, 0
		l.msgs = append(l.msgs, m)
	}
	l.mu.Unlock()
	l.appended.notify()
	return nil
}

// Messages returns a copy of the log's messages, in order.
func (l *MemoryLog) Messages() []ticketview.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.msgs)
}

// ReadMessages implements ticketview.MessageLog: up to limit (default 100) messages of
// the topics (of all topics if none is given) after offset, in order.
func (l *MemoryLog) ReadMessages(ctx context.Context, after int64, topics []string, limit int) ([]ticketview.Message, error) {
	if limit <= 0 {
		limit = DefaultLogBatch
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []ticketview.Message
	for i := max(after, 0); i < int64(len(l.msgs)) && len(out) < limit; i++ {
		if m := l.msgs[i]; len(topics) == 0 || slices.Contains(topics, m.Topic) {
			out = append(out, m)
		}
	}
	return out, nil
}

// GroupOffset implements ticketview.MessageLog.
func (l *MemoryLog) GroupOffset(ctx context.Context, group string) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.groups[group], nil
}

// CommitGroupOffset implements ticketview.MessageLog. An empty group or a negative
// offset is EINVALID.
func (l *MemoryLog) CommitGroupOffset(ctx context.Context, group string, offset int64) error {
	if group == "" || offset < 0 {
		return ticketview.Errorf(ticketview.EINVALID, "memory log: commit needs a group and an offset ≥ 0")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.groups == nil {
		l.groups = map[string]int64{}
	}
	l.groups[group] = offset
	return nil
}

// Consume implements ticketview.MessageSource: see LogSource, whose behaviour it has,
// except that a group that has read everything waits for the next Publish.
func (l *MemoryLog) Consume(ctx context.Context, group string, topics []string, h ticketview.MessageHandler) error {
	return consumeLog(ctx, logConsumer{
		log: l, group: group, topics: topics, h: h, logger: l.Log,
		woken: l.appended.wait,
		wait: func(ctx context.Context, woken <-chan struct{}) {
			select {
			case <-woken:
			case <-ctx.Done():
			}
		},
	})
}

// MemoryOutbox is a ticketview.Outbox in memory: messages get increasing offsets (from
// 1) when appended and are pending until marked published. It is safe for concurrent
// use; its zero value is empty and ready to use.
type MemoryOutbox struct {
	mu        sync.Mutex
	last      int64
	pending   []ticketview.Message // in offset order
	published int
}

// AppendMessages implements ticketview.Outbox. A message without a topic is EINVALID and
// nothing is appended.
func (o *MemoryOutbox) AppendMessages(ctx context.Context, msgs []ticketview.Message) error {
	if err := checkMessages("memory outbox: append", msgs); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range msgs {
		o.last++
		m.Value = slices.Clone(m.Value)
		m.Offset, m.Partition = o.last, 0
		o.pending = append(o.pending, m)
	}
	return nil
}

// PendingMessages implements ticketview.Outbox: up to limit (default 100) of the
// messages not yet published, oldest first.
func (o *MemoryOutbox) PendingMessages(ctx context.Context, limit int) ([]ticketview.Message, error) {
	if limit <= 0 {
		limit = DefaultLogBatch
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.pending[:min(limit, len(o.pending))]), nil
}

// MarkPublished implements ticketview.Outbox. Offsets of no pending message are ignored.
func (o *MemoryOutbox) MarkPublished(ctx context.Context, offsets []int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	marked := make(map[int64]bool, len(offsets))
	for _, off := range offsets {
		marked[off] = true
	}
	n := len(o.pending)
	o.pending = slices.DeleteFunc(o.pending, func(m ticketview.Message) bool { return marked[m.Offset] })
	o.published += n - len(o.pending)
	return nil
}

// Counts reports how many messages are pending and how many were marked published.
func (o *MemoryOutbox) Counts() (pending, published int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending), o.published
}
