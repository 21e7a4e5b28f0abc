package live

import (
	"context"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
)

// maxHoleRetries is how many snapshots in a row one subscriber is fetched because the
// deltas buffered while the snapshot was read do not follow on from it. Past it the
// subscriber goes live anyway (the next delta shows the gap again): a Source that lags
// behind the feed must not make a fetch loop.
const maxHoleRetries = 3

// Resubscription backoff, when the feed ends a subscription the hub still needs.
const (
	resubscribeMin = 50 * time.Millisecond
	resubscribeMax = 5 * time.Second
)

// eventFeed is the hub's one subscription to an event's deltas, shared by all the
// event's clients, and the state of every section they follow.
//
// Ordering: every message for a (client, section) is queued with mu held, by the feed's
// reader (deltas), by a snapshot fetch (snapshot, then the deltas buffered meanwhile) or
// by the client's own messages; so each client sees a section's messages in order.
type eventFeed struct {
	hub    *Hub
	event  string
	ctx    context.Context // ends when the feed closes
	cancel context.CancelFunc
	ready  chan struct{} // closed once the first subscription is made (or failed: err)
	err    error
	refs   int // clients attached; guarded by hub.mu
	once   sync.Once

	mu       sync.Mutex
	sub      ticketview.DeltaSubscription // the current one
	sections map[string]*section
}

// section is the state of one followed section.
type section struct {
	id       ticketview.SectionID
	subs     map[*client]*subState
	fetching bool   // a snapshot read is under way
	gen      uint64 // generation of the latest snapshot read started
}

// subState is one client's subscription to one section.
type subState struct {
	live      bool   // snapshot sent: deltas go straight to the client
	seq       uint64 // live: the position of the client's state
	want      uint64 // waiting: the snapshot generation that serves it
	buf       []buffered
	snapshots int // snapshots sent so far
	holes     int // snapshots in a row that the buffered deltas did not follow on from
}

// buffered is a delta that arrived while its subscriber waited for a snapshot.
type buffered struct {
	seq, prev uint64
	pm        *websocket.PreparedMessage
}

func newEventFeed(h *Hub, event string) *eventFeed {
	f := &eventFeed{hub: h, event: event, ready: make(chan struct{}), sections: map[string]*section{}}
	f.ctx, f.cancel = context.WithCancel(h.ctx)
	return f
}

// start subscribes to the event's deltas and starts the reader. The caller (a
// connection handler) is counted in hub.wg.
func (f *eventFeed) start() {
	defer close(f.ready)
	h := f.hub
	sub, err := h.cfg.Feed.SubscribeDeltas(f.ctx, f.event)
	if err != nil {
		h.log.Warn("delta feed subscription failed", zap.String("event", f.event), zap.Error(err))
		f.err = ticketview.Errorf(ticketview.EUNAVAILABLE, "live updates are unavailable, try again later")
		h.mu.Lock()
		if h.feeds[f.event] == f {
			delete(h.feeds, f.event)
		}
		h.mu.Unlock()
		f.cancel()
		return
	}
	f.mu.Lock()
	f.sub = sub
	f.mu.Unlock()
	h.wg.Add(1)
	go f.run(sub)
}

// close ends the feed subscription and every snapshot read of the feed.
func (f *eventFeed) close() {
	f.once.Do(func() {
		f.cancel()
		f.mu.Lock()
		sub := f.sub
		f.mu.Unlock()
		if sub != nil {
			_ = sub.Close()
		}
	})
}

// lagger is implemented by feed subscriptions that count what they dropped
// (inmem.FeedSubscription, the Redis one).
type lagger interface{ Lagged() uint64 }

// run reads the feed until it closes. A subscription the feed ends while the hub still
// needs it is renewed, and the deltas missed meanwhile are made up with snapshots.
func (f *eventFeed) run(sub ticketview.DeltaSubscription) {
	defer f.hub.wg.Done()
	for {
		lg, _ := sub.(lagger)
		var lagged uint64
		if lg != nil {
			lagged = lg.Lagged()
		}
		for d := range sub.C() {
			f.dispatch(d)
			if lg != nil {
				if n := lg.Lagged(); n != lagged {
					lagged = n
					f.lost("the feed subscription dropped deltas")
				}
			}
		}
		if sub = f.resubscribe(); sub == nil {
			return
		}
		f.lost("the feed subscription was renewed")
	}
}

