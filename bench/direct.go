package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/actors"
	"github.com/ticketview/ticketview/bench/baseline"
	"github.com/ticketview/ticketview/bench/clusterdrv"
	"github.com/ticketview/ticketview/bench/load"
	"github.com/ticketview/ticketview/inmem"
	"github.com/ticketview/ticketview/internal/commerce"
	"github.com/ticketview/ticketview/persistence/journalfile"
	"github.com/ticketview/ticketview/persistence/sqlite"
)

// The direct scenarios ("flash-sale-direct", ...) drive the designs in this process,
// without HTTP: TicketView's engine (actors.Engine) and the baselines' baseline.Store are
// called by the load generator itself. Over HTTP the three targets share the same HTTP
// stack and client, which compresses their differences; in-process, what is left is the
// design and its store.

// directSuffix names a scenario's in-process variant.
const directSuffix = "-direct"

// transportInProcess is the report's transport of the direct scenarios.
const transportInProcess = "in-process"

// directTarget is a target whose design can also be driven in this process.
type directTarget interface {
	// DirectDoc describes the in-process variant, for the report.
	DirectDoc() load.TargetDoc
	// Direct sets up a fresh instance of the design in this process, selling layout.
	Direct(ctx context.Context, layout load.Layout) (inProcess, error)
}

// inProcess is one instance of a design running in this process.
type inProcess interface {
	// Driver drives the instance; after Restart, ask again.
	Driver() load.Driver
	// Restart closes the instance and opens it again on the same data.
	Restart(ctx context.Context) error
	// Close closes the instance. It may be called more than once.
	Close() error
}

// ---- TicketView ----

// DirectDoc describes TicketView's engine in this process.
func (t *tvTarget) DirectDoc() load.TargetDoc {
	feeds := "Left out, unlike cmd/node (and like the baselines, which have none of them): the audit log, the outbox " +
		"feeder (section events into the event log), the live seat-map feed (-direct-feeds adds them)"
	if t.directFeeds {
		feeds = "As in cmd/node (-direct-feeds), the audit log, the outbox feeder (section events into the event log) and " +
			"the live seat-map feed are fed after each group commit and write in the background. Left out: WebSocket " +
			"watchers and the workers that read the event log (analytics, notifications)"
	}
	return load.TargetDoc{Name: "ticketview (in-process)",
		Design: "the -direct scenarios: the same engine (actors.Engine, an actor per section) in the harness's process, " +
			"called by the load generator through ticketview.BookingService (no HTTP, no API layer); catalog in SQLite " +
			"behind the node's venue cache. " + feeds,
		Durability: fmt.Sprintf("acknowledged after the section journal (%s, group commit with fsync) has it; before the "+
			"check the engine and its stores are closed (not killed) and opened again on the same files, recovering "+
			"from the journal", t.journal)}
}

// Direct opens a fresh engine in a directory of its own, with the layout's venue and
// on-sale event in its catalog.
func (t *tvTarget) Direct(ctx context.Context, layout load.Layout) (inProcess, error) {
	dir := filepath.Join(t.dir, "direct-"+layout.Event)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	e := &tvEngine{dir: dir, journal: t.journal, event: layout.Event, feeds: t.directFeeds}
	if err := e.openStores(); err != nil {
		return nil, errors.Join(err, e.Close())
	}
	if err := e.seed(ctx, layout); err != nil {
		return nil, errors.Join(fmt.Errorf("seeding the event: %w", err), e.Close())
	}
	if err := e.start(ctx); err != nil {
		return nil, errors.Join(err, e.Close())
	}
	return e, nil
}

// tvEngine is TicketView's engine on embedded storage, as cmd/node wires it without
// servers (cmd/node/stores.go): the section journal in a journal file (or SQLite), the
// catalog in SQLite.
type tvEngine struct {
	dir, journal, event string
	feeds               bool // feed the audit log, the event log and the live feed

	db     *sqlite.DB
	jf     *journalfile.Store
	engine *actors.Engine
	driver load.Driver
	// What cmd/node feeds after each group commit (cmd/node/main.go), writing in the
	// background: the audit log, the section events into the event log, the live feed.
	audit  *actors.AuditFeeder
	outbox *commerce.OutboxFeeder
	feed   *inmem.DeltaFeed
}

var _ inProcess = (*tvEngine)(nil)

func (e *tvEngine) openStores() error {
	db, err := sqlite.Open(filepath.Join(e.dir, "ticketview.db"))
	if err != nil {
		return err
	}
	e.db = db
	if e.journal != "sqlite" {
		if e.jf, err = journalfile.Open(filepath.Join(e.dir, "journal")); err != nil {
			return err
		}
	}
	return nil
}

// seed writes the layout's venue and on-sale event into the catalog.
func (e *tvEngine) seed(ctx context.Context, layout load.Layout) error {
	v, ev := clusterdrv.Catalog(layout, time.Now())
	if err := v.Validate(); err != nil {
		return fmt.Errorf("venue: %w", err)
	}
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("event: %w", err)
	}
	if err := e.db.CreateVenue(ctx, v); err != nil {
		return err
	}
	return e.db.CreateEvent(ctx, ev)
}

