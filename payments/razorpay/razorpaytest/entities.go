package razorpaytest

// Razorpay's entities as its API answers them (the fields the adapter and a careful
// client read, with Razorpay's nulls and its habit of answering empty notes as []).

// orderEntity is an order ("order_…").
type orderEntity struct {
	ID         string  `json:"id"`
	Entity     string  `json:"entity"`
	Amount     int64   `json:"amount"`
	AmountPaid int64   `json:"amount_paid"`
	AmountDue  int64   `json:"amount_due"`
	Currency   string  `json:"currency"`
	Receipt    *string `json:"receipt"`
	OfferID    *string `json:"offer_id"`
	Status     string  `json:"status"` // created, attempted, paid
	Attempts   int     `json:"attempts"`
	Notes      any     `json:"notes"`
	CreatedAt  int64   `json:"created_at"`
}

// paymentEntity is a payment ("pay_…").
type paymentEntity struct {
	ID               string  `json:"id"`
	Entity           string  `json:"entity"`
	Amount           int64   `json:"amount"`
	Currency         string  `json:"currency"`
	Status           string  `json:"status"` // created, authorized, captured, refunded, failed
	OrderID          string  `json:"order_id"`
	InvoiceID        *string `json:"invoice_id"`
	International    bool    `json:"international"`
	Method           string  `json:"method"`
	AmountRefunded   int64   `json:"amount_refunded"`
	RefundStatus     *string `json:"refund_status"` // null, partial, full
	Captured         bool    `json:"captured"`
	Description      *string `json:"description"`
	CardID           *string `json:"card_id"`
	Bank             *string `json:"bank"`
	Wallet           *string `json:"wallet"`
	VPA              *string `json:"vpa"`
	Email            string  `json:"email"`
	Contact          string  `json:"contact"`
	Notes            any     `json:"notes"`
	Fee              *int64  `json:"fee"`
	Tax              *int64  `json:"tax"`
	ErrorCode        *string `json:"error_code"`
	ErrorDescription *string `json:"error_description"`
	ErrorSource      *string `json:"error_source"`
	ErrorStep        *string `json:"error_step"`
	ErrorReason      *string `json:"error_reason"`
	CreatedAt        int64   `json:"created_at"`
}

// refundEntity is a refund ("rfnd_…").
type refundEntity struct {
	ID             string             `json:"id"`
	Entity         string             `json:"entity"`
	Amount         int64              `json:"amount"`
	Currency       string             `json:"currency"`
	PaymentID      string             `json:"payment_id"`
	Notes          any                `json:"notes"`
	Receipt        *string            `json:"receipt"`
	AcquirerData   map[string]*string `json:"acquirer_data"`
	CreatedAt      int64              `json:"created_at"`
	BatchID        *string            `json:"batch_id"`
	Status         string             `json:"status"` // pending, processed, failed
	SpeedProcessed string             `json:"speed_processed"`
	SpeedRequested string             `json:"speed_requested"`
}

// collection is a list answer.
type collection struct {
	Entity string `json:"entity"`
	Count  int    `json:"count"`
	Items  any    `json:"items"`
}

// event is a webhook's body.
type event struct {
	Entity    string         `json:"entity"`
	AccountID string         `json:"account_id"`
	Event     string         `json:"event"`
	Contains  []string       `json:"contains"`
	Payload   map[string]any `json:"payload"`
	CreatedAt int64          `json:"created_at"`
}

// wrapped is how a webhook's payload holds an entity: {"entity": {...}}.
type wrapped struct {
	Entity any `json:"entity"`
}

// apiError is Razorpay's error answer.
type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Code        string         `json:"code"`
	Description string         `json:"description"`
	Source      string         `json:"source,omitempty"`
	Step        string         `json:"step,omitempty"`
	Reason      string         `json:"reason,omitempty"`
	Field       string         `json:"field,omitempty"`
	Metadata    map[string]any `json:"metadata"`
}

// notesOf answers notes as Razorpay does: [] when there are none.
func notesOf(notes map[string]any) any {
	if len(notes) == 0 {
		return []any{}
	}
	return notes
}

// ptr returns a pointer to v (a JSON value that may be null).
func ptr[T any](v T) *T { return &v }
