// Package pgtest gives each test its own PostgreSQL schema on the test server, so tests
// run in parallel against one real PostgreSQL.
//
// The server is TICKETVIEW_TEST_POSTGRES_URL, by default
// postgres://postgres@127.0.0.1:5432/test (what `make test` ensures is running).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the test server when TICKETVIEW_TEST_POSTGRES_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// ServerURL is the test server's address.
func ServerURL() string {
	if u := os.Getenv("TICKETVIEW_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// URL creates a fresh, empty schema, drops it when the test ends, and returns a
// connection URL whose search_path is that schema (pgx passes unknown URL parameters to
// the server as run-time parameters).
func URL(t testing.TB) string {
	t.Helper()
	schema := "t_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		t.Fatalf("PostgreSQL at %s is not reachable (%v): start it, or set TICKETVIEW_TEST_POSTGRES_URL; `make test` starts it", redact(ServerURL()), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, ServerURL())
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	return WithParam(ServerURL(), "search_path", schema)
}

// WithParam returns u with the query parameter set.
func WithParam(u, key, value string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := p.Query()
	q.Set(key, value)
	p.RawQuery = q.Encode()
	return p.String()
}

// WithHost returns u pointing at another host:port (a fault-injecting proxy, say).
func WithHost(u, hostport string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.Host = hostport
	return p.String()
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "the configured URL"
	}
	return p.Redacted()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
