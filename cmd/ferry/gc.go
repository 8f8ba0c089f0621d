package main

import (
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// serveGCPercent is `ferry serve`'s GOGC when the environment sets none.
const serveGCPercent = 400

// tuneGC lets the heap grow to 5x what is live before a collection
// (GOGC=400) unless GOGC is set: the server keeps little alive for long
// (sessions, caches), and the collector's CPU was a tenth of a burst of
// small uploads; 64 parallel sessions went from ~480 to ~700 a second for
// some tens of MiB. Inside a container with a memory limit, and without
// GOMEMLIMIT, the runtime is also given a soft limit of three quarters of
// the container's, so that a heap allowed to grow that far collects
// sooner instead of running the container out of memory (a burst of logins
// holds ~19 MiB per argon2id check in progress).
func tuneGC(log *slog.Logger) {
	if os.Getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(serveGCPercent)
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if limit := containerMemoryLimit(); limit > 0 {
		debug.SetMemoryLimit(limit / 4 * 3)
		log.Debug("soft memory limit from the container's", "bytes", limit/4*3)
	}
}

// freeCheckMemory runs when no password check is running or waiting any
// more. Each argon2id check holds 19 MiB for its ~30 ms; a collection that
// ends during one counts that as live, and at GOGC=400 lets the heap grow
// to five times as much (~100 MiB) before the next. Collecting once the
// checks are over, and giving their pages back, keeps the heap sized by
// what the sessions use. A burst of logins pays it once, at its end, and
// a login whose credentials are cached runs no check.
func freeCheckMemory() { debug.FreeOSMemory() }

// containerMemoryLimit reads the cgroup's memory limit (v2, then v1); 0
// means none.
func containerMemoryLimit() int64 {
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(f); err == nil {
			return parseMemoryLimit(string(b))
		}
	}
	return 0
}

// parseMemoryLimit reads a cgroup memory limit file's content: a number of
// bytes, "max" (v2) or a huge number (v1) for none.
func parseMemoryLimit(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n >= 1<<60 {
		return 0
	}
	return n
}
