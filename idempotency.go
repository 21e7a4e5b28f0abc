package ticketview

// ReplayHold returns the first result of a hold made with this owner's idempotency key,
// if there was one. It changes nothing: callers use it to answer a retry that a check in
// front of the section (such as the per-buyer limit) would otherwise refuse.
func (s *Section) ReplayHold(owner, key string) (Hold, bool) {
	e, ok, err := s.replayed(owner, key, EvHoldPlaced)
	if !ok || err != nil {
		return Hold{}, false
	}
	return e.holdResult(s), true
}
