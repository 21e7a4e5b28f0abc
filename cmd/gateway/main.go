// Command gateway will be the stateless API gateway of a TicketView cluster: it serves the
// HTTP API and forwards each command to the node that owns the section (issue 4). Until
// the cluster exists it refuses to run; in single-node mode `cmd/node` serves the API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
)

// ErrNotYet is what Run answers until the cluster exists.
var ErrNotYet = errors.New("the standalone gateway joins a cluster (issue 4); in single-node mode `cmd/node` serves the API")

// Main has the shape of cmd/node's Main.
type Main struct {
	HTTP       string
	AdminToken string
}

// NewMain returns a Main with the defaults.
func NewMain() *Main { return &Main{HTTP: ":8080"} }

// ParseFlags reads -http and -admin-token (env TICKETVIEW_HTTP, TICKETVIEW_ADMIN_TOKEN).
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.StringVar(&m.HTTP, "http", envOr("TICKETVIEW_HTTP", m.HTTP), "HTTP listen address (env TICKETVIEW_HTTP)")
	fs.StringVar(&m.AdminToken, "admin-token", os.Getenv("TICKETVIEW_ADMIN_TOKEN"), "admin bearer token (env TICKETVIEW_ADMIN_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Run fails with ErrNotYet.
func (m *Main) Run(context.Context) error { return ErrNotYet }

// HTTPAddr is the bound address: none, since Run serves nothing yet.
func (m *Main) HTTPAddr() string { return "" }

// Close releases nothing.
func (m *Main) Close() error { return nil }

func main() {
	m := NewMain()
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "ticketview gateway:", err)
		os.Exit(2)
	}
	if err := m.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "ticketview gateway:", err)
		os.Exit(1)
	}
}
