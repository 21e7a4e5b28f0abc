package pipeline

import (
	"context"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ticketview/ticketview"
)

// Defaults of LogSource.
const (
	DefaultPoll     = 200 * time.Millisecond
	DefaultLogBatch = 100
)

var _ ticketview.MessageSource = (*LogSource)(nil)

// LogSource serves consumer groups from a message log (the embedded default's outbox):
// each group reads the log's messages of its topics after the offset it committed, in
// order, and commits each message's offset once its handler returned nil. A handler
// error makes it call the handler again with the same message after a pause (100 ms,
// doubling up to 5 s); the messages after it wait. When a group has read everything it
// polls the log every Poll, or sooner after a Wake. Its zero value with Log set is ready
// to use; it is safe for concurrent use by several groups.
type LogSource struct {
	Log    ticketview.MessageLog
	Poll   time.Duration // default 200 ms
	Batch  int           // the most messages read at once (default 100)
	Logger *zap.Logger   // default: no logging
	// Concurrency names the groups whose handler may take the messages of a batch at
	// once, and how many at a time. Such a handler must be idempotent and indifferent
	// to order (the analytics worker is: its counters are applied once per message id):
	// the messages of a batch are handled concurrently, and after a failure the batch goes
	// on one message at a time from the first message that failed, handling again those
	// after it that had succeeded. A store that commits in groups (the embedded
	// default's) then writes a batch in a few transactions instead of one a message.
	// The offset is committed after the batch, as for the other groups.
	Concurrency map[string]int

	changed signal
}

// Wake tells the groups waiting for messages that some were written: they read the log
// now.
func (s *LogSource) Wake() { s.changed.notify() }

// Consume implements ticketview.MessageSource. It returns nil when ctx ends; no group,
// no topics, no handler or no Log are EINVALID.
func (s *LogSource) Consume(ctx context.Context, group string, topics []string, h ticketview.MessageHandler) error {
	if s.Log == nil {
		return ticketview.Errorf(ticketview.EINVALID, "log source: no log")
	}
	poll := s.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	return consumeLog(ctx, logConsumer{
		log: s.Log, group: group, topics: topics, h: h, batch: s.Batch, logger: s.Logger,
		concurrency: s.Concurrency[group],
		wait: func(ctx context.Context, woken <-chan struct{}) {
			t := time.NewTimer(poll)
			defer t.Stop()
			select {
			case <-t.C:
			case <-woken:
			case <-ctx.Done():
			}
		},
		woken: s.changed.wait,
	})
}

// logConsumer is a consumer group's reading of a message log.
type logConsumer struct {
	log    ticketview.MessageLog
	group  string
	topics []string
	h      ticketview.MessageHandler
	batch  int
	logger *zap.Logger
	// concurrency > 1: a batch's messages are handled that many at a time first (see
	// LogSource.Concurrency).
	concurrency int
	// woken returns a channel closed when messages are written; wait waits, when the
	// group has read everything, for it, a poll interval or the end of ctx.
	woken func() <-chan struct{}
	wait  func(ctx context.Context, woken <-chan struct{})
}

// consumeLog runs c until ctx ends.
func consumeLog(ctx context.Context, c logConsumer) error {
	if c.group == "" || len(c.topics) == 0 || c.h == nil {
		return ticketview.Errorf(ticketview.EINVALID, "consume needs a group, topics and a handler")
	}
	if c.batch <= 0 {
		c.batch = DefaultLogBatch
	}
	if c.logger == nil {
		c.logger = zap.NewNop()
	}
	c.logger = c.logger.With(zap.String("group", c.group), zap.Strings("topics", c.topics))
	after, ok := c.start(ctx)
	if !ok {
		return nil
	}
	committed := after
	// Offsets are committed after each batch, and before a failed message is retried
	// or the group stops: a crash delivers at most a batch again.
	commit := func() {
		if after > committed && c.commit(ctx, after) {
			committed = after
		}
	}
	defer commit()
	var bo backoff
	for ctx.Err() == nil {
		woken := c.woken()
		msgs, err := c.log.ReadMessages(ctx, after, c.topics, c.batch)
		if err != nil {
			c.fail(ctx, &bo, "read the log", err)
			continue
		}
		bo.reset()
		if len(msgs) == 0 {
			c.wait(ctx, woken)
			continue
		}
		if c.concurrency > 1 && len(msgs) > 1 {
			done := handleAll(ctx, c.h, msgs, c.concurrency)
			after = max(after, lastOffset(msgs[:done]))
			msgs = msgs[done:]
		}
		for _, m := range msgs {
			if err := c.h(ctx, m); err != nil {
				commit()
				if !c.retry(ctx, m, err) {
					return nil
				}
			}
			after = m.Offset
		}
		commit()
	}
	return nil
}

// start returns the group's committed offset, retrying until ctx ends (false).
func (c *logConsumer) start(ctx context.Context) (int64, bool) {
	var bo backoff
	for ctx.Err() == nil {
		off, err := c.log.GroupOffset(ctx, c.group)
		if err == nil {
			return off, true
		}
		c.fail(ctx, &bo, "read the group's offset", err)
	}
	return 0, false
}

// retry calls the handler with m, which failed with err, until it returns nil (true) or
// ctx ends (false), pausing between attempts.
func (c *logConsumer) retry(ctx context.Context, m ticketview.Message, err error) bool {
	var bo backoff
	for {
		if ctx.Err() != nil {
			return false
		}
		c.fail(ctx, &bo, "handle message "+m.Topic+"#"+strconv.FormatInt(m.Offset, 10), err)
		if err = c.h(ctx, m); err == nil {
			return true
		}
	}
}

// commit records the group's offset, even though ctx may have ended. A failure is only
// logged (false): the next commit covers it, and at worst messages are delivered again.
func (c *logConsumer) commit(ctx context.Context, off int64) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	if err := c.log.CommitGroupOffset(ctx, c.group, off); err != nil {
		c.logger.Warn("commit the group's offset", zap.Int64("offset", off), zap.Error(err))
		return false
	}
	return true
}

// fail logs a failed attempt and pauses before the next.
func (c *logConsumer) fail(ctx context.Context, bo *backoff, op string, err error) {
	if ctx.Err() != nil {
		return
	}
	d := bo.next()
	c.logger.Warn(op+" failed; retrying", zap.Error(err), zap.Duration("after", d))
	sleep(ctx, d)
}

// handleAll handles msgs at most n at a time and returns how many of them, from the
// first, succeeded without a failure before them.
func handleAll(ctx context.Context, h ticketview.MessageHandler, msgs []ticketview.Message, n int) int {
	failed := make([]bool, len(msgs))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i := range msgs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			failed[i] = h(ctx, msgs[i]) != nil
		}()
	}
	wg.Wait()
	done := 0
	for done < len(msgs) && !failed[done] {
		done++
	}
	return done
}

// lastOffset is the offset of the last message (0 for none).
func lastOffset(msgs []ticketview.Message) int64 {
	if len(msgs) == 0 {
		return 0
	}
	return msgs[len(msgs)-1].Offset
}