// resubscribe subscribes again, with backoff, until it works or the feed closes (nil).
func (f *eventFeed) resubscribe() ticketview.DeltaSubscription {
	wait := resubscribeMin
	for {
		if f.ctx.Err() != nil {
			return nil
		}
		sub, err := f.hub.cfg.Feed.SubscribeDeltas(f.ctx, f.event)
		if err == nil {
			f.mu.Lock()
			f.sub = sub
			f.mu.Unlock()
			if f.ctx.Err() != nil { // closed meanwhile: close saw the old one
				_ = sub.Close()
				return nil
			}
			return sub
		}
		f.hub.log.Warn("delta feed subscription ended; subscribing again", zap.String("event", f.event),
			zap.Duration("in", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-f.ctx.Done():
			t.Stop()
			return nil
		}
		wait = min(2*wait, resubscribeMax)
	}
}

// lost handles deltas lost upstream, of any section: every subscriber gets a fresh
// snapshot.
func (f *eventFeed) lost(why string) {
	f.hub.losses.Add(1)
	f.hub.log.Info("deltas lost upstream; resyncing the event's sections", zap.String("event", f.event), zap.String("why", why))
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, sec := range f.sections {
		for _, st := range sec.subs {
			f.requestSnapshotLocked(sec, st)
		}
	}
}

// dispatch hands one delta to the section's subscribers: queued for those that are live
// (encoded once, the same frame for all), buffered for those waiting for a snapshot.
func (f *eventFeed) dispatch(d ticketview.SeatDelta) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sec := f.sections[d.Section.Section]
	if sec == nil || d.Section.Event != f.event {
		return
	}
	for _, st := range sec.subs {
		if st.live && d.Seq > st.seq && d.Prev > st.seq {
			// A delta between the subscriber's state and this one was lost: every
			// subscriber gets a fresh snapshot, which holds this delta too (the Source is
			// at least as fresh as the feed), so the delta itself is not kept.
			f.hub.losses.Add(1)
			f.hub.log.Info("gap in a section's deltas; resyncing it", zap.Stringer("section", sec.id),
				zap.Uint64("have", st.seq), zap.Uint64("prev", d.Prev), zap.Uint64("seq", d.Seq))
			for _, st := range sec.subs {
				f.requestSnapshotLocked(sec, st)
			}
			return
		}
	}
	var pm *websocket.PreparedMessage
	for c, st := range sec.subs {
		if st.live && d.Seq <= st.seq {
			continue // the client's snapshot holds it already
		}
		if pm == nil {
			var err error
			if pm, err = encodeDelta(d); err != nil {
				f.hub.log.Error("delta not encoded", zap.Stringer("section", sec.id), zap.Error(err))
				return
			}
		}
		if !st.live {
			if len(st.buf) >= f.hub.cfg.QueueSize {
				// More than the client could take anyway: start over with a newer snapshot.
				f.requestSnapshotLocked(sec, st)
			}
			st.buf = append(st.buf, buffered{seq: d.Seq, prev: d.Prev, pm: pm})
			continue
		}
		st.seq = d.Seq
		if !c.send(outMsg{pm: pm}) {
			f.dropSlowLocked(c)
		}
	}
}

// sectionLocked returns the section's state, creating it.
func (f *eventFeed) sectionLocked(name string) *section {
	sec := f.sections[name]
	if sec == nil {
		sec = &section{id: ticketview.SectionID{Event: f.event, Section: name}, subs: map[*client]*subState{}}
		f.sections[name] = sec
	}
	return sec
}

// forgetIfIdleLocked drops the state of a section nobody follows.
func (f *eventFeed) forgetIfIdleLocked(sec *section) {
	if len(sec.subs) == 0 && !sec.fetching && f.sections[sec.id.Section] == sec {
		delete(f.sections, sec.id.Section)
	}
}

// requestSnapshotLocked makes st wait for a snapshot read that starts from now on:
// the one under way started before st's buffer, so st waits for the next.
func (f *eventFeed) requestSnapshotLocked(sec *section, st *subState) {
	st.live = false
	clear(st.buf)
	st.buf = st.buf[:0]
	if sec.fetching {
		st.want = sec.gen + 1
		return
	}
	st.want = f.startFetchLocked(sec)
}

// startFetchLocked starts reading a snapshot of the section and returns its generation.
func (f *eventFeed) startFetchLocked(sec *section) uint64 {
	sec.gen++
	sec.fetching = true
	f.hub.wg.Add(1) // the caller is counted in wg
	go f.fetch(sec, sec.gen)
	return sec.gen
}

