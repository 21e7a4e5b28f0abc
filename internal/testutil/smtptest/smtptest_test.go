package smtptest_test

import (
	"encoding/base64"
	"net/textproto"
	"testing"
	"time"

	"github.com/ticketview/ticketview/internal/testutil/smtptest"
)

// TestConversation: a raw session with AUTH PLAIN in two steps, RSET, NOOP, a refused
// DATA and a dot-stuffed message.
func TestConversation(t *testing.T) {
	srv := smtptest.New(t)
	c, err := textproto.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	step := func(cmd string, code int) {
		t.Helper()
		if cmd != "" {
			if err := c.PrintfLine("%s", cmd); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := c.ReadResponse(code); err != nil {
			t.Fatalf("%q: %v", cmd, err)
		}
	}
	step("", 220)
	step("EHLO test", 250)
	step("AUTH PLAIN", 334)
	step(base64.StdEncoding.EncodeToString([]byte("\x00user\x00pass")), 235)
	step("NOOP", 250)
	step("DATA", 503)
	step("MAIL FROM:<a@example.com>", 250)
	step("RSET", 250)
	step("RCPT TO:<b@example.com>", 503)
	srv.FailNextData(1)
	step("MAIL FROM:<a@example.com> BODY=8BITMIME", 250)
	step("RCPT TO:<b@example.com>", 250)
	step("DATA", 451)
	step("DATA", 354)
	step("Subject: hi\r\n\r\n..dotted\r\nline\r\n.", 250)
	step("QUIT", 221)

	msgs := srv.WaitFor(t, 1, 10*time.Second)
	m := msgs[0]
	if m.From != "a@example.com" || len(m.To) != 1 || m.To[0] != "b@example.com" || m.Auth != "user" {
		t.Fatalf("message %+v", m)
	}
	if m.Subject() != "hi" || string(m.Data) != "Subject: hi\r\n\r\n.dotted\r\nline\r\n" {
		t.Fatalf("data %q", m.Data)
	}
	if body, err := m.Part("text/plain"); err != nil || body != ".dotted\r\nline\r\n" {
		t.Fatalf("body %q, %v", body, err)
	}
	if srv.DataCommands() != 3 {
		t.Fatalf("%d DATA commands", srv.DataCommands())
	}
}
