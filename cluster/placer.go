package cluster

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
)

// PlacerConfig configures KeepActive.
type PlacerConfig struct {
	// Sections lists the identities of every section that should be active somewhere.
	Sections func(ctx context.Context) ([]string, error)
	// Every is the pass interval without membership changes (default 30s).
	Every time.Duration
	// Parallel is how many activations run at once (default 8).
	Parallel int
	// Passed, when set, is told after each pass: how many sections it activated, how long
	// it took, and whether a member had failed since the previous pass (a failover).
	Passed func(activated int, took time.Duration, failover bool)
	// Changed, when set, is told of each membership change, once.
	Changed func(MembershipChange)
	Logger  *zap.Logger
}

// KeepActive activates, after each membership change (and every cfg.Every), the sections
// this member owns that are not active here. A failed member's sections thus come back on
// the survivors without waiting for a buyer — their expired holds are released, and the
// first buyer does not pay for the recovery. It runs until ctx ends.
func (n *Node) KeepActive(ctx context.Context, cfg PlacerConfig) {
	if cfg.Every <= 0 {
		cfg.Every = 30 * time.Second
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 8
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	seenFailures := n.failures()
	var seenAt time.Time
	report := func() {
		for _, c := range n.Provider.History() {
			if c.At.After(seenAt) {
				seenAt = c.At
				if cfg.Changed != nil {
					cfg.Changed(c)
				}
			}
		}
	}
	report()
	tick := time.NewTicker(cfg.Every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.Provider.Changes():
			// Let a burst of changes settle (and the lookup's table follow them).
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		case <-tick.C:
		}
		report()
		failures := n.failures()
		failover := failures > seenFailures
		seenFailures = failures
		start := time.Now()
		activated, err := n.activateOwned(ctx, cfg)
		if err != nil {
			cfg.Logger.Warn("placement pass incomplete", zap.Error(err))
		}
		if cfg.Passed != nil {
			cfg.Passed(activated, time.Since(start), failover)
		}
		if activated > 0 {
			cfg.Logger.Info("activated the sections placed here", zap.Int("sections", activated),
				zap.Duration("took", time.Since(start)), zap.Bool("failover", failover))
		}
	}
}

// failures counts the "failed" changes in the history.
func (n *Node) failures() int {
	k := 0
	for _, c := range n.Provider.History() {
		if c.Change == ChangeFailed {
			k++
		}
	}
	return k
}

func (n *Node) activateOwned(ctx context.Context, cfg PlacerConfig) (int, error) {
	list, err := cfg.Sections(ctx)
	if err != nil {
		return 0, err
	}
	me := n.Address()
	active := map[string]bool{}
	for _, s := range n.Lookup.Active(SectionKind) {
		active[s] = true
	}
	var todo []ticketview.SectionID
	for _, s := range list {
		if active[s] || n.Lookup.Owner(SectionKind, s) != me {
			continue
		}
		id, err := ParseIdentity(s)
		if err == nil {
			todo = append(todo, id)
		}
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		done  int
		first error
		sem   = make(chan struct{}, cfg.Parallel)
	)
	for _, id := range todo {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := n.Client.Touch(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				done++
			} else if first == nil {
				first = err
			}
		}()
	}
	wg.Wait()
	return done, first
}

// WatchPauses calls onPause when this process was not scheduled for longer than limit
// (SIGSTOP, a VM freeze, a stop-the-world stall): the others may have declared it dead and
// blocked its member id meanwhile, and the sections it had are then active elsewhere. Its
// grains fence themselves off before answering (the lease), but the process should leave
// and start again with a new member id: onPause is where it does that. It runs until ctx
// ends.
func WatchPauses(ctx context.Context, limit time.Duration, onPause func(gap time.Duration)) {
	const every = 100 * time.Millisecond
	t := time.NewTicker(every)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			now = time.Now() // monotonic: counts the time the process was stopped
			if gap := now.Sub(last); gap > limit {
				onPause(gap)
			}
			last = now
		}
	}
}
