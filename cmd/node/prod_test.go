package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/ticketview/ticketview/demo"
	"github.com/ticketview/ticketview/internal/testutil"
	"github.com/ticketview/ticketview/internal/testutil/ferret"
	"github.com/ticketview/ticketview/internal/testutil/pgtest"
	"github.com/ticketview/ticketview/internal/testutil/redistest"
	"github.com/ticketview/ticketview/internal/testutil/tcpproxy"
)

// servers are the production servers one node test uses: its own PostgreSQL schema,
// Redis key prefix and MongoDB database.
type servers struct {
	postgres, redis, redisPrefix, mongo, mongoDB string
}

func newServers(t *testing.T, withMongo bool) servers {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	s := servers{postgres: pgtest.URL(t), redis: redistest.ServerURL(), redisPrefix: redistest.Prefix(t)}
	if withMongo {
		s.mongo, s.mongoDB = ferret.URI(t), "node_"+hex.EncodeToString(b)
	}
	return s
}

// startProdNode runs a node in this process on port 0 against the servers, with a data
// directory of its own (so nothing it serves can come from local files).
func startProdNode(t *testing.T, s servers) (*Main, *client) {
	t.Helper()
	m := NewMain()
	m.DataDir, m.HTTP, m.AdminToken = t.TempDir(), "127.0.0.1:0", adminTok
	m.PostgresURL, m.RedisURL, m.RedisPrefix, m.MongoURL = s.postgres, s.redis, s.redisPrefix, s.mongo
	if s.mongoDB != "" {
		m.MongoDB = s.mongoDB
	}
	m.Logger = zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	c := newClient(t, m.HTTPAddr())
	c.token = adminTok
	testutil.CheckFor(t, 10*time.Second, c.healthy)
	return m, c
}

const adminTok = "node-test-admin"

func (c *client) admin(method, path string, body any, want int, out any) {
	c.t.Helper()
	c.header = map[string]string{"Authorization": "Bearer " + adminTok}
	defer func() { c.header = nil }()
	c.do(method, path, "", body, want, out)
}

type holdAnswer struct {
	Token string   `json:"token"`
	Seats []string `json:"seats"`
}

type counts struct {
	Seq      uint64 `json:"seq"`
	Capacity int    `json:"capacity"`
	Free     int    `json:"free"`
	Held     int    `json:"held"`
	Sold     int    `json:"sold"`
}

func sectionURL(section string) string {
	return "/api/v1/events/" + demo.EventID + "/sections/" + section
}

