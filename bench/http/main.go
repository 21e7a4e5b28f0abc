// Command http measures holds per second and their latency over HTTP through a running
// TicketView API (a node or a gateway): each of -buyers goroutines holds 1 seat (best
// available) and releases it, in a loop, for -duration. A hold is acknowledged when
// durable, so this is the full path: HTTP, authentication, limits, the engine, the journal.
//
//	go run ./bench/http -url http://127.0.0.1:8080 -token $OPERATOR [-accounts 50]
//
// With -token the operator token acts for each buyer (X-Buyer-ID; not rate limited).
// With -accounts N, N customer accounts are registered and their JWT access tokens used
// instead (start the target with -limits off, or the per-IP limit caps the run).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "API base URL")
	token := flag.String("token", os.Getenv("TICKETVIEW_ADMIN_TOKEN"), "operator token (acts for the buyers)")
	accounts := flag.Int("accounts", 0, "register this many customer accounts and use their access tokens instead")
	event := flag.String("event", "harbour-nights-2027", "event")
	section := flag.String("section", "balcony", "section (seated)")
	buyers := flag.Int("buyers", 32, "concurrent buyers")
	duration := flag.Duration("duration", 10*time.Second, "how long to run")
	flag.Parse()

	tr := &http.Transport{DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns: *buyers * 2, MaxIdleConnsPerHost: *buyers * 2}
	client := &http.Client{Timeout: 30 * time.Second, Transport: tr}
	auth := make([]map[string]string, *buyers)
	for i := range auth {
		auth[i] = map[string]string{"Authorization": "Bearer " + *token, "X-Buyer-ID": fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i)}
	}
	if *accounts > 0 {
		toks := make([]string, *accounts)
		for i := range toks {
			body := fmt.Sprintf(`{"email":"bench-%d-%d@example.com","password":"bench-password-123"}`, time.Now().UnixNano(), i)
			var out struct {
				AccessToken string `json:"access_token"`
			}
			if st, err := call(client, "POST", *url+"/api/v1/auth/register", nil, body, &out); err != nil || st != http.StatusCreated {
				fail("register: %d %v", st, err)
			}
			toks[i] = out.AccessToken
		}
		for i := range auth {
			auth[i] = map[string]string{"Authorization": "Bearer " + toks[i%len(toks)]}
		}
	}
	holds := *url + "/api/v1/events/" + *event + "/sections/" + *section + "/holds"
	var ok, refused, failed atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	deadline := time.Now().Add(*duration)
	var wg sync.WaitGroup
	start := time.Now()
	for b := 0; b < *buyers; b++ {
		wg.Add(1)
		go func(h map[string]string) {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				var hold struct {
					Token string `json:"token"`
				}
				t0 := time.Now()
				st, err := call(client, "POST", holds, h, `{"best_available":true,"quantity":1}`, &hold)
				took := time.Since(t0)
				switch {
				case err != nil || st >= 500:
					failed.Add(1)
					continue
				case st != http.StatusCreated:
					refused.Add(1)
					continue
				}
				ok.Add(1)
				mine = append(mine, took)
				if st, err := call(client, "DELETE", holds+"/"+hold.Token, h, "", nil); err != nil || st != http.StatusNoContent {
					failed.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}(auth[b])
	}
	wg.Wait()
	el := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(p*float64(len(lat)-1))]
	}
	fmt.Printf("buyers %d, %s: %d holds acknowledged (%.0f holds/s; each also released), %d refused, %d failed\n",
		*buyers, el.Round(time.Millisecond), ok.Load(), float64(ok.Load())/el.Seconds(), refused.Load(), failed.Load())
	fmt.Printf("hold latency: p50 %s  p90 %s  p99 %s  max %s\n", pct(.5).Round(time.Microsecond), pct(.9).Round(time.Microsecond),
		pct(.99).Round(time.Microsecond), pct(1).Round(time.Microsecond))
	if failed.Load() > 0 {
		os.Exit(1)
	}
}

func call(c *http.Client, method, url string, h map[string]string, body string, out any) (int, error) {
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err == nil && out != nil && res.StatusCode < 300 {
		err = json.Unmarshal(data, out)
	}
	return res.StatusCode, err
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench/http: "+format+"\n", args...)
	os.Exit(1)
}
