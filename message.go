package ticketview

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"
)

// The event pipeline. Domain events are written to a transactional outbox with the change
// that caused them (an order's update, an event's edit, a section's journal commit); a
// relay publishes them to Kafka (or, embedded, the outbox itself is the log), and workers
// consume them in consumer groups, at least once and in order per key. Each message has
// an id, the consumers' idempotency key, so that their effects happen once.

// Topics.
const (
	TopicOrders   = "ticketview.orders"         // booking.* and payment.* messages, keyed by order id
	TopicEvents   = "ticketview.events"         // event.* messages, keyed by event id
	TopicSections = "ticketview.section-events" // the sections' journal events (SectionMessage), keyed "event/section"
)

// Message types (Envelope.Type).
const (
	MsgBookingCreated   = "booking.created"   // checkout: an order pending payment
	MsgBookingConfirmed = "booking.confirmed" // paid: bookings and tickets issued
	MsgBookingCancelled = "booking.cancelled" // bookings cancelled (refunded) or an unpaid order abandoned
	MsgBookingExpired   = "booking.expired"   // the payment window passed unpaid
	MsgPaymentSucceeded = "payment.succeeded"
	MsgPaymentFailed    = "payment.failed"
	MsgPaymentRefunded  = "payment.refunded"
	MsgEventCreated     = "event.created"
	MsgEventUpdated     = "event.updated" // any change of the event: details, time, prices, status
)

// MessageVersion is the schema version of the envelopes and their data written now.
const MessageVersion = 1

// Message is one record of the pipeline: an outbox row, a Kafka record.
type Message struct {
	Topic string
	Key   string // partition key: messages of one key stay in order
	Value []byte // JSON: an Envelope (orders, events) or a SectionMessage (section events)
	// Offset is the message's position in what it was read from (outbox row id, Kafka
	// offset); Partition its Kafka partition. Both are set when read.
	Offset    int64
	Partition int32
}

// Envelope is the JSON value of the orders' and events' messages.
type Envelope struct {
	V    int             `json:"v"`
	ID   string          `json:"id"` // unique: the consumers' idempotency key
	Type string          `json:"type"`
	Key  string          `json:"key"`
	At   time.Time       `json:"at"`
	Data json.RawMessage `json:"data"`
}

// OrderData is the data of booking.* and payment.* messages: the order as it stands after
// the change, with the payment or refund concerned.
type OrderData struct {
	Order   *Order   `json:"order"`
	Payment *Payment `json:"payment,omitempty"`
	Refund  *Refund  `json:"refund,omitempty"`
}

// EventData is the data of event.* messages: the event after the change and which of its
// parts changed ("details", "time", "venue", "prices", "status", "sales_window").
type EventData struct {
	Event   *Event   `json:"event"`
	Changed []string `json:"changed,omitempty"`
}

