package main

import (
	"bufio"
	"bytes"
	"fmt"
	"github.com/ticketview/ticketview/internal/testutil"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ticketview/ticketview/demo"
)

// TestCrashRecovery builds the real binary, acknowledges holds and bookings over HTTP,
// kills the process with SIGKILL and starts it again on the same data: everything
// acknowledged is there, and nothing else.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildNode(t)
	// Both journals: the default append-only journal file, and SQLite.
	for _, journal := range []string{"file", "sqlite"} {
		t.Run(journal, func(t *testing.T) {
			data := t.TempDir()

			n := startNode(t, bin, data, journal)
			c := newClient(t, n.addr)
			ev := "/api/v1/events/" + demo.EventID + "/sections/"
			floor, balcony, standing := ev+demo.FloorVIP, ev+demo.Balcony, ev+demo.Standing

			type hold struct {
				Token     string    `json:"token"`
				Owner     string    `json:"owner"`
				Quantity  int       `json:"quantity"`
				ExpiresAt time.Time `json:"expires_at"`
				Items     []struct {
					Seat string `json:"seat"`
				} `json:"items"`
			}
			type booking struct {
				ID        string `json:"id"`
				Status    string `json:"status"`
				HoldToken string `json:"hold_token"`
				Quantity  int    `json:"quantity"`
			}
			seats := func(h hold) []string {
				var out []string
				for _, it := range h.Items {
					out = append(out, it.Seat)
				}
				return out
			}
			place := func(section, buyer string, body any) (h hold) {
				t.Helper()
				c.do("POST", section+"/holds", buyer, body, http.StatusCreated, &h)
				return h
			}
			confirm := func(section string, h hold) (b booking) {
				t.Helper()
				c.do("POST", section+"/holds/"+h.Token+"/confirm", h.Owner, map[string]string{"payment_ref": "pay-" + h.Owner},
					http.StatusCreated, &b)
				return b
			}

			// Kept holds, confirmed bookings, a released hold and a cancelled booking.
			type keptHold struct {
				section string
				h       hold
			}
			var holds []keptHold
			holds = append(holds, keptHold{floor, place(floor, "ana", map[string]any{"seats": []string{"A-1", "A-2"}})})
			holds = append(holds, keptHold{standing, place(standing, "ben", map[string]any{"quantity": 4})})
			holds = append(holds, keptHold{balcony, place(balcony, "cho", map[string]any{"best_available": true, "quantity": 1, "accessible": true})})

			type soldBooking struct {
				section string
				b       booking
				owner   string
			}
			var sold []soldBooking
			h := place(floor, "dev", map[string]any{"best_available": true, "quantity": 3})
			sold = append(sold, soldBooking{floor, confirm(floor, h), "dev"})
			h = place(standing, "eli", map[string]any{"quantity": 2})
			sold = append(sold, soldBooking{standing, confirm(standing, h), "eli"})

			released := place(balcony, "fay", map[string]any{"seats": []string{"B-10", "B-11"}})
			c.do("DELETE", balcony+"/holds/"+released.Token, "fay", nil, http.StatusNoContent, nil)

			h = place(floor, "gus", map[string]any{"seats": []string{"C-5"}})
			cancelled := confirm(floor, h)
			c.do("POST", floor+"/bookings/"+cancelled.ID+"/cancel", "gus", nil, http.StatusOK, nil)

			// The last acknowledged hold, right before the kill.
			holds = append(holds, keptHold{floor, place(floor, "hal", map[string]any{"seats": []string{"J-1", "J-2", "J-3", "J-4"}})})

			n.kill(t)
			if _, _, err := c.try("GET", "/healthz", "", nil); err == nil {
				t.Fatal("the node still answers after SIGKILL")
			}

			n2 := startNode(t, bin, data, journal)
			c = newClient(t, n2.addr)
			testutil.CheckFor(t, 10*time.Second, c.healthy)

			for _, kh := range holds {
				var got hold
				c.do("GET", kh.section+"/holds/"+kh.h.Token, kh.h.Owner, nil, http.StatusOK, &got)
				if got.Token != kh.h.Token || !slices.Equal(seats(got), seats(kh.h)) || got.Quantity != kh.h.Quantity ||
					!got.ExpiresAt.Equal(kh.h.ExpiresAt) {
					t.Errorf("hold after restart %+v, want %+v", got, kh.h)
				}
			}
			for _, sb := range sold {
				var got booking
				c.do("GET", sb.section+"/bookings/"+sb.b.ID, sb.owner, nil, http.StatusOK, &got)
				if got != sb.b || got.Status != "confirmed" {
					t.Errorf("booking after restart %+v, want %+v", got, sb.b)
				}
				// Its hold became the booking.
				c.fails("GET", sb.section+"/holds/"+sb.b.HoldToken, sb.owner, nil, http.StatusConflict, "conflict")
			}
			var gotCancelled booking
			c.do("GET", floor+"/bookings/"+cancelled.ID, "gus", nil, http.StatusOK, &gotCancelled)
			if gotCancelled.Status != "cancelled" {
				t.Errorf("cancelled booking after restart: %+v", gotCancelled)
			}
			c.fails("GET", balcony+"/holds/"+released.Token, "fay", nil, http.StatusConflict, "conflict")

			// Counts are exactly what was acknowledged.
			type seatView struct {
				Label  string `json:"label"`
				Status string `json:"status"`
			}
			type avail struct {
				Capacity, Free, Held, Sold, Blocked int
				Seats                               []seatView `json:"seats"`
			}
			want := map[string][3]int{ // held, sold, capacity
				floor:    {2 + 4, 3, 300},
				balcony:  {1, 0, 2400},
				standing: {4, 2, 3000},
			}
			var balconyMap avail
			for section, w := range want {
				var a avail
				c.do("GET", section+"?seats=true", "", nil, http.StatusOK, &a)
				if a.Held != w[0] || a.Sold != w[1] || a.Capacity != w[2] || a.Blocked != 0 || a.Free != w[2]-w[0]-w[1] {
					t.Errorf("%s after restart: held %d sold %d blocked %d free %d, want held %d sold %d free %d",
						section, a.Held, a.Sold, a.Blocked, a.Free, w[0], w[1], w[2]-w[0]-w[1])
				}
				if section == balcony {
					balconyMap = a
				}
			}
			for _, s := range balconyMap.Seats {
				if (s.Label == "B-10" || s.Label == "B-11") && s.Status != "free" {
					t.Errorf("released seat %s is %s", s.Label, s.Status)
				}
			}
			// The released seats can be held again; kept seats cannot; the per-buyer allowance
			// came back with the holds (ben holds 4 of 6).
			place(balcony, "ivy", map[string]any{"seats": []string{"B-10", "B-11"}})
			c.fails("POST", floor+"/holds", "joe", map[string]any{"seats": []string{"A-2"}}, http.StatusConflict, "seat_unavailable")
			c.fails("POST", standing+"/holds", "ben", map[string]any{"quantity": 3}, http.StatusUnprocessableEntity, "limit_exceeded")
			place(standing, "ben", map[string]any{"quantity": 2})

			n2.stop(t)
		})
	}
}

