package abuse

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ticketview/ticketview"
)

// Challenge kinds.
const (
	KindProofOfWork = "pow"
	KindHCaptcha    = "hcaptcha"
	KindReCAPTCHA   = "recaptcha"
	KindTurnstile   = "turnstile"
)

// Challenge is what a client must solve before a suspicious request is let through.
type Challenge struct {
	Kind       string    `json:"kind"`                 // "pow", "hcaptcha", "recaptcha", "turnstile"
	SiteKey    string    `json:"site_key,omitempty"`   // widget providers
	Token      string    `json:"token,omitempty"`      // pow: the signed challenge
	Difficulty int       `json:"difficulty,omitempty"` // pow: leading zero bits of sha256(token + ":" + nonce)
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
}

// Verifier issues challenges and checks their solutions.
type Verifier interface {
	// NewChallenge returns a fresh challenge.
	NewChallenge(ctx context.Context) (Challenge, error)
	// Verify checks a solution ("token:nonce" for pow; the widget's response token
	// otherwise). A wrong, malformed, expired or reused solution is a *ticketview.Error
	// with code ECAPTCHA; a verification service that cannot be reached is EUNAVAILABLE.
	Verify(ctx context.Context, solution, remoteIP string) error
}

var (
	_ Verifier = (*ProofOfWork)(nil)
	_ Verifier = (*SiteVerify)(nil)
)

// Proof-of-work limits.
const (
	// DefaultDifficulty is the difficulty of NewProofOfWork(..., 0, ...): about 260,000
	// hashes on average, a fraction of a second in a browser.
	DefaultDifficulty = 18
	// MaxDifficulty is the highest difficulty: beyond it a client could not solve a
	// challenge in reasonable time.
	MaxDifficulty = 32
	// DefaultPoWTTL is how long a challenge can be solved when NewProofOfWork gets no ttl.
	DefaultPoWTTL = 5 * time.Minute
	// MinSecretLen is the shortest HMAC secret NewProofOfWork accepts, in bytes.
	MinSecretLen = 16

	maxSolutionLen = 256
	maxNonceLen    = 64
	powVersion     = 1
	powIDLen       = 16
	powPayloadLen  = 1 + powIDLen + 1 + 8 // version, id, difficulty, expiry (unix ms)
	powMACLen      = 16
	powSpentPrefix = "abuse:pow:"
	// spentMargin keeps a spent mark past the challenge's expiry, for gateways whose
	// clocks are behind.
	spentMargin = time.Minute
)

// ProofOfWork is a Verifier that needs no third party: the client finds a nonce such
// that sha256(token + ":" + nonce) starts with Difficulty zero bits.
//
// Challenges are stateless: the token is base64url(payload || mac), with payload a
// version byte, a random 16-byte id, the difficulty and the expiry (unix ms), and mac
// its HMAC-SHA256 under the secret (truncated to 16 bytes). Any gateway with the same
// secret verifies any other's challenges; the difficulty checked is the signed one. A
// solved challenge is single-use across gateways: Verify marks its id spent in the
// RateCounter (key "abuse:pow:<id>") until shortly after it expires, and a second
// solution to it (any nonce) is refused.
type ProofOfWork struct {
	secret     []byte
	difficulty int
	ttl        time.Duration
	spent      ticketview.RateCounter
	now        func() time.Time
	err        error
}

// NewProofOfWork returns a proof-of-work verifier. difficulty 0 (or below) means
// DefaultDifficulty, ttl 0 (or below) DefaultPoWTTL, and now nil the real clock. spent
// records used solutions: share it (Redis) between gateways. A secret shorter than
// MinSecretLen, a nil spent or a difficulty above MaxDifficulty leave the verifier
// unusable: Validate reports it, and every call fails with EINTERNAL.
func NewProofOfWork(secret []byte, difficulty int, ttl time.Duration, spent ticketview.RateCounter, now func() time.Time) *ProofOfWork {
	p := &ProofOfWork{secret: bytes.Clone(secret), difficulty: difficulty, ttl: ttl, spent: spent, now: now}
	if p.difficulty <= 0 {
		p.difficulty = DefaultDifficulty
	}
	if p.ttl <= 0 {
		p.ttl = DefaultPoWTTL
	}
	if p.now == nil {
		p.now = time.Now
	}
	switch {
	case len(secret) < MinSecretLen:
		p.err = ticketview.Errorf(ticketview.EINTERNAL, "abuse: proof of work: secret must be at least %d bytes", MinSecretLen)
	case spent == nil:
		p.err = ticketview.Errorf(ticketview.EINTERNAL, "abuse: proof of work: no rate counter to mark solutions spent")
	case p.difficulty > MaxDifficulty:
		p.err = ticketview.Errorf(ticketview.EINTERNAL, "abuse: proof of work: difficulty %d above %d", p.difficulty, MaxDifficulty)
	}
	return p
}

