package api_test

import (
	"encoding/json"
	"testing"
	"time"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api"
)

// FuzzHoldRequestDecode feeds arbitrary bodies to the hold-request decoder. It must never
// panic; what it refuses is an invalid_input error; what it accepts is well formed and
// survives a round trip unchanged.
func FuzzHoldRequestDecode(f *testing.F) {
	for _, s := range []string{
		`{"seats":["A-1","A-2"]}`,
		`{"best_available":true,"quantity":2,"category":"VIP","accessible":false,"allow_split":false}`,
		`{"quantity":3}`,
		`{"quantity":3,"ttl_seconds":300}`,
		`{"seats":["A-1"],"quantity":1}`,
		`{"quantity":-1}`,
		`{"seats":`,
		`{"seat":["A-1"]}`,
		`{"quantity":"3"}`,
		`{"quantity":1e30}`,
		`{} {}`,
		`[]`,
		`null`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := api.DecodeHoldRequest(body)
		if err != nil {
			if code := ticketview.ErrorCode(err); code != ticketview.EINVALID {
				t.Fatalf("error code %q for %q: %v", code, body, err)
			}
			if ticketview.ErrorMessage(err) == "" {
				t.Fatalf("no message for %q", body)
			}
			return
		}
		max := ticketview.MaxSeatsPerRequest
		switch {
		case r.Quantity < 0 || r.Quantity > max:
			t.Fatalf("accepted quantity %d", r.Quantity)
		case len(r.Seats) > max:
			t.Fatalf("accepted %d seats", len(r.Seats))
		case r.TTLSeconds < 0 || time.Duration(r.TTLSeconds)*time.Second > ticketview.MaxHoldTTL:
			t.Fatalf("accepted ttl %d", r.TTLSeconds)
		case len(r.Seats) == 0 && r.Quantity == 0:
			t.Fatalf("accepted a request for nothing: %q", body)
		case len(r.Seats) > 0 && r.BestAvailable:
			t.Fatalf("accepted seats and best_available: %q", body)
		}
		for _, s := range r.Seats {
			if s == "" {
				t.Fatalf("accepted an empty seat label: %q", body)
			}
		}
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := api.DecodeHoldRequest(again)
		if err != nil {
			t.Fatalf("re-encoded %s refused: %v", again, err)
		}
		if b2, _ := json.Marshal(r2); string(b2) != string(again) {
			t.Fatalf("round trip changed %s into %s", again, b2)
		}
	})
}
