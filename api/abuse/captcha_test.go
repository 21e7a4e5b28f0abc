package abuse_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api/abuse"
)

const testDifficulty = 10

// wrongNonce returns a nonce that does not solve the token at difficulty d.
func wrongNonce(t testing.TB, token string, d int) string {
	t.Helper()
	for i := range 1000 {
		n := "x" + strconv.Itoa(i)
		if abuse.LeadingZeroBits(token, n) < d {
			return n
		}
	}
	t.Fatal("no wrong nonce in 1000 tries")
	return ""
}

// nonceWithBits returns a nonce whose hash has exactly bits leading zero bits.
func nonceWithBits(t testing.TB, token string, bits int) string {
	t.Helper()
	for i := range 1 << 24 {
		n := strconv.Itoa(i)
		if abuse.LeadingZeroBits(token, n) == bits {
			return n
		}
	}
	t.Fatalf("no nonce with %d zero bits", bits)
	return ""
}

func TestProofOfWorkSolveVerify(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		c, _ := bk.open(t)
		now := time.Now()
		p := abuse.NewProofOfWork(secret, testDifficulty, time.Minute, c, func() time.Time { return now })
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		ch, err := p.NewChallenge(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if ch.Kind != abuse.KindProofOfWork || ch.Difficulty != testDifficulty || ch.SiteKey != "" ||
			ch.Token == "" || strings.Contains(ch.Token, ":") || !ch.ExpiresAt.Equal(now.Add(time.Minute).Truncate(time.Millisecond)) {
			t.Fatalf("challenge %+v", ch)
		}
		other, _ := p.NewChallenge(testCtx(t))
		if other.Token == ch.Token {
			t.Fatal("two challenges with the same token")
		}
		sol := abuse.SolveProofOfWork(ch)
		token, nonce, ok := strings.Cut(sol, ":")
		if !ok || token != ch.Token || abuse.LeadingZeroBits(token, nonce) < testDifficulty {
			t.Fatalf("solution %q does not solve %+v", sol, ch)
		}
		if err := p.Verify(testCtx(t), sol, "192.0.2.1"); err != nil {
			t.Fatalf("Verify(a right solution): %v", err)
		}
		// The JSON a client gets.
		b, _ := json.Marshal(ch)
		var back map[string]any
		if err := json.Unmarshal(b, &back); err != nil || back["kind"] != "pow" || back["token"] != ch.Token ||
			back["difficulty"] != float64(testDifficulty) || back["expires_at"] == nil || back["site_key"] != nil {
			t.Fatalf("challenge JSON %s", b)
		}
	})
}

func TestProofOfWorkWrongSolutions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		c, _ := bk.open(t)
		p := abuse.NewProofOfWork(secret, testDifficulty, time.Minute, c, nil)
		ch, err := p.NewChallenge(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		sol := abuse.SolveProofOfWork(ch)
		_, nonce, _ := strings.Cut(sol, ":")

		raw, err := base64.RawURLEncoding.DecodeString(ch.Token)
		if err != nil {
			t.Fatal(err)
		}
		tamper := func(i int, b byte) string {
			r := append([]byte(nil), raw...)
			r[i] ^= b
			return base64.RawURLEncoding.EncodeToString(r)
		}
		// A token with its difficulty byte (after version and the 16-byte id) set to 0.
		easy := append([]byte(nil), raw...)
		easy[17] = 0
		easyToken := base64.RawURLEncoding.EncodeToString(easy)

		foreign := abuse.NewProofOfWork([]byte("another-secret-of-sixteen-bytes"), testDifficulty, time.Minute, c, nil)
		fch, _ := foreign.NewChallenge(testCtx(t))

		for _, tc := range []struct{ name, solution string }{
			{"empty", ""},
			{"no nonce", ch.Token},
			{"empty nonce", ch.Token + ":"},
			{"empty token", ":" + nonce},
			{"wrong nonce", ch.Token + ":" + wrongNonce(t, ch.Token, testDifficulty)},
			{"nonce too long", ch.Token + ":" + strings.Repeat("1", 65)},
			{"extra colon", ch.Token + ":x:" + nonce},
			{"not base64", "!!!!:" + nonce},
			{"short token", ch.Token[:20] + ":" + nonce},
			{"long token", ch.Token + "AAAA:" + nonce},
			{"tampered id", tamper(3, 1) + ":" + nonce},
			{"tampered expiry", tamper(25, 0x40) + ":" + nonce},
			{"tampered mac", tamper(len(raw)-1, 1) + ":" + nonce},
			{"lowered difficulty", easyToken + ":0"},
			{"another secret", abuse.SolveProofOfWork(fch)},
			{"huge", strings.Repeat("a", 10000) + ":1"},
		} {
			err := p.Verify(testCtx(t), tc.solution, "")
			wantCode(t, tc.name, err, ticketview.ECAPTCHA)
		}
		// None of the failures spent the challenge.
		if err := p.Verify(testCtx(t), sol, ""); err != nil {
			t.Fatalf("the right solution after wrong ones: %v", err)
		}
	})
}

