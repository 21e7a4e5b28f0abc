package live

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/gorilla/websocket"

	ticketview "github.com/ticketview/ticketview"
)

// Message types.
const (
	TypeSnapshot     = "snapshot"
	TypeDelta        = "delta"
	TypeError        = "error"
	TypeUnsubscribed = "unsubscribed"
	TypeSubscribe    = "subscribe"
	TypeUnsubscribe  = "unsubscribe"
	TypeResync       = "resync"
)

// SnapshotMessage is a section's whole availability.
type SnapshotMessage struct {
	Type         string                  `json:"type"` // "snapshot"
	Section      string                  `json:"section"`
	Seq          uint64                  `json:"seq"`
	Availability ticketview.Availability `json:"availability"`
}

// DeltaMessage is one change of a section (ticketview.SeatDelta).
type DeltaMessage struct {
	Type       string                            `json:"type"` // "delta"
	Section    string                            `json:"section"`
	Seq        uint64                            `json:"seq"`
	Prev       uint64                            `json:"prev"`
	Seats      []string                          `json:"seats,omitempty"`
	Status     ticketview.SeatStatus             `json:"status"`
	GAFree     int                               `json:"ga_free"`
	Categories []ticketview.CategoryAvailability `json:"categories,omitempty"`
}

// ErrorMessage tells the client what went wrong; Section is set when it is about one
// section, whose subscription then ended.
type ErrorMessage struct {
	Type    string `json:"type"` // "error"
	Code    string `json:"code"`
	Message string `json:"message"`
	Section string `json:"section,omitempty"`
}

// UnsubscribedMessage acknowledges an unsubscribe.
type UnsubscribedMessage struct {
	Type     string   `json:"type"` // "unsubscribed"
	Sections []string `json:"sections"`
}

// ClientMessage is what a client sends. Section and Sections are read alike: a message
// names the sections of both.
type ClientMessage struct {
	Type     string   `json:"type"`
	Sections []string `json:"sections,omitempty"`
	Section  string   `json:"section,omitempty"`
}

// outMsg is a queued message: a frame shared by many clients, or one for this client.
type outMsg struct {
	pm   *websocket.PreparedMessage
	data []byte
}

func encodeDelta(d ticketview.SeatDelta) (*websocket.PreparedMessage, error) {
	b, err := json.Marshal(&DeltaMessage{Type: TypeDelta, Section: d.Section.Section, Seq: d.Seq, Prev: d.Prev,
		Seats: d.Seats, Status: d.Status, GAFree: d.GAFree, Categories: d.Categories})
	if err != nil {
		return nil, err
	}
	return websocket.NewPreparedMessage(websocket.TextMessage, b)
}

func encodeSnapshot(section string, a *ticketview.Availability) (*websocket.PreparedMessage, error) {
	b, err := json.Marshal(&SnapshotMessage{Type: TypeSnapshot, Section: section, Seq: a.Seq, Availability: *a})
	if err != nil {
		return nil, err
	}
	return websocket.NewPreparedMessage(websocket.TextMessage, b)
}

// errorMsg is the error message of err: its domain code and message (internal errors'
// messages are hidden; a timeout is unavailable).
func errorMsg(err error, section string) outMsg {
	code, msg := ticketview.ErrorCode(err), ticketview.ErrorMessage(err)
	if code == ticketview.EINTERNAL && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		code, msg = ticketview.EUNAVAILABLE, "timed out; try again"
	}
	b, _ := json.Marshal(&ErrorMessage{Type: TypeError, Code: code, Message: msg, Section: section})
	return outMsg{data: b}
}

func unsubscribedMsg(names []string) outMsg {
	if names == nil {
		names = []string{}
	}
	b, _ := json.Marshal(&UnsubscribedMessage{Type: TypeUnsubscribed, Sections: names})
	return outMsg{data: b}
}
