package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/internal/testutil"
	"github.com/ticketview/ticketview/persistence/postgres"
	"github.com/ticketview/ticketview/pipeline"
)

var _ pipeline.Locker = (*postgres.AdvisoryLock)(nil)

// randomKey returns an advisory key of the test's own (advisory locks are database-wide,
// not per schema), negative half the time.
func randomKey() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.LittleEndian.Uint64(b[:]))
}

func tryLock(t *testing.T, ctx context.Context, l *postgres.AdvisoryLock) bool {
	t.Helper()
	ok, err := l.TryLock(ctx)
	if err != nil {
		t.Fatalf("TryLock: %v", err)
	}
	return ok
}

// TestAdvisoryLock: of two locks of one key (here of two stores) one wins; taking it
// again confirms it without taking it twice; once unlocked, the other takes it.
func TestAdvisoryLock(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	key := randomKey()
	a := openTest(t).AdvisoryLock(key)
	b := openTest(t).AdvisoryLock(key)
	other := openTest(t).AdvisoryLock(key ^ 1)
	if !tryLock(t, ctx, a) {
		t.Fatal("a: the free lock was not taken")
	}
	if tryLock(t, ctx, b) {
		t.Fatal("b took the lock a holds")
	}
	if !tryLock(t, ctx, other) {
		t.Fatal("the lock of another key was not taken")
	}
	for range 3 {
		if !tryLock(t, ctx, a) {
			t.Fatal("a: the lock it holds not confirmed")
		}
	}
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	// Had a's confirmations taken the lock again, one Unlock would not have freed it.
	if !tryLock(t, ctx, b) {
		t.Fatal("b: the lock a released was not taken")
	}
	if tryLock(t, ctx, a) {
		t.Fatal("a took the lock b holds")
	}
	if err := b.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Unlock(ctx); err != nil {
		t.Fatalf("Unlock of a lock not held: %v", err)
	}
}

// TestAdvisoryLockLost: when the lock's session is killed, the lock is lost: another
// takes it, and the first one's TryLock reports false, until the other releases it.
func TestAdvisoryLockLost(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	key := randomKey()
	db := openTest(t)
	a, b := db.AdvisoryLock(key), db.AdvisoryLock(key)
	if !tryLock(t, ctx, a) {
		t.Fatal("a: the free lock was not taken")
	}
	tag, err := db.Pool().Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 1
		AND classid = (($1::bigint >> 32) & 4294967295)::oid AND objid = ($1::bigint & 4294967295)::oid`, key)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("terminate the lock's session: %v, %d sessions", err, tag.RowsAffected())
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		if !tryLock(t, ctx, b) {
			return errors.New("b cannot take the lost lock yet")
		}
		return nil
	})
	if tryLock(t, ctx, a) {
		t.Fatal("a still thinks it holds the lock it lost")
	}
	if err := b.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if !tryLock(t, ctx, a) {
		t.Fatal("a: the lock was not taken again")
	}
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAdvisoryLockClosed: after the store's Close, TryLock is EUNAVAILABLE.
func TestAdvisoryLockClosed(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	db := openTest(t)
	l := db.AdvisoryLock(randomKey())
	if !tryLock(t, ctx, l) {
		t.Fatal("the free lock was not taken")
	}
	db.Close() // does not wait for the lock
	if _, err := l.TryLock(ctx); ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		t.Fatalf("TryLock after Close: %v, want EUNAVAILABLE", err)
	}
	if err := l.Unlock(ctx); err != nil {
		t.Fatalf("Unlock after Close: %v", err)
	}
}
