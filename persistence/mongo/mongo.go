// Package mongo is TicketView's MongoDB adapter for the documents that do not belong in
// the seat engine's journal: seat maps (ticketview.SeatMapStore), rich event details
// (ticketview.EventDetailsStore) and the seat-status audit log (ticketview.AuditLog).
//
// It is tested against FerretDB 1.24 with its SQLite handler (internal/testutil/ferret),
// and every query is written in a form that FerretDB and MongoDB both answer the same way.
// FerretDB differs from MongoDB in ways that matter here:
//
//   - Updates are not atomic there: findAndModify and update read the document, change it
//     in Go and write it back in another statement, so two concurrent $inc of one field
//     can both write the same value (measured: 20 concurrent upserts with $inc gave 6
//     distinct versions). Only inserts are atomic, through SQLite UNIQUE indexes. Seat
//     maps therefore take their version with an insert (see seatMapDoc).
//   - Only equality on a string _id is pushed down to SQLite; every other filter and every
//     sort runs in FerretDB's Go code over the whole collection. Indexes serve uniqueness
//     only. The indexes created here are for MongoDB. On FerretDB a query's time grows
//     with its collection: an audit trail by seat took ~0.4 s with 2,000 entries stored and
//     ~3.8 s with 20,000 (bench_test.go).
//   - $elemMatch on an array of subdocuments matched nothing; a dotted path into the
//     array ("performers.name") works, so that is what the queries use.
//   - createIndexes with two or more indexes that exist already panics FerretDB (the
//     connection drops), so Open creates the indexes one at a time.
//   - Unique compound indexes, unordered inserts with per-document duplicate-key errors,
//     equality on array elements (multikey), $in, date ranges, compound sorts and limits
//     work as in MongoDB.
package mongo

