package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
)

// TestOutbox checks a ticketview.Outbox against the contract. open is called once per
// subtest and must return an outbox without messages. The contract: AppendMessages
// validates every message first (EINVALID, and nothing written, for an empty topic,
// a topic or key that is not UTF-8 without NUL, a value that is not JSON) and writes them
// in order; PendingMessages answers the messages not yet published in the order they
// were written, with increasing offsets, topic, key and value as written (the value the
// same JSON value, not necessarily the same bytes), at most limit; MarkPublished hides
// them from it, and ignores offsets of nothing.
func TestOutbox(t *testing.T, open func(t *testing.T) ticketview.Outbox) {
	t.Run("AppendPending", func(t *testing.T) { testAppendPending(t, open(t)) })
	t.Run("Validation", func(t *testing.T) { testOutboxValidation(t, open(t)) })
}

// TestEventMessages checks that an EventStore writes the messages of events to its
// outbox: event.created in CreateEvent's transaction; event.updated, with the parts that
// changed (ticketview.EventChanges), in UpdateEvent's, and none for an update that changes
// nothing, fails or is refused. open is called once per subtest and must return an empty
// catalog and the outbox of the same database, without messages.
func TestEventMessages(t *testing.T, open func(t *testing.T) (ticketview.EventStore, ticketview.Outbox)) {
	t.Run("CreateUpdate", func(t *testing.T) { es, ob := open(t); testEventMessages(t, es, ob) })
}

// TestMessageLog checks a ticketview.MessageLog, an outbox read as a log, against the
// contract. open is called once per subtest and must return an outbox without messages
// and the log of the same database, with no group offsets. The contract: ReadMessages
// answers the messages of the topics (every topic for none) after the offset, in the
// order they were written, published or not, at most limit; GroupOffset is 0 until the
// group commits, then what it committed last; a group is a name of 1 to 255 bytes of
// UTF-8 without NUL and an offset is not negative (EINVALID).
func TestMessageLog(t *testing.T, open func(t *testing.T) (ticketview.Outbox, ticketview.MessageLog)) {
	t.Run("ReadMessages", func(t *testing.T) { ob, log := open(t); testReadMessages(t, ob, log) })
	t.Run("GroupOffsets", func(t *testing.T) { _, log := open(t); testGroupOffsets(t, log) })
}

// SampleMessages returns n section-event messages of the section, with sequence numbers
// from, as the embedded feeder appends them.
func SampleMessages(event, section string, from uint64, n int) []ticketview.Message {
	out := make([]ticketview.Message, n)
	for i := range out {
		seq := from + uint64(i)
		sm := ticketview.SectionMessage{V: 1, Type: "hold_placed", Event: event, Section: section, Seq: seq,
			At: BaseTime.Add(time.Duration(seq) * time.Second), Hold: fmt.Sprintf("%016x", seq), Owner: "buyer-ü",
			Seats: []int32{int32(seq), int32(seq) + 1}, Prices: []int64{4500, 1 << 40}, ExpiresAt: BaseTime.Add(10 * time.Minute)}
		value, _ := json.Marshal(sm)
		out[i] = ticketview.Message{Topic: ticketview.TopicSections, Key: event + "/" + section, Value: value}
	}
	return out
}

// sameMessages fails unless got are want, in order: topic, key and the same JSON value;
// offsets increasing.
func sameMessages(t *testing.T, what string, got, want []ticketview.Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d messages, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Topic != w.Topic || g.Key != w.Key || !sameJSON(g.Value, w.Value) {
			t.Fatalf("%s: message %d is %s %s %s, want %s %s %s", what, i, g.Topic, g.Key, g.Value, w.Topic, w.Key, w.Value)
		}
		if i > 0 && g.Offset <= got[i-1].Offset {
			t.Fatalf("%s: message %d has offset %d after %d", what, i, g.Offset, got[i-1].Offset)
		}
	}
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func offsetsOf(msgs []ticketview.Message) []int64 {
	var out []int64
	for _, m := range msgs {
		out = append(out, m.Offset)
	}
	return out
}

