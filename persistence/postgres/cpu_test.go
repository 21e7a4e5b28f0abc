package postgres_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ticketview/ticketview/persistence/postgres"
)

// cpuMeter measures the CPU time this process and the PostgreSQL server processes serving
// a DB spend, so that benchmarks can report CPU per event: on a shared machine, whose
// other work slows the wall clock down, that says more than events/s. The server's
// share is read from /proc, so it is known only when the server runs on this machine;
// the DB's connections are found by their application_name.
type cpuMeter struct {
	db       *postgres.DB
	pg0, go0 float64
}

// startCPU starts measuring. Server processes that serve db later count from their start.
func startCPU(db *postgres.DB) *cpuMeter {
	m := &cpuMeter{db: db, go0: processCPU()}
	m.pg0, _ = serverCPU(db)
	return m
}

// report adds go-cpu-µs/ev and (if known) pg-cpu-µs/ev to the benchmark's metrics.
func (m *cpuMeter) report(b *testing.B, events int) {
	if events == 0 {
		return
	}
	b.ReportMetric((processCPU()-m.go0)/float64(events)*1e6, "go-cpu-µs/ev")
	if pg, ok := serverCPU(m.db); ok {
		b.ReportMetric((pg-m.pg0)/float64(events)*1e6, "pg-cpu-µs/ev")
	}
}

// serverCPU sums the CPU seconds of the server processes of db's connections.
func serverCPU(db *postgres.DB) (float64, bool) {
	rows, err := db.Pool().Query(context.Background(), `SELECT pid FROM pg_stat_activity
		WHERE application_name = current_setting('application_name') AND pid <> pg_backend_pid()`)
	if err != nil {
		return 0, false
	}
	defer rows.Close()
	total, found := 0.0, false
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) != nil {
			return 0, false
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command name: state is the 1st, utime the 12th, stime the 13th.
		f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+2:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		s, _ := strconv.ParseFloat(f[12], 64)
		total += (u + s) / 100 // clock ticks (USER_HZ, 100 on Linux)
		found = true
	}
	return total, found && rows.Err() == nil
}

func processCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