// TestProofOfWorkDifficulty: the signed difficulty is what counts, not what the client
// claims.
func TestProofOfWorkDifficulty(t *testing.T) {
	c := fakeCounter(newClock(time.Now()))
	const d = 12
	p := abuse.NewProofOfWork(secret, d, time.Minute, c, nil)
	ch, _ := p.NewChallenge(testCtx(t))
	// A nonce with d-1 zero bits is not enough.
	short := ch.Token + ":" + nonceWithBits(t, ch.Token, d-1)
	wantCode(t, "one bit short", p.Verify(testCtx(t), short, ""), ticketview.ECAPTCHA)
	// Solving a claimed lower difficulty is not enough either.
	easy := ch
	easy.Difficulty = 4
	sol := abuse.SolveProofOfWork(easy)
	if _, n, _ := strings.Cut(sol, ":"); abuse.LeadingZeroBits(ch.Token, n) < d { // else, by luck (1 in 256), a real solution
		wantCode(t, "solved at a lower difficulty", p.Verify(testCtx(t), sol, ""), ticketview.ECAPTCHA)
	}
	// Exactly d bits is enough.
	exact := ch.Token + ":" + nonceWithBits(t, ch.Token, d)
	if err := p.Verify(testCtx(t), exact, ""); err != nil {
		t.Fatalf("a nonce with exactly %d bits: %v", d, err)
	}
	// Defaults and limits.
	if ch, _ := abuse.NewProofOfWork(secret, 0, 0, c, nil).NewChallenge(testCtx(t)); ch.Difficulty != abuse.DefaultDifficulty ||
		time.Until(ch.ExpiresAt) > abuse.DefaultPoWTTL || time.Until(ch.ExpiresAt) < abuse.DefaultPoWTTL-time.Minute {
		t.Fatalf("defaults: %+v", ch)
	}
	if s := abuse.SolveProofOfWork(abuse.Challenge{Kind: abuse.KindProofOfWork, Token: "t", Difficulty: abuse.MaxDifficulty + 1}); s != "" {
		t.Fatalf("solved an impossible difficulty: %q", s)
	}
	if s := abuse.SolveProofOfWork(abuse.Challenge{Kind: abuse.KindTurnstile, SiteKey: "k"}); s != "" {
		t.Fatalf("solved a widget challenge: %q", s)
	}
	if s := abuse.SolveProofOfWork(abuse.Challenge{Kind: abuse.KindProofOfWork}); s != "" {
		t.Fatalf("solved a challenge without a token: %q", s)
	}
}

func TestProofOfWorkExpired(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		c, _ := bk.open(t)
		clk := newClock(time.Now())
		const ttl = time.Minute
		p := abuse.NewProofOfWork(secret, testDifficulty, ttl, c, clk.Now)
		early, _ := p.NewChallenge(testCtx(t))
		late, _ := p.NewChallenge(testCtx(t))
		clk.Add(ttl - time.Millisecond)
		if err := p.Verify(testCtx(t), abuse.SolveProofOfWork(early), ""); err != nil {
			t.Fatalf("1 ms before expiry: %v", err)
		}
		clk.Add(time.Millisecond)
		err := p.Verify(testCtx(t), abuse.SolveProofOfWork(late), "")
		wantCode(t, "at expiry", err, ticketview.ECAPTCHA)
		if !strings.Contains(err.Error(), "expired") {
			t.Fatalf("at expiry: %v, want it to say expired", err)
		}
	})
}