// SectionMessage is the JSON value of a section event's message (version 1); its id is
// "event/section#seq".
type SectionMessage struct {
	V         int       `json:"v"`
	Type      string    `json:"type"` // SectionEventType.String()
	Event     string    `json:"event"`
	Section   string    `json:"section"`
	Seq       uint64    `json:"seq"`
	At        time.Time `json:"at"`
	Hold      string    `json:"hold,omitempty"` // a digest of the hold's token (the token is a secret)
	Owner     string    `json:"owner,omitempty"`
	Seats     []int32   `json:"seats,omitempty"`
	Prices    []int64   `json:"prices,omitempty"`
	Quantity  int32     `json:"quantity,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	BookingID string    `json:"booking_id,omitempty"`
	Reference string    `json:"reference,omitempty"`
}

// ID is the message's idempotency key.
func (m *SectionMessage) ID() string {
	return m.Event + "/" + m.Section + "#" + uitoa(m.Seq)
}

func uitoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		if v /= 10; v == 0 {
			return string(b[i:])
		}
	}
}

// NewMessageID returns a random message id.
func NewMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewEnvelopeMessage builds the message of a domain event: data is marshalled into an
// Envelope with a new id.
func NewEnvelopeMessage(topic, key, typ string, at time.Time, data any) Message {
	raw, err := json.Marshal(data)
	if err != nil {
		raw = []byte("null") // the data types here always marshal
	}
	env, _ := json.Marshal(Envelope{V: MessageVersion, ID: NewMessageID(), Type: typ, Key: key, At: at.UTC(), Data: raw})
	return Message{Topic: topic, Key: key, Value: env}
}

func newOrderMessage(typ string, o *Order, p *Payment, r *Refund) Message {
	snap := *o
	snap.msgs = nil
	return NewEnvelopeMessage(TopicOrders, o.ID, typ, o.UpdatedAt, OrderData{Order: &snap, Payment: p, Refund: r})
}

// EventMessage is the message of an event's creation or change.
func EventMessage(typ string, e *Event, changed []string, now time.Time) Message {
	return NewEnvelopeMessage(TopicEvents, e.ID, typ, now, EventData{Event: e, Changed: changed})
}

// DecodeEnvelope reads an envelope message's value.
func DecodeEnvelope(value []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(value, &e); err != nil {
		return e, Errorf(EINVALID, "message: %v", err)
	}
	if e.V < 1 || e.ID == "" || e.Type == "" {
		return e, Errorf(EINVALID, "message: no version, id or type")
	}
	return e, nil
}

// MessageSink publishes messages durably (Kafka's idempotent producer, the embedded log):
// when Publish returns nil, every message is stored, in order per key.
type MessageSink interface {
	Publish(ctx context.Context, msgs []Message) error
}

// MessageHandler handles one message. An error leaves the message uncommitted: it is
// delivered again (after a pause), and messages after it in its partition wait.
type MessageHandler func(ctx context.Context, m Message) error

// MessageSource delivers the messages of topics to a consumer group: at least once, in
// order per key, resuming after the last message the group committed (a message is
// committed when its handler returns nil). Consume blocks until ctx ends.
type MessageSource interface {
	Consume(ctx context.Context, group string, topics []string, h MessageHandler) error
}

// Outbox is the transactional outbox as its relay and feeders see it. Stores write
// messages into it in the transactions of the changes they describe.
type Outbox interface {
	// PendingMessages answers up to limit messages not yet published, in the order they
	// were written; Offset is the row's id.
	PendingMessages(ctx context.Context, limit int) ([]Message, error)
	// MarkPublished marks the messages with these offsets published.
	MarkPublished(ctx context.Context, offsets []int64) error
	// AppendMessages writes messages on their own (the section events' feeder of the
	// embedded default, whose journal does not write them).
	AppendMessages(ctx context.Context, msgs []Message) error
}

// MessageLog is an outbox read as a log (embedded default: one writer, so row ids grow in
// commit order), with each consumer group's position.
type MessageLog interface {
	// ReadMessages answers up to limit messages of the topics after offset, in order.
	ReadMessages(ctx context.Context, after int64, topics []string, limit int) ([]Message, error)
	// GroupOffset is the last offset the group committed (0: none).
	GroupOffset(ctx context.Context, group string) (int64, error)
	CommitGroupOffset(ctx context.Context, group string, offset int64) error
}

// EventChanges names the parts of an event that differ between before and after, as
// EventData.Changed reports them: "details" (name, description, genre), "time",
// "venue" (venue, location, city), "prices" (categories), "status" (status, publication),
// "sales_window", "buyer_limit".
func EventChanges(before, after *Event) []string {
	var out []string
	add := func(changed bool, part string) {
		if changed {
			out = append(out, part)
		}
	}
	add(before.Name != after.Name || before.Description != after.Description || before.Genre != after.Genre, "details")
	add(!before.StartsAt.Equal(after.StartsAt), "time")
	add(before.VenueID != after.VenueID || before.Location != after.Location || before.City != after.City, "venue")
	add(!slices.Equal(before.Categories, after.Categories) || before.Currency != after.Currency, "prices")
	add(before.Status != after.Status || !before.PublishedAt.Equal(after.PublishedAt), "status")
	add(!before.SalesStart.Equal(after.SalesStart) || !before.SalesEnd.Equal(after.SalesEnd), "sales_window")
	add(before.BuyerLimit != after.BuyerLimit, "buyer_limit")
	return out
}
