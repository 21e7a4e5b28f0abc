package postgres_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/internal/testutil/pgtest"
	"github.com/ticketview/ticketview/persistence/postgres"
	"github.com/ticketview/ticketview/persistence/storetest"
)

// latencies is a histogram of durations with buckets 2% apart, safe for concurrent use.
type latencies struct {
	buckets [1200]atomic.Int64
}

const latencyBase = 1.02

func (l *latencies) record(d time.Duration) {
	i := 0
	if d > time.Microsecond {
		i = min(int(math.Log(float64(d)/float64(time.Microsecond))/math.Log(latencyBase)), len(l.buckets)-1)
	}
	l.buckets[i].Add(1)
}

// quantile returns the q-quantile (to within 2%).
func (l *latencies) quantile(q float64) time.Duration {
	var total int64
	for i := range l.buckets {
		total += l.buckets[i].Load()
	}
	if total == 0 {
		return 0
	}
	want := int64(math.Ceil(q * float64(total)))
	var seen int64
	for i := range l.buckets {
		if seen += l.buckets[i].Load(); seen >= want {
			return time.Duration(math.Pow(latencyBase, float64(i+1)) * float64(time.Microsecond))
		}
	}
	return 0
}

// timedDB records how long each append takes from the call to its acknowledgement.
type timedDB struct {
	*postgres.DB
	lat latencies
}

func (d *timedDB) Append(ctx context.Context, id ticketview.SectionID, epoch uint64, evs []ticketview.SectionEvent) error {
	start := time.Now()
	err := d.DB.Append(ctx, id, epoch, evs)
	d.lat.record(time.Since(start))
	return err
}

func (d *timedDB) AppendAsync(ctx context.Context, id ticketview.SectionID, epoch uint64, evs []ticketview.SectionEvent) func() error {
	start := time.Now()
	wait := d.DB.AppendAsync(ctx, id, epoch, evs)
	return func() error {
		err := wait()
		d.lat.record(time.Since(start))
		return err
	}
}

// benchOptions are the options of the benchmarks' stores. TICKETVIEW_BENCH_COMMITTERS
// sets the number of committers (default: Options' default).
var benchOptions = func() postgres.Options {
	var o postgres.Options
	if n, err := strconv.Atoi(os.Getenv("TICKETVIEW_BENCH_COMMITTERS")); err == nil {
		o.Committers = n
	}
	return o
}()

// openBench opens a store on a fresh schema. When the benchmark run ends it reports
// p50-ms and p99-ms, percentiles of the time from an append's call to its
// acknowledgement, and the CPU spent per append (see cpuMeter).
func openBench(b *testing.B) *timedDB {
	u := pgtest.WithParam(pgtest.URL(b), "application_name", fmt.Sprintf("tv-bench-%d", time.Now().UnixNano()))
	d := &timedDB{DB: openURL(b, u, benchOptions)}
	cpu := startCPU(d.DB)
	b.Cleanup(func() {
		cpu.report(b, b.N)
		b.ReportMetric(float64(d.lat.quantile(0.5))/1e6, "p50-ms")
		b.ReportMetric(float64(d.lat.quantile(0.99))/1e6, "p99-ms")
	})
	return d
}

// BenchmarkAppend runs the storetest append benchmarks against PostgreSQL. events/s is
// the throughput in seat events (one per append), appends/commit the mean group-commit
// size, p99-ms the 99th percentile of the time from the call to the acknowledgement.
func BenchmarkAppend(b *testing.B) {
	storetest.BenchmarkAppend(b,
		func(b *testing.B) storetest.Appender { return openBench(b) },
		func(a storetest.Appender) (uint64, uint64) {
			s := a.(*timedDB).Stats()
			return s.Commits, s.Requests
		})
}

// BenchmarkAppendMixed is BenchmarkAppend's sync-64sections and pipelined-8sections-depth4
// with events of every type (storetest.SampleEvents: holds placed, extended, released,
// expired, confirmed, sales cancelled, seats blocked and unblocked, in turn), so that the
// projection (holds, bookings, tickets) and the outbox are written too.
func BenchmarkAppendMixed(b *testing.B) {
	b.Run("sync-64sections", func(b *testing.B) { benchMixed(b, 64, 1) })
	b.Run("pipelined-8sections-depth4", func(b *testing.B) { benchMixed(b, 8, 4) })
}