// Validate reports a configuration error (nil when the verifier is usable), so that
// wiring code can fail at start-up.
func (p *ProofOfWork) Validate() error { return p.err }

// NewChallenge returns a fresh challenge, valid until now + ttl.
func (p *ProofOfWork) NewChallenge(ctx context.Context) (Challenge, error) {
	if p.err != nil {
		return Challenge{}, p.err
	}
	exp := p.now().Add(p.ttl).Truncate(time.Millisecond)
	payload := make([]byte, powPayloadLen)
	payload[0] = powVersion
	_, _ = rand.Read(payload[1 : 1+powIDLen]) // never fails (crypto/rand crashes instead)
	payload[1+powIDLen] = byte(p.difficulty)
	binary.BigEndian.PutUint64(payload[2+powIDLen:], uint64(exp.UnixMilli()))
	token := base64.RawURLEncoding.EncodeToString(append(payload, p.mac(payload)...))
	return Challenge{Kind: KindProofOfWork, Token: token, Difficulty: p.difficulty, ExpiresAt: exp}, nil
}

func (p *ProofOfWork) mac(payload []byte) []byte {
	h := hmac.New(sha256.New, p.secret)
	h.Write([]byte("ticketview-pow\x00"))
	h.Write(payload)
	return h.Sum(nil)[:powMACLen]
}

