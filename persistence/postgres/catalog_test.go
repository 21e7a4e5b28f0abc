package postgres_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/persistence/storetest"
)

// TestVenueSeats: CreateVenue writes its sections and a seats row per seat, numbered as
// the domain numbers them (rows in layout order, seats in row order).
func TestVenueSeats(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := testCtx(t)
	v := storetest.SampleVenue("hall-1") // section A: 3 rows of 4 (row A VIP); GA: 500 places
	v.Sections[0].Rows[1].Seats[2].Accessible = true
	if err := db.CreateVenue(ctx, v); err != nil {
		t.Fatal(err)
	}
	sec, err := ticketview.NewSection(ticketview.SectionConfig{ID: ticketview.SectionID{Event: "e", Section: "A"},
		Layout: &v.Sections[0], Categories: storetest.SampleEvent("e", "hall-1", storetest.BaseTime).Categories})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.Pool().Query(ctx, `SELECT seat_index, label, row_label, number, category, x, y, accessible
		FROM seats WHERE venue_id = 'hall-1' AND section_id = 'A' ORDER BY seat_index`)
	if err != nil {
		t.Fatal(err)
	}
	type seat struct {
		Index      int
		Label, Row string
		Number     int
		Category   string
		X, Y       float64
		Accessible bool
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[seat])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != sec.Seats() {
		t.Fatalf("%d seats rows, want %d", len(got), sec.Seats())
	}
	i := 0
	for _, r := range v.Sections[0].Rows {
		for _, s := range r.Seats {
			want := seat{i, s.Label, r.Label, s.Number, s.Category, s.X, s.Y, s.Accessible}
			if got[i] != want || sec.SeatLabel(int32(i)) != got[i].Label {
				t.Fatalf("seat %d: %+v, want %+v (the domain calls it %s)", i, got[i], want, sec.SeatLabel(int32(i)))
			}
			i++
		}
	}
	var kinds []string
	var capacity []int
	rows, err = db.Pool().Query(ctx, `SELECT kind, capacity FROM sections WHERE venue_id = 'hall-1' ORDER BY ordinal`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		var c int
		if err := rows.Scan(&k, &c); err != nil {
			t.Fatal(err)
		}
		kinds, capacity = append(kinds, k), append(capacity, c)
	}
	if !reflect.DeepEqual(kinds, []string{"seated", "general_admission"}) || !reflect.DeepEqual(capacity, []int{12, 500}) {
		t.Fatalf("sections %v %v", kinds, capacity)
	}
	if n := queryInt(t, db, `SELECT count(*) FROM seats WHERE section_id = 'GA'`); n != 0 {
		t.Fatalf("%d seats rows for a general-admission section", n)
	}
}

// TestPriceCategoryRows: events keep their price categories as rows, replaced by
// UpdateEvent.
func TestPriceCategoryRows(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := testCtx(t)
	e := storetest.SampleEvent("gig-1", "hall-1", storetest.BaseTime)
	if err := db.CreateEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	categories := func() []ticketview.PriceCategory {
		rows, err := db.Pool().Query(ctx, `SELECT code, name, price, floor, ceiling FROM price_categories
			WHERE event_id = 'gig-1' ORDER BY ordinal`)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ticketview.PriceCategory])
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := categories(); !reflect.DeepEqual(got, e.Categories) {
		t.Fatalf("price_categories %+v, want %+v", got, e.Categories)
	}
	want := []ticketview.PriceCategory{{Code: "STD", Name: "Standard", Price: 5000, Floor: 3000, Ceiling: 8000},
		{Code: "BAL", Name: "Balcony", Price: 2500}}
	if _, err := db.UpdateEvent(ctx, "gig-1", func(e *ticketview.Event) error {
		e.Categories = want
		e.StartsAt = e.StartsAt.Add(time.Hour)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := categories(); !reflect.DeepEqual(got, want) {
		t.Fatalf("price_categories after the update %+v, want %+v", got, want)
	}
}

// TestUserEmailUnique: an address is taken whatever its case.
func TestUserEmailUnique(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := testCtx(t)
	insert := `INSERT INTO users (id, email, password_hash, name) VALUES ($1, $2, 'x', 'n')`
	if _, err := db.Pool().Exec(ctx, insert, "u1", "Asha@Example.com"); err != nil {
		t.Fatal(err)
	}
	_, err := db.Pool().Exec(ctx, insert, "u2", "asha@example.COM")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" || pe.ConstraintName != "users_email_key" {
		t.Fatalf("second account for the same address: %v, want a unique violation of users_email_key", err)
	}
}
