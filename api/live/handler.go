package live

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gorilla/websocket"
	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
)

// errorBody is the API's error shape.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// statusOf maps the codes this package answers with to HTTP statuses, like the API does.
func statusOf(code string) int {
	switch code {
	case ticketview.EINVALID:
		return http.StatusBadRequest
	case ticketview.EFORBIDDEN:
		return http.StatusForbidden
	case ticketview.ENOTFOUND:
		return http.StatusNotFound
	case ticketview.ERATELIMITED:
		return http.StatusTooManyRequests
	case ticketview.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case ticketview.EUNAUTHORIZED:
		return http.StatusUnauthorized
	default:
		return http.StatusInternalServerError
	}
}

// reply writes err in the API's error shape.
func reply(c *fiber.Ctx, err error) error {
	code, msg := ticketview.ErrorCode(err), ticketview.ErrorMessage(err)
	if errors.Is(err, context.DeadlineExceeded) {
		code, msg = ticketview.EUNAVAILABLE, "timed out; try again"
	}
	st := statusOf(code)
	if st == http.StatusInternalServerError {
		code, msg = ticketview.EINTERNAL, "internal error"
	}
	if st == http.StatusServiceUnavailable {
		c.Set(fiber.HeaderRetryAfter, "1")
	}
	return c.Status(st).JSON(errorBody{Error: errorDetail{Code: code, Message: msg}})
}

// Handler serves GET /api/v1/events/:event/live?sections=a,b: it checks the WebSocket
// upgrade request and hands the connection to the hub (see the package documentation).
// Refusals are answered in the API's error shape: not an upgrade request, or not a valid
// WebSocket handshake, 400 invalid_input; an Origin not allowed 403 forbidden; an unknown
// event or section 404 not_found; a closed or misconfigured hub 503 unavailable.
func (h *Hub) Handler() fiber.Handler {
	return func(c *fiber.Ctx) error {
		if h.err != nil {
			return reply(c, ticketview.Errorf(ticketview.EUNAVAILABLE, "live seat maps are not configured"))
		}
		if h.isClosed() {
			return reply(c, ticketview.Errorf(ticketview.EUNAVAILABLE, "the server is shutting down"))
		}
		if err := checkHandshake(c); err != nil {
			return reply(c, err)
		}
		if !h.origins.allowed(c.Get(fiber.HeaderOrigin), string(c.Context().Host())) {
			return reply(c, ticketview.Errorf(ticketview.EFORBIDDEN, "origin %q may not open live seat maps", c.Get(fiber.HeaderOrigin)))
		}
		// fiber's values are reused after the handler: the hijack handler keeps copies.
		event := strings.Clone(c.Params("event"))
		if !validID(event) {
			return reply(c, ticketview.Errorf(ticketview.EINVALID, "invalid event id %q", event))
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), h.cfg.SnapshotTimeout)
		known, err := h.cfg.Sections(ctx, event)
		cancel()
		if err != nil {
			return reply(c, err)
		}
		initial, err := h.initialSections(c, event, known)
		if err != nil {
			return reply(c, err)
		}
		req := httpRequest(c, h.ctx)
		fc := c.Context()
		fc.HijackSetNoResponse(true)
		fc.Hijack(func(conn net.Conn) { h.serve(conn, req, event, initial, known) })
		return nil
	}
}

// checkHandshake refuses what gorilla's Upgrader would, with the API's error shape.
func checkHandshake(c *fiber.Ctx) error {
	if !hasToken(c.Get(fiber.HeaderConnection), "upgrade") || !hasToken(c.Get(fiber.HeaderUpgrade), "websocket") {
		return ticketview.Errorf(ticketview.EINVALID,
			"this is a WebSocket endpoint: send a GET with the headers Connection: Upgrade and Upgrade: websocket")
	}
	if c.Method() != fiber.MethodGet {
		return ticketview.Errorf(ticketview.EINVALID, "a WebSocket upgrade is a GET request")
	}
	if !hasToken(c.Get(fiber.HeaderSecWebSocketVersion), "13") {
		c.Set(fiber.HeaderSecWebSocketVersion, "13")
		return ticketview.Errorf(ticketview.EINVALID, "unsupported WebSocket version: Sec-WebSocket-Version must be 13")
	}
	if k, err := base64.StdEncoding.DecodeString(c.Get(fiber.HeaderSecWebSocketKey)); err != nil || len(k) != 16 {
		return ticketview.Errorf(ticketview.EINVALID, "Sec-WebSocket-Key must be 16 bytes in base64")
	}
	return nil
}

