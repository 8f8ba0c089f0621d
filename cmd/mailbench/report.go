package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"text/tabwriter"

	"github.com/ferryhq/ferry/internal/benchkit"
)

// metric is one row of the table.
type metric struct {
	id     string
	refs   []string // the reference servers of the row: the classic one (Postfix or Dovecot), then maddy where it speaks the protocol
	label  func(o *options) string
	unit   string
	higher bool // higher is better
}

const (
	mSMTPAccept  = "smtp-accept"
	mSMTPDeliver = "smtp-deliver"
	mAppend      = "append"
	mFetch       = "fetch"
	mFetchBodies = "fetch-bodies"
	mRetr        = "retr"
)

var metrics = []metric{
	{id: mSMTPAccept, refs: []string{namePostfix, nameMaddy}, unit: "msg/s", higher: true,
		label: func(o *options) string {
			return fmt.Sprintf("SMTP accepted (250 after DATA), %d x %s, %d senders", o.messages, benchkit.FormatSize(o.msgSize), o.senders)
		}},
	{id: mSMTPDeliver, refs: []string{namePostfix, nameMaddy}, unit: "msg/s", higher: true,
		label: func(o *options) string { return "  SMTP delivered into the mailbox (Ferry, maddy: = accepted)" }},
	{id: mAppend, refs: []string{nameDovecot, nameMaddy}, unit: "msg/s", higher: true,
		label: func(o *options) string {
			return fmt.Sprintf("IMAP APPEND %d x %s, one session (load, 1 sample)", o.fetch, benchkit.FormatSize(o.msgSize))
		}},
	{id: mFetch, refs: []string{nameDovecot, nameMaddy}, unit: "ms",
		label: func(o *options) string { return fmt.Sprintf("IMAP FETCH 1:%d (BODY.PEEK[HEADER])", o.fetch) }},
	{id: mFetchBodies, refs: []string{nameDovecot, nameMaddy}, unit: "ms",
		label: func(o *options) string {
			return fmt.Sprintf("IMAP FETCH 1:%d (BODY.PEEK[]), %s each", o.fetch, benchkit.FormatSize(o.msgSize))
		}},
	{id: mRetr, refs: []string{nameDovecot}, unit: "ms",
		label: func(o *options) string { return fmt.Sprintf("POP3 RETR of %d messages, one session", o.fetch) }},
}

type results struct {
	vals   map[string]map[string][]float64 // metric -> server -> one value per round
	absent []string                        // one line per reference that could not run, and why
}

func newResults() *results { return &results{vals: map[string]map[string][]float64{}} }

func (r *results) add(metric, server string, v float64) {
	if r.vals[metric] == nil {
		r.vals[metric] = map[string][]float64{}
	}
	r.vals[metric][server] = append(r.vals[metric][server], v)
}

// has reports whether any row has figures of server.
func (r *results) has(server string) bool {
	for _, vs := range r.vals {
		if len(vs[server]) > 0 {
			return true
		}
	}
	return false
}

// best returns the reference of m with the best median, or "" if none ran.
func (r *results) best(m metric) string {
	best := ""
	for _, ref := range m.refs {
		v := r.vals[m.id][ref]
		if len(v) == 0 {
			continue
		}
		if best == "" {
			best = ref
			continue
		}
		q, b := benchkit.Median(v), benchkit.Median(r.vals[m.id][best])
		if (m.higher && q > b) || (!m.higher && q < b) {
			best = ref
		}
	}
	return best
}

func (r *results) print(w io.Writer, o *options) {
	withMaddy := r.has(nameMaddy)
	title := "Ferry vs Postfix (SMTP) / Dovecot (IMAP, POP3)"
	if withMaddy {
		title += " / maddy (SMTP, IMAP)"
	}
	fmt.Fprintf(w, "%s on loopback, %d CPU(s), median of %d interleaved round(s)\n", title, runtime.NumCPU(), o.rounds)
	for _, a := range r.absent {
		fmt.Fprintln(w, a)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	head := "test\t Ferry\t Postfix/Dovecot\t"
	if withMaddy {
		head += " maddy\t"
	}
	fmt.Fprintln(tw, head+" unit\t Ferry/best ref\t better\t")
	median := func(v []float64) string {
		if len(v) == 0 {
			return "n/a"
		}
		return benchkit.FormatValue(benchkit.Median(v))
	}
	for _, m := range metrics {
		vs := r.vals[m.id]
		if vs == nil {
			continue
		}
		classic := median(vs[m.refs[0]])
		if len(vs[m.refs[0]]) > 0 {
			classic += " (" + m.refs[0] + ")"
		}
		row := fmt.Sprintf("%s\t %s\t %s\t", m.label(o), median(vs[nameFerry]), classic)
		if withMaddy {
			md := "-" // maddy does not speak this protocol
			if slices.Contains(m.refs, nameMaddy) {
				md = median(vs[nameMaddy])
			}
			row += " " + md + "\t"
		}
		ratio, better := "", ""
		f := vs[nameFerry]
		if best := r.best(m); best != "" && len(f) > 0 && benchkit.Median(vs[best]) > 0 {
			q := benchkit.Median(f) / benchkit.Median(vs[best])
			ratio = fmt.Sprintf("%.2fx (%s)", q, best)
			if (q > 1) == m.higher {
				better = nameFerry
			} else {
				better = best
			}
		}
		fmt.Fprintf(tw, "%s %s\t %s\t %s\t\n", row, m.unit, ratio, better)
	}
	tw.Flush()

	servers := "Ferry | Postfix/Dovecot"
	if withMaddy {
		servers += " | maddy"
	}
	fmt.Fprintf(w, "\nper round (%s):\n", servers)
	for _, m := range metrics {
		vs := r.vals[m.id]
		if vs == nil {
			continue
		}
		line := benchkit.JoinValues(vs[nameFerry]) + " | " + benchkit.JoinValues(vs[m.refs[0]])
		if withMaddy && slices.Contains(m.refs, nameMaddy) {
			line += " | " + benchkit.JoinValues(vs[nameMaddy])
		}
		fmt.Fprintf(w, "  %-13s %s\n", m.id, line)
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
	}
	if withMaddy {
		notes = append(notes, "maddy: "+maddyVersion+" built from the Go module proxy, one process with its own config file, "+
			"storage.imapsql on SQLite (WAL, synchronous=NORMAL) and message bodies as files; before its 250 the body file is "+
			"written and fsynced (not its folder) and the rows committed, so the message is in the mailbox; no rate limits, "+
			"no sender checks; it has no POP3.")
	}
	notes = append(notes,
		"IMAP and POP3 log in after STARTTLS everywhere (same self-signed ECDSA P-256 certificate); logins are not timed.",
		"the IMAP INBOX is filled by APPEND of the same messages on every server, then one untimed FETCH warms the caches; "+
			fmt.Sprintf("each round is the median of %d FETCHes in one session.", o.fetchRepeat),
		"Ferry/best ref compares Ferry with the best reference of the row (named in brackets).",
		"the client runs on the same machine: every figure includes its CPU, the same for every server.",
	)
	for _, n := range notes {
		fmt.Fprintf(w, "  - %s\n", n)
	}
}