import (
	"context"
	"errors"
	"time"

	"github.com/ticketview/ticketview"
	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

var (
	_ ticketview.SeatMapStore      = (*Store)(nil)
	_ ticketview.EventDetailsStore = (*Store)(nil)
	_ ticketview.AuditLog          = (*Store)(nil)
)

// Collection names.
const (
	seatMapsColl = "seat_maps"
	detailsColl  = "event_details"
	auditColl    = "audit"
)

// Timeouts. A server that cannot be reached makes calls fail within about
// serverSelectionTimeout (2 s in the fault test, also for calls whose pooled connection
// was cut); opTimeout bounds calls whose context has no deadline.
const (
	serverSelectionTimeout = 2 * time.Second
	connectTimeout         = 2 * time.Second
	pingTimeout            = 3 * time.Second
	opTimeout              = 10 * time.Second
)

// Store keeps seat maps, event details and the audit log in one MongoDB database. It is
// safe for concurrent use.
type Store struct {
	client   *mongodrv.Client
	db       *mongodrv.Database
	seatMaps *mongodrv.Collection
	details  *mongodrv.Collection
	audit    *mongodrv.Collection
}

// Open connects to the server at uri (a mongodb:// URI), checks that it answers and
// creates the indexes the queries need (creating existing ones again changes nothing).
// Server selection and connecting time out after 2 s unless the URI says otherwise, so a
// server that is down fails Open, and later calls, within a few seconds with EUNAVAILABLE.
func Open(ctx context.Context, uri, database string) (*Store, error) {
	if database == "" {
		return nil, ticketview.Errorf(ticketview.EINVALID, "mongo: no database name")
	}
	// Defaults first: options given in the URI override them.
	opts := options.Client().
		SetServerSelectionTimeout(serverSelectionTimeout).
		SetConnectTimeout(connectTimeout).
		SetAppName("ticketview").
		ApplyURI(uri)
	client, err := mongodrv.Connect(opts)
	if err != nil {
		return nil, ticketview.Errorf(ticketview.EINVALID, "mongo: open: %v", err)
	}
	s := &Store{client: client, db: client.Database(database)}
	s.seatMaps = s.db.Collection(seatMapsColl)
	s.details = s.db.Collection(detailsColl)
	s.audit = s.db.Collection(auditColl)

	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	err = client.Ping(pctx, nil)
	cancel()
	if err != nil {
		client.Disconnect(context.Background())
		return nil, unavailable("open", err)
	}
	// Not bounded by pingTimeout: MongoDB builds a new index on an existing collection
	// before it answers.
	ictx, cancel := opCtx(ctx)
	err = s.createIndexes(ictx)
	cancel()
	if err != nil {
		client.Disconnect(context.Background())
		return nil, err
	}
	return s, nil
}

// Close disconnects from the server, waiting (until ctx ends) for calls under way.
func (s *Store) Close(ctx context.Context) error {
	if err := s.client.Disconnect(ctx); err != nil {
		return unavailable("close", err)
	}
	return nil
}

func (s *Store) createIndexes(ctx context.Context) error {
	idx := func(name string, unique bool, keys ...string) mongodrv.IndexModel {
		d := bson.D{}
		for _, k := range keys {
			order := 1
			if k[0] == '-' {
				k, order = k[1:], -1
			}
			d = append(d, bson.E{Key: k, Value: order})
		}
		o := options.Index().SetName(name)
		if unique {
			o.SetUnique(true)
		}
		return mongodrv.IndexModel{Keys: d, Options: o}
	}
	for _, c := range []struct {
		coll   *mongodrv.Collection
		models []mongodrv.IndexModel
	}{
		// One document per (venue, version); the unique index makes taking a version atomic.
		{s.seatMaps, []mongodrv.IndexModel{idx("venue_version", true, "venue_id", "-version")}},
		// Search by tag or performer, ordered by event id.
		{s.details, []mongodrv.IndexModel{
			idx("tags", false, "tags", "_id"),
			idx("performers_name", false, "performers.name", "_id"),
		}},
		{s.audit, []mongodrv.IndexModel{
			idx("event_section_seq", true, "event", "section", "seq"), // idempotent appends; trail order
			idx("event_seats_at", false, "event", "seats", "at"),
			idx("event_owner_at", false, "event", "owner", "at"),
		}},
	} {
		// One index per command: FerretDB 1.24 panics (and drops the connection) on a
		// createIndexes naming two or more indexes that exist already (it deletes from its
		// list of indexes to create by position in the request). Creating an index that
		// exists with the same name and keys changes nothing, here and on MongoDB.
		for _, m := range c.models {
			if _, err := c.coll.Indexes().CreateOne(ctx, m); err != nil {
				return unavailable("create indexes on "+c.coll.Name(), err)
			}
		}
	}
	return nil
}

// opCtx bounds a call whose context has no deadline.
func opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, opTimeout)
}

// unavailable turns a failure of the server or of the link to it (unreachable, timed out,
// refused, an unexpected server error) into an EUNAVAILABLE error: nothing is known to
// have been written, and the call may be retried.
func unavailable(op string, err error) error {
	return ticketview.Errorf(ticketview.EUNAVAILABLE, "mongo: unavailable: %s: %v", op, err)
}

// onlyDuplicates reports whether err is a write error whose every failure is a duplicate
// key, with no write-concern error: the documents not reported were written.
func onlyDuplicates(err error) bool {
	var bwe mongodrv.BulkWriteException
	if errors.As(err, &bwe) {
		if bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
			return false
		}
		for _, we := range bwe.WriteErrors {
			if !mongodrv.IsDuplicateKeyError(we.WriteError) {
				return false
			}
		}
		return true
	}
	var we mongodrv.WriteException
	if errors.As(err, &we) {
		if we.WriteConcernError != nil || len(we.WriteErrors) == 0 {
			return false
		}
		for _, e := range we.WriteErrors {
			if !mongodrv.IsDuplicateKeyError(e) {
				return false
			}
		}
		return true
	}
	return false
}

// now is the store's clock: UTC, truncated to milliseconds as BSON dates are.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
