// Command ferrybench measures Ferry's FTP service on loopback against the
// FTP servers it competes with, all started by this command in the same
// run: Debian's vsftpd, pure-ftpd and ProFTPD, and the bare engine Ferry is
// built on (ftpserverlib over afero's OS file system, nothing of Ferry's).
// Ferry runs twice: at its defaults (every upload synced to disk before
// 226) and with FERRY_UPLOAD_SYNC=false. It prints one table: each server's
// median, the best peer, Ferry's ratio to the best peer, the no-sync
// Ferry's ratio to the bare engine, and what the disk's own sync costs.
//
// It must run as root on Debian: it installs vsftpd if it is missing
// (apt-get), fetches pure-ftpd and ProFTPD with apt-get download into a
// folder of their own (they conflict with vsftpd as packages), creates a
// system user with a yescrypt password for vsftpd, a PAM service file of its
// own (/etc/pam.d/ferrybench-vsftpd), and runs every server in the
// foreground with a config file in a temporary folder. Ferry is the ferry
// binary built from this module (or -ferry-bin) running `ferry serve` as a
// separate process on SQLite, with an argon2id account; its
// verified-credentials cache and its per-address session limit (64) are at
// their defaults.
//
// Every workload runs against every server in interleaved rounds and the
// table shows the median of the rounds. Every size is a flag; the defaults
// are the issue's:
//
//	go run ./cmd/ferrybench                       # the whole benchmark
//	go run ./cmd/ferrybench -big 8MiB -files 100 -sessions 8 -entries 1000   # a quick smoke run
//	go run ./cmd/ferrybench -peers vsftpd -no-sync=false   # fewer servers
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ferryhq/ferry/internal/benchkit"
)

