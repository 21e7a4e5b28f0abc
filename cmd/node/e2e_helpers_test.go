package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api/abuse"
	"github.com/ticketview/ticketview/internal/testutil"
)

// The end-to-end tests start a whole node (cmd/node's Main, embedded mode, port 0) and
// talk to it over HTTP only, as browsers and scripts do. These are their helpers.

// Credentials of the nodes the end-to-end tests start.
const (
	e2eOperator      = "e2e-operator-token"
	e2eAdminEmail    = "admin@example.com"
	e2eAdminPassword = "admin-password-1"
)

// e2eNode is a running node and the HTTP client the tests reach it with.
type e2eNode struct {
	t    *testing.T
	m    *Main
	addr string
	base string
	http *http.Client
}

// startE2ENode starts a node in embedded mode on a loopback port with the operator
// token and the bootstrap admin account, plus args. prepare, when not nil, adjusts the
// parsed settings before Run (e.g. test OAuth2 providers).
func startE2ENode(t *testing.T, prepare func(*Main), args ...string) *e2eNode {
	t.Helper()
	for _, k := range []string{"TICKETVIEW_DATA", "TICKETVIEW_HTTP", "TICKETVIEW_ADMIN_TOKEN", "TICKETVIEW_SEED", "TICKETVIEW_JOURNAL",
		"TICKETVIEW_POSTGRES_URL", "TICKETVIEW_REDIS_URL", "TICKETVIEW_MONGO_URL", "TICKETVIEW_MONGO_DB", "TICKETVIEW_REDIS_PREFIX",
		"TICKETVIEW_AUDIT", "TICKETVIEW_JWT_SECRET", "TICKETVIEW_ADMIN_EMAIL", "TICKETVIEW_ADMIN_PASSWORD", "TICKETVIEW_PUBLIC_URL",
		"TICKETVIEW_GOOGLE_CLIENT_ID", "TICKETVIEW_GOOGLE_CLIENT_SECRET", "TICKETVIEW_FACEBOOK_CLIENT_ID", "TICKETVIEW_FACEBOOK_CLIENT_SECRET",
		"TICKETVIEW_LIMITS", "TICKETVIEW_CAPTCHA", "TICKETVIEW_CAPTCHA_SITE_KEY", "TICKETVIEW_CAPTCHA_SECRET", "TICKETVIEW_WS_ORIGINS",
		"TICKETVIEW_GOSSIP", "TICKETVIEW_SEEDS", "TICKETVIEW_REMOTE", "TICKETVIEW_ADVERTISE"} {
		t.Setenv(k, "")
	}
	m := NewMain()
	base := []string{"-data", t.TempDir(), "-http", "127.0.0.1:0", "-admin-token", e2eOperator,
		"-admin-email", e2eAdminEmail, "-admin-password", e2eAdminPassword}
	if err := m.ParseFlags(append(base, args...)); err != nil {
		t.Fatalf("ParseFlags: %v", err)
	}
	if prepare != nil {
		prepare(m)
	}
	m.Logger = zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	n := &e2eNode{t: t, m: m, addr: m.HTTPAddr(), base: "http://" + m.HTTPAddr(),
		http: &http.Client{Timeout: 30 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()}}
	t.Cleanup(func() {
		// The clients leave first: a connection open without a request yet (net/http
		// dials spares during bursts; browsers preconnect) counts as active to fasthttp,
		// so a graceful shutdown waits for it until its read timeout and Close fails.
		n.http.CloseIdleConnections()
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	testutil.CheckFor(t, 10*time.Second, func() error {
		r, err := n.try(anonymous, "GET", "/healthz", nil)
		if err != nil {
			return err
		}
		if r.status != http.StatusOK {
			return fmt.Errorf("healthz: %d %s", r.status, r.body)
		}
		return nil
	})
	return n
}

// caller is who sends a request: an access token, the operator token (acting for a
// buyer when buyer is set), or nobody.
type caller struct {
	name   string
	token  string            // bearer token ("" : anonymous)
	buyer  string            // X-Buyer-ID, with the operator token
	header map[string]string // more headers
}

var anonymous = caller{name: "anonymous"}

// operator is the operator token (an admin, exempt from limits); buyer acts for a
// customer id.
func operator(buyer string) caller {
	return caller{name: "operator", token: e2eOperator, buyer: buyer}
}

// with returns c sending one more header.
func (c caller) with(k, v string) caller {
	h := map[string]string{k: v}
	for k0, v0 := range c.header {
		if _, ok := h[k0]; !ok {
			h[k0] = v0
		}
	}
	c.header = h
	return c
}

// response is a status, the headers and the body of an answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorDetail is the one error shape's inside.
type errorDetail struct {
	Code      string           `json:"code"`
	Message   string           `json:"message"`
	Challenge *abuse.Challenge `json:"challenge"`
}

// apiError decodes the error shape {"error":{"code","message"}} strictly: exactly the
// "error" key, with a code and a message.
func (r response) apiError() (errorDetail, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &raw); err != nil {
		return errorDetail{}, fmt.Errorf("status %d: body is not a JSON object: %q", r.status, truncate(r.body))
	}
	if len(raw) != 1 || raw["error"] == nil {
		return errorDetail{}, fmt.Errorf("status %d: body is not the error shape: %s", r.status, truncate(r.body))
	}
	var d errorDetail
	if err := json.Unmarshal(raw["error"], &d); err != nil || d.Code == "" || d.Message == "" {
		return errorDetail{}, fmt.Errorf("status %d: error without code or message: %s", r.status, truncate(r.body))
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return errorDetail{}, fmt.Errorf("status %d: error with Content-Type %q", r.status, ct)
	}
	return d, nil
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// rawBody is a request body sent as it is (not JSON-encoded).
type rawBody []byte

// try sends a request. body: nil (none), rawBody (as is) or a value to encode as JSON.
func (n *e2eNode) try(c caller, method, path string, body any) (response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case rawBody:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(body)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, n.base+path, rd)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.buyer != "" {
		req.Header.Set("X-Buyer-ID", c.buyer)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	res, err := n.http.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: data}, err
}

// send sends a request and fails the test on a transport error.
func (n *e2eNode) send(c caller, method, path string, body any) response {
	n.t.Helper()
	r, err := n.try(c, method, path, body)
	if err != nil {
		n.t.Fatalf("%s %s as %s: %v", method, path, c.name, err)
	}
	return r
}

// expect sends a request, wants the status and decodes the answer into out (unless nil).
func (n *e2eNode) expect(c caller, method, path string, body any, want int, out any) response {
	n.t.Helper()
	r := n.send(c, method, path, body)
	if r.status != want {
		n.t.Fatalf("%s %s as %s: status %d, want %d: %s", method, path, c.name, r.status, want, truncate(r.body))
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			n.t.Fatalf("%s %s as %s: decoding %s: %v", method, path, c.name, truncate(r.body), err)
		}
	}
	return r
}

