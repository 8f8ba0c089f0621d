package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/ferryhq/ferry/internal/benchkit"
)

// metric is one row of the table.
type metric struct {
	id     string
	label  func(o *options) string
	unit   string
	higher bool // higher is better
	judged bool // the row has the targets (informational rows have none)
	// disk: the row is judged against the disk's own cost of the same
	// (the disk publish column): Ferry's figure at most that.
	disk bool
}

const (
	mBigUp     = "big-up"
	mBigDown   = "big-down"
	mSmallUp   = "small-up"
	mSmallDown = "small-down"
	mDelete    = "delete"
	mSessRate  = "sess-rate"
	mSessErr   = "sess-err"
	mSessP50   = "sess-p50"
	mSessP99   = "sess-p99"
	mList      = "list"
	mListRaw   = "list-raw"
	mMLSD      = "mlsd"
	mMLSDRaw   = "mlsd-raw"
	mPeakRSS   = "peak-rss"

	mBigSync   = "big-sync"
	mSmallSync = "small-sync"

	mSmallUpCPU   = "small-up-cpu"
	mSmallDownCPU = "small-down-cpu"
	mDeleteCPU    = "delete-cpu"
	mSessCPU      = "sess-cpu"

	mStepEPSV = "step-epsv"
	mStepSTOR = "step-stor"
	mStepEnd  = "step-end"
	mStepDELE = "step-dele"
)

// nameDisk is the column of the disk's own write+fsync, the floor under a
// server that syncs every upload; nameDiskPublish adds what publishing it
// whole and durably costs: the file written in a staging folder, fsynced,
// renamed into place and its folder fsynced (two journal commits on ext4).
const (
	nameDisk        = "disk sync"
	nameDiskPublish = "disk publish"
)

var metrics = []metric{
	{id: mBigUp, unit: "MB/s", higher: true, judged: true,
		label: func(o *options) string { return "upload 1 file of " + benchkit.FormatSize(o.big) }},
	{id: mBigSync, unit: "ms", disk: true,
		label: func(o *options) string { return "  what syncing it adds to Ferry's upload (Ferry - no sync)" }},
	{id: mBigDown, unit: "MB/s", higher: true, judged: true,
		label: func(o *options) string { return "download 1 file of " + benchkit.FormatSize(o.big) }},
	{id: mSmallUp, unit: "files/s", higher: true, judged: true,
		label: func(o *options) string {
			return fmt.Sprintf("upload %d files of %s", o.files, benchkit.FormatSize(o.fileSize))
		}},
	{id: mSmallSync, unit: "µs/file", disk: true,
		label: func(o *options) string { return "  what syncing adds to Ferry's small upload (Ferry - no sync)" }},
	{id: mSmallDown, unit: "files/s", higher: true, judged: true,
		label: func(o *options) string {
			return fmt.Sprintf("download %d files of %s", o.files, benchkit.FormatSize(o.fileSize))
		}},
	{id: mDelete, unit: "files/s", higher: true, judged: true,
		label: func(o *options) string { return fmt.Sprintf("delete %d files (DELE)", o.files) }},
	{id: mSmallUpCPU, unit: "µs/file",
		label: func(o *options) string { return "  server CPU per small upload" }},
	{id: mSmallDownCPU, unit: "µs/file",
		label: func(o *options) string { return "  server CPU per small download" }},
	{id: mDeleteCPU, unit: "µs/file",
		label: func(o *options) string { return "  server CPU per delete" }},
	{id: mStepEPSV, unit: "µs",
		label: func(o *options) string {
			return fmt.Sprintf("%s upload step by step (median): EPSV to 229", benchkit.FormatSize(o.fileSize))
		}},
	{id: mStepSTOR, unit: "µs",
		label: func(o *options) string { return "  STOR to 150" }},
	{id: mStepEnd, unit: "µs",
		label: func(o *options) string { return "  end of the data to 226" }},
	{id: mStepDELE, unit: "µs",
		label: func(o *options) string { return "  then DELE to 250" }},
	{id: mSessRate, unit: "sessions/s", higher: true, judged: true,
		label: func(o *options) string {
			return fmt.Sprintf("%d parallel sessions x %d (login+PWD+LIST+RETR %s+QUIT)", o.sessions, o.sessionRuns, benchkit.FormatSize(o.retrSize))
		}},
	{id: mSessCPU, unit: "µs/session",
		label: func(o *options) string { return "  server CPU per session" }},
	{id: mSessErr, unit: "sessions",
		label: func(o *options) string { return "  failed sessions (per round)" }},
	{id: mSessP50, unit: "ms",
		label: func(o *options) string { return "  session latency p50" }},
	{id: mSessP99, unit: "ms",
		label: func(o *options) string { return "  session latency p99" }},
	{id: mList, unit: "ms", judged: true,
		label: func(o *options) string { return fmt.Sprintf("LIST of %d entries (Go client, parsed)", o.entries) }},
	{id: mListRaw, unit: "ms",
		label: func(o *options) string {
			return fmt.Sprintf("  LIST of %d entries, raw (no client parsing)", o.entries)
		}},
	{id: mMLSD, unit: "ms", judged: true,
		label: func(o *options) string { return fmt.Sprintf("MLSD of %d entries (Go client, parsed)", o.entries) }},
	{id: mMLSDRaw, unit: "ms",
		label: func(o *options) string { return fmt.Sprintf("  MLSD of %d entries, raw", o.entries) }},
	{id: mPeakRSS, unit: "MiB", judged: true,
		label: func(o *options) string { return "peak memory during the sessions test" }},
}

