package mongo

import (
	"context"
	"errors"

	"github.com/ticketview/ticketview"
	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// defaultDetailsLimit is the number of details SearchEventDetails returns when the filter
// sets no limit.
const defaultDetailsLimit = 50

// PutEventDetails validates the details (EINVALID) and stores them, replacing earlier
// ones of the event. It sets d.UpdatedAt (UTC, whole milliseconds). The document is
// ticketview.EventDetails as its bson tags say, keyed by event id.
func (s *Store) PutEventDetails(ctx context.Context, d *ticketview.EventDetails) error {
	if d == nil {
		return ticketview.Errorf(ticketview.EINVALID, "no event details")
	}
	if err := d.Validate(); err != nil {
		return err
	}
	ctx, cancel := opCtx(ctx)
	defer cancel()
	doc := *d
	doc.UpdatedAt = now()
	for attempt := 1; ; attempt++ {
		_, err := s.details.ReplaceOne(ctx, bson.D{{Key: "_id", Value: doc.EventID}}, &doc, options.Replace().SetUpsert(true))
		if err == nil {
			break
		}
		// Two upserts of an id not stored yet can race: one inserts, the other fails with a
		// duplicate key (FerretDB; MongoDB retries this itself since 4.2). Replacing what
		// the other inserted is what a later Put does anyway.
		if !mongodrv.IsDuplicateKeyError(err) || attempt == 3 {
			return unavailable("put event details "+doc.EventID, err)
		}
	}
	d.UpdatedAt = doc.UpdatedAt
	return nil
}

// FindEventDetails returns the event's details, or ENOTFOUND.
func (s *Store) FindEventDetails(ctx context.Context, eventID string) (*ticketview.EventDetails, error) {
	ctx, cancel := opCtx(ctx)
	defer cancel()
	d := new(ticketview.EventDetails)
	err := s.details.FindOne(ctx, bson.D{{Key: "_id", Value: eventID}}).Decode(d)
	if errors.Is(err, mongodrv.ErrNoDocuments) {
		return nil, ticketview.Errorf(ticketview.ENOTFOUND, "details of event %q not found", eventID)
	} else if err != nil {
		return nil, unavailable("find event details "+eventID, err)
	}
	d.UpdatedAt = d.UpdatedAt.UTC()
	return d, nil
}

// SearchEventDetails returns the details with the tag f.Tag and a performer named
// f.Performer (both exact; empty matches all), ordered by event id, at most f.Limit of
// them (50 when 0 or less). The performer is matched with the dotted path
// "performers.name", which FerretDB supports (its $elemMatch on subdocuments does not).
func (s *Store) SearchEventDetails(ctx context.Context, f ticketview.DetailsFilter) ([]*ticketview.EventDetails, error) {
	ctx, cancel := opCtx(ctx)
	defer cancel()
	filter := bson.D{}
	if f.Tag != "" {
		filter = append(filter, bson.E{Key: "tags", Value: f.Tag}) // matches any element of the array
	}
	if f.Performer != "" {
		filter = append(filter, bson.E{Key: "performers.name", Value: f.Performer})
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultDetailsLimit
	}
	cur, err := s.details.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, unavailable("search event details", err)
	}
	defer cur.Close(context.Background())
	out := []*ticketview.EventDetails{}
	for cur.Next(ctx) {
		d := new(ticketview.EventDetails)
		if err := cur.Decode(d); err != nil {
			return nil, ticketview.Errorf(ticketview.EINTERNAL, "mongo: search event details: corrupt document: %v", err)
		}
		d.UpdatedAt = d.UpdatedAt.UTC()
		out = append(out, d)
	}
	if err := cur.Err(); err != nil {
		return nil, unavailable("search event details", err)
	}
	return out, nil
}
