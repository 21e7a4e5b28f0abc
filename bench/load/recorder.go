package load

import (
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// outcome of a request, as the recorder counts it.
type outcome uint8

const (
	outOK outcome = iota
	outConflict
	outError
)

func outcomeOf(st Status) outcome {
	switch {
	case st.OK():
		return outOK
	case st.Conflict():
		return outConflict
	default:
		return outError
	}
}

// sample is one finished request: when it ended (µs from the start), its latency (µs).
type sample struct {
	end int64
	lat int32
	op  Op
	out outcome
}

// recorder keeps every request's sample (exact percentiles; 32 bytes a request) and the
// running counters the progress line shows.
type recorder struct {
	start time.Time

	mu      sync.Mutex
	samples []sample
	errs    []string

	arrived, dropped, inFlight atomic.Int64
	holds, sales               atomic.Int64
	soldPlaces                 atomic.Int64
	conflicts, errors          atomic.Int64
	arrivalsAt                 sync.Map // second -> *atomic.Int64
	inFlightAt                 sync.Map // second -> int
}

func newRecorder(start time.Time) *recorder {
	return &recorder{start: start, samples: make([]sample, 0, 1<<16)}
}

const maxErrorSample = 20

// record adds one request.
func (r *recorder) record(op Op, began time.Time, st Status) {
	end := time.Now()
	lat := end.Sub(began)
	s := sample{end: end.Sub(r.start).Microseconds(), lat: int32(min(lat.Microseconds(), math.MaxInt32)), op: op, out: outcomeOf(st)}
	switch s.out {
	case outConflict:
		r.conflicts.Add(1)
	case outError:
		r.errors.Add(1)
	}
	r.mu.Lock()
	r.samples = append(r.samples, s)
	if s.out == outError && len(r.errs) < maxErrorSample {
		msg := string(op) + ": "
		if st.Err != nil {
			msg += st.Err.Error()
		} else {
			msg += "status " + strconv.Itoa(st.Code)
		}
		r.errs = append(r.errs, msg)
	}
	r.mu.Unlock()
}

func (r *recorder) arrival() {
	r.arrived.Add(1)
	sec := int(time.Since(r.start) / time.Second)
	v, _ := r.arrivalsAt.LoadOrStore(sec, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// histogramBounds are the histogram's upper bounds in ms: 4 per factor of 10 from 50 µs
// to 30 s.
var histogramBounds = func() []float64 {
	var b []float64
	for v := 0.05; v <= 30_000; v *= math.Pow(10, 0.25) {
		b = append(b, math.Round(v*1000)/1000)
	}
	return b
}()

// percentile of sorted latencies (µs), in ms.
func percentile(sorted []int32, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / 1000
}

// opStats summarises the samples of one kind.
func opStats(op Op, ss []sample) OpStats {
	st := OpStats{Op: op, Bounds: histogramBounds, Counts: make([]int, len(histogramBounds)+1)}
	lats := make([]int32, 0, len(ss))
	var sum float64
	for _, s := range ss {
		st.Count++
		switch s.out {
		case outOK:
			st.OK++
		case outConflict:
			st.Conflicts++
		default:
			st.Errors++
		}
		lats = append(lats, s.lat)
		ms := float64(s.lat) / 1000
		sum += ms
		i, _ := slices.BinarySearch(histogramBounds, ms)
		st.Counts[i]++
	}
	if st.Count == 0 {
		return st
	}
	slices.Sort(lats)
	st.P50, st.P95, st.P99, st.P999 = percentile(lats, .50), percentile(lats, .95), percentile(lats, .99), percentile(lats, .999)
	st.Max = float64(lats[len(lats)-1]) / 1000
	st.Mean = sum / float64(st.Count)
	return st
}

// summarise fills the result's counts, per-kind stats and timeline.
func (r *recorder) summarise(res *Result, elapsed time.Duration) {
	r.mu.Lock()
	ss := slices.Clone(r.samples)
	res.ErrorSample = slices.Clone(r.errs)
	r.mu.Unlock()

	byOp := map[Op][]sample{}
	for _, s := range ss {
		byOp[s.op] = append(byOp[s.op], s)
	}
	for _, op := range Ops {
		if len(byOp[op]) > 0 {
			res.Ops = append(res.Ops, opStats(op, byOp[op]))
		}
	}
	res.Arrived = int(r.arrived.Load())
	res.Dropped = int(r.dropped.Load())
	res.Conflicts = int(r.conflicts.Load())
	res.Errors = int(r.errors.Load())

	secs := int(math.Ceil(elapsed.Seconds()))
	type bucket struct {
		Second
		lats []int32
	}
	tl := make([]bucket, secs)
	for i := range tl {
		tl[i].T = i
		if v, ok := r.arrivalsAt.Load(i); ok {
			tl[i].Arrivals = int(v.(*atomic.Int64).Load())
		}
		if v, ok := r.inFlightAt.Load(i); ok {
			tl[i].InFlight = v.(int)
		}
	}
	for _, s := range ss {
		i := int(s.end / 1e6)
		if i >= secs {
			i = secs - 1
		}
		if i < 0 {
			continue
		}
		b := &tl[i]
		switch {
		case s.out == outConflict:
			b.Conflicts++
		case s.out == outError:
			b.Errors++
		}
		if s.op.IsHold() {
			b.lats = append(b.lats, s.lat)
			if s.out == outOK {
				b.Holds++
			}
		}
		if (s.op == OpConfirm || s.op == OpCheckout) && s.out == outOK {
			b.Sales++
		}
	}
	for _, b := range tl {
		slices.Sort(b.lats)
		b.HoldP50, b.HoldP99 = percentile(b.lats, .50), percentile(b.lats, .99)
		res.Timeline = append(res.Timeline, b.Second)
		if float64(b.Holds) > res.PeakHolds {
			res.PeakHolds = float64(b.Holds)
		}
	}
}
