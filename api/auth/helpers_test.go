package auth_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ticketview/ticketview"
	"github.com/ticketview/ticketview/api/auth"
	"github.com/ticketview/ticketview/internal/testutil/pgtest"
	"github.com/ticketview/ticketview/persistence/postgres"
	"github.com/ticketview/ticketview/persistence/sqlite"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-test")

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// accounts is what the service needs of a database.
type accounts interface {
	ticketview.UserStore
	ticketview.SessionStore
}

// store is a real database the service's tests run on.
type store struct {
	name string
	open func(t *testing.T) accounts
}

var (
	sqliteStore = store{"sqlite", func(t *testing.T) accounts {
		db, err := sqlite.Open(filepath.Join(t.TempDir(), "ticketview.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}}
	postgresStore = store{"postgres", func(t *testing.T) accounts {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := postgres.Open(ctx, pgtest.URL(t), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}}
	stores = []store{sqliteStore, postgresStore}
)

// runOnStores runs each scenario on each store, in parallel.
func runOnStores(t *testing.T, scenarios map[string]func(*testing.T, store)) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			for name, f := range scenarios {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					f(t, st)
				})
			}
		})
	}
}

type env struct {
	db    accounts
	svc   *auth.Service
	clock *clock
	cfg   auth.Config
}

// newEnv returns a service on a fresh database of st; edit adjusts the config.
func newEnv(t *testing.T, st store, edit ...func(*auth.Config)) *env {
	t.Helper()
	db := st.open(t)
	c := newClock()
	cfg := auth.Config{Users: db, Sessions: db, Secret: testSecret, Hash: auth.FastHash, Now: c.Now}
	for _, f := range edit {
		f(&cfg)
	}
	svc, err := auth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{db: db, svc: svc, clock: c, cfg: cfg}
}

// other returns another service on the same stores and clock, with cfg edited.
func (e *env) other(t *testing.T, edit func(*auth.Config)) *auth.Service {
	t.Helper()
	cfg := e.cfg
	edit(&cfg)
	svc, err := auth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func (e *env) register(t *testing.T, email, password string) auth.Tokens {
	t.Helper()
	tok, err := e.svc.Register(context.Background(), auth.Registration{Email: email, Password: password, Name: "Test User"})
	if err != nil {
		t.Fatalf("register %s: %v", email, err)
	}
	return tok
}

func (e *env) setDisabled(t *testing.T, userID string, disabled bool) {
	t.Helper()
	if _, err := e.db.UpdateUser(context.Background(), userID, func(u *ticketview.User) error {
		u.Disabled = disabled
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// wantCode fails unless err is a domain error with code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	var de *ticketview.Error
	if !errors.As(err, &de) || de.Code != code {
		t.Fatalf("got error %v (code %s), want code %s", err, ticketview.ErrorCode(err), code)
	}
}

// mustVerify verifies an access token and fails the test if it is refused.
func mustVerify(t *testing.T, svc *auth.Service, token string) auth.Claims {
	t.Helper()
	c, err := svc.Verify(token)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return c
}
