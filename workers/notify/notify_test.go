package notify_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/internal/testutil"
	"github.com/ticketview/ticketview/internal/testutil/smtptest"
	"github.com/ticketview/ticketview/persistence/sqlite"
	"github.com/ticketview/ticketview/persistence/storetest"
	"github.com/ticketview/ticketview/workers/notify"
	"github.com/ticketview/ticketview/workers/notify/sms"
	"github.com/ticketview/ticketview/workers/notify/smtp"
)

// sliceSource is a ticketview.MessageSource over a slice that delivers like Kafka: in
// order; a message whose handler fails is delivered again (after a short pause) and the
// ones after it wait; each group's committed position survives Consume's return, so a
// restarted consumer resumes after the last message it committed.
type sliceSource struct {
	mu        sync.Mutex
	msgs      []ticketview.Message
	committed map[string]int // group -> messages committed
	failures  int            // handler errors
	changed   chan struct{}  // closed and replaced on every append and commit
}

func newSource(msgs ...ticketview.Message) *sliceSource {
	s := &sliceSource{committed: map[string]int{}, changed: make(chan struct{})}
	s.Append(msgs...)
	return s
}

// Append adds messages at the end.
func (s *sliceSource) Append(msgs ...ticketview.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		m.Offset = int64(len(s.msgs) + 1)
		s.msgs = append(s.msgs, m)
	}
	s.signal()
}

func (s *sliceSource) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Consume implements ticketview.MessageSource.
func (s *sliceSource) Consume(ctx context.Context, group string, topics []string, h ticketview.MessageHandler) error {
	for {
		s.mu.Lock()
		i, changed := s.committed[group], s.changed
		var m ticketview.Message
		have := i < len(s.msgs)
		if have {
			m = s.msgs[i]
		}
		s.mu.Unlock()
		if !have {
			select {
			case <-ctx.Done():
				return nil
			case <-changed:
				continue
			}
		}
		if slices.Contains(topics, m.Topic) {
			if err := h(ctx, m); err != nil {
				s.mu.Lock()
				s.failures++
				s.mu.Unlock()
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(5 * time.Millisecond): // the redelivery's pause
				}
				continue
			}
		}
		s.mu.Lock()
		s.committed[group] = i + 1
		s.signal()
		s.mu.Unlock()
	}
}

// Committed is the number of messages the group committed.
func (s *sliceSource) Committed(group string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.committed[group]
}

// Failures is the number of handler errors.
func (s *sliceSource) Failures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failures
}

// Len is the number of messages.
func (s *sliceSource) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// smsProvider is a Twilio-style HTTP endpoint recording the messages it takes.
type smsProvider struct {
	*httptest.Server
	mu     sync.Mutex
	msgs   []smsRequest // the messages accepted
	status int          // the answer; 201 when 0
	hook   func(n int)  // called with the number of messages accepted so far, before answering
}

type smsRequest struct{ To, Body, Token string }

func newSMSProvider(t *testing.T) *smsProvider {
	p := &smsProvider{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := smsRequest{To: r.PostForm.Get("To"), Body: r.PostForm.Get("Body"), Token: r.Header.Get("I-Twilio-Idempotency-Token")}
		p.mu.Lock()
		status, hook := p.status, p.hook
		if status < 300 {
			p.msgs = append(p.msgs, req)
		}
		n := len(p.msgs)
		p.mu.Unlock()
		if hook != nil {
			hook(n)
		}
		if status == 0 {
			status = http.StatusCreated
		}
		w.WriteHeader(status)
		fmt.Fprint(w, `{"code": 21211, "message": "invalid To"}`)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *smsProvider) messages() []smsRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.msgs)
}

func (p *smsProvider) setStatus(code int) {
	p.mu.Lock()
	p.status = code
	p.mu.Unlock()
}

// clock is the worker's time, moved by the test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

var (
	start0   = time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC)
	ticketSK = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
)

const publicURL = "https://tickets.example"

// fixture is a worker's world: a real SQLite store, an SMTP server, an SMS endpoint.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	db    *sqlite.DB
	smtp  *smtptest.Server
	sms   *smsProvider
	clock *clock
	src   *sliceSource
	event *ticketview.Event
}

