package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ticketview/ticketview/bench/load"
)

// The CPU accounting of a run (Linux, from /proc): how much of the machine the load
// generator, the target's process and everything else used while the buyers were served.
// On two cores shared by all of them, this is what bounds every design's throughput; the
// report turns it into CPU microseconds per request.

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every Linux platform Go
// supports (the kernel exports it to user space as a constant).
const clockTicks = 100

// cpuSample is the machine's and some processes' CPU times at one instant, in seconds.
type cpuSample struct {
	at           time.Time
	busy, idle   float64 // the whole machine (/proc/stat), every CPU
	steal        float64 // time a virtual machine's CPUs wanted but the hypervisor gave to others
	self, target float64 // this process; the target's processes
	ok           bool
}

// sampleCPU reads the CPU times; ok is false where /proc is not there (not Linux).
func sampleCPU(pids []int) cpuSample {
	s := cpuSample{at: time.Now()}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	busy, idle, steal, ok := parseProcStat(b)
	if !ok {
		return s
	}
	s.busy, s.idle, s.steal = busy, idle, steal
	if s.self, ok = processCPU("self"); !ok {
		return s
	}
	for _, pid := range pids {
		if t, ok := processCPU(strconv.Itoa(pid)); ok {
			s.target += t
		}
	}
	s.ok = true
	return s
}

// parseProcStat reads the first line of /proc/stat ("cpu user nice system idle iowait
// irq softirq steal ..."): busy, idle (idle + iowait) and stolen seconds over every CPU.
// Guest time is already counted in user.
func parseProcStat(b []byte) (busy, idle, steal float64, ok bool) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, 0, false
	}
	var v [8]float64
	for i := range v {
		n, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return 0, 0, 0, false
		}
		v[i] = float64(n) / clockTicks
	}
	idle = v[3] + v[4]
	busy = v[0] + v[1] + v[2] + v[5] + v[6]
	return busy, idle, v[7], true
}

// processCPU is a process's user + system seconds (/proc/<pid>/stat, fields 14 and 15).
func processCPU(pid string) (float64, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	return parsePidStat(b)
}

func parsePidStat(b []byte) (float64, bool) {
	// The command name (field 2) is in parentheses and may hold spaces: count from the
	// last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return float64(u+s) / clockTicks, true
}

// cpuUse is the CPU used between two samples, for requests requests; nil if either
// sample failed. Other is what the machine was busy with beyond the two processes: the
// target's servers (PostgreSQL, Redis), kernel work not charged to a process, and
// anything else running.
func cpuUse(a, b cpuSample, requests int) *load.CPUUse {
	if !a.ok || !b.ok {
		return nil
	}
	u := &load.CPUUse{
		Wall:     b.at.Sub(a.at).Seconds(),
		Busy:     b.busy - a.busy,
		Idle:     b.idle - a.idle,
		Steal:    b.steal - a.steal,
		Harness:  b.self - a.self,
		Target:   b.target - a.target,
		Requests: requests,
	}
	u.Other = max(u.Busy-u.Harness-u.Target, 0)
	return u
}

// pidsOf are the processes of t that serve its requests (none for a target this
// program does not run).
func pidsOf(t target) []int {
	switch t := t.(type) {
	case *tvTarget:
		return t.proc.pids()
	case *baseTarget:
		return t.proc.pids()
	case *clusterTarget:
		return t.pids()
	}
	return nil
}
