package ticketview_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	tv "github.com/ticketview/ticketview"
)

func validEvent() tv.Event {
	return tv.Event{ID: "gig-1", Name: "The Gig", StartsAt: t0.Add(30 * 24 * time.Hour), VenueID: "arena", Currency: "INR",
		Categories: []tv.PriceCategory{{Code: "VIP", Price: 500000}, {Code: "STD", Price: 2000, Floor: 1000, Ceiling: 4000}},
		Status:     tv.EventDraft}
}

func TestEventValidate(t *testing.T) {
	cases := []struct {
		name   string
		change func(e *tv.Event)
		ok     bool
	}{
		{"a complete event is valid", func(e *tv.Event) {}, true},
		{"an event with a buyer limit is valid", func(e *tv.Event) { e.BuyerLimit = 10 }, true},
		{"an empty id is invalid", func(e *tv.Event) { e.ID = "" }, false},
		{"an id with a slash is invalid", func(e *tv.Event) { e.ID = "a/b" }, false},
		{"an id of 65 characters is invalid", func(e *tv.Event) { e.ID = strings.Repeat("a", 65) }, false},
		{"an id of 64 characters is valid", func(e *tv.Event) { e.ID = strings.Repeat("a", 64) }, true},
		{"a blank name is invalid", func(e *tv.Event) { e.Name = "  " }, false},
		{"no venue is invalid", func(e *tv.Event) { e.VenueID = "" }, false},
		{"no start time is invalid", func(e *tv.Event) { e.StartsAt = time.Time{} }, false},
		{"no categories is invalid", func(e *tv.Event) { e.Categories = nil }, false},
		{"a negative buyer limit is invalid", func(e *tv.Event) { e.BuyerLimit = -1 }, false},
		{"a 2-letter currency is invalid", func(e *tv.Event) { e.Currency = "IN" }, false},
		{"a repeated category code is invalid", func(e *tv.Event) { e.Categories[1].Code = "VIP" }, false},
		{"an empty category code is invalid", func(e *tv.Event) { e.Categories[0].Code = "" }, false},
		{"a negative price is invalid", func(e *tv.Event) { e.Categories[0].Price = -1 }, false},
		{"a free category is valid", func(e *tv.Event) { e.Categories[0].Price = 0 }, true},
		{"a floor without a ceiling is invalid", func(e *tv.Event) { e.Categories[1].Ceiling = 0 }, false},
		{"a ceiling without a floor is invalid", func(e *tv.Event) { e.Categories[1].Floor = 0 }, false},
		{"a ceiling below the floor is invalid", func(e *tv.Event) { e.Categories[1].Ceiling = 900 }, false},
		{"a base price below the floor is invalid", func(e *tv.Event) { e.Categories[1].Price = 900 }, false},
		{"a base price above the ceiling is invalid", func(e *tv.Event) { e.Categories[1].Price = 4100 }, false},
		{"a negative floor is invalid", func(e *tv.Event) { e.Categories[1].Floor = -1 }, false},
		{"floor = price = ceiling is valid", func(e *tv.Event) { e.Categories[1] = tv.PriceCategory{Code: "STD", Price: 5, Floor: 5, Ceiling: 5} }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := validEvent()
			tc.change(&e)
			err := e.Validate()
			if tc.ok {
				wantErr(t, err, "")
			} else {
				wantErr(t, err, tv.EINVALID)
			}
		})
	}
	e := validEvent()
	if c, ok := e.Category("STD"); !ok || c.Price != 2000 {
		t.Errorf("Category(STD) = %+v, %v", c, ok)
	}
	if _, ok := e.Category("BOX"); ok {
		t.Errorf("Category(BOX) found")
	}
}

