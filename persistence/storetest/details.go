package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
)

// TestEventDetailsStore checks a ticketview.EventDetailsStore against the contract. open
// is called once per subtest and must return an empty store. The contract:
//
//   - PutEventDetails validates the details (nil or invalid: EINVALID) and then stores
//     nothing and leaves them as they were; it sets UpdatedAt (the time of the Put, in
//     UTC, truncated to whole milliseconds), ignoring what the caller had put there.
//   - FindEventDetails returns exactly the details last put, or ENOTFOUND. A Put replaces
//     the event's details entirely, for searches too.
//   - SearchEventDetails returns the details that have the tag Tag and a performer named
//     Performer (both matched exactly, case included; an empty field matches everything;
//     both together must both match), each once, ordered by event id, at most Limit of
//     them (50 when Limit is 0 or less); no match is an empty result, not an error.
func TestEventDetailsStore(t *testing.T, open func(t *testing.T) ticketview.EventDetailsStore) {
	t.Run("RoundTrip", func(t *testing.T) { testDetailsRoundTrip(t, open(t)) })
	t.Run("Invalid", func(t *testing.T) { testDetailsInvalid(t, open(t)) })
	t.Run("Replace", func(t *testing.T) { testDetailsReplace(t, open(t)) })
	t.Run("Search", func(t *testing.T) { testDetailsSearch(t, open(t)) })
}

// SampleEventDetails returns valid details of the event with every field set: two tags,
// two performers, two images (one without a size) and a link. UpdatedAt is zero.
func SampleEventDetails(eventID string) *ticketview.EventDetails {
	return &ticketview.EventDetails{
		EventID:         eventID,
		LongDescription: "Three hours of music under the stars.\nBring a jacket — it gets cold. Ünïcödé ✓",
		Images: []ticketview.Image{
			{URL: "https://img.example/" + eventID + "/hero.jpg", Alt: "The stage at night", Width: 1920, Height: 1080},
			{URL: "https://img.example/" + eventID + "/thumb.png", Alt: "Thumbnail"},
		},
		Tags: []string{"open-air", "jazz"},
		Performers: []ticketview.Performer{
			{Name: "Asha Quartet", Role: "headliner", Bio: "Formed in 2011."},
			{Name: "DJ Ravi"},
		},
		Links: []ticketview.Link{{Label: "Website", URL: "https://example.org/" + eventID}},
	}
}

func putDetails(t *testing.T, s ticketview.EventDetailsStore, d *ticketview.EventDetails) {
	t.Helper()
	before := time.Now()
	if err := s.PutEventDetails(ctxFor(t), d); err != nil {
		t.Fatalf("PutEventDetails(%s): %v", d.EventID, err)
	}
	checkStamp(t, "PutEventDetails("+d.EventID+")", d.UpdatedAt, before, time.Now())
}

func findDetails(t *testing.T, s ticketview.EventDetailsStore, id string) *ticketview.EventDetails {
	t.Helper()
	got, err := s.FindEventDetails(ctxFor(t), id)
	if err != nil {
		t.Fatalf("FindEventDetails(%s): %v", id, err)
	}
	return got
}

func sameDetails(t *testing.T, what string, got, want *ticketview.EventDetails) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: details differ:\n got  %+v\n want %+v", what, got, want)
	}
}

func testDetailsRoundTrip(t *testing.T, s ticketview.EventDetailsStore) {
	ctx := ctxFor(t)
	d := SampleEventDetails("gig-1")
	d.UpdatedAt = BaseTime // set by the store
	putDetails(t, s, d)
	want := SampleEventDetails("gig-1")
	want.UpdatedAt = d.UpdatedAt
	sameDetails(t, "PutEventDetails changed more than UpdatedAt", d, want)
	got := findDetails(t, s, "gig-1")
	sameDetails(t, "found", got, want)

	d.Tags[0] = "changed"
	got.Performers[0].Name = "changed"
	sameDetails(t, "after changing the caller's copies", findDetails(t, s, "gig-1"), want)

	// Only the event id is required.
	bare := &ticketview.EventDetails{EventID: "gig-2"}
	putDetails(t, s, bare)
	sameDetails(t, "bare details", findDetails(t, s, "gig-2"), bare)

	_, err := s.FindEventDetails(ctx, "no-such-gig")
	wantCode(t, "missing details", err, ticketview.ENOTFOUND)
	if !errors.Is(err, ticketview.ErrNotFound) {
		t.Fatalf("missing details: %v is not ErrNotFound", err)
	}
}

