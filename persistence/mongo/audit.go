package mongo

import (
	"context"
	"time"

	"github.com/ticketview/ticketview"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// defaultAuditLimit is the number of entries AuditTrail returns when the filter sets no
// limit.
const defaultAuditLimit = 100

// auditDoc is an audit entry in the audit collection. The section id is kept as two
// fields, event and section, so that one index serves queries by event and by section.
// _id is left to the driver (an ObjectID): the unique index on (event, section, seq) is
// what makes appends idempotent.
type auditDoc struct {
	Event     string    `bson:"event"`
	Section   string    `bson:"section"`
	Seq       int64     `bson:"seq"`
	Type      int32     `bson:"type"`
	At        time.Time `bson:"at"`
	Owner     string    `bson:"owner,omitempty"`
	Token     string    `bson:"token,omitempty"`
	BookingID string    `bson:"booking_id,omitempty"`
	Seats     []string  `bson:"seats,omitempty"`
	Quantity  int32     `bson:"quantity"`
	Reference string    `bson:"reference,omitempty"`
}

// AppendAudit validates the entries (EINVALID, and then nothing is stored) and stores
// them. It is idempotent: an entry whose (Section, Seq) is stored already, or that comes
// twice in entries, is skipped (the first stored wins). The entries go in one unordered
// insert; its duplicate-key errors are expected and ignored, any other failure is
// EUNAVAILABLE, and some entries may then be stored: appending them again is safe. At is
// stored in whole milliseconds.
func (s *Store) AppendAudit(ctx context.Context, entries []ticketview.AuditEntry) error {
	if err := ticketview.ValidateAudit(entries); err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	ctx, cancel := opCtx(ctx)
	defer cancel()
	docs := make([]any, len(entries))
	for i := range entries {
		e := &entries[i]
		docs[i] = &auditDoc{
			Event: e.Section.Event, Section: e.Section.Section, Seq: int64(e.Seq), Type: int32(e.Type),
			At: e.At, Owner: e.Owner, Token: e.Token, BookingID: e.BookingID, Seats: e.Seats,
			Quantity: e.Quantity, Reference: e.Reference,
		}
	}
	_, err := s.audit.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err != nil && !onlyDuplicates(err) {
		return unavailable("append audit", err)
	}
	return nil
}

// AuditTrail returns the entries of f.Event that pass the filter (Section, Seat label and
// Owner exact; From inclusive, To exclusive, compared in whole milliseconds), ordered by
// section then Seq, at most f.Limit of them (100 when 0 or less). An empty Event is
// EINVALID. The seat is matched as an element of the seats array (multikey).
func (s *Store) AuditTrail(ctx context.Context, f ticketview.AuditFilter) ([]ticketview.AuditEntry, error) {
	if f.Event == "" {
		return nil, ticketview.Errorf(ticketview.EINVALID, "audit trail: an event is required")
	}
	ctx, cancel := opCtx(ctx)
	defer cancel()
	filter := bson.D{{Key: "event", Value: f.Event}}
	if f.Section != "" {
		filter = append(filter, bson.E{Key: "section", Value: f.Section})
	}
	if f.Seat != "" {
		filter = append(filter, bson.E{Key: "seats", Value: f.Seat})
	}
	if f.Owner != "" {
		filter = append(filter, bson.E{Key: "owner", Value: f.Owner})
	}
	if !f.From.IsZero() || !f.To.IsZero() {
		r := bson.D{}
		if !f.From.IsZero() {
			r = append(r, bson.E{Key: "$gte", Value: f.From})
		}
		if !f.To.IsZero() {
			r = append(r, bson.E{Key: "$lt", Value: f.To})
		}
		filter = append(filter, bson.E{Key: "at", Value: r})
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultAuditLimit
	}
	cur, err := s.audit.Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "section", Value: 1}, {Key: "seq", Value: 1}}).
		SetLimit(int64(limit)))
	if err != nil {
		return nil, unavailable("audit trail", err)
	}
	defer cur.Close(context.Background())
	out := []ticketview.AuditEntry{}
	for cur.Next(ctx) {
		var d auditDoc
		if err := cur.Decode(&d); err != nil {
			return nil, ticketview.Errorf(ticketview.EINTERNAL, "mongo: audit trail: corrupt document: %v", err)
		}
		out = append(out, ticketview.AuditEntry{
			Section: ticketview.SectionID{Event: d.Event, Section: d.Section}, Seq: uint64(d.Seq),
			Type: ticketview.SectionEventType(d.Type), At: d.At.UTC(), Owner: d.Owner, Token: d.Token,
			BookingID: d.BookingID, Seats: d.Seats, Quantity: d.Quantity, Reference: d.Reference,
		})
	}
	if err := cur.Err(); err != nil {
		return nil, unavailable("audit trail", err)
	}
	return out, nil
}