// buildNode builds ./cmd/node into a temporary directory.
func buildNode(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(t.TempDir(), "node")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/node")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// node is a running node process.
type node struct {
	cmd    *exec.Cmd
	addr   string
	stderr *syncBuffer
	exited chan struct{} // closed when stdout is drained (the process is gone)
	once   sync.Once
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const listening = "ticketview node listening on http://"

func startNode(t *testing.T, bin, data, journal string) *node {
	t.Helper()
	cmd := exec.Command(bin, "-data", data, "-http", "127.0.0.1:0", "-seed=true", "-journal", journal)
	cmd.Env = append(os.Environ(), "TICKETVIEW_ADMIN_TOKEN="+operatorToken)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n := &node{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = n.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan string, 1)
	go func() {
		defer close(n.exited)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), listening); ok {
				select {
				case addrs <- addr:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		n.kill(t)
		if t.Failed() {
			t.Logf("node stderr:\n%s", n.stderr.String())
		}
	})
	select {
	case n.addr = <-addrs:
	case <-n.exited:
		t.Fatalf("the node exited before listening:\n%s", n.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("the node did not say where it listens:\n%s", n.stderr.String())
	}
	return n
}

// kill ends the process with SIGKILL, as a crash would.
func (n *node) kill(t *testing.T) {
	n.once.Do(func() {
		_ = n.cmd.Process.Signal(syscall.SIGKILL)
		<-n.exited
		_ = n.cmd.Wait()
	})
}

// stop ends the process with SIGTERM and expects a clean exit.
func (n *node) stop(t *testing.T) {
	t.Helper()
	var err error
	n.once.Do(func() {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(30 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.exited
			err = fmt.Errorf("no exit 30s after SIGTERM")
		}
		if werr := n.cmd.Wait(); err == nil {
			err = werr
		}
	})
	if err != nil {
		t.Fatalf("stopping the node: %v\n%s", err, n.stderr.String())
	}
}
