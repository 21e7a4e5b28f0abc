package ticketview_test

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	tv "github.com/ticketview/ticketview"
)

func TestBestAvailable(t *testing.T) {
	cases := []struct {
		name     string
		rows     []string
		n        int
		category string
		access   bool
		split    bool
		want     []string // nil: nothing fits
	}{
		{name: "2 seats in an empty row are its two centre seats", rows: []string{".........."}, n: 2, want: []string{"A-5", "A-6"}},
		{name: "3 seats in an even row are centred, the lower on a tie", rows: []string{".........."}, n: 3, want: []string{"A-4", "A-5", "A-6"}},
		{name: "1 seat in an odd row is the middle seat", rows: []string{"......."}, n: 1, want: []string{"A-4"}},
		{name: "a whole row fits exactly", rows: []string{"xxxxxxxxxx", "......"}, n: 6, want: []string{"B-1", "B-2", "B-3", "B-4", "B-5", "B-6"}},
		{name: "the row nearest the stage wins even off-centre", rows: []string{"xxxxxx....", ".........."}, n: 2, want: []string{"A-7", "A-8"}},
		{name: "a full front row sends the block to the next row", rows: []string{"xxxxxxxxxx", ".........."}, n: 2, want: []string{"B-5", "B-6"}},
		{name: "a front row with free seats but no block of n sends it back", rows: []string{".x.x.x.x.x", ".........."}, n: 2, want: []string{"B-5", "B-6"}},
		{name: "the only orphan-free block being further back, it is chosen", rows: []string{"xxx...xxxx", ".........."}, n: 2, want: []string{"B-5", "B-6"}},
		{name: "the only orphan-free block being off-centre, it is chosen", rows: []string{"xxx...x..x"}, n: 2, want: []string{"A-8", "A-9"}},
		{name: "of the orphan-free blocks the one nearest the centre is chosen", rows: []string{"xx........"}, n: 3, want: []string{"A-5", "A-6", "A-7"}},
		{name: "of the orphan-free blocks the one nearest the centre is chosen, mirrored", rows: []string{"........xx"}, n: 3, want: []string{"A-4", "A-5", "A-6"}},
		{name: "an exact fit between taken seats leaves no orphan and wins in front", rows: []string{"xxxx..xxxx", ".........."}, n: 2, want: []string{"A-5", "A-6"}},
		{name: "with no orphan-free block anywhere it falls back to stranding a seat", rows: []string{"xxx...xxxx"}, n: 2, want: []string{"A-5", "A-6"}},
		{name: "the orphan-leaving fallback still prefers the front row", rows: []string{"xxx...xxxx", "xx...xxxxx"}, n: 2, want: []string{"A-5", "A-6"}},
		{name: "seats either side of an aisle are not adjacent", rows: []string{"xxxx.|.xxxx"}, n: 2, want: nil},
		{name: "with AllowSplit seats either side of an aisle are taken", rows: []string{"xxxx.|.xxxx"}, n: 2, split: true, want: []string{"A-5", "A-7"}},
		{name: "AllowSplit is used only when no adjacent block exists anywhere", rows: []string{"x.x.x.x.x.", "xxxxxxxx.."}, n: 2, split: true, want: []string{"B-9", "B-10"}},
		{name: "AllowSplit takes the scattered seats nearest the front and the centre", rows: []string{"x.x.x.x.x."}, n: 3, split: true, want: []string{"A-4", "A-6", "A-8"}},
		{name: "AllowSplit spreads over rows when a row has too few", rows: []string{"x.xxxxxxxx", "xxxxx.xxxx"}, n: 2, split: true, want: []string{"A-2", "B-6"}},
		{name: "without AllowSplit scattered seats give nothing", rows: []string{"x.x.x.x.x."}, n: 2, want: nil},
		{name: "too few free seats give nothing even with AllowSplit", rows: []string{"x.xxxxxxxx", "xxxxxxxxxx"}, n: 2, split: true, want: nil},
		{name: "a block is never taken over blocked seats", rows: []string{"....xx...."}, n: 5, want: nil},
		{name: "the accessible filter skips rows without accessible seats", rows: []string{"..........", "...aa....."}, n: 2, access: true, want: []string{"B-4", "B-5"}},
		{name: "the accessible filter takes no block of non-adjacent accessible seats", rows: []string{"a........a"}, n: 2, access: true, want: nil},
		{name: "the accessible filter with AllowSplit takes scattered accessible seats", rows: []string{"a........a"}, n: 2, access: true, split: true, want: []string{"A-1", "A-10"}},
		{name: "the accessible filter ignores taken accessible seats", rows: []string{"AAa.......", "aa........"}, n: 2, access: true, want: []string{"B-1", "B-2"}},
		{name: "the category filter takes the first row of that category", rows: []string{"vvvvvvvvvv", "vvvvvvvvvv", ".........."}, n: 2, category: "STD", want: []string{"C-5", "C-6"}},
		{name: "the category filter keeps a block inside its category in a mixed row", rows: []string{"vvv....vvv"}, n: 2, category: "STD", want: []string{"A-4", "A-5"}},
		{name: "the category filter finds VIP seats behind STD rows", rows: []string{"..........", "....vv...."}, n: 2, category: "VIP", want: []string{"B-5", "B-6"}},
		{name: "the category filter gives nothing when the category is full", rows: []string{"VVVV......"}, n: 1, category: "VIP", want: nil},
		{name: "without a category filter a block may mix categories", rows: []string{"vvvvv....."}, n: 2, want: []string{"A-5", "A-6"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := patternSection(t, tc.rows...)
			cat := -1
			if tc.category != "" {
				cat = catIndex(tc.category)
			}
			seq := s.Seq()
			got := labels(s, s.BestAvailable(tc.n, cat, tc.access, tc.split))
			if !sameStrings(got, tc.want) {
				t.Fatalf("BestAvailable(%d) = %v, want %v", tc.n, got, tc.want)
			}
			unchanged(t, s, seq)
			// A best-available hold takes exactly these seats, or fails with
			// insufficient_availability.
			h, err := s.Hold(tv.HoldRequest{Token: "t", Owner: "o", BestAvailable: true, Quantity: tc.n,
				Category: tc.category, Accessible: tc.access, AllowSplit: tc.split}, t0)
			if tc.want == nil {
				wantErr(t, err, tv.ESOLDOUT)
				return
			}
			wantErr(t, err, "")
			if got := holdLabels(h); !sameStrings(got, tc.want) {
				t.Fatalf("hold took %v, want %v", got, tc.want)
			}
			wantStatus(t, s, tv.SeatHeld, tc.want...)
			checkInv(t, s)
		})
	}
}

