// Package sqlite is TicketView's embedded durable store: section journals and snapshots,
// events and venues in one SQLite file (modernc.org/sqlite, pure Go).
//
// Every write goes through one committer goroutine that owns the only writer connection
// and merges whatever writes are queued into one transaction, so one fsync makes many
// concurrent appends durable (group commit); under load it pauses briefly to let the
// callers it just answered join the next batch (see gather). Durability: WAL mode with
// synchronous=FULL, so a write is acknowledged only after its commit was fsynced. Reads
// (Activate's journal read, Find*, ListEvents) use a separate pool of read-only
// connections; in WAL mode they never wait for the writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/internal/groupcommit"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var (
	_ ticketview.SectionStore = (*DB)(nil)
	_ ticketview.EventStore   = (*DB)(nil)
	_ ticketview.VenueStore   = (*DB)(nil)
)

//go:embed schema/*.sql
var schemaFS embed.FS

const (
	maxBatch      = 256  // most requests merged into one transaction
	queueSize     = 4096 // requests waiting for the committer
	busyTimeoutMS = 5000
)

// DB is a TicketView store in one SQLite file. It is safe for concurrent use.
type DB struct {
	path   string
	writer *sql.DB // one connection, owned by the committer
	reader *sql.DB // read-only connections

	queue   *groupcommit.Queue[*request]
	closeMu sync.Mutex
	closed  bool
	cerr    error

	c *committer

	readStmts sync.Map // query text -> *sql.Stmt prepared on the read pool
}

// Open opens (creating it and its directory if needed) the database file at path, brings
// its schema up to date and starts the committer.
func Open(path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	writer, err := sql.Open("sqlite", dsn(abs, url.Values{
		"_busy_timeout": {strconv.Itoa(busyTimeoutMS)},
		"_journal_mode": {"WAL"},
		"_synchronous":  {synchronous}, // FULL: the WAL is synced at every commit, durable on power loss
		"_foreign_keys": {"1"},
		"_pragma":       {"temp_store(MEMORY)"}, // statement journals of multi-row statements stay off disk
	}))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	ctx := context.Background()
	conn, err := writer.Conn(ctx)
	if err == nil {
		err = migrate(ctx, conn)
	}
	if err == nil {
		// The database and its WAL may have just been created: make their names durable.
		err = syncDir(filepath.Dir(abs))
	}
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	reader, err := sql.Open("sqlite", dsn(abs, url.Values{
		"_busy_timeout": {strconv.Itoa(busyTimeoutMS)},
		"_query_only":   {"1"},
	}))
	if err != nil {
		conn.Close()
		writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)

	c, err := newCommitter(ctx, conn)
	if err != nil {
		conn.Close()
		writer.Close()
		reader.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db := &DB{
		path:   abs,
		writer: writer,
		reader: reader,
		queue: groupcommit.New[*request](groupcommit.Config{
			Size: queueSize, MaxBatch: maxBatch, Closed: errClosed,
			GatherMin: gatherMin, GatherQuiet: gatherQuiet, GatherMax: gatherMax,
		}),
		c: c,
	}
	go db.run()
	if err := db.prepareReads(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// dsn builds a file: URI, so any path works, with the driver's connection parameters.
func dsn(abs string, params url.Values) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: params.Encode()}
	return u.String()
}

// Close stops the committer, failing writes still queued with EUNAVAILABLE, and closes
// the database. Writes already acknowledged are durable.
func (db *DB) Close() error {
	db.closeMu.Lock()
	defer db.closeMu.Unlock()
	if db.closed {
		return db.cerr
	}
	db.closed = true
	db.queue.Close()
	errs := []error{db.c.close()}
	db.readStmts.Range(func(_, s any) bool {
		errs = append(errs, s.(*sql.Stmt).Close())
		return true
	})
	db.cerr = errors.Join(append(errs, db.reader.Close(), db.writer.Close())...)
	return db.cerr
}

// Path is the absolute path of the database file.
func (db *DB) Path() string { return db.path }

// migrate applies the embedded schema files (schema/NNNN_name.sql) not yet recorded in
// schema_migrations, in version order, each in its own transaction. A file is applied
// when its own version is missing, not when it is above the highest recorded one, so a
// database that got a later file first (from a build that lacked an earlier one) still
// gets the earlier file. It refuses a database with a version this build does not know
// (a newer schema), and a build with two files of the same version.
func migrate(ctx context.Context, conn *sql.Conn) error { return migrateFrom(ctx, conn, schemaFS) }

// migrateFrom is migrate with the schema files (schema/*.sql) of fsys.
func migrateFrom(ctx context.Context, conn *sql.Conn, fsys fs.FS) error {
	type migration struct {
		version int
		name    string
	}
	names, err := fs.Glob(fsys, "schema/*.sql")
	if err != nil {
		return err
	}
	var ms []migration
	for _, n := range names {
		base := filepath.Base(n)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil || v <= 0 {
			return fmt.Errorf("schema file %s: name must start with a positive version", base)
		}
		ms = append(ms, migration{v, n})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	known := make(map[int]bool, len(ms))
	for i, m := range ms {
		if i > 0 && m.version == ms[i-1].version {
			return fmt.Errorf("schema files %s and %s have the same version", filepath.Base(ms[i-1].name), filepath.Base(m.name))
		}
		known[m.version] = true
	}

	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))`); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	applied, err := appliedVersions(ctx, conn)
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	unknown := 0
	for v := range applied {
		if !known[v] {
			unknown = max(unknown, v)
		}
	}
	if unknown > 0 {
		latest := 0
		if len(ms) > 0 {
			latest = ms[len(ms)-1].version
		}
		return fmt.Errorf("schema version %d is newer than this build's %d (or unknown to it)", unknown, latest)
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		body, err := fs.ReadFile(fsys, m.name)
		if err != nil {
			return err
		}
		if err := applyMigration(ctx, conn, m.version, filepath.Base(m.name), string(body)); err != nil {
			return fmt.Errorf("schema %s: %w", filepath.Base(m.name), err)
		}
	}
	return nil
}

// appliedVersions reads the versions recorded in schema_migrations.
func appliedVersions(ctx context.Context, conn *sql.Conn) (map[int]bool, error) {
	rows, err := conn.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		applied[v] = true
	}
	return applied, rows.Err()
}

// migrationData fills, by Go code, the tables a schema file creates, after its SQL and
// in its transaction; by file name.
var migrationData = map[string]func(ctx context.Context, conn *sql.Conn) error{
	"0004_bookings.sql": backfillBookings,
}

func applyMigration(ctx context.Context, conn *sql.Conn, version int, name, body string) (err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	// Another process may have applied it since we looked.
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		_, err = conn.ExecContext(ctx, "COMMIT")
		return err
	}
	if _, err := conn.ExecContext(ctx, body); err != nil {
		return err
	}
	if fill := migrationData[name]; fill != nil { // data the new tables need, in the same transaction
		if err := fill(ctx, conn); err != nil {
			return err
		}
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES (?, ?)`, version, name); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}

