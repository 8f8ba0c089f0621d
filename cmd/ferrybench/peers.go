package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ferryhq/ferry/internal/benchkit"
)

// pure-ftpd and ProFTPD are Debian packages that conflict with vsftpd and
// with each other (each provides ftp-server), so they are not installed:
// `apt-get download` fetches them and their missing libraries, and `dpkg -x`
// unpacks them into a folder of their own under -peer-cache, kept between
// runs. They run from there, as root in the foreground, with a config of
// this command's and a virtual user of their own kind (pure-ftpd's puredb,
// ProFTPD's AuthUserFile) mapped to the benchmark's system user.

// debRoot returns a folder holding the unpacked packages, fetching them the
// first time.
func debRoot(o *options, pkgs ...string) (string, error) {
	sum := sha256.Sum256([]byte(strings.Join(pkgs, " ")))
	root := filepath.Join(o.peerCache, hex.EncodeToString(sum[:6]))
	done := filepath.Join(root, ".unpacked")
	if _, err := os.Stat(done); err == nil {
		return root, nil
	}
	if o.noInstall {
		return "", fmt.Errorf("%s not unpacked in %s and -no-install is set", strings.Join(pkgs, ", "), o.peerCache)
	}
	debs := filepath.Join(root, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return "", err
	}
	benchkit.Logf("fetching %s (apt-get download, dpkg -x into %s)", strings.Join(pkgs, ", "), root)
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if err := benchkit.Run(nil, env, debs, "apt-get", append([]string{"download"}, pkgs...)...); err != nil {
		if err := benchkit.Run(nil, env, "", "apt-get", "update"); err != nil {
			return "", err
		}
		if err := benchkit.Run(nil, env, debs, "apt-get", append([]string{"download"}, pkgs...)...); err != nil {
			return "", err
		}
	}
	files, err := filepath.Glob(filepath.Join(debs, "*.deb"))
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if err := benchkit.Run(nil, nil, "", "dpkg", "-x", f, root); err != nil {
			return "", err
		}
	}
	return root, os.WriteFile(done, nil, 0o644)
}

// libPath is the LD_LIBRARY_PATH that finds the unpacked libraries.
func libPath(root string) string {
	dirs, _ := filepath.Glob(filepath.Join(root, "usr/lib/*-linux-gnu"))
	return "LD_LIBRARY_PATH=" + strings.Join(append(dirs, filepath.Join(root, "usr/lib")), ":")
}

// benchHome is the home of the benchmark's system user.
func benchHome(o *options) string { return "/var/lib/" + o.vsftpdUser }

