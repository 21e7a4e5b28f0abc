package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/ticketview/ticketview/bench/baseline"
	"github.com/ticketview/ticketview/bench/load"
)

// baseTarget is a baseline design (bench/baseline) served by this program in a child
// process (-serve-baseline), so that it runs apart from the load generator as TicketView
// does.
type baseTarget struct {
	kind  string
	proc  *process
	conns int
	cfg   baseline.Config // the child's configuration (directConfig derives the in-process one)
}

func newBaseline(kind, self, dir string, cfg baseline.Config, conns int) *baseTarget {
	t := &baseTarget{kind: kind, conns: conns, cfg: cfg}
	t.proc = &process{name: kind, bin: self, logDir: dir, args: func(addr string) []string {
		return []string{"-serve-baseline", kind, "-baseline-addr", addr, "-postgres", cfg.PostgresURL, "-redis", cfg.RedisURL,
			"-baseline-schema", cfg.Schema + "_" + kind, "-baseline-prefix", cfg.Prefix, "-baseline-conns", strconv.Itoa(cfg.Conns)}
	}}
	return t
}

func (t *baseTarget) Name() string                           { return t.kind }
func (t *baseTarget) Doc() load.TargetDoc                    { return baseline.Describe(t.kind) }
func (t *baseTarget) Start(ctx context.Context) error        { return t.proc.start(ctx) }
func (t *baseTarget) Stop()                                  { t.proc.stop() }
func (t *baseTarget) Watchers(load.Layout, int) load.Watcher { return nil }
func (t *baseTarget) Restart(ctx context.Context) error      { t.proc.kill(); return t.proc.start(ctx) }
func (t *baseTarget) url() string                            { return t.proc.url() }
func (t *baseTarget) String() string                         { return t.kind + " at " + t.url() }

func (t *baseTarget) Setup(ctx context.Context, layout load.Layout) (load.Driver, error) {
	admin, err := load.NewHTTP(t.url(), layout.Event, "bench", 2)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	if st := admin.Do(ctx, "POST", "/bench/setup", "", layout, nil); st.Code != http.StatusNoContent {
		return nil, fmt.Errorf("%s: setup: %d %v", t.kind, st.Code, st.Err)
	}
	return load.NewHTTP(t.url(), layout.Event, "bench", t.conns)
}

// serveBaseline is the child process: it serves one baseline design until SIGTERM.
func serveBaseline(kind, addr string, cfg baseline.Config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	store, err := baseline.Open(ctx, kind, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	app := baseline.Handler(store)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("baseline %s listening on http://%s\n", kind, ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- app.Listener(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.ShutdownWithContext(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