// Verify checks a "token:nonce" solution: a token this secret signed, a nonce of 1 to 64
// bytes whose hash has the token's difficulty, before the token's expiry, and not used
// before. Any failure is ECAPTCHA; the spent counter's failure is its own error
// (EUNAVAILABLE when Redis is down). remoteIP is not used.
func (p *ProofOfWork) Verify(ctx context.Context, solution, _ string) error {
	if p.err != nil {
		return p.err
	}
	token, nonce, ok := splitSolution(solution)
	if !ok {
		return ticketview.Errorf(ticketview.ECAPTCHA, "proof of work: malformed solution: want token:nonce")
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != powPayloadLen+powMACLen {
		return ticketview.Errorf(ticketview.ECAPTCHA, "proof of work: malformed token")
	}
	payload, mac := raw[:powPayloadLen], raw[powPayloadLen:]
	if !hmac.Equal(mac, p.mac(payload)) || payload[0] != powVersion {
		return ticketview.Errorf(ticketview.ECAPTCHA, "proof of work: token not issued here")
	}
	difficulty := int(payload[1+powIDLen])
	if LeadingZeroBits(token, nonce) < difficulty {
		return ticketview.Errorf(ticketview.ECAPTCHA, "proof of work: the nonce does not solve the challenge")
	}
	exp := time.UnixMilli(int64(binary.BigEndian.Uint64(payload[2+powIDLen:])))
	left := exp.Sub(p.now())
	if left <= 0 {
		return ticketview.Errorf(ticketview.ECAPTCHA, "proof of work: challenge expired")
	}
	id := hex.EncodeToString(payload[1 : 1+powIDLen])
	n, _, err := p.spent.Incr(ctx, powSpentPrefix+id, 1, left+spentMargin)
	if err != nil {
		return err
	}
	if n > 1 {
		return ticketview.Errorf(ticketview.ECAPTCHA, "proof of work: challenge already used")
	}
	return nil
}

// splitSolution splits "token:nonce" at its last colon. Tokens never hold one.
func splitSolution(s string) (token, nonce string, ok bool) {
	if len(s) > maxSolutionLen {
		return "", "", false
	}
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || len(s)-i-1 < 1 || len(s)-i-1 > maxNonceLen {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// LeadingZeroBits returns the number of leading zero bits of sha256(token + ":" + nonce),
// the work a proof-of-work solution proves.
func LeadingZeroBits(token, nonce string) int {
	h := sha256.New()
	io.WriteString(h, token)
	io.WriteString(h, ":")
	io.WriteString(h, nonce)
	return zeroBits(h.Sum(make([]byte, 0, sha256.Size)))
}

func zeroBits(sum []byte) int {
	n := 0
	for _, b := range sum {
		if b != 0 {
			return n + bits.LeadingZeros8(b)
		}
		n += 8
	}
	return n
}

// SolveProofOfWork finds a solution ("token:nonce", the nonce in decimal) to a
// proof-of-work challenge by brute force, as a client does: about 2^Difficulty hashes.
// It returns "" for a challenge that is not a proof of work, has no token, or whose
// difficulty is above MaxDifficulty.
func SolveProofOfWork(c Challenge) (solution string) {
	if c.Kind != KindProofOfWork || c.Token == "" || c.Difficulty > MaxDifficulty {
		return ""
	}
	prefix := []byte(c.Token + ":")
	buf := make([]byte, 0, len(prefix)+20)
	var sum [sha256.Size]byte
	for nonce := uint64(0); ; nonce++ {
		buf = strconv.AppendUint(append(buf[:0], prefix...), nonce, 10)
		sum = sha256.Sum256(buf)
		if zeroBits(sum[:]) >= c.Difficulty {
			return string(buf)
		}
	}
}

// Siteverify endpoints of the widget providers.
const (
	HCaptchaVerifyURL  = "https://api.hcaptcha.com/siteverify"
	ReCAPTCHAVerifyURL = "https://www.google.com/recaptcha/api/siteverify"
	TurnstileVerifyURL = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
)

// maxResponseLen bounds a widget's response token and a siteverify answer, in bytes.
const (
	maxResponseLen = 8 << 10
	maxAnswerLen   = 64 << 10
)

// SiteVerify is a Verifier for a widget provider (hCaptcha, reCAPTCHA v2 or Cloudflare
// Turnstile): the browser shows the widget for SiteKey, and Verify posts its response
// token with the secret to the provider's siteverify endpoint. The providers themselves
// refuse a reused or expired response token.
type SiteVerify struct {
	kind, siteKey, secret string
	url                   string
	client                *http.Client
}

// NewSiteVerify returns a verifier of kind KindHCaptcha, KindReCAPTCHA or KindTurnstile.
// client nil means a client with a 10-second timeout. An unknown kind, or an empty site
// key or secret, is EINVALID.
func NewSiteVerify(kind, siteKey, secret string, client *http.Client) (*SiteVerify, error) {
	var u string
	switch kind {
	case KindHCaptcha:
		u = HCaptchaVerifyURL
	case KindReCAPTCHA:
		u = ReCAPTCHAVerifyURL
	case KindTurnstile:
		u = TurnstileVerifyURL
	default:
		return nil, ticketview.Errorf(ticketview.EINVALID, "captcha kind %q: want %s, %s or %s", kind, KindHCaptcha, KindReCAPTCHA, KindTurnstile)
	}
	if siteKey == "" || secret == "" {
		return nil, ticketview.Errorf(ticketview.EINVALID, "%s: site key and secret are required", kind)
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &SiteVerify{kind: kind, siteKey: siteKey, secret: secret, url: u, client: client}, nil
}

// SetURL replaces the siteverify endpoint (tests point it at an httptest server). Call
// it before the verifier is used.
func (v *SiteVerify) SetURL(u string) { v.url = u }

// NewChallenge returns the widget to show: Kind and SiteKey.
func (v *SiteVerify) NewChallenge(context.Context) (Challenge, error) {
	return Challenge{Kind: v.kind, SiteKey: v.siteKey}, nil
}

// siteVerifyAnswer is the JSON every provider answers with.
type siteVerifyAnswer struct {
	Success    bool     `json:"success"`
	ErrorCodes []string `json:"error-codes"`
}

// Verify posts the form secret, response (the solution) and remoteip (when not empty)
// to the siteverify endpoint. An empty or oversized solution, or an answer with success
// false, is ECAPTCHA (with the provider's error codes in the message); an endpoint that
// cannot be reached, answers with a status other than 200 or with something other than
// the expected JSON is EUNAVAILABLE.
func (v *SiteVerify) Verify(ctx context.Context, solution, remoteIP string) error {
	if solution == "" || len(solution) > maxResponseLen {
		return ticketview.Errorf(ticketview.ECAPTCHA, "%s: missing or oversized response token", v.kind)
	}
	form := url.Values{"secret": {v.secret}, "response": {solution}}
	if remoteIP != "" {
		form.Set("remoteip", remoteIP)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.url, strings.NewReader(form.Encode()))
	if err != nil {
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "%s siteverify: %v", v.kind, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "%s siteverify unreachable: %v", v.kind, redact(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "%s siteverify: status %d", v.kind, resp.StatusCode)
	}
	var a siteVerifyAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswerLen)).Decode(&a); err != nil {
		return ticketview.Errorf(ticketview.EUNAVAILABLE, "%s siteverify: bad answer: %v", v.kind, err)
	}
	if !a.Success {
		codes := "none given"
		if len(a.ErrorCodes) > 0 {
			codes = strings.Join(a.ErrorCodes, ", ")
		}
		return ticketview.Errorf(ticketview.ECAPTCHA, "%s: the challenge was not solved (%s)", v.kind, codes)
	}
	return nil
}

// redact drops the URL from a client error (it is the endpoint, but keep messages short
// and free of anything a proxy might have added to it).
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
