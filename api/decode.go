package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	ticketview "github.com/ticketview/ticketview"
)

// HoldRequest is the body of POST .../holds. Exactly one way of choosing is used:
//
//	{"seats": ["A-1", "A-2"]}                                  explicit seats (seated)
//	{"best_available": true, "quantity": 2, "category": "VIP",
//	 "accessible": false, "allow_split": false}                the engine chooses (seated)
//	{"quantity": 3}                                            general admission
//
// ttl_seconds (optional, 1..1800) sets the hold's lifetime; the default is 10 minutes.
type HoldRequest struct {
	Seats         []string `json:"seats,omitempty"`
	BestAvailable bool     `json:"best_available,omitempty"`
	Quantity      int      `json:"quantity,omitempty"`
	Category      string   `json:"category,omitempty"`
	Accessible    bool     `json:"accessible,omitempty"`
	AllowSplit    bool     `json:"allow_split,omitempty"`
	TTLSeconds    int      `json:"ttl_seconds,omitempty"`
}

// ExtendRequest is the body of POST .../holds/:token/extend.
type ExtendRequest struct {
	Seconds int `json:"seconds"`
}

// ConfirmRequest is the body of POST .../holds/:token/confirm. Until payments exist the
// caller confirms with the reference of a payment it took.
type ConfirmRequest struct {
	PaymentRef string `json:"payment_ref"`
}

// BlockRequest is the body of the admin block and unblock routes: seats of a seated
// section, or a quantity of a general-admission section.
type BlockRequest struct {
	Seats    []string `json:"seats,omitempty"`
	Quantity int      `json:"quantity,omitempty"`
	Reason   string   `json:"reason,omitempty"` // block only
}

const (
	maxLabelLen      = 64
	maxCategoryLen   = 64
	maxBlockQuantity = 1_000_000
	maxBlockSeats    = 10_000
)

// decodeJSON decodes exactly one JSON object into v, refusing unknown fields. An empty
// body is an error unless optional.
func decodeJSON(body []byte, v any, optional bool) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		if optional {
			return nil
		}
		return invalid("the request body must be a JSON object")
	}
	if trimmed[0] != '{' {
		return invalid("the request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("%s", describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("the request body must hold a single JSON object")
	}
	return nil
}

func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		want := "another type"
		if typ.Type != nil {
			want = typeName(typ.Type.String())
		}
		if typ.Field == "" {
			return fmt.Sprintf("expected %s, got JSON %s", want, typ.Value)
		}
		return fmt.Sprintf("field %q: expected %s, got JSON %s", typ.Field, want, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "malformed JSON: unexpected end of the body"
	default:
		return strings.TrimPrefix(err.Error(), "json: ")
	}
}

func typeName(goType string) string {
	switch goType {
	case "int", "int64", "int32":
		return "an integer"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "[]string":
		return "an array of strings"
	}
	return goType
}

// decodeHoldRequest decodes and checks a hold request. A request it accepts is well
// formed: the engine may still refuse it (an unknown seat, a GA section asked for seats).
func decodeHoldRequest(body []byte) (HoldRequest, error) {
	var r HoldRequest
	if err := decodeJSON(body, &r, false); err != nil {
		return HoldRequest{}, err
	}
	if err := r.check(); err != nil {
		return HoldRequest{}, err
	}
	return r, nil
}

