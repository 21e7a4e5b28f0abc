package storetest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	ticketview "github.com/ticketview/ticketview"
)

// killChildEnv names the store path of the child process of TestSurvivesKill.
const killChildEnv = "TV_STORETEST_KILL_CHILD"

// TestSurvivesKill checks that a store loses no acknowledged append when its process is
// killed with SIGKILL mid-stream. Call it from a top-level test: the test binary is run
// again with only that test, as a child that opens the store at a path and appends to 8
// sections, printing each acknowledged append, until the parent kills it after `appends`
// of them; the parent then opens the store and finds every one of them. open opens (or
// creates) the store at path; a store that is an io.Closer is closed.
func TestSurvivesKill(t *testing.T, appends int, open func(path string) (ticketview.SectionStore, error)) {
	if path := os.Getenv(killChildEnv); path != "" {
		killChild(path, open)
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	path := filepath.Join(t.TempDir(), "store")
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]uint64{}
	sc := bufio.NewScanner(out)
	lines := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		seq, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			continue
		}
		acked[f[0]] = max(acked[f[0]], seq)
		if lines++; lines == appends {
			cmd.Process.Kill() // SIGKILL, mid-stream
			break
		}
	}
	cmd.Wait()
	if lines < appends {
		t.Fatalf("child acknowledged only %d appends", lines)
	}
	s, err := open(path)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := s.(io.Closer); ok {
		defer c.Close()
	}
	ctx := ctxFor(t)
	for sec, seq := range acked {
		_, _, evs := activate(t, ctx, s, ticketview.SectionID{Event: sec, Section: "A"})
		if uint64(len(evs)) < seq {
			t.Fatalf("section %s: %d events after SIGKILL, but %d were acknowledged", sec, len(evs), seq)
		}
		sameEvents(t, "section "+sec+" after SIGKILL", evs, SampleEvents(1, len(evs), BaseTime))
	}
}

// killChild appends until it is killed, printing "section seq" for each acknowledged append.
func killChild(path string, open func(string) (ticketview.SectionStore, error)) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	s, err := open(path)
	if err != nil {
		fail(err)
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := ticketview.SectionID{Event: fmt.Sprintf("kill-%d", i), Section: "A"}
			epoch, _, _, err := s.Activate(context.Background(), id)
			if err != nil {
				fail(err)
			}
			for seq := uint64(1); ; seq++ {
				if err := s.Append(context.Background(), id, epoch, SampleEvents(seq, 1, BaseTime)); err != nil {
					fail(err)
				}
				mu.Lock()
				fmt.Fprintf(w, "%s %d\n", id.Event, seq)
				w.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}
