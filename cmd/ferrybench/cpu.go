package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat (USER_HZ, 100
// on Linux whatever the kernel's tick).
const userHZ = 100

// cpuTime is the CPU time (user and system) the server has used so far:
// every live process of its tree (the main one alone when it does not
// fork), and what its children that exited used (the kernel adds it to
// the parent that reaped them). A throughput figure on this 2-core machine
// moves with whatever else runs; the server's own CPU per operation moves
// far less, and shows what a change costs or saves.
func cpuTime(t *target) (time.Duration, error) {
	pids := []int{t.pid}
	if t.tree {
		pids = processTree(t.pid)
	}
	var ticks int64
	for _, pid := range pids {
		f, err := statFields(pid)
		if err != nil {
			if pid == t.pid {
				return 0, err
			}
			continue // a session process that just ended
		}
		// Fields after "pid (comm)": state is [0], utime [11], stime [12],
		// cutime [13], cstime [14].
		n := 2
		if pid == t.pid {
			n = 4
		}
		for _, v := range f[11 : 11+n] {
			x, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
			}
			ticks += x
		}
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')') // comm may hold spaces and parentheses
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	return f, nil
}

// cpuMeter measures a server's CPU over the steps of a workload.
type cpuMeter struct {
	t    *target
	last time.Duration
	err  error
}

func newCPUMeter(t *target) *cpuMeter {
	m := &cpuMeter{t: t}
	m.last, m.err = cpuTime(t)
	return m
}

// per returns the CPU used since the last call, per op of n, in µs.
func (m *cpuMeter) per(n int) (float64, bool) {
	now, err := cpuTime(m.t)
	if err != nil && m.err == nil {
		m.err = err
	}
	d := now - m.last
	m.last = now
	if m.err != nil || n == 0 {
		return 0, false
	}
	return float64(d.Microseconds()) / float64(n), true
}
