// Package smtptest is a small SMTP server for tests: it listens on 127.0.0.1, speaks
// enough of the protocol for net/smtp (EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA, RSET,
// NOOP, QUIT), records every message it accepts and can be told to refuse the next DATA
// commands with a transient error (451), to test retries.
package smtptest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is a message the server accepted.
type Message struct {
	From   string      // the envelope sender (MAIL FROM)
	To     []string    // the envelope recipients (RCPT TO)
	Data   []byte      // the message as sent, dot-unstuffed, lines ending in CRLF
	Header mail.Header // its parsed header (nil if it did not parse)
	Auth   string      // the user name of AUTH PLAIN, if the client authenticated
}

// Subject is the message's Subject header, with encoded words (RFC 2047) decoded.
func (m Message) Subject() string {
	s := m.Header.Get("Subject")
	if d, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// Part returns the decoded body of the message's first part of the media type
// ("text/plain", "text/html"), looking into multipart bodies; an error when there is none.
func (m Message) Part(mediaType string) (string, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return "", err
	}
	return findPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, mediaType)
}

func findPart(contentType, encoding string, body io.Reader, want string) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		mt, err = "text/plain", nil
	}
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(mt, "multipart/") {
		r := multipart.NewReader(body, params["boundary"])
		for {
			p, err := r.NextRawPart()
			if err == io.EOF {
				return "", fmt.Errorf("no %s part", want)
			} else if err != nil {
				return "", err
			}
			s, err := findPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, want)
			if err == nil {
				return s, nil
			}
		}
	}
	if mt != want {
		return "", fmt.Errorf("no %s part", want)
	}
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	return string(b), err
}

// Server is a running SMTP server.
type Server struct {
	ln net.Listener

	mu       sync.Mutex
	msgs     []Message
	failData int
	dataCmds int
	refused  map[string]bool // recipients answered 550
	conns    map[net.Conn]bool
	closed   bool
	changed  chan struct{} // closed and replaced when a message arrives

	wg sync.WaitGroup
}

// New starts a server on 127.0.0.1:0; it is closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s := &Server{ln: ln, conns: map[net.Conn]bool{}, refused: map[string]bool{}, changed: make(chan struct{})}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.Close)
	return s
}

// Addr is the server's address, host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// FailNextData makes the server answer the next n DATA commands with 451 (a transient
// failure: the client should try again later).
func (s *Server) FailNextData(n int) {
	s.mu.Lock()
	s.failData = n
	s.mu.Unlock()
}

// RefuseRecipient makes the server answer RCPT TO the address with 550 (no such
// mailbox: a permanent failure).
func (s *Server) RefuseRecipient(addr string) {
	s.mu.Lock()
	s.refused[strings.ToLower(addr)] = true
	s.mu.Unlock()
}

func (s *Server) refuses(addr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused[strings.ToLower(addr)]
}

// DataCommands is the number of DATA commands received, refused ones included.
func (s *Server) DataCommands() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dataCmds
}

// Messages returns the messages accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// WaitFor waits until the server has accepted at least n messages and returns them,
// failing the test if that has not happened within timeout.
func (s *Server) WaitFor(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		msgs, changed := append([]Message(nil), s.msgs...), s.changed
		s.mu.Unlock()
		if len(msgs) >= n {
			return msgs
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("smtptest: %d messages after %s, want %d", len(msgs), timeout, n)
		}
	}
}

// Close stops the server and closes its connections.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.session(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// session is one client's conversation.
type session struct {
	s    *Server
	r    *bufio.Reader
	w    *bufio.Writer
	from string
	to   []string
	auth string
	mail bool // MAIL given
}

func (s *Server) session(c net.Conn) {
	ss := &session{s: s, r: bufio.NewReader(c), w: bufio.NewWriter(c)}
	ss.reply("220 smtptest ESMTP ready")
	for {
		line, err := ss.readLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		if !ss.command(strings.ToUpper(verb), arg) {
			return
		}
	}
}

