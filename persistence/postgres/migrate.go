package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ticketview/ticketview"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// migration is one embedded schema file, migrations/NNNN_name.sql.
type migration struct {
	version int
	name    string
	body    string
}

func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationsFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, n := range names {
		base := path.Base(n)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil || v <= 0 {
			return nil, ticketview.Errorf(ticketview.EINTERNAL, "migration %s: the name must start with a positive version", base)
		}
		body, err := migrationsFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, body: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, ticketview.Errorf(ticketview.EINTERNAL, "migrations %s and %s have the same version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// SchemaVersion is the schema version this build migrates to.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// migrationLock takes the transaction-scoped advisory lock that serializes migrations of
// the current schema. Its key is derived from the schema's name, so migrations of other
// schemas (other installations, parallel tests) do not wait for each other.
const migrationLock = `SELECT pg_advisory_xact_lock(hashtextextended('ticketview.migrate/' || current_schema(), 0))`

// Migrate brings the schema of the database at url (its current schema: the first of the
// search_path that exists) up to this build's version and returns. It is what Open does
// first, for a `node migrate` command; it is safe to run from several processes at once.
func Migrate(ctx context.Context, url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	applyConnConfig(cfg, Options{}.withDefaults())
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return storeErr("migrate", err)
	}
	defer conn.Close(context.Background())
	if err := migrate(ctx, conn); err != nil {
		return storeErr("migrate", err)
	}
	return nil
}

// migrate applies the migrations the schema lacks, all in one transaction, recording each
// in schema_migrations. Several nodes starting at once each take the schema's advisory
// lock, then look again at the version: the first applies the migrations, the others
// find them applied. A schema newer than this build's is refused.
func migrate(ctx context.Context, conn *pgx.Conn) (err error) {
	ms, err := migrations()
	if err != nil {
		return err
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].version
	}
	// Up to date already: the common case, without a lock or a transaction.
	var schema *string
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT current_schema(), to_regclass('schema_migrations') IS NOT NULL`).Scan(&schema, &exists); err != nil {
		return err
	}
	if schema == nil {
		return ticketview.Errorf(ticketview.EINTERNAL, "postgres: migrate: no schema to migrate: none of the search_path exists")
	}
	if exists {
		cur, err := schemaVersion(ctx, conn)
		if err != nil {
			return err
		}
		if cur > latest {
			return newerSchema(*schema, cur, latest)
		}
		if cur == latest {
			return nil
		}
	}

	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback(context.Background())
		}
	}()
	if _, err := tx.Exec(ctx, migrationLock); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    int PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	// Another node may have migrated while we waited for the lock.
	cur, err := schemaVersion(ctx, tx.Conn())
	if err != nil {
		return err
	}
	if cur > latest {
		return newerSchema(*schema, cur, latest)
	}
	for _, m := range ms {
		if m.version <= cur {
			continue
		}
		if _, err := tx.Exec(ctx, m.body, pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return tx.Commit(ctx)
}

func newerSchema(schema string, cur, latest int) error {
	return ticketview.Errorf(ticketview.EINTERNAL, "postgres: migrate: schema %s is at version %d, newer than this build's %d", schema, cur, latest)
}

func schemaVersion(ctx context.Context, conn *pgx.Conn) (int, error) {
	var v int
	err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}
