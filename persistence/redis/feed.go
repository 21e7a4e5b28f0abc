package redis

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ticketview/ticketview"
)

func (c *Client) deltaChannel(event string) string { return c.prefix + "deltas:" + event }

// PublishDelta implements ticketview.DeltaPublisher. It never blocks: the delta is queued
// for the publisher goroutine, which sends what is queued in one pipeline of PUBLISHes, in
// order. When the queue is full (Redis slow or down) or after Close, the delta is dropped
// and counted (DeltasDropped); subscribers see the gap through SeatDelta.Prev and resync.
// The delta's slices must not be changed after the call.
func (c *Client) PublishDelta(d ticketview.SeatDelta) {
	if c.closed.Load() {
		c.dropped.Add(1)
		return
	}
	select {
	case c.pubQ <- d:
	default:
		c.dropped.Add(1)
	}
}

// DeltasPublished is the number of deltas Redis has accepted.
func (c *Client) DeltasPublished() uint64 { return c.published.Load() }

// DeltasDropped is the number of deltas dropped: queue full, Redis failing, or closed.
func (c *Client) DeltasDropped() uint64 { return c.dropped.Load() }

// publishLoop sends queued deltas until Close, then sends what is left.
func (c *Client) publishLoop() {
	defer close(c.pubDone)
	batch := make([]ticketview.SeatDelta, 0, publishBatch)
	for {
		select {
		case d := <-c.pubQ:
			batch = append(batch[:0], d)
		case <-c.pubStop:
			deadline := time.Now().Add(c.opts.ReadTimeout + c.opts.WriteTimeout)
			for len(c.pubQ) > 0 && time.Now().Before(deadline) {
				batch = c.fill(batch[:0])
				c.publish(batch)
			}
			c.dropped.Add(uint64(len(c.pubQ)))
			return
		}
		c.publish(c.fill(batch))
	}
}

// fill appends queued deltas to batch, without waiting, up to publishBatch.
func (c *Client) fill(batch []ticketview.SeatDelta) []ticketview.SeatDelta {
	for len(batch) < publishBatch {
		select {
		case d := <-c.pubQ:
			batch = append(batch, d)
		default:
			return batch
		}
	}
	return batch
}

// publish sends batch in one pipeline and counts what Redis accepted and what it did not.
func (c *Client) publish(batch []ticketview.SeatDelta) {
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ReadTimeout+c.opts.WriteTimeout)
	defer cancel()
	pipe := c.rdb.Pipeline()
	for i := range batch {
		b, err := json.Marshal(&batch[i])
		if err != nil {
			c.dropped.Add(1)
			continue
		}
		pipe.Publish(ctx, c.deltaChannel(batch[i].Section.Event), b)
	}
	cmds, _ := pipe.Exec(ctx)
	for _, cmd := range cmds {
		if cmd.Err() != nil {
			c.dropped.Add(1)
		} else {
			c.published.Add(1)
		}
	}
	clear(batch) // let the deltas' slices go
}

// SubscribeDeltas implements ticketview.DeltaFeed with a Redis Pub/Sub subscription to
// the event's channel. It returns once Redis has confirmed the subscription, so every
// delta published afterwards reaches it; it fails with EUNAVAILABLE when Redis does not
// answer. The subscription survives Redis going away: it reconnects and subscribes again
// by itself (deltas published meanwhile are lost, as Prev will show).
func (c *Client) SubscribeDeltas(ctx context.Context, event string) (ticketview.DeltaSubscription, error) {
	if c.closed.Load() {
		return nil, wrapErr("subscribe", goredis.ErrClosed)
	}
	channel := c.deltaChannel(event)
	ps, err := c.confirmedSubscribe(ctx, channel)
	if err != nil {
		return nil, err
	}
	ch := make(chan ticketview.SeatDelta, c.opts.SubscriptionBuffer)
	s := &Subscription{client: c, channel: channel, ps: ps, c: ch, ch: ch, done: make(chan struct{}), exit: make(chan struct{})}
	s.lastHeard.Store(time.Now().UnixNano())
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		ps.Close()
		return nil, wrapErr("subscribe", goredis.ErrClosed)
	}
	c.subs[s] = struct{}{}
	c.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	s.mu.Lock()
	s.stopWatch = stop
	s.mu.Unlock()
	go s.read()
	go s.healthCheck()
	return s, nil
}

