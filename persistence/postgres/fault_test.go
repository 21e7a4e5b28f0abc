package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/internal/testutil"
	"github.com/ticketview/ticketview/internal/testutil/pgtest"
	"github.com/ticketview/ticketview/internal/testutil/tcpproxy"
	"github.com/ticketview/ticketview/persistence/postgres"
	"github.com/ticketview/ticketview/persistence/storetest"
)

// openProxied opens a store on a fresh schema through a proxy the test can cut.
func openProxied(t *testing.T, opts postgres.Options) (*postgres.DB, *tcpproxy.Proxy) {
	t.Helper()
	u, err := url.Parse(pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	p := tcpproxy.New(t, u.Host)
	return openURL(t, pgtest.WithHost(pgtest.URL(t), p.Addr()), opts), p
}

// wantUnavailable checks that err is a store failure, EUNAVAILABLE with the store's
// message, and that it came within limit.
func wantUnavailable(t *testing.T, what string, err error, took, limit time.Duration) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want EUNAVAILABLE", what)
	}
	var te *ticketview.Error
	if !errors.As(err, &te) || te.Code != ticketview.EUNAVAILABLE || storetest.IsFenced(err) ||
		!strings.HasPrefix(te.Message, "postgres: unavailable: ") {
		t.Fatalf("%s: %v (code %q), want an EUNAVAILABLE *ticketview.Error saying \"postgres: unavailable: ...\"", what, err, ticketview.ErrorCode(err))
	}
	if took > limit {
		t.Fatalf("%s: failed after %v, want within %v", what, took, limit)
	}
}

func timed(f func() error) (error, time.Duration) {
	start := time.Now()
	err := f()
	return err, time.Since(start)
}

// TestServerDown: while the server is unreachable every call fails fast with
// EUNAVAILABLE; when it is back, the same DB works again, and nothing of the failed
// calls was written.
func TestServerDown(t *testing.T) {
	t.Parallel()
	db, p := openProxied(t, postgres.Options{ConnectTimeout: 2 * time.Second})
	ctx := testCtx(t)
	id := storetest.NewSectionID()
	epoch, _, _, err := db.Activate(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	all := storetest.SampleEvents(1, 4, storetest.BaseTime)
	if err := db.Append(ctx, id, epoch, all[:2]); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateEvent(ctx, storetest.SampleEvent("gig-1", "hall-1", storetest.BaseTime)); err != nil {
		t.Fatal(err)
	}

	p.Down()
	const fast = 3 * time.Second // the connect timeout, and then some
	err, took := timed(func() error { return db.Append(ctx, id, epoch, all[2:3]) })
	wantUnavailable(t, "append while the server is down", err, took, fast)
	err, took = timed(func() error { _, _, _, err := db.Activate(ctx, id); return err })
	wantUnavailable(t, "activate while the server is down", err, took, fast)
	err, took = timed(func() error { return db.SaveSnapshot(ctx, id, epoch, storetest.SampleSnapshot(2, 10)) })
	wantUnavailable(t, "snapshot while the server is down", err, took, fast)
	err, took = timed(func() error { _, err := db.FindEvent(ctx, "gig-1"); return err })
	wantUnavailable(t, "find event while the server is down", err, took, fast)
	err, took = timed(func() error { return db.CreateVenue(ctx, storetest.SampleVenue("hall-1")) })
	wantUnavailable(t, "create venue while the server is down", err, took, fast)

	p.Up()
	// The pool reconnects by itself: the very next calls work. The activation made while
	// the server was down never reached it, so the epoch still owns the section.
	if err := db.Append(ctx, id, epoch, all[2:3]); err != nil {
		t.Fatalf("append after the server came back: %v", err)
	}
	if _, err := db.FindEvent(ctx, "gig-1"); err != nil {
		t.Fatalf("find event after the server came back: %v", err)
	}
	_, snap, evs, err := db.Activate(ctx, id)
	if err != nil {
		t.Fatalf("activate after the server came back: %v", err)
	}
	if snap != nil || !reflect.DeepEqual(evs, all[:3]) {
		t.Fatalf("after the outage: snapshot %v, %d events; want none and events 1-3", snap, len(evs))
	}
}

// TestUnresponsiveServer: a server that accepts connections but never answers makes
// Open fail within the connect timeout.
func TestUnresponsiveServer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	u := pgtest.WithHost(pgtest.URL(t), ln.Addr().String())
	err, took := timed(func() error {
		db, err := postgres.Open(testCtx(t), u, postgres.Options{ConnectTimeout: 300 * time.Millisecond})
		if err == nil {
			db.Close()
		}
		return err
	})
	wantUnavailable(t, "open on a server that does not answer", err, took, 2*time.Second)
}

