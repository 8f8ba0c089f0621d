package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// metric is one row of the table.
type metric struct {
	id     string
	label  func(o *options) string
	unit   string
	higher bool    // higher is better
	target float64 // ratio Ferry/vsftpd the issue asks for; 0: none
	strict bool    // the ratio must be strictly below target (lower-is-better rows)
}

const (
	mBigUp     = "big-up"
	mBigDown   = "big-down"
	mSmallUp   = "small-up"
	mSmallDown = "small-down"
	mSessRate  = "sess-rate"
	mSessP50   = "sess-p50"
	mSessP99   = "sess-p99"
	mList      = "list"
	mListRaw   = "list-raw"
	mMLSD      = "mlsd"
	mMLSDRaw   = "mlsd-raw"
	mPeakRSS   = "peak-rss"
)

var metrics = []metric{
	{id: mBigUp, unit: "MB/s", higher: true, target: 1.0,
		label: func(o *options) string { return "upload 1 file of " + fmtSize(o.big) }},
	{id: mBigDown, unit: "MB/s", higher: true, target: 2.0,
		label: func(o *options) string { return "download 1 file of " + fmtSize(o.big) }},
	{id: mSmallUp, unit: "files/s", higher: true, target: 1.4,
		label: func(o *options) string { return fmt.Sprintf("upload %d files of %s", o.files, fmtSize(o.fileSize)) }},
	{id: mSmallDown, unit: "files/s", higher: true, target: 2.0,
		label: func(o *options) string { return fmt.Sprintf("download %d files of %s", o.files, fmtSize(o.fileSize)) }},
	{id: mSessRate, unit: "sessions/s", higher: true, target: 2.0,
		label: func(o *options) string {
			return fmt.Sprintf("%d parallel sessions x %d (login+PWD+LIST+RETR %s+QUIT)", o.sessions, o.sessionRuns, fmtSize(o.retrSize))
		}},
	{id: mSessP50, unit: "ms",
		label: func(o *options) string { return "  session latency p50" }},
	{id: mSessP99, unit: "ms",
		label: func(o *options) string { return "  session latency p99" }},
	{id: mList, unit: "ms", target: 0.9,
		label: func(o *options) string { return fmt.Sprintf("LIST of %d entries (Go client, parsed)", o.entries) }},
	{id: mListRaw, unit: "ms",
		label: func(o *options) string {
			return fmt.Sprintf("  LIST of %d entries, raw (no client parsing)", o.entries)
		}},
	{id: mMLSD, unit: "ms",
		label: func(o *options) string { return fmt.Sprintf("MLSD of %d entries (Go client, parsed)", o.entries) }},
	{id: mMLSDRaw, unit: "ms",
		label: func(o *options) string { return fmt.Sprintf("  MLSD of %d entries, raw", o.entries) }},
	{id: mPeakRSS, unit: "MiB", target: 0.25, strict: true,
		label: func(o *options) string { return "peak memory during the sessions test" }},
}

type results struct {
	vals  map[string]map[string][]float64 // metric -> server -> one value per round
	procs map[string][]int
	notes []string
}

func newResults() *results {
	return &results{vals: map[string]map[string][]float64{}, procs: map[string][]int{}}
}

func (r *results) add(metric, server string, v float64) {
	if r.vals[metric] == nil {
		r.vals[metric] = map[string][]float64{}
	}
	r.vals[metric][server] = append(r.vals[metric][server], v)
}

func (r *results) addProcs(server string, n int) { r.procs[server] = append(r.procs[server], n) }

