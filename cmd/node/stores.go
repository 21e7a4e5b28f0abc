package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	ticketview "github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/inmem"
	"github.com/ticketview/ticketview/persistence/journalfile"
	"github.com/ticketview/ticketview/persistence/mongo"
	"github.com/ticketview/ticketview/persistence/postgres"
	"github.com/ticketview/ticketview/persistence/redis"
	"github.com/ticketview/ticketview/persistence/sqlite"
)

// stores are the adapters behind each port, chosen by the settings: each port is
// embedded unless its server's address is set.
type stores struct {
	journal  ticketview.SectionStore
	events   ticketview.EventStore
	venues   ticketview.VenueStore
	seatMaps ticketview.SeatMapStore
	details  ticketview.EventDetailsStore
	audit    ticketview.AuditLog
	users    ticketview.UserStore
	sessions ticketview.SessionStore
	bookings ticketview.BookingIndex // nil with the file journal: nothing projects it

	// Orders and the event pipeline.
	orders        ticketview.OrderStore
	outbox        ticketview.Outbox
	msgLog        ticketview.MessageLog // embedded: the outbox read as a log (nil with PostgreSQL)
	notifications ticketview.NotificationStore
	analytics     ticketview.AnalyticsStore

	journalName, catalogName, contentName string
}

// openStores opens what the settings ask for. On error, what was opened is left in m for
// Close.
func (m *Main) openStores(ctx context.Context) (st stores, err error) {
	// The embedded SQLite database holds whatever no server takes.
	needSQLite := m.PostgresURL == "" || m.MongoURL == ""
	if needSQLite {
		if err := os.MkdirAll(m.DataDir, 0o755); err != nil {
			return st, fmt.Errorf("data directory: %w", err)
		}
		if m.db, err = sqlite.Open(filepath.Join(m.DataDir, DBFile)); err != nil {
			return st, err
		}
	}
	if m.PostgresURL != "" {
		if m.pg, err = postgres.Open(ctx, m.PostgresURL, postgres.Options{}); err != nil {
			return st, fmt.Errorf("PostgreSQL: %w", err)
		}
		st.journal, st.events, st.venues = m.pg, m.pg, m.pg
		st.users, st.sessions, st.bookings = m.pg, m.pg, m.pg
		st.orders, st.outbox, st.notifications, st.analytics = m.pg, m.pg, m.pg, m.pg
		st.journalName, st.catalogName = "postgres", "postgres"
	} else {
		st.events, st.venues, st.catalogName = m.db, m.db, "sqlite"
		st.users, st.sessions = m.db, m.db
		st.orders, st.outbox, st.msgLog, st.notifications, st.analytics = m.db, m.db, m.db, m.db, m.db
		switch m.Journal {
		case "sqlite":
			st.journal, st.journalName = m.db, "sqlite"
			st.bookings = m.db // projected in the journal's transactions
		default:
			if m.jf, err = journalfile.Open(filepath.Join(m.DataDir, JournalDir)); err != nil {
				return st, err
			}
			st.journal, st.journalName = m.jf, "file"
		}
	}
	// Venues never change once created; every part of the node reads them through one cache.
	st.venues = inmem.NewVenueCache(st.venues)
	if m.MongoURL != "" {
		if m.mg, err = mongo.Open(ctx, m.MongoURL, m.MongoDB); err != nil {
			return st, fmt.Errorf("MongoDB: %w", err)
		}
		st.seatMaps, st.details, st.audit, st.contentName = m.mg, m.mg, m.mg, "mongo"
	} else {
		st.seatMaps, st.details, st.audit, st.contentName = m.db, m.db, m.db, "sqlite"
	}
	if m.RedisURL != "" {
		// Redis is a cache: the node starts, and books, without it; the client connects
		// when Redis answers.
		if m.rd, err = redis.Open(ctx, m.RedisURL, redis.Options{Prefix: m.RedisPrefix}); err != nil {
			return st, fmt.Errorf("Redis: %w", err)
		}
		if err := m.rd.Ping(ctx); err != nil {
			m.Logger.Warn("Redis does not answer yet; reading availability from the engine until it does", zap.Error(err))
		}
	}
	return st, nil
}
