package abuse_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api/abuse"
)

// newGuards returns two guards over one counter store (two gateways), with proof-of-work
// verifiers sharing the secret and the spent counter, and a fake clock for their passes.
func newGuards(t *testing.T, bk backend, th abuse.Thresholds) (a, b *abuse.Guard, clk *clock) {
	t.Helper()
	ca, cb := bk.open(t)
	clk = newClock(time.Now())
	a = abuse.NewGuard(ca, "guard:", abuse.NewProofOfWork(secret, 8, time.Minute, ca, nil), th)
	b = abuse.NewGuard(cb, "guard:", abuse.NewProofOfWork(secret, 8, time.Minute, cb, nil), th)
	abuse.SetGuardClock(a, clk.Now)
	abuse.SetGuardClock(b, clk.Now)
	return a, b, clk
}

func check(t *testing.T, g *abuse.Guard, sig abuse.Signal, subjects []string, solution string) error {
	t.Helper()
	return g.Check(testCtx(t), sig, subjects, solution, "192.0.2.1")
}

func wantPass(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v, want no challenge", what, err)
	}
}

func TestGuardHoldBurst(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		g, _, _ := newGuards(t, bk, abuse.Thresholds{Holds: 5})
		subj := []string{"user:1", "ip:192.0.2.1"}
		for i := range 5 {
			wantPass(t, fmt.Sprintf("hold %d of 5", i+1), check(t, g, abuse.SignalHold, subj, ""))
		}
		first := wantChallenge(t, "hold 6", check(t, g, abuse.SignalHold, subj, ""))
		second := wantChallenge(t, "hold 7", check(t, g, abuse.SignalHold, subj, ""))
		if first.Challenge.Token == second.Challenge.Token {
			t.Fatal("the same challenge twice: want a fresh one each time")
		}
		// Another user on another IP is not affected.
		wantPass(t, "another user", check(t, g, abuse.SignalHold, []string{"user:2", "ip:192.0.2.2"}, ""))
		// A subject named twice counts once.
		for i := range 5 {
			wantPass(t, fmt.Sprintf("repeated subject, hold %d", i+1), check(t, g, abuse.SignalHold, []string{"user:3", "user:3"}, ""))
		}
	})
}

func TestGuardSolvedPassesForPassWindow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		const pass = time.Minute
		g, _, clk := newGuards(t, bk, abuse.Thresholds{Holds: 2, Pass: pass})
		subj := []string{"user:1", "ip:192.0.2.1"}
		for range 2 {
			wantPass(t, "below threshold", check(t, g, abuse.SignalHold, subj, ""))
		}
		ce := wantChallenge(t, "burst", check(t, g, abuse.SignalHold, subj, ""))
		solvedAt := clk.Now()
		wantPass(t, "solved", check(t, g, abuse.SignalHold, subj, abuse.SolveProofOfWork(ce.Challenge)))
		// Still far over the threshold, but cleared for the pass window.
		for _, at := range []time.Duration{0, time.Second, pass / 2, pass - time.Millisecond} {
			clk.Set(solvedAt.Add(at))
			wantPass(t, fmt.Sprintf("%s after solving", at), check(t, g, abuse.SignalHold, subj, ""))
		}
		// Every subject got the pass: the IP with another (quiet) user is cleared too.
		wantPass(t, "the IP with another user", check(t, g, abuse.SignalHold, []string{"user:9", "ip:192.0.2.1"}, ""))
		// Passes last at most 1.5 times Pass.
		clk.Set(solvedAt.Add(pass * 3 / 2))
		wantChallenge(t, "after the pass", check(t, g, abuse.SignalHold, subj, ""))
	})
}

func TestGuardWrongSolution(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		g, g2, _ := newGuards(t, bk, abuse.Thresholds{Holds: 1})
		subj := []string{"user:1"}
		wantPass(t, "first hold", check(t, g, abuse.SignalHold, subj, ""))
		ce := wantChallenge(t, "second hold", check(t, g, abuse.SignalHold, subj, ""))
		for _, sol := range []string{"garbage", "x:1", ce.Challenge.Token + ":" + wrongNonce(t, ce.Challenge.Token, 8)} {
			again := wantChallenge(t, "wrong solution "+sol, check(t, g, abuse.SignalHold, subj, sol))
			if again.Challenge.Token == ce.Challenge.Token {
				t.Fatalf("wrong solution %q: the old challenge again, want a fresh one", sol)
			}
			if !strings.Contains(again.Err.Message, "new challenge") {
				t.Fatalf("wrong solution: message %q", again.Err.Message)
			}
		}
		// The right solution still works, once: reused on the other gateway for another
		// suspicious subject, it is refused.
		sol := abuse.SolveProofOfWork(ce.Challenge)
		wantPass(t, "right solution", check(t, g, abuse.SignalHold, subj, sol))
		wantPass(t, "user:2 hold 1", check(t, g2, abuse.SignalHold, []string{"user:2"}, ""))
		wantChallenge(t, "reused solution", check(t, g2, abuse.SignalHold, []string{"user:2"}, sol))
	})
}

