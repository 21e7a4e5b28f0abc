package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/internal/testutil"
	"github.com/ticketview/ticketview/persistence/kafka"
)

const wait = 30 * time.Second // deadline of the polls

// newCluster starts an in-process Kafka broker with topics of the given partitions and
// returns the config to reach it.
func newCluster(t *testing.T, partitions int32, topics ...string) kafka.Config {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(partitions, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return kafka.Config{Brokers: c.ListenAddrs(), ClientID: "test"}
}

func newProducer(t *testing.T, cfg kafka.Config) *kafka.Producer {
	t.Helper()
	p, err := kafka.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// keyed returns n messages for each key of topic, with values "key/i", interleaved.
func keyed(topic string, keys []string, n int) []ticketview.Message {
	var out []ticketview.Message
	for i := range n {
		for _, k := range keys {
			out = append(out, ticketview.Message{Topic: topic, Key: k, Value: fmt.Appendf(nil, "%s/%d", k, i)})
		}
	}
	return out
}

// recorder is a handler that records what it is given; fail, if set, decides whether a
// call fails.
type recorder struct {
	mu   sync.Mutex
	got  []ticketview.Message
	fail func(m ticketview.Message, calls int) error // calls: of this message, this one included
	n    map[string]int
}

func (r *recorder) handle(ctx context.Context, m ticketview.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, m)
	if r.n == nil {
		r.n = map[string]int{}
	}
	id := fmt.Sprintf("%s/%d/%d", m.Topic, m.Partition, m.Offset)
	r.n[id]++
	if r.fail != nil {
		return r.fail(m, r.n[id])
	}
	return nil
}

func (r *recorder) messages() []ticketview.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *recorder) values() []string {
	var out []string
	for _, m := range r.messages() {
		out = append(out, string(m.Value))
	}
	return out
}

// waitCount polls until r has recorded at least n messages.
func (r *recorder) waitCount(t *testing.T, n int) {
	t.Helper()
	testutil.CheckFor(t, wait, func() error {
		if got := len(r.messages()); got < n {
			return fmt.Errorf("%d messages handled, want %d", got, n)
		}
		return nil
	})
}

