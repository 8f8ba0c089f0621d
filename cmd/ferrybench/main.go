// Command ferrybench measures Ferry's FTP service against Debian's vsftpd on
// loopback, both started by this command in the same run, and prints a
// table of the figures with the ratio Ferry/vsftpd and the targets of
// issue 4.
//
// It must run as root on Debian: it installs vsftpd if it is missing
// (apt-get), creates a system user with a yescrypt password for it, a PAM
// service file of its own (/etc/pam.d/ferrybench-vsftpd), and runs vsftpd in
// the foreground with a config file in a temporary folder. Ferry is the
// ferry binary built from this module (or -ferry-bin) running `ferry serve`
// as a separate process on SQLite in the same temporary folder, with an
// account whose password is an argon2id hash at the default cost; its
// verified-credentials cache is on, as in production.
//
// Every workload runs against both servers in interleaved rounds (Ferry,
// vsftpd, Ferry, vsftpd, ...) and the table shows the median of the rounds.
// Every size is a flag; the defaults are the issue's:
//
//	go run ./cmd/ferrybench                       # the whole benchmark
//	go run ./cmd/ferrybench -big 8MiB -files 100 -sessions 8 -entries 1000   # a quick smoke run
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
	syncBetween bool
	verbose     bool
	warm        bool // one untimed login before each sessions round
	ferryEnv    multiFlag
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

var workloads = []string{"big", "small", "sessions", "list"}

func main() {
	var (
		o                             options
		big, fileSize, retrSize, only string
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
	flag.BoolVar(&o.noInstall, "no-install", false, "do not apt-get install vsftpd when it is missing (fail instead)")
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
		return fmt.Errorf("run as root: vsftpd needs a system user, a PAM file and to switch users")
	}
	dir, cleanup, err := benchkit.WorkDir(o.dir, "ferrybench-", o.keep)
	if err != nil {
		return err
	}
	defer cleanup()
	benchkit.Logf("working folder %s", dir)

	vs, err := startVsftpd(ctx, o, filepath.Join(dir, "vsftpd"))
	if err != nil {
		return fmt.Errorf("vsftpd: %w", err)
	}
	defer vs.stop()
	fe, err := startFerry(ctx, o, filepath.Join(dir, "ferry"))
	if err != nil {
		return fmt.Errorf("ferry: %w", err)
	}
	defer fe.stop()
	targets := []*target{fe.target, vs.target}

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

	res := newResults()
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
		}
	}
	fmt.Println()
	res.print(os.Stdout, o)
	if o.keep {
		fmt.Printf("\nlogs and data kept in %s\n", dir)
	}
	return nil
}