func testDetailsInvalid(t *testing.T, s ticketview.EventDetailsStore) {
	ctx := ctxFor(t)
	wantCode(t, "nil details", s.PutEventDetails(ctx, nil), ticketview.EINVALID)
	for name, mutate := range map[string]func(*ticketview.EventDetails){
		"no event id":            func(d *ticketview.EventDetails) { d.EventID = "" },
		"bad event id":           func(d *ticketview.EventDetails) { d.EventID = "gig/1" },
		"empty tag":              func(d *ticketview.EventDetails) { d.Tags = append(d.Tags, "") },
		"tag of 65 characters":   func(d *ticketview.EventDetails) { d.Tags[1] = strings.Repeat("x", 65) },
		"performer without name": func(d *ticketview.EventDetails) { d.Performers[1].Name = "" },
		"image without url":      func(d *ticketview.EventDetails) { d.Images[0].URL = "" },
	} {
		d := SampleEventDetails("gig-1")
		mutate(d)
		wantCode(t, "invalid details: "+name, s.PutEventDetails(ctx, d), ticketview.EINVALID)
		if !d.UpdatedAt.IsZero() {
			t.Fatalf("invalid details %s: UpdatedAt set on a refused Put", name)
		}
	}
	_, err := s.FindEventDetails(ctx, "gig-1")
	wantCode(t, "invalid details stored?", err, ticketview.ENOTFOUND)
	if got, err := s.SearchEventDetails(ctx, ticketview.DetailsFilter{}); err != nil || len(got) != 0 {
		t.Fatalf("search after refused Puts: %d details, %v; want none", len(got), err)
	}

	// A tag of exactly 64 characters is fine.
	d := SampleEventDetails("gig-1")
	d.Tags[1] = strings.Repeat("x", 64)
	putDetails(t, s, d)
	bad := SampleEventDetails("gig-1")
	bad.Tags = []string{""}
	wantCode(t, "invalid replacement", s.PutEventDetails(ctx, bad), ticketview.EINVALID)
	sameDetails(t, "after a refused replacement", findDetails(t, s, "gig-1"), d)
}

func testDetailsReplace(t *testing.T, s ticketview.EventDetailsStore) {
	ctx := ctxFor(t)
	first := SampleEventDetails("gig-1")
	putDetails(t, s, first)
	second := &ticketview.EventDetails{EventID: "gig-1", LongDescription: "Moved indoors.",
		Tags: []string{"indoor"}, Performers: []ticketview.Performer{{Name: "DJ Ravi", Role: "support"}}}
	putDetails(t, s, second)
	sameDetails(t, "after a replacement", findDetails(t, s, "gig-1"), second)

	search := func(f ticketview.DetailsFilter) []*ticketview.EventDetails {
		t.Helper()
		got, err := s.SearchEventDetails(ctx, f)
		if err != nil {
			t.Fatalf("SearchEventDetails(%+v): %v", f, err)
		}
		return got
	}
	if got := search(ticketview.DetailsFilter{Tag: "jazz"}); len(got) != 0 {
		t.Fatalf("a tag of the replaced details still matches: %+v", got[0])
	}
	if got := search(ticketview.DetailsFilter{Performer: "Asha Quartet"}); len(got) != 0 {
		t.Fatalf("a performer of the replaced details still matches: %+v", got[0])
	}
	for _, f := range []ticketview.DetailsFilter{{Tag: "indoor"}, {Performer: "DJ Ravi"}, {Tag: "indoor", Performer: "DJ Ravi"}} {
		got := search(f)
		if len(got) != 1 {
			t.Fatalf("search %+v after a replacement: %d details, want 1", f, len(got))
		}
		sameDetails(t, fmt.Sprintf("search %+v", f), got[0], second)
	}
}

