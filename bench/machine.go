package main

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/ticketview/ticketview/bench/load"
)

// machine describes this machine and the servers the baselines use.
func machine(ctx context.Context, o options) load.Machine {
	m := load.Machine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				m.MemoryGiB = float64(int(kb/1024/1024*10)) / 10
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.Load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(cctx, o.postgres); err == nil {
		var v string
		if conn.QueryRow(cctx, "SHOW server_version").Scan(&v) == nil {
			m.Postgres = "PostgreSQL " + v
		}
		var sc string
		if conn.QueryRow(cctx, "SHOW synchronous_commit").Scan(&sc) == nil {
			m.Postgres += ", synchronous_commit=" + sc
		}
		conn.Close(cctx)
	}
	if opt, err := redis.ParseURL(o.redis); err == nil {
		rc := redis.NewClient(opt)
		if info, err := rc.Info(cctx, "server", "persistence").Result(); err == nil {
			var ver, aof string
			for _, line := range strings.Split(info, "\r\n") {
				if v, ok := strings.CutPrefix(line, "redis_version:"); ok {
					ver = v
				}
				if v, ok := strings.CutPrefix(line, "aof_enabled:"); ok {
					aof = v
				}
			}
			m.Redis = "Redis " + ver
			if aof == "0" {
				m.Redis += " (no AOF: nothing written to disk)"
			}
		}
		rc.Close()
	}
	m.Note = "the load generator, the target and its servers share these CPUs"
	return m
}