// fetch reads a snapshot of the section and delivers it to every subscriber waiting for
// this generation.
func (f *eventFeed) fetch(sec *section, gen uint64) {
	defer f.hub.wg.Done()
	ctx, cancel := context.WithTimeout(f.ctx, f.hub.cfg.SnapshotTimeout)
	a, err := f.hub.cfg.Source(ctx, sec.id)
	cancel()
	var pm *websocket.PreparedMessage
	if err == nil {
		pm, err = encodeSnapshot(sec.id.Section, &a)
	}
	if err != nil && f.ctx.Err() == nil {
		f.hub.log.Warn("section snapshot not read", zap.Stringer("section", sec.id), zap.Error(err))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	sec.fetching = false
	if f.ctx.Err() != nil {
		return // the feed is closing, and its clients with it
	}
	waiting := false
	for c, st := range sec.subs {
		switch {
		case st.live:
		case st.want > gen:
			waiting = true
		case err != nil:
			f.removeSubLocked(c, sec)
			if !c.send(errorMsg(err, sec.id.Section)) {
				f.dropSlowLocked(c)
			}
		default:
			f.deliverLocked(c, sec, st, pm, a.Seq)
		}
	}
	if waiting && !sec.fetching {
		f.startFetchLocked(sec)
	}
	f.forgetIfIdleLocked(sec)
}

// deliverLocked sends a snapshot at seq to a waiting subscriber, then the deltas
// buffered meanwhile that the snapshot does not hold, and makes it live.
func (f *eventFeed) deliverLocked(c *client, sec *section, st *subState, pm *websocket.PreparedMessage, seq uint64) {
	if !c.send(outMsg{pm: pm}) {
		f.dropSlowLocked(c)
		return
	}
	if st.snapshots > 0 {
		f.hub.resyncs.Add(1)
	}
	st.snapshots++
	cur, clean := seq, true
	for _, b := range st.buf {
		if b.seq <= cur {
			continue
		}
		if b.prev > cur {
			// The buffered deltas do not follow on from the snapshot: some were lost
			// while it was read.
			f.hub.losses.Add(1)
			if st.holes++; st.holes <= maxHoleRetries {
				f.requestSnapshotLocked(sec, st)
				return
			}
			f.hub.log.Warn("section snapshots keep missing deltas; is the Source behind the feed?",
				zap.Stringer("section", sec.id), zap.Uint64("snapshot", seq), zap.Uint64("prev", b.prev))
			clean = false
			break
		}
		if !c.send(outMsg{pm: b.pm}) {
			f.dropSlowLocked(c)
			return
		}
		cur = b.seq
	}
	if clean {
		st.holes = 0
	}
	clear(st.buf)
	st.buf, st.live, st.seq = st.buf[:0], true, cur
}

// subscribe starts the client's subscriptions to the named sections (known sections of
// the event); those it follows already are left alone.
func (f *eventFeed) subscribe(c *client, names []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.dead.Load() {
		return nil
	}
	n := len(c.subs)
	for _, name := range names {
		if c.subs[name] == nil {
			n++
		}
	}
	if limit := f.hub.cfg.MaxSections; n > limit {
		return ticketview.Errorf(ticketview.EINVALID, "a connection may follow at most %d sections", limit)
	}
	for _, name := range names {
		if c.subs[name] != nil {
			continue
		}
		sec := f.sectionLocked(name)
		st := &subState{}
		sec.subs[c] = st
		c.subs[name] = st
		f.hub.subscriptions.Add(1)
		f.requestSnapshotLocked(sec, st)
	}
	return nil
}

// unsubscribe ends the client's subscriptions to the named sections and queues the
// acknowledgement: nothing of those sections is queued after it.
func (f *eventFeed) unsubscribe(c *client, names []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, name := range names {
		if sec := f.sections[name]; sec != nil && c.subs[name] != nil {
			f.removeSubLocked(c, sec)
		}
	}
	if !c.send(unsubscribedMsg(names)) {
		f.dropSlowLocked(c)
	}
}

// resync sends the client a fresh snapshot of a section it follows.
func (f *eventFeed) resync(c *client, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := c.subs[name]
	if st == nil {
		return ticketview.Errorf(ticketview.EINVALID, "not subscribed to section %q", name)
	}
	if st.live { // one waiting already gets the next snapshot
		f.requestSnapshotLocked(f.sectionLocked(name), st)
	}
	return nil
}

// removeSubLocked ends one subscription.
func (f *eventFeed) removeSubLocked(c *client, sec *section) {
	if _, ok := sec.subs[c]; !ok {
		return
	}
	delete(sec.subs, c)
	delete(c.subs, sec.id.Section)
	f.hub.subscriptions.Add(-1)
	f.forgetIfIdleLocked(sec)
}

// removeClientLocked ends every subscription of the client.
func (f *eventFeed) removeClientLocked(c *client) {
	for name := range c.subs {
		if sec := f.sections[name]; sec != nil {
			f.removeSubLocked(c, sec)
		}
	}
	clear(c.subs)
}

// dropSlowLocked drops a client whose queue is full.
func (f *eventFeed) dropSlowLocked(c *client) {
	if c.kill(CloseTooSlow, "too slow, reconnect") {
		f.hub.slow.Add(1)
		f.hub.log.Info("slow client dropped", zap.String("event", f.event), zap.String("remote", c.remote))
	}
	f.removeClientLocked(c)
}
