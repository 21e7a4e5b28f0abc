package sandbox

import (
	"sort"
	"strings"
)

// Outcome is what paying with an instrument does.
type Outcome string

// Outcomes of the test instruments.
const (
	Success Outcome = "success" // captured at once
	Failure Outcome = "failure" // refused at once, with a reason
	Late    Outcome = "late"    // pending now; captured after Config.LateAfter (a webhook says so)
)

// Instrument is a test payment instrument the sandbox accepts in Pay.
type Instrument struct {
	Name        string  `json:"name"`
	Method      string  `json:"method"` // card, upi, wallet
	Outcome     Outcome `json:"outcome"`
	Description string  `json:"description"`
	// Reason is the failure's description (Razorpay's error_description) for Failure.
	Reason string `json:"reason,omitempty"`
}

// Failure reasons, worded like Razorpay's error descriptions.
const (
	reasonCard   = "Your card was declined. Please try another card or payment method."
	reasonUPI    = "Payment was unsuccessful as the UPI request was declined by the payer's bank."
	reasonWallet = "Payment failed as the wallet balance was insufficient."
)

// instruments are the named instruments (listed in the provider order's checkout data)
// followed by their aliases: test card numbers and UPI ids.
var instruments = []Instrument{
	{Name: "card_success", Method: "card", Outcome: Success, Description: "a card payment that is captured at once"},
	{Name: "card_declined", Method: "card", Outcome: Failure, Reason: reasonCard, Description: "a card payment the issuing bank declines"},
	{Name: "card_late", Method: "card", Outcome: Late, Description: "a card payment that stays pending, then is captured (webhook only)"},
	{Name: "upi_success", Method: "upi", Outcome: Success, Description: "a UPI payment that is captured at once"},
	{Name: "upi_failure", Method: "upi", Outcome: Failure, Reason: reasonUPI, Description: "a UPI payment the payer's bank declines"},
	{Name: "upi_late", Method: "upi", Outcome: Late, Description: "a UPI collect request approved later (webhook only)"},
	{Name: "wallet_success", Method: "wallet", Outcome: Success, Description: "a wallet payment that is captured at once"},
	{Name: "wallet_failure", Method: "wallet", Outcome: Failure, Reason: reasonWallet, Description: "a wallet payment refused for want of balance"},
	{Name: "wallet_late", Method: "wallet", Outcome: Late, Description: "a wallet payment that stays pending, then is captured (webhook only)"},
	{Name: "4111111111111111", Method: "card", Outcome: Success, Description: "test card number: same as card_success"},
	{Name: "4000000000000002", Method: "card", Outcome: Failure, Reason: reasonCard, Description: "test card number: same as card_declined"},
	{Name: "4000000000000259", Method: "card", Outcome: Late, Description: "test card number: same as card_late"},
	{Name: "success@sandbox", Method: "upi", Outcome: Success, Description: "test UPI id: same as upi_success"},
	{Name: "failure@sandbox", Method: "upi", Outcome: Failure, Reason: reasonUPI, Description: "test UPI id: same as upi_failure"},
}

// namedInstruments is how many of instruments are named ones (not aliases).
const namedInstruments = 9

// Instruments returns every instrument Pay accepts, with what it does: for API docs and
// the sandbox's checkout page.
func Instruments() []Instrument {
	return append([]Instrument(nil), instruments...)
}

// instrumentNames returns the named instruments, comma separated.
func instrumentNames() string {
	names := make([]string, namedInstruments)
	for i, in := range instruments[:namedInstruments] {
		names[i] = in.Name
	}
	return strings.Join(names, ",")
}

// allInstrumentNames returns every accepted instrument, sorted, comma separated.
func allInstrumentNames() string {
	names := make([]string, len(instruments))
	for i, in := range instruments {
		names[i] = in.Name
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// lookupInstrument finds an instrument by name, card number (spaces and dashes allowed)
// or UPI id (any case).
func lookupInstrument(s string) (Instrument, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if !strings.Contains(s, "@") {
		s = strings.NewReplacer(" ", "", "-", "").Replace(s)
	}
	for _, in := range instruments {
		if in.Name == s {
			return in, true
		}
	}
	return Instrument{}, false
}
