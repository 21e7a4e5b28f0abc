package propagate_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/workers/propagate"
)

// sliceSource is a ticketview.MessageSource over a slice: it delivers each message of the
// topics asked for in order, again while the handler fails (as a consumer group does),
// then waits for the context to end.
type sliceSource struct {
	msgs      []ticketview.Message
	group     string
	delivered int // deliveries, redeliveries included
	drained   chan struct{}
}

func (s *sliceSource) Consume(ctx context.Context, group string, topics []string, h ticketview.MessageHandler) error {
	s.group = group
	for i, m := range s.msgs {
		if !slices.Contains(topics, m.Topic) {
			continue
		}
		m.Offset = int64(i + 1)
		for {
			s.delivered++
			if err := h(ctx, m); err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	close(s.drained)
	<-ctx.Done()
	return ctx.Err()
}

// recorder is a fake engine: it records its calls and fails the first ones it is told to.
type recorder struct {
	mu    sync.Mutex
	calls []string
	fail  map[string][]error // per event: the answers of its first calls
}

func (r *recorder) Reconfigure(ctx context.Context, event string) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, event)
	if errs := r.fail[event]; len(errs) > 0 {
		r.fail[event] = errs[1:]
		return 0, errs[0]
	}
	return 2, nil
}

var at = time.Date(2030, 3, 1, 18, 0, 0, 0, time.UTC)

func eventMsg(typ, id string, changed ...string) ticketview.Message {
	return ticketview.EventMessage(typ, &ticketview.Event{ID: id, Name: id}, changed, at)
}

func run(t *testing.T, src *sliceSource, eng propagate.Engine) {
	t.Helper()
	w, err := propagate.New(propagate.Config{Source: src, Engine: eng, Group: "node-7"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	select {
	case <-src.drained:
	case err := <-done:
		t.Fatalf("Run ended before the messages were handled: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the messages were not all handled")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after its context ended: %v", err)
	}
	if src.group != "node-7" {
		t.Fatalf("consumed as group %q", src.group)
	}
}

// TestPriceChangesReachTheEngine: only event.updated messages that changed prices call
// Reconfigure, once each in order; everything else is skipped, unreadable messages too.
func TestPriceChangesReachTheEngine(t *testing.T) {
	orderMsg := ticketview.NewEnvelopeMessage(ticketview.TopicOrders, "o1", ticketview.MsgBookingCreated, at, ticketview.OrderData{})
	future := eventMsg(ticketview.MsgEventUpdated, "future", "prices")
	future.Value = []byte(`{"v":99,"id":"m1","type":"event.updated","key":"future","at":"2030-03-01T18:00:00Z","data":{"changed":["prices"]}}`)
	src := &sliceSource{drained: make(chan struct{}), msgs: []ticketview.Message{
		eventMsg(ticketview.MsgEventUpdated, "gala", "details", "prices"),
		eventMsg(ticketview.MsgEventUpdated, "gala", "details", "time"),
		eventMsg(ticketview.MsgEventCreated, "new", "prices"),
		orderMsg,
		{Topic: ticketview.TopicEvents, Key: "junk", Value: []byte("not json")},
		{Topic: ticketview.TopicEvents, Key: "bad", Value: []byte(`{"v":1,"id":"m2","type":"event.updated","key":"bad","data":{"changed":"prices"}}`)},
		{Topic: ticketview.TopicEvents, Key: "", Value: []byte(`{"v":1,"id":"m3","type":"event.updated","data":{"changed":["prices"]}}`)},
		future,
		eventMsg(ticketview.MsgEventUpdated, "fair", "prices"),
		eventMsg(ticketview.MsgEventUpdated, "gala", "status"),
	}}
	// An event whose data has no event falls back to the envelope's key.
	keyed := ticketview.NewEnvelopeMessage(ticketview.TopicEvents, "by-key", ticketview.MsgEventUpdated, at,
		ticketview.EventData{Changed: []string{"prices"}})
	src.msgs = append(src.msgs, keyed)
	eng := &recorder{}
	run(t, src, eng)
	if want := []string{"gala", "fair", "by-key"}; !slices.Equal(eng.calls, want) {
		t.Fatalf("Reconfigure calls %q, want %q", eng.calls, want)
	}
	if src.delivered != len(src.msgs)-1 { // the order message is not on the topic
		t.Fatalf("%d deliveries of %d messages: a skipped message was delivered again", src.delivered, len(src.msgs)-1)
	}
}

// TestEngineFailuresAreRedelivered: a failure that may pass (EUNAVAILABLE, any other
// error) leaves the message to be delivered again, and later messages wait for it; one
// that cannot (ENOTFOUND, EINVALID) does not.
func TestEngineFailuresAreRedelivered(t *testing.T) {
	src := &sliceSource{drained: make(chan struct{}), msgs: []ticketview.Message{
		eventMsg(ticketview.MsgEventUpdated, "gala", "prices"),
		eventMsg(ticketview.MsgEventUpdated, "gone", "prices"),
		eventMsg(ticketview.MsgEventUpdated, "odd", "prices"),
		eventMsg(ticketview.MsgEventUpdated, "fair", "prices"),
	}}
	eng := &recorder{fail: map[string][]error{
		"gala": {ticketview.Errorf(ticketview.EUNAVAILABLE, "section did not answer"), errors.New("boom")},
		"gone": {ticketview.Errorf(ticketview.ENOTFOUND, "no event")},
		"odd":  {ticketview.Errorf(ticketview.EINVALID, "codes differ")},
	}}
	run(t, src, eng)
	if want := []string{"gala", "gala", "gala", "gone", "odd", "fair"}; !slices.Equal(eng.calls, want) {
		t.Fatalf("Reconfigure calls %q, want %q", eng.calls, want)
	}
}

func TestNewNeedsSourceEngineAndGroup(t *testing.T) {
	src, eng := &sliceSource{}, &recorder{}
	for name, cfg := range map[string]propagate.Config{
		"no source": {Engine: eng, Group: "node-1"},
		"no engine": {Source: src, Group: "node-1"},
		"no group":  {Source: src, Engine: eng},
	} {
		if _, err := propagate.New(cfg); ticketview.ErrorCode(err) != ticketview.EINVALID {
			t.Errorf("%s: %v, want %s", name, err, ticketview.EINVALID)
		}
	}
}
