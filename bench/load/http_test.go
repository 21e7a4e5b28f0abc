package load

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gorilla/websocket"
)

// seen is one request the API server got.
type seen struct {
	Method, Path, Query, Auth, Buyer, ContentType string
	Body                                          []byte
}

// apiServer serves a tiny subset of the buyer API with fiber on 127.0.0.1:0.
type apiServer struct {
	base string
	mu   sync.Mutex
	reqs []seen
	held map[string]string // seat -> token
	next int
}

func errorBody(c *fiber.Ctx, code int, errCode, msg string) error {
	var eb ErrorBody
	eb.Error.Code, eb.Error.Message = errCode, msg
	return c.Status(code).JSON(eb)
}

func startAPI(t *testing.T) *apiServer {
	t.Helper()
	s := &apiServer{held: map[string]string{}}
	app := fiber.New(fiber.Config{DisableStartupMessage: true, Immutable: true})
	app.Use(func(c *fiber.Ctx) error {
		s.mu.Lock()
		s.reqs = append(s.reqs, seen{
			Method: c.Method(), Path: c.Path(), Query: string(c.Request().URI().QueryString()),
			Auth: c.Get(fiber.HeaderAuthorization), Buyer: c.Get(HeaderBuyer), ContentType: c.Get(fiber.HeaderContentType),
			Body: slices.Clone(c.Body()),
		})
		s.mu.Unlock()
		return c.Next()
	})
	const sec = "/api/v1/events/:event/sections/:section"
	app.Post(sec+"/holds", func(c *fiber.Ctx) error {
		switch c.Params("section") {
		case "boom":
			return c.Status(500).SendString("kaput")
		case "garbled":
			return c.Status(201).SendString(`{"token": `)
		case "tokenless":
			return c.Status(201).JSON(Hold{Owner: "x"})
		}
		var req HoldRequest
		if err := json.Unmarshal(c.Body(), &req); err != nil {
			return errorBody(c, 400, "bad_request", err.Error())
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, seat := range req.Seats {
			if _, taken := s.held[seat]; taken {
				return errorBody(c, 409, "seats_taken", "seat "+seat+" is taken")
			}
		}
		s.next++
		h := Hold{Token: fmt.Sprintf("tok-%d", s.next), Owner: c.Get(HeaderBuyer), Section: c.Params("section"),
			Quantity: max(len(req.Seats), req.Quantity), ExpiresAt: time.Now().Add(time.Duration(req.TTLSeconds) * time.Second)}
		for _, seat := range req.Seats {
			s.held[seat] = h.Token
			h.Items = append(h.Items, HoldItem{Seat: seat, Quantity: 1})
		}
		return c.Status(201).JSON(h)
	})
	app.Delete(sec+"/holds/:token", func(c *fiber.Ctx) error {
		if c.Params("token") == "nope" {
			return errorBody(c, 404, "not_found", "no hold nope")
		}
		return c.SendStatus(204)
	})
	app.Post(sec+"/holds/:token/confirm", func(c *fiber.Ctx) error {
		tok := c.Params("token")
		return c.Status(201).JSON(Booking{ID: "bk-" + tok, HoldToken: tok, Section: c.Params("section"), Quantity: 2,
			Items: []HoldItem{{Seat: "A-1", Quantity: 1}, {Seat: "A-2", Quantity: 1}}, Status: "confirmed"})
	})
	app.Get(sec, func(c *fiber.Ctx) error {
		if c.Params("section") == "missing" {
			return errorBody(c, 404, "not_found", "no section missing")
		}
		if c.Query("seats") != "true" {
			return errorBody(c, 400, "bad_request", "want seats=true")
		}
		return c.JSON(Availability{Section: c.Params("section"), Capacity: 2, Free: 1, Sold: 1,
			Seats: []SeatView{{Label: "A-1", Status: "sold"}, {Label: "A-2", Status: "free"}}})
	})
	app.Post("/api/v1/orders", func(c *fiber.Ctx) error {
		return c.Status(201).JSON(order{ID: "ord-1", Status: "pending"})
	})
	app.Post("/api/v1/orders/:id/pay", func(c *fiber.Ctx) error {
		var body map[string]string
		if err := json.Unmarshal(c.Body(), &body); err != nil || body["instrument"] != "card_success" {
			return errorBody(c, 400, "bad_request", "instrument")
		}
		if c.Get(HeaderBuyer) == "broke" {
			return c.JSON(order{ID: c.Params("id"), Status: "payment_failed"})
		}
		return c.JSON(order{ID: c.Params("id"), Status: "confirmed", Items: []orderItem{
			{Section: "S", HoldToken: "tok-1", BookingID: "bk-9", Quantity: 2},
			{Section: "G", HoldToken: "tok-2", BookingID: "bk-10", Quantity: 3},
		}})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	s.base = "http://" + ln.Addr().String()
	return s
}

// last is the last request the server got.
func (s *apiServer) last(t *testing.T) seen {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		t.Fatal("the server got no request")
	}
	return s.reqs[len(s.reqs)-1]
}

func newDriver(t *testing.T, base, token string) *HTTP {
	t.Helper()
	d, err := NewHTTP(base, "ev-1", token, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func TestHTTPHold(t *testing.T) {
	s := startAPI(t)
	d := newDriver(t, s.base, "secret")
	ctx := context.Background()
	req := HoldRequest{Seats: []string{"A-1", "A-2"}, TTLSeconds: 60}
	h, st := d.Hold(ctx, "buyer-1", "S", req)
	if st.Code != 201 || st.Err != nil || !st.OK() {
		t.Fatalf("hold: %+v", st)
	}
	if h.Token != "tok-1" || h.Owner != "buyer-1" || h.Section != "S" || h.Quantity != 2 ||
		!slices.Equal(h.Seats(), []string{"A-1", "A-2"}) || h.ExpiresAt.IsZero() {
		t.Errorf("hold decoded as %+v", h)
	}
	r := s.last(t)
	if r.Method != "POST" || r.Path != "/api/v1/events/ev-1/sections/S/holds" || r.Auth != "Bearer secret" ||
		r.Buyer != "buyer-1" || r.ContentType != "application/json" {
		t.Errorf("request %+v", r)
	}
	var sent HoldRequest
	if err := json.Unmarshal(r.Body, &sent); err != nil || !slices.Equal(sent.Seats, req.Seats) || sent.TTLSeconds != 60 {
		t.Errorf("body %s (%v)", r.Body, err)
	}

	// The clean loss.
	_, st = d.Hold(ctx, "buyer-2", "S", HoldRequest{Seats: []string{"A-2"}})
	if st.Code != 409 || !st.Conflict() || st.OK() || st.Uncertain() || st.Err == nil ||
		!strings.Contains(st.Err.Error(), "seats_taken") || !strings.Contains(st.Err.Error(), "seat A-2 is taken") {
		t.Errorf("409: %+v", st)
	}
	// A best-available hold sends its quantity.
	if _, st := d.Hold(ctx, "buyer-3", "S", HoldRequest{BestAvailable: true, Quantity: 3}); !st.OK() {
		t.Fatalf("best available: %+v", st)
	}
	if b := string(s.last(t).Body); !strings.Contains(b, `"best_available":true`) || !strings.Contains(b, `"quantity":3`) || strings.Contains(b, "seats") {
		t.Errorf("best-available body %s", b)
	}

	// A server error: uncertain, with the body in the error.
	_, st = d.Hold(ctx, "buyer-1", "boom", HoldRequest{Quantity: 1})
	if st.Code != 500 || !st.Uncertain() || st.Err == nil || !strings.Contains(st.Err.Error(), "kaput") {
		t.Errorf("500: %+v", st)
	}
	// A success that cannot be read is no answer at all.
	_, st = d.Hold(ctx, "buyer-1", "garbled", HoldRequest{Quantity: 1})
	if st.Code != 0 || !st.Uncertain() || st.Err == nil || !strings.Contains(st.Err.Error(), "decode") {
		t.Errorf("garbled 201: %+v", st)
	}
	_, st = d.Hold(ctx, "buyer-1", "tokenless", HoldRequest{Quantity: 1})
	if st.Code != 0 || !st.Uncertain() || st.Err == nil || !strings.Contains(st.Err.Error(), "token") {
		t.Errorf("201 without a token: %+v", st)
	}
}

func TestHTTPConfirmReleaseSection(t *testing.T) {
	s := startAPI(t)
	d := newDriver(t, s.base, "secret")
	ctx := context.Background()

	b, st := d.Confirm(ctx, "buyer-1", "S", "tok-7")
	if st.Code != 201 || st.Err != nil {
		t.Fatalf("confirm: %+v", st)
	}
	if b.ID != "bk-tok-7" || b.HoldToken != "tok-7" || b.Quantity != 2 || b.Status != "confirmed" || len(b.Items) != 2 {
		t.Errorf("booking decoded as %+v", b)
	}
	r := s.last(t)
	var cr ConfirmRequest
	if err := json.Unmarshal(r.Body, &cr); err != nil || cr.PaymentRef != "bench-tok-7" || r.Method != "POST" ||
		r.Path != "/api/v1/events/ev-1/sections/S/holds/tok-7/confirm" || r.Buyer != "buyer-1" || r.Auth != "Bearer secret" {
		t.Errorf("confirm request %+v (%s, %v)", r, r.Body, err)
	}

	if st := d.Release(ctx, "buyer-1", "S", "tok-8"); st.Code != 204 || st.Err != nil || !st.OK() {
		t.Errorf("release: %+v", st)
	}
	if r := s.last(t); r.Method != "DELETE" || r.Path != "/api/v1/events/ev-1/sections/S/holds/tok-8" || r.Buyer != "buyer-1" || len(r.Body) != 0 {
		t.Errorf("release request %+v", r)
	}
	st = d.Release(ctx, "buyer-1", "S", "nope")
	if st.Code != 404 || st.OK() || st.Uncertain() || st.Err == nil || !strings.Contains(st.Err.Error(), "no hold nope") {
		t.Errorf("release of an unknown hold: %+v", st)
	}

	av, err := d.Section(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	if av.Section != "S" || av.Capacity != 2 || av.Sold != 1 || len(av.Seats) != 2 || av.Seats[0] != (SeatView{"A-1", "sold"}) {
		t.Errorf("section decoded as %+v", av)
	}
	if r := s.last(t); r.Method != "GET" || r.Path != "/api/v1/events/ev-1/sections/S" || r.Query != "seats=true" ||
		r.Buyer != "" || r.Auth != "Bearer secret" {
		t.Errorf("section request %+v", r)
	}
	if _, err := d.Section(ctx, "missing"); err == nil || !strings.Contains(err.Error(), "no section missing") {
		t.Errorf("read of a missing section: %v", err)
	}

	// Without a token there is no Authorization header.
	anon := newDriver(t, s.base, "")
	if st := anon.Release(ctx, "buyer-2", "S", "tok-9"); !st.OK() {
		t.Fatal(st.Err)
	}
	if r := s.last(t); r.Auth != "" || r.Buyer != "buyer-2" {
		t.Errorf("request without a token: %+v", r)
	}
}

func TestHTTPCheckout(t *testing.T) {
	s := startAPI(t)
	tv := TicketView{newDriver(t, s.base, "secret")}
	var _ Checkouter = tv
	holds := []Hold{{Token: "tok-1", Section: "S"}, {Token: "tok-2", Section: "G"}}
	bs, st := tv.Checkout(context.Background(), "buyer-1", holds)
	if st.Code != 201 || len(bs) != 2 || bs[0].ID != "bk-9" || bs[1].HoldToken != "tok-2" || bs[1].Quantity != 3 || bs[1].Status != "confirmed" {
		t.Errorf("checkout: %+v %+v", bs, st)
	}
	s.mu.Lock()
	order := s.reqs[len(s.reqs)-2]
	s.mu.Unlock()
	var body struct {
		Event string `json:"event"`
		Holds []struct{ Section, Token string }
	}
	if err := json.Unmarshal(order.Body, &body); err != nil || order.Path != "/api/v1/orders" || body.Event != "ev-1" ||
		len(body.Holds) != 2 || body.Holds[1].Token != "tok-2" || order.Buyer != "buyer-1" {
		t.Errorf("order request %+v %s (%v)", order, order.Body, err)
	}
	if r := s.last(t); r.Path != "/api/v1/orders/ord-1/pay" || r.Buyer != "buyer-1" {
		t.Errorf("pay request %+v", r)
	}
	// A payment that does not confirm the order.
	if bs, st := tv.Checkout(context.Background(), "broke", holds); st.OK() || st.Err == nil || len(bs) != 0 {
		t.Errorf("failed payment: %+v %+v", bs, st)
	}
}

func TestHTTPTransportErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	d := newDriver(t, "http://"+addr, "secret")
	ctx := context.Background()
	if _, st := d.Hold(ctx, "b", "S", HoldRequest{Quantity: 1}); st.Code != 0 || st.Err == nil || !st.Uncertain() || st.OK() || st.Conflict() {
		t.Errorf("hold on a closed port: %+v", st)
	}
	if st := d.Release(ctx, "b", "S", "t"); st.Code != 0 || !st.Uncertain() {
		t.Errorf("release on a closed port: %+v", st)
	}
	if _, st := d.Confirm(ctx, "b", "S", "t"); st.Code != 0 || !st.Uncertain() {
		t.Errorf("confirm on a closed port: %+v", st)
	}
	if _, err := d.Section(ctx, "S"); err == nil {
		t.Error("section read on a closed port")
	}

	// A deadline already past: no answer.
	s := startAPI(t)
	live := newDriver(t, s.base, "secret")
	past, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	if _, st := live.Hold(past, "b", "S", HoldRequest{Quantity: 1}); st.Code != 0 || !st.Uncertain() {
		t.Errorf("hold past its deadline: %+v", st)
	}
}

func TestNewHTTP(t *testing.T) {
	for _, base := range []string{"", "localhost:8080", "https://example.com", "http://", "::"} {
		if _, err := NewHTTP(base, "ev", "", 1); err == nil {
			t.Errorf("NewHTTP(%q) accepted it", base)
		}
	}
	d, err := NewHTTP("http://127.0.0.1:9/", "ev 1", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.sectionPath("a/b"); got != "/api/v1/events/ev%201/sections/a%2Fb" {
		t.Errorf("sectionPath = %q", got)
	}
	if d.base != "http://127.0.0.1:9" {
		t.Errorf("base %q keeps its slash", d.base)
	}
}

// ---- WebSocket watchers ----

// wsServer sends 3 messages to every connection, then a ping, and either closes or keeps
// the connection open until the client goes.
type wsServer struct {
	url      string
	closeAll bool
	auth     atomic.Value // the last Authorization header
	pongs    atomic.Int64 // connections whose client read the 3 messages (it answered the ping)
	conns    atomic.Int64
}

func startWS(t *testing.T, closeAll bool) *wsServer {
	t.Helper()
	s := &wsServer{closeAll: closeAll}
	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/events/ev-1/live", func(w http.ResponseWriter, r *http.Request) {
		s.auth.Store(r.Header.Get("Authorization"))
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		s.conns.Add(1)
		for i := range 3 {
			if err := conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"seq":%d}`, i)); err != nil {
				return
			}
		}
		if s.closeAll {
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
			return
		}
		conn.SetPongHandler(func(string) error { s.pongs.Add(1); return nil })
		_ = conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second))
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.url = WatchURL("http://"+ln.Addr().String()+"/", "ev-1")
	return s
}

func TestLiveWatchers(t *testing.T) {
	const n = 5
	s := startWS(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan *WatchStats, 1)
	go func() { done <- LiveWatchers{URL: s.url, N: n, Token: "secret"}.Watch(ctx, nil) }()
	// Every client has read its 3 messages once it answered the ping that follows them.
	deadline := time.Now().Add(10 * time.Second)
	for s.pongs.Load() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := s.pongs.Load(); got != n {
		t.Fatalf("%d of %d watchers read their messages", got, n)
	}
	cancel()
	var ws *WatchStats
	select {
	case ws = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after its context ended")
	}
	if *ws != (WatchStats{Connected: n, Messages: 3 * n}) {
		t.Errorf("stats %+v, want %d connected, %d messages, none failed or dropped", *ws, n, 3*n)
	}
	if a, _ := s.auth.Load().(string); a != "Bearer secret" {
		t.Errorf("Authorization %q", a)
	}
}

func TestLiveWatchersDropped(t *testing.T) {
	// The server ends every connection after 3 messages: Watch returns by itself.
	const n = 4
	s := startWS(t, true)
	ws := LiveWatchers{URL: s.url, N: n}.Watch(context.Background(), nil)
	if *ws != (WatchStats{Connected: n, Messages: 3 * n, Dropped: n}) {
		t.Errorf("stats %+v, want %d connected, %d messages, %d dropped", *ws, n, 3*n, n)
	}
	if a, _ := s.auth.Load().(string); a != "" {
		t.Errorf("Authorization %q without a token", a)
	}
}

func TestLiveWatchersFail(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := WatchURL("http://"+ln.Addr().String(), "ev-1")
	_ = ln.Close()
	ws := LiveWatchers{URL: url, N: 3}.Watch(context.Background(), nil)
	if *ws != (WatchStats{Failed: 3}) {
		t.Errorf("stats %+v, want 3 failed", *ws)
	}
}

func TestWatchURL(t *testing.T) {
	for base, want := range map[string]string{
		"http://127.0.0.1:8080":   "ws://127.0.0.1:8080/api/v1/events/ev/live",
		"http://127.0.0.1:8080/":  "ws://127.0.0.1:8080/api/v1/events/ev/live",
		"https://tickets.example": "wss://tickets.example/api/v1/events/ev/live",
	} {
		if got := WatchURL(base, "ev"); got != want {
			t.Errorf("WatchURL(%q) = %q, want %q", base, got, want)
		}
	}
}

func TestHTTPCanceledContext(t *testing.T) {
	// A canceled context (the run was interrupted) sends nothing more: the engine's
	// contexts have a deadline, so the cancellation itself must be honoured.
	s := startAPI(t)
	d := newDriver(t, s.base, "secret")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cancel()
	_, st := d.Hold(ctx, "b", "S", HoldRequest{Seats: []string{"A-1"}})
	if st.Code != 0 || st.Err == nil {
		t.Errorf("hold on a canceled context: %+v", st)
	}
	s.mu.Lock()
	n := len(s.reqs)
	s.mu.Unlock()
	if n != 0 {
		t.Errorf("the server got %d requests after the context was canceled", n)
	}
}
