// Package smtp sends the notification worker's email through an SMTP server (net/smtp):
// one connection per message, a MIME multipart/alternative body (text and HTML, quoted-
// printable), STARTTLS and AUTH PLAIN when configured.
package smtp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/ticketview/ticketview"
)

var _ ticketview.Mailer = (*Mailer)(nil)

// Config is where and as whom to send.
type Config struct {
	Addr     string // host:port of the SMTP server
	From     string // the sender: "TicketView <tickets@example.com>" or a plain address
	Username string // AUTH PLAIN when set
	Password string
	// StartTLS requires the server to offer STARTTLS and upgrades the connection before
	// authenticating and sending.
	StartTLS bool
	// Timeout bounds one message, from connecting to QUIT (default 30 s).
	Timeout time.Duration
	// TLSConfig is used for STARTTLS (default: verify the server's name, the Addr host).
	TLSConfig *tls.Config
	// Now is the clock for the Date header (default time.Now).
	Now func() time.Time
}

// Mailer sends email through one SMTP server. It is safe for concurrent use.
type Mailer struct {
	cfg  Config
	host string
	from *mail.Address
}

// New checks the configuration (EINVALID) and returns a Mailer.
func New(cfg Config) (*Mailer, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" {
		return nil, ticketview.Errorf(ticketview.EINVALID, "smtp: address %q: want host:port", cfg.Addr)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, ticketview.Errorf(ticketview.EINVALID, "smtp: sender %q: %v", cfg.From, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Mailer{cfg: cfg, host: host, from: from}, nil
}

// SendEmail sends e to e.To. A malformed recipient, or one the server refuses for good
// (5xx to RCPT), is EINVALID: sending again would not help. Every other failure (the
// server unreachable or answering 4xx, credentials refused, a timeout) is EUNAVAILABLE.
// The message's Message-ID is built from e.ID, so a resend carries the same one.
func (m *Mailer) SendEmail(ctx context.Context, e ticketview.Email) error {
	to, err := mail.ParseAddress(e.To)
	if err != nil {
		return ticketview.Errorf(ticketview.EINVALID, "smtp: recipient %q: %v", e.To, err)
	}
	msg, err := m.compose(to, e)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	return m.send(ctx, to.Address, msg)
}

// send runs one SMTP conversation. The connection is closed when ctx ends, which
// interrupts whatever it was doing.
func (m *Mailer) send(ctx context.Context, to string, msg []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.cfg.Addr)
	if err != nil {
		return unavailable("connect", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		conn.Close()
		return unavailable("greeting", err)
	}
	defer c.Close()
	if err := m.hello(c); err != nil {
		return err
	}
	if err := c.Mail(m.from.Address); err != nil {
		return unavailable("MAIL FROM", err)
	}
	if err := c.Rcpt(to); err != nil {
		if permanent(err) {
			return ticketview.Errorf(ticketview.EINVALID, "smtp: the server refused recipient %s: %v", to, err)
		}
		return unavailable("RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return unavailable("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return unavailable("DATA", err)
	}
	if err := w.Close(); err != nil {
		return unavailable("DATA", err)
	}
	c.Quit() // the server accepted the message: the goodbye does not matter
	return nil
}

// hello greets the server, upgrades to TLS and authenticates as configured.
func (m *Mailer) hello(c *smtp.Client) error {
	if err := c.Hello("localhost"); err != nil {
		return unavailable("EHLO", err)
	}
	if m.cfg.StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return ticketview.Errorf(ticketview.EUNAVAILABLE, "smtp: %s does not offer STARTTLS", m.cfg.Addr)
		}
		tc := m.cfg.TLSConfig
		if tc == nil {
			tc = &tls.Config{ServerName: m.host}
		}
		if err := c.StartTLS(tc); err != nil {
			return unavailable("STARTTLS", err)
		}
	}
	if m.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", m.cfg.Username, m.cfg.Password, m.host)); err != nil {
			return unavailable("AUTH", err)
		}
	}
	return nil
}

// permanent reports whether the server refused with a 5xx reply.
func permanent(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code >= 500 && te.Code < 600
}

func unavailable(step string, err error) error {
	return fmt.Errorf("smtp: %s: %w: %w", step, ticketview.ErrUnavailable, err)
}

// compose builds the message: headers, then a multipart/alternative body with the text
// and HTML versions (only the text when there is no HTML).
func (m *Mailer) compose(to *mail.Address, e ticketview.Email) ([]byte, error) {
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", m.from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", oneLine(e.Subject)))
	header("Date", m.cfg.Now().Format(time.RFC1123Z))
	header("Message-ID", MessageID(e.ID))
	header("MIME-Version", "1.0")
	if e.HTML == "" {
		header("Content-Type", `text/plain; charset="utf-8"`)
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQP(&b, e.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	mw := multipart.NewWriter(&b)
	header("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	b.WriteString("\r\n")
	for _, p := range []struct{ typ, body string }{{"text/plain", e.Text}, {"text/html", e.HTML}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.typ + `; charset="utf-8"`},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(w, p.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeQP writes s quoted-printable, with CRLF line ends.
func writeQP(w interface{ Write([]byte) (int, error) }, s string) error {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
	qw := quotedprintable.NewWriter(w)
	if _, err := qw.Write([]byte(s)); err != nil {
		return err
	}
	return qw.Close()
}

// oneLine folds a header value's line breaks and runs of spaces into single spaces, so
// that no text can add a header.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// MessageID is the Message-ID header of the notification with the key: "<key@ticketview>",
// with each character a dot-atom cannot hold (and '.') replaced by '_' (a random id
// for an empty key).
func MessageID(key string) string {
	if key == "" {
		var r [16]byte
		rand.Read(r[:])
		key = hex.EncodeToString(r[:])
	}
	b := []byte(key)
	for i, c := range b {
		if !atext(c) {
			b[i] = '_'
		}
	}
	return "<" + string(b) + "@ticketview>"
}

// atext reports whether c may appear in a dot-atom (RFC 5322).
func atext(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}
