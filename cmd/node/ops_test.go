package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/ticketview/ticketview/demo"
	"github.com/ticketview/ticketview/internal/testutil"
)

// TestOperationsEndpoints: /readyz, /metrics and the node's own status, on the real
// wiring; cluster flags without cluster mode, and cluster mode without PostgreSQL, are
// refused with a message.
func TestOperationsEndpoints(t *testing.T) {
	clearEnv(t)
	m := NewMain()
	if err := m.ParseFlags([]string{"-data", t.TempDir(), "-http", "127.0.0.1:0", "-admin-token", "ops"}); err != nil {
		t.Fatal(err)
	}
	m.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	c := newClient(t, m.HTTPAddr())
	c.token = "ops"
	testutil.CheckFor(t, 10*time.Second, c.healthy)

	var ready map[string]string
	c.do("GET", "/readyz", "", nil, http.StatusOK, &ready)
	if ready["status"] != "ready" {
		t.Fatalf("readyz: %v", ready)
	}
	// A hold, so that the counters below have moved.
	c.do("POST", "/api/v1/events/"+demo.EventID+"/sections/"+demo.Standing+"/holds", "ops-buyer",
		map[string]any{"quantity": 1}, http.StatusCreated, nil)

	res, err := http.Get("http://" + m.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		`ticketview_http_request_duration_seconds_count{code="2xx",method="POST",route="/api/v1/events/:event/sections/:section/holds"} 1`,
		"ticketview_section_activations_total ",
		"ticketview_journal_commits_total ",
		"go_goroutines ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	c.fails("GET", "/api/v1/admin/node", "", nil, http.StatusUnauthorized, "unauthorized")
	c.header = map[string]string{"Authorization": "Bearer ops"}
	var st struct {
		Role           string `json:"role"`
		ActiveSections int    `json:"active_sections"`
		RequestsTotal  int64  `json:"requests_total"`
		Memory         struct {
			HeapAllocBytes uint64 `json:"heap_alloc_bytes"`
		} `json:"memory"`
	}
	c.do("GET", "/api/v1/admin/node", "", nil, http.StatusOK, &st)
	if st.Role != "single" || st.ActiveSections != 3 || st.RequestsTotal < 1 || st.Memory.HeapAllocBytes == 0 {
		t.Fatalf("node status %+v", st)
	}
	// A node has no cluster status: that is the gateway's.
	c.fails("GET", "/api/v1/admin/cluster", "", nil, http.StatusNotFound, "not_found")

	_ = m.Close()
	if err := m.readyCheck(context.Background()); err == nil {
		t.Fatal("ready after Close")
	}
}

func TestClusterFlagsRefused(t *testing.T) {
	clearEnv(t)
	if err := NewMain().ParseFlags([]string{"-seeds", "127.0.0.1:7946"}); err == nil || !strings.Contains(err.Error(), "need -gossip") {
		t.Fatalf("-seeds without -gossip: %v", err)
	}
	m := NewMain()
	if err := NewMain().ParseFlags([]string{"-data", t.TempDir(), "-gossip", "127.0.0.1:0"}); err == nil || !strings.Contains(err.Error(), "-jwt-secret is required") {
		t.Fatalf("cluster mode without -jwt-secret: %v", err)
	}
	if err := m.ParseFlags([]string{"-data", t.TempDir(), "-http", "127.0.0.1:0", "-gossip", "127.0.0.1:0",
		"-jwt-secret", "ops-test-access-token-key-0123456789"}); err != nil {
		t.Fatal(err)
	}
	m.Logger = zap.NewNop()
	if err := m.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "needs -postgres") {
		t.Fatalf("cluster mode without PostgreSQL: %v", err)
	}
}