func benchMixed(b *testing.B, sections, depth int) {
	const goroutines = 64
	db := openBench(b)
	ctx := context.Background()
	type section struct {
		mu    sync.Mutex
		id    ticketview.SectionID
		epoch uint64
		next  uint64
	}
	secs := make([]*section, sections)
	for i := range secs {
		s := &section{id: storetest.NewSectionID(), next: 1}
		var err error
		if s.epoch, _, _, err = db.Activate(ctx, s.id); err != nil {
			b.Fatal(err)
		}
		secs[i] = s
	}
	var gid atomic.Int64
	s0 := db.Stats()
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((goroutines + procs - 1) / procs)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		sec := secs[int(gid.Add(1)-1)%sections]
		var inflight []func() error
		for pb.Next() {
			sec.mu.Lock()
			evs := storetest.SampleEvents(sec.next, 1, storetest.BaseTime)
			sec.next++
			inflight = append(inflight, db.AppendAsync(ctx, sec.id, sec.epoch, evs))
			if depth == 1 { // sync: the section's next append waits for this one
				err := inflight[0]()
				sec.mu.Unlock()
				inflight = inflight[:0]
				if err != nil {
					b.Error(err)
					return
				}
				continue
			}
			sec.mu.Unlock()
			if len(inflight) == depth {
				if err := inflight[0](); err != nil {
					b.Error(err)
					return
				}
				inflight = inflight[1:]
			}
		}
		for _, wait := range inflight {
			if err := wait(); err != nil {
				b.Error(err)
			}
		}
	})
	b.StopTimer()
	s1 := db.Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if n := s1.Commits - s0.Commits; n > 0 {
		b.ReportMetric(float64(s1.Requests-s0.Requests)/float64(n), "appends/commit")
	}
}

// recoveryJournal is a section journal built by the domain for BenchmarkRecovery.
type recoveryJournal struct {
	id        ticketview.SectionID
	cfg       ticketview.SectionConfig
	want      ticketview.Availability // the state the journal leads to
	events    int
	appends   int
	snapshots int
}

