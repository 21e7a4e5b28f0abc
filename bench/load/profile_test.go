package load

import (
	"math"
	"strings"
	"testing"
	"time"
)

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

func TestRateAtConstant(t *testing.T) {
	p := Profile{Kind: "constant", Rate: 100, Duration: 2 * time.Second}
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{
		{-time.Nanosecond, 0},
		{0, 100},
		{time.Second, 100},
		{2*time.Second - time.Nanosecond, 100},
		{2 * time.Second, 0}, // the end is outside
		{time.Hour, 0},
	} {
		if got := p.RateAt(c.at); got != c.want {
			t.Errorf("RateAt(%s) = %g, want %g", c.at, got, c.want)
		}
	}
}

func TestRateAtRamp(t *testing.T) {
	p := Profile{Kind: "ramp", Rate: 0, Peak: 100, Duration: 2 * time.Second}
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{
		{-time.Millisecond, 0},
		{0, 0},
		{500 * time.Millisecond, 25},
		{time.Second, 50},
		{1500 * time.Millisecond, 75},
		{2*time.Second - time.Millisecond, 99.95},
		{2 * time.Second, 0},
		{3 * time.Second, 0},
	} {
		if got := p.RateAt(c.at); !near(got, c.want, 1e-9) {
			t.Errorf("RateAt(%s) = %g, want %g", c.at, got, c.want)
		}
	}
	// A ramp down is a ramp too.
	down := Profile{Kind: "ramp", Rate: 100, Peak: 20, Duration: 4 * time.Second}
	if got := down.RateAt(2 * time.Second); !near(got, 60, 1e-9) {
		t.Errorf("ramp down at the middle: %g, want 60", got)
	}
}

func TestRateAtSpike(t *testing.T) {
	// Explicit window: base 10/s, 110/s from 2s for 3s; up and down within a second.
	p := Profile{Kind: "spike", Rate: 10, Peak: 110, Duration: 10 * time.Second, SpikeAt: 2 * time.Second, SpikeFor: 3 * time.Second}
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{
		{-time.Second, 0},
		{0, 10},
		{2*time.Second - time.Millisecond, 10},
		{2 * time.Second, 10},                   // the rise starts
		{2500 * time.Millisecond, 60},           // half way up
		{3 * time.Second, 110},                  // at the peak
		{4 * time.Second, 110},                  // still there
		{5*time.Second - time.Millisecond, 110}, // last instant of the peak
		{5500 * time.Millisecond, 60},           // half way down
		{6 * time.Second, 10},                   // back at the base
		{9 * time.Second, 10},
		{10 * time.Second, 0},
	} {
		if got := p.RateAt(c.at); !near(got, c.want, 1e-9) {
			t.Errorf("RateAt(%s) = %g, want %g", c.at, got, c.want)
		}
	}
	// Defaults: the spike starts at a third of the duration and lasts a fifth of it.
	d := Profile{Kind: "spike", Rate: 10, Peak: 110, Duration: 15 * time.Second}
	if got := d.RateAt(5*time.Second - time.Millisecond); got != 10 {
		t.Errorf("default window: just before 5s: %g, want the base 10", got)
	}
	if got := d.RateAt(7 * time.Second); got != 110 {
		t.Errorf("default window: at 7s: %g, want the peak 110", got)
	}
	if got := d.RateAt(9 * time.Second); got != 10 {
		t.Errorf("default window: at 9s (after 5s+3s+1s): %g, want the base 10", got)
	}
	if s := d.String(); !strings.Contains(s, "5s") || !strings.Contains(s, "8s") {
		t.Errorf("String() = %q, want the default window 5s..8s", s)
	}
}

func TestExpected(t *testing.T) {
	for _, c := range []struct {
		p    Profile
		want float64
	}{
		{Profile{Kind: "constant", Rate: 100, Duration: 2 * time.Second}, 200},
		{Profile{Kind: "ramp", Rate: 0, Peak: 100, Duration: 2 * time.Second}, 100},
		{Profile{Kind: "ramp", Rate: 50, Peak: 150, Duration: 4 * time.Second}, 400},
		// Base 10/s for 10s (100) plus 100/s more for the spike's 3s, whose rise and
		// fall (1s each) add half a second each: 100 + 100*3 = 400.
		{Profile{Kind: "spike", Rate: 10, Peak: 110, Duration: 10 * time.Second, SpikeAt: 2 * time.Second, SpikeFor: 3 * time.Second}, 400},
		// A spike cut by the end of the profile: 0/s until 0.5s, up for a second (50),
		// then the peak until the end at 2s (0.5s*100 = 50): 100.
		{Profile{Kind: "spike", Rate: 0, Peak: 100, Duration: 2 * time.Second, SpikeAt: 500 * time.Millisecond, SpikeFor: 5 * time.Second}, 100},
	} {
		if got := c.p.Expected(); !near(got, c.want, 0.01*c.want) {
			t.Errorf("%s: Expected() = %.3f, want ≈ %g", c.p, got, c.want)
		}
	}
}