func testAppendPending(t *testing.T, ob ticketview.Outbox) {
	ctx := ctxFor(t)
	a := SampleMessages("gig-1", "A", 1, 3)
	b := SampleMessages("gig-1", "B", 1, 2)
	if err := ob.AppendMessages(ctx, a); err != nil {
		t.Fatalf("AppendMessages: %v", err)
	}
	if err := ob.AppendMessages(ctx, b); err != nil {
		t.Fatalf("AppendMessages: %v", err)
	}
	if err := ob.AppendMessages(ctx, nil); err != nil {
		t.Fatalf("AppendMessages(nil): %v", err)
	}
	all := append(slices.Clone(a), b...)
	got := pendingOf(t, ob, "")
	sameMessages(t, "pending", got, all)
	page, err := ob.PendingMessages(ctx, 2)
	if err != nil {
		t.Fatalf("PendingMessages(2): %v", err)
	}
	sameMessages(t, "PendingMessages(2)", page, all[:2])
	if page, err := ob.PendingMessages(ctx, 0); err != nil || len(page) != len(all) {
		t.Fatalf("PendingMessages(0): %d messages, %v; want %d (a default limit)", len(page), err, len(all))
	}

	if err := ob.MarkPublished(ctx, []int64{got[1].Offset, got[3].Offset, got[3].Offset}); err != nil {
		t.Fatalf("MarkPublished: %v", err)
	}
	left := pendingOf(t, ob, "")
	sameMessages(t, "pending after MarkPublished", left, []ticketview.Message{all[0], all[2], all[4]})
	if want := []int64{got[0].Offset, got[2].Offset, got[4].Offset}; !slices.Equal(offsetsOf(left), want) {
		t.Fatalf("offsets after MarkPublished: %v, want %v (unchanged)", offsetsOf(left), want)
	}
	if err := ob.MarkPublished(ctx, offsetsOf(got)); err != nil {
		t.Fatalf("MarkPublished(all): %v", err)
	}
	if left := pendingOf(t, ob, ""); len(left) != 0 {
		t.Fatalf("%d messages pending after all were published", len(left))
	}

	// Later messages get later offsets.
	c := SampleMessages("gig-1", "A", 4, 1)
	if err := ob.AppendMessages(ctx, c); err != nil {
		t.Fatalf("AppendMessages: %v", err)
	}
	next := pendingOf(t, ob, "")
	sameMessages(t, "pending after a new append", next, c)
	if next[0].Offset <= got[4].Offset {
		t.Fatalf("new message at offset %d, not after %d", next[0].Offset, got[4].Offset)
	}
}

func testOutboxValidation(t *testing.T, ob ticketview.Outbox) {
	ctx := ctxFor(t)
	good := SampleMessages("gig-1", "A", 1, 1)[0]
	for what, bad := range map[string]ticketview.Message{
		"no topic":            {Key: good.Key, Value: good.Value},
		"a topic with NUL":    {Topic: "a\x00b", Key: good.Key, Value: good.Value},
		"a key not UTF-8":     {Topic: good.Topic, Key: "\xff", Value: good.Value},
		"a value not JSON":    {Topic: good.Topic, Key: good.Key, Value: []byte("{not json")},
		"no value":            {Topic: good.Topic, Key: good.Key},
		"a 300-byte topic":    {Topic: string(make([]byte, 300)), Key: good.Key, Value: good.Value},
		"a value with binary": {Topic: good.Topic, Key: good.Key, Value: []byte{0xff, 0x00}},
	} {
		err := ob.AppendMessages(ctx, []ticketview.Message{good, bad})
		wantCode(t, "AppendMessages with "+what, err, ticketview.EINVALID)
	}
	if left := pendingOf(t, ob, ""); len(left) != 0 {
		t.Fatalf("%d messages written by refused appends", len(left))
	}
}

// eventEnvelope decodes an event message, checking its topic, key and type.
func eventEnvelope(t *testing.T, m ticketview.Message, id, typ string) ticketview.EventData {
	t.Helper()
	if m.Topic != ticketview.TopicEvents || m.Key != id {
		t.Fatalf("event message: topic %q key %q, want %q %q", m.Topic, m.Key, ticketview.TopicEvents, id)
	}
	env, err := ticketview.DecodeEnvelope(m.Value)
	if err != nil {
		t.Fatalf("event message %s: %v", m.Value, err)
	}
	var d ticketview.EventData
	if err := json.Unmarshal(env.Data, &d); err != nil || d.Event == nil {
		t.Fatalf("event message data %s: %v", env.Data, err)
	}
	if env.Type != typ || env.Key != id || d.Event.ID != id {
		t.Fatalf("event message: %s of %q (event %q), want %s of %q", env.Type, env.Key, d.Event.ID, typ, id)
	}
	return d
}