// initialSections reads ?sections=: absent, every section of the event; empty, none.
func (h *Hub) initialSections(c *fiber.Ctx, event string, known []string) ([]string, error) {
	limit := h.cfg.MaxSections
	if !c.Context().QueryArgs().Has("sections") {
		if len(known) > limit {
			return nil, ticketview.Errorf(ticketview.EINVALID,
				"event %s has %d sections, more than the %d one connection may follow: name them with ?sections=", event, len(known), limit)
		}
		return known, nil
	}
	isKnown := make(map[string]bool, len(known))
	for _, s := range known {
		isKnown[s] = true
	}
	var out []string
	seen := map[string]bool{}
	for _, s := range strings.Split(c.Query("sections"), ",") {
		s = strings.TrimSpace(s)
		switch {
		case s == "" || seen[s]:
			continue
		case !validID(s):
			return nil, ticketview.Errorf(ticketview.EINVALID, "invalid section id %q", s)
		case !isKnown[s]:
			return nil, ticketview.Errorf(ticketview.ENOTFOUND, "event %s has no section %q", event, s)
		}
		seen[s] = true
		out = append(out, strings.Clone(s))
		if len(out) > limit {
			return nil, ticketview.Errorf(ticketview.EINVALID, "a connection may follow at most %d sections", limit)
		}
	}
	return out, nil
}

// hasToken reports whether a comma-separated header value holds token (case-insensitive).
func hasToken(value, token string) bool {
	for _, t := range strings.Split(value, ",") {
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// httpRequest copies what gorilla's Upgrade reads of the request: method, URL, host,
// headers, remote address. fiber's values are only valid during the handler.
func httpRequest(c *fiber.Ctx, ctx context.Context) *http.Request {
	fc := c.Context()
	hdr := http.Header{}
	fc.Request.Header.VisitAll(func(k, v []byte) {
		hdr.Add(http.CanonicalHeaderKey(string(k)), string(v))
	})
	uri := string(fc.RequestURI())
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		u = &url.URL{Path: string(fc.Path())}
	}
	r := (&http.Request{Method: c.Method(), URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: hdr, Host: string(fc.Host()), RemoteAddr: fc.RemoteAddr().String(), RequestURI: uri}).WithContext(ctx)
	return r
}

// serve runs in fasthttp's hijack goroutine: gorilla performs the handshake over the
// hijacked connection, then the connection is served until it ends. fasthttp closes the
// connection when this returns.
func (h *Hub) serve(conn net.Conn, req *http.Request, event string, initial, known []string) {
	cork := &corkConn{Conn: conn}
	w := newHijackWriter(cork)
	if !h.enter() {
		w.fail(http.StatusServiceUnavailable, ticketview.EUNAVAILABLE, "the server is shutting down")
		return
	}
	defer h.wg.Done()
	// fasthttp's connection wrapper reads what fasthttp had buffered first; its Close does
	// nothing (fasthttp closes the connection after this handler), and it is recycled
	// then. Deadlines from other goroutines go to the TCP connection itself.
	raw := conn
	if u, ok := conn.(interface{ UnsafeConn() net.Conn }); ok {
		raw = u.UnsafeConn()
	}
	ws, err := h.upgrader.Upgrade(w, req, nil)
	if err != nil {
		w.flush(h.cfg.WriteTimeout)
		h.log.Debug("upgrade failed", zap.String("remote", req.RemoteAddr), zap.Error(err))
		return
	}
	c := newClient(h, ws, raw, cork, event, known, req.RemoteAddr)
	if err := h.attach(c); err != nil {
		deadline := time.Now().Add(h.grace)
		_ = ws.SetWriteDeadline(deadline)
		_ = ws.WriteMessage(websocket.TextMessage, errorMsg(err, "").data)
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseTryAgainLater, "unavailable"), deadline)
		return
	}
	c.serve(initial)
}