type results struct {
	servers []string                        // in the table's order
	vals    map[string]map[string][]float64 // metric -> server -> one value per round
	procs   map[string][]int
	notes   []string
}

func newResults(targets []*target) *results {
	r := &results{vals: map[string]map[string][]float64{}, procs: map[string][]int{}}
	for _, t := range targets {
		r.servers = append(r.servers, t.name)
	}
	return r
}

func (r *results) add(metric, server string, v float64) {
	if r.vals[metric] == nil {
		r.vals[metric] = map[string][]float64{}
	}
	r.vals[metric][server] = append(r.vals[metric][server], v)
}

// deriveSyncCosts fills the rows of what the durable default's syncing
// costs an upload: per round, the time Ferry took for it less the time the
// no-sync Ferry took, beside the time the disk took to write and sync the
// same data (disk sync) and to publish it durably (disk publish), the floor
// it is judged against. Rates are turned into times, round by round.
func (r *results) deriveSyncCosts(o *options) {
	for _, d := range []struct {
		rate, cost string
		unit       float64 // one operation's time in the cost's unit, times its rate
	}{
		{mBigUp, mBigSync, float64(o.big) / 1e6 * 1e3}, // MB/s to ms for the file
		{mSmallUp, mSmallSync, 1e6},                    // files/s to µs a file
	} {
		vals := r.vals[d.rate]
		ferry, noSync := vals[nameFerry], vals[nameNoSync]
		for i := range min(len(ferry), len(noSync)) {
			if ferry[i] > 0 && noSync[i] > 0 {
				r.add(d.cost, nameFerry, d.unit/ferry[i]-d.unit/noSync[i])
			}
		}
		for _, disk := range []string{nameDisk, nameDiskPublish} {
			for _, v := range vals[disk] {
				if v > 0 {
					r.add(d.cost, disk, d.unit/v)
				}
			}
		}
	}
}

func (r *results) addProcs(server string, n int) { r.procs[server] = append(r.procs[server], n) }

func (r *results) note(_ string, s string) { r.notes = append(r.notes, s) }

// median is the server's median on the row, and whether it has one.
func (r *results) median(metric, server string) (float64, bool) {
	v := r.vals[metric][server]
	if len(v) == 0 {
		return 0, false
	}
	return benchkit.Median(v), true
}

// better reports whether a is at least as good as b on the row.
func (m metric) better(a, b float64) bool {
	if m.higher {
		return a >= b
	}
	return a <= b
}

// best is the best reference server on the row.
func (r *results) best(m metric) (string, float64, bool) {
	name, val, ok := "", 0.0, false
	for _, p := range peerNames {
		if v, has := r.median(m.id, p); has && (!ok || !m.better(val, v)) {
			name, val, ok = p, v, true
		}
	}
	return name, val, ok
}