func testEventMessages(t *testing.T, es ticketview.EventStore, ob ticketview.Outbox) {
	ctx := ctxFor(t)
	e := SampleEvent("gig-1", "hall-1", BaseTime.Add(48*time.Hour))
	if err := es.CreateEvent(ctx, e); err != nil {
		t.Fatalf("CreateEvent: %v", err)
	}
	msgs := pendingOf(t, ob, "")
	if len(msgs) != 1 {
		t.Fatalf("%d messages after CreateEvent, want 1", len(msgs))
	}
	d := eventEnvelope(t, msgs[0], "gig-1", ticketview.MsgEventCreated)
	if d.Event.Name != e.Name || len(d.Event.Categories) != len(e.Categories) || len(d.Changed) != 0 {
		t.Fatalf("event.created data: %+v", d)
	}
	dup := SampleEvent("gig-1", "hall-9", BaseTime)
	wantCode(t, "duplicate event", es.CreateEvent(ctx, dup), ticketview.ECONFLICT)
	bad := SampleEvent("", "hall-1", BaseTime)
	wantCode(t, "invalid event", es.CreateEvent(ctx, bad), ticketview.EINVALID)

	update := func(fn func(*ticketview.Event) error) error {
		_, err := es.UpdateEvent(ctx, "gig-1", fn)
		return err
	}
	if err := update(func(e *ticketview.Event) error { e.Name = "Renamed"; return nil }); err != nil {
		t.Fatalf("UpdateEvent: %v", err)
	}
	// Categories changed in place: the store must compare with what was stored.
	if err := update(func(e *ticketview.Event) error {
		e.Categories[0].Price++
		e.StartsAt = e.StartsAt.Add(time.Hour)
		return nil
	}); err != nil {
		t.Fatalf("UpdateEvent: %v", err)
	}
	if err := update(func(*ticketview.Event) error { return nil }); err != nil {
		t.Fatalf("UpdateEvent changing nothing: %v", err)
	}
	if err := update(func(e *ticketview.Event) error { e.Name = "Not saved"; return errBoom }); err != errBoom {
		t.Fatalf("UpdateEvent with a failing fn: %v", err)
	}
	wantCode(t, "an invalid update", update(func(e *ticketview.Event) error { e.Name = ""; return nil }), ticketview.EINVALID)

	msgs = pendingOf(t, ob, "")
	if len(msgs) != 3 {
		t.Fatalf("%d messages after a create and two changing updates, want 3", len(msgs))
	}
	d = eventEnvelope(t, msgs[1], "gig-1", ticketview.MsgEventUpdated)
	if d.Event.Name != "Renamed" || !slices.Equal(d.Changed, []string{"details"}) {
		t.Fatalf("first event.updated: name %q, changed %v; want Renamed, [details]", d.Event.Name, d.Changed)
	}
	d = eventEnvelope(t, msgs[2], "gig-1", ticketview.MsgEventUpdated)
	if d.Event.Categories[0].Price != e.Categories[0].Price+1 || !slices.Equal(d.Changed, []string{"time", "prices"}) {
		t.Fatalf("second event.updated: price %d, changed %v; want %d, [time prices]", d.Event.Categories[0].Price, d.Changed, e.Categories[0].Price+1)
	}
}

