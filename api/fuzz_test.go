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

// FuzzRequestDecoders feeds arbitrary bodies to the strict decoder of every request type
// of the accounts, organizer and admin routes: it never panics, refuses with
// invalid_input only, and what it accepts survives a round trip. An accepted event
// request applied to an event and validated never panics either.
func FuzzRequestDecoders(f *testing.F) {
	for _, s := range []string{
		`{"email":"a@example.com","password":"correct horse battery"}`,
		`{"refresh_token":"abc"}`,
		`{"name":"Ana","phone":"+91 98"}`,
		`{"current":"x","new":"y"}`,
		`{"name":"Gala","venue_id":"hall","starts_at":"2027-01-01T19:00:00Z","currency":"INR","categories":[{"code":"VIP","name":"VIP","price":100,"floor":50,"ceiling":200}],"buyer_limit":4}`,
		`{"role":"admin","disabled":true}`,
		`{"id":"v","name":"Hall","sections":[{"id":"ga","name":"GA","kind":"general_admission","capacity":10,"category":"GA"}]}`,
		`{"starts_at":"yesterday"}`,
		`{"buyer_limit":1e99}`,
		`{"categories":null}`,
		`{"email":1}`,
		`{"unknown":true}`,
		`[]`, `null`, ``, `{`, `{} {}`,
	} {
		f.Add([]byte(s))
	}
	types := []func() any{
		func() any { return new(api.RegisterRequest) }, func() any { return new(api.LoginRequest) },
		func() any { return new(api.RefreshRequest) }, func() any { return new(api.ProfileRequest) },
		func() any { return new(api.PasswordRequest) }, func() any { return new(api.EventRequest) },
		func() any { return new(api.NewUserRequest) }, func() any { return new(api.UserPatch) },
		func() any { return new(ticketview.Venue) }, func() any { return new(ticketview.SeatMap) },
		func() any { return new(ticketview.EventDetails) }, func() any { return new(api.BlockRequest) },
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, mk := range types {
			v := mk()
			if err := api.DecodeJSON(body, v); err != nil {
				if code := ticketview.ErrorCode(err); code != ticketview.EINVALID || ticketview.ErrorMessage(err) == "" {
					t.Fatalf("%T: error %q for %q: %v", v, code, body, err)
				}
				continue
			}
			again, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%T: %v", v, err)
			}
			w := mk()
			if err := api.DecodeJSON(again, w); err != nil {
				t.Fatalf("%T: re-encoded %s refused: %v", v, again, err)
			}
			if b2, _ := json.Marshal(w); string(b2) != string(again) {
				t.Fatalf("%T: round trip changed %s into %s", v, again, b2)
			}
			if r, ok := v.(*api.EventRequest); ok {
				e := &ticketview.Event{ID: "e", Status: ticketview.EventDraft}
				api.ApplyEvent(r, e)
				_ = e.Validate()
			}
			if vn, ok := v.(*ticketview.Venue); ok {
				_ = vn.Validate()
			}
		}
	})
}
