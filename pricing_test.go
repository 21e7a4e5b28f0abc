package ticketview_test

import (
	"testing"
	"time"

	tv "github.com/ticketview/ticketview"
)

func TestDynamicPrice(t *testing.T) {
	dyn := tv.PriceCategory{Code: "D", Price: 2000, Floor: 1000, Ceiling: 4000}
	cases := []struct {
		name              string
		c                 tv.PriceCategory
		sold, held, total int
		want              int64
	}{
		{"at demand 0 the price is the floor", dyn, 0, 0, 10, 1000},
		{"at demand 0.5 the price is the base", dyn, 5, 0, 10, 2000},
		{"at demand 1 the price is the ceiling", dyn, 10, 0, 10, 4000},
		{"held seats count half: all held is demand 0.5", dyn, 0, 10, 10, 2000},
		{"half sold, half held is demand 0.75", dyn, 5, 5, 10, 3000},
		{"demand 0.25 is halfway from floor to base", dyn, 2, 1, 10, 1500},
		{"demand 0.1 is a fifth from floor to base", dyn, 1, 0, 10, 1200},
		{"prices are rounded to whole currency units", dyn, 3, 0, 7, 1900},
		{"a fixed-price category ignores demand", tv.PriceCategory{Price: 2000}, 10, 0, 10, 2000},
		{"a fixed-price category at demand 0 is its price", tv.PriceCategory{Price: 2000}, 0, 0, 10, 2000},
		{"a floor without a ceiling is a fixed price", tv.PriceCategory{Price: 2000, Floor: 1000}, 10, 0, 10, 2000},
		{"a ceiling without a floor is a fixed price", tv.PriceCategory{Price: 2000, Ceiling: 4000}, 0, 0, 10, 2000},
		{"a category with no seats is at its base price", dyn, 0, 0, 0, 2000},
		{"floor equal to ceiling is that price", tv.PriceCategory{Price: 2000, Floor: 2000, Ceiling: 2000}, 3, 0, 10, 2000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tv.DynamicPrice(tc.c, tc.sold, tc.held, tc.total); got != tc.want {
				t.Fatalf("DynamicPrice(%+v, %d, %d, %d) = %d, want %d", tc.c, tc.sold, tc.held, tc.total, got, tc.want)
			}
		})
	}
	// Monotone in demand, within [floor, ceiling].
	prev := int64(0)
	for sold := 0; sold <= 100; sold++ {
		p := tv.DynamicPrice(dyn, sold, 0, 100)
		if p < prev || p < dyn.Floor || p > dyn.Ceiling {
			t.Fatalf("sold %d: price %d after %d", sold, p, prev)
		}
		prev = p
	}
}

// TestPriceFixedInHold: a hold's prices are those at the moment it was made; demand that
// changes afterwards changes the category's price but not the hold or its booking.
func TestPriceFixedInHold(t *testing.T) {
	s := patternSection(t, "dddddddddd", "..........")
	if p := s.Price("DYN"); p != 1000 {
		t.Fatalf("price at demand 0: %d", p)
	}
	if p := s.Price("NOPE"); p != 0 {
		t.Fatalf("price of an unknown category: %d", p)
	}
	if p := s.Price("STD"); p != 200000 {
		t.Fatalf("fixed price: %d", p)
	}
	first := mustHold(t, s, tv.HoldRequest{Token: "first", Owner: "al", Seats: []string{"A-1", "A-2", "B-1"}}, t0)
	if first.Items[0].UnitPrice != 1000 || first.Items[1].UnitPrice != 1000 || first.Items[2].UnitPrice != 200000 || first.Total.Amount != 202000 {
		t.Fatalf("first hold %+v", first)
	}
	// 2 of 10 held: demand 0.1.
	if p := s.Price("DYN"); p != 1200 {
		t.Fatalf("price after the first hold: %d", p)
	}
	second := mustHold(t, s, tv.HoldRequest{Token: "second", Owner: "bo", BestAvailable: true, Quantity: 6, Category: "DYN"}, t0)
	for _, it := range second.Items {
		if it.UnitPrice != 1200 {
			t.Fatalf("second hold %+v", second)
		}
	}
	mustConfirm(t, s, "second", "bo", "b2", t0)
	// 6 sold, 2 held: demand 0.7.
	if p := s.Price("DYN"); p != 2800 {
		t.Fatalf("price after the sale: %d", p)
	}
	found := false
	for _, c := range s.Availability(false).Categories {
		if c.Code == "DYN" {
			found = true
			if c.Price != 2800 || c.Sold != 6 || c.Held != 2 || c.Free != 2 || c.Capacity != 10 {
				t.Fatalf("availability %+v", c)
			}
		}
	}
	if !found {
		t.Fatal("no DYN category in the availability")
	}
	got, err := s.FindHold("first", "al")
	if err != nil || got.Total != first.Total || got.Items[0].UnitPrice != 1000 {
		t.Fatalf("first hold now %+v, %v", got, err)
	}
	if _, err := s.Extend("first", "al", "", time.Minute, t0); err != nil {
		t.Fatal(err)
	}
	b := mustConfirm(t, s, "first", "al", "b1", t0)
	if b.Total != first.Total || b.Items[0].UnitPrice != 1000 {
		t.Fatalf("booking %+v", b)
	}
	// Replay gives the same fixed prices.
	checkInv(t, s)
}

func TestPriceFixedInGAHold(t *testing.T) {
	s := newSection(t, &tv.SectionLayout{ID: "pit", Kind: tv.GeneralAdmission, Capacity: 10, Category: "DYN"})
	first := mustHold(t, s, tv.HoldRequest{Token: "a", Owner: "al", Quantity: 5}, t0)
	if first.Items[0].UnitPrice != 1000 || first.Total.Amount != 5000 {
		t.Fatalf("first %+v", first)
	}
	second := mustHold(t, s, tv.HoldRequest{Token: "b", Owner: "bo", Quantity: 5}, t0)
	if second.Items[0].UnitPrice != 1500 {
		t.Fatalf("second %+v", second)
	}
	b := mustConfirm(t, s, "a", "al", "b1", t0)
	if b.Total.Amount != 5000 {
		t.Fatalf("booking %+v", b)
	}
	if p := s.Price("DYN"); p != 3000 { // 5 sold, 5 held: 0.75
		t.Fatalf("price %d", p)
	}
}
