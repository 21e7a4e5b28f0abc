// Package ferret starts FerretDB in-process (SQLite handler) for tests that need a
// MongoDB-compatible server: the production MongoDB adapter is tested against it.
package ferret

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

var (
	once   sync.Once
	uri    string
	errRun error
)

// URI returns the mongodb:// address of a FerretDB shared by the tests of the package,
// started on a random loopback port with its data in a temporary directory on first use.
// Tests isolate themselves by database name.
func URI(t testing.TB) string {
	t.Helper()
	once.Do(func() { uri, errRun = start() })
	if errRun != nil {
		t.Fatalf("start FerretDB: %v", errRun)
	}
	return uri
}

func start() (string, error) {
	dir, err := os.MkdirTemp("", "ticketview-ferret-")
	if err != nil {
		return "", err
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return "", err
	}
	go f.Run(context.Background()) //nolint:errcheck // runs until the test binary exits
	// MongoDBURI is known once the listener is up.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if u := f.MongoDBURI(); u != "" {
			return u, nil
		}
		if time.Now().After(deadline) {
			return "", context.DeadlineExceeded
		}
		time.Sleep(10 * time.Millisecond)
	}
}