// The node on PostgreSQL, Redis and MongoDB (FerretDB): a sale lands in PostgreSQL (with
// its tickets), availability is served from the Redis view, seat maps and details live in
// MongoDB, every change is in the audit log, and a new node on the same servers (and an
// empty data directory) finds everything.
func TestNodeOnProductionServers(t *testing.T) {
	clearEnv(t)
	srv := newServers(t, true)
	m, c := startProdNode(t, srv)
	if m.db != nil || m.jf != nil {
		t.Fatal("the node opened embedded stores although every server is configured")
	}

	// A section nobody has touched has sent no delta: the first read misses the view,
	// which is then built, and later reads come from it.
	testutil.CheckFor(t, 10*time.Second, func() error {
		st, _, err := c.tryHeader("GET", sectionURL(demo.Standing), apiSource)
		if err != nil || st.code != http.StatusOK || st.source != "cache" {
			return fmt.Errorf("untouched section: %+v %v", st, err)
		}
		return nil
	})

	var h holdAnswer
	c.do("POST", sectionURL(demo.FloorVIP)+"/holds", "ann", map[string]any{"best_available": true, "quantity": 2}, http.StatusCreated, &h)
	var b struct {
		ID string `json:"id"`
	}
	c.do("POST", sectionURL(demo.FloorVIP)+"/holds/"+h.Token+"/confirm", "ann", map[string]any{"payment_ref": "pay-1"}, http.StatusCreated, &b)
	if b.ID == "" {
		t.Fatal("no booking id")
	}

	// One valid ticket per seat sold, in PostgreSQL.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.postgres)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var tickets int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM tickets WHERE booking_id = $1 AND status = 'valid'`, b.ID).Scan(&tickets); err != nil {
		t.Fatal(err)
	}
	if tickets != 2 {
		t.Fatalf("%d valid tickets in PostgreSQL, want 2", tickets)
	}

	// The section's availability comes from the Redis view once the keeper has built it.
	testutil.CheckFor(t, 10*time.Second, func() error {
		st, body, err := c.tryHeader("GET", sectionURL(demo.FloorVIP), apiSource)
		if err != nil {
			return err
		}
		if st.source != "cache" {
			return fmt.Errorf("served from %q", st.source)
		}
		var a counts
		if err := decode(body, &a); err != nil {
			return err
		}
		if a.Sold != 2 || a.Free != 298 {
			return fmt.Errorf("cached counts %+v", a)
		}
		return nil
	})

	// Seat map and details in MongoDB.
	seatMap := map[string]any{"width": 100, "height": 80,
		"stage":    map[string]any{"label": "Stage", "polygon": []map[string]float64{{"x": 0, "y": 0}, {"x": 100, "y": 0}, {"x": 50, "y": 10}}},
		"sections": []map[string]any{{"section_id": demo.FloorVIP, "shape": map[string]any{"label": "Floor VIP"}, "label_at": map[string]float64{"x": 50, "y": 30}}}}
	var gotMap struct {
		Version int `json:"version"`
	}
	c.admin("PUT", "/api/v1/venues/"+demo.VenueID+"/map", seatMap, http.StatusOK, &gotMap)
	if gotMap.Version != 1 {
		t.Fatalf("seat map version %d", gotMap.Version)
	}
	c.admin("PUT", "/api/v1/organizer/events/"+demo.EventID+"/details", map[string]any{"long_description": "Three nights by the sea.",
		"tags": []string{"jazz", "outdoor"}, "performers": []map[string]string{{"name": "The Harbour Band"}}}, http.StatusOK, nil)

	// Every change is in the audit log.
	testutil.CheckFor(t, 10*time.Second, func() error {
		var trail struct {
			Entries []struct {
				Type  string   `json:"type"`
				Owner string   `json:"owner"`
				Seats []string `json:"seats"`
			} `json:"entries"`
		}
		c.admin("GET", "/api/v1/organizer/events/"+demo.EventID+"/audit?owner=ann", nil, http.StatusOK, &trail)
		if len(trail.Entries) != 2 || len(trail.Entries[0].Seats) != 2 {
			return fmt.Errorf("audit trail %+v", trail.Entries)
		}
		return nil
	})

	// A new node on the same servers, with nothing on local disk, finds it all.
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, c2 := startProdNode(t, srv)
	c2.do("GET", sectionURL(demo.FloorVIP)+"/bookings/"+b.ID, "ann", nil, http.StatusOK, nil)
	var a counts
	c2.do("GET", sectionURL(demo.FloorVIP), "", nil, http.StatusOK, &a)
	if a.Sold != 2 {
		t.Fatalf("after restart: %+v", a)
	}
	var m2 struct {
		Version int `json:"version"`
	}
	c2.do("GET", "/api/v1/venues/"+demo.VenueID+"/map", "", nil, http.StatusOK, &m2)
	c2.do("GET", "/api/v1/events/"+demo.EventID+"/details", "", nil, http.StatusOK, nil)
	if m2.Version != 1 {
		t.Fatalf("seat map after restart: version %d", m2.Version)
	}
}

