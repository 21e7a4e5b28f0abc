package load

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Profile is an open-model arrival schedule: buyers arrive at a rate that does not depend
// on how fast the target answers (as k6's arrival-rate executors), so a slow target builds
// a queue instead of slowing the load down.
type Profile struct {
	Kind     string        // "constant", "ramp" or "spike"
	Rate     float64       // buyers/s: the constant rate, the ramp's start, the spike's base
	Peak     float64       // the ramp's end rate, the spike's rate
	Duration time.Duration // length of the schedule
	SpikeAt  time.Duration // spike: when it starts (default: a third of Duration)
	SpikeFor time.Duration // spike: how long it lasts (default: a fifth of Duration)
}

// Validate reports a profile that cannot run.
func (p Profile) Validate() error {
	switch p.Kind {
	case "constant", "ramp", "spike":
	default:
		return fmt.Errorf("profile %q: want constant, ramp or spike", p.Kind)
	}
	if p.Rate < 0 || p.Peak < 0 || math.IsNaN(p.Rate) || math.IsNaN(p.Peak) || math.IsInf(p.Rate, 0) || math.IsInf(p.Peak, 0) {
		return fmt.Errorf("profile rates must be finite and not negative")
	}
	if p.Kind != "constant" && p.Peak <= 0 {
		return fmt.Errorf("profile %s needs a peak rate", p.Kind)
	}
	if p.Kind == "constant" && p.Rate <= 0 {
		return fmt.Errorf("a constant profile needs a rate above 0")
	}
	if p.Duration <= 0 {
		return fmt.Errorf("profile duration must be positive")
	}
	return nil
}

func (p Profile) spikeWindow() (from, to time.Duration) {
	at, d := p.SpikeAt, p.SpikeFor
	if at <= 0 {
		at = p.Duration / 3
	}
	if d <= 0 {
		d = p.Duration / 5
	}
	return at, at + d
}

// RateAt is the arrival rate (buyers/s) at t from the start.
func (p Profile) RateAt(t time.Duration) float64 {
	if t < 0 || t >= p.Duration {
		return 0
	}
	switch p.Kind {
	case "ramp":
		f := float64(t) / float64(p.Duration)
		return p.Rate + (p.Peak-p.Rate)*f
	case "spike":
		from, to := p.spikeWindow()
		// Up and down within a second, as flash-sale spikes do.
		const edge = time.Second
		switch {
		case t < from || t >= to+edge:
			return p.Rate
		case t < from+edge:
			return p.Rate + (p.Peak-p.Rate)*float64(t-from)/float64(edge)
		case t < to:
			return p.Peak
		default:
			return p.Peak - (p.Peak-p.Rate)*float64(t-to)/float64(edge)
		}
	default:
		return p.Rate
	}
}

// Arrivals is the number of buyers that have arrived by t (the integral of RateAt),
// integrated in millisecond steps from the previous call's point: feed it increasing t.
type arrivals struct {
	p    Profile
	at   time.Duration
	sum  float64
	step time.Duration
}

func newArrivals(p Profile) *arrivals { return &arrivals{p: p, step: time.Millisecond} }

// until advances to t and returns the cumulative arrivals.
func (a *arrivals) until(t time.Duration) float64 {
	if t > a.p.Duration {
		t = a.p.Duration
	}
	for a.at+a.step <= t {
		mid := a.at + a.step/2
		a.sum += a.p.RateAt(mid) * a.step.Seconds()
		a.at += a.step
	}
	return a.sum
}

// Expected is the number of arrivals the whole profile makes.
func (p Profile) Expected() float64 {
	a := newArrivals(p)
	return a.until(p.Duration)
}

// String describes the profile ("constant 500/s for 30s").
func (p Profile) String() string {
	switch p.Kind {
	case "ramp":
		return fmt.Sprintf("ramp %g→%g/s over %s", p.Rate, p.Peak, p.Duration)
	case "spike":
		from, to := p.spikeWindow()
		return fmt.Sprintf("spike %g/s with %g/s from %s to %s, %s in all", p.Rate, p.Peak, from, to, p.Duration)
	default:
		return fmt.Sprintf("constant %g/s for %s", p.Rate, p.Duration)
	}
}

// Mix is the share of each hold kind among the buyers (weights, any scale).
type Mix struct {
	Pick, Best, GA int
}

// ParseMix reads "pick=50,best=35,ga=15".
func ParseMix(s string) (Mix, error) {
	var m Mix
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return m, fmt.Errorf("mix %q: want kind=weight pairs, e.g. pick=50,best=35,ga=15", s)
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return m, fmt.Errorf("mix %q: weight %q is not a whole number >= 0", s, v)
		}
		switch k {
		case "pick":
			m.Pick = n
		case "best":
			m.Best = n
		case "ga":
			m.GA = n
		default:
			return m, fmt.Errorf("mix %q: unknown kind %q (pick, best, ga)", s, k)
		}
	}
	if m.Pick+m.Best+m.GA == 0 {
		return m, fmt.Errorf("mix %q: every weight is 0", s)
	}
	return m, nil
}

func (m Mix) String() string { return fmt.Sprintf("pick=%d,best=%d,ga=%d", m.Pick, m.Best, m.GA) }

// choose maps r in [0, total) to a kind.
func (m Mix) choose(r int) Op {
	switch {
	case r < m.Pick:
		return OpPick
	case r < m.Pick+m.Best:
		return OpBest
	default:
		return OpGA
	}
}

func (m Mix) total() int { return m.Pick + m.Best + m.GA }
