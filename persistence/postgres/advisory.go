package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Queries of the advisory lock. A bigint advisory key is shown in pg_locks split in two:
// its high 32 bits in classid, its low 32 bits in objid, with objsubid 1.
const (
	qTryAdvisoryLock = `SELECT pg_try_advisory_lock($1)`
	qAdvisoryUnlock  = `SELECT pg_advisory_unlock($1)`
	qAdvisoryHeld    = `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND pid = pg_backend_pid() AND objsubid = 1
		AND classid = (($1::bigint >> 32) & 4294967295)::oid AND objid = ($1::bigint & 4294967295)::oid)`
)

// closeTimeout bounds closing the lock's connection when it is given up.
const closeTimeout = 2 * time.Second

// AdvisoryLock is a PostgreSQL session-level advisory lock on a key, held on a
// connection of its own: the lock that lets one node's outbox relay run at a time
// (it implements pipeline.Locker). The connection is opened with the pool's settings but
// outside the pool, so that a lock held does not keep Close waiting. It is safe for
// concurrent use; two AdvisoryLocks of one key, of one process or of several, exclude
// each other.
type AdvisoryLock struct {
	db  *DB
	key int64

	mu   sync.Mutex
	conn *pgx.Conn // the session holding the lock; nil when not held
}

// AdvisoryLock returns the advisory lock of key, not taken.
func (db *DB) AdvisoryLock(key int64) *AdvisoryLock {
	return &AdvisoryLock{db: db, key: key}
}

// TryLock takes the lock if it is free and reports whether it holds it. While it holds
// the lock, TryLock only confirms that its session is alive and still holds it (the lock
// is not taken twice). If the session was lost (a dropped connection, a restarted
// server), so was the lock: TryLock gives the session up and tries to take the lock
// anew, reporting false (with EUNAVAILABLE if the server cannot be reached) unless that
// succeeds. After the store's Close, it fails with EUNAVAILABLE.
func (l *AdvisoryLock) TryLock(ctx context.Context) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.db.open(); err != nil {
		return false, err
	}
	if l.conn != nil {
		var held bool
		err := l.conn.QueryRow(ctx, qAdvisoryHeld, l.key).Scan(&held)
		if err == nil && held {
			return true, nil
		}
		l.drop() // lost, or unknown: closing the session releases it if it was still held
		if ctx.Err() != nil {
			return false, storeErr("confirm the advisory lock", err)
		}
	}
	return l.take(ctx)
}

// take opens a session and tries to take the lock in it.
func (l *AdvisoryLock) take(ctx context.Context) (bool, error) {
	conn, err := pgx.ConnectConfig(ctx, l.db.pool.Config().ConnConfig.Copy())
	if err != nil {
		return false, storeErr("connect for the advisory lock", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, qTryAdvisoryLock, l.key).Scan(&ok); err != nil || !ok {
		closeConn(conn)
		return false, storeErr("take the advisory lock", err)
	}
	l.conn = conn
	return true, nil
}

// Unlock releases the lock, if held, and closes its session. Should the unlock fail, the
// session is closed all the same, which releases the lock on the server; the error is
// returned for the logs.
func (l *AdvisoryLock) Unlock(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return nil
	}
	_, err := l.conn.Exec(ctx, qAdvisoryUnlock, l.key)
	l.drop()
	return storeErr("release the advisory lock", err)
}

// drop closes the lock's session.
func (l *AdvisoryLock) drop() {
	closeConn(l.conn)
	l.conn = nil
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = conn.Close(ctx)
}
