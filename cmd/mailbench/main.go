// Command mailbench measures Ferry's partner mailboxes (issue 7) against
// Debian's Postfix (SMTP in) and Dovecot (IMAP4, POP3) on loopback, all
// started by this command in the same run, and prints a table of medians
// with the ratio Ferry/reference. It is cmd/ferrybench's sibling for mail
// and follows its style (one process per server, interleaved rounds).
//
// It must run as root on Debian: it installs dovecot-imapd, dovecot-pop3d
// and postfix (those -peers names) if they are missing (apt-get, with
// debconf preselecting "Local only" for Postfix and a policy-rc.d that
// keeps the packages' services from starting: the system MTA on port 25 is
// never started),
// creates a system user (-user, default mailbench) that owns the reference
// Maildirs, and runs
//
//   - Postfix as an instance of its own: `postfix -c DIR start-fg` with a
//     main.cf and master.cf in the working folder, an smtpd on 127.0.0.1 and
//     a free high port, its queue in the working folder, and virtual(8)
//     delivery of sink@bench.test into a Maildir;
//   - Dovecot in the foreground with its own config file (`dovecot -F -c`):
//     IMAP and POP3 on 127.0.0.1 and free high ports, STARTTLS, a
//     passwd-file user whose uid is the -user's, mail in ~/Maildir;
//   - Ferry: the ferry binary built from this module (or -ferry-bin) running
//     `ferry serve` on SQLite in the working folder with SMTP, IMAP and POP3
//     on free loopback ports, a partner "sink" (the SMTP target), a partner
//     "bench" with an account "bench" (mail permission, argon2id password);
//   - maddy (github.com/foxcpp/maddy, a Go mail server: SMTP and IMAP in
//     one process on SQLite) when it can be built from the Go module proxy:
//     mailbench builds v0.8.1 in a temporary module of its own (`go get
//     -tool`, with the replace directives of maddy's go.mod) and keeps the
//     binary in -maddy-cache; its own config file and state folder in the
//     working folder, SMTP and IMAP on free loopback ports, accounts made
//     with its CLI (`maddy creds create`, `maddy imap-acct create`). It has
//     no POP3. When it cannot be built, the report says so in one line.
//
// All use the same self-signed ECDSA P-256 certificate; IMAP and POP3 log
// in after STARTTLS everywhere (none allows plaintext logins).
//
// Workloads (each in interleaved rounds Ferry, reference, maddy, Ferry,
// ...; the table shows the median of the rounds and Ferry's ratio to the
// best reference of the row):
//
//   - smtp: -messages messages of -msg-size (10 KiB) sent by -senders (8)
//     parallel clients, one connection each, many messages per connection,
//     to sink@bench.test. Accepted = 250 after DATA. For Postfix, the row
//     "delivered" also waits until every message of the round is in the
//     Maildir (Ferry and maddy deliver before their 250, so their two rows
//     are the same).
//
//   - imap: FETCH 1:N (BODY.PEEK[HEADER]) and FETCH 1:N (BODY.PEEK[]) on an
//     INBOX of -fetch (1,000) messages that were APPENDed (one session, before the rounds; that
//     load is timed once and shown too).
//
//   - pop3: RETR of every message of the same INBOX, one session, keep mode.
//
//     go run ./cmd/mailbench                                          # the whole benchmark
//     go run ./cmd/mailbench -messages 400 -fetch 200 -rounds 1      # a quick smoke run
//     go run ./cmd/mailbench -peers postfix,dovecot                   # without maddy
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/ferryhq/ferry/internal/benchkit"
)

type options struct {
	messages    int   // SMTP messages per round
	msgSize     int64 // bytes per SMTP message
	senders     int
	fetch       int // messages in the fetched INBOX
	fetchRepeat int // FETCHes per round (the round counts their median)
	rounds      int
	only        map[string]bool
	dir         string
	keep        bool
	ferryBin    string
	ferryLog    string
	sysUser     string
	peers       map[string]bool // reference servers to run
	maddyBin    string
	maddyCache  string
	noInstall   bool
	syncBetween bool
	verbose     bool
}

var workloads = []string{"smtp", "imap", "pop3"}

const (
	nameFerry   = "Ferry"
	namePostfix = "Postfix"
	nameDovecot = "Dovecot"
	nameMaddy   = "maddy"
)

var peerNames = []string{"postfix", "dovecot", "maddy"}