func TestGuardConflicts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		g, _, _ := newGuards(t, bk, abuse.Thresholds{Holds: 100, Conflicts: 3})
		subj := []string{"user:1", "ip:192.0.2.1"}
		for i := range 3 {
			wantPass(t, fmt.Sprintf("hold %d", i+1), check(t, g, abuse.SignalHold, subj, ""))
			if err := g.Record(testCtx(t), abuse.SignalConflict, subj...); err != nil {
				t.Fatal(err)
			}
		}
		wantPass(t, "hold after 3 conflicts", check(t, g, abuse.SignalHold, subj, ""))
		if err := g.Record(testCtx(t), abuse.SignalConflict, "user:1"); err != nil {
			t.Fatal(err)
		}
		wantChallenge(t, "hold after 4 conflicts", check(t, g, abuse.SignalHold, subj, ""))
		// Only user:1 had a 4th conflict: the IP with another user is fine.
		wantPass(t, "another user on the IP", check(t, g, abuse.SignalHold, []string{"user:2", "ip:192.0.2.1"}, ""))
		// Check with the conflict signal counts and judges conflicts itself.
		for i := range 3 {
			wantPass(t, fmt.Sprintf("conflict check %d", i+1), check(t, g, abuse.SignalConflict, []string{"user:5"}, ""))
		}
		wantChallenge(t, "conflict check 4", check(t, g, abuse.SignalConflict, []string{"user:5"}, ""))
		// Conflicts do not count as holds, and signups play no part in holds.
		for range 10 {
			if err := g.Record(testCtx(t), abuse.SignalSignup, "user:6"); err != nil {
				t.Fatal(err)
			}
		}
		wantPass(t, "hold after many signups", check(t, g, abuse.SignalHold, []string{"user:6"}, ""))
	})
}

func TestGuardSignupsPerIP(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		g, g2, _ := newGuards(t, bk, abuse.Thresholds{Signups: 2, Holds: 1})
		ip := []string{"ip:203.0.113.5"}
		wantPass(t, "signup 1", check(t, g, abuse.SignalSignup, ip, ""))
		wantPass(t, "signup 2", check(t, g2, abuse.SignalSignup, ip, ""))
		ce := wantChallenge(t, "signup 3", check(t, g, abuse.SignalSignup, ip, ""))
		wantPass(t, "another IP", check(t, g, abuse.SignalSignup, []string{"ip:203.0.113.6"}, ""))
		wantPass(t, "signup 4 solved", check(t, g2, abuse.SignalSignup, ip, abuse.SolveProofOfWork(ce.Challenge)))
		wantPass(t, "signup 5 within the pass", check(t, g, abuse.SignalSignup, ip, ""))
		// Signups do not count as holds: an IP's first hold is fine after many signups.
		for range 3 {
			if err := g.Record(testCtx(t), abuse.SignalSignup, "ip:203.0.113.7"); err != nil {
				t.Fatal(err)
			}
		}
		wantPass(t, "a hold from the IP", check(t, g, abuse.SignalHold, []string{"ip:203.0.113.7"}, ""))
		wantChallenge(t, "a signup from the IP", check(t, g, abuse.SignalSignup, []string{"ip:203.0.113.7"}, ""))
	})
}

// TestGuardTwoGatewaysAreOne: holds split across two guards add up, and a pass granted
// by one is honoured by the other.
func TestGuardTwoGatewaysAreOne(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backend) {
		a, b, _ := newGuards(t, bk, abuse.Thresholds{Holds: 4})
		subj := []string{"user:1"}
		for i := range 4 {
			wantPass(t, fmt.Sprintf("hold %d", i+1), check(t, []*abuse.Guard{a, b}[i%2], abuse.SignalHold, subj, ""))
		}
		ce := wantChallenge(t, "hold 5 on a", check(t, a, abuse.SignalHold, subj, ""))
		wantChallenge(t, "hold 6 on b", check(t, b, abuse.SignalHold, subj, ""))
		wantPass(t, "solved on b", check(t, b, abuse.SignalHold, subj, abuse.SolveProofOfWork(ce.Challenge)))
		wantPass(t, "a honours b's pass", check(t, a, abuse.SignalHold, subj, ""))
	})
}

func TestGuardDefaults(t *testing.T) {
	g := abuse.NewGuard(fakeCounter(newClock(time.Now())), "", nil, abuse.Thresholds{Holds: -1, Window: time.Second})
	want := abuse.Thresholds{Holds: 20, Conflicts: 10, Signups: 5, Window: time.Second, SignupWindow: time.Hour, Pass: 10 * time.Minute}
	if got := g.Thresholds(); got != want {
		t.Fatalf("thresholds %+v, want %+v", got, want)
	}
	subj := []string{"ip:1"}
	for i := range 20 {
		wantPass(t, fmt.Sprintf("hold %d", i+1), check(t, g, abuse.SignalHold, subj, ""))
	}
	// The 21st hold needs a challenge, and there is no verifier to make one.
	wantCode(t, "no verifier", check(t, g, abuse.SignalHold, subj, ""), ticketview.EINTERNAL)
}