func newFixture(t *testing.T) *fixture {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "tv.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{t: t, ctx: ctx, db: db, smtp: smtptest.New(t), sms: newSMSProvider(t), clock: &clock{now: start0}, src: newSource()}
	if err := db.CreateVenue(ctx, storetest.SampleVenue("hall-1")); err != nil {
		t.Fatal(err)
	}
	f.event = f.createEvent("gig-1", start0.Add(30*24*time.Hour))
	return f
}

func (f *fixture) createEvent(id string, starts time.Time) *ticketview.Event {
	e := storetest.SampleEvent(id, "hall-1", starts)
	e.Name = `Rock & "Roll" <Night> ` + id
	if err := f.db.CreateEvent(f.ctx, e); err != nil {
		f.t.Fatalf("CreateEvent: %v", err)
	}
	return e
}

// worker makes a worker on the fixture, with changes to its configuration.
func (f *fixture) worker(change ...func(*notify.Config)) *notify.Worker {
	f.t.Helper()
	mailer, err := smtp.New(smtp.Config{Addr: f.smtp.Addr(), From: "TicketView <tickets@ticketview.test>", Timeout: 10 * time.Second})
	if err != nil {
		f.t.Fatal(err)
	}
	sender, err := sms.New(sms.Config{BaseURL: f.sms.URL, AccountSID: "AC1", AuthToken: "tok", From: "+15005550006"})
	if err != nil {
		f.t.Fatal(err)
	}
	cfg := notify.Config{
		Source: f.src, Store: f.db, Mailer: mailer, SMS: sender, Orders: f.db, Events: f.db,
		PublicURL: publicURL, Now: f.clock.Now, ReminderEvery: time.Hour,
	}
	for _, c := range change {
		c(&cfg)
	}
	w, err := notify.New(cfg)
	if err != nil {
		f.t.Fatalf("notify.New: %v", err)
	}
	return w
}

// run runs the worker until the test ends or the returned stop is called, which waits
// for Run to return and checks it returned nil.
func (f *fixture) run(w *notify.Worker) (stop func()) {
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				f.t.Errorf("Run: %v", err)
			}
		})
	}
	f.t.Cleanup(stop)
	return stop
}

// caughtUp waits until the worker's group committed every message of the source.
func (f *fixture) caughtUp() {
	f.t.Helper()
	testutil.CheckFor(f.t, 30*time.Second, func() error {
		if c, n := f.src.Committed(notify.DefaultGroup), f.src.Len(); c != n {
			return fmt.Errorf("%d of %d messages committed", c, n)
		}
		return nil
	})
}

var contact = ticketview.Contact{Name: "Asha <b>Rao</b>", Email: "asha@example.com", Phone: "+91 (22) 555-0100"}

// newOrder is a pending order of the event: two VIP seats of section A and two GA places.
func (f *fixture) newOrder(id string, ev *ticketview.Event, c ticketview.Contact) *ticketview.Order {
	f.t.Helper()
	now := f.clock.Now()
	inr := func(v int64) ticketview.Money { return ticketview.Money{Amount: v, Currency: "INR"} }
	holds := []ticketview.Hold{
		{Token: "tok-" + id + "-a", Owner: "buyer-1", Event: ev.ID, Section: "A", Quantity: 2, Total: inr(19800), ExpiresAt: now.Add(15 * time.Minute),
			Items: []ticketview.HoldItem{{Seat: "A-1", Category: "VIP", Quantity: 1, UnitPrice: 9900}, {Seat: "A-2", Category: "VIP", Quantity: 1, UnitPrice: 9900}}},
		{Token: "tok-" + id + "-ga", Owner: "buyer-1", Event: ev.ID, Section: "GA", Quantity: 2, Total: inr(9000), ExpiresAt: now.Add(15 * time.Minute),
			Items: []ticketview.HoldItem{{Category: "STD", Quantity: 2, UnitPrice: 4500}}},
	}
	o, err := ticketview.NewOrder(id, "buyer-1", holds, now.Add(10*time.Minute), now)
	if err != nil {
		f.t.Fatalf("NewOrder: %v", err)
	}
	o.Contact = c
	return o
}

