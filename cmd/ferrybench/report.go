package main

import (
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"

	"github.com/ferryhq/ferry/internal/benchkit"
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
		label: func(o *options) string { return "upload 1 file of " + benchkit.FormatSize(o.big) }},
	{id: mBigDown, unit: "MB/s", higher: true, target: 2.0,
		label: func(o *options) string { return "download 1 file of " + benchkit.FormatSize(o.big) }},
	{id: mSmallUp, unit: "files/s", higher: true, target: 1.4,
		label: func(o *options) string {
			return fmt.Sprintf("upload %d files of %s", o.files, benchkit.FormatSize(o.fileSize))
		}},
	{id: mSmallDown, unit: "files/s", higher: true, target: 2.0,
		label: func(o *options) string {
			return fmt.Sprintf("download %d files of %s", o.files, benchkit.FormatSize(o.fileSize))
		}},
	{id: mSessRate, unit: "sessions/s", higher: true, target: 2.0,
		label: func(o *options) string {
			return fmt.Sprintf("%d parallel sessions x %d (login+PWD+LIST+RETR %s+QUIT)", o.sessions, o.sessionRuns, benchkit.FormatSize(o.retrSize))
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
			fs = benchkit.FormatValue(benchkit.Median(f))
		}
		if len(v) > 0 {
			vsS = benchkit.FormatValue(benchkit.Median(v))
		}
		if len(f) > 0 && len(v) > 0 && benchkit.Median(v) > 0 {
			q := benchkit.Median(f) / benchkit.Median(v)
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
		fmt.Fprintf(w, "  %-12s %s | %s\n", m.id, benchkit.JoinValues(vs["Ferry"]), benchkit.JoinValues(vs["vsftpd"]))
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
