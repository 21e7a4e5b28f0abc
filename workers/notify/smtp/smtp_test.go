package smtp_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/internal/testutil/smtptest"
	"github.com/ticketview/ticketview/workers/notify/smtp"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newMailer(t *testing.T, cfg smtp.Config) *smtp.Mailer {
	t.Helper()
	if cfg.From == "" {
		cfg.From = "TicketView <tickets@ticketview.test>"
	}
	m, err := smtp.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := ticketview.ErrorCode(err); err == nil || got != code {
		t.Fatalf("%s: %v (code %q), want code %q", what, err, got, code)
	}
}

// TestSendEmail: a multipart/alternative message with the headers, a non-ASCII subject
// encoded, both parts decoded intact, the Message-ID built from the key.
func TestSendEmail(t *testing.T) {
	srv := smtptest.New(t)
	at := time.Date(2030, 5, 17, 19, 30, 0, 0, time.UTC)
	m := newMailer(t, smtp.Config{Addr: srv.Addr(), Username: "api", Password: "secret", Now: func() time.Time { return at }})
	subject := "Your tickets for Über Fest — Mumbai"
	text := "Hello Asha,\n\nTicket code: TV1." + strings.Repeat("abcdefghij", 20) + ".sig\n.a line starting with a dot\n"
	html := "<p>Hello <b>Asha</b> ✓</p>"
	err := m.SendEmail(testCtx(t), ticketview.Email{To: "Asha Rao <asha@example.com>", Subject: subject, Text: text, HTML: html, ID: "abc123/email"})
	if err != nil {
		t.Fatalf("SendEmail: %v", err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if got.From != "tickets@ticketview.test" || len(got.To) != 1 || got.To[0] != "asha@example.com" || got.Auth != "api" {
		t.Fatalf("envelope from %q to %v auth %q", got.From, got.To, got.Auth)
	}
	if s := got.Subject(); s != subject {
		t.Fatalf("subject %q, want %q", s, subject)
	}
	if raw := got.Header.Get("Subject"); !strings.HasPrefix(raw, "=?utf-8?q?") {
		t.Fatalf("raw subject %q: want a Q-encoded word", raw)
	}
	for k, want := range map[string]string{
		"Message-Id":   "<abc123/email@ticketview>",
		"Date":         "Fri, 17 May 2030 19:30:00 +0000",
		"Mime-Version": "1.0",
	} {
		if v := got.Header.Get(k); v != want {
			t.Fatalf("header %s = %q, want %q", k, v, want)
		}
	}
	if to := got.Header.Get("To"); !strings.Contains(to, "asha@example.com") || !strings.Contains(to, "Asha Rao") {
		t.Fatalf("To %q", to)
	}
	if ct := got.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative;") {
		t.Fatalf("Content-Type %q", ct)
	}
	gotText, err := got.Part("text/plain")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.ReplaceAll(text, "\n", "\r\n"); gotText != want {
		t.Fatalf("text part %q, want %q", gotText, want)
	}
	gotHTML, err := got.Part("text/html")
	if err != nil || gotHTML != html {
		t.Fatalf("html part %q, %v; want %q", gotHTML, err, html)
	}
}

// TestHeaderInjection: line breaks in a subject cannot add headers.
func TestHeaderInjection(t *testing.T) {
	srv := smtptest.New(t)
	m := newMailer(t, smtp.Config{Addr: srv.Addr()})
	err := m.SendEmail(testCtx(t), ticketview.Email{To: "a@example.com", Subject: "Hi\r\nBcc: victim@example.com", Text: "x", ID: "k"})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()[0]
	if got.Header.Get("Bcc") != "" || got.Subject() != "Hi Bcc: victim@example.com" {
		t.Fatalf("subject %q, Bcc %q", got.Subject(), got.Header.Get("Bcc"))
	}
	if _, err := got.Part("text/plain"); err != nil { // no HTML: a plain text message
		t.Fatal(err)
	}
	_, err = smtp.New(smtp.Config{Addr: srv.Addr(), From: "x\r\nBcc: y"})
	wantCode(t, "New with a bad sender", err, ticketview.EINVALID)
}

// TestSendErrors: a transient refusal is EUNAVAILABLE; a bad or refused recipient is
// EINVALID; an unreachable server, a missing STARTTLS are EUNAVAILABLE.
func TestSendErrors(t *testing.T) {
	ctx := testCtx(t)
	srv := smtptest.New(t)
	m := newMailer(t, smtp.Config{Addr: srv.Addr()})
	e := ticketview.Email{To: "a@example.com", Subject: "s", Text: "t", ID: "k"}

	srv.FailNextData(1)
	wantCode(t, "451 to DATA", m.SendEmail(ctx, e), ticketview.EUNAVAILABLE)
	if err := m.SendEmail(ctx, e); err != nil {
		t.Fatalf("after the failure: %v", err)
	}

	srv.RefuseRecipient("gone@example.com")
	e.To = "gone@example.com"
	wantCode(t, "550 to RCPT", m.SendEmail(ctx, e), ticketview.EINVALID)
	for _, to := range []string{"", "not an address", "a@example.com\r\nRCPT TO:<b@example.com>"} {
		e.To = to
		wantCode(t, "recipient "+to, m.SendEmail(ctx, e), ticketview.EINVALID)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages accepted, want 1", n)
	}

	e.To = "a@example.com"
	tls := newMailer(t, smtp.Config{Addr: srv.Addr(), StartTLS: true})
	wantCode(t, "STARTTLS not offered", tls.SendEmail(ctx, e), ticketview.EUNAVAILABLE)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	down := newMailer(t, smtp.Config{Addr: addr, Timeout: 2 * time.Second})
	wantCode(t, "server down", down.SendEmail(ctx, e), ticketview.EUNAVAILABLE)

	_, err = smtp.New(smtp.Config{Addr: "no-port", From: "a@example.com"})
	wantCode(t, "New without a port", err, ticketview.EINVALID)
}

// TestSendTimeout: a server that never answers fails the send within the timeout.
func TestSendTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // silent: no greeting
		}
	}()
	m := newMailer(t, smtp.Config{Addr: ln.Addr().String(), Timeout: 200 * time.Millisecond})
	err = m.SendEmail(testCtx(t), ticketview.Email{To: "a@example.com", Subject: "s", Text: "t"})
	wantCode(t, "silent server", err, ticketview.EUNAVAILABLE)
}

func TestMessageID(t *testing.T) {
	for key, want := range map[string]string{
		"0af3/email":           "<0af3/email@ticketview>",
		"reminder/o-1/sms":     "<reminder/o-1/sms@ticketview>",
		"a b<c>@d.e":           "<a_b_c__d_e@ticketview>",
		"reminder/ord_9/email": "<reminder/ord_9/email@ticketview>",
	} {
		if got := smtp.MessageID(key); got != want {
			t.Errorf("MessageID(%q) = %q, want %q", key, got, want)
		}
	}
	if a, b := smtp.MessageID(""), smtp.MessageID(""); a == b || !strings.HasSuffix(a, "@ticketview>") {
		t.Errorf("random ids %q, %q", a, b)
	}
}
