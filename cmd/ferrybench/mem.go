package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/password"
)

// peakMem is the highest memory a server used during a test.
type peakMem struct {
	bytes int64
	procs int    // processes counted at that moment
	how   string // how it was measured
}

type sampler struct {
	t     *target
	stopc chan struct{}
	done  chan peakMem
}

// startSampler watches a server's memory until stop. For a single process
// (Ferry) it resets the kernel's high-water mark first (clear_refs 5) and
// reads VmHWM at the end, so the peak between samples counts too; for a
// server that forks per session (vsftpd) it sums VmRSS over the process
// tree at every sample.
func startSampler(t *target, every time.Duration) *sampler {
	s := &sampler{t: t, stopc: make(chan struct{}), done: make(chan peakMem, 1)}
	hwm := !t.tree && os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", t.pid), []byte("5"), 0) == nil
	go func() {
		var peak peakMem
		tick := time.NewTicker(every)
		defer tick.Stop()
		sample := func() {
			pids := []int{t.pid}
			if t.tree {
				pids = processTree(t.pid)
			}
			var sum int64
			for _, p := range pids {
				sum += rss(p)
			}
			if sum > peak.bytes {
				peak.bytes, peak.procs = sum, len(pids)
			}
		}
		for {
			sample()
			select {
			case <-s.stopc:
				sample()
				peak.how = fmt.Sprintf("sum of VmRSS over the process tree, sampled every %v", every)
				if !t.tree {
					peak.how = fmt.Sprintf("VmRSS sampled every %v", every)
					if hwm {
						if h := statusKB(t.pid, "VmHWM:"); h > peak.bytes {
							peak.bytes = h
						}
						peak.how = "VmHWM after clear_refs at the start of the test"
					}
				}
				s.done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *sampler) stop() peakMem {
	close(s.stopc)
	return <-s.done
}

// rss is a process's resident set in bytes (0 if it is gone).
func rss(pid int) int64 { return statusKB(pid, "VmRSS:") }

func statusKB(pid int, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if bytes.HasPrefix(line, []byte(key)) {
			f := strings.Fields(string(line[len(key):]))
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// processTree returns root and all its descendants, from the kernel's
// children lists (cheap enough to sample often), or else from a scan of
// /proc.
func processTree(root int) []int {
	out := []int{root}
	for i := 0; i < len(out); i++ {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", out[i], out[i]))
		if err != nil {
			if i == 0 {
				return scanTree(root)
			}
			continue // the process is gone
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out
}

func scanTree(root int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return []int{root}
	}
	children := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := statFields(pid)
		if err != nil {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// argonCost measures one argon2id verification at Ferry's default cost,
// for the notes under the table.
func argonCost() string {
	h, err := password.Hash("benchmark password", password.Default)
	if err != nil {
		return err.Error()
	}
	start := time.Now()
	_ = password.Verify("benchmark password", h)
	return fmt.Sprintf("one argon2id verification at Ferry's default cost (m=%d KiB, t=%d, p=%d) took %v here; "+
		"vsftpd's user has a yescrypt hash (Debian's default)",
		password.Default.Memory, password.Default.Time, password.Default.Threads, time.Since(start).Round(time.Millisecond))
}