func TestEventStatus(t *testing.T) {
	start := t0.Add(time.Hour)
	before, after := t0, start
	cases := []struct {
		name       string
		status     tv.EventStatus
		now        time.Time
		statusAt   tv.EventStatus
		publish    string // error code, "" = ok
		published  tv.EventStatus
		cancel     string
		cancelled  tv.EventStatus
		sellableOK bool
	}{
		{"a draft before its start is draft; it publishes; it cancels; it is not sellable",
			tv.EventDraft, before, tv.EventDraft, "", tv.EventOnSale, "", tv.EventCancelled, false},
		{"an on-sale event before its start is sellable; publishing again is a no-op",
			tv.EventOnSale, before, tv.EventOnSale, "", tv.EventOnSale, "", tv.EventCancelled, true},
		{"a sold-out event cannot be published and is not sellable",
			tv.EventSoldOut, before, tv.EventSoldOut, tv.ECONFLICT, tv.EventSoldOut, "", tv.EventCancelled, false},
		{"a cancelled event cannot be published; cancelling again is a no-op",
			tv.EventCancelled, before, tv.EventCancelled, tv.ECONFLICT, tv.EventCancelled, "", tv.EventCancelled, false},
		{"an on-sale event at its start is past: not sellable, not publishable, not cancellable",
			tv.EventOnSale, after, tv.EventPast, tv.ECONFLICT, tv.EventOnSale, tv.ECONFLICT, tv.EventOnSale, false},
		{"a draft after its start is past",
			tv.EventDraft, after.Add(time.Hour), tv.EventPast, tv.ECONFLICT, tv.EventDraft, tv.ECONFLICT, tv.EventDraft, false},
		{"a cancelled event stays cancelled after its start",
			tv.EventCancelled, after, tv.EventCancelled, tv.ECONFLICT, tv.EventCancelled, "", tv.EventCancelled, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := validEvent()
			e.StartsAt, e.Status = start, tc.status
			if got := e.StatusAt(tc.now); got != tc.statusAt {
				t.Errorf("StatusAt = %s, want %s", got, tc.statusAt)
			}
			err := e.Sellable(tc.now)
			if tc.sellableOK {
				wantErr(t, err, "")
			} else {
				wantErr(t, err, tv.ENOTONSALE)
			}
			p := e
			wantErr(t, p.Publish(tc.now), tc.publish)
			if p.Status != tc.published {
				t.Errorf("after Publish: %s, want %s", p.Status, tc.published)
			}
			c := e
			wantErr(t, c.Cancel(tc.now), tc.cancel)
			if c.Status != tc.cancelled {
				t.Errorf("after Cancel: %s, want %s", c.Status, tc.cancelled)
			}
		})
	}
}

func TestVenueValidate(t *testing.T) {
	seated := tv.SectionLayout{ID: "stalls", Kind: tv.Seated, Rows: tv.GridRows(2, 3, func(int) string { return "STD" })}
	ga := tv.SectionLayout{ID: "floor", Kind: tv.GeneralAdmission, Capacity: 100, Category: "GA"}
	cases := []struct {
		name   string
		change func(v *tv.Venue)
		ok     bool
	}{
		{"a venue with a seated and a GA section is valid", func(v *tv.Venue) {}, true},
		{"a venue without an id is invalid", func(v *tv.Venue) { v.ID = " " }, false},
		{"a venue without a name is invalid", func(v *tv.Venue) { v.Name = "" }, false},
		{"a venue without sections is invalid", func(v *tv.Venue) { v.Sections = nil }, false},
		{"two sections with one id are invalid", func(v *tv.Venue) { v.Sections[1].ID = "stalls"; v.Sections[1] = v.Sections[0] }, false},
		{"a section with a bad id is invalid", func(v *tv.Venue) { v.Sections[0].ID = "st alls" }, false},
		{"a section of unknown kind is invalid", func(v *tv.Venue) { v.Sections[0].Kind = "standing" }, false},
		{"a seated section without rows is invalid", func(v *tv.Venue) { v.Sections[0].Rows = nil }, false},
		{"a seat without a label is invalid", func(v *tv.Venue) { v.Sections[0].Rows[1].Seats[2].Label = "" }, false},
		{"two seats with one label are invalid", func(v *tv.Venue) { v.Sections[0].Rows[1].Seats[2].Label = "A-1" }, false},
		{"a seat without a category is invalid", func(v *tv.Venue) { v.Sections[0].Rows[0].Seats[0].Category = "" }, false},
		{"a GA section without capacity is invalid", func(v *tv.Venue) { v.Sections[1].Capacity = 0 }, false},
		{"a GA section with negative capacity is invalid", func(v *tv.Venue) { v.Sections[1].Capacity = -5 }, false},
		{"a GA section without a category is invalid", func(v *tv.Venue) { v.Sections[1].Category = "" }, false},
		{"a GA section with rows is invalid", func(v *tv.Venue) { v.Sections[1].Rows = v.Sections[0].Rows }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s0, s1 := seated, ga
			s0.Rows = tv.GridRows(2, 3, func(int) string { return "STD" })
			v := tv.Venue{ID: "arena", Name: "Arena", Sections: []tv.SectionLayout{s0, s1}}
			tc.change(&v)
			err := v.Validate()
			if tc.ok {
				wantErr(t, err, "")
			} else {
				wantErr(t, err, tv.EINVALID)
			}
		})
	}
	v := tv.Venue{ID: "arena", Name: "Arena", Sections: []tv.SectionLayout{seated, ga}}
	if l, ok := v.Section("floor"); !ok || l.SeatCount() != 100 {
		t.Errorf("Section(floor) = %+v, %v", l, ok)
	}
	if l, ok := v.Section("stalls"); !ok || l.SeatCount() != 6 {
		t.Errorf("Section(stalls) = %+v, %v", l, ok)
	}
	if _, ok := v.Section("balcony"); ok {
		t.Errorf("Section(balcony) found")
	}
}