func testDetailsSearch(t *testing.T, s ticketview.EventDetailsStore) {
	ctx := ctxFor(t)
	const n = 64
	all := make([]*ticketview.EventDetails, n) // in event id order
	for i := range all {
		d := &ticketview.EventDetails{EventID: fmt.Sprintf("gig-%03d", i), LongDescription: fmt.Sprintf("Event %d", i)}
		if i%2 == 0 {
			d.Tags = append(d.Tags, "rock")
		}
		if i%3 == 0 {
			d.Tags = append(d.Tags, "jazz")
		}
		if i%5 == 0 {
			d.Tags = append(d.Tags, "Rock") // another tag: matching is exact
		}
		if i%7 == 0 {
			d.Tags = append(d.Tags, "rock", "rock") // repeated: the event is still found once
		}
		d.Performers = append(d.Performers, ticketview.Performer{Name: fmt.Sprintf("Band %d", i%10)})
		if i%4 == 0 {
			d.Performers = append(d.Performers, ticketview.Performer{Name: "Asha Bhosle", Role: "guest"})
		}
		if i%6 == 0 {
			d.Performers = append(d.Performers, ticketview.Performer{Name: "Asha"}) // a prefix of another name
		}
		all[i] = d
	}
	// Stored in a scrambled order, by 8 writers, so that insertion order is no answer.
	var wg sync.WaitGroup
	work := make(chan *ticketview.EventDetails)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				if err := s.PutEventDetails(ctx, d); err != nil {
					t.Errorf("PutEventDetails(%s): %v", d.EventID, err)
				}
			}
		}()
	}
	for i := range all {
		work <- all[(i*29)%n]
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	has := func(d *ticketview.EventDetails, f ticketview.DetailsFilter) bool {
		tag, perf := f.Tag == "", f.Performer == ""
		for _, x := range d.Tags {
			tag = tag || x == f.Tag
		}
		for _, p := range d.Performers {
			perf = perf || p.Name == f.Performer
		}
		return tag && perf
	}
	check := func(name string, f ticketview.DetailsFilter, count int) {
		t.Helper()
		var want []*ticketview.EventDetails
		for _, d := range all {
			if has(d, f) {
				want = append(want, d)
			}
		}
		want = want[:min(count, len(want))]
		got, err := s.SearchEventDetails(ctx, f)
		if err != nil {
			t.Fatalf("%s: SearchEventDetails: %v", name, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d details, want %d", name, len(got), len(want))
		}
		for i := range got {
			if got[i].EventID != want[i].EventID {
				t.Fatalf("%s: result %d is %s, want %s (ordered by event id)", name, i, got[i].EventID, want[i].EventID)
			}
			sameDetails(t, name, got[i], want[i])
		}
	}
	check("no filter: default limit 50", ticketview.DetailsFilter{}, 50)
	check("no filter, limit 100", ticketview.DetailsFilter{Limit: 100}, 100)
	check("negative limit is the default", ticketview.DetailsFilter{Limit: -1}, 50)
	check("tag", ticketview.DetailsFilter{Tag: "rock"}, 50)
	check("tag, limit 5", ticketview.DetailsFilter{Tag: "rock", Limit: 5}, 5)
	check("tag differing in case", ticketview.DetailsFilter{Tag: "Rock"}, 50)
	check("tag nobody has", ticketview.DetailsFilter{Tag: "polka"}, 50)
	check("tag prefix is no match", ticketview.DetailsFilter{Tag: "ro"}, 50)
	check("performer", ticketview.DetailsFilter{Performer: "Asha Bhosle"}, 50)
	check("performer whose name prefixes another's", ticketview.DetailsFilter{Performer: "Asha"}, 50)
	check("performer in lower case is no match", ticketview.DetailsFilter{Performer: "asha bhosle"}, 50)
	check("performer, limit 3", ticketview.DetailsFilter{Performer: "Band 3", Limit: 3}, 3)
	check("tag and performer", ticketview.DetailsFilter{Tag: "jazz", Performer: "Asha Bhosle"}, 50)
	check("tag and performer, none has both", ticketview.DetailsFilter{Tag: "Rock", Performer: "Band 1"}, 50)

	// The fixture is what the checks think it is.
	for _, c := range []struct {
		f ticketview.DetailsFilter
		n int
	}{{ticketview.DetailsFilter{Tag: "rock"}, 37}, {ticketview.DetailsFilter{Tag: "Rock"}, 13},
		{ticketview.DetailsFilter{Performer: "Asha"}, 11}, {ticketview.DetailsFilter{Tag: "jazz", Performer: "Asha Bhosle"}, 6}} {
		got, err := s.SearchEventDetails(ctx, ticketview.DetailsFilter{Tag: c.f.Tag, Performer: c.f.Performer, Limit: 1000})
		if err != nil || len(got) != c.n {
			t.Fatalf("fixture: %+v matches %d, %v; want %d", c.f, len(got), err, c.n)
		}
	}
}
