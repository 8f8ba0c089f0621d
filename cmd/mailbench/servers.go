package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/benchkit"
	"github.com/ferryhq/ferry/internal/tlsutil"
)

const (
	mailDomain = "bench.test"
	sinkBox    = "sink"  // SMTP target: sink@bench.test
	benchUser  = "bench" // IMAP/POP3 login; its INBOX holds the -fetch messages
)

// target is one server under test.
type target struct {
	name     string
	smtpAddr string
	imapAddr string
	pop3Addr string
	user     string
	pass     string
	sinkDir  string // Postfix: the Maildir's new/ that SMTP delivers into
}

// server is a process this command started, with its target.
type server struct {
	*target
	cmd     *exec.Cmd
	proc    *benchkit.Proc
	pid     int
	onStop  func() // run before the signal (e.g. `postfix stop`)
	stopped bool
}

// stop ends the server and the processes it forked.
func (s *server) stop() {
	if s == nil || s.proc == nil || s.stopped {
		return
	}
	s.stopped = true
	if s.proc.Exited() {
		return
	}
	if s.onStop != nil {
		s.onStop()
	}
	s.proc.Stop(15 * time.Second)
	benchkit.Logf("%s stopped", s.name)
}

// start runs the command in a process group of its own and waits until
// every address in probes greets with its prefix.
func (s *server) start(logPath string, probes map[string]string) error {
	proc, err := benchkit.StartProc(s.cmd, logPath)
	if err != nil {
		return err
	}
	s.proc, s.pid = proc, proc.Pid()
	var ready []func() error
	for addr, prefix := range probes {
		ready = append(ready, func() error { return benchkit.Greets(addr, prefix) })
	}
	return proc.Ready(30*time.Second, ready...)
}

func freeAddr() (string, error) {
	p, err := benchkit.FreePort()
	return fmt.Sprintf("127.0.0.1:%d", p), err
}

// ---- installation and the system user ----

const (
	postfixBin = "/usr/sbin/postfix"
	dovecotBin = "/usr/sbin/dovecot"
	policyRCD  = "/usr/sbin/policy-rc.d"
)

// install apt-gets the reference servers that are missing. A policy-rc.d
// (unless one exists) keeps the packages' init scripts from starting the
// system's Postfix on port 25 and Dovecot on 143/110; Postfix's debconf
// answer is "Local only".
func install(o *options, postfix, dovecot bool) error {
	var pkgs []string
	if postfix {
		if _, err := os.Stat(postfixBin); err != nil {
			pkgs = append(pkgs, "postfix")
		}
	}
	if dovecot {
		if _, err := os.Stat("/usr/lib/dovecot/imap"); err != nil {
			pkgs = append(pkgs, "dovecot-imapd")
		}
		if _, err := os.Stat("/usr/lib/dovecot/pop3"); err != nil {
			pkgs = append(pkgs, "dovecot-pop3d")
		}
	}
	if len(pkgs) == 0 {
		return nil
	}
	if o.noInstall {
		return fmt.Errorf("missing %s (apt-get install %s) and -no-install is set", strings.Join(pkgs, ", "), strings.Join(pkgs, " "))
	}
	if _, err := os.Stat(policyRCD); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(policyRCD, []byte("#!/bin/sh\n# written by mailbench while it installs packages\nexit 101\n"), 0o755); err != nil {
			return err
		}
		defer os.Remove(policyRCD)
	}
	sel := "postfix postfix/main_mailer_type select Local only\npostfix postfix/mailname string mailbench.invalid\n"
	if err := benchkit.Run(strings.NewReader(sel), nil, "", "debconf-set-selections"); err != nil {
		return err
	}
	benchkit.Logf("installing %s from Debian (apt-get)", strings.Join(pkgs, " "))
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if err := benchkit.Run(nil, env, "", "apt-get", "update"); err != nil {
		return err
	}
	args := append([]string{"install", "-y", "--no-install-recommends"}, pkgs...)
	return benchkit.Run(nil, env, "", "apt-get", args...)
}

type sysUser struct {
	name     string
	uid, gid int
}

func systemUser(name string) (sysUser, error) {
	if _, err := user.Lookup(name); err != nil {
		benchkit.Logf("creating system user %s", name)
		if err := benchkit.Run(nil, nil, "", "useradd", "--system", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", name); err != nil {
			return sysUser{}, err
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		return sysUser{}, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if uid == 0 {
		return sysUser{}, fmt.Errorf("user %s has uid 0", name)
	}
	return sysUser{name, uid, gid}, nil
}

func mkdirOwned(path string, su sysUser) error {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return err
	}
	return os.Chown(path, su.uid, su.gid)
}

// writeCert writes the self-signed ECDSA P-256 certificate both sides use
// (Ferry generates the same kind when it has none).
func writeCert(dir string) (string, string, error) {
	certPEM, keyPEM, err := tlsutil.SelfSigned(nil)
	if err != nil {
		return "", "", err
	}
	cert, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, certPEM, 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return "", "", err
	}
	return cert, keyPath, nil
}

