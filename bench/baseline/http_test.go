package baseline_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/ticketview/ticketview/bench/baseline"
	"github.com/ticketview/ticketview/bench/load"
)

// client makes requests to the app as a buyer.
type client struct {
	t   *testing.T
	app *fiber.App
}

type reply struct {
	status int
	body   []byte
}

// do sends the request; buyer "" leaves X-Buyer-ID out, auth false leaves Authorization
// out. body is JSON-encoded unless it is a string (sent as is) or nil.
func (c client) do(method, path, buyer string, auth bool, body any) reply {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewBufferString(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(js)
	}
	req := httptest.NewRequest(method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if buyer != "" {
		req.Header.Set(load.HeaderBuyer, buyer)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer any-token")
	}
	resp, err := c.app.Test(req, -1)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return reply{resp.StatusCode, b}
}

// want fails the test unless the reply has the status and, for errors, the error body
// with the code; it decodes a success's body into v.
func (c client) want(what string, r reply, status int, code string, v any) {
	c.t.Helper()
	if r.status != status {
		c.t.Fatalf("%s: status %d (%s), want %d", what, r.status, r.body, status)
	}
	if code != "" {
		var e load.ErrorBody
		if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code != code || e.Error.Message == "" {
			c.t.Fatalf("%s: body %s, want an error body with code %q", what, r.body, code)
		}
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			c.t.Fatalf("%s: body %s: %v", what, r.body, err)
		}
	}
}

