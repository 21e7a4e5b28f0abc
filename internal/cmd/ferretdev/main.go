// Command ferretdev runs FerretDB (a MongoDB-compatible server, SQLite handler) for
// development, so that `make run-prod` has a MongoDB-compatible server on a machine
// without MongoDB. It is not for production: use MongoDB there.
//
//	ferretdev [-listen 127.0.0.1:27017] [-data ./data/ferretdb]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "listen address")
	data := flag.String("data", "./data/ferretdb", "data directory")
	flag.Parse()
	dir, err := filepath.Abs(*data)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdev:", err)
		os.Exit(1)
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdev:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("ferretdev: MongoDB-compatible server on %s (data in %s)\n", *listen, dir)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "ferretdev:", err)
		os.Exit(1)
	}
}
