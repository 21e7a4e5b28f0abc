// Package sms sends the notification worker's text messages through a Twilio-style HTTP
// API: POST {BaseURL}/2010-04-01/Accounts/{AccountSID}/Messages.json with the form fields
// To, From and Body, HTTP basic auth (account SID, auth token) and the message's
// idempotency key in the I-Twilio-Idempotency-Token header.
package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ticketview/ticketview"
)

var _ ticketview.SMSSender = (*Sender)(nil)

// DefaultBaseURL is Twilio's API.
const DefaultBaseURL = "https://api.twilio.com"

// MaxBody bounds a message's text (Twilio takes up to 1600 characters).
const MaxBody = 1600

// Config is the account to send with.
type Config struct {
	BaseURL    string // default DefaultBaseURL
	AccountSID string
	AuthToken  string
	From       string // the sending number (E.164) or sender id
	// Timeout bounds one request (default 10 s).
	Timeout time.Duration
	// HTTPClient sends the requests (default a client with Timeout).
	HTTPClient *http.Client
}

// Sender sends text messages. It is safe for concurrent use.
type Sender struct {
	cfg      Config
	endpoint string
	client   *http.Client
}

// New checks the configuration (EINVALID) and returns a Sender.
func New(cfg Config) (*Sender, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, ticketview.Errorf(ticketview.EINVALID, "sms: base URL %q: want http(s)://host", cfg.BaseURL)
	}
	if cfg.AccountSID == "" || cfg.AuthToken == "" || cfg.From == "" {
		return nil, ticketview.Errorf(ticketview.EINVALID, "sms: an account SID, an auth token and a From number are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: cfg.Timeout}
	}
	endpoint := strings.TrimRight(cfg.BaseURL, "/") + "/2010-04-01/Accounts/" + url.PathEscape(cfg.AccountSID) + "/Messages.json"
	return &Sender{cfg: cfg, endpoint: endpoint, client: client}, nil
}

// Normalize returns a phone number in E.164 form ("+919812345678"), dropping the spaces,
// dashes, dots and parentheses people write; EINVALID unless it is '+' and 8 to 15 digits.
func Normalize(phone string) (string, error) {
	var b strings.Builder
	for i, r := range strings.TrimSpace(phone) {
		switch {
		case r == '+' && i == 0, r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", ticketview.Errorf(ticketview.EINVALID, "sms: phone number %q: want +<country code><number>", phone)
		}
	}
	n := b.String()
	if !strings.HasPrefix(n, "+") || len(n) < 9 || len(n) > 16 || n[1] == '0' {
		return "", ticketview.Errorf(ticketview.EINVALID, "sms: phone number %q: want +<country code><number>", phone)
	}
	return n, nil
}

// SendSMS sends s. A number that is not one, an empty or overlong body, or a request the
// provider refuses (4xx other than 401, 403 and 429) is EINVALID: sending again would not
// help. Rejected credentials, rate limits, 5xx answers and network failures are
// EUNAVAILABLE.
func (c *Sender) SendSMS(ctx context.Context, s ticketview.SMS) error {
	to, err := Normalize(s.To)
	if err != nil {
		return err
	}
	if strings.TrimSpace(s.Body) == "" || len([]rune(s.Body)) > MaxBody {
		return ticketview.Errorf(ticketview.EINVALID, "sms: the body must be 1 to %d characters", MaxBody)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	form := url.Values{"To": {to}, "From": {c.cfg.From}, "Body": {s.Body}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return ticketview.Errorf(ticketview.EINVALID, "sms: %v", err)
	}
	req.SetBasicAuth(c.cfg.AccountSID, c.cfg.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if s.ID != "" {
		req.Header.Set("I-Twilio-Idempotency-Token", s.ID)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("sms: send: %w: %w", ticketview.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusTooManyRequests || code >= 500:
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "sms: the provider answered %d: %s", code, apiMessage(body))
	default:
		return ticketview.Errorf(ticketview.EINVALID, "sms: the provider refused the message to %s (%d): %s", to, code, apiMessage(body))
	}
}

// apiMessage reads a Twilio error ({"code": 21211, "message": "..."}), or the body's start.
func apiMessage(body []byte) string {
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		return fmt.Sprintf("%s (code %d)", e.Message, e.Code)
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