// expectErr sends a request and wants an error answer with the status and code.
func (n *e2eNode) expectErr(c caller, method, path string, body any, want int, code string) errorDetail {
	n.t.Helper()
	r := n.send(c, method, path, body)
	if r.status != want {
		n.t.Fatalf("%s %s as %s: status %d, want %d (%s): %s", method, path, c.name, r.status, want, code, truncate(r.body))
	}
	d, err := r.apiError()
	if err != nil {
		n.t.Fatalf("%s %s as %s: %v", method, path, c.name, err)
	}
	if d.Code != code {
		n.t.Fatalf("%s %s as %s: code %q, want %q: %s", method, path, c.name, d.Code, code, d.Message)
	}
	return d
}

// tokens is the answer of a sign-in.
type tokens struct {
	AccessToken  string          `json:"access_token"`
	TokenType    string          `json:"token_type"`
	ExpiresIn    int             `json:"expires_in"`
	RefreshToken string          `json:"refresh_token"`
	User         ticketview.User `json:"user"`
}

// as is the caller of these tokens.
func (tk tokens) as(name string) caller { return caller{name: name, token: tk.AccessToken} }

func (n *e2eNode) checkTokens(what string, tk tokens) {
	n.t.Helper()
	if tk.AccessToken == "" || tk.RefreshToken == "" || tk.TokenType != "Bearer" || tk.ExpiresIn <= 0 || tk.User.ID == "" {
		n.t.Fatalf("%s: incomplete tokens %+v", what, tk)
	}
}

// register signs a customer up (201) and returns the tokens.
func (n *e2eNode) register(email, password, name string) tokens {
	n.t.Helper()
	var tk tokens
	n.expect(anonymous, "POST", "/api/v1/auth/register", map[string]any{"email": email, "password": password, "name": name},
		http.StatusCreated, &tk)
	n.checkTokens("register "+email, tk)
	if tk.User.Email != email || tk.User.Role != ticketview.RoleCustomer {
		n.t.Fatalf("register %s: user %+v", email, tk.User)
	}
	return tk
}

