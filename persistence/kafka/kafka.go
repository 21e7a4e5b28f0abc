// Package kafka carries TicketView's event pipeline over Apache Kafka with IBM/sarama: a
// Producer (ticketview.MessageSink) for the outbox relay, a Consumer
// (ticketview.MessageSource) for the workers, and EnsureTopics to create the topics.
//
// # Producer
//
// The producer is sarama's idempotent producer: every record is acknowledged by all
// in-sync replicas, retries cannot duplicate or reorder records (one request in flight
// per broker, sequence numbers checked by the broker), and the hash partitioner sends
// every message of a key to the same partition, so the messages of a key keep their
// order. Publish returns nil only once every message of its batch is stored.
//
// # Consumer
//
// The consumer reads its topics in a consumer group, from the oldest offset when the
// group has committed none. A message is marked, and its offset committed (every second
// and when the session ends), only after its handler returned nil; a handler error makes
// the consumer call the handler again with the same message after a pause (100 ms,
// doubling up to 5 s), and the messages after it in its partition wait. A message whose
// handler had not succeeded when the consumer stopped, or when a rebalance took its
// partition away, is delivered again: at least once, in order per key.
//
// # Errors
//
// A broker that cannot be reached, or a batch the brokers did not all store, is an error
// for which ticketview.ErrorCode is EUNAVAILABLE; bad input (no brokers, no topic, no
// group) is EINVALID.
package kafka

import (
	"fmt"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/ticketview/ticketview"
)

// Version is the Kafka protocol version the clients speak: one that supports the
// idempotent producer and the consumer-group protocol (Kafka 2.8 and later brokers).
var Version = sarama.V2_8_0_0

// DefaultPartitions is the number of partitions EnsureTopics gives new topics when the
// Config does not say.
const DefaultPartitions = 6

// Config says how to reach the Kafka cluster.
type Config struct {
	Brokers    []string    // bootstrap brokers, "host:port"
	ClientID   string      // the clients' id in the brokers' logs and quotas (default "ticketview")
	Partitions int32       // partitions of the topics EnsureTopics creates (default DefaultPartitions)
	Log        *zap.Logger // default: no logging
}

func (c Config) withDefaults() (Config, error) {
	if len(c.Brokers) == 0 {
		return c, ticketview.Errorf(ticketview.EINVALID, "kafka: no brokers")
	}
	for _, b := range c.Brokers {
		if b == "" {
			return c, ticketview.Errorf(ticketview.EINVALID, "kafka: an empty broker address")
		}
	}
	if c.ClientID == "" {
		c.ClientID = "ticketview"
	}
	if c.Partitions <= 0 {
		c.Partitions = DefaultPartitions
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	return c, nil
}

// saramaConfig is the configuration common to the producer, consumer and admin clients.
func (c Config) saramaConfig() *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = Version
	sc.ClientID = c.ClientID
	return sc
}

// unavailable is an EUNAVAILABLE error for a failed Kafka operation; errors.Is and As
// still reach the cause.
func unavailable(op string, cause error) error {
	return fmt.Errorf("%w: %w", ticketview.Errorf(ticketview.EUNAVAILABLE, "kafka: unavailable: %s", op), cause)
}
