package mongo

import (
	"context"
	"sort"
)

// Drop deletes the store's database (tests clean up with it).
func (s *Store) Drop(ctx context.Context) error { return s.db.Drop(ctx) }

// IndexSpecs returns the indexes of a collection as name -> the raw specification.
func (s *Store) IndexSpecs(ctx context.Context, coll string) (map[string]map[string]any, error) {
	cur, err := s.db.Collection(coll).Indexes().List(ctx)
	if err != nil {
		return nil, err
	}
	var specs []map[string]any
	if err := cur.All(ctx, &specs); err != nil {
		return nil, err
	}
	out := map[string]map[string]any{}
	for _, sp := range specs {
		out[sp["name"].(string)] = sp
	}
	return out, nil
}

// SeatMapDocs returns the venue's documents in the seat_maps collection, by version.
func (s *Store) SeatMapDocs(ctx context.Context, venueID string) ([]map[string]any, error) {
	cur, err := s.seatMaps.Find(ctx, map[string]any{"venue_id": venueID})
	if err != nil {
		return nil, err
	}
	var docs []map[string]any
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i]["version"].(int64) < docs[j]["version"].(int64) })
	return docs, nil
}
