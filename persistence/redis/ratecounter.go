package redis

import (
	"context"
	"time"

	"github.com/ticketview/ticketview"
)

// Incr implements ticketview.RateCounter with one script: INCRBY, and PEXPIRE when the
// counter has no expiry yet (it is new), then its PTTL. The window is rounded up to whole
// milliseconds; a window that is not positive is EINVALID. Values are exact up to 2^53
// (Lua numbers are doubles).
func (c *Client) Incr(ctx context.Context, key string, n int64, window time.Duration) (int64, time.Duration, error) {
	if window <= 0 {
		return 0, 0, ticketview.Errorf(ticketview.EINVALID, "rate window must be positive, got %s", window)
	}
	ms := (window + time.Millisecond - 1) / time.Millisecond
	vals, err := c.scripts.incr.Run(ctx, c.rdb, []string{c.prefix + "rate:" + key}, n, int64(ms)).Int64Slice()
	if err != nil {
		return 0, 0, wrapErr("incr", err)
	}
	if len(vals) != 2 {
		return 0, 0, ticketview.Errorf(ticketview.EINTERNAL, "redis: incr: %d values from the script", len(vals))
	}
	reset := time.Duration(vals[1]) * time.Millisecond
	if reset <= 0 {
		reset = time.Millisecond // expiring this very millisecond
	}
	return vals[0], min(reset, window), nil
}
