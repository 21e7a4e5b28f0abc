package mongo

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/ticketview/ticketview"
	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// seatMapDoc is one version of a venue's seat map in the seat_maps collection.
//
// A venue's map is kept as one document per version, keyed by venue id and version:
// "venue@3", and only the highest version is a whole map; the versions it replaced are
// stubs (venue, version, superseded: true) that stay, so that no Put can take their
// version again. The natural MongoDB form, one document per venue replaced by
// findOneAndUpdate with {$inc: {version: 1}}, is atomic on MongoDB but not on FerretDB,
// whose updates read and write the document in separate steps: 20 concurrent Puts there
// got 6 distinct versions. An insert is atomic on both (the unique _id, and the unique
// index on venue and version), so a Put takes version n+1 by inserting it, and when
// another Put took that one first it reads the highest version again. Versions are
// consecutive: n+1 is only tried once n exists, and nothing is ever deleted.
type seatMapDoc struct {
	ID        string                  `bson:"_id"` // venue id "@" version ('@' is not allowed in ids)
	VenueID   string                  `bson:"venue_id"`
	Version   int64                   `bson:"version"`
	Width     float64                 `bson:"width"`
	Height    float64                 `bson:"height"`
	Stage     ticketview.MapShape     `bson:"stage"`
	Sections  []ticketview.SectionMap `bson:"sections"`
	UpdatedAt time.Time               `bson:"updated_at"`
}

// maxPutAttempts bounds the versions a PutSeatMap tries. Every round of concurrent Puts
// of one venue lets at least one of them in, so n concurrent Puts need at most n attempts.
const maxPutAttempts = 1000

// PutSeatMap validates the map (EINVALID) and stores it as the venue's new map, replacing
// the previous one. It sets m.Version to the previous version plus one (1 for the first
// map) and m.UpdatedAt to the time it was stored (UTC, whole milliseconds). Concurrent
// Puts of one venue each get their own version; the map with the highest one is kept.
func (s *Store) PutSeatMap(ctx context.Context, m *ticketview.SeatMap) error {
	if m == nil {
		return ticketview.Errorf(ticketview.EINVALID, "no seat map")
	}
	if err := m.Validate(); err != nil {
		return err
	}
	ctx, cancel := opCtx(ctx)
	defer cancel()
	doc := seatMapDoc{VenueID: m.VenueID, Width: m.Width, Height: m.Height, Stage: m.Stage, Sections: m.Sections}
	for attempt := 1; ; attempt++ {
		last, err := s.latestSeatMapVersion(ctx, m.VenueID)
		if err != nil {
			return err
		}
		doc.Version = last + 1
		doc.ID = m.VenueID + "@" + strconv.FormatInt(doc.Version, 10)
		doc.UpdatedAt = now()
		_, err = s.seatMaps.InsertOne(ctx, &doc)
		if err == nil {
			break
		}
		if !mongodrv.IsDuplicateKeyError(err) {
			return unavailable("put seat map "+m.VenueID, err)
		}
		if attempt == maxPutAttempts {
			return ticketview.Errorf(ticketview.ECONFLICT, "mongo: seat map %q: gave up after %d concurrent updates", m.VenueID, attempt)
		}
	}
	// Turn the versions this one replaces into stubs. If that fails the Put still stands:
	// readers take the highest version, and the next Put stubs what is left.
	_, _ = s.seatMaps.UpdateMany(ctx, bson.D{
		{Key: "venue_id", Value: m.VenueID},
		{Key: "version", Value: bson.D{{Key: "$lt", Value: doc.Version}}},
		{Key: "superseded", Value: bson.D{{Key: "$ne", Value: true}}},
	}, bson.D{
		{Key: "$set", Value: bson.D{{Key: "superseded", Value: true}}},
		{Key: "$unset", Value: bson.D{{Key: "width", Value: ""}, {Key: "height", Value: ""}, {Key: "stage", Value: ""},
			{Key: "sections", Value: ""}, {Key: "updated_at", Value: ""}}},
	})
	m.Version, m.UpdatedAt = doc.Version, doc.UpdatedAt
	return nil
}

// latestSeatMapVersion returns the venue's highest version (stubs included), 0 if it has
// no map.
func (s *Store) latestSeatMapVersion(ctx context.Context, venueID string) (int64, error) {
	var v struct {
		Version int64 `bson:"version"`
	}
	err := s.seatMaps.FindOne(ctx, bson.D{{Key: "venue_id", Value: venueID}},
		options.FindOne().SetSort(bson.D{{Key: "version", Value: -1}}).SetProjection(bson.D{{Key: "version", Value: 1}}),
	).Decode(&v)
	if errors.Is(err, mongodrv.ErrNoDocuments) {
		return 0, nil
	} else if err != nil {
		return 0, unavailable("put seat map "+venueID, err)
	}
	return v.Version, nil
}

// FindSeatMap returns the venue's current map (its highest version, never a stub: only
// versions below one stored are stubbed), or ENOTFOUND.
func (s *Store) FindSeatMap(ctx context.Context, venueID string) (*ticketview.SeatMap, error) {
	ctx, cancel := opCtx(ctx)
	defer cancel()
	var doc seatMapDoc
	err := s.seatMaps.FindOne(ctx, bson.D{{Key: "venue_id", Value: venueID}},
		options.FindOne().SetSort(bson.D{{Key: "version", Value: -1}}),
	).Decode(&doc)
	if errors.Is(err, mongodrv.ErrNoDocuments) {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "seat map of venue %q not found", venueID)
	} else if err != nil {
		return nil, unavailable("find seat map "+venueID, err)
	}
	return &ticketview.SeatMap{
		VenueID: doc.VenueID, Width: doc.Width, Height: doc.Height, Stage: doc.Stage,
		Sections: doc.Sections, Version: doc.Version, UpdatedAt: doc.UpdatedAt.UTC(),
	}, nil
}
