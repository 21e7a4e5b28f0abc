package actors

import (
	"sync"
	"testing"
	"time"
)

// A pass must run even when every worker is busy (it gets its own goroutine then), and
// stop must leave passes already scheduled to finish.
func TestWorkerDispatcherNeverWaitsForABusyWorker(t *testing.T) {
	d := newWorkerDispatcher(2)
	defer d.stop()
	block := make(chan struct{})
	var started sync.WaitGroup
	started.Add(2)
	for range 2 {
		for !d.trySchedule(func() { started.Done(); <-block }) {
			time.Sleep(time.Millisecond) // until a worker waits
		}
	}
	started.Wait() // both workers are busy now
	ran := make(chan struct{})
	d.Schedule(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("a pass waited for a busy worker")
	}
	close(block)
}