func main() {
	var (
		o             options
		msgSize, only string
		peers         string
	)
	flag.IntVar(&o.messages, "messages", 4000, "SMTP messages per round (split among the senders)")
	flag.StringVar(&msgSize, "msg-size", "10KiB", "size of each SMTP message")
	flag.IntVar(&o.senders, "senders", 8, "parallel SMTP senders (one connection each)")
	flag.IntVar(&o.fetch, "fetch", 1000, "messages in the INBOX that FETCH and RETR read")
	flag.IntVar(&o.fetchRepeat, "fetch-repeat", 5, "FETCHes per round; the round counts their median")
	flag.IntVar(&o.rounds, "rounds", 5, "interleaved rounds (Ferry, reference, Ferry, ...); the table shows medians")
	flag.StringVar(&only, "only", strings.Join(workloads, ","), "workloads to run: "+strings.Join(workloads, ","))
	flag.StringVar(&o.dir, "dir", "", "working folder (default: a new folder in $TMPDIR, removed at the end)")
	flag.BoolVar(&o.keep, "keep", false, "keep the working folder (logs, data) at the end")
	flag.StringVar(&o.ferryBin, "ferry-bin", "", "ferry binary to run (default: go build ./cmd/ferry of this module)")
	flag.StringVar(&o.ferryLog, "ferry-log-level", "info", "FERRY_LOG_LEVEL of the Ferry process (its log goes to a file in the working folder)")
	flag.StringVar(&o.sysUser, "user", "mailbench", "system user owning the Postfix and Dovecot Maildirs (created if missing; never root)")
	flag.StringVar(&peers, "peers", strings.Join(peerNames, ","), "reference servers to run: "+strings.Join(peerNames, ","))
	flag.StringVar(&o.maddyBin, "maddy-bin", "", "maddy binary to run (default: the one in -maddy-cache, built from the Go module proxy if missing)")
	flag.StringVar(&o.maddyCache, "maddy-cache", "/var/cache/mailbench", "folder where the maddy binary built by mailbench is kept between runs")
	flag.BoolVar(&o.noInstall, "no-install", false, "do not apt-get install dovecot/postfix when missing (fail instead)")
	flag.BoolVar(&o.syncBetween, "sync", true, "sync(2) before each timed step so that one server's dirty pages are not written back during the other's")
	flag.BoolVar(&o.verbose, "v", false, "print every round's figures as they come")
	flag.Parse()

	var err error
	if o.msgSize, err = benchkit.ParseSize(msgSize); err != nil {
		fatalf("%v", err)
	}
	if o.only, err = benchkit.ParseOnly(only, workloads); err != nil {
		fatalf("%v", err)
	}
	if o.peers, err = benchkit.ParseOnly(peers, peerNames); err != nil {
		fatalf("-peers: %v", err)
	}
	if o.rounds < 1 || o.messages < 1 || o.senders < 1 || o.fetch < 1 || o.fetchRepeat < 1 {
		fatalf("-rounds, -messages, -senders, -fetch and -fetch-repeat must be at least 1")
	}
	if o.msgSize < 1024 {
		fatalf("-msg-size must be at least 1KiB")
	}
	if o.sysUser == "" || o.sysUser == "root" {
		fatalf("-user must name a system user other than root")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &o); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mailbench: "+format+"\n", args...)
	os.Exit(1)
}

func run(ctx context.Context, o *options) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root: it installs Postfix and Dovecot, creates a system user and starts them")
	}
	dir, cleanup, err := benchkit.WorkDir(o.dir, "mailbench-", o.keep)
	if err != nil {
		return err
	}
	defer cleanup()
	benchkit.Logf("working folder %s", dir)

	runPostfix := o.only["smtp"] && o.peers["postfix"]
	runDovecot := (o.only["imap"] || o.only["pop3"]) && o.peers["dovecot"]
	runMaddy := (o.only["smtp"] || o.only["imap"]) && o.peers["maddy"]
	if err := install(o, runPostfix, runDovecot); err != nil {
		return err
	}
	var su sysUser
	if runPostfix || runDovecot {
		if su, err = systemUser(o.sysUser); err != nil {
			return err
		}
	}
	certFile, keyFile, err := writeCert(dir)
	if err != nil {
		return err
	}

	fe, err := startFerry(ctx, o, filepath.Join(dir, "ferry"), certFile, keyFile)
	if err != nil {
		return fmt.Errorf("ferry: %w", err)
	}
	defer fe.stop()
	// refs[w] are the reference servers of workload w, in the order they
	// run after Ferry in each round.
	refs := map[string][]*target{}
	if runPostfix {
		pf, err := startPostfix(o, filepath.Join(dir, "postfix"), su)
		if err != nil {
			return fmt.Errorf("postfix: %w", err)
		}
		defer pf.stop()
		refs["smtp"] = append(refs["smtp"], pf.target)
	}
	if runDovecot {
		dc, err := startDovecot(o, filepath.Join(dir, "dovecot"), su, certFile, keyFile)
		if err != nil {
			return fmt.Errorf("dovecot: %w", err)
		}
		defer dc.stop()
		refs["imap"] = append(refs["imap"], dc.target)
		refs["pop3"] = append(refs["pop3"], dc.target)
	}
	res := newResults()
	if runMaddy {
		bin, err := maddyBinary(ctx, o)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// Not being able to build it is a fact of the run, not a failure.
			res.absent = append(res.absent, fmt.Sprintf("maddy absent: %s@%s could not be built from the Go module proxy: %v",
				maddyPkg, maddyVersion, err))
			benchkit.Logf("%s", res.absent[len(res.absent)-1])
		} else {
			md, err := startMaddy(ctx, bin, filepath.Join(dir, "maddy"), certFile, keyFile)
			if err != nil {
				return fmt.Errorf("maddy: %w", err)
			}
			defer md.stop()
			for _, w := range []string{"smtp", "imap"} {
				refs[w] = append(refs[w], md.target)
			}
		}
	}

	b := &bench{o: o, res: res}
	if o.only["imap"] || o.only["pop3"] {
		// The same messages go into every INBOX that FETCH or RETR reads
		// (APPEND, one session).
		loaded := []*target{fe.target}
		for _, w := range []string{"imap", "pop3"} {
			if !o.only[w] {
				continue
			}
			for _, t := range refs[w] {
				if !slices.Contains(loaded, t) {
					loaded = append(loaded, t)
				}
			}
		}
		for _, t := range loaded {
			if err := b.load(t); err != nil {
				return fmt.Errorf("%s: load: %w", t.name, err)
			}
		}
	}
	for _, w := range workloads {
		if !o.only[w] {
			continue
		}
		for r := 1; r <= o.rounds; r++ {
			for _, t := range append([]*target{fe.target}, refs[w]...) {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := b.runOne(w, t, r); err != nil {
					return fmt.Errorf("%s, round %d, %s: %w", w, r, t.name, err)
				}
			}
		}
	}
	fmt.Println()
	res.print(os.Stdout, o)
	if o.keep {
		fmt.Printf("\nlogs and data kept in %s\n", dir)
	}
	return nil
}