// ---- Ferry ----

func startFerry(_ context.Context, o *options, dir, certFile, keyFile string) (*server, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	bin, err := benchkit.FerryBinary(o.ferryBin, filepath.Join(dir, "ferry"))
	if err != nil {
		return nil, err
	}
	var addrs [4]string
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FERRY_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"FERRY_DATA_DIR="+filepath.Join(dir, "data"),
		"FERRY_FTP_ADDR="+addrs[0], "FERRY_FTPS_ADDR=", "FERRY_HTTP_ADDR=",
		"FERRY_SMTP_ADDR="+addrs[1], "FERRY_IMAP_ADDR="+addrs[2], "FERRY_POP3_ADDR="+addrs[3],
		"FERRY_MAIL_DOMAIN="+mailDomain,
		"FERRY_TLS_CERT="+certFile, "FERRY_TLS_KEY="+keyFile,
		"FERRY_BAN_MAX_FAILURES=0",
		// Any number of senders from one address, as the reference has.
		"FERRY_MAIL_MAX_CONNECTIONS=0", "FERRY_MAIL_MAX_CONNECTIONS_PER_IP=0",
		"FERRY_LOG_LEVEL="+o.ferryLog,
	)
	for _, p := range []string{sinkBox, benchUser} {
		if err := benchkit.Run(nil, env, dir, bin, "partner", "create", p, "--name", "mailbench "+p); err != nil {
			return nil, err
		}
	}
	pass := benchkit.RandomPassword("Mb-")
	// argon2id at the default cost; the login is not timed.
	if err := benchkit.Run(strings.NewReader(pass+"\n"), env, dir, bin, "account", "create", "--partner", benchUser,
		benchUser, "--password-stdin"); err != nil {
		return nil, err
	}
	s := &server{target: &target{name: nameFerry, smtpAddr: addrs[1], imapAddr: addrs[2], pop3Addr: addrs[3],
		user: benchUser, pass: pass}}
	s.cmd = exec.Command(bin, "serve")
	s.cmd.Env, s.cmd.Dir = env, dir
	if err := s.start(filepath.Join(dir, "ferry.log"), map[string]string{addrs[1]: "220", addrs[2]: "* OK", addrs[3]: "+OK"}); err != nil {
		return nil, err
	}
	benchkit.Logf("ferry %s: SMTP %s, IMAP %s, POP3 %s, pid %d", bin, s.smtpAddr, s.imapAddr, s.pop3Addr, s.pid)
	return s, nil
}

// ---- Postfix ----

