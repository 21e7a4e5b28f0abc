package postgres

// SetSeatPrecheck turns the checks in Go that refuse a second sale of a seat on or off,
// so that tests can show the database's unique index refusing it too.
func SetSeatPrecheck(db *DB, on bool) {
	for _, c := range db.committers {
		c.noSeatPrecheck.Store(!on)
	}
}

// MigrationLock is the statement that takes the migration lock of the current schema.
const MigrationLock = migrationLock

// OutboxPayload is the outbox payload of an event.
var OutboxPayload = outboxPayload