// confirmedSubscribe subscribes to channel and waits for Redis to confirm it.
func (c *Client) confirmedSubscribe(ctx context.Context, channel string) (*goredis.PubSub, error) {
	ps := c.rdb.Subscribe(ctx, channel)
	msg, err := ps.ReceiveTimeout(ctx, c.opts.DialTimeout+c.opts.ReadTimeout)
	if err != nil {
		ps.Close()
		return nil, wrapErr("subscribe", err)
	}
	if m, ok := msg.(*goredis.Subscription); !ok || m.Kind != "subscribe" || m.Channel != channel {
		ps.Close()
		return nil, ticketview.Errorf(ticketview.EINTERNAL, "redis: subscribe %s: unexpected reply %v", channel, msg)
	}
	return ps, nil
}

// Subscription is a live stream of one event's deltas from Redis Pub/Sub. A reader
// goroutine decodes the messages into a bounded queue (C); when the subscriber falls
// behind, what does not fit is dropped and counted (Lagged). A health check pings Redis
// when the subscription has been quiet for a while and starts a new connection when the
// ping goes unanswered.
type Subscription struct {
	client  *Client
	channel string
	c       <-chan ticketview.SeatDelta
	ch      chan ticketview.SeatDelta

	mu        sync.Mutex
	ps        *goredis.PubSub // replaced when the health check finds the link dead
	closed    bool
	stopWatch func() bool

	lastHeard atomic.Int64 // unix nanoseconds of the last message of any kind
	lagged    atomic.Uint64
	done      chan struct{} // closed when Close starts
	exit      chan struct{} // closed when the reader has closed C
	once      sync.Once
}

var _ ticketview.DeltaSubscription = (*Subscription)(nil)

// C implements ticketview.DeltaSubscription.
func (s *Subscription) C() <-chan ticketview.SeatDelta { return s.c }

// Lagged is the number of deltas dropped because the subscriber was slow, or could not
// be decoded.
func (s *Subscription) Lagged() uint64 { return s.lagged.Load() }

// Close implements ticketview.DeltaSubscription: it unsubscribes and closes C (after the
// deltas already queued). Closing twice is harmless.
func (s *Subscription) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		ps, stop := s.ps, s.stopWatch
		s.mu.Unlock()
		close(s.done)
		if stop != nil {
			stop()
		}
		ps.Close() // ends the reader's Receive
		<-s.exit
		s.client.mu.Lock()
		delete(s.client.subs, s)
		s.client.mu.Unlock()
	})
	return nil
}

func (s *Subscription) current() *goredis.PubSub {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	return s.ps
}

// read receives messages until Close, reconnecting (through go-redis) after errors.
func (s *Subscription) read() {
	defer close(s.exit)
	defer close(s.ch)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.done
		cancel()
	}()
	backoff := subscribeRetryBase
	for {
		ps := s.current()
		if ps == nil {
			return
		}
		msg, err := ps.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, goredis.ErrClosed) && s.current() != ps {
				continue // the health check replaced the connection
			}
			// go-redis drops the broken connection; the next Receive dials a new one and
			// subscribes again. Wait a little between failing attempts.
			select {
			case <-time.After(backoff):
			case <-s.done:
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = subscribeRetryBase
		s.lastHeard.Store(time.Now().UnixNano())
		m, ok := msg.(*goredis.Message)
		if !ok {
			continue // subscription confirmations, pongs
		}
		var d ticketview.SeatDelta
		if err := json.Unmarshal([]byte(m.Payload), &d); err != nil {
			s.lagged.Add(1)
			continue
		}
		select {
		case s.ch <- d:
		default:
			s.lagged.Add(1)
		}
	}
}

// healthCheck pings when nothing was heard for healthCheckEvery, and replaces the
// connection when the ping was not answered within another healthCheckEvery (a link
// that died without closing, which no read would notice).
func (s *Subscription) healthCheck() {
	t := time.NewTicker(healthCheckEvery / 3)
	defer t.Stop()
	var pinged time.Time
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		heard := time.Unix(0, s.lastHeard.Load())
		switch {
		case time.Since(heard) < healthCheckEvery:
			pinged = time.Time{}
		case pinged.IsZero() || heard.After(pinged):
			ctx, cancel := context.WithTimeout(context.Background(), s.client.opts.WriteTimeout)
			if ps := s.current(); ps != nil && ps.Ping(ctx) == nil {
				pinged = time.Now()
			}
			cancel()
		case time.Since(pinged) > healthCheckEvery:
			s.replace()
			pinged = time.Time{}
			s.lastHeard.Store(time.Now().UnixNano())
		}
	}
}

// replace swaps in a new Pub/Sub connection (subscribing lazily if Redis is away) and
// closes the old one, which ends the reader's Receive on it.
func (s *Subscription) replace() {
	ps := s.client.rdb.Subscribe(context.Background(), s.channel)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ps.Close()
		return
	}
	old := s.ps
	s.ps = ps
	s.mu.Unlock()
	old.Close()
}