// login signs in (200) and returns the tokens.
func (n *e2eNode) login(email, password string) tokens {
	n.t.Helper()
	var tk tokens
	n.expect(anonymous, "POST", "/api/v1/auth/login", map[string]any{"email": email, "password": password}, http.StatusOK, &tk)
	n.checkTokens("login "+email, tk)
	return tk
}

// createUser makes an account with a role as an admin (201) and signs it in.
func (n *e2eNode) createUser(admin caller, email, password, name string, role ticketview.Role) tokens {
	n.t.Helper()
	var u ticketview.User
	n.expect(admin, "POST", "/api/v1/admin/users", map[string]any{"email": email, "password": password, "name": name, "role": role},
		http.StatusCreated, &u)
	if u.ID == "" || u.Email != email || u.Role != role || u.Disabled {
		n.t.Fatalf("created user %+v", u)
	}
	tk := n.login(email, password)
	if tk.User.ID != u.ID || tk.User.Role != role {
		n.t.Fatalf("login of %s: user %+v, want id %s role %s", email, tk.User, u.ID, role)
	}
	return tk
}

// sectionPath is the path of an event's section.
func sectionPath(event, section string) string {
	return "/api/v1/events/" + url.PathEscape(event) + "/sections/" + url.PathEscape(section)
}

// seatMap reads a section with its seats (anonymously).
func (n *e2eNode) seatMap(event, section string) ticketview.Availability {
	n.t.Helper()
	var a ticketview.Availability
	n.expect(anonymous, "GET", sectionPath(event, section)+"?seats=true", nil, http.StatusOK, &a)
	return a
}

// seatStatuses maps a section's seat labels to their status.
func seatStatuses(a ticketview.Availability) map[string]ticketview.SeatStatus {
	m := make(map[string]ticketview.SeatStatus, len(a.Seats))
	for _, s := range a.Seats {
		m[s.Label] = s.Status
	}
	return m
}

// holdSeats are the seat labels of a hold's or a booking's items, sorted.
func holdSeats(items []ticketview.HoldItem) []string {
	var out []string
	for _, it := range items {
		if it.Seat != "" {
			out = append(out, it.Seat)
		}
	}
	sort.Strings(out)
	return out
}

// testVenue is a small venue: a seated section "stalls" (rows A-B of 5 seats, category
// STD; row A is PRM) and a general-admission section "lawn" of 50 places (category STD).
func testVenue(id, city string) ticketview.Venue {
	rows := ticketview.GridRows(2, 5, func(r int) string {
		if r == 0 {
			return "PRM"
		}
		return "STD"
	})
	return ticketview.Venue{ID: id, Name: "Venue " + id, City: city, Address: "1 Test Street, " + city,
		Sections: []ticketview.SectionLayout{
			{ID: "stalls", Name: "Stalls", Kind: ticketview.Seated, Rows: rows},
			{ID: "lawn", Name: "Lawn", Kind: ticketview.GeneralAdmission, Capacity: 50, Category: "STD"},
		}}
}

// testCategories price testVenue's categories; PRM is dynamically priced.
func testCategories() []ticketview.PriceCategory {
	return []ticketview.PriceCategory{
		{Code: "PRM", Name: "Premium", Price: 9000, Floor: 8000, Ceiling: 15000},
		{Code: "STD", Name: "Standard", Price: 4000},
	}
}

// createEvent creates a venue (if venueCity is not "") and a draft event on it as org, and
// returns the event.
func (n *e2eNode) createEvent(org caller, venueID, venueCity string, ev map[string]any) ticketview.Event {
	n.t.Helper()
	if venueCity != "" {
		var v ticketview.Venue
		n.expect(org, "POST", "/api/v1/venues", testVenue(venueID, venueCity), http.StatusCreated, &v)
		if v.ID != venueID || len(v.Sections) != 2 {
			n.t.Fatalf("created venue %+v", v)
		}
	}
	body := map[string]any{"venue_id": venueID, "currency": "EUR", "categories": testCategories(),
		"starts_at": time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)}
	for k, v := range ev {
		body[k] = v
	}
	var e ticketview.Event
	n.expect(org, "POST", "/api/v1/organizer/events", body, http.StatusCreated, &e)
	if e.ID == "" || e.Status != ticketview.EventDraft || e.VenueID != venueID {
		n.t.Fatalf("created event %+v", e)
	}
	return e
}

