package main

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/bench/load"
	"github.com/ticketview/ticketview/persistence/sqlite"
)

// TestDirectFeeds: the in-process TicketView with -direct-feeds writes what cmd/node's
// feeders write — the audit log and the section events in the event log — and without
// it writes neither (like the baselines). Both sell and survive the close and reopen.
func TestDirectFeeds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	layout := load.Layout{Event: "feeds-sale", Sections: []load.SectionLayout{{ID: "S", Rows: 2, PerRow: 5, Price: 1000}}}
	for _, feeds := range []bool{true, false} {
		dir := t.TempDir()
		tv := &tvTarget{dir: dir, journal: "file", directFeeds: feeds}
		inst, err := tv.Direct(ctx, layout)
		if err != nil {
			t.Fatal(err)
		}
		d := inst.Driver()
		h, st := d.Hold(ctx, "ann", "S", load.HoldRequest{Seats: []string{"A-1", "A-2"}})
		if st.Code != http.StatusCreated {
			t.Fatalf("feeds %v: hold: %+v", feeds, st)
		}
		if _, st := d.Confirm(ctx, "ann", "S", h.Token); st.Code != http.StatusCreated {
			t.Fatalf("feeds %v: confirm: %+v", feeds, st)
		}
		if err := inst.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		if av, err := inst.Driver().Section(ctx, "S"); err != nil || av.Sold != 2 {
			t.Fatalf("feeds %v: after the restart: %+v, %v", feeds, av, err)
		}
		if err := inst.Close(); err != nil {
			t.Fatal(err)
		}

		// Close wrote what the feeders had queued.
		db, err := sqlite.Open(filepath.Join(dir, "direct-"+layout.Event, "ticketview.db"))
		if err != nil {
			t.Fatal(err)
		}
		trail, err := db.AuditTrail(ctx, ticketview.AuditFilter{Event: layout.Event})
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := db.PendingMessages(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		sections := 0
		for _, m := range msgs {
			if m.Topic == ticketview.TopicSections {
				sections++
			}
		}
		if feeds && (len(trail) < 2 || sections < 2) { // the hold and the sale, at least
			t.Errorf("with feeds: %d audit entries, %d section messages; want the hold and the sale in each", len(trail), sections)
		}
		if !feeds && (len(trail) != 0 || sections != 0) {
			t.Errorf("without feeds: %d audit entries, %d section messages; want none", len(trail), sections)
		}
	}
}