// TestProofOfWorkSingleUse: a solution is accepted once across verifiers sharing the
// spent counter (two gateways), even under concurrent attempts and with another nonce.
func TestProofOfWorkSingleUse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		a, b := bk.open(t)
		pa := abuse.NewProofOfWork(secret, testDifficulty, time.Minute, a, nil)
		pb := abuse.NewProofOfWork(secret, testDifficulty, time.Minute, b, nil)
		ch, _ := pa.NewChallenge(testCtx(t))
		sol := abuse.SolveProofOfWork(ch)
		if err := pa.Verify(testCtx(t), sol, ""); err != nil {
			t.Fatalf("first use: %v", err)
		}
		for i, p := range []*abuse.ProofOfWork{pb, pa} {
			err := p.Verify(testCtx(t), sol, "")
			wantCode(t, fmt.Sprintf("reuse %d", i+1), err, ticketview.ECAPTCHA)
			if !strings.Contains(err.Error(), "already used") {
				t.Fatalf("reuse: %v, want it to say already used", err)
			}
		}
		// Another nonce for the same token is the same challenge.
		token, _, _ := strings.Cut(sol, ":")
		var second string
		for i := 0; second == ""; i++ {
			if n := "y" + strconv.Itoa(i); abuse.LeadingZeroBits(token, n) >= testDifficulty {
				second = token + ":" + n
			}
		}
		wantCode(t, "another nonce", pb.Verify(testCtx(t), second, ""), ticketview.ECAPTCHA)

		// Concurrent attempts on both gateways: exactly one wins.
		ch, _ = pb.NewChallenge(testCtx(t))
		sol = abuse.SolveProofOfWork(ch)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := range 10 {
			wg.Go(func() {
				err := []*abuse.ProofOfWork{pa, pb}[i%2].Verify(testCtx(t), sol, "")
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					wins++
				} else if code := ticketview.ErrorCode(err); code != ticketview.ECAPTCHA {
					t.Errorf("concurrent Verify: %v", err)
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d concurrent verifications of one solution succeeded, want 1", wins)
		}
	})
}

func TestProofOfWorkMisconfigured(t *testing.T) {
	c := fakeCounter(newClock(time.Now()))
	ch, _ := abuse.NewProofOfWork(secret, testDifficulty, time.Minute, c, nil).NewChallenge(testCtx(t))
	sol := abuse.SolveProofOfWork(ch)
	for name, p := range map[string]*abuse.ProofOfWork{
		"short secret":    abuse.NewProofOfWork([]byte("short"), testDifficulty, time.Minute, c, nil),
		"no secret":       abuse.NewProofOfWork(nil, testDifficulty, time.Minute, c, nil),
		"no counter":      abuse.NewProofOfWork(secret, testDifficulty, time.Minute, nil, nil),
		"huge difficulty": abuse.NewProofOfWork(secret, abuse.MaxDifficulty+1, time.Minute, c, nil),
	} {
		wantCode(t, name+": Validate", p.Validate(), ticketview.EINTERNAL)
		_, err := p.NewChallenge(testCtx(t))
		wantCode(t, name+": NewChallenge", err, ticketview.EINTERNAL)
		wantCode(t, name+": Verify", p.Verify(testCtx(t), sol, ""), ticketview.EINTERNAL)
	}
}

func TestProofOfWorkCounterDown(t *testing.T) {
	t.Parallel()
	p := abuse.NewProofOfWork(secret, testDifficulty, time.Minute, downCounter(t), nil)
	ch, err := p.NewChallenge(testCtx(t))
	if err != nil {
		t.Fatalf("NewChallenge needs no counter: %v", err)
	}
	wantCode(t, "Verify with Redis down", p.Verify(testCtx(t), abuse.SolveProofOfWork(ch), ""), ticketview.EUNAVAILABLE)
}

// siteServer is a fake siteverify endpoint that records the requests it gets.
type siteServer struct {
	*httptest.Server
	mu     sync.Mutex
	forms  []url.Values
	method string
	ctype  string
	answer string
	status int
}

func newSiteServer(t *testing.T) *siteServer {
	s := &siteServer{answer: `{"success": true}`, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("siteverify request: %v", err)
		}
		s.mu.Lock()
		s.forms = append(s.forms, r.PostForm)
		s.method, s.ctype = r.Method, r.Header.Get("Content-Type")
		status, answer := s.status, s.answer
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, answer)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *siteServer) set(status int, answer string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.answer = status, answer
}

func (s *siteServer) last(t *testing.T) url.Values {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.forms) == 0 {
		t.Fatal("no siteverify request")
	}
	if s.method != http.MethodPost || s.ctype != "application/x-www-form-urlencoded" {
		t.Fatalf("siteverify request %s with Content-Type %q, want a POSTed form", s.method, s.ctype)
	}
	return s.forms[len(s.forms)-1]
}

