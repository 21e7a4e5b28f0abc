package abuse

import "time"

// SetLimiterClock replaces the clock of l's in-flight buckets. Call it before l is used.
func SetLimiterClock(l *Limiter, now func() time.Time) { l.now = now }

// SetGuardClock replaces the clock of g's pass buckets. Call it before g is used.
func SetGuardClock(g *Guard, now func() time.Time) { g.now = now }

// SiteVerifyURL is v's siteverify endpoint.
func SiteVerifyURL(v *SiteVerify) string { return v.url }