// readStmt returns the query prepared on the read pool (prepared once, and on each read
// connection as it first runs it). Never call it inside a read transaction: preparing
// takes a connection of its own, and with every connection in a transaction waiting for
// one, the pool would deadlock.
func (db *DB) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := db.readStmts.Load(query); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := db.reader.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.readStmts.LoadOrStore(query, s); loaded {
		s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

// Read queries with a fixed text, prepared by Open.
const (
	qSectionLastSeq = `SELECT last_seq FROM sections WHERE id = ?`
	qSnapshot       = `SELECT seq, data FROM snapshots WHERE section_id = ?`
	qJournal        = `SELECT first_seq, last_seq, data FROM journal WHERE section_id = ? AND last_seq > ? ORDER BY first_seq`
	qJournalCount   = `SELECT count(*) FROM journal WHERE section_id = ?`
	qVenue          = `SELECT data FROM venues WHERE id = ?`
	qEvent          = `SELECT data FROM events WHERE id = ?`
)

func (db *DB) prepareReads(ctx context.Context) error {
	for _, q := range []string{qSectionLastSeq, qSnapshot, qJournal, qJournalCount, qVenue, qEvent} {
		if _, err := db.readStmt(ctx, q); err != nil {
			return fmt.Errorf("prepare %q: %w", q, err)
		}
	}
	return nil
}

// stmt returns a read statement prepared by Open (or prepareReads), for use in tx if not nil.
func (db *DB) stmt(ctx context.Context, tx *sql.Tx, query string) *sql.Stmt {
	s, ok := db.readStmts.Load(query)
	if !ok {
		panic("sqlite: read query not prepared: " + query)
	}
	if tx != nil {
		return tx.StmtContext(ctx, s.(*sql.Stmt))
	}
	return s.(*sql.Stmt)
}

// unavailable wraps a storage failure: its code is EUNAVAILABLE and errors.Is still
// finds the cause.
func unavailable(op string, err error) error {
	return fmt.Errorf("sqlite: %s: %w: %w", op, ticketview.ErrUnavailable, err)
}

// errClosed answers requests made after Close.
var errClosed = fmt.Errorf("sqlite: database closed: %w", ticketview.ErrUnavailable)

// synchronous is the writer's PRAGMA synchronous. Only benchmarks change it, to measure
// the committer without fsync.
var synchronous = "FULL"
