package load

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// LiveWatchers are N WebSocket clients following the event's live seat map
// (GET /api/v1/events/{event}/live), as buyers keep the seat map open during an on-sale.
type LiveWatchers struct {
	URL      string // ws://host:port/api/v1/events/{event}/live
	N        int
	Token    string
	Sections []string // watcher i follows Sections[i % len] only (as a buyer looks at one section); none: all
}

// WatchURL turns the API's base URL into the event's live seat-map URL.
func WatchURL(base, event string) string {
	return strings.Replace(strings.TrimRight(base, "/"), "http", "ws", 1) + "/api/v1/events/" + event + "/live"
}

// Watch implements Watcher: it connects the watchers (at most 64 dials at a time), closes
// ready once every dial is done (each watcher then has its snapshot coming), reads until
// ctx ends, and counts.
func (w LiveWatchers) Watch(ctx context.Context, ready chan<- struct{}) *WatchStats {
	defer closeOnce(ready)
	var dials sync.WaitGroup
	var connected, failed, messages, dropped atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	hdr := http.Header{}
	if w.Token != "" {
		hdr.Set("Authorization", "Bearer "+w.Token)
	}
	for i := 0; i < w.N; i++ {
		select {
		case <-ctx.Done():
		case sem <- struct{}{}:
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		dials.Add(1)
		url := w.URL
		if len(w.Sections) > 0 {
			url += "?sections=" + w.Sections[i%len(w.Sections)]
		}
		go func() {
			defer wg.Done()
			conn, _, err := d.DialContext(ctx, url, hdr)
			<-sem
			dials.Done()
			if err != nil {
				failed.Add(1)
				return
			}
			connected.Add(1)
			stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
			defer stop()
			defer conn.Close()
			for {
				// Read and discard: a watcher only counts messages (no buffer per message,
				// the harness shares the CPU with the target).
				_, r, err := conn.NextReader()
				if err == nil {
					_, err = io.Copy(io.Discard, r)
				}
				if err != nil {
					if ctx.Err() == nil {
						dropped.Add(1)
					}
					return
				}
				messages.Add(1)
			}
		}()
	}
	dials.Wait()
	closeOnce(ready)
	wg.Wait()
	return &WatchStats{Connected: int(connected.Load()), Failed: int(failed.Load()), Messages: int(messages.Load()), Dropped: int(dropped.Load())}
}

// closeOnce closes ch unless it is nil or closed.
func closeOnce(ch chan<- struct{}) {
	if ch == nil {
		return
	}
	defer func() { _ = recover() }()
	close(ch)
}
