// Command worker runs TicketView's notification and analytics workers on their own, as
// Kafka consumer groups, beside the nodes (which can also run them: node -workers).
//
//	worker -postgres URL -kafka host:port,... [-workers notify,analytics] [-smtp host:port] [-sms-url URL ...]
//
// Every flag falls back to its environment variable (as the node's do). SIGINT or SIGTERM
// stops it; what it had not committed is delivered again to the next worker.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/ticketview/ticketview/internal/cli"
	"github.com/ticketview/ticketview/internal/commerce"
	"github.com/ticketview/ticketview/persistence/postgres"
)

// Main is the worker program.
type Main struct {
	PostgresURL string
	Commerce    commerce.Settings
	Logger      *zap.Logger
	Now         func() time.Time

	pg      *postgres.DB
	workers *commerce.Workers
}

// NewMain returns a Main with the defaults: both workers.
func NewMain() *Main {
	s := commerce.DefaultSettings()
	s.Workers = []string{commerce.WorkerNotify, commerce.WorkerAnalytics}
	return &Main{Commerce: s, Now: time.Now}
}

// ParseFlags reads the flags.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	secrets := cli.NewSecrets(fs)
	secrets.String(&m.PostgresURL, "postgres", "TICKETVIEW_POSTGRES_URL", "PostgreSQL URL: orders, notifications and analytics (env TICKETVIEW_POSTGRES_URL)")
	m.Commerce.Register(fs, secrets)
	if err := fs.Parse(args); err != nil {
		return err
	}
	secrets.Resolve()
	if err := m.Commerce.Resolve(); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if m.PostgresURL == "" || len(m.Commerce.Kafka) == 0 {
		return errors.New("the worker needs -postgres and -kafka (embedded, the node runs the workers itself)")
	}
	return nil
}

// Run opens PostgreSQL and starts the workers.
func (m *Main) Run(ctx context.Context) (err error) {
	if m.Logger == nil {
		if m.Logger, err = zap.NewProduction(); err != nil {
			return err
		}
	}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if m.pg, err = postgres.Open(ctx, m.PostgresURL, postgres.Options{}); err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	m.workers, err = commerce.StartWorkers(ctx, m.Commerce, commerce.Deps{Orders: m.pg, Events: m.pg, Notifications: m.pg,
		Analytics: m.pg, Users: m.pg, Logger: m.Logger, Now: m.Now})
	if err != nil {
		return err
	}
	m.Logger.Info("ticketview worker started", zap.Strings("workers", m.Commerce.Workers), zap.Strings("kafka", m.Commerce.Kafka))
	return nil
}

// Close stops the workers and closes PostgreSQL.
func (m *Main) Close() {
	if m.workers != nil {
		m.workers.Close()
	}
	if m.pg != nil {
		m.pg.Close()
	}
	if m.Logger != nil {
		_ = m.Logger.Sync()
	}
}

func main() {
	m := NewMain()
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "ticketview worker:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ticketview worker:", err)
		os.Exit(1)
	}
	fmt.Println("ticketview worker running")
	<-ctx.Done()
	m.Close()
}
