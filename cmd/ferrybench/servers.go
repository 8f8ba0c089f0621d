package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/benchkit"
	"github.com/ferryhq/ferry/internal/freeport"
)

// target is one FTP server under test.
type target struct {
	name       string
	addr       string // host:port of the control listener
	user, pass string
	root       string // the account's FTP root on disk, for fixtures
	uid, gid   int    // owner of fixtures (-1: leave as is)
	mlsd       bool   // the server answers MLSD
	pid        int    // the server's main process
	tree       bool   // the server forks per session: sum the RSS of its process tree
}

// server is a process this command started, with its target.
type server struct {
	*target
	cmd  *exec.Cmd
	proc *benchkit.Proc
}

// stop ends the server and the session processes it forked.
func (s *server) stop() {
	if s == nil || s.proc == nil {
		return
	}
	s.proc.Stop(10 * time.Second)
}

// start runs the command and waits for its FTP greeting.
func (s *server) start(logPath string) error {
	proc, err := benchkit.StartProc(s.cmd, logPath)
	if err != nil {
		return err
	}
	s.proc, s.pid = proc, proc.Pid()
	return proc.Ready(20*time.Second, func() error { return benchkit.Greets(s.addr, "220") })
}

// listenPorts returns a free control port and 200 consecutive free ports
// for passive data connections, enough for the parallel sessions.
func listenPorts() (port, pmin, pmax int, err error) {
	if port, err = benchkit.FreePort(); err != nil {
		return 0, 0, 0, err
	}
	pmin, pmax, err = freeport.Range(200)
	return port, pmin, pmax, err
}

// ---- vsftpd ----

const pamService = "ferrybench-vsftpd"

func startVsftpd(_ context.Context, o *options, dir string) (*server, error) {
	bin, err := exec.LookPath("vsftpd")
	if err != nil {
		bin = "/usr/sbin/vsftpd"
	}
	if _, err := os.Stat(bin); err != nil {
		if o.noInstall {
			return nil, errors.New("vsftpd is not installed (apt-get install vsftpd) and -no-install is set")
		}
		benchkit.Logf("installing vsftpd from Debian (apt-get)")
		env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if err := benchkit.Run(nil, env, "", "apt-get", "update"); err != nil {
			return nil, err
		}
		if err := benchkit.Run(nil, env, "", "apt-get", "install", "-y", "vsftpd"); err != nil {
			return nil, err
		}
		bin = "/usr/sbin/vsftpd"
	}
	if err := os.MkdirAll("/var/run/vsftpd/empty", 0o755); err != nil { // its secure_chroot_dir
		return nil, err
	}

	// The system user: a home of its own, a fresh yescrypt password (Debian
	// 12's default hash; PAM's pam_unix verifies it against /etc/shadow).
	uid, gid, cur, err := benchUser(o)
	if err != nil {
		return nil, err
	}
	home := benchHome(o)
	if cur != home {
		if err := benchkit.Run(nil, nil, "", "usermod", "-d", home, o.vsftpdUser); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chown(home, uid, gid); err != nil {
		return nil, err
	}
	pass := benchkit.RandomPassword("Fb-")
	line := strings.NewReader(o.vsftpdUser + ":" + pass + "\n")
	if err := benchkit.Run(line, nil, "", "chpasswd", "-c", "YESCRYPT"); err != nil {
		benchkit.Logf("chpasswd -c YESCRYPT failed (%v); using the system's default hash", err)
		if err := benchkit.Run(strings.NewReader(o.vsftpdUser+":"+pass+"\n"), nil, "", "chpasswd"); err != nil {
			return nil, err
		}
	}
	pam := "# written by ferrybench (cmd/ferrybench): vsftpd logins of its benchmark user\n" +
		"@include common-auth\n@include common-account\n"
	if err := os.WriteFile("/etc/pam.d/"+pamService, []byte(pam), 0o644); err != nil {
		return nil, err
	}

	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chown(root, uid, gid); err != nil {
		return nil, err
	}
	port, pmin, pmax, err := listenPorts()
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`# written by ferrybench
listen=YES
listen_ipv6=NO
background=NO
listen_address=127.0.0.1
listen_port=%d
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
local_root=%s
chroot_local_user=YES
allow_writeable_chroot=YES
pasv_enable=YES
pasv_min_port=%d
pasv_max_port=%d
port_enable=YES
connect_from_port_20=NO
max_clients=0
max_per_ip=0
pam_service_name=%s
secure_chroot_dir=/var/run/vsftpd/empty
seccomp_sandbox=NO
ssl_enable=NO
xferlog_enable=YES
xferlog_file=%s
vsftpd_log_file=%s
`, port, root, pmin, pmax, pamService, filepath.Join(dir, "xferlog"), filepath.Join(dir, "vsftpd.log"))
	confPath := filepath.Join(dir, "vsftpd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	s := &server{target: &target{name: "vsftpd", addr: fmt.Sprintf("127.0.0.1:%d", port), user: o.vsftpdUser,
		pass: pass, root: root, uid: uid, gid: gid, tree: true}}
	s.cmd = exec.Command(bin, confPath)
	if err := s.start(filepath.Join(dir, "stderr.log")); err != nil {
		return nil, err
	}
	benchkit.Logf("vsftpd %s on %s (passive %d-%d), pid %d", bin, s.addr, pmin, pmax, s.pid)
	return s, nil
}

