package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// HTTP drives a target through the HTTP API shape. It uses fasthttp's client (the load
// generator shares the machine with the target: a cheaper client leaves more CPU to the
// target, the same for every target).
type HTTP struct {
	base   string // scheme://host:port
	event  string
	token  string
	client *fasthttp.HostClient
}

// NewHTTP returns a driver for the API at base (e.g. http://127.0.0.1:8080) selling event,
// authenticating with the bearer token; conns bounds its connections.
func NewHTTP(base, event, token string, conns int) (*HTTP, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("target URL %q: want http://host:port", base)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("target URL %q: only http is supported", base)
	}
	return &HTTP{
		base:  strings.TrimRight(base, "/"),
		event: event,
		token: token,
		client: &fasthttp.HostClient{
			Addr:                u.Host,
			MaxConns:            max(conns, 1),
			ReadTimeout:         60 * time.Second,
			WriteTimeout:        10 * time.Second,
			MaxIdleConnDuration: time.Minute,
			MaxConnWaitTimeout:  60 * time.Second,
		},
	}, nil
}

func (h *HTTP) sectionPath(section string) string {
	return "/api/v1/events/" + url.PathEscape(h.event) + "/sections/" + url.PathEscape(section)
}

// Do sends one request with the buyer's headers and decodes a 2xx body into out.
func (h *HTTP) Do(ctx context.Context, method, path, buyer string, body, out any) Status {
	if err := ctx.Err(); err != nil {
		return Status{Err: err}
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(h.base + path)
	req.Header.SetMethod(method)
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	if buyer != "" {
		req.Header.Set(HeaderBuyer, buyer)
	}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Status{Err: err}
		}
		req.Header.SetContentType("application/json")
		req.SetBody(b)
	}
	timeout := 30 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if err := h.client.DoTimeout(req, resp, timeout); err != nil {
		return Status{Err: err}
	}
	code := resp.StatusCode()
	st := Status{Code: code}
	if code < 200 || code >= 300 {
		var eb ErrorBody
		if json.Unmarshal(resp.Body(), &eb) == nil && eb.Error.Code != "" {
			st.Err = fmt.Errorf("%d %s: %s", code, eb.Error.Code, eb.Error.Message)
		} else {
			st.Err = fmt.Errorf("%d: %.200s", code, resp.Body())
		}
		return st
	}
	if out != nil && len(resp.Body()) > 0 {
		if err := json.Unmarshal(resp.Body(), out); err != nil {
			st.Err = fmt.Errorf("decode %s %s: %w", method, path, err)
			st.Code = 0
		}
	}
	return st
}

// Hold implements Driver.
func (h *HTTP) Hold(ctx context.Context, buyer, section string, req HoldRequest) (Hold, Status) {
	var out Hold
	st := h.Do(ctx, "POST", h.sectionPath(section)+"/holds", buyer, req, &out)
	if st.OK() && out.Token == "" {
		st = Status{Err: errors.New("hold answer without a token")}
	}
	return out, st
}

// Release implements Driver.
func (h *HTTP) Release(ctx context.Context, buyer, section, token string) Status {
	return h.Do(ctx, "DELETE", h.sectionPath(section)+"/holds/"+url.PathEscape(token), buyer, nil, nil)
}

// Confirm implements Driver.
func (h *HTTP) Confirm(ctx context.Context, buyer, section, token string) (Booking, Status) {
	var out Booking
	st := h.Do(ctx, "POST", h.sectionPath(section)+"/holds/"+url.PathEscape(token)+"/confirm", buyer,
		ConfirmRequest{PaymentRef: "bench-" + token}, &out)
	return out, st
}

// Section implements Driver. A read without an answer (a target that was just restarted
// and is recovering the section) is tried again, for up to 30 s.
func (h *HTTP) Section(ctx context.Context, section string) (Availability, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var out Availability
		st := h.Do(ctx, "GET", h.sectionPath(section)+"?seats=true", "", nil, &out)
		if st.OK() {
			return out, nil
		}
		if !st.Uncertain() || time.Now().After(deadline) || ctx.Err() != nil {
			return out, fmt.Errorf("read section %s: %v", section, st.Err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Close implements Driver.
func (h *HTTP) Close() error {
	h.client.CloseIdleConnections()
	return nil
}

// TicketView is the HTTP driver for TicketView itself, which can also check out through an
// order paid with the sandbox provider.
type TicketView struct{ *HTTP }

type orderItem struct {
	Section   string `json:"section"`
	HoldToken string `json:"hold_token"`
	BookingID string `json:"booking_id"`
	Quantity  int    `json:"quantity"`
}

type order struct {
	ID     string      `json:"id"`
	Status string      `json:"status"`
	Items  []orderItem `json:"items"`
}

// Checkout implements Checkouter: POST /api/v1/orders with the holds, then pay it with the
// sandbox's card_success instrument.
func (t TicketView) Checkout(ctx context.Context, buyer string, holds []Hold) ([]Booking, Status) {
	type ref struct {
		Section string `json:"section"`
		Token   string `json:"token"`
	}
	body := struct {
		Event string `json:"event"`
		Holds []ref  `json:"holds"`
	}{Event: t.event}
	for _, h := range holds {
		body.Holds = append(body.Holds, ref{h.Section, h.Token})
	}
	var o order
	if st := t.Do(ctx, "POST", "/api/v1/orders", buyer, body, &o); !st.OK() {
		return nil, st
	}
	var paid order
	st := t.Do(ctx, "POST", "/api/v1/orders/"+url.PathEscape(o.ID)+"/pay", buyer, map[string]string{"instrument": "card_success"}, &paid)
	if !st.OK() {
		return nil, st
	}
	if paid.Status != "confirmed" {
		return nil, Status{Code: 0, Err: fmt.Errorf("order %s is %s after payment", o.ID, paid.Status)}
	}
	var out []Booking
	for _, it := range paid.Items {
		out = append(out, Booking{ID: it.BookingID, HoldToken: it.HoldToken, Section: it.Section, Quantity: it.Quantity, Status: "confirmed"})
	}
	return out, Status{Code: 201}
}