// confirm pays and confirms the order, with one signed ticket per seat and place.
func (f *fixture) confirm(o *ticketview.Order) {
	f.t.Helper()
	now := f.clock.Now()
	o.PaymentSucceeded(ticketview.Payment{ID: "pay_" + o.ID, Provider: "sandbox", Amount: o.Total, At: now}, now)
	bookings := map[string]string{}
	var tickets []ticketview.Ticket
	for _, it := range o.Items {
		b := "bk-" + o.ID + "-" + it.Section
		bookings[it.Section] = b
		for _, h := range it.Items {
			for range h.Quantity {
				id := fmt.Sprintf("tk-%s-%d", o.ID, len(tickets)+1)
				qr := ticketview.SignTicket(ticketSK, ticketview.TicketClaims{Ticket: id, Order: o.ID, Event: o.Event, Section: it.Section, Seat: h.Seat, Cat: h.Category})
				tickets = append(tickets, ticketview.Ticket{ID: id, BookingID: b, Section: it.Section, Seat: h.Seat, Category: h.Category,
					Price: ticketview.Money{Amount: h.UnitPrice, Currency: "INR"}, QR: qr})
			}
		}
	}
	if err := o.Confirm(bookings, tickets, now); err != nil {
		f.t.Fatalf("Confirm: %v", err)
	}
}

// save stores the order as it is now (created the first time) and returns the messages
// its changes recorded, for the source.
func (f *fixture) save(o *ticketview.Order) []ticketview.Message {
	f.t.Helper()
	msgs := o.TakeMessages()
	_, err := f.db.FindOrder(f.ctx, o.ID)
	switch {
	case ticketview.ErrorCode(err) == ticketview.ENOTFOUND:
		c := *o
		_, _, err = f.db.CreateOrder(f.ctx, &c)
	case err == nil:
		_, err = f.db.UpdateOrder(f.ctx, o.ID, func(cur *ticketview.Order) error {
			v := cur.Version
			*cur = *o
			cur.Version = v
			return nil
		})
	}
	if err != nil {
		f.t.Fatalf("save order %s: %v", o.ID, err)
	}
	return msgs
}

// confirmed is a new confirmed order, stored, with its messages.
func (f *fixture) confirmed(id string, ev *ticketview.Event, c ticketview.Contact) (*ticketview.Order, []ticketview.Message) {
	o := f.newOrder(id, ev, c)
	f.confirm(o)
	return o, f.save(o)
}

// envelopeID is the id of the message's envelope.
func envelopeID(t *testing.T, m ticketview.Message) string {
	env, err := ticketview.DecodeEnvelope(m.Value)
	if err != nil {
		t.Fatal(err)
	}
	return env.ID
}