// consume runs c.Consume in the background until the returned stop is called (or the
// test ends); stop waits for Consume to return and fails the test on its error.
func consume(t *testing.T, c *kafka.Consumer, group string, topics []string, h ticketview.MessageHandler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Consume(ctx, group, topics, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Consume: %v", err)
				}
			case <-time.After(wait):
				t.Errorf("Consume did not return within %s of its context's end", wait)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func newConsumer(t *testing.T, cfg kafka.Config) *kafka.Consumer {
	t.Helper()
	c, err := kafka.NewConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// perKey groups values by key, in the order handled.
func perKey(msgs []ticketview.Message) map[string][]string {
	out := map[string][]string{}
	for _, m := range msgs {
		out[m.Key] = append(out[m.Key], string(m.Value))
	}
	return out
}

// TestProduceConsume: a batch of keyed messages comes out of a group complete, each key
// on one partition and in order.
func TestProduceConsume(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := newCluster(t, 6, "t1")
	keys := []string{"a", "b", "c", "d", "e"}
	msgs := keyed("t1", keys, 20)
	if err := newProducer(t, cfg).Publish(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	r := &recorder{}
	consume(t, newConsumer(t, cfg), "g", []string{"t1"}, r.handle)
	r.waitCount(t, len(msgs))
	got := r.messages()
	if len(got) != len(msgs) {
		t.Fatalf("%d messages handled, want %d", len(got), len(msgs))
	}
	want := perKey(msgs)
	byKey := perKey(got)
	for _, k := range keys {
		if !slices.Equal(byKey[k], want[k]) {
			t.Errorf("key %s: handled %v, want %v", k, byKey[k], want[k])
		}
	}
	part := map[string]int32{}
	for _, m := range got {
		if m.Topic != "t1" {
			t.Errorf("topic %q", m.Topic)
		}
		if p, ok := part[m.Key]; ok && p != m.Partition {
			t.Errorf("key %s on partitions %d and %d", m.Key, p, m.Partition)
		}
		part[m.Key] = m.Partition
	}
}

// TestHandlerRetry: a handler that fails twice gets the same message three times, and
// the messages after it in its partition wait for it.
func TestHandlerRetry(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := newCluster(t, 1, "t1")
	msgs := keyed("t1", []string{"k"}, 5)
	if err := newProducer(t, cfg).Publish(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	r := &recorder{fail: func(m ticketview.Message, calls int) error {
		if string(m.Value) == "k/1" && calls <= 2 {
			return errors.New("not yet")
		}
		return nil
	}}
	consume(t, newConsumer(t, cfg), "g", []string{"t1"}, r.handle)
	r.waitCount(t, 7)
	want := []string{"k/0", "k/1", "k/1", "k/1", "k/2", "k/3", "k/4"}
	if got := r.values(); !slices.Equal(got, want) {
		t.Fatalf("handled %v, want %v", got, want)
	}
}

// TestRedeliveryAfterStop: a consumer stopped while a message's handler had not
// succeeded leaves it uncommitted; the next member of the group starts from it (what was
// handled before was committed on the way out), and nothing is lost.
func TestRedeliveryAfterStop(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := newCluster(t, 1, "t1")
	msgs := keyed("t1", []string{"k"}, 10)
	if err := newProducer(t, cfg).Publish(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	c := newConsumer(t, cfg)
	first := &recorder{fail: func(m ticketview.Message, _ int) error {
		if string(m.Value) == "k/5" {
			return errors.New("down")
		}
		return nil
	}}
	stop := consume(t, c, "g", []string{"t1"}, first.handle)
	first.waitCount(t, 7) // k/0..k/4, then k/5 at least twice
	stop()
	if got := first.values(); !slices.Equal(got[:6], []string{"k/0", "k/1", "k/2", "k/3", "k/4", "k/5"}) {
		t.Fatalf("first consumer handled %v", got)
	}

	second := &recorder{}
	consume(t, c, "g", []string{"t1"}, second.handle)
	second.waitCount(t, 5)
	want := []string{"k/5", "k/6", "k/7", "k/8", "k/9"}
	if got := second.values(); !slices.Equal(got, want) {
		t.Fatalf("second consumer handled %v, want %v", got, want)
	}
	if off := second.messages()[0].Offset; off != 5 {
		t.Errorf("second consumer started at offset %d, want 5", off)
	}
}

// TestResumeAfterCommit: a new member of a group whose earlier member handled and
// committed everything gets only what was published since; another group gets all.
func TestResumeAfterCommit(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := newCluster(t, 3, "t1")
	p := newProducer(t, cfg)
	keys := []string{"a", "b", "c", "d"}
	if err := p.Publish(ctx, keyed("t1", keys, 5)); err != nil {
		t.Fatal(err)
	}
	c := newConsumer(t, cfg)
	first := &recorder{}
	stop := consume(t, c, "g", []string{"t1"}, first.handle)
	first.waitCount(t, 20)
	// The commit is at least every CommitInterval; wait for it through a fresh group
	// admin rather than trusting the close.
	waitCommitted(t, cfg, "g", "t1", 20)
	stop()

	later := []ticketview.Message{{Topic: "t1", Key: "a", Value: []byte("a/later")}, {Topic: "t1", Key: "b", Value: []byte("b/later")}}
	if err := p.Publish(ctx, later); err != nil {
		t.Fatal(err)
	}
	second := &recorder{}
	consume(t, c, "g", []string{"t1"}, second.handle)
	other := &recorder{}
	consume(t, c, "other", []string{"t1"}, other.handle)
	second.waitCount(t, 2)
	other.waitCount(t, 22)
	if got := second.values(); len(got) != 2 || !slices.Contains(got, "a/later") || !slices.Contains(got, "b/later") {
		t.Fatalf("second member of g handled %v, want only the later messages", got)
	}
	if got := perKey(other.messages()); len(got["a"]) != 6 || got["a"][5] != "a/later" || len(got["c"]) != 5 {
		t.Fatalf("group other handled %v, want everything", got)
	}
}

// waitCommitted polls until the group's committed offsets of topic add up to n.
func waitCommitted(t *testing.T, cfg kafka.Config, group, topic string, n int64) {
	t.Helper()
	sc := sarama.NewConfig()
	sc.Version = kafka.Version
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	testutil.CheckFor(t, wait, func() error {
		res, err := admin.ListConsumerGroupOffsets(group, nil)
		if err != nil {
			return err
		}
		var sum int64
		for _, b := range res.Blocks[topic] {
			if b.Offset > 0 {
				sum += b.Offset
			}
		}
		if sum != n {
			return fmt.Errorf("committed %d, want %d", sum, n)
		}
		return nil
	})
}

// TestGroupsIndependent: two groups consuming at once each get every message.
func TestGroupsIndependent(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := newCluster(t, 2, "t1", "t2")
	msgs := append(keyed("t1", []string{"x", "y"}, 10), keyed("t2", []string{"z"}, 10)...)
	if err := newProducer(t, cfg).Publish(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	c := newConsumer(t, cfg)
	g1, g2 := &recorder{}, &recorder{}
	consume(t, c, "g1", []string{"t1", "t2"}, g1.handle)
	consume(t, c, "g2", []string{"t1", "t2"}, g2.handle)
	g1.waitCount(t, 30)
	g2.waitCount(t, 30)
	want := perKey(msgs)
	for name, r := range map[string]*recorder{"g1": g1, "g2": g2} {
		got := perKey(r.messages())
		for k, vs := range want {
			if !slices.Equal(got[k], vs) {
				t.Errorf("%s key %s: %v, want %v", name, k, got[k], vs)
			}
		}
	}
}

// TestEnsureTopics: missing topics are created with the configured partitions; a second
// call leaves them be.
func TestEnsureTopics(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := newCluster(t, 1, "existing")
	cfg.Partitions = 4
	for range 2 {
		if err := kafka.EnsureTopics(ctx, cfg, "existing", "new1", "new2"); err != nil {
			t.Fatal(err)
		}
	}
	sc := sarama.NewConfig()
	sc.Version = kafka.Version
	client, err := sarama.NewClient(cfg.Brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for topic, want := range map[string]int{"existing": 1, "new1": 4, "new2": 4} {
		ps, err := client.Partitions(topic)
		if err != nil || len(ps) != want {
			t.Errorf("topic %s: %d partitions, %v; want %d", topic, len(ps), err, want)
		}
	}
	if err := kafka.EnsureTopics(ctx, cfg, ""); ticketview.ErrorCode(err) != ticketview.EINVALID {
		t.Errorf("empty topic name: %v, want EINVALID", err)
	}
}

// TestBadInput: bad configurations and messages are EINVALID, a closed producer or an
// unreachable cluster EUNAVAILABLE.
func TestBadInput(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	if _, err := kafka.NewProducer(kafka.Config{}); ticketview.ErrorCode(err) != ticketview.EINVALID {
		t.Errorf("NewProducer without brokers: %v, want EINVALID", err)
	}
	if _, err := kafka.NewConsumer(kafka.Config{Brokers: []string{""}}); ticketview.ErrorCode(err) != ticketview.EINVALID {
		t.Errorf("NewConsumer with an empty broker: %v, want EINVALID", err)
	}
	cfg := newCluster(t, 1, "t1")
	c := newConsumer(t, cfg)
	for _, args := range []struct {
		group  string
		topics []string
		h      ticketview.MessageHandler
	}{
		{"", []string{"t1"}, func(context.Context, ticketview.Message) error { return nil }},
		{"g", nil, func(context.Context, ticketview.Message) error { return nil }},
		{"g", []string{"t1"}, nil},
	} {
		if err := c.Consume(ctx, args.group, args.topics, args.h); ticketview.ErrorCode(err) != ticketview.EINVALID {
			t.Errorf("Consume(%q, %v): %v, want EINVALID", args.group, args.topics, err)
		}
	}
	p := newProducer(t, cfg)
	if err := p.Publish(ctx, []ticketview.Message{{Key: "k", Value: []byte("v")}}); ticketview.ErrorCode(err) != ticketview.EINVALID {
		t.Errorf("Publish without topic: %v, want EINVALID", err)
	}
	p.Close()
	if err := p.Publish(ctx, []ticketview.Message{{Topic: "t1", Value: []byte("v")}}); ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		t.Errorf("Publish after Close: %v, want EUNAVAILABLE", err)
	}
}

// TestConsumerClose: Close ends the running Consume calls, after which Consume is
// EUNAVAILABLE; a producer of an unreachable cluster is EUNAVAILABLE.
func TestConsumerClose(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := newCluster(t, 1, "t1")
	if err := newProducer(t, cfg).Publish(ctx, keyed("t1", []string{"k"}, 3)); err != nil {
		t.Fatal(err)
	}
	c := newConsumer(t, cfg)
	r := &recorder{}
	done := make(chan error, 1)
	go func() { done <- c.Consume(ctx, "g", []string{"t1"}, r.handle) }()
	r.waitCount(t, 3)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Consume after Close: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Consume did not return after Close")
	}
	if err := c.Consume(ctx, "g", []string{"t1"}, r.handle); ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		t.Fatalf("Consume on a closed consumer: %v, want EUNAVAILABLE", err)
	}
	if _, err := kafka.NewProducer(kafka.Config{Brokers: []string{"127.0.0.1:1"}}); ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		t.Fatalf("NewProducer of an unreachable cluster: %v, want EUNAVAILABLE", err)
	}
}