func TestGuardInvalid(t *testing.T) {
	c := fakeCounter(newClock(time.Now()))
	g := abuse.NewGuard(c, "guard:", abuse.NewProofOfWork(secret, 8, time.Minute, c, nil), abuse.Thresholds{})
	many := make([]string, abuse.MaxSubjects+1)
	for i := range many {
		many[i] = fmt.Sprintf("ip:%d", i)
	}
	for _, tc := range []struct {
		name     string
		sig      abuse.Signal
		subjects []string
	}{
		{"unknown signal", "login", []string{"user:1"}},
		{"empty signal", "", []string{"user:1"}},
		{"no subjects", abuse.SignalHold, nil},
		{"empty subject", abuse.SignalHold, []string{"user:1", ""}},
		{"long subject", abuse.SignalHold, []string{strings.Repeat("s", abuse.MaxKeyLen+1)}},
		{"too many subjects", abuse.SignalHold, many},
	} {
		wantCode(t, "Check "+tc.name, check(t, g, tc.sig, tc.subjects, ""), ticketview.EINVALID)
		wantCode(t, "Record "+tc.name, g.Record(testCtx(t), tc.sig, tc.subjects...), ticketview.EINVALID)
	}
	var nilGuard *abuse.Guard
	wantCode(t, "nil guard", nilGuard.Record(testCtx(t), abuse.SignalHold, "user:1"), ticketview.EINTERNAL)
}

func TestGuardUnavailable(t *testing.T) {
	t.Parallel()
	// Redis down: the counts cannot be kept.
	down := abuse.NewGuard(downCounter(t), "guard:", nil, abuse.Thresholds{})
	wantCode(t, "Check with Redis down", check(t, down, abuse.SignalHold, []string{"user:1"}, ""), ticketview.EUNAVAILABLE)
	wantCode(t, "Record with Redis down", down.Record(testCtx(t), abuse.SignalConflict, "user:1"), ticketview.EUNAVAILABLE)

	// The siteverify endpoint down: a solution cannot be checked. That is not the
	// client's fault: EUNAVAILABLE, not a new challenge.
	srv := newSiteServer(t)
	v, err := abuse.NewSiteVerify(abuse.KindTurnstile, "site", "secret", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	v.SetURL(srv.URL)
	g := abuse.NewGuard(fakeCounter(newClock(time.Now())), "guard:", v, abuse.Thresholds{Holds: 1})
	subj := []string{"user:1"}
	wantPass(t, "hold 1", check(t, g, abuse.SignalHold, subj, ""))
	err = check(t, g, abuse.SignalHold, subj, "")
	var ce *abuse.ChallengeError
	if !asChallenge(err, &ce) || ce.Challenge != (abuse.Challenge{Kind: abuse.KindTurnstile, SiteKey: "site"}) {
		t.Fatalf("hold 2: %v, want a turnstile challenge", err)
	}
	srv.set(200, `{"success": false, "error-codes": ["invalid-input-response"]}`)
	if err := check(t, g, abuse.SignalHold, subj, "widget-token"); !asChallenge(err, &ce) {
		t.Fatalf("a refused widget token: %v, want a new challenge", err)
	}
	srv.Close()
	wantCode(t, "siteverify down", check(t, g, abuse.SignalHold, subj, "widget-token"), ticketview.EUNAVAILABLE)
	if err := check(t, g, abuse.SignalHold, subj, "widget-token"); asChallenge(err, &ce) {
		t.Fatalf("siteverify down: %v, want no challenge", err)
	}
}

func asChallenge(err error, ce **abuse.ChallengeError) bool {
	return errors.As(err, ce) && ticketview.ErrorCode(err) == ticketview.ECAPTCHA
}

// TestChallengeError: the error's message, code and unwrapping, also when empty.
func TestChallengeError(t *testing.T) {
	e := &abuse.ChallengeError{Challenge: abuse.Challenge{Kind: "pow"}, Err: ticketview.Errorf(ticketview.ECAPTCHA, "solve it")}
	if e.Error() != "ticketview: captcha_required: solve it" || ticketview.ErrorMessage(e) != "solve it" {
		t.Fatalf("Error() %q, message %q", e.Error(), ticketview.ErrorMessage(e))
	}
	var empty abuse.ChallengeError
	if empty.Unwrap() != nil || !strings.Contains(empty.Error(), ticketview.ECAPTCHA) {
		t.Fatalf("empty ChallengeError: %q, unwraps to %v", empty.Error(), empty.Unwrap())
	}
}