func ratio(a, b float64) string {
	if b == 0 {
		return ""
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT MET"
}

func (r *results) print(w io.Writer, o *options) {
	fmt.Fprintf(w, "Ferry against the bare engine and the reference FTP servers on loopback, %d CPU(s), median of %d interleaved round(s)\n\n",
		runtime.NumCPU(), o.rounds)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	head := "test\t"
	for _, s := range r.servers {
		head += " " + s + "\t"
	}
	fmt.Fprintln(tw, head+" "+nameDisk+"\t "+nameDiskPublish+"\t unit\t best peer\t Ferry/best\t no-sync/engine\t no-sync >= engine\t Ferry >= best\t Ferry <= disk publish\t")
	checks, met := 0, 0
	for _, m := range metrics {
		if r.vals[m.id] == nil {
			continue
		}
		line := m.label(o) + "\t"
		for _, s := range r.servers {
			v, ok := r.median(m.id, s)
			cell := "n/a"
			if ok {
				cell = benchkit.FormatValue(v)
			}
			line += " " + cell + "\t"
		}
		disk, publish := "", ""
		if v, ok := r.median(m.id, nameDisk); ok {
			disk = benchkit.FormatValue(v)
		}
		if v, ok := r.median(m.id, nameDiskPublish); ok {
			publish = benchkit.FormatValue(v)
		}
		bestName, best, hasBest := r.best(m)
		ferry, hasFerry := r.median(m.id, nameFerry)
		noSync, hasNoSync := r.median(m.id, nameNoSync)
		engine, hasEngine := r.median(m.id, nameEngine)
		bestCell, toBest, toEngine, engineCheck, bestCheck, diskCheck := "", "", "", "", "", ""
		if hasBest {
			bestCell = fmt.Sprintf("%s %s", bestName, benchkit.FormatValue(best))
			if hasFerry {
				toBest = ratio(ferry, best)
			}
		}
		if hasNoSync && hasEngine {
			toEngine = ratio(noSync, engine)
		}
		if m.judged {
			if hasNoSync && hasEngine {
				ok := m.better(noSync, engine)
				engineCheck, checks = verdict(ok), checks+1
				if ok {
					met++
				}
			}
			if hasBest && hasFerry && hasEngine {
				if m.better(engine, best) {
					ok := m.better(ferry, best)
					bestCheck, checks = verdict(ok), checks+1
					if ok {
						met++
					}
				} else {
					bestCheck = "engine trails"
				}
			}
		}
		if m.disk && hasFerry {
			if floor, ok := r.median(m.id, nameDiskPublish); ok {
				ok := ferry <= floor
				diskCheck, checks = verdict(ok), checks+1
				if ok {
					met++
				}
			}
		}
		fmt.Fprintf(tw, "%s %s\t %s\t %s\t %s\t %s\t %s\t %s\t %s\t %s\t\n", line, disk, publish, m.unit, bestCell, toBest, toEngine, engineCheck, bestCheck, diskCheck)
	}
	tw.Flush()
	fmt.Fprintf(w, "\ntargets met: %d of %d (no-sync Ferry at least the bare engine on every row; Ferry at least the best peer where the engine reaches it; "+
		"what syncing adds to Ferry's uploads at most the disk's own cost of publishing the same data)\n", met, checks)

	fmt.Fprintf(w, "\nper round (%s):\n", strings.Join(r.servers, " | "))
	for _, m := range metrics {
		vs := r.vals[m.id]
		if vs == nil {
			continue
		}
		var cells []string
		for _, s := range r.servers {
			cells = append(cells, benchkit.JoinValues(vs[s]))
		}
		for _, name := range []string{nameDisk, nameDiskPublish} {
			if d := vs[name]; len(d) > 0 {
				cells = append(cells, name+" "+benchkit.JoinValues(d))
			}
		}
		fmt.Fprintf(w, "  %-12s %s\n", m.id, strings.Join(cells, " | "))
	}
	fmt.Fprintln(w, "\nnotes:")
	notes := append([]string{
		"Ferry: the ferry binary as a separate process (`ferry serve`, SQLite, log to a file), one argon2id account, at its defaults " +
			"(every upload hashed, audited, quota-checked and synced to disk before 226; per-address session limit 64; cache of verified credentials on). " +
			"no-sync: the same with FERRY_UPLOAD_SYNC=false.",
		"engine: ftpserverlib as Ferry runs it, over afero's OS file system, in a process of its own, with nothing of Ferry's (no control layer, " +
			"no hashing, audit, quota, staging or sync): what Ferry costs is the difference to the no-sync column.",
		"vsftpd: Debian's, standalone in the foreground, chroot to the user's root, PAM (pam_unix) against /etc/shadow. pure-ftpd and proftpd: " +
			"Debian's packages unpacked with dpkg -x, puredb and AuthUserFile users, chroot, no reverse DNS; none of the three syncs an upload.",
		nameDisk + ": the disk's own cost in the same folder, not a server: the big file written and fsynced (dd conv=fsync), and as many small " +
			"files as the small test, each created, written and fsynced; the floor under a server that syncs every upload. " +
			nameDiskPublish + ": the same data written in a staging folder, fsynced, renamed into its place and that folder fsynced " +
			"(what publishing an upload whole and durably takes: on ext4 a second journal commit per file); the floor under Ferry's default.",
		"what syncing adds: per round, the time Ferry's upload took less the no-sync Ferry's, judged against the disk publish time of the same data " +
			"(a little lenient: that time also holds the data's write into the page cache and the rename, which the no-sync Ferry pays too).",
		"server CPU: user and system time of the server's processes (its whole tree for those that fork, with the children that ended) " +
			"over the step and the settle after it, divided by its operations; less noisy than the rates on a shared machine, and without the client's CPU.",
		"memory: a single process's peak (VmHWM reset at the start of the test); for servers that fork per session, the peak of the " +
			"sum of VmRSS over the process tree (shared pages count once per process).",
	}, r.notes...)
	if o.only["sessions"] {
		if o.warm {
			notes = append(notes, "each sessions round starts after one untimed login on each server (-warm): Ferry's credentials cache is warm, the others verify their hash on every login.")
		} else {
			notes = append(notes, "-warm=false: the sessions rounds start with Ferry's credentials cache as the previous workloads left it (cold if more than 5 minutes passed).")
		}
	}
	for _, p := range peerNames {
		if n := r.procs[p]; len(n) > 0 {
			notes = append(notes, fmt.Sprintf("%s processes at its memory peak, per round: %v", p, n))
		}
	}
	notes = append(notes, "the client runs on the same machine: every figure includes its CPU, the same for every server.")
	for _, n := range notes {
		fmt.Fprintf(w, "  - %s\n", n)
	}
}
