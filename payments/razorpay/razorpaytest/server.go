// Package razorpaytest is an HTTP server that answers like Razorpay's API, for tests of
// the Razorpay adapter and end-to-end tests of checkout: orders, payments, refunds and
// signed webhooks, with controls to simulate the buyer paying in Razorpay Checkout.
package razorpaytest

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Server is a fake Razorpay API on a local httptest server. It is safe for concurrent
// use.
type Server struct {
	srv           *httptest.Server
	keyID         string
	keySecret     string
	webhookSecret string
	accountID     string
	client        *http.Client

	mu         sync.Mutex
	orders     map[string]*orderEntity
	payments   map[string]*paymentEntity
	refunds    map[string]*refundEntity
	byPayment  map[string][]string // refund ids of a payment, oldest first
	events     map[string][]byte   // webhook bodies by event id
	eventIDs   map[string][]string // event ids by event name, oldest first
	webhookURL string
	requests   map[string]int
	failN      int
	failStatus int
	wg         sync.WaitGroup // asynchronous webhooks
}

// NewServer starts a fake Razorpay that accepts the API key keyID:keySecret and signs
// its webhooks with webhookSecret. Close it when done.
func NewServer(keyID, keySecret, webhookSecret string) *Server {
	s := &Server{
		keyID:         keyID,
		keySecret:     keySecret,
		webhookSecret: webhookSecret,
		accountID:     "acc_" + randomID(),
		client:        &http.Client{Timeout: 10 * time.Second},
		orders:        make(map[string]*orderEntity),
		payments:      make(map[string]*paymentEntity),
		refunds:       make(map[string]*refundEntity),
		byPayment:     make(map[string][]string),
		events:        make(map[string][]byte),
		eventIDs:      make(map[string][]string),
		requests:      make(map[string]int),
	}
	mux := http.NewServeMux()
	for pattern, h := range map[string]http.HandlerFunc{
		"POST /v1/orders":               s.createOrder,
		"GET /v1/orders/{id}":           s.fetchOrder,
		"GET /v1/payments/{id}":         s.fetchPayment,
		"POST /v1/payments/{id}/refund": s.createRefund,
		"GET /v1/payments/{id}/refunds": s.listRefunds,
		"GET /v1/refunds/{id}":          s.fetchRefund,
	} {
		mux.Handle(pattern, s.api(h))
	}
	s.srv = httptest.NewServer(mux)
	return s
}

// URL is the server's base URL (Razorpay's https://api.razorpay.com).
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server and waits for webhooks being sent.
func (s *Server) Close() {
	s.srv.Close()
	s.wg.Wait()
}

// SetWebhookURL sets where webhooks are posted; none are sent without one.
func (s *Server) SetWebhookURL(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookURL = url
}

// Requests answers how many API requests each endpoint got, by pattern
// ("POST /v1/orders", "GET /v1/payments/{id}/refunds"...), failed ones included.
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.requests)
}

// FailNext makes the next n API requests answer status (500: Razorpay's SERVER_ERROR)
// without doing anything.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = n, status
}

// Sign answers the webhook signature of body: hex HMAC-SHA256 with the webhook secret.
func (s *Server) Sign(body []byte) string { return hmacHex(s.webhookSecret, body) }

// CallbackSignature answers the signature Checkout gives the buyer's browser for a
// payment: hex HMAC-SHA256 of orderID + "|" + paymentID with the key secret.
func (s *Server) CallbackSignature(orderID, paymentID string) string {
	return hmacHex(s.keySecret, []byte(orderID+"|"+paymentID))
}

// api wraps an endpoint with request counting, basic auth and failure injection.
func (s *Server) api(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests[r.Pattern]++
		fail := 0
		if s.failN > 0 {
			s.failN--
			fail = s.failStatus
		}
		s.mu.Unlock()
		if key, secret, ok := r.BasicAuth(); !ok || key != s.keyID || secret != s.keySecret {
			writeError(w, http.StatusUnauthorized, "Authentication failed", "")
			return
		}
		if fail != 0 {
			writeError(w, fail, "The server encountered an error. The incident has been reported to admins.", "")
			return
		}
		h(w, r)
	})
}

// writeJSON answers v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers Razorpay's error shape: SERVER_ERROR for 5xx, else
// BAD_REQUEST_ERROR.
func writeError(w http.ResponseWriter, status int, description, field string) {
	code := "BAD_REQUEST_ERROR"
	if status >= 500 {
		code = "SERVER_ERROR"
	}
	body := apiErrorBody{Code: code, Description: description, Field: field, Metadata: map[string]any{}}
	if status == http.StatusBadRequest {
		body.Source, body.Step, body.Reason = "business", "payment_initiation", "input_validation_failed"
	}
	writeJSON(w, status, apiError{Error: body})
}

// notFound answers Razorpay's answer to an unknown id (a 400, not a 404).
func notFound(w http.ResponseWriter) {
	writeError(w, http.StatusBadRequest, "The id provided does not exist", "")
}

// hmacHex answers the hex HMAC-SHA256 of b with key.
func hmacHex(key string, b []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil))
}

// randomID answers 14 random characters, like Razorpay's ids.
func randomID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 14)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// post sends a webhook body to the webhook URL.
func (s *Server) post(eventID string, body []byte) error {
	s.mu.Lock()
	url := s.webhookURL
	s.mu.Unlock()
	if url == "" {
		return nil
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Razorpay-Signature", s.Sign(body))
	req.Header.Set("X-Razorpay-Event-Id", eventID)
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("razorpaytest: webhook %s: %w", eventID, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("razorpaytest: webhook %s: receiver answered %s", eventID, resp.Status)
	}
	return nil
}
