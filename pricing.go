package ticketview

// Dynamic pricing. A category with a floor and a ceiling is priced by demand in the section:
//
//	demand = (sold + held/2) / seats of the category   (held seats count half: hold pressure)
//	price  = floor -> base -> ceiling, piecewise linear, as demand goes 0 -> 0.5 -> 1
//
// so an even sell-through keeps the organizer's base price, a rush raises it toward the
// ceiling and a slow sale lowers it toward the floor. Prices are rounded to whole currency
// units. The price is fixed for a hold when the hold is made.

// Price is the current price of a category in this section.
func (s *Section) Price(category string) int64 {
	ci, ok := s.catIdx[category]
	if !ok {
		return 0
	}
	return s.priceIdx(ci)
}

func (s *Section) priceIdx(ci uint8) int64 {
	c := &s.cats[ci]
	return DynamicPrice(*c, int(s.sold[ci]), int(s.held[ci]), int(s.capTot[ci]))
}

// DynamicPrice is the price of category c with sold and held seats out of total.
func DynamicPrice(c PriceCategory, sold, held, total int) int64 {
	if c.Floor == 0 || c.Ceiling == 0 || total <= 0 { // either at 0 means a fixed price
		return c.Price
	}
	// demand in thousandths, integer arithmetic keeps replay exact.
	d := int64(2*sold+held) * 1000 / int64(2*total)
	var p int64
	if d <= 500 {
		p = c.Floor + (c.Price-c.Floor)*d/500
	} else {
		p = c.Price + (c.Ceiling-c.Price)*(d-500)/500
	}
	p = (p + 50) / 100 * 100
	if p < c.Floor {
		p = c.Floor
	}
	if p > c.Ceiling {
		p = c.Ceiling
	}
	return p
}