func (r *HoldRequest) check() error {
	max := ticketview.MaxSeatsPerRequest
	switch {
	case r.Quantity < 0:
		return invalid("quantity must not be negative")
	case r.Quantity > max:
		return invalid("quantity must be between 1 and %d", max)
	case len(r.Seats) > max:
		return invalid("at most %d seats per request", max)
	case r.TTLSeconds < 0 || time.Duration(r.TTLSeconds) > ticketview.MaxHoldTTL/time.Second:
		return invalid("ttl_seconds must be between 1 and %d", int(ticketview.MaxHoldTTL/time.Second))
	case len(r.Category) > maxCategoryLen:
		return invalid("category is too long")
	}
	for _, s := range r.Seats {
		if s == "" || len(s) > maxLabelLen {
			return invalid("seat labels must be 1 to %d characters", maxLabelLen)
		}
	}
	switch {
	case len(r.Seats) > 0:
		if r.BestAvailable {
			return invalid("ask either for seats or for best_available, not both")
		}
		if r.Quantity != 0 && r.Quantity != len(r.Seats) {
			return invalid("quantity (%d) differs from the number of seats (%d)", r.Quantity, len(r.Seats))
		}
		if r.Category != "" || r.Accessible || r.AllowSplit {
			return invalid("category, accessible and allow_split apply to best_available only")
		}
	case r.BestAvailable:
		if r.Quantity == 0 {
			return invalid("best_available needs a quantity between 1 and %d", max)
		}
	default:
		if r.Quantity == 0 {
			return invalid("ask for seats, for best_available with a quantity, or (general admission) for a quantity")
		}
		if r.Accessible || r.AllowSplit {
			return invalid("accessible and allow_split apply to best_available only")
		}
	}
	return nil
}

// command turns the request into the engine's command.
func (r *HoldRequest) command(id ticketview.SectionID, owner, idem string) ticketview.HoldCommand {
	return ticketview.HoldCommand{
		Section:       id,
		Owner:         owner,
		IdemKey:       idem,
		Seats:         r.Seats,
		BestAvailable: r.BestAvailable,
		Quantity:      r.Quantity,
		Category:      r.Category,
		Accessible:    r.Accessible,
		AllowSplit:    r.AllowSplit,
		TTL:           time.Duration(r.TTLSeconds) * time.Second,
	}
}

func decodeExtendRequest(body []byte) (time.Duration, error) {
	var r ExtendRequest
	if err := decodeJSON(body, &r, false); err != nil {
		return 0, err
	}
	maxS := int(ticketview.MaxHoldTTL / time.Second)
	if r.Seconds < 1 || r.Seconds > maxS {
		return 0, invalid("seconds must be between 1 and %d", maxS)
	}
	return time.Duration(r.Seconds) * time.Second, nil
}

func decodeConfirmRequest(body []byte) (string, error) {
	var r ConfirmRequest
	if err := decodeJSON(body, &r, false); err != nil {
		return "", err
	}
	ref := strings.TrimSpace(r.PaymentRef)
	if ref == "" || len(ref) > maxRefLen {
		return "", invalid("payment_ref must be 1 to %d characters", maxRefLen)
	}
	return ref, nil
}

func decodeBlockRequest(body []byte, kind ticketview.SectionKind, block bool) (BlockRequest, error) {
	var r BlockRequest
	if err := decodeJSON(body, &r, false); err != nil {
		return BlockRequest{}, err
	}
	switch {
	case r.Quantity < 0 || r.Quantity > maxBlockQuantity:
		return BlockRequest{}, invalid("quantity must be between 1 and %d", maxBlockQuantity)
	case len(r.Seats) > maxBlockSeats:
		return BlockRequest{}, invalid("at most %d seats per request", maxBlockSeats)
	case !block && r.Reason != "":
		return BlockRequest{}, invalid("reason applies to block only")
	case len(r.Reason) > maxRefLen:
		return BlockRequest{}, invalid("reason is too long")
	}
	for _, s := range r.Seats {
		if s == "" || len(s) > maxLabelLen {
			return BlockRequest{}, invalid("seat labels must be 1 to %d characters", maxLabelLen)
		}
	}
	if kind == ticketview.GeneralAdmission {
		if len(r.Seats) > 0 || r.Quantity == 0 {
			return BlockRequest{}, invalid("a general-admission section is blocked by quantity")
		}
	} else if len(r.Seats) == 0 || r.Quantity != 0 {
		return BlockRequest{}, invalid("a seated section is blocked by seat labels")
	}
	return r, nil
}
