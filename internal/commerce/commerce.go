// Package commerce wires checkout, payments and the event pipeline — the outbox relay,
// Kafka or the embedded log, and the notification, analytics and propagation workers —
// for cmd/node and cmd/worker.
package commerce

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/checkout"
	"github.com/ticketview/ticketview/internal/cli"
	"github.com/ticketview/ticketview/payments/razorpay"
	"github.com/ticketview/ticketview/payments/sandbox"
	"github.com/ticketview/ticketview/persistence/kafka"
	"github.com/ticketview/ticketview/pipeline"
	"github.com/ticketview/ticketview/workers/analytics"
	"github.com/ticketview/ticketview/workers/notify"
	"github.com/ticketview/ticketview/workers/notify/sms"
	"github.com/ticketview/ticketview/workers/notify/smtp"
	"github.com/ticketview/ticketview/workers/propagate"
)

// Worker names for Settings.Workers.
const (
	WorkerNotify    = "notify"
	WorkerAnalytics = "analytics"
	WorkerPropagate = "propagate"
)

// Settings configure payments, the pipeline and the workers.
type Settings struct {
	Payments      string        // "sandbox" (default) or "razorpay"
	PaymentWindow time.Duration // how long a buyer has to pay an order
	SandboxLate   time.Duration // how long the sandbox's "late" instruments take

	RazorpayKeyID, RazorpaySecret, RazorpayWebhookSecret string
	RazorpayURL                                          string // API base URL (tests point it at a fake)

	// TicketKey is the hex Ed25519 seed that signs tickets; embedded, one is made and
	// kept in the data directory.
	TicketKey string

	Kafka   []string // brokers; none: the embedded log (SQLite) or the in-process log
	Workers []string // which workers run here (notify, analytics, propagate); "none" for none

	SMTPAddr, SMTPFrom, SMTPUser, SMTPPassword string
	SMSURL, SMSAccount, SMSToken, SMSFrom      string
	PublicURL                                  string // links in notifications

	kafkaFlag, workersFlag *string
}

// DefaultSettings are the embedded defaults.
func DefaultSettings() Settings {
	return Settings{Payments: "sandbox", PaymentWindow: checkout.DefaultPaymentWindow, SandboxLate: 2 * time.Minute,
		Workers: []string{WorkerNotify, WorkerAnalytics, WorkerPropagate}}
}

// Register adds the settings' flags (each falling back to its environment variable).
func (s *Settings) Register(fs *flag.FlagSet, secrets *cli.Secrets) {
	fs.StringVar(&s.Payments, "payments", cli.EnvOr("TICKETVIEW_PAYMENTS", s.Payments), `payment provider: "sandbox" (built-in test instruments) or "razorpay" (env TICKETVIEW_PAYMENTS)`)
	fs.DurationVar(&s.PaymentWindow, "payment-window", s.PaymentWindow, "how long a buyer has to pay an order")
	fs.DurationVar(&s.SandboxLate, "sandbox-late", s.SandboxLate, "how long the sandbox's late instruments take to succeed")
	fs.StringVar(&s.RazorpayKeyID, "razorpay-key-id", cli.EnvOr("TICKETVIEW_RAZORPAY_KEY_ID", s.RazorpayKeyID), "Razorpay key id (env TICKETVIEW_RAZORPAY_KEY_ID)")
	secrets.String(&s.RazorpaySecret, "razorpay-key-secret", "TICKETVIEW_RAZORPAY_KEY_SECRET", "Razorpay key secret (env TICKETVIEW_RAZORPAY_KEY_SECRET)")
	secrets.String(&s.RazorpayWebhookSecret, "razorpay-webhook-secret", "TICKETVIEW_RAZORPAY_WEBHOOK_SECRET", "Razorpay webhook secret (env TICKETVIEW_RAZORPAY_WEBHOOK_SECRET)")
	fs.StringVar(&s.RazorpayURL, "razorpay-url", cli.EnvOr("TICKETVIEW_RAZORPAY_URL", s.RazorpayURL), "Razorpay API base URL (default Razorpay's) (env TICKETVIEW_RAZORPAY_URL)")
	secrets.String(&s.TicketKey, "ticket-key", "TICKETVIEW_TICKET_KEY", "hex Ed25519 seed (32 bytes) that signs tickets; embedded: made once in the data directory (env TICKETVIEW_TICKET_KEY)")
	kafkaList := fs.String("kafka", cli.EnvOr("TICKETVIEW_KAFKA", strings.Join(s.Kafka, ",")), "Kafka brokers host:port,...: the outbox is relayed to Kafka and the workers consume there (env TICKETVIEW_KAFKA)")
	workers := fs.String("workers", cli.EnvOr("TICKETVIEW_WORKERS", strings.Join(s.Workers, ",")), "workers run here: notify,analytics,propagate or none (env TICKETVIEW_WORKERS)")
	fs.StringVar(&s.SMTPAddr, "smtp", cli.EnvOr("TICKETVIEW_SMTP", s.SMTPAddr), "SMTP server host:port for email notifications (env TICKETVIEW_SMTP)")
	fs.StringVar(&s.SMTPFrom, "smtp-from", cli.EnvOr("TICKETVIEW_SMTP_FROM", "TicketView <tickets@ticketview.local>"), "sender of email notifications (env TICKETVIEW_SMTP_FROM)")
	fs.StringVar(&s.SMTPUser, "smtp-user", cli.EnvOr("TICKETVIEW_SMTP_USER", s.SMTPUser), "SMTP user (env TICKETVIEW_SMTP_USER)")
	secrets.String(&s.SMTPPassword, "smtp-password", "TICKETVIEW_SMTP_PASSWORD", "SMTP password (env TICKETVIEW_SMTP_PASSWORD)")
	fs.StringVar(&s.SMSURL, "sms-url", cli.EnvOr("TICKETVIEW_SMS_URL", s.SMSURL), "SMS API base URL (Twilio-style) (env TICKETVIEW_SMS_URL)")
	fs.StringVar(&s.SMSAccount, "sms-account", cli.EnvOr("TICKETVIEW_SMS_ACCOUNT", s.SMSAccount), "SMS account SID (env TICKETVIEW_SMS_ACCOUNT)")
	secrets.String(&s.SMSToken, "sms-token", "TICKETVIEW_SMS_TOKEN", "SMS auth token (env TICKETVIEW_SMS_TOKEN)")
	fs.StringVar(&s.SMSFrom, "sms-from", cli.EnvOr("TICKETVIEW_SMS_FROM", s.SMSFrom), "SMS sender number (env TICKETVIEW_SMS_FROM)")
	s.kafkaFlag, s.workersFlag = kafkaList, workers
}

