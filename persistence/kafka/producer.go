package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/ticketview/ticketview"
)

var _ ticketview.MessageSink = (*Producer)(nil)

// Producer publishes messages to Kafka with the idempotent producer. It is safe for
// concurrent use.
type Producer struct {
	cfg Config
	sp  sarama.SyncProducer

	mu     sync.RWMutex // held (read) by Publish while it sends; Close takes it to close sp
	closed bool
}

// NewProducer connects a producer to the brokers of cfg. It fails with EUNAVAILABLE if
// none can be reached.
func NewProducer(cfg Config) (*Producer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	sp, err := sarama.NewSyncProducer(cfg.Brokers, producerConfig(cfg))
	if err != nil {
		return nil, unavailable("connect the producer", err)
	}
	return &Producer{cfg: cfg, sp: sp}, nil
}

// producerConfig is sarama's idempotent producer: acknowledged by all in-sync replicas,
// one request in flight per broker (so retries keep the order), retried, and hash
// partitioned by key.
func producerConfig(cfg Config) *sarama.Config {
	sc := cfg.saramaConfig()
	sc.Producer.Idempotent = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Net.MaxOpenRequests = 1
	sc.Producer.Retry.Max = 10
	sc.Producer.Retry.Backoff = 100 * time.Millisecond
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Partitioner = sarama.NewHashPartitioner
	return sc
}

// Publish implements ticketview.MessageSink: it sends msgs in one batch and returns nil
// once all are stored. If some failed, or ctx ended first, it returns an EUNAVAILABLE
// error; some of the batch may then be stored, and publishing the batch again may store
// those twice (consumers are idempotent by message id). A message without a topic is
// EINVALID and nothing is sent.
func (p *Producer) Publish(ctx context.Context, msgs []ticketview.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	batch := make([]*sarama.ProducerMessage, len(msgs))
	for i, m := range msgs {
		if m.Topic == "" {
			return ticketview.Errorf(ticketview.EINVALID, "kafka: publish: message %d has no topic", i)
		}
		pm := &sarama.ProducerMessage{Topic: m.Topic, Value: sarama.ByteEncoder(m.Value)}
		if m.Key != "" {
			pm.Key = sarama.StringEncoder(m.Key)
		}
		batch[i] = pm
	}
	if err := ctx.Err(); err != nil {
		return unavailable("publish", err)
	}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "kafka: unavailable: the producer is closed")
	}
	done := make(chan error, 1)
	go func() {
		defer p.mu.RUnlock()
		done <- p.sp.SendMessages(batch)
	}()
	select {
	case err := <-done:
		return sendErr(err, len(batch))
	case <-ctx.Done():
		return unavailable("publish", ctx.Err())
	}
}

// sendErr maps SendMessages' error to an EUNAVAILABLE error naming how many messages of
// the batch failed.
func sendErr(err error, n int) error {
	if err == nil {
		return nil
	}
	var perrs sarama.ProducerErrors
	if errors.As(err, &perrs) && len(perrs) > 0 {
		return unavailable(fmt.Sprintf("publish: %d of %d messages failed", len(perrs), n), perrs[0].Err)
	}
	return unavailable("publish", err)
}

// Close closes the producer once the batches being sent are done. Publish fails with
// EUNAVAILABLE afterwards.
func (p *Producer) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	return p.sp.Close()
}