// start starts the engine on the open stores: it activates the event's sections,
// recovering them from the journal.
func (e *tvEngine) start(ctx context.Context) error {
	var journal ticketview.SectionStore = e.db
	if e.jf != nil {
		journal = e.jf
	}
	cfg := actors.Config{Store: journal, Events: e.db, Venues: inmem.NewVenueCache(e.db)}
	if e.feeds {
		e.audit = actors.NewAuditFeeder(e.db, nil)
		e.outbox = commerce.NewOutboxFeeder(e.db, nil)
		e.feed = inmem.NewDeltaFeed(0)
		cfg.Deltas, cfg.Publisher = actors.DeltaFanout{e.feed}, actors.EventFanout{e.audit, e.outbox}
	}
	eng, err := actors.NewEngine(cfg)
	if err != nil {
		return err
	}
	e.engine = eng
	if err := eng.Start(ctx); err != nil {
		return fmt.Errorf("starting the engine: %w", err)
	}
	e.driver = clusterdrv.NewServiceDriver(eng, e.event)
	return nil
}

func (e *tvEngine) Driver() load.Driver { return e.driver }

// Restart closes the engine and the stores and opens them again on the same files.
func (e *tvEngine) Restart(ctx context.Context) error {
	if err := e.Close(); err != nil {
		return err
	}
	if err := e.openStores(); err != nil {
		return err
	}
	return e.start(ctx)
}

// Close stops the engine (after the commands sent to it), then closes the journal and
// the database.
func (e *tvEngine) Close() error {
	var errs []error
	if e.engine != nil {
		errs = append(errs, e.engine.Close())
		e.engine = nil
	}
	if e.audit != nil { // writes what is queued
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		e.audit.Close(ctx)
		cancel()
		e.audit = nil
	}
	if e.outbox != nil {
		e.outbox.Close()
		e.outbox = nil
	}
	if e.feed != nil {
		errs = append(errs, e.feed.Close())
		e.feed = nil
	}
	if e.jf != nil {
		errs = append(errs, e.jf.Close())
		e.jf = nil
	}
	if e.db != nil {
		errs = append(errs, e.db.Close())
		e.db = nil
	}
	e.driver = nil
	return errors.Join(errs...)
}

// ---- the baselines ----

// DirectDoc describes the baseline's store in this process.
func (t *baseTarget) DirectDoc() load.TargetDoc {
	d := baseline.Describe(t.kind)
	d.Name = t.kind + " (in-process)"
	d.Design = "the -direct scenarios: the same store (baseline.Store) in the harness's process, called by the load " +
		"generator without HTTP. " + d.Design
	d.Durability += " Before the check the store is closed and opened again (not killed)."
	return d
}

// directConfig is the store's configuration in this process: a schema and a key prefix of
// its own, apart from the child process's.
func (t *baseTarget) directConfig() baseline.Config {
	cfg := t.cfg
	cfg.Schema = cfg.Schema + "_" + t.kind + "_direct"
	cfg.Prefix = strings.TrimSuffix(cfg.Prefix, ":") + "-direct:" // not under the child's prefix
	return cfg
}

// Direct opens the store in this process and sets the layout up in it.
func (t *baseTarget) Direct(ctx context.Context, layout load.Layout) (inProcess, error) {
	b := &baseStore{kind: t.kind, cfg: t.directConfig()}
	s, err := baseline.Open(ctx, b.kind, b.cfg)
	if err != nil {
		return nil, err
	}
	b.store = s
	if err := s.Setup(ctx, layout); err != nil {
		return nil, errors.Join(fmt.Errorf("%s: setup: %w", t.kind, err), b.Close())
	}
	return b, nil
}

// baseStore is a baseline store open in this process.
type baseStore struct {
	kind  string
	cfg   baseline.Config
	store baseline.Store
}

var _ inProcess = (*baseStore)(nil)

func (b *baseStore) Driver() load.Driver { return storeDriver{b.store} }

// Restart closes the store and opens it again: it serves the sale set up before.
func (b *baseStore) Restart(ctx context.Context) error {
	if err := b.Close(); err != nil {
		return err
	}
	s, err := baseline.Open(ctx, b.kind, b.cfg)
	if err != nil {
		return err
	}
	b.store = s
	return nil
}

func (b *baseStore) Close() error {
	if b.store == nil {
		return nil
	}
	err := b.store.Close()
	b.store = nil
	return err
}

// storeDriver is load.Driver over a baseline.Store, answering with the status codes its
// HTTP handler gives (baseline.Handler).
type storeDriver struct{ s baseline.Store }

var _ load.Driver = storeDriver{}

func (d storeDriver) Hold(ctx context.Context, buyer, section string, req load.HoldRequest) (load.Hold, load.Status) {
	h, err := d.s.Hold(ctx, buyer, section, req)
	if err != nil {
		return load.Hold{}, storeStatus(err)
	}
	return h, load.Status{Code: http.StatusCreated}
}

func (d storeDriver) Release(ctx context.Context, buyer, section, token string) load.Status {
	if err := d.s.Release(ctx, buyer, section, token); err != nil {
		return storeStatus(err)
	}
	return load.Status{Code: http.StatusNoContent}
}

// Confirm sells the hold with the payment reference the HTTP driver sends.
func (d storeDriver) Confirm(ctx context.Context, buyer, section, token string) (load.Booking, load.Status) {
	b, err := d.s.Confirm(ctx, buyer, section, token, "bench-"+token)
	if err != nil {
		return load.Booking{}, storeStatus(err)
	}
	return b, load.Status{Code: http.StatusCreated}
}

func (d storeDriver) Section(ctx context.Context, section string) (load.Availability, error) {
	return d.s.Section(ctx, section)
}

// Close does nothing: the store belongs to its baseStore.
func (storeDriver) Close() error { return nil }

// storeStatus is the HTTP status baseline.Handler answers a store error with.
func storeStatus(err error) load.Status {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, baseline.ErrConflict):
		code = http.StatusConflict
	case errors.Is(err, baseline.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, baseline.ErrInvalid):
		code = http.StatusBadRequest
	}
	return load.Status{Code: code, Err: err}
}
