package main

import (
	"context"
	"github.com/ticketview/ticketview/internal/testutil"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/ticketview/ticketview/demo"
)

func clearEnv(t *testing.T) {
	for _, k := range []string{"TICKETVIEW_DATA", "TICKETVIEW_HTTP", "TICKETVIEW_ADMIN_TOKEN", "TICKETVIEW_SEED", "TICKETVIEW_JOURNAL",
		"TICKETVIEW_POSTGRES_URL", "TICKETVIEW_REDIS_URL", "TICKETVIEW_MONGO_URL", "TICKETVIEW_MONGO_DB", "TICKETVIEW_REDIS_PREFIX", "TICKETVIEW_AUDIT",
		"TICKETVIEW_JWT_SECRET", "TICKETVIEW_LIMITS", "TICKETVIEW_CAPTCHA", "TICKETVIEW_ADMIN_EMAIL", "TICKETVIEW_ADMIN_PASSWORD"} {
		t.Setenv(k, "")
	}
}

func TestParseFlags(t *testing.T) {
	clearEnv(t)
	m := NewMain()
	if err := m.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	if m.DataDir != "./data" || m.HTTP != ":8080" || m.Journal != "sqlite" || m.AdminToken != "" || !m.Seed {
		t.Fatalf("defaults: %+v", m)
	}

	t.Setenv("TICKETVIEW_DATA", "/var/lib/tv")
	t.Setenv("TICKETVIEW_HTTP", ":9090")
	t.Setenv("TICKETVIEW_ADMIN_TOKEN", "from-env")
	t.Setenv("TICKETVIEW_SEED", "false")
	t.Setenv("TICKETVIEW_JOURNAL", "sqlite")
	m = NewMain()
	if err := m.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	if m.DataDir != "/var/lib/tv" || m.HTTP != ":9090" || m.Journal != "sqlite" || m.AdminToken != "from-env" || m.Seed {
		t.Fatalf("from the environment: %+v", m)
	}

	m = NewMain()
	if err := m.ParseFlags([]string{"-data", "d", "-http", "127.0.0.1:0", "-journal", "file", "-admin-token", "flag", "-seed=true"}); err != nil {
		t.Fatal(err)
	}
	if m.DataDir != "d" || m.HTTP != "127.0.0.1:0" || m.Journal != "file" || m.AdminToken != "flag" || !m.Seed {
		t.Fatalf("flags over the environment: %+v", m)
	}

	for _, args := range [][]string{{"extra"}, {"-nope"}, {"-data", ""}, {"-journal", "tape"}} {
		if err := NewMain().ParseFlags(args); err == nil {
			t.Errorf("ParseFlags(%q) accepted", args)
		}
	}
	t.Setenv("TICKETVIEW_SEED", "maybe")
	if err := NewMain().ParseFlags(nil); err == nil {
		t.Error("TICKETVIEW_SEED=maybe accepted")
	}
}

// TestMainInProcess runs the node in this process on port 0.
func TestMainInProcess(t *testing.T) {
	clearEnv(t)
	data := t.TempDir()
	m := NewMain()
	if err := m.ParseFlags([]string{"-data", data, "-http", "127.0.0.1:0", "-admin-token", operatorToken}); err != nil {
		t.Fatal(err)
	}
	m.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	if m.HTTPAddr() == "" || m.HTTPAddr() == "127.0.0.1:0" {
		t.Fatalf("HTTPAddr %q", m.HTTPAddr())
	}
	c := newClient(t, m.HTTPAddr())
	testutil.CheckFor(t, 10*time.Second, c.healthy)

	var list struct {
		Events []struct{ ID string } `json:"events"`
		Total  int                   `json:"total"`
	}
	c.do("GET", "/api/v1/events", "", nil, http.StatusOK, &list)
	if list.Total != 1 || list.Events[0].ID != demo.EventID {
		t.Fatalf("events %+v", list)
	}
	// Without credentials, organizer and admin routes are refused.
	c.fails("POST", "/api/v1/organizer/events/"+demo.EventID+"/sections/"+demo.FloorVIP+"/block", "",
		map[string]any{"seats": []string{"A-1"}}, http.StatusUnauthorized, "unauthorized")
	if _, err := os.Stat(filepath.Join(data, DBFile)); err != nil {
		t.Fatalf("database file: %v", err)
	}

	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := <-m.Served(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, _, err := c.try("GET", "/healthz", "", nil); err == nil {
		t.Fatal("still serving after Close")
	}
}

// TestMainRunFailsCleanly: a port in use makes Run fail, and leaves nothing running.
func TestMainRunFailsCleanly(t *testing.T) {
	clearEnv(t)
	first := NewMain()
	if err := first.ParseFlags([]string{"-data", t.TempDir(), "-http", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	first.Logger = zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	if err := first.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer first.Close()

	second := NewMain()
	if err := second.ParseFlags([]string{"-data", t.TempDir(), "-http", first.HTTPAddr(), "-seed=false"}); err != nil {
		t.Fatal(err)
	}
	second.Logger = zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	if err := second.Run(context.Background()); err == nil {
		t.Fatal("Run on a port in use succeeded")
	}
	if err := second.Close(); err != nil {
		t.Fatalf("Close after a failed Run: %v", err)
	}
}

// The server addresses come from the environment or the flags (flags win); none means
// every port is embedded.
func TestParseFlagsServers(t *testing.T) {
	clearEnv(t)
	m := NewMain()
	if err := m.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	if m.PostgresURL != "" || m.RedisURL != "" || m.MongoURL != "" || m.MongoDB != "ticketview" || m.RedisPrefix != "tv:" || !m.Audit {
		t.Fatalf("defaults: %+v", m)
	}
	t.Setenv("TICKETVIEW_POSTGRES_URL", "postgres://env/db")
	t.Setenv("TICKETVIEW_REDIS_URL", "redis://env:6379/0")
	t.Setenv("TICKETVIEW_MONGO_URL", "mongodb://env/")
	t.Setenv("TICKETVIEW_MONGO_DB", "envdb")
	t.Setenv("TICKETVIEW_REDIS_PREFIX", "env:")
	t.Setenv("TICKETVIEW_AUDIT", "false")
	m = NewMain()
	if err := m.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	if m.PostgresURL != "postgres://env/db" || m.RedisURL != "redis://env:6379/0" || m.MongoURL != "mongodb://env/" ||
		m.MongoDB != "envdb" || m.RedisPrefix != "env:" || m.Audit {
		t.Fatalf("from the environment: %+v", m)
	}
	m = NewMain()
	if err := m.ParseFlags([]string{"-postgres", "postgres://flag/db", "-redis", "redis://flag:6379/1", "-mongo", "mongodb://flag/",
		"-mongo-db", "flagdb", "-redis-prefix", "flag:", "-audit=true"}); err != nil {
		t.Fatal(err)
	}
	if m.PostgresURL != "postgres://flag/db" || m.RedisURL != "redis://flag:6379/1" || m.MongoURL != "mongodb://flag/" ||
		m.MongoDB != "flagdb" || m.RedisPrefix != "flag:" || !m.Audit {
		t.Fatalf("flags over the environment: %+v", m)
	}
	t.Setenv("TICKETVIEW_AUDIT", "sometimes")
	if err := NewMain().ParseFlags(nil); err == nil {
		t.Error("TICKETVIEW_AUDIT=sometimes accepted")
	}
}
