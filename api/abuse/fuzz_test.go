package abuse_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api/abuse"
)

// FuzzProofOfWorkVerify feeds Verify arbitrary solutions: it never panics, and answers
// nil (a real, unused solution: the work done, and each token accepted once) or
// ECAPTCHA, nothing else.
func FuzzProofOfWorkVerify(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	c := fakeCounter(newClock(now))
	p := abuse.NewProofOfWork(secret, 4, time.Hour, c, func() time.Time { return now })
	ch, err := p.NewChallenge(f.Context())
	if err != nil {
		f.Fatal(err)
	}
	sol := abuse.SolveProofOfWork(ch)
	for _, s := range []string{
		sol, sol + "0", ch.Token, ch.Token + ":", ":", "::", "", "a:b:c", ":" + sol,
		strings.Repeat(":", 300), ch.Token + ":" + strings.Repeat("9", 64), ch.Token + ":" + strings.Repeat("9", 65),
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:1", "\xff\xfe:\x00", "=====:1",
	} {
		f.Add(s)
	}
	var mu sync.Mutex
	accepted := map[string]bool{}
	f.Fuzz(func(t *testing.T, s string) {
		err := p.Verify(t.Context(), s, "")
		if err != nil && ticketview.ErrorCode(err) != ticketview.ECAPTCHA {
			t.Fatalf("Verify(%q): %v, want nil or ECAPTCHA", s, err)
		}
		if err == nil {
			token, nonce, ok := strings.Cut(s, ":")
			if !ok || abuse.LeadingZeroBits(token, nonce) < 4 {
				t.Fatalf("Verify(%q) accepted a solution without the work", s)
			}
			mu.Lock()
			defer mu.Unlock()
			if accepted[token] {
				t.Fatalf("Verify(%q) accepted a second solution to one challenge", s)
			}
			accepted[token] = true
		}
	})
}