// hijackWriter is the http.ResponseWriter gorilla's Upgrade gets: Hijack hands over the
// fasthttp connection. A refusal gorilla writes instead is buffered and sent by flush.
type hijackWriter struct {
	conn     net.Conn
	rw       *bufio.ReadWriter
	header   http.Header
	status   int
	body     bytes.Buffer
	hijacked bool
}

func newHijackWriter(conn net.Conn) *hijackWriter {
	// Client messages are small: a small read buffer (gorilla reuses it when it is over
	// 256 bytes). The write buffer is gorilla's for messages other than prepared ones.
	return &hijackWriter{conn: conn, header: http.Header{},
		rw: bufio.NewReadWriter(bufio.NewReaderSize(conn, 1024), bufio.NewWriterSize(conn, 2048))}
}

func (w *hijackWriter) Header() http.Header { return w.header }

func (w *hijackWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *hijackWriter) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// Hijack implements http.Hijacker.
func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	w.hijacked = true
	return w.conn, w.rw, nil
}

// fail writes an error response in the API's shape.
func (w *hijackWriter) fail(status int, code, msg string) {
	writeError(w, status, code, msg)
	w.flush(time.Second)
}

// flush sends the buffered response, if there is one and the connection was not
// hijacked, with Connection: close.
func (w *hijackWriter) flush(timeout time.Duration) {
	if w.hijacked || w.status == 0 {
		return
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", w.status, http.StatusText(w.status))
	w.header.Set("Content-Length", strconv.Itoa(w.body.Len()))
	w.header.Set("Connection", "close")
	_ = w.header.Write(&b)
	b.WriteString("\r\n")
	b.Write(w.body.Bytes())
	_ = w.conn.SetWriteDeadline(time.Now().Add(timeout))
	_, _ = w.conn.Write(b.Bytes())
}

// upgradeError is gorilla's Upgrader.Error: refusals in the API's error shape.
func upgradeError(w http.ResponseWriter, _ *http.Request, status int, reason error) {
	code := ticketview.EINVALID
	switch {
	case status == http.StatusForbidden:
		code = ticketview.EFORBIDDEN
	case status >= 500:
		code = ticketview.EINTERNAL
	}
	w.Header().Set("Sec-Websocket-Version", "13")
	writeError(w, status, code, reason.Error())
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(errorBody{Error: errorDetail{Code: code, Message: msg}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// originPolicy decides which browser origins may connect.
type originPolicy struct {
	any     bool
	origins map[string]bool // "scheme://host[:port]", lower case
	hosts   map[string]bool // "host[:port]", lower case, any scheme
}

func newOriginPolicy(allowed []string) originPolicy {
	p := originPolicy{origins: map[string]bool{}, hosts: map[string]bool{}}
	for _, o := range allowed {
		o = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o), "/"))
		switch {
		case o == "":
		case o == "*":
			p.any = true
		case strings.Contains(o, "://"):
			p.origins[o] = true
		default:
			p.hosts[o] = true
		}
	}
	return p
}

// allowed reports whether a request from origin to host may connect. A request without
// an Origin header does not come from a browser and is allowed.
func (p originPolicy) allowed(origin, host string) bool {
	if origin == "" || p.any {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if len(p.origins) == 0 && len(p.hosts) == 0 {
		return strings.EqualFold(u.Host, host)
	}
	return p.origins[strings.ToLower(u.Scheme+"://"+u.Host)] || p.hosts[strings.ToLower(u.Host)]
}

// checkOrigin is the Upgrader's CheckOrigin: the same policy as the fiber handler's.
func (h *Hub) checkOrigin(r *http.Request) bool {
	return h.origins.allowed(r.Header.Get("Origin"), r.Host)
}