// startPostfix runs an instance of its own: config, queue and Maildirs in
// dir, one smtpd on 127.0.0.1:<free port>, no chroot, virtual(8) delivery
// of sink@bench.test into dir/vmail/sink/ (a Maildir) as the system user.
func startPostfix(o *options, dir string, su sysUser) (*server, error) {
	_ = o
	for _, d := range []string{dir, filepath.Join(dir, "queue")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	pfUser, err := user.Lookup("postfix")
	if err != nil {
		return nil, err
	}
	pfUID, _ := strconv.Atoi(pfUser.Uid)
	pfGID, _ := strconv.Atoi(pfUser.Gid)
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chown(data, pfUID, pfGID); err != nil {
		return nil, err
	}
	vmail := filepath.Join(dir, "vmail")
	if err := mkdirOwned(vmail, su); err != nil {
		return nil, err
	}
	if err := os.Chmod(vmail, 0o755); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	mapFile := filepath.Join(dir, "vmailbox")
	if err := os.WriteFile(mapFile, []byte(sinkBox+"@"+mailDomain+" "+sinkBox+"/\n"), 0o644); err != nil {
		return nil, err
	}
	mainCf := fmt.Sprintf(`# written by mailbench (cmd/mailbench): a Postfix instance of its own
compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mailbench.localdomain
mydomain = localdomain
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains =
relayhost =
alias_maps =
alias_database =
local_recipient_maps =
biff = no
append_dot_mydomain = no
smtputf8_enable = no
smtpd_banner = $myhostname ESMTP
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
message_size_limit = 26214400
virtual_mailbox_domains = %[2]s
virtual_mailbox_base = %[1]s/vmail
virtual_mailbox_maps = texthash:%[1]s/vmailbox
virtual_mailbox_limit = 0
virtual_minimum_uid = %[3]d
virtual_uid_maps = static:%[3]d
virtual_gid_maps = static:%[4]d
maillog_file = %[1]s/maillog
maillog_file_prefixes = /var, /dev/stdout, %[1]s
`, dir, mailDomain, su.uid, su.gid)
	// Debian's services without chroot (the queue is not under
	// /var/spool/postfix) and the smtpd on the benchmark's port only.
	masterCf := fmt.Sprintf(`# written by mailbench (cmd/mailbench)
%s inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`, addr)
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte(mainCf), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "master.cf"), []byte(masterCf), 0o644); err != nil {
		return nil, err
	}
	if err := benchkit.Run(nil, nil, "", postfixBin, "-c", dir, "check"); err != nil {
		return nil, err
	}
	s := &server{target: &target{name: namePostfix, smtpAddr: addr, sinkDir: filepath.Join(vmail, sinkBox, "new")}}
	s.cmd = exec.Command(postfixBin, "-c", dir, "start-fg")
	s.onStop = func() {
		if err := benchkit.Run(nil, nil, "", postfixBin, "-c", dir, "stop"); err != nil {
			benchkit.Logf("postfix stop: %v", err)
		}
	}
	if err := s.start(filepath.Join(dir, "stderr.log"), map[string]string{addr: "220"}); err != nil {
		return nil, err
	}
	benchkit.Logf("postfix %s (config %s) SMTP %s, pid %d", postfixBin, dir, addr, s.pid)
	return s, nil
}

// ---- Dovecot ----

func startDovecot(o *options, dir string, su sysUser, certFile, keyFile string) (*server, error) {
	_ = o
	for _, d := range []string{dir, filepath.Join(dir, "run"), filepath.Join(dir, "state")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	home := filepath.Join(dir, "home")
	if err := mkdirOwned(home, su); err != nil {
		return nil, err
	}
	if err := mkdirOwned(filepath.Join(home, benchUser), su); err != nil {
		return nil, err
	}
	pass := benchkit.RandomPassword("Mb-")
	users := filepath.Join(dir, "users")
	line := fmt.Sprintf("%s:{PLAIN}%s:%d:%d::%s::\n", benchUser, pass, su.uid, su.gid, filepath.Join(home, benchUser))
	if err := os.WriteFile(users, []byte(line), 0o640); err != nil {
		return nil, err
	}
	if g, err := user.LookupGroup("dovecot"); err == nil {
		gid, _ := strconv.Atoi(g.Gid)
		_ = os.Chown(users, 0, gid)
	}
	imapAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	pop3Addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, imapPort, _ := net.SplitHostPort(imapAddr)
	_, pop3Port, _ := net.SplitHostPort(pop3Addr)
	dh := ""
	if _, err := os.Stat("/usr/share/dovecot/dh.pem"); err == nil {
		dh = "ssl_dh = </usr/share/dovecot/dh.pem"
	}
	conf := fmt.Sprintf(`# written by mailbench (cmd/mailbench)
instance_name = mailbench
protocols = imap pop3
listen = 127.0.0.1
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
info_log_path = %[1]s/dovecot.log
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = %[2]d
last_valid_uid = %[2]d
ssl = yes
ssl_cert = <%[3]s
ssl_key = <%[4]s
%[5]s
disable_plaintext_auth = yes
auth_mechanisms = plain login
passdb {
  driver = passwd-file
  args = scheme=PLAIN %[1]s/users
}
userdb {
  driver = passwd-file
  args = %[1]s/users
}
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
}
pop3_uidl_format = %%08Xu%%08Xv
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[6]s
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = %[7]s
  }
  inet_listener pop3s {
    port = 0
  }
}
`, dir, su.uid, certFile, keyFile, dh, imapPort, pop3Port)
	confPath := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	s := &server{target: &target{name: nameDovecot, imapAddr: imapAddr, pop3Addr: pop3Addr, user: benchUser, pass: pass}}
	s.cmd = exec.Command(dovecotBin, "-F", "-c", confPath)
	if err := s.start(filepath.Join(dir, "stderr.log"), map[string]string{imapAddr: "* OK", pop3Addr: "+OK"}); err != nil {
		return nil, err
	}
	benchkit.Logf("dovecot %s (config %s) IMAP %s, POP3 %s, pid %d", dovecotBin, confPath, imapAddr, pop3Addr, s.pid)
	return s, nil
}
