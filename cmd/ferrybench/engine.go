package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"

	"github.com/ferryhq/ferry/internal/benchkit"
)

// The bare-engine reference: ftpserverlib v0.32.3, the engine Ferry runs
// its sessions on, serving afero's OS file system with nothing of Ferry's
// (no control layer, no quota, hashing, audit, staging or sync). The bench
// runs it as a child process of its own binary (`ferrybench serve-engine`),
// so that its memory is measured apart from the client's. What Ferry
// costs on top of the engine is the difference between the two columns.

const engineCmd = "serve-engine"

// engineDriver is the engine's MainDriver: one account, its root folder.
type engineDriver struct {
	addr       string
	pmin, pmax int
	user, pass string
	fs         afero.Fs
}

func (d *engineDriver) GetSettings() (*ftpserver.Settings, error) {
	return &ftpserver.Settings{
		ListenAddr:               d.addr,
		PassiveTransferPortRange: &ftpserver.PortRange{Start: d.pmin, End: d.pmax},
		IdleTimeout:              900,
		ConnectionTimeout:        30,
	}, nil
}

func (d *engineDriver) ClientConnected(ftpserver.ClientContext) (string, error) {
	return "bare ftpserverlib", nil
}

func (d *engineDriver) ClientDisconnected(ftpserver.ClientContext) {}

func (d *engineDriver) AuthUser(_ ftpserver.ClientContext, user, pass string) (ftpserver.ClientDriver, error) {
	if user != d.user || pass != d.pass {
		return nil, errors.New("bad credentials")
	}
	return d.fs, nil
}

func (d *engineDriver) GetTLSConfig() (*tls.Config, error) { return nil, errors.New("no TLS") }

// serveEngine is the child process: it serves until SIGTERM. The password
// comes on stdin, not in the arguments.
func serveEngine(args []string) error {
	fs := flag.NewFlagSet(engineCmd, flag.ContinueOnError)
	addr := fs.String("addr", "", "control address")
	root := fs.String("root", "", "the account's root folder")
	user := fs.String("user", "", "the account's name")
	var pmin, pmax int
	fs.IntVar(&pmin, "pasv-min", 0, "first passive port")
	fs.IntVar(&pmax, "pasv-max", 0, "last passive port")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var pass string
	if _, err := fmt.Fscanln(os.Stdin, &pass); err != nil {
		return fmt.Errorf("password on stdin: %w", err)
	}
	d := &engineDriver{addr: *addr, pmin: pmin, pmax: pmax, user: *user, pass: pass,
		fs: afero.NewBasePathFs(afero.NewOsFs(), *root)}
	srv := ftpserver.NewFtpServer(d)
	srv.Logger = slog.New(slog.DiscardHandler)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Listen(); err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		_ = srv.Stop()
	}()
	if err := srv.Serve(); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

func startEngine(_ context.Context, _ *options, dir string) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	port, pmin, pmax, err := listenPorts()
	if err != nil {
		return nil, err
	}
	pass := benchkit.RandomPassword("Fb-")
	s := &server{target: &target{name: nameEngine, addr: fmt.Sprintf("127.0.0.1:%d", port), user: "bench",
		pass: pass, root: root, uid: -1, gid: -1, mlsd: true}}
	s.cmd = exec.Command(self, engineCmd, "-addr", s.addr, "-root", root, "-user", "bench",
		"-pasv-min", fmt.Sprint(pmin), "-pasv-max", fmt.Sprint(pmax))
	s.cmd.Stdin = strings.NewReader(pass + "\n")
	if err := s.start(filepath.Join(dir, "engine.log")); err != nil {
		return nil, err
	}
	benchkit.Logf("bare engine (ftpserverlib over afero's OS file system) on %s (passive %d-%d), pid %d", s.addr, pmin, pmax, s.pid)
	return s, nil
}
