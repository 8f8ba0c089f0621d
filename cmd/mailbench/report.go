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
			return fmt.Sprintf("SMTP accepted (250 after DATA), %d x %s, %d senders", o.messages, benchkit.FormatSize(o.msgSize), o.senders)
		}},
	{id: mSMTPDeliver, ref: "Postfix", unit: "msg/s", higher: true,
		label: func(o *options) string { return "  SMTP delivered into the mailbox (Ferry: = accepted)" }},
	{id: mAppend, ref: "Dovecot", unit: "msg/s", higher: true,
		label: func(o *options) string {
			return fmt.Sprintf("IMAP APPEND %d x %s, one session (load, 1 sample)", o.fetch, benchkit.FormatSize(o.msgSize))
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
			fs = benchkit.FormatValue(benchkit.Median(f))
		}
		if len(v) > 0 {
			vsS = benchkit.FormatValue(benchkit.Median(v)) + " (" + m.ref + ")"
		}
		if len(f) > 0 && len(v) > 0 && benchkit.Median(v) > 0 {
			q := benchkit.Median(f) / benchkit.Median(v)
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
		fmt.Fprintf(w, "  %-13s %s | %s\n", m.id, benchkit.JoinValues(vs["Ferry"]), benchkit.JoinValues(vs[m.ref]))
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