// benchUser returns the system user the reference servers' files belong
// to (vsftpd logs in as it), creating it if it is missing.
func benchUser(o *options) (uid, gid int, home string, err error) {
	u, err := user.Lookup(o.vsftpdUser)
	if err != nil {
		benchkit.Logf("creating system user %s", o.vsftpdUser)
		if err := benchkit.Run(nil, nil, "", "useradd", "--system", "-M", "-d", benchHome(o),
			"-s", "/usr/sbin/nologin", o.vsftpdUser); err != nil {
			return 0, 0, "", err
		}
		if u, err = user.Lookup(o.vsftpdUser); err != nil {
			return 0, 0, "", err
		}
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, u.HomeDir, nil
}

// peer is what pure-ftpd and ProFTPD start from: their unpacked package,
// the account's root folder owned by the benchmark user, and a fresh
// password with its SHA-512 crypt(3) hash.
type peer struct {
	pkg, root  string
	uid, gid   int
	pass, hash string
}

func newPeer(o *options, dir string, pkgs ...string) (*peer, error) {
	pkg, err := debRoot(o, pkgs...)
	if err != nil {
		return nil, err
	}
	uid, gid, _, err := benchUser(o)
	if err != nil {
		return nil, err
	}
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chown(root, uid, gid); err != nil {
		return nil, err
	}
	pass := benchkit.RandomPassword("Fb-")
	hash, err := sha512Crypt(pass)
	if err != nil {
		return nil, err
	}
	return &peer{pkg: pkg, root: root, uid: uid, gid: gid, pass: pass, hash: hash}, nil
}

// sha512Crypt hashes a password as crypt(3) SHA-512 ($6$, 5000 rounds)
// with openssl, the password on stdin.
func sha512Crypt(pass string) (string, error) {
	cmd := exec.Command("openssl", "passwd", "-6", "-stdin")
	cmd.Stdin = strings.NewReader(pass + "\n")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("openssl passwd: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// ---- pure-ftpd ----

func startPureFTPd(_ context.Context, o *options, dir string) (*server, error) {
	pr, err := newPeer(o, dir, "pure-ftpd")
	if err != nil {
		return nil, err
	}
	pkg, root, uid, gid, pass, hash := pr.pkg, pr.root, pr.uid, pr.gid, pr.pass, pr.hash
	passwd, db := filepath.Join(dir, "pureftpd.passwd"), filepath.Join(dir, "pureftpd.pdb")
	if err := benchkit.Run(strings.NewReader(pass+"\n"+pass+"\n"), nil, "", filepath.Join(pkg, "usr/bin/pure-pw"),
		"useradd", "bench", "-u", strconv.Itoa(uid), "-g", strconv.Itoa(gid), "-d", root, "-f", passwd); err != nil {
		return nil, err
	}
	// pure-pw hashes with argon2id at t=511, which takes seconds per login
	// here; the user gets a SHA-512 crypt(3) hash instead, as ProFTPD's
	// does, which pure-ftpd verifies with crypt(3).
	line, err := os.ReadFile(passwd)
	if err != nil {
		return nil, err
	}
	fields := strings.SplitN(string(line), ":", 3)
	if len(fields) != 3 {
		return nil, fmt.Errorf("pure-pw wrote %q", line)
	}
	if err := os.WriteFile(passwd, []byte(fields[0]+":"+hash+":"+fields[2]), 0o600); err != nil {
		return nil, err
	}
	if err := benchkit.Run(nil, nil, "", filepath.Join(pkg, "usr/bin/pure-pw"), "mkdb", db, "-f", passwd); err != nil {
		return nil, err
	}
	port, pmin, pmax, err := listenPorts()
	if err != nil {
		return nil, err
	}
	s := &server{target: &target{name: "pure-ftpd", addr: fmt.Sprintf("127.0.0.1:%d", port), user: "bench",
		pass: pass, root: root, uid: uid, gid: gid, mlsd: true, tree: true}}
	// -A chroot, -E no anonymous, -H no reverse DNS, -u 1 lets the system
	// user's uid in, -c/-C lift the session caps above -sessions, -L lifts
	// the listing cap (10,000 entries by default) above -entries.
	s.cmd = exec.Command(filepath.Join(pkg, "usr/sbin/pure-ftpd"),
		"-S", fmt.Sprintf("127.0.0.1,%d", port), "-l", "puredb:"+db, "-A", "-E", "-H", "-u", "1",
		"-p", fmt.Sprintf("%d:%d", pmin, pmax), "-c", "1000", "-C", "1000", "-I", "900",
		"-L", fmt.Sprintf("%d:5", max(o.entries*2, 10000)))
	s.cmd.Env = append(os.Environ(), libPath(pkg))
	if err := s.start(filepath.Join(dir, "stderr.log")); err != nil {
		return nil, err
	}
	benchkit.Logf("pure-ftpd (Debian, unpacked in %s) on %s (passive %d-%d), pid %d", pkg, s.addr, pmin, pmax, s.pid)
	return s, nil
}

// ---- ProFTPD ----

func startProFTPd(_ context.Context, o *options, dir string) (*server, error) {
	// proftpd-core links libraries Debian has as packages of their own.
	pr, err := newPeer(o, dir, "proftpd-core", "libhiredis0.14", "libmemcached11", "libmemcachedutil2", "libhashkit2", "libpcre2-posix3")
	if err != nil {
		return nil, err
	}
	pkg, root, uid, gid, pass, hash := pr.pkg, pr.root, pr.uid, pr.gid, pr.pass, pr.hash
	users := filepath.Join(dir, "ftpd.passwd")
	entry := fmt.Sprintf("bench:%s:%d:%d::%s:/bin/sh\n", hash, uid, gid, root)
	if err := os.WriteFile(users, []byte(entry), 0o600); err != nil {
		return nil, err
	}
	port, pmin, pmax, err := listenPorts()
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`# written by ferrybench
ServerName "ferrybench"
ServerType standalone
DefaultServer on
Port %d
DefaultAddress 127.0.0.1
SocketBindTight on
UseIPv6 off
User nobody
Group nogroup
MaxInstances none
MaxClients none
MaxClientsPerHost none
PassivePorts %d %d
DefaultRoot ~
RequireValidShell off
AuthOrder mod_auth_file.c
AuthUserFile %s
AuthPAM off
WtmpLog off
UseReverseDNS off
ScoreboardFile %s
PidFile %s
DelayTable none
TransferLog none
SystemLog %s
AllowOverwrite on
Umask 022
TimeoutIdle 900
`, port, pmin, pmax, users, filepath.Join(dir, "scoreboard"), filepath.Join(dir, "proftpd.pid"), filepath.Join(dir, "system.log"))
	confPath := filepath.Join(dir, "proftpd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	s := &server{target: &target{name: "proftpd", addr: fmt.Sprintf("127.0.0.1:%d", port), user: "bench",
		pass: pass, root: root, uid: uid, gid: gid, mlsd: true, tree: true}}
	s.cmd = exec.Command(filepath.Join(pkg, "usr/sbin/proftpd"), "-n", "-c", confPath)
	s.cmd.Env = append(os.Environ(), libPath(pkg))
	if err := s.start(filepath.Join(dir, "stderr.log")); err != nil {
		return nil, err
	}
	benchkit.Logf("proftpd (Debian, unpacked in %s) on %s (passive %d-%d), pid %d", pkg, s.addr, pmin, pmax, s.pid)
	return s, nil
}
