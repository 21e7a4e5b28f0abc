package ticketview

import "sort"

// BestAvailable chooses n free seats: adjacent in one row, in the row nearest the stage
// that has them, centred in that row, and never leaving a single free seat stranded beside
// the block if any other placement exists. cat < 0 means any category. With allowSplit and
// no adjacent block anywhere, it returns the best n seats wherever they are. It returns nil
// when nothing fits. It changes nothing.
func (s *Section) BestAvailable(n, cat int, accessible, allowSplit bool) []int32 {
	if s.ga || n <= 0 {
		return nil
	}
	for _, noOrphan := range []bool{true, false} {
		if start := s.bestBlock(n, cat, accessible, noOrphan); start >= 0 {
			seats := make([]int32, n)
			for i := range seats {
				seats[i] = int32(start + i)
			}
			return seats
		}
	}
	if allowSplit {
		return s.bestScattered(n, cat, accessible)
	}
	return nil
}

func (s *Section) eligible(i int, cat int, accessible bool) bool {
	return s.status[i] == SeatFree && (cat < 0 || int(s.cat[i]) == cat) && (!accessible || s.access[i])
}

// bestBlock returns the first seat of the best block, or -1.
func (s *Section) bestBlock(n, cat int, accessible, noOrphan bool) int {
	for r, bounds := range s.rows {
		if int(s.rowFree[r]) < n {
			continue
		}
		a, b := int(bounds[0]), int(bounds[1])
		center2 := a + b - 1 // twice the row's centre position
		best, bestDist := -1, 0
		for i := a; i < b; {
			if !s.eligible(i, cat, accessible) {
				i++
				continue
			}
			j := i + 1 // run of eligible, adjacent seats [i, j)
			for j < b && s.adjNext[j-1] && s.eligible(j, cat, accessible) {
				j++
			}
			if start := blockIn(i, j, n, center2, noOrphan); start >= 0 {
				d := abs(2*start + n - 1 - center2)
				if best < 0 || d < bestDist {
					best, bestDist = start, d
				}
			}
			i = j
		}
		if best >= 0 {
			return best
		}
	}
	return -1
}

// blockIn finds the start of an n-seat block within the run [i, j) closest to the centre
// (the lower start on a tie), skipping starts that strand one seat at either end of the
// run when noOrphan is set.
func blockIn(i, j, n, center2 int, noOrphan bool) int {
	best, bestDist := -1, 0
	// The distance falls and then rises as the start moves along the run: once it stops
	// improving on the best valid start, no later start can beat it.
	for st := i; st+n <= j; st++ {
		d := abs(2*st + n - 1 - center2)
		if best >= 0 && d >= bestDist {
			break
		}
		if noOrphan && (st-i == 1 || j-(st+n) == 1) {
			continue
		}
		best, bestDist = st, d
	}
	return best
}

// bestScattered takes eligible seats row by row from the stage, each row's from its centre.
func (s *Section) bestScattered(n, cat int, accessible bool) []int32 {
	var out []int32
	for r, bounds := range s.rows {
		if s.rowFree[r] == 0 {
			continue
		}
		a, b := int(bounds[0]), int(bounds[1])
		var row []int32
		for i := a; i < b; i++ {
			if s.eligible(i, cat, accessible) {
				row = append(row, int32(i))
			}
		}
		c2 := a + b - 1
		sort.SliceStable(row, func(x, y int) bool {
			return abs(2*int(row[x])-c2) < abs(2*int(row[y])-c2)
		})
		for _, seat := range row {
			out = append(out, seat)
			if len(out) == n {
				sort.Slice(out, func(x, y int) bool { return out[x] < out[y] })
				return out
			}
		}
	}
	return nil
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
