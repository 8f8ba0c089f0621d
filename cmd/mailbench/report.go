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
	ref    string // the reference server of the row
	label  func(o *options) string
	unit   string
	higher bool // higher is better
}

const (
	mSMTPAccept  = "smtp-accept"
	mSMTPDeliver = "smtp-deliver"
	mAppend      = "append"
	mFetch       = "fetch"
	mRetr        = "retr"
)

var metrics = []metric{
	{id: mSMTPAccept, ref: "Postfix", unit: "msg/s", higher: true,
		label: func(o *options) string {
			return fmt.Sprintf("SMTP accepted (250 after DATA), %d x %s, %d senders", o.messages, fmtSize(o.msgSize), o.senders)
		}},
	{id: mSMTPDeliver, ref: "Postfix", unit: "msg/s", higher: true,
		label: func(o *options) string { return "  SMTP delivered into the mailbox (Ferry: = accepted)" }},
	{id: mAppend, ref: "Dovecot", unit: "msg/s", higher: true,
		label: func(o *options) string {
			return fmt.Sprintf("IMAP APPEND %d x %s, one session (load, 1 sample)", o.fetch, fmtSize(o.msgSize))
		}},
	{id: mFetch, ref: "Dovecot", unit: "ms",
		label: func(o *options) string { return fmt.Sprintf("IMAP FETCH 1:%d (BODY.PEEK[HEADER])", o.fetch) }},
	{id: mRetr, ref: "Dovecot", unit: "ms",
		label: func(o *options) string { return fmt.Sprintf("POP3 RETR of %d messages, one session", o.fetch) }},
}

type results struct {
	vals map[string]map[string][]float64 // metric -> server -> one value per round
}

func newResults() *results { return &results{vals: map[string]map[string][]float64{}} }

func (r *results) add(metric, server string, v float64) {
	if r.vals[metric] == nil {
		r.vals[metric] = map[string][]float64{}
	}
	r.vals[metric][server] = append(r.vals[metric][server], v)
}

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
	fmt.Fprintf(w, "Ferry vs Postfix (SMTP) / Dovecot (IMAP, POP3) on loopback, %d CPU(s), median of %d interleaved round(s)\n\n",
		runtime.NumCPU(), o.rounds)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "test\t Ferry\t reference\t unit\t Ferry/ref\t better\t")
	for _, m := range metrics {
		vs := r.vals[m.id]
		if vs == nil {
			continue
		}
		f, v := vs["Ferry"], vs[m.ref]
		fs, vsS, ratio, better := "n/a", "n/a", "", ""
		if len(f) > 0 {
			fs = fmtVal(median(f))
		}
		if len(v) > 0 {
			vsS = fmtVal(median(v)) + " (" + m.ref + ")"
		}
		if len(f) > 0 && len(v) > 0 && median(v) > 0 {
			q := median(f) / median(v)
			ratio = fmt.Sprintf("%.2fx", q)
			if (q > 1) == m.higher {
				better = "Ferry"
			} else {
				better = m.ref
			}
		}
		fmt.Fprintf(tw, "%s\t %s\t %s\t %s\t %s\t %s\t\n", m.label(o), fs, vsS, m.unit, ratio, better)
	}
	tw.Flush()

	fmt.Fprintln(w, "\nper round (Ferry | reference):")
	for _, m := range metrics {
		vs := r.vals[m.id]
		if vs == nil {
			continue
		}
		fmt.Fprintf(w, "  %-13s %s | %s\n", m.id, joinVals(vs["Ferry"]), joinVals(vs[m.ref]))
	}
	fmt.Fprintln(w, "\nnotes:")
	notes := []string{
		"Ferry: the ferry binary as a separate process (`ferry serve`, SQLite in WAL mode with synchronous=NORMAL, log to a file). " +
			"Before its 250 a message's blob is written and fsynced (file and folder), then one transaction inserts its rows: " +
			"the message is in the mailbox when the sender hears 250.",
		"Postfix: Debian's, an instance of its own (postfix -c, no chroot), smtpd -> cleanup -> queue file fsynced before 250; " +
			"qmgr then hands it to virtual(8), which writes the Maildir file, fsyncs it and renames it into new/ " +
			"(the 'delivered' row waits for that).",
		"Dovecot: Debian's, its own config file (dovecot -F -c), passwd-file user with a non-root uid, Maildir, mail_fsync=optimized; " +
			"it forks an imap/pop3 process per session and keeps dovecot.index(.cache) next to the Maildir.",
		"IMAP and POP3 log in after STARTTLS on both sides (same self-signed ECDSA P-256 certificate); logins are not timed.",
		"the IMAP INBOX is filled by APPEND of the same messages on both sides, then one untimed FETCH warms the caches; " +
			fmt.Sprintf("each round is the median of %d FETCHes in one session.", o.fetchRepeat),
		"the client runs on the same machine: every figure includes its CPU, the same for both servers.",
	}
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

// parseSize reads 10KiB, 1MiB, 10240.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"MiB", 1 << 20}, {"KiB", 1 << 10}, {"MB", 1e6}, {"KB", 1e3}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("bad size %q (e.g. 10KiB, 10240)", s)
	}
	return n * mult, nil
}

func fmtSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
