package sqlite

import (
	"fmt"
	"testing"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/storetest"
)

// The background writes use multi-row statements of at most maxRowsPerStmt rows: these
// tests give them calls of several chunks, with duplicates within and across chunks.

// TestAppendAuditAcrossChunks: in a call of 3 chunks, entries stored before are skipped,
// a key that comes twice (in one chunk or in two) is stored by its first entry, and the
// seats of the entries stored now only are added; the same call again changes nothing.
func TestAppendAuditAcrossChunks(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	id := ticketview.SectionID{Event: "gig-1", Section: "A"}
	entry := func(seq uint64, owner string, seats ...string) ticketview.AuditEntry {
		return ticketview.AuditEntry{Section: id, Seq: seq, Type: ticketview.EvHoldPlaced,
			At: storetest.BaseTime, Owner: owner, Quantity: int32(len(seats)), Seats: seats}
	}
	var early []ticketview.AuditEntry
	for seq := uint64(1); seq <= 10; seq++ {
		early = append(early, entry(seq, "early", fmt.Sprintf("E%d", seq)))
	}
	if err := db.AppendAudit(ctx, early); err != nil {
		t.Fatal(err)
	}

	const n = 150
	var call []ticketview.AuditEntry
	for seq := uint64(1); seq <= n; seq++ {
		call = append(call, entry(seq, "main", fmt.Sprintf("M%d-a", seq), fmt.Sprintf("M%d-b", seq)))
		if seq == 60 {
			call = append(call, entry(60, "dup", "D60")) // the same chunk
		}
	}
	// Other chunks than their first: one stored before, two stored by this call.
	call = append(call, entry(5, "dup", "D5"), entry(20, "dup", "D20"), entry(100, "dup", "D100"))
	if len(call) <= 2*maxRowsPerStmt {
		t.Fatalf("%d entries: not 3 chunks", len(call))
	}
	check := func(what string) {
		t.Helper()
		got, err := db.AuditTrail(ctx, ticketview.AuditFilter{Event: "gig-1", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Fatalf("%s: %d entries, want %d", what, len(got), n)
		}
		for i, e := range got {
			want := "main"
			if i < 10 {
				want = "early"
			}
			if e.Seq != uint64(i+1) || e.Owner != want {
				t.Fatalf("%s: entry %d is %d of %q, want %d of %q", what, i, e.Seq, e.Owner, i+1, want)
			}
		}
		var seats int
		if err := db.reader.QueryRowContext(ctx, `SELECT count(*) FROM audit_seats`).Scan(&seats); err != nil {
			t.Fatal(err)
		}
		if want := 10 + 2*(n-10); seats != want {
			t.Fatalf("%s: %d seat rows, want %d", what, seats, want)
		}
		for seat, want := range map[string]int{"E5": 1, "M5-a": 0, "D5": 0, "M20-b": 1, "D20": 0, "D60": 0, "M60-a": 1, "D100": 0, "M150-b": 1} {
			got, err := db.AuditTrail(ctx, ticketview.AuditFilter{Event: "gig-1", Seat: seat})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != want {
				t.Fatalf("%s: %d entries by seat %s, want %d", what, len(got), seat, want)
			}
		}
	}
	if err := db.AppendAudit(ctx, call); err != nil {
		t.Fatal(err)
	}
	check("after the call")
	if err := db.AppendAudit(ctx, call); err != nil {
		t.Fatal(err)
	}
	check("after the call again")

	// An invalid entry in the last chunk: EINVALID, and nothing of the call is stored.
	bad := []ticketview.AuditEntry{}
	for seq := uint64(n + 1); seq <= n+140; seq++ {
		bad = append(bad, entry(seq, "bad", fmt.Sprintf("B%d", seq)))
	}
	bad[139].Seats = []string{""}
	if err := db.AppendAudit(ctx, bad); ticketview.ErrorCode(err) != ticketview.EINVALID {
		t.Fatalf("a call with an empty seat label: %v, want EINVALID", err)
	}
	check("after the invalid call")
}

// TestAddCountersAcrossChunks: a message of more counters than one chunk adds each
// counter's increments summed, once; a later message adds again.
func TestAddCountersAcrossChunks(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	const counters = 150
	var incs []ticketview.Increment
	for _, delta := range []int64{1, 0, 2} {
		for i := range counters {
			incs = append(incs, ticketview.Increment{Event: "gig-1", Hour: storetest.BaseTime, Dim: ticketview.DimBuyer,
				Value: fmt.Sprintf("buyer-%03d", i), Metric: ticketview.MetricOrders, Delta: delta})
		}
	}
	check := func(what string, total int64) {
		t.Helper()
		rows, err := db.Counters(ctx, ticketview.CounterQuery{Dim: ticketview.DimBuyer})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != counters {
			t.Fatalf("%s: %d counters, want %d", what, len(rows), counters)
		}
		for i, r := range rows {
			if r.Value != fmt.Sprintf("buyer-%03d", i) || r.Total != total {
				t.Fatalf("%s: counter %d is %s = %d, want buyer-%03d = %d", what, i, r.Value, r.Total, i, total)
			}
		}
	}
	for i, want := range []bool{true, false} {
		applied, err := db.AddCounters(ctx, "m-1", incs)
		if err != nil || applied != want {
			t.Fatalf("AddCounters m-1, time %d = %v, %v; want %v", i+1, applied, err, want)
		}
		check("after m-1", 3)
	}
	if applied, err := db.AddCounters(ctx, "m-2", incs); err != nil || !applied {
		t.Fatalf("AddCounters m-2 = %v, %v", applied, err)
	}
	check("after m-2", 6)
}

// TestAppendMessagesAcrossChunks: the messages of calls of several chunks get offsets in
// the order they were written.
func TestAppendMessagesAcrossChunks(t *testing.T) {
	db := openTest(t)
	ctx := testCtx(t)
	const perCall = 150
	var keys []string
	for c := range 2 {
		msgs := make([]ticketview.Message, perCall)
		for i := range msgs {
			k := fmt.Sprintf("k-%d-%03d", c, i)
			msgs[i] = ticketview.Message{Topic: "orders", Key: k, Value: []byte(fmt.Sprintf(`{"n":%d}`, i))}
			keys = append(keys, k)
		}
		if err := db.AppendMessages(ctx, msgs); err != nil {
			t.Fatal(err)
		}
	}
	var got []ticketview.Message
	for after := int64(0); ; {
		page, err := db.ReadMessages(ctx, after, nil, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].Offset
	}
	if len(got) != len(keys) {
		t.Fatalf("%d messages, want %d", len(got), len(keys))
	}
	for i, m := range got {
		if m.Key != keys[i] || (i > 0 && m.Offset <= got[i-1].Offset) {
			t.Fatalf("message %d: key %s at offset %d, want %s after offset %d", i, m.Key, m.Offset, keys[i], got[max(i-1, 0)].Offset)
		}
		if want := fmt.Sprintf(`{"n":%d}`, i%perCall); string(m.Value) != want {
			t.Fatalf("message %d: value %s, want %s", i, m.Value, want)
		}
	}
}
