package abuse

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/ticketview/ticketview"
)

// Signal is a kind of action or outcome the Guard counts.
type Signal string

// Signals.
const (
	SignalHold     Signal = "hold"     // a hold attempt (bursts of holds)
	SignalConflict Signal = "conflict" // a hold refused because seats were taken/sold out (many conflicts = seat scanning bots)
	SignalSignup   Signal = "signup"   // an account created from an IP (many accounts per IP)
)

// MaxSubjects bounds the subjects of one Check or Record.
const MaxSubjects = 16

// Thresholds say when a subject is suspicious. Zero (or negative) fields take the
// defaults.
type Thresholds struct {
	Holds        int64         // per subject per Window (default 20)
	Conflicts    int64         // per subject per Window (default 10)
	Signups      int64         // per IP per SignupWindow (default 5)
	Window       time.Duration // default 1 minute
	SignupWindow time.Duration // default 1 hour
	Pass         time.Duration // how long a solved challenge clears the subject (default 10 minutes)
}

// Threshold defaults.
const (
	DefaultHolds        = 20
	DefaultConflicts    = 10
	DefaultSignups      = 5
	DefaultWindow       = time.Minute
	DefaultSignupWindow = time.Hour
	DefaultPass         = 10 * time.Minute
)

func (th Thresholds) withDefaults() Thresholds {
	pick := func(v, d int64) int64 {
		if v <= 0 {
			return d
		}
		return v
	}
	pickD := func(v, d time.Duration) time.Duration {
		if v <= 0 {
			return d
		}
		return v
	}
	return Thresholds{
		Holds:        pick(th.Holds, DefaultHolds),
		Conflicts:    pick(th.Conflicts, DefaultConflicts),
		Signups:      pick(th.Signups, DefaultSignups),
		Window:       pickD(th.Window, DefaultWindow),
		SignupWindow: pickD(th.SignupWindow, DefaultSignupWindow),
		Pass:         pickD(th.Pass, DefaultPass),
	}
}

// ChallengeError is Check's answer when the caller must solve a challenge first: the
// fresh Challenge to solve, and the ECAPTCHA error that says why. The HTTP layer answers
// 403 with the challenge.
type ChallengeError struct {
	Challenge Challenge
	Err       *ticketview.Error
}

func (e *ChallengeError) Error() string {
	if e.Err == nil {
		return "ticketview: " + ticketview.ECAPTCHA
	}
	return e.Err.Error()
}

// Unwrap returns the ticketview error (code ECAPTCHA), so ticketview.ErrorCode and
// errors.Is see it.
func (e *ChallengeError) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// Guard decides when an action needs a CAPTCHA, from counts kept in a RateCounter: every
// Guard over the same counter store and prefix (and a Verifier that accepts the same
// solutions, e.g. ProofOfWork with the same secret and spent counter) behaves as one.
//
// Each subject (e.g. "user:ID", "ip:1.2.3.4") has one fixed-window counter per signal:
// holds and conflicts in windows of Thresholds.Window, signups in windows of
// Thresholds.SignupWindow (pass the IP subject for signups: the count is per subject
// given). A subject is suspicious for an action when, in its current windows,
//
//	hold:     its holds (this one included) exceed Holds, or its conflicts exceed Conflicts
//	conflict: its conflicts (this one included) exceed Conflicts
//	signup:   its signups (this one included) exceed Signups
//
// so with the defaults the 21st hold of a minute is challenged, as is any hold after the
// 11th conflict of a minute and the 6th signup of an hour from one IP. An action needs a
// challenge when one of its subjects is suspicious and has no pass. Solving a challenge
// gives every subject of the action a pass: for between Pass and 1.5·Pass (passes are
// counted in buckets of Pass/2, and a pass counts in its bucket and the two after) the
// subjects are not challenged, however high their counts.
type Guard struct {
	c      ticketview.RateCounter
	prefix string
	v      Verifier
	th     Thresholds
	now    func() time.Time // the clock of the pass buckets; tests replace it
}

// NewGuard returns a guard whose counter keys start with prefix and which challenges
// with v. Zero thresholds take the defaults.
func NewGuard(c ticketview.RateCounter, prefix string, v Verifier, th Thresholds) *Guard {
	return &Guard{c: c, prefix: prefix, v: v, th: th.withDefaults(), now: time.Now}
}

// Thresholds returns the thresholds in force (defaults filled in).
func (g *Guard) Thresholds() Thresholds { return g.th }

// Check is called before an action (sig is what the action is; subjects e.g. "user:ID",
// "ip:1.2.3.4"). It records the action in the signal's own counter for every subject,
// then decides:
//
//   - no challenge needed (see Guard) → nil, and solution is ignored;
//   - needed and solution == "" → a *ChallengeError (code ECAPTCHA) with a fresh
//     challenge;
//   - needed and a solution → the Verifier checks it; if it is right every subject gets
//     a pass and Check returns nil (even if storing the passes fails: the action was
//     proven human, only the next one may be challenged again); if it is wrong, a
//     *ChallengeError with a fresh challenge.
//
// Errors besides: EINVALID for an unknown signal, no subjects, more than MaxSubjects,
// or an empty or too long subject; the counter's and the Verifier's errors other than
// ECAPTCHA (EUNAVAILABLE when Redis or the siteverify endpoint is down) as they are.
func (g *Guard) Check(ctx context.Context, sig Signal, subjects []string, solution, remoteIP string) error {
	subjects, err := g.validate(sig, subjects)
	if err != nil {
		return err
	}
	window, limit := g.rule(sig)
	var suspects []string
	for _, s := range subjects {
		v, _, err := g.c.Incr(ctx, g.countKey(sig, s), 1, window)
		if err != nil {
			return err
		}
		over := v > limit
		if !over && sig == SignalHold {
			w, l := g.rule(SignalConflict)
			conflicts, _, err := g.c.Incr(ctx, g.countKey(SignalConflict, s), 0, w)
			if err != nil {
				return err
			}
			over = conflicts > l
		}
		if over {
			suspects = append(suspects, s)
		}
	}
	for _, s := range suspects {
		ok, err := g.hasPass(ctx, s)
		if err != nil {
			return err
		}
		if !ok {
			return g.challenge(ctx, solution, remoteIP, subjects)
		}
	}
	return nil
}

