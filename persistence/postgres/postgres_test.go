package postgres_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/internal/testutil/pgtest"
	"github.com/ticketview/ticketview/persistence/postgres"
	"github.com/ticketview/ticketview/persistence/storetest"
)

// openURL opens the store at url, closing it when the test ends.
func openURL(t testing.TB, url string, opts postgres.Options) *postgres.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := postgres.Open(ctx, url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openTest opens a store on a fresh schema of its own.
func openTest(t testing.TB) *postgres.DB {
	t.Helper()
	return openURL(t, pgtest.URL(t), postgres.Options{})
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestSectionStore(t *testing.T) {
	t.Parallel()
	storetest.TestSectionStore(t, func(t *testing.T) ticketview.SectionStore { return openTest(t) })
}

func TestCatalog(t *testing.T) {
	t.Parallel()
	storetest.TestCatalog(t, func(t *testing.T) (ticketview.EventStore, ticketview.VenueStore) {
		db := openTest(t)
		return db, db
	})
}

// TestClosed: after Close, calls fail with EUNAVAILABLE; appends acknowledged before are
// there for the next Open.
func TestClosed(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	u := pgtest.URL(t)
	db := openURL(t, u, postgres.Options{})
	id := storetest.NewSectionID()
	epoch, _, _, err := db.Activate(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Append(ctx, id, epoch, storetest.SampleEvents(1, 3, storetest.BaseTime)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for what, err := range map[string]error{
		"append":   db.Append(ctx, id, epoch, storetest.SampleEvents(4, 1, storetest.BaseTime)),
		"activate": func() error { _, _, _, err := db.Activate(ctx, id); return err }(),
		"find":     func() error { _, err := db.FindEvent(ctx, "gig"); return err }(),
	} {
		if ticketview.ErrorCode(err) != ticketview.EUNAVAILABLE {
			t.Errorf("%s after Close: %v, want EUNAVAILABLE", what, err)
		}
	}
	_, _, evs, err := openURL(t, u, postgres.Options{}).Activate(ctx, id)
	if err != nil || !reflect.DeepEqual(evs, storetest.SampleEvents(1, 3, storetest.BaseTime)) {
		t.Fatalf("after reopening: %d events, %v; want the 3 acknowledged", len(evs), err)
	}
}
