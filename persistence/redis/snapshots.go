package redis

import (
	"context"
	"encoding/json"
	"errors"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ticketview/ticketview"
)

func (c *Client) snapshotKey(id ticketview.SectionID) string {
	return c.prefix + "snap:{" + id.Event + "/" + id.Section + "}"
}

// PutSnapshot implements ticketview.SnapshotCache: it stores snap (as JSON) unless the
// stored snapshot has a higher Seq, atomically. A nil snapshot is EINVALID.
func (c *Client) PutSnapshot(ctx context.Context, id ticketview.SectionID, snap *ticketview.SectionSnapshot) error {
	if snap == nil {
		return ticketview.Errorf(ticketview.EINVALID, "nil snapshot for %s", id)
	}
	data, err := json.Marshal(snap)
	if err != nil {
		return ticketview.Errorf(ticketview.EINTERNAL, "redis: encode snapshot of %s: %v", id, err)
	}
	err = c.scripts.putSnapshot.Run(ctx, c.rdb, []string{c.snapshotKey(id)}, formatUint(snap.Seq), data, c.ttl).Err()
	return wrapErr("put snapshot", err)
}

// CachedSnapshot implements ticketview.SnapshotCache.
func (c *Client) CachedSnapshot(ctx context.Context, id ticketview.SectionID) (*ticketview.SectionSnapshot, error) {
	data, err := c.rdb.HGet(ctx, c.snapshotKey(id), "data").Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, notFound("no cached snapshot for %s", id)
	} else if err != nil {
		return nil, wrapErr("read snapshot", err)
	}
	snap := new(ticketview.SectionSnapshot)
	if err := json.Unmarshal(data, snap); err != nil {
		return nil, ticketview.Errorf(ticketview.EINTERNAL, "redis: corrupt snapshot of %s: %v", id, err)
	}
	return snap, nil
}
