package live

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// recordingConn is a net.Conn that records each Write.
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (r *recordingConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

// TestCorkConn: writes while held go out in one write, in order, at release; otherwise
// each write goes through at once.
func TestCorkConn(t *testing.T) {
	rc := &recordingConn{}
	c := &corkConn{Conn: rc}
	if _, err := c.Write([]byte("a")); err != nil || len(rc.writes) != 1 {
		t.Fatalf("unheld write: %v, %d writes", err, len(rc.writes))
	}
	c.hold()
	for _, p := range []string{"b", "c", "d"} {
		if n, err := c.Write([]byte(p)); err != nil || n != 1 {
			t.Fatalf("held write: %d, %v", n, err)
		}
	}
	if len(rc.writes) != 1 || c.buffered() != 3 {
		t.Fatalf("held writes reached the connection: %q, %d buffered", rc.writes, c.buffered())
	}
	if err := c.release(); err != nil {
		t.Fatal(err)
	}
	if len(rc.writes) != 2 || string(rc.writes[1]) != "bcd" || c.buffered() != 0 {
		t.Fatalf("after release: %q", rc.writes)
	}
	if err := c.release(); err != nil || len(rc.writes) != 2 {
		t.Fatalf("an empty release wrote: %q", rc.writes)
	}
	if _, err := c.Write([]byte("e")); err != nil || len(rc.writes) != 3 {
		t.Fatalf("write after release: %q", rc.writes)
	}
}
