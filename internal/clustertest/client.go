package clustertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	ticketview "github.com/ticketview/ticketview"
)

// RequestTimeout bounds one request of Client: longer than the API's own bound on a
// request (api.RequestTimeout, 15 s), within which the gateway retries a call across a
// failover, so that a slow failover shows as a 503 from the gateway, not as a client
// timeout.
const RequestTimeout = 20 * time.Second

// Client is a client of the HTTP API of one process (usually the gateway), for one event.
type Client struct {
	Base  string // http://host:port
	Event string
	HTTP  *http.Client
	// Token is the operator token: buyer requests go as "Bearer <Token>" with X-Buyer-ID.
	Token string
}

// NewClient returns a client of the API at addr with RequestTimeout and a connection pool
// sized for a few hundred concurrent callers.
func NewClient(addr, event string) *Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     30 * time.Second,
	}
	return &Client{Base: "http://" + addr, Event: event, HTTP: &http.Client{Timeout: RequestTimeout, Transport: tr}}
}

// ErrorBody is the API's error shape.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Response is what one request got: a status and the error code, or the transport error.
type Response struct {
	Status   int
	Code     string // the error code of an error answer
	Message  string
	Replayed bool // Idempotent-Replayed: true
	Body     []byte
	Err      error // transport error (no status)
	Took     time.Duration
}

// Outcome is a short description: "201", "409 seat_unavailable", "transport: ...".
func (r Response) Outcome() string {
	if r.Err != nil {
		return "transport error"
	}
	if r.Code != "" {
		return fmt.Sprintf("%d %s", r.Status, r.Code)
	}
	return fmt.Sprint(r.Status)
}

func (r Response) String() string {
	if r.Err != nil {
		return "transport error: " + r.Err.Error()
	}
	if r.Code != "" {
		return fmt.Sprintf("%d %s: %s", r.Status, r.Code, r.Message)
	}
	return fmt.Sprint(r.Status)
}

// Do sends a request with the operator token; buyer and idem set the X-Buyer-ID and Idempotency-Key headers when
// not empty; a 2xx body is decoded into out (if not nil).
func (c *Client) Do(ctx context.Context, method, path, buyer, idem string, body, out any) Response {
	start := time.Now()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Response{Err: err}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return Response{Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// Every request carries the operator token, so the per-IP limits (all test traffic comes
	// from 127.0.0.1) never refuse the harness's own reads; X-Buyer-ID makes it a buyer's.
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if buyer != "" {
		req.Header.Set("X-Buyer-ID", buyer)
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return Response{Err: err, Took: time.Since(start)}
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	r := Response{Status: res.StatusCode, Body: data, Replayed: res.Header.Get("Idempotent-Replayed") == "true", Took: time.Since(start)}
	if err != nil {
		r.Err = err
		return r
	}
	if res.StatusCode >= 400 {
		var e ErrorBody
		if json.Unmarshal(data, &e) == nil {
			r.Code, r.Message = e.Error.Code, e.Error.Message
		}
		return r
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			r.Err = fmt.Errorf("decoding %s %s answer %q: %w", method, path, data, err)
		}
	}
	return r
}

func (c *Client) sectionPath(section string) string {
	return "/api/v1/events/" + url.PathEscape(c.Event) + "/sections/" + url.PathEscape(section)
}

// HoldRequest is the body of POST .../holds.
type HoldRequest struct {
	Seats         []string `json:"seats,omitempty"`
	BestAvailable bool     `json:"best_available,omitempty"`
	Quantity      int      `json:"quantity,omitempty"`
}

// Hold places a hold.
func (c *Client) Hold(ctx context.Context, section, buyer, idem string, req HoldRequest) (ticketview.Hold, Response) {
	var h ticketview.Hold
	r := c.Do(ctx, http.MethodPost, c.sectionPath(section)+"/holds", buyer, idem, req, &h)
	return h, r
}

// Confirm confirms a hold into a booking.
func (c *Client) Confirm(ctx context.Context, section, token, buyer, idem string) (ticketview.Booking, Response) {
	var b ticketview.Booking
	r := c.Do(ctx, http.MethodPost, c.sectionPath(section)+"/holds/"+url.PathEscape(token)+"/confirm", buyer, idem,
		map[string]string{"payment_ref": "pay-" + token}, &b)
	return b, r
}

// GetHold reads a hold.
func (c *Client) GetHold(ctx context.Context, section, token, buyer string) (ticketview.Hold, Response) {
	var h ticketview.Hold
	r := c.Do(ctx, http.MethodGet, c.sectionPath(section)+"/holds/"+url.PathEscape(token), buyer, "", nil, &h)
	return h, r
}

// GetBooking reads a booking.
func (c *Client) GetBooking(ctx context.Context, section, id, buyer string) (ticketview.Booking, Response) {
	var b ticketview.Booking
	r := c.Do(ctx, http.MethodGet, c.sectionPath(section)+"/bookings/"+url.PathEscape(id), buyer, "", nil, &b)
	return b, r
}

// Availability reads a section's counts.
func (c *Client) Availability(ctx context.Context, section string) (ticketview.Availability, Response) {
	var a ticketview.Availability
	r := c.Do(ctx, http.MethodGet, c.sectionPath(section), "", "", nil, &a)
	return a, r
}

// NewKey returns a fresh idempotency key.
func NewKey(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// SeatsOf lists the seat labels of hold or booking items.
func SeatsOf(items []ticketview.HoldItem) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, it.Seat)
	}
	return out
}
