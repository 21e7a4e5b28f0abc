package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ticketview/ticketview/bench/load"
)

// target is one system under test: started (a process of its own), set up for a flash
// sale, driven, killed and restarted for the check, stopped.
type target interface {
	Name() string
	Doc() load.TargetDoc
	// Start starts the target's server.
	Start(ctx context.Context) error
	// Setup puts layout on sale (a new event, or the baseline's tables reset) and returns
	// the driver to sell it with.
	Setup(ctx context.Context, layout load.Layout) (load.Driver, error)
	// Restart kills the server (SIGKILL) and starts it again on the same address and data.
	Restart(ctx context.Context) error
	Stop()
	// Watchers are live seat-map watchers for layout's event (nil when the target has none).
	Watchers(layout load.Layout, n int) load.Watcher
}

// process is a child server process that prints "... listening on http://ADDR" once up.
type process struct {
	name   string
	bin    string
	args   func(addr string) []string
	env    []string
	logDir string

	cmd  *exec.Cmd
	addr string
	log  *os.File
	runs int
}

// start runs the process; addr "127.0.0.1:0" on the first start, its address after.
func (p *process) start(ctx context.Context) error {
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	p.runs++
	logPath := filepath.Join(p.logDir, fmt.Sprintf("%s-%d.log", p.name, p.runs))
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.bin, p.args(addr)...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.log = cmd, logf
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if i := strings.Index(line, "listening on http://"); i >= 0 && !sent {
				found <- strings.TrimSpace(line[i+len("listening on http://"):])
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case a := <-found:
		p.addr = a
	case <-time.After(60 * time.Second):
		p.kill()
		return fmt.Errorf("%s did not start within 60 s (log: %s)", p.name, logPath)
	case <-ctx.Done():
		p.kill()
		return ctx.Err()
	}
	return waitHealthy(ctx, "http://"+p.addr+"/healthz")
}

// pids is the running process's id (none when it is not running).
func (p *process) pids() []int {
	if p.cmd == nil || p.cmd.Process == nil {
		return nil
	}
	return []int{p.cmd.Process.Pid}
}

func (p *process) url() string { return "http://" + p.addr }

// kill sends SIGKILL to the process group and waits.
func (p *process) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.cmd = nil
	if p.log != nil {
		p.log.Close()
	}
}

// stop asks the process to end (SIGTERM), then kills it after 10 s.
func (p *process) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
		p.cmd = nil
		if p.log != nil {
			p.log.Close()
		}
	case <-time.After(10 * time.Second):
		p.kill()
	}
}

func waitHealthy(ctx context.Context, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 { // serving (a baseline has no /healthz: 404 will do)
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy: %v", url, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// moduleRoot is the directory of go.mod (the harness runs from anywhere inside the module).
func moduleRoot() string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "."
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "."
	}
	return filepath.Dir(gomod)
}

// errNoRestart: the target is not restarted before its check.
var errNoRestart = errors.New("this target is not restarted before the check")