// buildRecoveryJournal drives a 10,000-seat section through holds, releases, expiries,
// confirmations and cancellations until its journal has n events, journaling them as
// the section actor does: a batch of 1 to 16 events per append, up to 8 appends in
// flight, and (withSnapshots) a snapshot whenever the journal since the last one is as
// long as the state is large (at least 1,000 events).
func buildRecoveryJournal(b *testing.B, db *postgres.DB, n int, withSnapshots bool) *recoveryJournal {
	ctx := context.Background()
	const layoutSeats = 10_000
	layout := &ticketview.SectionLayout{ID: "A", Name: "Arena", Kind: ticketview.Seated,
		Rows: ticketview.GridRows(100, 100, func(r int) string { return []string{"VIP", "STD"}[min(r/20, 1)] })}
	j := &recoveryJournal{id: storetest.NewSectionID()}
	j.cfg = ticketview.SectionConfig{ID: j.id, Layout: layout, Categories: testCategories, Currency: "INR"}
	sec, err := ticketview.NewSection(j.cfg)
	if err != nil {
		b.Fatal(err)
	}
	epoch, _, _, err := db.Activate(ctx, j.id)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	now := storetest.BaseTime
	type ref struct{ token, owner string }
	var holds, bookings []ref
	take := func(list *[]ref) ref { // a random element, removed
		i := rng.IntN(len(*list))
		r := (*list)[i]
		(*list)[i] = (*list)[len(*list)-1]
		*list = (*list)[:len(*list)-1]
		return r
	}
	var inflight []func() error
	wait := func(all bool) {
		for len(inflight) > 0 && (all || len(inflight) >= 8) {
			if err := inflight[0](); err != nil {
				b.Fatal(err)
			}
			inflight = inflight[1:]
		}
	}
	batch, since := 1+rng.IntN(16), 0
	cancelBooking := func() {
		c := take(&bookings)
		if _, err := sec.Cancel(c.token, c.owner, "", now); err != nil {
			b.Fatal(err)
		}
	}
	for cmd := 0; sec.Seq() < uint64(n); cmd++ {
		now = now.Add(50 * time.Millisecond)
		// Buyers hold 1 to 4 seats (best available), then mostly confirm or release them
		// (or let them expire); bookings are cancelled now and then, more often as the
		// section fills up, so that it stays between about 60% and 80% sold.
		r := rng.IntN(100)
		full := sec.Free() < layoutSeats/4
		switch {
		case len(bookings) > 0 && (full && r < 30 || r < 8):
			cancelBooking()
		case r < 50 || len(holds) == 0:
			h := ref{fmt.Sprintf("tok-%d", cmd), fmt.Sprintf("buyer-%d", rng.IntN(5000))}
			_, err := sec.Hold(ticketview.HoldRequest{Token: h.token, Owner: h.owner, BestAvailable: true,
				Quantity: 1 + rng.IntN(4), AllowSplit: true, TTL: 10 * time.Minute}, now)
			if err == nil {
				holds = append(holds, h)
			} else if len(bookings) > 0 {
				cancelBooking()
			}
		case r < 72:
			h := take(&holds)
			if bk, err := sec.Confirm(h.token, h.owner, "bk-"+h.token, "pay-"+h.token, "", now); err == nil {
				bookings = append(bookings, ref{bk.ID, h.owner})
			}
		case r < 90:
			h := take(&holds)
			sec.Release(h.token, h.owner, "", now) // it may have expired: then nothing happens
		}
		// The rest of the time nobody acts: holds left alone expire.
		if pending := int(sec.Seq()) - j.events; pending < batch && sec.Seq() < uint64(n) {
			continue
		}
		evs := sec.TakeEvents()
		if len(evs) == 0 {
			continue
		}
		j.events += len(evs)
		j.appends++
		inflight = append(inflight, db.AppendAsync(ctx, j.id, epoch, evs))
		wait(false)
		batch = 1 + rng.IntN(16)
		if since += len(evs); withSnapshots && since >= max(1000, sec.Size()) {
			wait(true)
			if err := db.SaveSnapshot(ctx, j.id, epoch, sec.Snapshot(now)); err != nil {
				b.Fatal(err)
			}
			since = 0
			j.snapshots++
		}
	}
	wait(true)
	j.want = sec.Availability(true)
	return j
}

// recover activates the section and rebuilds it as the section actor does.
func (j *recoveryJournal) recover(b *testing.B, db *postgres.DB) *ticketview.Section {
	_, snap, evs, err := db.Activate(context.Background(), j.id)
	if err != nil {
		b.Fatal(err)
	}
	sec, err := ticketview.NewSection(j.cfg)
	if err == nil && snap != nil {
		err = sec.Restore(snap)
	}
	for i := 0; err == nil && i < len(evs); i++ {
		err = sec.Replay(evs[i])
	}
	if err != nil {
		b.Fatal(err)
	}
	return sec
}

// BenchmarkRecovery measures how long a 10,000-seat section with a journal of 100,000
// events takes to activate and rebuild: journal-only (no snapshot: every event is read
// and replayed) and with-snapshots (snapshots taken as the section actor takes them:
// the latest snapshot and the tail after it).
func BenchmarkRecovery(b *testing.B) {
	const events = 100_000
	db := openURL(b, pgtest.URL(b), postgres.Options{})
	for _, withSnapshots := range []bool{false, true} {
		name := "journal-only"
		if withSnapshots {
			name = "with-snapshots"
		}
		start := time.Now()
		j := buildRecoveryJournal(b, db, events, withSnapshots)
		b.Logf("%s: %d events in %d appends, %d snapshots, built in %v; state: %d sold, %d held, %d free",
			name, j.events, j.appends, j.snapshots, time.Since(start).Round(time.Millisecond), j.want.Sold, j.want.Held, j.want.Free)
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				sec := j.recover(b, db)
				if got := sec.Availability(true); !reflect.DeepEqual(got, j.want) {
					b.Fatalf("recovered seq %d, %d sold, %d held, %d free; want %d, %d, %d, %d",
						got.Seq, got.Sold, got.Held, got.Free, j.want.Seq, j.want.Sold, j.want.Held, j.want.Free)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
		})
	}
}