func TestHTTP(t *testing.T) {
	forEachKind(t, func(t *testing.T, e env) {
		c := client{t: t, app: baseline.Handler(e.store)}
		const sec = "/api/v1/events/gig/sections/"
		holds := sec + "floor/holds"

		c.want("setup", c.do("POST", "/bench/setup", "", false, testLayout), http.StatusNoContent, "", nil)
		c.want("setup of a bad layout", c.do("POST", "/bench/setup", "", false, load.Layout{Event: "gig"}), http.StatusBadRequest, "invalid", nil)
		c.want("setup of bad JSON", c.do("POST", "/bench/setup", "", false, "{"), http.StatusBadRequest, "invalid", nil)

		var h load.Hold
		c.want("hold", c.do("POST", holds, "alice", true, pick("A-1", "A-2")), http.StatusCreated, "", &h)
		if h.Token == "" || h.Owner != "alice" || h.Section != "floor" || h.Quantity != 2 || len(h.Items) != 2 || h.ExpiresAt.IsZero() {
			t.Fatalf("hold %+v", h)
		}
		c.want("overlapping hold", c.do("POST", holds, "bob", true, pick("A-2")), http.StatusConflict, "conflict", nil)

		for name, body := range map[string]any{
			"bad JSON":        `{"seats": [`,
			"not an object":   `[1]`,
			"empty body":      nil,
			"no way":          load.HoldRequest{},
			"two ways":        load.HoldRequest{Seats: []string{"B-1"}, BestAvailable: true, Quantity: 1},
			"quantity 0":      best(0),
			"quantity 11":     best(11),
			"unknown seat":    pick("Q-42"),
			"GA on seated":    ga(2),
			"ttl over 1 h":    load.HoldRequest{Seats: []string{"B-1"}, TTLSeconds: 7200},
			"wrong JSON type": `{"quantity": "two", "best_available": true}`,
		} {
			c.want(name, c.do("POST", holds, "bob", true, body), http.StatusBadRequest, "invalid", nil)
		}
		c.want("unknown event", c.do("POST", "/api/v1/events/other/sections/floor/holds", "bob", true, best(1)), http.StatusNotFound, "not_found", nil)
		c.want("unknown section", c.do("POST", sec+"balcony/holds", "bob", true, best(1)), http.StatusNotFound, "not_found", nil)
		c.want("no buyer", c.do("POST", holds, "", true, best(1)), http.StatusUnauthorized, "unauthorized", nil)
		c.want("no Authorization", c.do("POST", holds, "bob", false, best(1)), http.StatusUnauthorized, "unauthorized", nil)
		c.want("release without a buyer", c.do("DELETE", holds+"/"+h.Token, "", true, nil), http.StatusUnauthorized, "unauthorized", nil)

		// release: not yours, yours, again
		c.want("bob releases alice's hold", c.do("DELETE", holds+"/"+h.Token, "bob", true, nil), http.StatusNotFound, "not_found", nil)
		c.want("bob confirms alice's hold", c.do("POST", holds+"/"+h.Token+"/confirm", "bob", true, load.ConfirmRequest{PaymentRef: "p"}), http.StatusNotFound, "not_found", nil)
		c.want("release", c.do("DELETE", holds+"/"+h.Token, "alice", true, nil), http.StatusNoContent, "", nil)
		c.want("release again", c.do("DELETE", holds+"/"+h.Token, "alice", true, nil), http.StatusNoContent, "", nil)
		c.want("unknown token", c.do("DELETE", holds+"/nope", "alice", true, nil), http.StatusNotFound, "not_found", nil)

		// best available, confirm, confirm again, release the sold hold
		var bh load.Hold
		c.want("best available", c.do("POST", holds, "bob", true, best(2)), http.StatusCreated, "", &bh)
		if len(bh.Seats()) != 2 {
			t.Fatalf("best-available hold %+v", bh)
		}
		var b load.Booking
		c.want("confirm", c.do("POST", holds+"/"+bh.Token+"/confirm", "bob", true, load.ConfirmRequest{PaymentRef: "pay-1"}), http.StatusCreated, "", &b)
		if b.ID == "" || b.HoldToken != bh.Token || b.Status != "confirmed" || b.Quantity != 2 || b.Section != "floor" {
			t.Fatalf("booking %+v", b)
		}
		c.want("confirm again", c.do("POST", holds+"/"+bh.Token+"/confirm", "bob", true, load.ConfirmRequest{PaymentRef: "pay-2"}), http.StatusConflict, "conflict", nil)
		c.want("release a sold hold", c.do("DELETE", holds+"/"+bh.Token, "bob", true, nil), http.StatusConflict, "conflict", nil)
		c.want("confirm with bad JSON", c.do("POST", holds+"/"+bh.Token+"/confirm", "bob", true, "{"), http.StatusBadRequest, "invalid", nil)

		// general admission, confirmed without a body
		var gh load.Hold
		c.want("GA hold", c.do("POST", sec+"pit/holds", "carol", true, ga(3)), http.StatusCreated, "", &gh)
		if gh.Quantity != 3 || len(gh.Items) != 1 || gh.Items[0].Quantity != 3 {
			t.Fatalf("GA hold %+v", gh)
		}
		c.want("GA confirm", c.do("POST", sec+"pit/holds/"+gh.Token+"/confirm", "carol", true, nil), http.StatusCreated, "", nil)

		// section reads
		var a load.Availability
		c.want("section read", c.do("GET", sec+"floor?seats=true", "", false, nil), http.StatusOK, "", &a)
		sold := 0
		for _, v := range a.Seats {
			if v.Status == "sold" {
				sold++
				if v.Label != bh.Seats()[0] && v.Label != bh.Seats()[1] {
					t.Fatalf("seat %s reads sold; the sale was %v", v.Label, bh.Seats())
				}
			}
		}
		if a.Section != "floor" || a.Capacity != 20 || a.Sold != 2 || a.Free != 18 || len(a.Seats) != 20 || sold != 2 {
			t.Fatalf("section read %+v", a)
		}
		a = load.Availability{}
		c.want("section read without seats", c.do("GET", sec+"pit", "", false, nil), http.StatusOK, "", &a)
		if a.Capacity != 20 || a.Sold != 3 || a.Free != 17 || a.Seats != nil {
			t.Fatalf("pit read %+v", a)
		}
		c.want("read of another event", c.do("GET", "/api/v1/events/other/sections/floor", "", false, nil), http.StatusNotFound, "not_found", nil)
		c.want("unknown route", c.do("GET", "/nowhere", "", false, nil), http.StatusNotFound, "not_found", nil)
	})
}