func TestArrivalsMonotone(t *testing.T) {
	p := Profile{Kind: "ramp", Rate: 10, Peak: 1000, Duration: time.Second}
	a := newArrivals(p)
	prev := 0.0
	for at := time.Duration(0); at <= 2*time.Second; at += 7 * time.Millisecond {
		got := a.until(at)
		if got < prev {
			t.Fatalf("arrivals went down at %s: %g after %g", at, got, prev)
		}
		prev = got
	}
	if !near(prev, p.Expected(), 1e-6) {
		t.Errorf("arrivals after the end: %g, want the whole profile's %g", prev, p.Expected())
	}
}

func TestProfileValidate(t *testing.T) {
	good := []Profile{
		{Kind: "constant", Rate: 1, Duration: time.Second},
		{Kind: "ramp", Rate: 0, Peak: 10, Duration: time.Second},
		{Kind: "spike", Rate: 5, Peak: 50, Duration: time.Minute},
	}
	for _, p := range good {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	bad := map[string]Profile{
		"unknown kind":            {Kind: "burst", Rate: 1, Duration: time.Second},
		"empty kind":              {Rate: 1, Duration: time.Second},
		"constant without a rate": {Kind: "constant", Duration: time.Second},
		"negative rate":           {Kind: "ramp", Rate: -1, Peak: 10, Duration: time.Second},
		"negative peak":           {Kind: "constant", Rate: 1, Peak: -1, Duration: time.Second},
		"NaN rate":                {Kind: "constant", Rate: math.NaN(), Duration: time.Second},
		"ramp without a peak":     {Kind: "ramp", Rate: 10, Duration: time.Second},
		"spike without a peak":    {Kind: "spike", Rate: 10, Duration: time.Second},
		"zero duration":           {Kind: "constant", Rate: 1},
		"negative duration":       {Kind: "constant", Rate: 1, Duration: -time.Second},
		// An infinite rate cannot be scheduled (the engine floors the arrivals into an
		// int).
		"infinite rate": {Kind: "constant", Rate: math.Inf(1), Duration: time.Second},
		"infinite peak": {Kind: "ramp", Rate: 1, Peak: math.Inf(1), Duration: time.Second},
	}
	for name, p := range bad {
		if err := p.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, p)
		}
	}
}

func TestParseMix(t *testing.T) {
	good := map[string]Mix{
		"pick=50,best=35,ga=15": {Pick: 50, Best: 35, GA: 15},
		"pick=1":                {Pick: 1},
		" ga=3 , best=0 ":       {GA: 3},
		"best=2,best=7":         {Best: 7},
		"pick=0,best=0,ga=1":    {GA: 1},
	}
	for s, want := range good {
		got, err := ParseMix(s)
		if err != nil || got != want {
			t.Errorf("ParseMix(%q) = %+v, %v; want %+v", s, got, err, want)
		}
	}
	if m := (Mix{Pick: 5, Best: 3, GA: 2}); m.String() != "pick=5,best=3,ga=2" {
		t.Errorf("String() = %q", m.String())
	}
	for _, s := range []string{"", "pick", "pick=", "pick=x", "pick=-1", "pick=1.5", "vip=3", "pick=0,best=0,ga=0", "pick=1;best=2"} {
		if m, err := ParseMix(s); err == nil {
			t.Errorf("ParseMix(%q) = %+v, want an error", s, m)
		}
	}
}

func TestMixChoose(t *testing.T) {
	m := Mix{Pick: 2, Best: 3, GA: 1}
	want := []Op{OpPick, OpPick, OpBest, OpBest, OpBest, OpGA}
	if m.total() != len(want) {
		t.Fatalf("total() = %d", m.total())
	}
	for r, op := range want {
		if got := m.choose(r); got != op {
			t.Errorf("choose(%d) = %s, want %s", r, got, op)
		}
	}
	if got := (Mix{Best: 1}).choose(0); got != OpBest {
		t.Errorf("a best-only mix chose %s", got)
	}
}
