package ticketview

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// TicketClaims is what a ticket's QR code says; the server signs it with Ed25519 so that
// a gate holding the public key can check a ticket offline.
type TicketClaims struct {
	Ticket  string `json:"t"`
	Order   string `json:"o"`
	Event   string `json:"e"`
	Section string `json:"s"`
	Seat    string `json:"seat,omitempty"`
	Cat     string `json:"c,omitempty"`
}

const ticketPrefix = "TV1."

var b64 = base64.RawURLEncoding

// SignTicket returns the QR payload of a ticket: "TV1.<claims>.<signature>", base64url.
func SignTicket(key ed25519.PrivateKey, c TicketClaims) string {
	body, _ := json.Marshal(c)
	msg := ticketPrefix + b64.EncodeToString(body)
	return msg + "." + b64.EncodeToString(ed25519.Sign(key, []byte(msg)))
}

// VerifyTicket checks a QR payload's signature and reads its claims (EINVALID when it is
// malformed or not signed by the key).
func VerifyTicket(pub ed25519.PublicKey, qr string) (TicketClaims, error) {
	var c TicketClaims
	i := strings.LastIndexByte(qr, '.')
	if !strings.HasPrefix(qr, ticketPrefix) || i <= len(ticketPrefix) {
		return c, Errorf(EINVALID, "not a TicketView ticket")
	}
	sig, err := b64.DecodeString(qr[i+1:])
	if err != nil || len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, []byte(qr[:i]), sig) {
		return c, Errorf(EINVALID, "the ticket's signature is not valid")
	}
	body, err := b64.DecodeString(qr[len(ticketPrefix):i])
	if err != nil || json.Unmarshal(body, &c) != nil || c.Ticket == "" {
		return c, Errorf(EINVALID, "the ticket's claims are malformed")
	}
	return c, nil
}