func (s *siteServer) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.forms)
}

func TestSiteVerify(t *testing.T) {
	for kind, endpoint := range map[string]string{
		abuse.KindHCaptcha:  "https://api.hcaptcha.com/siteverify",
		abuse.KindReCAPTCHA: "https://www.google.com/recaptcha/api/siteverify",
		abuse.KindTurnstile: "https://challenges.cloudflare.com/turnstile/v0/siteverify",
	} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			srv := newSiteServer(t)
			v, err := abuse.NewSiteVerify(kind, "site-"+kind, "secret-"+kind, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			if got := abuse.SiteVerifyURL(v); got != endpoint {
				t.Fatalf("endpoint %s, want %s", got, endpoint)
			}
			v.SetURL(srv.URL)
			ch, err := v.NewChallenge(testCtx(t))
			if err != nil || ch != (abuse.Challenge{Kind: kind, SiteKey: "site-" + kind}) {
				t.Fatalf("NewChallenge: %+v, %v", ch, err)
			}

			// Success, and the fields sent.
			if err := v.Verify(testCtx(t), "response-token", "198.51.100.7"); err != nil {
				t.Fatalf("Verify(success): %v", err)
			}
			f := srv.last(t)
			if f.Get("secret") != "secret-"+kind || f.Get("response") != "response-token" || f.Get("remoteip") != "198.51.100.7" || len(f) != 3 {
				t.Fatalf("form sent: %v", f)
			}
			if err := v.Verify(testCtx(t), "response-token", ""); err != nil {
				t.Fatalf("Verify without an IP: %v", err)
			}
			if f := srv.last(t); f.Has("remoteip") || len(f) != 2 {
				t.Fatalf("form sent without an IP: %v", f)
			}

			// Failure: ECAPTCHA with the provider's codes.
			srv.set(http.StatusOK, `{"success": false, "error-codes": ["invalid-input-response", "timeout-or-duplicate"]}`)
			err = v.Verify(testCtx(t), "bad-token", "198.51.100.7")
			wantCode(t, "Verify(failure)", err, ticketview.ECAPTCHA)
			if !strings.Contains(err.Error(), "timeout-or-duplicate") {
				t.Fatalf("failure %v does not carry the error codes", err)
			}
			srv.set(http.StatusOK, `{"success": false}`)
			wantCode(t, "Verify(failure without codes)", v.Verify(testCtx(t), "bad-token", ""), ticketview.ECAPTCHA)

			// An empty or oversized response is refused without asking.
			n := srv.requests()
			wantCode(t, "empty response", v.Verify(testCtx(t), "", ""), ticketview.ECAPTCHA)
			wantCode(t, "oversized response", v.Verify(testCtx(t), strings.Repeat("r", 9000), ""), ticketview.ECAPTCHA)
			if srv.requests() != n {
				t.Fatal("an empty or oversized response was sent to the provider")
			}

			// The provider failing: EUNAVAILABLE.
			srv.set(http.StatusInternalServerError, `oops`)
			wantCode(t, "status 500", v.Verify(testCtx(t), "response-token", ""), ticketview.EUNAVAILABLE)
			srv.set(http.StatusOK, `<html>not json</html>`)
			wantCode(t, "not JSON", v.Verify(testCtx(t), "response-token", ""), ticketview.EUNAVAILABLE)
			srv.Close()
			wantCode(t, "server down", v.Verify(testCtx(t), "response-token", ""), ticketview.EUNAVAILABLE)
		})
	}
}

func TestSiteVerifyInvalid(t *testing.T) {
	for _, tc := range []struct{ kind, siteKey, secret string }{
		{"friendlycaptcha", "k", "s"},
		{"", "k", "s"},
		{abuse.KindProofOfWork, "k", "s"},
		{abuse.KindHCaptcha, "", "s"},
		{abuse.KindTurnstile, "k", ""},
	} {
		v, err := abuse.NewSiteVerify(tc.kind, tc.siteKey, tc.secret, nil)
		wantCode(t, fmt.Sprintf("NewSiteVerify%q", []string{tc.kind, tc.siteKey, tc.secret}), err, ticketview.EINVALID)
		if v != nil {
			t.Fatal("a verifier with an error")
		}
	}
	if v, err := abuse.NewSiteVerify(abuse.KindReCAPTCHA, "k", "s", nil); err != nil || v == nil {
		t.Fatalf("nil client: %v", err)
	}
}
