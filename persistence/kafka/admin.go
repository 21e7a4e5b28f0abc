package kafka

import (
	"context"
	"errors"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/ticketview/ticketview"
)

// EnsureTopics creates those of topics the cluster lacks, with cfg.Partitions partitions
// and a replication factor of 1 on a one-broker cluster, else min(3, brokers). Topics
// that exist are left as they are. It fails with EUNAVAILABLE if the cluster cannot be
// reached or refuses to create a topic.
func EnsureTopics(ctx context.Context, cfg Config, topics ...string) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	for _, t := range topics {
		if t == "" {
			return ticketview.Errorf(ticketview.EINVALID, "kafka: ensure topics: an empty topic name")
		}
	}
	if len(topics) == 0 {
		return nil
	}
	// sarama's admin calls take no context: run them aside and give up when ctx ends.
	done := make(chan error, 1)
	go func() { done <- ensureTopics(cfg, topics) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return unavailable("ensure topics", ctx.Err())
	}
}

func ensureTopics(cfg Config, topics []string) error {
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, cfg.saramaConfig())
	if err != nil {
		return unavailable("connect the admin client", err)
	}
	defer admin.Close()
	brokers, _, err := admin.DescribeCluster()
	if err != nil {
		return unavailable("describe the cluster", err)
	}
	existing, err := admin.ListTopics()
	if err != nil {
		return unavailable("list topics", err)
	}
	detail := &sarama.TopicDetail{NumPartitions: cfg.Partitions, ReplicationFactor: replication(len(brokers))}
	for _, t := range topics {
		if _, ok := existing[t]; ok {
			continue
		}
		err := admin.CreateTopic(t, detail, false)
		if errors.Is(err, sarama.ErrTopicAlreadyExists) {
			continue // created meanwhile by another node
		}
		if err != nil {
			return unavailable("create topic "+t, err)
		}
		cfg.Log.Info("kafka: created topic", zap.String("topic", t),
			zap.Int32("partitions", detail.NumPartitions), zap.Int16("replication", detail.ReplicationFactor))
	}
	return nil
}

// replication is the replication factor of new topics on a cluster of n brokers.
func replication(n int) int16 {
	if n <= 1 {
		return 1
	}
	return int16(min(3, n))
}
