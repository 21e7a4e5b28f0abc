package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/actors"
	"github.com/ticketview/ticketview/api"
	"github.com/ticketview/ticketview/demo"
	"github.com/ticketview/ticketview/inmem"
	"github.com/ticketview/ticketview/persistence/sqlite"
)

// env is the real wiring: a sqlite store in a temporary directory, the in-memory bus, the
// actor engine, the demo data and the API server on a loopback port.
type env struct {
	t    *testing.T
	base string
	db   *sqlite.DB
	srv  *api.Server
	http *http.Client
}

const adminToken = "test-admin-token"

func newEnv(t *testing.T) *env { return newEnvWith(t, adminToken) }

func newEnvWith(t *testing.T, admin string) *env {
	t.Helper()
	ctx := context.Background()
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "ticketview.db"))
	if err != nil {
		t.Fatal(err)
	}
	bus := inmem.NewBus()
	if err := demo.Seed(ctx, db, db, time.Now()); err != nil {
		t.Fatal(err)
	}
	audit := actors.NewAuditFeeder(db, log)
	eng, err := actors.NewEngine(actors.Config{Store: db, Events: db, Venues: db, Deltas: bus,
		Publisher: actors.EventFanout{bus, audit}, Logger: log, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(api.Config{Bookings: eng, Events: db, Venues: db, SeatMaps: db, Details: db, Audit: db,
		Logger: log, AdminToken: admin, Now: time.Now})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := eng.Close(); err != nil {
			t.Errorf("engine close: %v", err)
		}
		audit.Close(context.Background())
		if err := db.Close(); err != nil {
			t.Errorf("db close: %v", err)
		}
		bus.Close()
	})
	return &env{t: t, base: "http://" + ln.Addr().String(), db: db, srv: srv,
		http: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Second}}}
}

// resp is an HTTP answer, read whole.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

// req describes a request: Body is sent as is when it is a string or []byte, as JSON
// otherwise.
type req struct {
	Method  string
	Path    string
	Buyer   string
	Idem    string
	Admin   string // Authorization header value
	Headers map[string]string
	Body    any
}

func (e *env) do(r req) resp {
	e.t.Helper()
	var body io.Reader
	switch b := r.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(data)
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	hr, err := http.NewRequest(method, e.base+r.Path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if r.Body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.Buyer != "" {
		// The operator token acts for the buyer (accounts are tested in accounts_test.go).
		hr.Header.Set(api.HeaderBuyerID, r.Buyer)
		hr.Header.Set("Authorization", "Bearer "+adminToken)
	}
	if r.Idem != "" {
		hr.Header.Set(api.HeaderIdempotencyKey, r.Idem)
	}
	if r.Admin != "" {
		hr.Header.Set("Authorization", r.Admin)
	}
	for k, v := range r.Headers {
		hr.Header.Set(k, v)
	}
	res, err := e.http.Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, r.Path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading the body: %v", method, r.Path, err)
	}
	if res.StatusCode >= 500 {
		e.t.Errorf("%s %s: %d %s", method, r.Path, res.StatusCode, data)
	}
	return resp{Status: res.StatusCode, Header: res.Header, Body: data}
}

// ok asserts the status and decodes the body into v (when v is not nil).
func (e *env) ok(r req, status int, v any) resp {
	e.t.Helper()
	res := e.do(r)
	if res.Status != status {
		e.t.Fatalf("%s %s: status %d, want %d: %s", r.Method, r.Path, res.Status, status, res.Body)
	}
	if v != nil {
		if err := json.Unmarshal(res.Body, v); err != nil {
			e.t.Fatalf("%s %s: decoding %s: %v", r.Method, r.Path, res.Body, err)
		}
	}
	return res
}

// fails asserts an error answer: its status, its code and the one error shape.
func (e *env) fails(r req, status int, code string) api.ErrorDetail {
	e.t.Helper()
	res := e.do(r)
	return checkError(e.t, r, res, status, code)
}

func checkError(t *testing.T, r req, res resp, status int, code string) api.ErrorDetail {
	t.Helper()
	if res.Status != status {
		t.Fatalf("%s %s: status %d, want %d: %s", r.Method, r.Path, res.Status, status, res.Body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: content type %q", r.Method, r.Path, ct)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(res.Body, &body); err != nil || len(body) != 1 || body["error"] == nil {
		t.Fatalf("%s %s: not the error shape: %s", r.Method, r.Path, res.Body)
	}
	var eb api.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(res.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil {
		t.Fatalf("%s %s: not the error shape: %s: %v", r.Method, r.Path, res.Body, err)
	}
	if eb.Error.Code != code || eb.Error.Message == "" {
		t.Fatalf("%s %s: error %+v, want code %s", r.Method, r.Path, eb.Error, code)
	}
	return eb.Error
}

const (
	eventPath    = "/api/v1/events/" + demo.EventID
	floorPath    = eventPath + "/sections/" + demo.FloorVIP
	balconyPath  = eventPath + "/sections/" + demo.Balcony
	standingPath = eventPath + "/sections/" + demo.Standing
)

func adminPath(section string) string {
	return "/api/v1/organizer/events/" + demo.EventID + "/sections/" + section
}

func (e *env) hold(section, buyer string, body any) ticketview.Hold {
	e.t.Helper()
	var h ticketview.Hold
	e.ok(req{Method: "POST", Path: section + "/holds", Buyer: buyer, Body: body}, http.StatusCreated, &h)
	return h
}

// availability is ticketview.Availability as a client decodes it: a seat's status is
// sent by name (ticketview.SeatStatus has MarshalText but no UnmarshalText).
type availability struct {
	ticketview.Availability
	Seats []seatView `json:"seats"`
}

type seatView struct {
	Label      string  `json:"label"`
	Row        string  `json:"row"`
	Number     int     `json:"number"`
	Category   string  `json:"category"`
	X          float64 `json:"x"`
	Y          float64 `json:"y"`
	Accessible bool    `json:"accessible"`
	Status     string  `json:"status"`
}

func (e *env) availability(section string) availability {
	e.t.Helper()
	var a availability
	e.ok(req{Path: section}, http.StatusOK, &a)
	return a
}

func (e *env) counts(section string) [4]int {
	e.t.Helper()
	a := e.availability(section)
	return [4]int{a.Free, a.Held, a.Sold, a.Blocked}
}

func seatsOf(h ticketview.Hold) []string {
	var out []string
	for _, it := range h.Items {
		out = append(out, it.Seat)
	}
	return out
}