// ---- Ferry ----

const (
	ferryPartner = "bench"
	ferryUser    = "bench"
)

// startFerry runs `ferry serve` at its defaults, with extraEnv on top. The
// binary is built once, for every Ferry the run starts.
func startFerry(_ context.Context, o *options, dir, name string, extraEnv ...string) (*server, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	// Built once, for both Ferry columns.
	bin, err := benchkit.FerryBinary(o.ferryBin, filepath.Join(filepath.Dir(dir), "ferry-bin"))
	if err != nil {
		return nil, err
	}
	o.ferryBin = bin
	port, pmin, pmax, err := listenPorts()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FERRY_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"FERRY_DATA_DIR="+data,
		fmt.Sprintf("FERRY_FTP_ADDR=127.0.0.1:%d", port),
		fmt.Sprintf("FERRY_FTP_PASSIVE_PORTS=%d-%d", pmin, pmax),
		"FERRY_FTPS_ADDR=", "FERRY_HTTP_ADDR=", "FERRY_SMTP_ADDR=", "FERRY_IMAP_ADDR=", "FERRY_POP3_ADDR=",
		"FERRY_BAN_MAX_FAILURES=0",
		"FERRY_LOG_LEVEL="+o.ferryLog,
	)
	env = append(append(env, o.ferryEnv...), extraEnv...)
	if err := benchkit.Run(nil, env, dir, bin, "partner", "create", ferryPartner, "--name", "ferrybench"); err != nil {
		return nil, err
	}
	pass := benchkit.RandomPassword("Fb-")
	// The password is hashed with argon2id at the default cost (password.Default).
	if err := benchkit.Run(strings.NewReader(pass+"\n"), env, dir, bin, "account", "create", "--partner", ferryPartner,
		ferryUser, "--password-stdin"); err != nil {
		return nil, err
	}
	root := filepath.Join(data, "files", ferryPartner)
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, err
	}
	s := &server{target: &target{name: name, addr: fmt.Sprintf("127.0.0.1:%d", port), user: ferryUser,
		pass: pass, root: root, uid: -1, gid: -1, mlsd: true}}
	s.cmd = exec.Command(bin, "serve")
	s.cmd.Env, s.cmd.Dir = env, dir
	if err := s.start(filepath.Join(dir, "ferry.log")); err != nil {
		return nil, err
	}
	benchkit.Logf("%s: ferry %s %s on %s (passive %d-%d), pid %d", name, bin, strings.Join(extraEnv, " "), s.addr, pmin, pmax, s.pid)
	return s, nil
}