func (r *results) note(_ string, s string) { r.notes = append(r.notes, s) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtVal(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func (r *results) print(w io.Writer, o *options) {
	fmt.Fprintf(w, "Ferry vs vsftpd on loopback, %d CPU(s), median of %d interleaved round(s) (Ferry, vsftpd, Ferry, ...)\n\n",
		runtime.NumCPU(), o.rounds)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "test\t Ferry\t vsftpd\t unit\t Ferry/vsftpd\t target\t met?\t")
	met, total := 0, 0
	for _, m := range metrics {
		vs := r.vals[m.id]
		if vs == nil {
			continue
		}
		f, v := vs["Ferry"], vs["vsftpd"]
		fs, vsS, ratio, tgt, ok := "n/a", "n/a", "", "", ""
		if len(f) > 0 {
			fs = fmtVal(median(f))
		}
		if len(v) > 0 {
			vsS = fmtVal(median(v))
		}
		if len(f) > 0 && len(v) > 0 && median(v) > 0 {
			q := median(f) / median(v)
			ratio = fmt.Sprintf("%.2fx", q)
			if m.target > 0 && q > m.target-0.01 && q < m.target+0.01 {
				ratio = fmt.Sprintf("%.3fx", q) // so that met/not met matches what is shown
			}
			if m.target > 0 {
				total++
				pass := false
				switch {
				case m.higher:
					tgt, pass = fmt.Sprintf(">= %.1fx", m.target), q >= m.target
				case m.strict:
					tgt, pass = fmt.Sprintf("< %.2fx", m.target), q < m.target
				default:
					tgt, pass = fmt.Sprintf("<= %.1fx", m.target), q <= m.target
				}
				ok = "NOT MET"
				if pass {
					ok, met = "met", met+1
				}
			}
		}
		label := m.label(o)
		fmt.Fprintf(tw, "%s\t %s\t %s\t %s\t %s\t %s\t %s\t\n", label, fs, vsS, m.unit, ratio, tgt, ok)
	}
	tw.Flush()
	fmt.Fprintf(w, "\ntargets met: %d of %d\n", met, total)

	fmt.Fprintln(w, "\nper round (Ferry | vsftpd):")
	for _, m := range metrics {
		vs := r.vals[m.id]
		if vs == nil {
			continue
		}
		fmt.Fprintf(w, "  %-12s %s | %s\n", m.id, joinVals(vs["Ferry"]), joinVals(vs["vsftpd"]))
	}
	fmt.Fprintln(w, "\nnotes:")
	notes := append([]string{
		"Ferry: the ferry binary as a separate process (`ferry serve`, SQLite, log to a file), one argon2id account; " +
			"its cache of verified credentials is on, so a burst of sessions pays the hash once per five minutes.",
		"vsftpd: Debian's, standalone in the foreground, chroot to the user's root, PAM (pam_unix) against /etc/shadow.",
		"Ferry's memory is its single process's peak (VmHWM reset at the start of the test); vsftpd's is the peak of the " +
			"sum of VmRSS over its process tree (it forks per session; shared pages count once per process).",
	}, r.notes...)
	if o.only["sessions"] {
		if o.warm {
			notes = append(notes, "each sessions round starts after one untimed login on each server (-warm): Ferry's credentials cache is warm, vsftpd verifies yescrypt on every login.")
		} else {
			notes = append(notes, "-warm=false: the sessions rounds start with Ferry's credentials cache as the previous workloads left it (cold if more than 5 minutes passed).")
		}
	}
	if p := r.procs["vsftpd"]; len(p) > 0 {
		notes = append(notes, fmt.Sprintf("vsftpd processes at its memory peak, per round: %v", p))
	}
	notes = append(notes, "the client runs on the same machine: every figure includes its CPU, the same for both servers.")
	for _, n := range notes {
		fmt.Fprintf(w, "  - %s\n", n)
	}
}

func joinVals(v []float64) string {
	if len(v) == 0 {
		return "n/a"
	}
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmtVal(x)
	}
	return strings.Join(s, " ")
}

// parseSize reads 512MiB, 4KiB, 1GiB, 1MB, 1048576.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("bad size %q (e.g. 512MiB, 4KiB, 1048576)", s)
	}
	return n * mult, nil
}

func fmtSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
