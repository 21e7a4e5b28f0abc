package sms_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/workers/notify/sms"
)

// request is what the fake provider received.
type request struct {
	Path, User, Pass, Idem string
	To, From, Body         string
}

// provider is a Twilio-style endpoint answering status (201 by default).
type provider struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []request
	status int
	body   string
}

func newProvider(t *testing.T) *provider {
	p := &provider{status: http.StatusCreated}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.ParseForm() != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.reqs = append(p.reqs, request{Path: r.URL.Path, User: user, Pass: pass, Idem: r.Header.Get("I-Twilio-Idempotency-Token"),
			To: r.PostForm.Get("To"), From: r.PostForm.Get("From"), Body: r.PostForm.Get("Body")})
		status, body := p.status, p.body
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *provider) answer(status int, body string) {
	p.mu.Lock()
	p.status, p.body = status, body
	p.mu.Unlock()
}

func (p *provider) requests() []request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]request(nil), p.reqs...)
}

func newSender(t *testing.T, p *provider) *sms.Sender {
	t.Helper()
	s, err := sms.New(sms.Config{BaseURL: p.URL, AccountSID: "AC123", AuthToken: "tok", From: "+15005550006", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := ticketview.ErrorCode(err); err == nil || got != code {
		t.Fatalf("%s: %v (code %q), want code %q", what, err, got, code)
	}
}

func TestSendSMS(t *testing.T) {
	p := newProvider(t)
	s := newSender(t, p)
	err := s.SendSMS(context.Background(), ticketview.SMS{To: "+91 (98) 1234-5678", Body: "Your tickets: https://t.example/orders/o1", ID: "m1/sms"})
	if err != nil {
		t.Fatalf("SendSMS: %v", err)
	}
	got := p.requests()
	want := request{Path: "/2010-04-01/Accounts/AC123/Messages.json", User: "AC123", Pass: "tok", Idem: "m1/sms",
		To: "+919812345678", From: "+15005550006", Body: "Your tickets: https://t.example/orders/o1"}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("requests %+v, want [%+v]", got, want)
	}
}

// TestSendSMSErrors: refusals for good are EINVALID, the rest EUNAVAILABLE; a malformed
// number never reaches the provider.
func TestSendSMSErrors(t *testing.T) {
	ctx := context.Background()
	p := newProvider(t)
	s := newSender(t, p)
	msg := ticketview.SMS{To: "+919812345678", Body: "hi", ID: "k"}
	for _, c := range []struct {
		status int
		code   string
	}{
		{400, ticketview.EINVALID}, {404, ticketview.EINVALID}, {422, ticketview.EINVALID},
		{401, ticketview.EUNAVAILABLE}, {403, ticketview.EUNAVAILABLE}, {429, ticketview.EUNAVAILABLE},
		{500, ticketview.EUNAVAILABLE}, {503, ticketview.EUNAVAILABLE},
	} {
		p.answer(c.status, `{"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400}`)
		err := s.SendSMS(ctx, msg)
		wantCode(t, http.StatusText(c.status), err, c.code)
		if !strings.Contains(err.Error(), "21211") {
			t.Fatalf("%d: error %q does not say the provider's message", c.status, err)
		}
	}
	n := len(p.requests())
	for _, bad := range []ticketview.SMS{
		{To: "", Body: "hi"}, {To: "98123 45678", Body: "hi"}, {To: "+91abc", Body: "hi"}, {To: "+12", Body: "hi"},
		{To: "+919812345678", Body: "  "}, {To: "+919812345678", Body: strings.Repeat("x", sms.MaxBody+1)},
	} {
		wantCode(t, "SendSMS("+bad.To+")", s.SendSMS(ctx, bad), ticketview.EINVALID)
	}
	if got := len(p.requests()); got != n {
		t.Fatalf("%d requests for malformed messages", got-n)
	}

	url := p.URL
	p.Close()
	down, err := sms.New(sms.Config{BaseURL: url, AccountSID: "AC1", AuthToken: "t", From: "+15005550006"})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "provider down", down.SendSMS(ctx, msg), ticketview.EUNAVAILABLE)
	for _, cfg := range []sms.Config{
		{BaseURL: "ftp://x", AccountSID: "a", AuthToken: "t", From: "+1"},
		{AuthToken: "t", From: "+1"},
	} {
		_, err := sms.New(cfg)
		wantCode(t, "New", err, ticketview.EINVALID)
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"+91 (22) 555-0100": "+91225550100",
		" +1.415.555.2671 ": "+14155552671",
		"+442071838750":     "+442071838750",
	} {
		if got, err := sms.Normalize(in); err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0044 20", "+0123456789", "+1234567", "+1234567890123456", "+1 555 CALL NOW", "1+23456789"} {
		if _, err := sms.Normalize(in); ticketview.ErrorCode(err) != ticketview.EINVALID {
			t.Errorf("Normalize(%q): %v, want EINVALID", in, err)
		}
	}
}