// ofType returns the messages of the type.
func ofType(t *testing.T, msgs []ticketview.Message, typ string) []ticketview.Message {
	var out []ticketview.Message
	for _, m := range msgs {
		if env, err := ticketview.DecodeEnvelope(m.Value); err == nil && env.Type == typ {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s message", typ)
	}
	return out
}

func part(t *testing.T, m smtptest.Message, typ string) string {
	t.Helper()
	s, err := m.Part(typ)
	if err != nil {
		t.Fatalf("%s part: %v", typ, err)
	}
	return s
}

// countByID counts the emails per Message-ID.
func countByID(msgs []smtptest.Message) map[string]int {
	n := map[string]int{}
	for _, m := range msgs {
		n[m.Header.Get("Message-Id")]++
	}
	return n
}

// TestConfirmationEmail: a booking's confirmation arrives once by email, with every
// ticket (section, seat or GA, category, price, QR payload, link) and the total, the
// buyer's and the event's names escaped in HTML; once by SMS; the reminder is scheduled;
// the same message delivered again sends nothing.
func TestConfirmationEmail(t *testing.T) {
	f := newFixture(t)
	o, msgs := f.confirmed("ord-1", f.event, contact)
	f.src.Append(msgs...) // booking.created, payment.succeeded, booking.confirmed
	w := f.worker()
	f.run(w)
	got := f.smtp.WaitFor(t, 1, 30*time.Second)
	f.caughtUp()

	confirmedID := envelopeID(t, ofType(t, msgs, ticketview.MsgBookingConfirmed)[0])
	m := got[0]
	if want := "Your tickets for " + f.event.Name; m.Subject() != want {
		t.Fatalf("subject %q, want %q", m.Subject(), want)
	}
	if id := m.Header.Get("Message-Id"); id != smtp.MessageID(confirmedID+"/email") {
		t.Fatalf("Message-ID %q, want the key %s/email", id, confirmedID)
	}
	if len(m.To) != 1 || m.To[0] != "asha@example.com" {
		t.Fatalf("sent to %v", m.To)
	}
	text, html := part(t, m, "text/plain"), part(t, m, "text/html")
	if len(o.Tickets) != 4 {
		t.Fatalf("%d tickets", len(o.Tickets))
	}
	for _, tk := range o.Tickets {
		link := publicURL + "/orders/ord-1#ticket-" + tk.ID
		for what, body := range map[string]string{"text": text, "html": html} {
			if !strings.Contains(body, tk.QR) || !strings.Contains(body, link) {
				t.Fatalf("%s body lacks ticket %s's QR payload or link:\n%s", what, tk.ID, body)
			}
		}
	}
	for _, want := range []string{"A, A-1, VIP, 99.00 INR", "A, A-2, VIP, 99.00 INR", "GA, General admission, Standard, 45.00 INR",
		"Total paid: 288.00 INR", publicURL + "/orders/ord-1", "Hello Asha <b>Rao</b>,"} {
		if !strings.Contains(text, want) {
			t.Fatalf("text lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{"Asha &lt;b&gt;Rao&lt;/b&gt;", "Rock &amp; &#34;Roll&#34; &lt;Night&gt; gig-1", "288.00 INR"} {
		if !strings.Contains(html, want) {
			t.Fatalf("html lacks %q:\n%s", want, html)
		}
	}
	if strings.Contains(html, "<b>Rao</b>") || strings.Contains(html, "<Night>") {
		t.Fatalf("html does not escape names:\n%s", html)
	}

	testutil.CheckFor(t, 10*time.Second, func() error {
		if n := len(f.sms.messages()); n != 1 {
			return fmt.Errorf("%d SMS", n)
		}
		return nil
	})
	s := f.sms.messages()[0]
	if s.To != "+91225550100" || s.Token != confirmedID+"/sms" || !strings.Contains(s.Body, "order ord-1 confirmed, 4 ticket(s)") ||
		!strings.Contains(s.Body, publicURL+"/orders/ord-1") {
		t.Fatalf("SMS %+v", s)
	}

	due := f.event.StartsAt.Add(-notify.DefaultReminderBefore)
	rs, err := f.db.DueReminders(f.ctx, due, 10)
	if err != nil || len(rs) != 1 || rs[0].OrderID != "ord-1" || !rs[0].Due.Equal(due) || rs[0].Event != "gig-1" {
		t.Fatalf("reminders due %v, %v; want ord-1's at %s", rs, err, due)
	}

	// Delivered again (a redelivery): nothing more is sent.
	f.src.Append(ofType(t, msgs, ticketview.MsgBookingConfirmed)...)
	f.caughtUp()
	if n, s := len(f.smtp.Messages()), len(f.sms.messages()); n != 1 || s != 1 {
		t.Fatalf("after a redelivery: %d emails, %d SMS; want 1, 1", n, s)
	}
	if st := w.Stats(); st.Emails != 1 || st.SMS != 1 || st.Duplicates != 2 || st.Failures != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRestartExactlyOnce: the worker is stopped in the middle of the stream (while it
// sends an SMS) and started again on the same source and store: every notification is
// sent exactly once.
func TestRestartExactlyOnce(t *testing.T) {
	f := newFixture(t)
	const orders = 6
	for i := range orders {
		_, msgs := f.confirmed(fmt.Sprintf("ord-%d", i), f.event, contact)
		f.src.Append(msgs...)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	f.sms.mu.Lock()
	f.sms.hook = func(n int) {
		if n == 3 {
			cancel() // stop the worker while it is sending the third SMS
		}
	}
	f.sms.mu.Unlock()
	w1 := f.worker()
	if err := w1.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if c := f.src.Committed(notify.DefaultGroup); c >= f.src.Len() {
		t.Fatalf("the first worker committed all %d messages: not stopped mid-stream", c)
	}
	firstEmails := len(f.smtp.Messages())
	if firstEmails < 3 || firstEmails >= orders {
		t.Fatalf("%d emails before the restart, want 3 to %d", firstEmails, orders-1)
	}

	w2 := f.worker()
	f.run(w2)
	f.caughtUp()
	emails := f.smtp.Messages()
	byID := countByID(emails)
	if len(emails) != orders || len(byID) != orders {
		t.Fatalf("%d emails with %d Message-IDs, want %d each: %v", len(emails), len(byID), orders, byID)
	}
	smsMsgs := f.sms.messages()
	tokens := map[string]int{}
	for _, s := range smsMsgs {
		tokens[s.Token]++
	}
	if len(smsMsgs) != orders || len(tokens) != orders {
		t.Fatalf("%d SMS with %d tokens, want %d each", len(smsMsgs), len(tokens), orders)
	}
	if st1, st2 := w1.Stats(), w2.Stats(); st1.Emails+st2.Emails != orders || st1.SMS+st2.SMS != orders {
		t.Fatalf("stats %+v then %+v", st1, st2)
	}
}

// TestSMTPFailureRetried: the mail server refuses DATA twice with 451: the message is
// delivered again until the email goes out, once.
func TestSMTPFailureRetried(t *testing.T) {
	f := newFixture(t)
	_, msgs := f.confirmed("ord-1", f.event, ticketview.Contact{Email: "asha@example.com"})
	f.src.Append(msgs...)
	f.smtp.FailNextData(2)
	w := f.worker()
	f.run(w)
	f.caughtUp()
	if n := len(f.smtp.Messages()); n != 1 {
		t.Fatalf("%d emails, want 1", n)
	}
	if n := f.smtp.DataCommands(); n != 3 {
		t.Fatalf("%d DATA commands, want 3 (two refused)", n)
	}
	if st := w.Stats(); st.Emails != 1 || st.Failures != 2 || st.SMS != 0 {
		t.Fatalf("stats %+v", st)
	}
	if len(f.sms.messages()) != 0 {
		t.Fatal("an SMS without a phone number")
	}
}

// TestInFlightWaitsForLease: a notification another worker claimed is not sent until its
// claim's lease has passed; then it is sent once.
func TestInFlightWaitsForLease(t *testing.T) {
	f := newFixture(t)
	_, msgs := f.confirmed("ord-1", f.event, ticketview.Contact{Email: "asha@example.com"})
	m := ofType(t, msgs, ticketview.MsgBookingConfirmed)[0]
	key := envelopeID(t, m) + "/email"
	if res, err := f.db.ClaimNotification(f.ctx, key, f.clock.Now(), notify.DefaultLease); err != nil || res != ticketview.Claimed {
		t.Fatalf("claim: %v, %v", res, err)
	}
	w := f.worker()
	err := w.Handle(f.ctx, m)
	if ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		t.Fatalf("Handle while another worker has it: %v, want EUNAVAILABLE", err)
	}
	if len(f.smtp.Messages()) != 0 {
		t.Fatal("sent while in flight elsewhere")
	}
	f.clock.Set(start0.Add(notify.DefaultLease)) // the other worker crashed
	if err := w.Handle(f.ctx, m); err != nil {
		t.Fatalf("Handle after the lease: %v", err)
	}
	if err := w.Handle(f.ctx, m); err != nil {
		t.Fatalf("Handle again: %v", err)
	}
	if n := len(f.smtp.Messages()); n != 1 {
		t.Fatalf("%d emails, want 1", n)
	}
}

// TestRefundSeatsUnavailable: a payment that arrived after the hold expired and the seats
// were gone is refunded in full, and the buyer is told so by email and SMS; the expiry
// was told before.
func TestRefundSeatsUnavailable(t *testing.T) {
	f := newFixture(t)
	o := f.newOrder("ord-1", f.event, contact)
	late := o.PayBy.Add(time.Minute)
	if err := o.Expire(late); err != nil {
		t.Fatal(err)
	}
	o.PaymentSucceeded(ticketview.Payment{ID: "pay_1", Provider: "sandbox", Amount: o.Total, At: late}, late)
	if !o.Refunded(ticketview.Refund{ID: "rf-1", PaymentID: "pay_1", Amount: o.Total, Reason: ticketview.RefundSeatsGone}, late) {
		t.Fatal("not refunded")
	}
	msgs := f.save(o)
	f.src.Append(msgs...)
	w := f.worker()
	f.run(w)
	f.caughtUp()
	emails := f.smtp.Messages()
	if len(emails) != 2 {
		t.Fatalf("%d emails, want 2 (expired, refunded)", len(emails))
	}
	if s := emails[0].Subject(); !strings.Contains(s, "expired") {
		t.Fatalf("first email %q, want the expiry", s)
	}
	refund := emails[1]
	const says = "payment arrived after your hold expired and the seats were taken; we refunded you in full"
	if s := refund.Subject(); s != "Refund of 288.00 INR for "+f.event.Name {
		t.Fatalf("subject %q", s)
	}
	for typ, body := range map[string]string{"text": part(t, refund, "text/plain"), "html": part(t, refund, "text/html")} {
		if !strings.Contains(body, says) || !strings.Contains(body, "288.00 INR") {
			t.Fatalf("%s body does not say why and how much:\n%s", typ, body)
		}
	}
	smsMsgs := f.sms.messages()
	if len(smsMsgs) != 1 || !strings.Contains(smsMsgs[0].Body, says) || !strings.Contains(smsMsgs[0].Body, "288.00 INR") {
		t.Fatalf("SMS %+v", smsMsgs)
	}
}

// TestPartialCancellation: a refund of one section voids its tickets: the refund and the
// cancellation emails list them; the reminder stays for the tickets left, and goes when
// the rest is refunded.
func TestPartialCancellation(t *testing.T) {
	f := newFixture(t)
	o, msgs := f.confirmed("ord-1", f.event, ticketview.Contact{Email: "asha@example.com"})
	now := f.clock.Now()
	o.Refunded(ticketview.Refund{ID: "rf-1", PaymentID: "pay_ord-1", Amount: ticketview.Money{Amount: 19800, Currency: "INR"},
		Sections: []string{"A"}, Reason: ticketview.RefundRequested}, now)
	msgs = append(msgs, f.save(o)...)
	f.src.Append(msgs...)
	w := f.worker()
	f.run(w)
	f.caughtUp()
	emails := f.smtp.Messages()
	if len(emails) != 3 {
		t.Fatalf("%d emails, want 3 (confirmed, refunded, cancelled)", len(emails))
	}
	cancelled := part(t, emails[2], "text/plain")
	if !strings.HasPrefix(emails[2].Subject(), "Tickets cancelled") {
		t.Fatalf("subject %q", emails[2].Subject())
	}
	void, valid, _ := strings.Cut(cancelled, "still valid")
	if !strings.Contains(void, "A, A-1, VIP") || !strings.Contains(void, "A, A-2, VIP") || strings.Contains(void, "GA,") ||
		!strings.Contains(valid, "GA, General admission") || strings.Contains(valid, "A-1") {
		t.Fatalf("cancellation email:\n%s", cancelled)
	}
	refund := part(t, emails[1], "text/plain")
	if !strings.Contains(refund, "198.00 INR") || !strings.Contains(refund, "This is the refund you asked for.") {
		t.Fatalf("refund email:\n%s", refund)
	}
	due := f.event.StartsAt.Add(-notify.DefaultReminderBefore)
	if rs, err := f.db.DueReminders(f.ctx, due, 10); err != nil || len(rs) != 1 {
		t.Fatalf("reminders %v, %v; want the order's (it has tickets left)", rs, err)
	}

	o.Refunded(ticketview.Refund{ID: "rf-2", PaymentID: "pay_ord-1", Amount: ticketview.Money{Amount: 9000, Currency: "INR"},
		Sections: []string{"GA"}, Reason: ticketview.RefundRequested}, now)
	f.src.Append(f.save(o)...)
	f.caughtUp()
	if rs, err := f.db.DueReminders(f.ctx, due, 10); err != nil || len(rs) != 0 {
		t.Fatalf("reminders %v, %v; want none (all refunded)", rs, err)
	}
}

// TestReminders: the reminder goes once at its due time; it moves with its event's time;
// it is not sent for a refunded order, nor for one refunded after it was scheduled.
func TestReminders(t *testing.T) {
	f := newFixture(t)
	starts := start0.Add(48 * time.Hour)
	gig := f.createEvent("gig-2", starts)
	show := f.createEvent("show-1", starts)
	email := func(n string) ticketview.Contact {
		return ticketview.Contact{Email: n + "@example.com", Phone: "+14155552671"}
	}

	o1, m1 := f.confirmed("ord-sent", gig, email("sent"))
	_, m2 := f.confirmed("ord-moved", show, email("moved"))
	o3, m3 := f.confirmed("ord-refunded", gig, email("refunded"))
	o4, m4 := f.confirmed("ord-refunded-later", gig, email("later"))
	now := f.clock.Now()
	o3.Refunded(ticketview.Refund{ID: "rf-3", PaymentID: "pay_ord-refunded", Amount: o3.Total, Sections: []string{"A", "GA"}, Reason: ticketview.RefundRequested}, now)
	m3 = append(m3, f.save(o3)...)

	w := f.worker()
	for _, m := range slices.Concat(m1, m2, m3, m4) {
		if err := w.Handle(f.ctx, m); err != nil {
			t.Fatalf("Handle: %v", err)
		}
	}
	before := len(f.smtp.Messages())
	if n, err := w.RemindDue(f.ctx); err != nil || n != 0 {
		t.Fatalf("RemindDue before the time: %d, %v", n, err)
	}

	// The show moves two days later: the worker hears it, and the catalog has it.
	moved := starts.Add(48 * time.Hour)
	after, err := f.db.UpdateEvent(f.ctx, "show-1", func(e *ticketview.Event) error { e.StartsAt = moved; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Handle(f.ctx, ticketview.EventMessage(ticketview.MsgEventUpdated, after, []string{"time"}, now)); err != nil {
		t.Fatalf("Handle event.updated: %v", err)
	}
	// ord-refunded-later is refunded in the store; its messages are not handled yet.
	o4.Refunded(ticketview.Refund{ID: "rf-4", PaymentID: "pay_ord-refunded-later", Amount: o4.Total, Sections: []string{"A", "GA"}, Reason: ticketview.RefundRequested}, now)
	f.save(o4)

	f.clock.Set(starts.Add(-notify.DefaultReminderBefore)) // the gig's reminders are due
	n, err := w.RemindDue(f.ctx)
	if err != nil || n != 2 { // ord-sent sent, ord-refunded-later dropped
		t.Fatalf("RemindDue: %d, %v; want 2", n, err)
	}
	reminders := f.smtp.Messages()[before:]
	if len(reminders) != 1 || reminders[0].To[0] != "sent@example.com" || !strings.HasPrefix(reminders[0].Subject(), "Reminder: "+gig.Name) {
		t.Fatalf("reminders %v", reminders)
	}
	if id := reminders[0].Header.Get("Message-Id"); id != smtp.MessageID("reminder/ord-sent/email") {
		t.Fatalf("Message-ID %q", id)
	}
	text := part(t, reminders[0], "text/plain")
	for _, tk := range o1.Tickets {
		if !strings.Contains(text, tk.QR) {
			t.Fatalf("reminder without ticket %s:\n%s", tk.ID, text)
		}
	}
	if n, err := w.RemindDue(f.ctx); err != nil || n != 0 {
		t.Fatalf("RemindDue again: %d, %v", n, err)
	}

	f.clock.Set(moved.Add(-notify.DefaultReminderBefore - time.Second))
	if n, err := w.RemindDue(f.ctx); err != nil || n != 0 || len(f.smtp.Messages()) != before+1 {
		t.Fatalf("RemindDue before the moved show's time: %d, %v", n, err)
	}
	f.clock.Set(moved.Add(-notify.DefaultReminderBefore))
	if n, err := w.RemindDue(f.ctx); err != nil || n != 1 {
		t.Fatalf("RemindDue at the moved show's time: %d, %v", n, err)
	}
	all := f.smtp.Messages()
	if len(all) != before+2 || all[len(all)-1].To[0] != "moved@example.com" {
		t.Fatalf("%d emails, last to %v", len(all), all[len(all)-1].To)
	}
	var reminderSMS []string
	for _, s := range f.sms.messages() {
		if strings.HasPrefix(s.Token, "reminder/") {
			reminderSMS = append(reminderSMS, s.Token)
		}
	}
	slices.Sort(reminderSMS)
	if want := []string{"reminder/ord-moved/sms", "reminder/ord-sent/sms"}; !slices.Equal(reminderSMS, want) {
		t.Fatalf("reminder SMS %v, want %v", reminderSMS, want)
	}
	if rs, err := f.db.DueReminders(f.ctx, moved.Add(time.Hour), 10); err != nil || len(rs) != 0 {
		t.Fatalf("reminders left: %v, %v", rs, err)
	}
}

// TestReminderLoop: Run sends due reminders by itself.
func TestReminderLoop(t *testing.T) {
	f := newFixture(t)
	o, msgs := f.confirmed("ord-1", f.event, ticketview.Contact{Email: "asha@example.com"})
	f.src.Append(msgs...)
	w := f.worker(func(c *notify.Config) { c.ReminderEvery = 20 * time.Millisecond; c.ReminderBefore = time.Hour })
	f.run(w)
	f.smtp.WaitFor(t, 1, 30*time.Second)
	f.clock.Set(f.event.StartsAt.Add(-time.Hour))
	got := f.smtp.WaitFor(t, 2, 30*time.Second)
	if !strings.HasPrefix(got[1].Subject(), "Reminder: ") || !strings.Contains(part(t, got[1], "text/plain"), o.Tickets[0].QR) {
		t.Fatalf("second email %q", got[1].Subject())
	}
}

// TestSkipped: malformed messages, newer versions, types of no interest and orders
// without contact details are skipped without error; the stream goes on.
func TestSkipped(t *testing.T) {
	f := newFixture(t)
	_, silent := f.confirmed("ord-silent", f.event, ticketview.Contact{Name: "No Contact"})
	_, msgs := f.confirmed("ord-1", f.event, ticketview.Contact{Email: "asha@example.com"})
	v2 := ofType(t, msgs, ticketview.MsgBookingConfirmed)[0]
	v2.Value = []byte(strings.Replace(string(v2.Value), `"v":1`, `"v":2`, 1))
	bad := []ticketview.Message{
		{Topic: ticketview.TopicOrders, Value: []byte("not json")},
		{Topic: ticketview.TopicOrders, Value: []byte(`{"v":1,"id":"x","type":"booking.confirmed","data":{"order":null}}`)},
		{Topic: ticketview.TopicOrders, Value: []byte(`{"v":1,"id":"y","type":"booking.confirmed","data":"nonsense"}`)},
		{Topic: ticketview.TopicOrders, Value: []byte(`{"v":1,"id":"z","type":"payment.refunded","data":{"order":{"id":"o","event":"gig-1"}}}`)},
		{Topic: ticketview.TopicOrders, Value: []byte(`{"v":1,"id":"u","type":"booking.teleported","data":{}}`)},
		{Topic: ticketview.TopicEvents, Value: []byte(`{"v":1,"id":"e","type":"event.updated","data":{"event":null,"changed":["time"]}}`)},
		v2,
	}
	w := f.worker()
	for i, m := range slices.Concat(bad, silent) {
		if err := w.Handle(f.ctx, m); err != nil {
			t.Fatalf("message %d: %v, want it skipped", i, err)
		}
	}
	f.src.Append(slices.Concat(bad, silent, msgs)...)
	f.run(w)
	f.caughtUp()
	if got := f.smtp.Messages(); len(got) != 1 || got[0].To[0] != "asha@example.com" {
		t.Fatalf("emails %v, want only ord-1's", got)
	}
	if len(f.sms.messages()) != 0 {
		t.Fatal("SMS without a phone number")
	}
	if n := f.src.Failures(); n != 0 {
		t.Fatalf("%d handler errors", n)
	}
}

// TestRefusedSMSNotRetried: a number the provider refuses (4xx) is given up: counted as a
// failure, marked done, the stream goes on; a 5xx is retried.
func TestRefusedSMSNotRetried(t *testing.T) {
	f := newFixture(t)
	_, msgs := f.confirmed("ord-1", f.event, ticketview.Contact{Phone: "+14155552671"})
	m := ofType(t, msgs, ticketview.MsgBookingConfirmed)[0]
	w := f.worker()
	f.sms.setStatus(http.StatusServiceUnavailable)
	if err := w.Handle(f.ctx, m); ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		t.Fatalf("Handle with the provider down: %v, want EUNAVAILABLE", err)
	}
	f.sms.setStatus(http.StatusBadRequest)
	if err := w.Handle(f.ctx, m); err != nil {
		t.Fatalf("Handle with the number refused: %v, want nil", err)
	}
	f.sms.setStatus(0)
	if err := w.Handle(f.ctx, m); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.Failures != 2 || st.SMS != 0 || st.Duplicates != 1 {
		t.Fatalf("stats %+v; want 2 failures, nothing sent, then skipped", st)
	}
	if n := len(f.sms.messages()); n != 0 {
		t.Fatalf("%d SMS accepted", n)
	}
}

func TestNewValidates(t *testing.T) {
	f := newFixture(t)
	for i, cfg := range []notify.Config{
		{Store: f.db, Orders: f.db, Events: f.db},
		{Source: f.src, Orders: f.db, Events: f.db},
		{Source: f.src, Store: f.db, Events: f.db},
		{Source: f.src, Store: f.db, Orders: f.db, Events: f.db, Lease: -time.Second},
	} {
		if _, err := notify.New(cfg); ticketview.ErrorCode(err) != ticketview.EINVALID {
			t.Errorf("config %d: %v, want EINVALID", i, err)
		}
	}
}