// TestCommitBoundedByCallers: a group commit that cannot finish (here, the section's row
// is locked by someone else) is abandoned when its callers' deadlines pass, even with a
// long CommitTimeout; it wrote nothing, and the store goes on working.
func TestCommitBoundedByCallers(t *testing.T) {
	t.Parallel()
	db := openURL(t, pgtest.URL(t), postgres.Options{CommitTimeout: time.Minute})
	ctx := testCtx(t)
	id := storetest.NewSectionID()
	epoch, _, _, err := db.Activate(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM journal_sections WHERE event_id = $1 AND section_id = $2 FOR UPDATE`, id.Event, id.Section); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err, took := timed(func() error { return db.Append(short, id, epoch, storetest.SampleEvents(1, 1, storetest.BaseTime)) })
	wantUnavailable(t, "append blocked past its deadline", err, took, 2*time.Second)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Append(ctx, id, epoch, storetest.SampleEvents(1, 1, storetest.BaseTime)); err != nil {
		t.Fatalf("append after the blocked one: %v", err)
	}
	if _, _, evs, err := db.Activate(ctx, id); err != nil || len(evs) != 1 {
		t.Fatalf("%d events, %v; want only the second append's", len(evs), err)
	}
}

// TestCutDuringAppends cuts every connection to the server again and again while 8
// sections append: each append either fails (EUNAVAILABLE) or is acknowledged, and every
// acknowledged event is in the journal afterwards. After a failure a writer activates
// anew and continues from the journal's end, as the section actor does.
func TestCutDuringAppends(t *testing.T) {
	t.Parallel()
	db, p := openProxied(t, postgres.Options{})
	ctx := testCtx(t)
	const sections, cuts, appendsBetweenCuts = 8, 6, 30
	var acks, failures atomic.Int64
	var stop atomic.Bool
	acked := make([]map[uint64]ticketview.SectionEvent, sections)
	ids := make([]ticketview.SectionID, sections)
	var wg sync.WaitGroup
	for i := range sections {
		ids[i] = storetest.NewSectionID()
		acked[i] = map[uint64]ticketview.SectionEvent{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := ids[i]
			// activate retries until it works, checking that nothing acknowledged is lost.
			activate := func() (uint64, uint64, bool) {
				deadline := time.Now().Add(30 * time.Second)
				for {
					epoch, _, evs, err := db.Activate(ctx, id)
					if err == nil {
						for seq, ev := range acked[i] {
							if seq > uint64(len(evs)) || !reflect.DeepEqual(evs[seq-1], ev) {
								t.Errorf("section %s: acknowledged event %d lost", id, seq)
								return 0, 0, false
							}
						}
						return epoch, uint64(len(evs)) + 1, true
					}
					if ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE || time.Now().After(deadline) {
						t.Errorf("section %s: activate: %v", id, err)
						return 0, 0, false
					}
					time.Sleep(5 * time.Millisecond) // back off before trying again
				}
			}
			epoch, next, ok := activate()
			for ok && !stop.Load() {
				evs := storetest.SampleEvents(next, 1+int(next%3), storetest.BaseTime)
				err := db.Append(ctx, id, epoch, evs)
				if err == nil {
					for _, ev := range evs {
						acked[i][ev.Seq] = ev
					}
					next += uint64(len(evs))
					acks.Add(1)
					continue
				}
				if ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE || storetest.IsFenced(err) {
					t.Errorf("section %s: append: %v, want EUNAVAILABLE", id, err)
					return
				}
				failures.Add(1)
				epoch, next, ok = activate() // the failed append may or may not be there
			}
		}()
	}
	waitAcks := func() {
		target := acks.Load() + appendsBetweenCuts
		testutil.CheckFor(t, 30*time.Second, func() error {
			if n := acks.Load(); n < target {
				return fmt.Errorf("%d appends acknowledged, waiting for %d", n, target)
			}
			return nil
		})
	}
	for range cuts {
		waitAcks()
		p.Cut()
	}
	waitAcks() // and it goes on after the last cut
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, id := range ids {
		_, _, evs, err := db.Activate(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for seq, ev := range acked[i] {
			if seq > uint64(len(evs)) || !reflect.DeepEqual(evs[seq-1], ev) {
				t.Fatalf("section %s: acknowledged event %d lost", id, seq)
			}
		}
	}
	t.Logf("%d appends acknowledged, %d failed across %d cuts; stats %+v", acks.Load(), failures.Load(), cuts, db.Stats())
}

// TestSurvivesKill runs the storetest kill test: a child process appends to the store
// and is killed with SIGKILL mid-stream; every append it acknowledged is found. The
// suite's store path becomes a schema of its own on the test server.
func TestSurvivesKill(t *testing.T) {
	t.Parallel()
	storetest.TestSurvivesKill(t, 400, func(path string) (ticketview.SectionStore, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return postgres.Open(ctx, schemaForPath(t, path), postgres.Options{})
	})
}

// schemaForPath returns the URL of a schema named after path (the parent test and its
// child process derive the same one), creating it if needed; the test that creates it
// drops it when it ends.
func schemaForPath(t *testing.T, path string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(path))
	schema := "k_" + hex.EncodeToString(sum[:8])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tag, err := conn.Exec(ctx, `SELECT 1 FROM pg_namespace WHERE nspname = $1`, schema)
	if err != nil {
		t.Fatal(err)
	}
	if tag.RowsAffected() == 0 {
		if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
			t.Fatal(err)
		}
	}
	// The parent drops it when it ends; the child is killed before its cleanups run.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, pgtest.ServerURL()); err == nil {
			conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			conn.Close(ctx)
		}
	})
	return pgtest.WithParam(pgtest.ServerURL(), "search_path", schema)
}

// TestCommitOutcomeUnknown: the connection is lost after COMMIT was sent (here, the
// server process of the committer is terminated while its writes wait for a lock), so
// nobody knows whether the append was committed: it fails, and so do later appends of
// the same activation, until the section is activated again.
func TestCommitOutcomeUnknown(t *testing.T) {
	t.Parallel()
	db := openURL(t, pgtest.URL(t), postgres.Options{Committers: 1})
	ctx := testCtx(t)
	d := newDomainSection(t, db, storetest.NewSectionID(), seatedLayout())
	d.hold("tok-a", "asha", "A-1")

	// Someone holds the hold's row: the release's writes will wait for it, after COMMIT
	// has gone out in the same pipeline.
	blocker, err := db.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(ctx)
	var pid int
	if err := blocker.QueryRow(ctx, `SELECT pg_backend_pid() FROM holds WHERE event_id = $1 AND section_id = $2 AND token = 'tok-a' FOR UPDATE`,
		d.id.Event, d.id.Section).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	d.now = d.now.Add(time.Second)
	if err := d.sec.Release("tok-a", "asha", "", d.now); err != nil {
		t.Fatal(err)
	}
	release := d.sec.TakeEvents()
	wait := db.AppendAsync(ctx, d.id, d.epoch, release)
	var committer int
	testutil.CheckFor(t, 10*time.Second, func() error {
		err := db.Pool().QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, pid).Scan(&committer)
		if err != nil {
			return fmt.Errorf("the committer is not waiting for the hold's row yet: %w", err)
		}
		return nil
	})
	if _, err := db.Pool().Exec(ctx, `SELECT pg_terminate_backend($1)`, committer); err != nil {
		t.Fatal(err)
	}
	if err := wait(); ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
		t.Fatalf("append whose connection was lost at commit: %v, want EUNAVAILABLE", err)
	}
	// The same activation may not go on: the journal may or may not have the release.
	err = db.Append(ctx, d.id, d.epoch, release)
	if ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE || !strings.Contains(err.Error(), "activate the section again") {
		t.Fatalf("append after an append of unknown outcome: %v, want EUNAVAILABLE asking for a new activation", err)
	}
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// A new activation finds out: the release was not committed, and can be appended.
	epoch, _, evs, err := db.Activate(ctx, d.id)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Type != ticketview.EvHoldPlaced {
		t.Fatalf("journal after the lost commit: %d events, want the hold only", len(evs))
	}
	if err := db.Append(ctx, d.id, epoch, release); err != nil {
		t.Fatalf("append by the new activation: %v", err)
	}
	if n := len(holdRows(t, db, d.id)); n != 0 {
		t.Fatalf("%d holds rows after the release", n)
	}
}