func (ss *session) readLine() (string, error) {
	line, err := ss.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func (ss *session) reply(lines ...string) {
	for _, l := range lines {
		ss.w.WriteString(l + "\r\n")
	}
	ss.w.Flush()
}

// command answers one command; false ends the session.
func (ss *session) command(verb, arg string) bool {
	switch verb {
	case "EHLO":
		ss.reset()
		ss.reply("250-smtptest greets "+arg, "250-8BITMIME", "250-AUTH PLAIN", "250 SIZE 10485760")
	case "HELO":
		ss.reset()
		ss.reply("250 smtptest")
	case "AUTH":
		return ss.authPlain(arg)
	case "MAIL":
		addr, ok := pathArg(arg, "FROM:")
		if !ok {
			ss.reply("501 syntax: MAIL FROM:<address>")
			break
		}
		ss.reset()
		ss.from, ss.mail = addr, true
		ss.reply("250 OK")
	case "RCPT":
		addr, ok := pathArg(arg, "TO:")
		switch {
		case !ss.mail:
			ss.reply("503 MAIL first")
		case !ok || addr == "":
			ss.reply("501 syntax: RCPT TO:<address>")
		case ss.s.refuses(addr):
			ss.reply("550 5.1.1 no such mailbox")
		default:
			ss.to = append(ss.to, addr)
			ss.reply("250 OK")
		}
	case "DATA":
		return ss.data()
	case "RSET":
		ss.reset()
		ss.reply("250 OK")
	case "NOOP":
		ss.reply("250 OK")
	case "QUIT":
		ss.reply("221 bye")
		return false
	default:
		ss.reply("502 command not implemented")
	}
	return true
}

func (ss *session) reset() { ss.from, ss.to, ss.mail = "", nil, false }

// pathArg reads "FROM:<addr> params" (prefix FROM: or TO:).
func pathArg(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", false
	}
	return rest[1:end], true
}

// authPlain takes AUTH PLAIN with or without an initial response; any password passes.
func (ss *session) authPlain(arg string) bool {
	mech, resp, _ := strings.Cut(arg, " ")
	if !strings.EqualFold(mech, "PLAIN") {
		ss.reply("504 only PLAIN")
		return true
	}
	if resp == "" {
		ss.reply("334 ")
		line, err := ss.readLine()
		if err != nil {
			return false
		}
		resp = line
	}
	raw, err := base64.StdEncoding.DecodeString(resp)
	parts := strings.Split(string(raw), "\x00")
	if err != nil || len(parts) != 3 {
		ss.reply("501 malformed AUTH PLAIN")
		return true
	}
	ss.auth = parts[1]
	ss.reply("235 authenticated")
	return true
}

// data reads a message after DATA, or refuses it with 451 when told to.
func (ss *session) data() bool {
	s := ss.s
	s.mu.Lock()
	s.dataCmds++
	fail := s.failData > 0
	if fail {
		s.failData--
	}
	s.mu.Unlock()
	switch {
	case !ss.mail || len(ss.to) == 0:
		ss.reply("503 MAIL and RCPT first")
		return true
	case fail:
		ss.reply("451 4.3.0 temporary failure, try again later")
		return true
	}
	ss.reply("354 end with <CRLF>.<CRLF>")
	var buf bytes.Buffer
	for {
		line, err := ss.r.ReadString('\n')
		if err != nil {
			return false
		}
		trimmed := strings.TrimRight(line, "\r\n")
		if trimmed == "." {
			break
		}
		trimmed = strings.TrimPrefix(trimmed, ".") // dot-unstuffing
		buf.WriteString(trimmed + "\r\n")
	}
	m := Message{From: ss.from, To: ss.to, Data: buf.Bytes(), Auth: ss.auth}
	if msg, err := mail.ReadMessage(bytes.NewReader(m.Data)); err == nil {
		m.Header = msg.Header
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	ss.reset()
	ss.reply("250 OK queued")
	return true
}
