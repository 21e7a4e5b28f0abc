package razorpaytest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// orderRequest is the body of POST /v1/orders.
type orderRequest struct {
	Amount         *json.Number   `json:"amount"`
	Currency       string         `json:"currency"`
	Receipt        string         `json:"receipt"`
	PaymentCapture any            `json:"payment_capture"`
	Notes          map[string]any `json:"notes"`
}

// refundRequest is the body of POST /v1/payments/{id}/refund.
type refundRequest struct {
	Amount  *json.Number   `json:"amount"`
	Speed   string         `json:"speed"`
	Receipt string         `json:"receipt"`
	Notes   map[string]any `json:"notes"`
}

// decode reads a JSON body, answering Razorpay's error when it is not one.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	d := json.NewDecoder(r.Body)
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "The request body is not valid JSON: "+err.Error(), "")
		return false
	}
	return true
}

// amountOf reads a positive integer amount of at least 100 (Razorpay's minimum, 1.00).
func amountOf(w http.ResponseWriter, n *json.Number) (int64, bool) {
	if n == nil {
		writeError(w, http.StatusBadRequest, "The amount field is required.", "amount")
		return 0, false
	}
	v, err := n.Int64()
	if err != nil {
		writeError(w, http.StatusBadRequest, "The amount must be an integer.", "amount")
		return 0, false
	}
	if v < 100 {
		writeError(w, http.StatusBadRequest, "The amount must be atleast INR 1.00", "amount")
		return 0, false
	}
	return v, true
}

func (s *Server) createOrder(w http.ResponseWriter, r *http.Request) {
	var req orderRequest
	if !decode(w, r, &req) {
		return
	}
	amount, ok := amountOf(w, req.Amount)
	if !ok {
		return
	}
	switch {
	case req.Currency == "":
		writeError(w, http.StatusBadRequest, "The currency field is required.", "currency")
		return
	case len(req.Receipt) > 40:
		writeError(w, http.StatusBadRequest, "The receipt may not be greater than 40 characters.", "receipt")
		return
	case len(req.Notes) > 15:
		writeError(w, http.StatusBadRequest, "Number of fields in notes should be less than or equal to 15", "notes")
		return
	}
	o := &orderEntity{
		ID: "order_" + randomID(), Entity: "order", Amount: amount, AmountDue: amount,
		Currency: req.Currency, OfferID: nil, Status: "created",
		Notes: notesOf(req.Notes), CreatedAt: time.Now().Unix(),
	}
	if req.Receipt != "" {
		o.Receipt = ptr(req.Receipt)
	}
	s.mu.Lock()
	s.orders[o.ID] = o
	c := *o
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) fetchOrder(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	o, ok := s.orders[r.PathValue("id")]
	var c orderEntity
	if ok {
		c = *o
	}
	s.mu.Unlock()
	if !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) fetchPayment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p, ok := s.payments[r.PathValue("id")]
	var c paymentEntity
	if ok {
		c = *p
	}
	s.mu.Unlock()
	if !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) fetchRefund(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rf, ok := s.refunds[r.PathValue("id")]
	var c refundEntity
	if ok {
		c = *rf
	}
	s.mu.Unlock()
	if !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// listRefunds answers a payment's refunds, newest first, as Razorpay does, a page of
// count (default 10, at most 100) after skip.
func (s *Server) listRefunds(w http.ResponseWriter, r *http.Request) {
	count, skip := 10, 0
	if v, err := strconv.Atoi(r.URL.Query().Get("count")); err == nil {
		count = v
	}
	if v, err := strconv.Atoi(r.URL.Query().Get("skip")); err == nil {
		skip = v
	}
	if count < 1 || count > 100 || skip < 0 {
		writeError(w, http.StatusBadRequest, "The count must be between 1 and 100.", "count")
		return
	}
	s.mu.Lock()
	id := r.PathValue("id")
	_, ok := s.payments[id]
	items := []refundEntity{}
	for _, rid := range slices.Backward(s.byPayment[id]) {
		items = append(items, *s.refunds[rid])
	}
	s.mu.Unlock()
	if !ok {
		notFound(w)
		return
	}
	items = items[min(skip, len(items)):]
	items = items[:min(count, len(items))]
	writeJSON(w, http.StatusOK, collection{Entity: "collection", Count: len(items), Items: items})
}

// createRefund refunds a captured payment at once (status processed) and sends a
// refund.processed webhook in the background. Without an amount, what is left is
// refunded.
func (s *Server) createRefund(w http.ResponseWriter, r *http.Request) {
	var req refundRequest
	if !decode(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payments[r.PathValue("id")]
	if !ok {
		notFound(w)
		return
	}
	if p.Status != "captured" {
		writeError(w, http.StatusBadRequest, "The payment status should be captured for action to be taken", "")
		return
	}
	left := p.Amount - p.AmountRefunded
	amount := left
	if req.Amount != nil {
		v, err := req.Amount.Int64()
		if err != nil || v <= 0 {
			writeError(w, http.StatusBadRequest, "The amount must be atleast INR 1.00", "amount")
			return
		}
		amount = v
	}
	if amount > left {
		writeError(w, http.StatusBadRequest, "The refund amount provided is greater than amount captured", "amount")
		return
	}
	speed := req.Speed
	if speed == "" {
		speed = "normal"
	}
	rf := &refundEntity{
		ID: "rfnd_" + randomID(), Entity: "refund", Amount: amount, Currency: p.Currency,
		PaymentID: p.ID, Notes: notesOf(req.Notes), AcquirerData: map[string]*string{"arn": nil},
		CreatedAt: time.Now().Unix(), Status: "processed", SpeedProcessed: "normal", SpeedRequested: speed,
	}
	if req.Receipt != "" {
		rf.Receipt = ptr(req.Receipt)
	}
	s.refunds[rf.ID] = rf
	s.byPayment[p.ID] = append(s.byPayment[p.ID], rf.ID)
	p.AmountRefunded += amount
	if p.AmountRefunded == p.Amount {
		p.Status, p.RefundStatus = "refunded", ptr("full")
	} else {
		p.RefundStatus = ptr("partial")
	}
	id, body := s.newEvent("refund.processed", []string{"refund", "payment"},
		map[string]any{"refund": wrapped{*rf}, "payment": wrapped{*p}})
	s.wg.Go(func() { _ = s.post(id, body) })
	writeJSON(w, http.StatusOK, *rf)
}
