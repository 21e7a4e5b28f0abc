package pipeline_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/internal/testutil"
	"github.com/ticketview/ticketview/persistence/kafka"
	"github.com/ticketview/ticketview/pipeline"
)

// TestRelayToKafka: MemoryOutbox → Relay → kafka.Producer → Kafka (in process) →
// kafka.Consumer: the handler gets every message, in order per key.
func TestRelayToKafka(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, ticketview.TopicOrders))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := kafka.Config{Brokers: c.ListenAddrs(), ClientID: "test"}
	prod, err := kafka.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prod.Close() })
	cons, err := kafka.NewConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cons.Close() })

	out := &pipeline.MemoryOutbox{}
	keys := []string{"o1", "o2", "o3", "o4", "o5", "o6", "o7"}
	msgs := numbered(ticketview.TopicOrders, keys, 0, 300)
	if err := out.AppendMessages(ctx, msgs[:150]); err != nil {
		t.Fatal(err)
	}
	relay := pipeline.NewRelay(pipeline.RelayConfig{Outbox: out, Sink: prod, Batch: 40, Idle: 20 * time.Millisecond})
	run(t, relay.Run)
	r := &recorder{}
	run(t, func(ctx context.Context) error {
		return cons.Consume(ctx, "workers", []string{ticketview.TopicOrders}, r.handle)
	})
	if err := out.AppendMessages(ctx, msgs[150:]); err != nil {
		t.Fatal(err)
	}
	relay.Wake()
	r.waitCount(t, len(msgs))

	got := map[string][]string{}
	for _, m := range r.messages() {
		got[m.Key] = append(got[m.Key], string(m.Value))
	}
	for _, k := range keys {
		var want []string
		for _, m := range msgs {
			if m.Key == k {
				want = append(want, string(m.Value))
			}
		}
		if !slices.Equal(got[k], want) {
			t.Errorf("key %s: handled %v, want %v", k, got[k], want)
		}
	}
	testutil.CheckFor(t, wait, func() error {
		if pending, published := out.Counts(); pending != 0 || published != len(msgs) {
			return fmt.Errorf("outbox: %d pending, %d published", pending, published)
		}
		return nil
	})
}