func testReadMessages(t *testing.T, ob ticketview.Outbox, log ticketview.MessageLog) {
	ctx := ctxFor(t)
	a := SampleMessages("gig-1", "A", 1, 3)
	ev := ticketview.EventMessage(ticketview.MsgEventCreated, SampleEvent("gig-1", "hall-1", BaseTime), nil, BaseTime)
	b := SampleMessages("gig-2", "B", 1, 2)
	all := append(append(slices.Clone(a), ev), b...)
	for _, batch := range [][]ticketview.Message{a, {ev}, b} {
		if err := ob.AppendMessages(ctx, batch); err != nil {
			t.Fatalf("AppendMessages: %v", err)
		}
	}
	read := func(after int64, topics []string, limit int) []ticketview.Message {
		t.Helper()
		msgs, err := log.ReadMessages(ctx, after, topics, limit)
		if err != nil {
			t.Fatalf("ReadMessages(%d, %v, %d): %v", after, topics, limit, err)
		}
		return msgs
	}
	got := read(0, nil, 100)
	sameMessages(t, "every topic", got, all)
	if err := ob.MarkPublished(ctx, offsetsOf(got[:2])); err != nil { // the log keeps published messages
		t.Fatalf("MarkPublished: %v", err)
	}
	sameMessages(t, "every topic, some published", read(0, []string{}, 0), all)
	sections := []ticketview.Message{a[0], a[1], a[2], b[0], b[1]}
	sameMessages(t, "section topic", read(0, []string{ticketview.TopicSections}, 100), sections)
	sameMessages(t, "both topics", read(0, []string{ticketview.TopicEvents, ticketview.TopicSections, ticketview.TopicEvents}, 100), all)
	sameMessages(t, "events topic", read(0, []string{ticketview.TopicEvents}, 100), []ticketview.Message{ev})
	sameMessages(t, "unknown topic", read(0, []string{"nothing"}, 100), nil)
	sameMessages(t, "after the third", read(got[2].Offset, []string{ticketview.TopicSections}, 100), b)
	sameMessages(t, "after the third, limit 1", read(got[2].Offset, nil, 1), []ticketview.Message{ev})
	sameMessages(t, "after the last", read(got[len(got)-1].Offset, nil, 100), nil)
	sameMessages(t, "after a negative offset", read(-5, nil, 2), all[:2])
	if !slices.Equal(offsetsOf(read(0, nil, 100)), offsetsOf(got)) {
		t.Fatal("offsets differ between reads")
	}
	for what, topics := range map[string][]string{
		"a topic not UTF-8": {"\xff"},
		"100 topics": func() []string {
			s := make([]string, 100)
			for i := range s {
				s[i] = fmt.Sprint(i)
			}
			return s
		}(),
	} {
		_, err := log.ReadMessages(ctx, 0, topics, 10)
		wantCode(t, "ReadMessages with "+what, err, ticketview.EINVALID)
	}
}

func testGroupOffsets(t *testing.T, log ticketview.MessageLog) {
	ctx := ctxFor(t)
	offset := func(group string) int64 {
		t.Helper()
		off, err := log.GroupOffset(ctx, group)
		if err != nil {
			t.Fatalf("GroupOffset(%s): %v", group, err)
		}
		return off
	}
	if off := offset("notifications"); off != 0 {
		t.Fatalf("offset of a new group: %d, want 0", off)
	}
	for _, c := range []struct {
		group string
		off   int64
	}{{"notifications", 5}, {"analytics", 2}, {"notifications", 9}, {"notifications", 7}} {
		if err := log.CommitGroupOffset(ctx, c.group, c.off); err != nil {
			t.Fatalf("CommitGroupOffset(%s, %d): %v", c.group, c.off, err)
		}
	}
	if a, n := offset("analytics"), offset("notifications"); a != 2 || n != 7 {
		t.Fatalf("offsets: analytics %d, notifications %d; want 2, 7 (the last committed)", a, n)
	}
	wantCode(t, "negative offset", log.CommitGroupOffset(ctx, "analytics", -1), ticketview.EINVALID)
	for _, g := range []string{"", "a\x00b", "\xff", string(make([]byte, 300))} {
		wantCode(t, fmt.Sprintf("CommitGroupOffset(%q)", g), log.CommitGroupOffset(ctx, g, 1), ticketview.EINVALID)
		_, err := log.GroupOffset(ctx, g)
		wantCode(t, fmt.Sprintf("GroupOffset(%q)", g), err, ticketview.EINVALID)
	}
	if a := offset("analytics"); a != 2 {
		t.Fatalf("analytics offset after refused commits: %d, want 2", a)
	}
}
