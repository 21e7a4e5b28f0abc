package kafka

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/ticketview/ticketview"
)

var _ ticketview.MessageSource = (*Consumer)(nil)

// Pauses of the consumer: before a failed message is handled again (doubling from
// retryMin to retryMax), and before it joins its group again after a failure.
const (
	retryMin  = 100 * time.Millisecond
	retryMax  = 5 * time.Second
	rejoinMax = 5 * time.Second
)

// CommitInterval is how often a consumer commits the offsets of the messages handled
// since its last commit; it also commits when its session ends.
const CommitInterval = time.Second

// Consumer consumes topics in consumer groups. It is safe for concurrent use: each
// Consume call is a member of its group with a connection of its own.
type Consumer struct {
	cfg Config

	mu       sync.Mutex
	isClosed bool
	closed   chan struct{}  // closed by Close: running Consume calls end
	running  sync.WaitGroup // the Consume calls
}

// NewConsumer returns a consumer of the cluster of cfg. It connects when Consume is
// called.
func NewConsumer(cfg Config) (*Consumer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Consumer{cfg: cfg, closed: make(chan struct{})}, nil
}

// Close ends the running Consume calls as if their contexts had ended (each commits what
// it handled and leaves its group) and waits for them to return. Consume returns
// EUNAVAILABLE once the consumer is closed.
func (c *Consumer) Close() error {
	c.mu.Lock()
	if !c.isClosed {
		c.isClosed = true
		close(c.closed)
	}
	c.mu.Unlock()
	c.running.Wait()
	return nil
}

// start registers a Consume call and returns its context, which also ends when the
// consumer is closed, and the function that ends the call; false if the consumer is
// closed.
func (c *Consumer) start(ctx context.Context) (context.Context, func(), bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isClosed {
		return nil, nil, false
	}
	c.running.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-c.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(); c.running.Done() }, true
}

// consumerConfig is a group member that starts at the oldest offset and commits marked
// offsets every CommitInterval.
func consumerConfig(cfg Config) *sarama.Config {
	sc := cfg.saramaConfig()
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Offsets.AutoCommit.Enable = true
	sc.Consumer.Offsets.AutoCommit.Interval = CommitInterval
	sc.Consumer.Return.Errors = true
	return sc
}

// Consume implements ticketview.MessageSource: it joins group as a member consuming
// topics and calls h for each message, in order per partition, until ctx ends; it then
// commits what was handled, leaves the group and returns nil. After a rebalance, or a
// failure to reach the brokers (logged), it joins the group again. Only an empty group
// name, no topics or a nil handler make it return early, with EINVALID.
func (c *Consumer) Consume(ctx context.Context, group string, topics []string, h ticketview.MessageHandler) error {
	if group == "" || len(topics) == 0 || h == nil {
		return ticketview.Errorf(ticketview.EINVALID, "kafka: consume needs a group, topics and a handler")
	}
	for _, t := range topics {
		if t == "" {
			return ticketview.Errorf(ticketview.EINVALID, "kafka: consume: an empty topic name")
		}
	}
	ctx, done, ok := c.start(ctx)
	if !ok {
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "kafka: unavailable: the consumer is closed")
	}
	defer done()
	log := c.cfg.Log.With(zap.String("group", group), zap.Strings("topics", topics))
	pause := retryMin
	for ctx.Err() == nil {
		err := c.consumeOnce(ctx, group, topics, h, log)
		if err == nil || ctx.Err() != nil {
			pause = retryMin
			continue
		}
		log.Warn("kafka: consumer group failed; joining again", zap.Error(err), zap.Duration("after", pause))
		if !sleep(ctx, pause) {
			break
		}
		pause = min(2*pause, rejoinMax)
	}
	return nil
}

// consumeOnce connects a group member and runs its sessions until ctx ends or the member
// fails.
func (c *Consumer) consumeOnce(ctx context.Context, group string, topics []string, h ticketview.MessageHandler, log *zap.Logger) error {
	cg, err := sarama.NewConsumerGroup(c.cfg.Brokers, group, consumerConfig(c.cfg))
	if err != nil {
		return unavailable("join group "+group, err)
	}
	errsDone := make(chan struct{})
	go func() {
		defer close(errsDone)
		for err := range cg.Errors() {
			log.Warn("kafka: consumer error", zap.Error(err))
		}
	}()
	defer func() {
		if err := cg.Close(); err != nil {
			log.Warn("kafka: leaving the group", zap.Error(err))
		}
		<-errsDone
	}()
	gh := &groupHandler{h: h, log: log}
	for ctx.Err() == nil {
		// Consume returns at the end of each session (a rebalance): join again.
		if err := cg.Consume(ctx, topics, gh); err != nil {
			if ctx.Err() != nil || errors.Is(err, sarama.ErrClosedConsumerGroup) {
				return nil
			}
			return unavailable("consume", err)
		}
	}
	return nil
}

// groupHandler runs the handler on the messages of a session's claims.
type groupHandler struct {
	h   ticketview.MessageHandler
	log *zap.Logger
}

// Setup implements sarama.ConsumerGroupHandler.
func (g *groupHandler) Setup(sarama.ConsumerGroupSession) error { return nil }

// Cleanup implements sarama.ConsumerGroupHandler: it commits the offsets marked since
// the last commit, once every claim has stopped.
func (g *groupHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	s.Commit()
	return nil
}

// ConsumeClaim implements sarama.ConsumerGroupHandler: each message of the claim is
// handled until its handler succeeds, then marked. It returns when the session ends
// (the message being retried is then left unmarked) or the claim's messages end.
func (g *groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	ctx := s.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case cm, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			if !g.handle(ctx, cm) {
				return nil
			}
			s.MarkMessage(cm, "")
		}
	}
}

// handle calls the handler with cm until it returns nil (true) or ctx ends (false),
// pausing between attempts.
func (g *groupHandler) handle(ctx context.Context, cm *sarama.ConsumerMessage) bool {
	m := ticketview.Message{
		Topic:     cm.Topic,
		Key:       string(cm.Key),
		Value:     cm.Value,
		Offset:    cm.Offset,
		Partition: cm.Partition,
	}
	pause := retryMin
	for {
		err := g.h(ctx, m)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		g.log.Warn("kafka: handler failed; retrying the message",
			zap.String("topic", m.Topic), zap.Int32("partition", m.Partition), zap.Int64("offset", m.Offset),
			zap.Error(err), zap.Duration("after", pause))
		if !sleep(ctx, pause) {
			return false
		}
		pause = min(2*pause, retryMax)
	}
}

// sleep waits for d, or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
