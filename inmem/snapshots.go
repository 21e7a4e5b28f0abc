package inmem

import (
	"context"
	"encoding/json"
	"sync"

	ticketview "github.com/ticketview/ticketview"
)

// SnapshotCache is the in-process ticketview.SnapshotCache. It keeps each section's
// newest snapshot encoded (as JSON, like the Redis cache), so what it returns is always a
// fresh copy that shares nothing with what was put or returned before.
type SnapshotCache struct {
	mu    sync.RWMutex
	snaps map[ticketview.SectionID]storedSnapshot
}

type storedSnapshot struct {
	seq  uint64
	data []byte
}

var _ ticketview.SnapshotCache = (*SnapshotCache)(nil)

// NewSnapshotCache returns an empty cache.
func NewSnapshotCache() *SnapshotCache {
	return &SnapshotCache{snaps: map[ticketview.SectionID]storedSnapshot{}}
}

// PutSnapshot implements ticketview.SnapshotCache. A snapshot older (lower Seq) than the
// one kept is ignored; a nil one is EINVALID.
func (c *SnapshotCache) PutSnapshot(ctx context.Context, id ticketview.SectionID, snap *ticketview.SectionSnapshot) error {
	if snap == nil {
		return ticketview.Errorf(ticketview.EINVALID, "nil snapshot for %s", id)
	}
	data, err := json.Marshal(snap)
	if err != nil {
		return ticketview.Errorf(ticketview.EINTERNAL, "encode snapshot of %s: %v", id, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.snaps[id]; ok && old.seq > snap.Seq {
		return nil
	}
	c.snaps[id] = storedSnapshot{seq: snap.Seq, data: data}
	return nil
}

// CachedSnapshot implements ticketview.SnapshotCache.
func (c *SnapshotCache) CachedSnapshot(ctx context.Context, id ticketview.SectionID) (*ticketview.SectionSnapshot, error) {
	c.mu.RLock()
	s, ok := c.snaps[id]
	c.mu.RUnlock()
	if !ok {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "no cached snapshot for %s", id)
	}
	snap := new(ticketview.SectionSnapshot)
	if err := json.Unmarshal(s.data, snap); err != nil {
		return nil, ticketview.Errorf(ticketview.EINTERNAL, "decode snapshot of %s: %v", id, err)
	}
	return snap, nil
}