func catIndex(code string) int {
	for i, c := range testCats {
		if c.Code == code {
			return i
		}
	}
	panic(code)
}

// TestBestAvailableMatchesReference compares BestAvailable with a plain restatement of its
// rules on many random rows.
func TestBestAvailableMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	chars := []byte("....xx.|avVA")
	for iter := 0; iter < 3000; iter++ {
		rows := make([]string, 1+rng.IntN(4))
		for r := range rows {
			b := make([]byte, 1+rng.IntN(12))
			for i := range b {
				b[i] = chars[rng.IntN(len(chars))]
			}
			b[0], b[len(b)-1] = '.', '.' // no leading or trailing aisle
			rows[r] = string(b)
		}
		n := 1 + rng.IntN(5)
		cat := -1
		catCode := ""
		if rng.IntN(3) == 0 {
			catCode = []string{"VIP", "STD"}[rng.IntN(2)]
			cat = catIndex(catCode)
		}
		access := rng.IntN(5) == 0
		split := rng.IntN(2) == 0
		s := patternSection(t, rows...)
		got := labels(s, s.BestAvailable(n, cat, access, split))
		want := referenceBest(rows, n, catCode, access, split)
		if !sameStrings(got, want) {
			t.Fatalf("rows %q n=%d cat=%q accessible=%v split=%v:\n got %v\nwant %v", rows, n, catCode, access, split, got, want)
		}
	}
}

type refSeat struct {
	label    string
	num      int
	free     bool
	cat      string
	access   bool
	position int // index along the row
}

// referenceBest restates the best-available rules over pattern rows.
func referenceBest(rows []string, n int, cat string, access, split bool) []string {
	return refPick(refRows(rows), n, cat, access, split)
}

// refRows parses pattern rows (see patternSection).
func refRows(rows []string) [][]refSeat {
	var parsed [][]refSeat
	for r, pat := range rows {
		var row []refSeat
		num := 0
		for _, c := range pat {
			num++
			if c == '|' {
				continue
			}
			s := refSeat{label: fmt.Sprintf("%c-%d", 'A'+r, num), num: num, free: !strings.ContainsRune("xAVD", c),
				cat: "STD", access: c == 'a' || c == 'A', position: len(row)}
			if c == 'v' || c == 'V' {
				s.cat = "VIP"
			}
			if c == 'd' || c == 'D' {
				s.cat = "DYN"
			}
			row = append(row, s)
		}
		parsed = append(parsed, row)
	}
	return parsed
}

// refPick chooses n seats of parsed rows by the best-available rules, or nil.
func refPick(parsed [][]refSeat, n int, cat string, access, split bool) []string {
	ok := func(s refSeat) bool { return s.free && (cat == "" || s.cat == cat) && (!access || s.access) }
	for _, noOrphan := range []bool{true, false} {
		for _, row := range parsed {
			best, bestDist := -1, 0
			for i := 0; i < len(row); {
				if !ok(row[i]) {
					i++
					continue
				}
				j := i + 1
				for j < len(row) && ok(row[j]) && row[j].num == row[j-1].num+1 {
					j++
				}
				for st := i; st+n <= j; st++ {
					if noOrphan && (st-i == 1 || j-(st+n) == 1) {
						continue
					}
					d := 2*st + n - 1 - (len(row) - 1)
					if d < 0 {
						d = -d
					}
					if best < 0 || d < bestDist {
						best, bestDist = st, d
					}
				}
				i = j
			}
			if best >= 0 {
				var out []string
				for k := best; k < best+n; k++ {
					out = append(out, row[k].label)
				}
				return out
			}
		}
	}
	if !split {
		return nil
	}
	var picked []refSeat
	for ri, row := range parsed {
		var cand []refSeat
		for _, s := range row {
			if ok(s) {
				cand = append(cand, s)
			}
		}
		c2 := len(row) - 1
		sort.SliceStable(cand, func(x, y int) bool {
			return iabs(2*cand[x].position-c2) < iabs(2*cand[y].position-c2)
		})
		for _, s := range cand {
			s.position += ri * 1000 // order of the result: by row, then along the row
			picked = append(picked, s)
			if len(picked) == n {
				sort.Slice(picked, func(x, y int) bool { return picked[x].position < picked[y].position })
				out := make([]string, n)
				for k, p := range picked {
					out[k] = p.label
				}
				return out
			}
		}
	}
	return nil
}

func iabs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