// publish puts an event on sale.
func (n *e2eNode) publish(org caller, event string) {
	n.t.Helper()
	var e ticketview.Event
	n.expect(org, "POST", "/api/v1/organizer/events/"+event+"/publish", nil, http.StatusOK, &e)
	if e.Status != ticketview.EventOnSale || e.PublishedAt.IsZero() {
		n.t.Fatalf("published event %+v", e)
	}
}

// buy holds seats (explicit labels) in a section and confirms them; it returns the booking.
func (n *e2eNode) buy(c caller, event, section string, seats []string, ref string) ticketview.Booking {
	n.t.Helper()
	var h ticketview.Hold
	n.expect(c, "POST", sectionPath(event, section)+"/holds", map[string]any{"seats": seats}, http.StatusCreated, &h)
	var b ticketview.Booking
	n.expect(c, "POST", sectionPath(event, section)+"/holds/"+h.Token+"/confirm", map[string]any{"payment_ref": ref}, http.StatusCreated, &b)
	if b.Status != ticketview.BookingConfirmed || b.Quantity != len(seats) {
		n.t.Fatalf("booking %+v", b)
	}
	return b
}

// apiDoc is the part of the OpenAPI document the tests read.
type apiDoc struct {
	Paths map[string]map[string]struct {
		Roles       string `json:"x-roles"`
		RequestBody *struct {
			Content map[string]struct {
				Schema map[string]any `json:"schema"`
			} `json:"content"`
		} `json:"requestBody"`
	} `json:"paths"`
	Components struct {
		Schemas map[string]map[string]any `json:"schemas"`
	} `json:"components"`
}

// apiOp is one operation of the document.
type apiOp struct {
	method, path string
	roles        string         // x-roles; "public" when absent
	hasBody      bool           // a request body is documented
	bodySchema   map[string]any // its schema, $ref resolved
}

func (o apiOp) String() string { return o.method + " " + o.path }

// openAPI fetches the node's OpenAPI document.
func (n *e2eNode) openAPI() apiDoc {
	n.t.Helper()
	var d apiDoc
	n.expect(anonymous, "GET", "/api/openapi.json", nil, http.StatusOK, &d)
	if len(d.Paths) == 0 {
		n.t.Fatal("the OpenAPI document has no paths")
	}
	return d
}

// operations lists the document's operations, sorted by path then method.
func (d apiDoc) operations() []apiOp {
	var out []apiOp
	for p, ops := range d.Paths {
		for m, op := range ops {
			o := apiOp{method: strings.ToUpper(m), path: p, roles: op.Roles}
			if o.roles == "" {
				o.roles = "public"
			}
			if op.RequestBody != nil {
				o.hasBody = true
				o.bodySchema = d.resolve(op.RequestBody.Content["application/json"].Schema)
			}
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].path != out[j].path {
			return out[i].path < out[j].path
		}
		return out[i].method < out[j].method
	})
	return out
}

// resolve follows a schema's $ref into the components.
func (d apiDoc) resolve(s map[string]any) map[string]any {
	for range 10 {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		s = d.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
	}
	return s
}

// fillPath replaces the {name} parameters of an OpenAPI path.
func fillPath(p string, params map[string]string) string {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		if strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}") {
			v, ok := params[part[1:len(part)-1]]
			if !ok {
				v = "missing-" + part[1:len(part)-1]
			}
			parts[i] = url.PathEscape(v)
		}
	}
	return strings.Join(parts, "/")
}

// liveClient follows one section of the live seat map and rebuilds its state from the
// snapshots and deltas, checking the protocol's ordering on the way.
type liveClient struct {
	name    string
	section string
	conn    *websocket.Conn
	done    chan struct{}

	mu        sync.Mutex
	synced    bool // a snapshot arrived and no gap is pending
	seq       uint64
	seats     map[string]ticketview.SeatStatus
	cats      []ticketview.CategoryAvailability
	snapshots int
	deltas    int
	gaps      int
	problems  []string
}

// dialLive opens a live seat map of one section of an event.
func (n *e2eNode) dialLive(name, event, section string) *liveClient {
	n.t.Helper()
	u := "ws://" + n.addr + "/api/v1/events/" + url.PathEscape(event) + "/live?sections=" + url.QueryEscape(section)
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, res, err := d.Dial(u, nil)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		n.t.Fatalf("%s: dialing %s: %v (status %d)", name, u, err, status)
	}
	c := &liveClient{name: name, section: section, conn: conn, done: make(chan struct{})}
	go c.read()
	n.t.Cleanup(func() {
		_ = c.conn.Close()
		<-c.done
	})
	return c
}