// Resolve reads the list flags after parsing and checks the settings.
func (s *Settings) Resolve() error {
	if s.kafkaFlag != nil {
		s.Kafka = cli.SplitList(*s.kafkaFlag)
	}
	if s.workersFlag != nil {
		s.Workers = cli.SplitList(*s.workersFlag)
	}
	if len(s.Workers) == 1 && s.Workers[0] == "none" {
		s.Workers = nil
	}
	for _, w := range s.Workers {
		if w != WorkerNotify && w != WorkerAnalytics && w != WorkerPropagate {
			return fmt.Errorf("-workers: unknown worker %q (notify, analytics, propagate or none)", w)
		}
	}
	switch s.Payments {
	case "sandbox":
	case "razorpay":
		if s.RazorpayKeyID == "" || s.RazorpaySecret == "" || s.RazorpayWebhookSecret == "" {
			return errors.New("-payments razorpay needs -razorpay-key-id, -razorpay-key-secret and -razorpay-webhook-secret")
		}
	default:
		return fmt.Errorf("-payments %q: want sandbox or razorpay", s.Payments)
	}
	if s.PaymentWindow < time.Minute || s.PaymentWindow+checkout.DefaultGrace > ticketview.MaxHoldTTL {
		return fmt.Errorf("-payment-window %s: want 1m to %s", s.PaymentWindow, ticketview.MaxHoldTTL-checkout.DefaultGrace)
	}
	return nil
}

// Deps are what the commerce side is built on.
type Deps struct {
	Bookings      ticketview.BookingService
	Orders        ticketview.OrderStore
	Outbox        ticketview.Outbox
	Log           ticketview.MessageLog // the embedded log (SQLite); nil: relay to Kafka or memory
	Locker        pipeline.Locker       // only one relay at a time (PostgreSQL advisory lock)
	Users         ticketview.UserStore
	Events        ticketview.EventStore
	Notifications ticketview.NotificationStore
	Analytics     ticketview.AnalyticsStore
	// Engine is the local seat engine, for the propagation worker (nil: no propagation).
	Engine interface {
		Reconfigure(ctx context.Context, event string) (int, error)
	}
	NodeID  string // names this node's propagation consumer group
	DataDir string
	Logger  *zap.Logger
	Now     func() time.Time
}

// Built is the commerce side. Close stops what it started.
type Built struct {
	Checkout *checkout.Service
	Reports  *analytics.Reports
	Provider ticketview.PaymentProvider

	relay   *pipeline.Relay
	sandbox *sandbox.Provider
	group
}