type options struct {
	big         int64 // bytes of the big upload/download
	files       int   // small files up and down
	fileSize    int64 // bytes per small file
	sessions    int   // parallel sessions
	sessionRuns int   // sessions each of the parallel workers runs one after the other
	retrSize    int64 // bytes each session downloads
	entries     int   // entries in the listed folder
	listRepeat  int   // LIST/MLSD per round (the round's figure is their median)
	rounds      int
	only        map[string]bool
	dir         string
	keep        bool
	ferryBin    string
	ferryLog    string
	vsftpdUser  string
	sampleEvery time.Duration
	noInstall   bool
	peers       map[string]bool // reference servers to run
	peerCache   string          // where pure-ftpd and ProFTPD are unpacked
	noSync      bool            // also run Ferry with FERRY_UPLOAD_SYNC=false
	syncBetween bool
	verbose     bool
	warm        bool // one untimed login before each sessions round
	ferryEnv    multiFlag
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

var workloads = []string{"big", "small", "steps", "sessions", "list"}

// Server names, as the table shows them.
const (
	nameFerry  = "Ferry"
	nameNoSync = "no-sync"
	nameEngine = "engine"
)

// peerNames are the reference servers, in the table's order.
var peerNames = []string{"vsftpd", "pure-ftpd", "proftpd"}

func main() {
	if len(os.Args) > 1 && os.Args[1] == engineCmd {
		if err := serveEngine(os.Args[2:]); err != nil {
			fatalf("%s: %v", engineCmd, err)
		}
		return
	}
	var (
		o                             options
		big, fileSize, retrSize, only string
		peers                         string
	)
	flag.StringVar(&big, "big", "512MiB", "size of the big file uploaded and downloaded")
	flag.IntVar(&o.files, "files", 2000, "small files uploaded, then downloaded, in one session")
	flag.StringVar(&fileSize, "file-size", "4KiB", "size of each small file")
	flag.IntVar(&o.sessions, "sessions", 64, "parallel sessions (login+PWD+LIST+RETR+QUIT)")
	flag.IntVar(&o.sessionRuns, "session-runs", 4, "sessions each parallel worker runs back to back (sessions in the test: -sessions x -session-runs)")
	flag.StringVar(&retrSize, "retr", "1MiB", "size of the file each session downloads")
	flag.IntVar(&o.entries, "entries", 10000, "entries in the folder listed with LIST and MLSD")
	flag.IntVar(&o.listRepeat, "list-repeat", 5, "listings per round; the round counts their median")
	flag.IntVar(&o.rounds, "rounds", 3, "interleaved rounds (Ferry, vsftpd, Ferry, vsftpd, ...); the table shows medians")
	flag.StringVar(&only, "only", strings.Join(workloads, ","), "workloads to run: "+strings.Join(workloads, ","))
	flag.StringVar(&o.dir, "dir", "", "working folder (default: a new folder in $TMPDIR, removed at the end)")
	flag.BoolVar(&o.keep, "keep", false, "keep the working folder (logs, data) at the end")
	flag.StringVar(&o.ferryBin, "ferry-bin", "", "ferry binary to run (default: go build ./cmd/ferry of this module)")
	flag.StringVar(&o.ferryLog, "ferry-log-level", "info", "FERRY_LOG_LEVEL of the Ferry process (its log goes to a file in the working folder)")
	flag.Var(&o.ferryEnv, "ferry-env", "KEY=VALUE added to the Ferry process's environment (repeatable), e.g. -ferry-env FERRY_NOTIFY_DIGEST=1m")
	flag.StringVar(&o.vsftpdUser, "vsftpd-user", "ferrybench", "system user vsftpd logs in as (created if missing)")
	flag.DurationVar(&o.sampleEvery, "sample", 10*time.Millisecond, "memory sampling interval during the sessions test")
	flag.BoolVar(&o.noInstall, "no-install", false, "do not apt-get install vsftpd or fetch pure-ftpd and ProFTPD when missing (fail instead)")
	flag.StringVar(&peers, "peers", strings.Join(peerNames, ","), "reference servers to run: "+strings.Join(peerNames, ","))
	flag.StringVar(&o.peerCache, "peer-cache", "/var/cache/ferrybench", "folder where the pure-ftpd and ProFTPD packages are unpacked (kept between runs)")
	flag.BoolVar(&o.noSync, "no-sync", true, "also run Ferry with FERRY_UPLOAD_SYNC=false")
	flag.BoolVar(&o.syncBetween, "sync", true, "sync(2) before each timed step so that one server's dirty pages are not written back during the other's")
	flag.BoolVar(&o.warm, "warm", true, "log in once (not timed) before each sessions round, so that Ferry's cache of verified credentials "+
		"holds the account as after a partner's first login; -warm=false measures a cold burst (every session verifies argon2id)")
	flag.BoolVar(&o.verbose, "v", false, "print every round's figures as they come")
	flag.Parse()

	var err error
	if o.big, err = benchkit.ParseSize(big); err == nil {
		if o.fileSize, err = benchkit.ParseSize(fileSize); err == nil {
			o.retrSize, err = benchkit.ParseSize(retrSize)
		}
	}
	if err != nil {
		fatalf("%v", err)
	}
	if o.only, err = benchkit.ParseOnly(only, workloads); err != nil {
		fatalf("%v", err)
	}
	if o.peers, err = benchkit.ParseOnly(peers, peerNames); err != nil {
		fatalf("-peers: %v", err)
	}
	if o.rounds < 1 || o.files < 1 || o.sessions < 1 || o.sessionRuns < 1 || o.entries < 1 || o.listRepeat < 1 {
		fatalf("-rounds, -files, -sessions, -session-runs, -entries and -list-repeat must be at least 1")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &o); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ferrybench: "+format+"\n", args...)
	os.Exit(1)
}

func run(ctx context.Context, o *options) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root: the reference servers need a system user, a PAM file and to switch users")
	}
	dir, cleanup, err := benchkit.WorkDir(o.dir, "ferrybench-", o.keep)
	if err != nil {
		return err
	}
	defer cleanup()
	benchkit.Logf("working folder %s", dir)

	type starter struct {
		name  string
		start func(context.Context, *options, string) (*server, error)
	}
	starters := []starter{
		{nameFerry, func(ctx context.Context, o *options, dir string) (*server, error) {
			return startFerry(ctx, o, dir, nameFerry)
		}},
	}
	if o.noSync {
		starters = append(starters, starter{nameNoSync, func(ctx context.Context, o *options, dir string) (*server, error) {
			return startFerry(ctx, o, dir, nameNoSync, "FERRY_UPLOAD_SYNC=false")
		}})
	}
	starters = append(starters, starter{nameEngine, startEngine})
	for _, p := range []starter{{"vsftpd", startVsftpd}, {"pure-ftpd", startPureFTPd}, {"proftpd", startProFTPd}} {
		if o.peers[p.name] {
			starters = append(starters, p)
		}
	}
	var targets []*target
	for _, st := range starters {
		s, err := st.start(ctx, o, filepath.Join(dir, st.name))
		if err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
		defer s.stop()
		targets = append(targets, s.target)
	}

	src := filepath.Join(dir, "big.src")
	if o.only["big"] {
		if err := writeRandomFile(src, o.big); err != nil {
			return err
		}
		defer os.Remove(src)
	}
	for _, t := range targets {
		if err := prepare(t, o); err != nil {
			return fmt.Errorf("%s: prepare: %w", t.name, err)
		}
	}

	res := newResults(targets)
	res.note("argon2id", argonCost())
	b := &bench{o: o, res: res, src: src}
	for _, w := range workloads {
		if !o.only[w] {
			continue
		}
		for r := 1; r <= o.rounds; r++ {
			for _, t := range targets {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := b.runOne(ctx, w, t, r); err != nil {
					return fmt.Errorf("%s, round %d, %s: %w", w, r, t.name, err)
				}
			}
			if w == "big" || w == "small" {
				if err := b.disk(dir, w); err != nil {
					return fmt.Errorf("%s, round %d, disk reference: %w", w, r, err)
				}
			}
		}
	}
	fmt.Println()
	res.deriveSyncCosts(o)
	res.print(os.Stdout, o)
	if o.keep {
		fmt.Printf("\nlogs and data kept in %s\n", dir)
	}
	return nil
}