func (c *liveClient) problem(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// read applies every message until the connection ends.
func (c *liveClient) read() {
	defer close(c.done)
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(data, &head); err != nil {
			c.mu.Lock()
			c.problem("undecodable message %s", truncate(data))
			c.mu.Unlock()
			continue
		}
		c.mu.Lock()
		switch head.Type {
		case "snapshot":
			var m struct {
				Section      string                  `json:"section"`
				Seq          uint64                  `json:"seq"`
				Availability ticketview.Availability `json:"availability"`
			}
			if err := json.Unmarshal(data, &m); err != nil || m.Section != c.section || len(m.Availability.Seats) == 0 {
				c.problem("bad snapshot %s (%v)", truncate(data), err)
				break
			}
			if c.synced && m.Seq < c.seq {
				c.problem("snapshot at seq %d after seq %d", m.Seq, c.seq)
			}
			c.seats = seatStatuses(m.Availability)
			c.cats = m.Availability.Categories
			c.seq, c.synced = m.Seq, true
			c.snapshots++
		case "delta":
			var m struct {
				Section    string                            `json:"section"`
				Seq        uint64                            `json:"seq"`
				Prev       uint64                            `json:"prev"`
				Seats      []string                          `json:"seats"`
				Status     ticketview.SeatStatus             `json:"status"`
				Categories []ticketview.CategoryAvailability `json:"categories"`
			}
			if err := json.Unmarshal(data, &m); err != nil || m.Section != c.section {
				c.problem("bad delta %s (%v)", truncate(data), err)
				break
			}
			switch {
			case c.seats == nil:
				c.problem("delta %d before any snapshot", m.Seq)
			case !c.synced:
				// Waiting for the resync's snapshot: deltas queued before it are stale.
			case m.Seq <= c.seq:
				c.problem("delta %d (prev %d) after seq %d: out of order or repeated", m.Seq, m.Prev, c.seq)
			case m.Prev > c.seq:
				c.gaps++
				c.synced = false
				if err := c.conn.WriteJSON(map[string]any{"type": "resync", "section": c.section}); err != nil {
					c.problem("asking for a resync: %v", err)
				}
			case m.Prev < c.seq:
				c.problem("delta %d has prev %d, before seq %d that the client has", m.Seq, m.Prev, c.seq)
			default:
				for _, s := range m.Seats {
					if _, ok := c.seats[s]; !ok {
						c.problem("delta %d names unknown seat %q", m.Seq, s)
					}
					c.seats[s] = m.Status
				}
				if m.Categories != nil {
					c.cats = m.Categories
				}
				c.seq = m.Seq
				c.deltas++
			}
		default:
			c.problem("unexpected message %s", truncate(data))
		}
		c.mu.Unlock()
	}
}

// matches reports how the client's state differs from a with seats (nil: equal).
func (c *liveClient) matches(a ticketview.Availability) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.synced {
		return fmt.Errorf("%s: waiting for a snapshot", c.name)
	}
	if c.seq != a.Seq {
		return fmt.Errorf("%s: at seq %d, the section at %d", c.name, c.seq, a.Seq)
	}
	want := seatStatuses(a)
	if len(want) != len(c.seats) {
		return fmt.Errorf("%s: %d seats, the section %d", c.name, len(c.seats), len(want))
	}
	for label, s := range want {
		if c.seats[label] != s {
			return fmt.Errorf("%s: seat %s is %s, the section says %s", c.name, label, c.seats[label], s)
		}
	}
	if !slices.Equal(c.cats, a.Categories) {
		return fmt.Errorf("%s: categories %+v, the section %+v", c.name, c.cats, a.Categories)
	}
	return nil
}

// tryRaw sends a request over a connection of its own and reads the answer even when
// writing the body failed. The node answers a body over the limit from its headers
// and closes the connection without reading the rest: net/http's client, still writing,
// reports the broken pipe instead of the answer, which is there to read.
func (n *e2eNode) tryRaw(c caller, method, path string, body []byte) (response, error) {
	req, err := http.NewRequest(method, n.base+path, bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Close = true
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.buyer != "" {
		req.Header.Set("X-Buyer-ID", c.buyer)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	conn, err := net.DialTimeout("tcp", n.addr, 10*time.Second)
	if err != nil {
		return response{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	_ = req.Write(conn) // an error here (the node closed early) is expected: read the answer
	res, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return response{}, fmt.Errorf("reading the answer: %w", err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: data}, err
}