// group is what a Built or Workers runs in the background, and what it closes after.
type group struct {
	closers []func()
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// start runs each of runs until Close.
func (g *group) start(runs []func(context.Context) error, log *zap.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	for _, run := range runs {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			if err := run(ctx); err != nil && ctx.Err() == nil {
				log.Error("a background worker stopped", zap.Error(err))
			}
		}()
	}
}

// Close stops what runs (what the workers had not committed is delivered again next
// time), then closes the provider and Kafka.
func (g *group) Close() {
	if g.cancel != nil {
		g.cancel()
	}
	g.wg.Wait()
	for i := len(g.closers) - 1; i >= 0; i-- {
		g.closers[i]()
	}
}

// consumer opens a Kafka consumer (creating the topics if missing), closed with g.
func (g *group) consumer(ctx context.Context, kc kafka.Config) (*kafka.Consumer, error) {
	if err := kafka.EnsureTopics(ctx, kc, ticketview.TopicOrders, ticketview.TopicEvents, ticketview.TopicSections); err != nil {
		return nil, fmt.Errorf("Kafka topics: %w", err)
	}
	cons, err := kafka.NewConsumer(kc)
	if err != nil {
		return nil, fmt.Errorf("Kafka: %w", err)
	}
	g.closers = append(g.closers, func() { _ = cons.Close() })
	return cons, nil
}

// Build makes the checkout service and the pipeline; Start runs them.
func Build(ctx context.Context, s Settings, d Deps) (*Built, error) {
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	b := &Built{}
	key, err := ticketKey(s.TicketKey, d.DataDir)
	if err != nil {
		return nil, err
	}
	switch s.Payments {
	case "razorpay":
		p, err := razorpay.New(razorpay.Config{KeyID: s.RazorpayKeyID, KeySecret: s.RazorpaySecret, WebhookSecret: s.RazorpayWebhookSecret, BaseURL: s.RazorpayURL})
		if err != nil {
			return nil, err
		}
		b.Provider = p
	default:
		b.sandbox = sandbox.New(sandbox.Config{LateAfter: s.SandboxLate, Now: d.Now, Log: d.Logger.Named("sandbox")})
		b.Provider = b.sandbox
		b.closers = append(b.closers, func() { b.sandbox.Close() })
	}
	if d.Log == nil {
		// The outbox goes to Kafka, or to an in-process log when there is none.
		var sink ticketview.MessageSink
		var source ticketview.MessageSource
		if len(s.Kafka) > 0 {
			kc := kafka.Config{Brokers: s.Kafka, ClientID: "ticketview", Log: d.Logger.Named("kafka")}
			cons, err := b.consumer(ctx, kc)
			if err != nil {
				return b, err
			}
			prod, err := kafka.NewProducer(kc)
			if err != nil {
				return b, fmt.Errorf("Kafka: %w", err)
			}
			b.closers = append(b.closers, func() { _ = prod.Close() })
			sink, source = prod, cons
		} else {
			mem := pipeline.NewMemoryLog()
			sink, source = mem, mem
		}
		b.relay = pipeline.NewRelay(pipeline.RelayConfig{Outbox: d.Outbox, Sink: sink, Lock: d.Locker, Log: d.Logger.Named("relay")})
		return b, b.build(s, d, key, source)
	}
	return b, b.build(s, d, key, logSource(d.Log))
}

// logSource serves the workers from the embedded message log. The analytics worker's
// messages are handled many at a time (it applies each once, in any order): the embedded
// store then writes its counters in a few transactions a batch, not one a message.
func logSource(log ticketview.MessageLog) *pipeline.LogSource {
	return &pipeline.LogSource{Log: log, Concurrency: map[string]int{analytics.DefaultGroup: 32}}
}

func (b *Built) build(s Settings, d Deps, key ed25519.PrivateKey, source ticketview.MessageSource) error {
	changed := func() {}
	if b.relay != nil {
		changed = b.relay.Wake
	}
	svc, err := checkout.New(checkout.Config{Bookings: d.Bookings, Orders: d.Orders, Provider: b.Provider, Users: d.Users,
		TicketKey: key, PaymentWindow: s.PaymentWindow, Grace: checkout.DefaultGrace, Changed: changed, Now: d.Now, Log: d.Logger.Named("checkout")})
	if err != nil {
		return err
	}
	b.Checkout = svc
	if b.sandbox != nil {
		b.sandbox.SetWebhook(svc.Webhook)
	}
	if d.Analytics != nil {
		b.Reports = &analytics.Reports{Store: d.Analytics}
	}
	runs := []func(context.Context) error{svc.Run}
	if b.relay != nil {
		runs = append(runs, b.relay.Run)
	}
	workers, err := workerRuns(s, d, source)
	if err != nil {
		return err
	}
	b.start(append(runs, workers...), d.Logger)
	return nil
}