// PostgreSQL unreachable: requests fail fast with 503 and a clear error; when it is back
// the node serves again by itself, and every hold acknowledged before, or while the
// connections were cut mid-run, is still there.
func TestNodeSurvivesPostgresOutage(t *testing.T) {
	clearEnv(t)
	srv := newServers(t, false)
	u, err := url.Parse(srv.postgres)
	if err != nil {
		t.Fatal(err)
	}
	proxy := tcpproxy.New(t, u.Host)
	srv.postgres = pgtest.WithHost(srv.postgres, proxy.Addr())
	_, c := startProdNode(t, srv)
	standing := sectionURL(demo.Standing) + "/holds"

	var mu sync.Mutex
	acked := map[string]string{} // token -> buyer
	hold := func(buyer string) (int, error) {
		st, body, err := c.try("POST", standing, buyer, map[string]any{"quantity": 1})
		if err != nil {
			return 0, err
		}
		if st == http.StatusCreated {
			var h holdAnswer
			if err := decode(body, &h); err != nil {
				return st, err
			}
			mu.Lock()
			acked[h.Token] = buyer
			mu.Unlock()
		}
		return st, nil
	}
	for i := range 10 {
		if st, err := hold(fmt.Sprint("before-", i)); err != nil || st != http.StatusCreated {
			t.Fatalf("hold before the outage: %d %v", st, err)
		}
	}

	proxy.Down()
	c.fails("POST", standing, "during", map[string]any{"quantity": 1}, http.StatusServiceUnavailable, "unavailable")
	// The seat map is still served, from the engine's memory, with the event as last
	// read from the catalog: the ten acknowledged holds and nothing else.
	var during struct {
		Held, Sold, Free int
	}
	c.do("GET", sectionURL(demo.Standing), "", nil, http.StatusOK, &during)
	if during.Held != 10 || during.Sold != 0 || during.Free != demo.StandingCapacity-10 {
		t.Fatalf("seat map during the outage: %+v", during)
	}
	proxy.Up()
	testutil.CheckFor(t, 15*time.Second, func() error {
		if st, err := hold("after-up"); err != nil || st != http.StatusCreated {
			return fmt.Errorf("hold after the outage: %d %v", st, err)
		}
		return nil
	})

	// PostgreSQL goes away in the middle of a run and comes back (a restart, as the node
	// sees it).
	var wg sync.WaitGroup
	var ok, failed, other int64
	var cnt sync.Mutex
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				st, err := hold(fmt.Sprintf("run-%d-%d", w, i))
				cnt.Lock()
				switch {
				case err == nil && st == http.StatusCreated:
					ok++
				case err == nil && st == http.StatusServiceUnavailable:
					failed++
				default:
					other++
				}
				cnt.Unlock()
			}
		}()
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		cnt.Lock()
		defer cnt.Unlock()
		if ok < 40 {
			return fmt.Errorf("%d holds so far", ok)
		}
		return nil
	})
	// Cut every connection, keep the server away until some requests have failed, then
	// let it come back while the buyers go on.
	proxy.Down()
	testutil.CheckFor(t, 10*time.Second, func() error {
		cnt.Lock()
		defer cnt.Unlock()
		if failed < 5 {
			return fmt.Errorf("%d requests refused so far", failed)
		}
		return nil
	})
	proxy.Up()
	wg.Wait()
	if other != 0 {
		t.Fatalf("%d answers other than 201 or 503 while connections were cut", other)
	}
	t.Logf("mid-run cut: %d holds acknowledged, %d refused with 503", ok, failed)

	// Everything acknowledged is there.
	testutil.CheckFor(t, 15*time.Second, func() error {
		st, _, err := c.try("GET", sectionURL(demo.Standing), "", nil)
		if err != nil || st != http.StatusOK {
			return fmt.Errorf("section: %d %v", st, err)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	for token, buyer := range acked {
		c.do("GET", standing+"/"+token, buyer, nil, http.StatusOK, nil)
	}
	var a counts
	c.do("GET", sectionURL(demo.Standing), "", nil, http.StatusOK, &a)
	if a.Held < len(acked) || a.Held+a.Free+a.Sold != a.Capacity {
		t.Fatalf("standing %+v with %d acknowledged holds", a, len(acked))
	}
}

// Redis down: bookings go on and availability is read from the engine; when Redis is
// back, the view refills and is served again.
func TestNodeWorksWithoutRedis(t *testing.T) {
	clearEnv(t)
	srv := newServers(t, false)
	u, err := url.Parse(srv.redis)
	if err != nil {
		t.Fatal(err)
	}
	proxy := tcpproxy.New(t, u.Host)
	u.Host = proxy.Addr()
	srv.redis = u.String()
	_, c := startProdNode(t, srv)
	balcony := sectionURL(demo.Balcony)

	c.do("POST", balcony+"/holds", "ann", map[string]any{"best_available": true, "quantity": 2}, http.StatusCreated, nil)
	testutil.CheckFor(t, 10*time.Second, func() error {
		st, _, err := c.tryHeader("GET", balcony, apiSource)
		if err != nil || st.source != "cache" {
			return fmt.Errorf("source %q, %v", st.source, err)
		}
		return nil
	})

	proxy.Down()
	for i := range 5 {
		c.do("POST", balcony+"/holds", fmt.Sprint("down-", i), map[string]any{"best_available": true, "quantity": 2}, http.StatusCreated, nil)
	}
	st, body, err := c.tryHeader("GET", balcony, apiSource)
	if err != nil || st.code != http.StatusOK || st.source != "engine" {
		t.Fatalf("with Redis down: %+v %v", st, err)
	}
	var a counts
	if err := decode(body, &a); err != nil || a.Held != 12 {
		t.Fatalf("with Redis down: %+v %v", a, err)
	}

	proxy.Up()
	testutil.CheckFor(t, 15*time.Second, func() error {
		st, body, err := c.tryHeader("GET", balcony, apiSource)
		if err != nil {
			return err
		}
		var a counts
		if err := decode(body, &a); err != nil {
			return err
		}
		if st.source != "cache" || a.Held != 12 {
			return fmt.Errorf("source %q, counts %+v", st.source, a)
		}
		return nil
	})
}