func TestGridRows(t *testing.T) {
	rows := tv.GridRows(28, 3, func(r int) string { return fmt.Sprint("C", r%2) })
	if len(rows) != 28 || rows[0].Label != "A" || rows[25].Label != "Z" || rows[26].Label != "AA" || rows[27].Label != "AB" {
		t.Fatalf("row labels %s %s %s %s", rows[0].Label, rows[25].Label, rows[26].Label, rows[27].Label)
	}
	s := rows[1].Seats[2]
	if s.Label != "B-3" || s.Number != 3 || s.Category != "C1" || s.X != 2 || s.Y != 1 {
		t.Fatalf("seat %+v", s)
	}
}

func TestNewSectionRejectsBadConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  tv.SectionConfig
	}{
		{"no layout", tv.SectionConfig{Categories: testCats}},
		{"an invalid layout", tv.SectionConfig{Layout: &tv.SectionLayout{ID: "x", Kind: tv.Seated}, Categories: testCats}},
		{"a seat of an unknown category", tv.SectionConfig{Layout: &tv.SectionLayout{ID: "x", Kind: tv.Seated,
			Rows: tv.GridRows(1, 2, func(int) string { return "BOX" })}, Categories: testCats}},
		{"a GA section of an unknown category", tv.SectionConfig{Layout: &tv.SectionLayout{ID: "x", Kind: tv.GeneralAdmission,
			Capacity: 5, Category: "BOX"}, Categories: testCats}},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is invalid", func(t *testing.T) {
			_, err := tv.NewSection(tc.cfg)
			wantErr(t, err, tv.EINVALID)
		})
	}
}

func TestMoney(t *testing.T) {
	cases := []struct {
		m    tv.Money
		want string
	}{
		{tv.Money{Amount: 12345, Currency: "INR"}, "123.45 INR"},
		{tv.Money{Amount: 5, Currency: "EUR"}, "0.05 EUR"},
		{tv.Money{Amount: 0, Currency: "EUR"}, "0.00 EUR"},
		{tv.Money{Amount: -150, Currency: "EUR"}, "-1.50 EUR"},
		{tv.Money{Amount: -50, Currency: "EUR"}, "-0.50 EUR"},
	}
	for _, tc := range cases {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("%d: %q, want %q", tc.m.Amount, got, tc.want)
		}
	}
	sum := tv.Money{}.Add(tv.Money{Amount: 100, Currency: "INR"}).Add(tv.Money{Amount: 50, Currency: "INR"})
	if sum != (tv.Money{Amount: 150, Currency: "INR"}) {
		t.Errorf("sum %v", sum)
	}
	if got := sum.Times(3); got != (tv.Money{Amount: 450, Currency: "INR"}) {
		t.Errorf("times %v", got)
	}
}

func TestErrors(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", tv.Errorf(tv.ESEATTAKEN, "seat %s is sold", "A-1"))
	if tv.ErrorCode(err) != tv.ESEATTAKEN || !errors.Is(err, tv.ErrSeatTaken) || errors.Is(err, tv.ErrSoldOut) {
		t.Errorf("code %q", tv.ErrorCode(err))
	}
	if tv.ErrorMessage(err) != "seat A-1 is sold" {
		t.Errorf("message %q", tv.ErrorMessage(err))
	}
	if tv.ErrorCode(nil) != "" || tv.ErrorMessage(nil) != "" {
		t.Error("nil error has a code or message")
	}
	plain := errors.New("disk on fire")
	if tv.ErrorCode(plain) != tv.EINTERNAL || tv.ErrorMessage(plain) != "internal error" {
		t.Errorf("plain error: %q %q", tv.ErrorCode(plain), tv.ErrorMessage(plain))
	}
	if !errors.Is(tv.ErrFenced, tv.ErrUnavailable) {
		t.Error("ErrFenced is not unavailable")
	}
}
