package ticketview

import "fmt"

// Money is an amount in minor units (paise, cents) of a currency.
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// Add returns m+o; both must be in the same currency (an empty currency adopts the other's).
func (m Money) Add(o Money) Money {
	if m.Currency == "" {
		m.Currency = o.Currency
	}
	m.Amount += o.Amount
	return m
}

// Times returns m multiplied by n.
func (m Money) Times(n int) Money { m.Amount *= int64(n); return m }

func (m Money) String() string {
	sign := ""
	if m.Amount < 0 {
		sign = "-" // -50 is "-0.50": the units alone would lose the sign
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, abs64(m.Amount/100), abs64(m.Amount%100), m.Currency)
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
