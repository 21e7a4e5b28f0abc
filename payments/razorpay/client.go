package razorpay

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	ticketview "github.com/ticketview/ticketview"
)

// razorpay-go takes no context and hides the HTTP status of a failed call (it reads the
// error body only). The provider's transport fixes both: each call carries a header
// naming its context, which the transport puts on the request (cancellation, the call's
// timeout), and an answer that is not 2xx becomes an *apiError with its status.

// callHeader names a call's context; the transport removes it before sending.
const callHeader = "X-Ticketview-Call"

// call runs one razorpay-go call under ctx (bounded by the configured timeout), passing
// it the extra headers to send, and maps its error to a ticketview error.
func (p *Provider) call(ctx context.Context, what string, fn func(header map[string]string) error) error {
	if err := ctx.Err(); err != nil {
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "razorpay: %s: %v", what, err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	id := strconv.FormatUint(p.nextID.Add(1), 10)
	p.calls.Store(id, ctx)
	defer p.calls.Delete(id)
	if err := fn(map[string]string{callHeader: id}); err != nil {
		return mapError(what, err)
	}
	return nil
}

// transport sends razorpay-go's requests under their call's context and turns answers
// that are not 2xx into *apiError.
type transport struct {
	p    *Provider
	base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if c, ok := t.p.calls.Load(req.Header.Get(callHeader)); ok {
		ctx = c.(context.Context)
	}
	req = req.Clone(ctx)
	req.Header.Del(callHeader)
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Error struct {
			Code        string `json:"code"`
			Description string `json:"description"`
			Field       string `json:"field"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return nil, &apiError{Status: resp.StatusCode, Code: e.Error.Code, Description: e.Error.Description, Field: e.Error.Field}
}

// apiError is Razorpay's answer to a failed call.
type apiError struct {
	Status      int
	Code        string // BAD_REQUEST_ERROR, GATEWAY_ERROR, SERVER_ERROR
	Description string
	Field       string
}

func (e *apiError) Error() string {
	return "razorpay answered " + strconv.Itoa(e.Status) + " " + e.Code + ": " + e.Description
}

// mapError maps a failed call to a ticketview error: 400 is EINVALID with Razorpay's
// description (ENOTFOUND for an unknown id, which Razorpay answers with a 400), 401
// EUNAVAILABLE (our credentials are wrong: nothing the caller can fix), 404 ENOTFOUND,
// other 4xx EINVALID; 429, 5xx and network failures EUNAVAILABLE.
func mapError(what string, err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "razorpay: %s: %v", what, err)
	}
	desc := ae.Description
	if desc == "" {
		desc = http.StatusText(ae.Status)
	}
	switch {
	case ae.Status == http.StatusUnauthorized:
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "razorpay: %s: payment provider rejected our credentials", what)
	case ae.Status == http.StatusNotFound,
		ae.Status == http.StatusBadRequest && strings.Contains(strings.ToLower(desc), "does not exist"):
		return ticketview.Errorf(ticketview.ENOTFOUND, "razorpay: %s: %s", what, desc)
	case ae.Status >= 400 && ae.Status < 500 && ae.Status != http.StatusTooManyRequests:
		return ticketview.Errorf(ticketview.EINVALID, "razorpay: %s: %s", what, desc)
	default: // 429, 5xx, an unexpected 1xx or 3xx
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "razorpay: %s: %d %s", what, ae.Status, desc)
	}
}

// str answers m[key] as a string ("" when missing or not a string).
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// num answers m[key] as an integer (0 when missing or not a number).
func num(m map[string]any, key string) int64 {
	switch v := m[key].(type) {
	case float64:
		return int64(v)
	case json.Number:
		n, _ := v.Int64()
		return n
	}
	return 0
}

// obj answers m[key] as an object (nil when missing or not one: Razorpay answers empty
// notes as []).
func obj(m map[string]any, key string) map[string]any {
	o, _ := m[key].(map[string]any)
	return o
}