// challenge verifies solution, granting passes when it is right, or asks for one.
func (g *Guard) challenge(ctx context.Context, solution, remoteIP string, subjects []string) error {
	if g.v == nil {
		return ticketview.Errorf(ticketview.EINTERNAL, "abuse: guard has no verifier")
	}
	why := ticketview.Errorf(ticketview.ECAPTCHA, "unusual activity: solve the challenge and retry")
	if solution != "" {
		err := g.v.Verify(ctx, solution, remoteIP)
		if err == nil {
			g.grant(ctx, subjects)
			return nil
		}
		var tv *ticketview.Error
		if !errors.As(err, &tv) || tv.Code != ticketview.ECAPTCHA {
			return err
		}
		why = ticketview.Errorf(ticketview.ECAPTCHA, "%s: solve the new challenge and retry", tv.Message)
	}
	c, err := g.v.NewChallenge(ctx)
	if err != nil {
		return err
	}
	return &ChallengeError{Challenge: c, Err: why}
}

// Record counts an outcome signal (SignalConflict after a refused hold) for the
// subjects; it decides nothing. Errors as for Check.
func (g *Guard) Record(ctx context.Context, sig Signal, subjects ...string) error {
	subjects, err := g.validate(sig, subjects)
	if err != nil {
		return err
	}
	window, _ := g.rule(sig)
	for _, s := range subjects {
		if _, _, err := g.c.Incr(ctx, g.countKey(sig, s), 1, window); err != nil {
			return err
		}
	}
	return nil
}

// validate checks a call's signal and subjects and returns the subjects without
// repeats (a subject named twice counts once).
func (g *Guard) validate(sig Signal, subjects []string) ([]string, error) {
	switch {
	case g == nil || g.c == nil:
		return nil, ticketview.Errorf(ticketview.EINTERNAL, "abuse: guard has no rate counter")
	case sig != SignalHold && sig != SignalConflict && sig != SignalSignup:
		return nil, ticketview.Errorf(ticketview.EINVALID, "unknown abuse signal %q", sig)
	case len(subjects) == 0 || len(subjects) > MaxSubjects:
		return nil, ticketview.Errorf(ticketview.EINVALID, "abuse check needs 1 to %d subjects, got %d", MaxSubjects, len(subjects))
	}
	out := make([]string, 0, len(subjects))
	for _, s := range subjects {
		if s == "" || len(s) > MaxKeyLen {
			return nil, ticketview.Errorf(ticketview.EINVALID, "abuse subject must be 1 to %d bytes", MaxKeyLen)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// rule returns a signal's window and threshold.
func (g *Guard) rule(sig Signal) (time.Duration, int64) {
	switch sig {
	case SignalConflict:
		return g.th.Window, g.th.Conflicts
	case SignalSignup:
		return g.th.SignupWindow, g.th.Signups
	}
	return g.th.Window, g.th.Holds
}

func (g *Guard) countKey(sig Signal, subject string) string {
	return g.prefix + "g:" + string(sig) + ":" + subject
}

// passBucketMs is the width of a pass bucket: half of Pass, rounded up to whole
// milliseconds, so that a pass lasts more than two buckets, at least Pass.
func (g *Guard) passBucketMs() int64 {
	return max(1, (g.th.Pass.Milliseconds()+1)/2)
}

// passKey returns the key of a subject's passes in a bucket and the key's window, long
// enough for every read of the bucket (it is read in its own bucket and the two after,
// and first used no earlier than its start).
func (g *Guard) passKey(bucket int64, subject string) (string, time.Duration) {
	return g.prefix + "gp:" + strconv.FormatInt(bucket, 10) + ":" + subject, 4 * time.Duration(g.passBucketMs()) * time.Millisecond
}

func (g *Guard) bucketNow() int64 { return g.now().UnixMilli() / g.passBucketMs() }

func (g *Guard) hasPass(ctx context.Context, subject string) (bool, error) {
	now := g.bucketNow()
	for b := now; b >= now-2; b-- {
		k, w := g.passKey(b, subject)
		v, _, err := g.c.Incr(ctx, k, 0, w)
		if err != nil {
			return false, err
		}
		if v > 0 {
			return true, nil
		}
	}
	return false, nil
}

// grant gives every subject a pass; failures are ignored (see Check).
func (g *Guard) grant(ctx context.Context, subjects []string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	b := g.bucketNow()
	for _, s := range subjects {
		k, w := g.passKey(b, s)
		_, _, _ = g.c.Incr(ctx, k, 1, w)
	}
}