// workerRuns makes the workers s.Workers names whose dependencies d has (propagation
// needs a node's engine).
func workerRuns(s Settings, d Deps, source ticketview.MessageSource) ([]func(context.Context) error, error) {
	var runs []func(context.Context) error
	if slices.Contains(s.Workers, WorkerNotify) && d.Notifications != nil {
		w, err := newNotify(s, d, source)
		if err != nil {
			return nil, err
		}
		runs = append(runs, w.Run)
	}
	if slices.Contains(s.Workers, WorkerAnalytics) && d.Analytics != nil {
		w, err := analytics.New(analytics.Config{Source: source, Store: d.Analytics, Log: d.Logger.Named("analytics")})
		if err != nil {
			return nil, err
		}
		runs = append(runs, w.Run)
	}
	if slices.Contains(s.Workers, WorkerPropagate) && d.Engine != nil {
		w, err := propagate.New(propagate.Config{Source: source, Engine: d.Engine, Group: "node-" + d.NodeID, Log: d.Logger.Named("propagate")})
		if err != nil {
			return nil, err
		}
		runs = append(runs, w.Run)
	}
	return runs, nil
}

// ticketKey is the configured Ed25519 seed, or (embedded) one made once and kept in the
// data directory, so that tickets stay valid across restarts.
func ticketKey(configured, dataDir string) (ed25519.PrivateKey, error) {
	parse := func(s, where string) (ed25519.PrivateKey, error) {
		seed, err := hex.DecodeString(strings.TrimSpace(s))
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("%s: want a hex Ed25519 seed of %d bytes", where, ed25519.SeedSize)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	if configured != "" {
		return parse(configured, "-ticket-key")
	}
	seed := make([]byte, ed25519.SeedSize)
	if dataDir == "" {
		_, err := rand.Read(seed)
		return ed25519.NewKeyFromSeed(seed), err
	}
	path := filepath.Join(dataDir, "ticket.key")
	if b, err := os.ReadFile(path); err == nil {
		return parse(string(b), path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(seed)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("keeping the ticket key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// DirectSales reports whether customers may confirm holds without an order: with the
// sandbox provider only (development, load tests), never with a real one.
func (b *Built) DirectSales() bool { return b.sandbox != nil }

// Sandbox is the sandbox provider (nil with Razorpay): tests deliver late payments with it.
func (b *Built) Sandbox() *sandbox.Provider { return b.sandbox }

// Workers runs the notification and analytics workers on their own (cmd/worker), reading
// the Kafka topics (or, with no brokers, the embedded log d.Log).
type Workers struct{ group }

// StartWorkers starts the workers s.Workers names (propagation needs a node's engine:
// not here).
func StartWorkers(ctx context.Context, s Settings, d Deps) (*Workers, error) {
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	d.Engine = nil
	w := &Workers{}
	var source ticketview.MessageSource
	switch {
	case len(s.Kafka) > 0:
		cons, err := w.consumer(ctx, kafka.Config{Brokers: s.Kafka, ClientID: "ticketview-worker", Log: d.Logger.Named("kafka")})
		if err != nil {
			return nil, err
		}
		source = cons
	case d.Log != nil:
		source = logSource(d.Log)
	default:
		return nil, errors.New("the workers need -kafka (or the embedded database)")
	}
	runs, err := workerRuns(s, d, source)
	if err == nil && len(runs) == 0 {
		err = errors.New("no worker to run: -workers notify,analytics")
	}
	if err != nil {
		w.Close()
		return nil, err
	}
	w.start(runs, d.Logger)
	return w, nil
}

// newNotify makes the notification worker with the configured channels.
func newNotify(s Settings, d Deps, source ticketview.MessageSource) (*notify.Worker, error) {
	cfg := notify.Config{Source: source, Store: d.Notifications, Orders: d.Orders, Events: d.Events, PublicURL: s.PublicURL, Now: d.Now, Log: d.Logger.Named("notify")}
	if s.SMTPAddr != "" {
		m, err := smtp.New(smtp.Config{Addr: s.SMTPAddr, From: s.SMTPFrom, Username: s.SMTPUser, Password: s.SMTPPassword})
		if err != nil {
			return nil, err
		}
		cfg.Mailer = m
	}
	if s.SMSURL != "" {
		t, err := sms.New(sms.Config{BaseURL: s.SMSURL, AccountSID: s.SMSAccount, AuthToken: s.SMSToken, From: s.SMSFrom})
		if err != nil {
			return nil, err
		}
		cfg.SMS = t
	}
	return notify.New(cfg)
}
