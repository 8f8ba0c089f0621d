package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	l := Loader{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	l.Register(fs)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	return l.Load(fs)
}

func TestDefaults(t *testing.T) {
	c, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.FTPAddr != "127.0.0.1:2121" || c.FTPPassivePorts != (PortRange{50000, 50099}) || c.HTTPAddr != "127.0.0.1:8080" ||
		c.SMTPAddr != "127.0.0.1:2525" || c.IMAPAddr != "127.0.0.1:1143" || c.POP3Addr != "127.0.0.1:1110" || c.FTPSAddr != "" || c.DatabaseURL != "" {
		t.Fatalf("defaults: %+v", c)
	}
	// A dev run listens on loopback only, whatever listener a later
	// setting adds.
	for _, s := range settings() {
		if !strings.HasSuffix(s.key, "-addr") {
			continue
		}
		if v := s.get(&c); v != "" && !strings.HasPrefix(v, "127.0.0.1:") {
			t.Errorf("%s defaults to %q, not a loopback address", Env(s.key), v)
		}
	}
	if c.SQLitePath() != filepath.Join("data", "ferry.db") || c.FilesDir() != filepath.Join("data", "files") {
		t.Fatalf("paths: %s %s", c.SQLitePath(), c.FilesDir())
	}
}

// Precedence: default < file < environment < flag.
func TestPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ferry.env")
	content := "# comment\n\nFERRY_FTP_ADDR=0.0.0.0:21\nexport FERRY_FTP_BANNER=\"From file\"\nFERRY_DATA_DIR='/srv/ferry'\nFERRY_FTP_IDLE_TIMEOUT=5m\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := load(t, map[string]string{"FERRY_CONFIG": file, "FERRY_FTP_BANNER": "From env", "FERRY_FTPS_ADDR": ":990"},
		"--data-dir", "/flag/dir")
	if err != nil {
		t.Fatal(err)
	}
	if c.FTPAddr != "0.0.0.0:21" || c.FTPBanner != "From env" || c.DataDir != "/flag/dir" || c.FTPSAddr != ":990" ||
		c.FTPIdleTimeout != 5*time.Minute {
		t.Fatalf("got %+v", c)
	}
	// An empty environment value switches a listener off.
	c, err = load(t, map[string]string{"FERRY_FTP_ADDR": "", "FERRY_FTPS_ADDR": ":990"})
	if err != nil || c.FTPAddr != "" {
		t.Fatalf("empty FERRY_FTP_ADDR: %q %v", c.FTPAddr, err)
	}
}

// A bad setting stops Ferry with a message naming the key.
func TestErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	badFile := filepath.Join(dir, "bad.env")
	_ = os.WriteFile(badFile, []byte("FERRY_FTP_ADDR=:21\nFERRY_NO_SUCH=1\n"), 0o600)
	noEq := filepath.Join(dir, "noeq.env")
	_ = os.WriteFile(noEq, []byte("FERRY_FTP_ADDR\n"), 0o600)
	for _, tc := range []struct {
		env  map[string]string
		args []string
		key  string
	}{
		{map[string]string{"FERRY_FTP_PASSIVE_PORTS": "50100-50000"}, nil, "FERRY_FTP_PASSIVE_PORTS"},
		{map[string]string{"FERRY_FTP_PASSIVE_PORTS": "lots"}, nil, "FERRY_FTP_PASSIVE_PORTS"},
		{map[string]string{"FERRY_FTP_IDLE_TIMEOUT": "soon"}, nil, "FERRY_FTP_IDLE_TIMEOUT"},
		{map[string]string{"FERRY_FTP_PUBLIC_HOST": "ftp.example.com"}, nil, "FERRY_FTP_PUBLIC_HOST"},
		{map[string]string{"FERRY_FTP_ADDR": "2121"}, nil, "FERRY_FTP_ADDR"},
		{map[string]string{"FERRY_TLS_CERT": "/c.pem"}, nil, "FERRY_TLS_CERT"},
		{map[string]string{"FERRY_DATABASE_URL": "mysql://x"}, nil, "FERRY_DATABASE_URL"},
		{map[string]string{"FERRY_LOG_LEVEL": "loud"}, nil, "FERRY_LOG_LEVEL"},
		{nil, []string{"--ftp-deflate-level", "12"}, "--ftp-deflate-level"},
		{map[string]string{"FERRY_CONFIG": badFile}, nil, "FERRY_NO_SUCH"},
		{map[string]string{"FERRY_CONFIG": noEq}, nil, "FERRY_FTP_ADDR"},
		{map[string]string{"FERRY_CONFIG": filepath.Join(dir, "missing.env")}, nil, "FERRY_CONFIG"},
	} {
		_, err := load(t, tc.env, tc.args...)
		var ce *Error
		if !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("env %v args %v: got %v, want an error naming %s", tc.env, tc.args, err, tc.key)
		}
	}
}

func TestDescribeListsEverySetting(t *testing.T) {
	var b strings.Builder
	c := Default()
	c.Describe(&b)
	for _, key := range []string{"FERRY_DATA_DIR", "FERRY_DATABASE_URL", "FERRY_FTP_ADDR", "FERRY_FTPS_ADDR",
		"FERRY_FTP_PASSIVE_PORTS", "FERRY_FTP_PUBLIC_HOST", "FERRY_TLS_CERT", "FERRY_TLS_KEY", "FERRY_HTTP_ADDR",
		"FERRY_SMTP_ADDR", "FERRY_IMAP_ADDR", "FERRY_POP3_ADDR", "FERRY_MAIL_DOMAIN"} {
		if !strings.Contains(b.String(), key+"=") {
			t.Errorf("Describe lacks %s", key)
		}
	}
}

func TestProxyProtocolSettings(t *testing.T) {
	c, err := load(t, nil)
	if err != nil || len(c.ProxyProtocol) != 0 || c.ProxyProtocolOn("ftp") {
		t.Fatalf("PROXY protocol must be off by default: %v %v", c.ProxyProtocol, err)
	}
	c, err = load(t, map[string]string{"FERRY_PROXY_PROTOCOL": " FTP, smtp ,imap,pop3,ftps", "FERRY_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7,2001:db8::/32, 203.0.113.9/24"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"ftp", "ftps", "smtp", "imap", "pop3"} {
		if !c.ProxyProtocolOn(n) {
			t.Errorf("%s not on: %v", n, c.ProxyProtocol)
		}
	}
	if got := (&c).TrustedProxies; len(got) != 4 || got[1].String() != "192.0.2.7/32" || got[3].String() != "203.0.113.0/24" {
		t.Fatalf("trusted proxies: %v", got)
	}
	var b strings.Builder
	c.Describe(&b)
	if !strings.Contains(b.String(), "FERRY_PROXY_PROTOCOL=ftp,smtp,imap,pop3,ftps\n") ||
		!strings.Contains(b.String(), "FERRY_TRUSTED_PROXIES=10.0.0.0/8,192.0.2.7/32,2001:db8::/32,203.0.113.0/24\n") {
		t.Fatalf("describe:\n%s", b.String())
	}
	c, err = load(t, map[string]string{"FERRY_PROXY_PROTOCOL": "", "FERRY_TRUSTED_PROXIES": ""})
	if err != nil || c.ProxyProtocolOn("ftp") {
		t.Fatalf("empty values: %v %v", c.ProxyProtocol, err)
	}

	for _, tc := range []struct {
		env map[string]string
		key string
	}{
		{map[string]string{"FERRY_PROXY_PROTOCOL": "ftp,http"}, "FERRY_PROXY_PROTOCOL"},
		{map[string]string{"FERRY_PROXY_PROTOCOL": "ftp,ftp", "FERRY_TRUSTED_PROXIES": "10.0.0.1"}, "FERRY_PROXY_PROTOCOL"},
		{map[string]string{"FERRY_PROXY_PROTOCOL": "ftp"}, "FERRY_TRUSTED_PROXIES"},
		{map[string]string{"FERRY_PROXY_PROTOCOL": "smtp", "FERRY_TRUSTED_PROXIES": " , "}, "FERRY_TRUSTED_PROXIES"},
		{map[string]string{"FERRY_TRUSTED_PROXIES": "lb.example.com"}, "FERRY_TRUSTED_PROXIES"},
		{map[string]string{"FERRY_TRUSTED_PROXIES": "10.0.0.0/33"}, "FERRY_TRUSTED_PROXIES"},
	} {
		_, err := load(t, tc.env)
		var ce *Error
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("env %v: got %v, want an error naming %s", tc.env, err, tc.key)
		}
	}
}

func TestWebSecureCookie(t *testing.T) {
	cfg, err := load(t, nil)
	if err != nil || cfg.WebSecureCookie {
		t.Fatalf("default: %v %v", cfg.WebSecureCookie, err)
	}
	cfg, err = load(t, map[string]string{"FERRY_WEB_SECURE_COOKIE": "true"})
	if err != nil || !cfg.WebSecureCookie {
		t.Fatalf("env true: %v %v", cfg.WebSecureCookie, err)
	}
	cfg, err = load(t, map[string]string{"FERRY_WEB_SECURE_COOKIE": "true"}, "--web-secure-cookie", "false")
	if err != nil || cfg.WebSecureCookie {
		t.Fatalf("flag false over env: %v %v", cfg.WebSecureCookie, err)
	}
	if _, err := load(t, map[string]string{"FERRY_WEB_SECURE_COOKIE": "sometimes"}); err == nil || !strings.Contains(err.Error(), "web-secure-cookie") && !strings.Contains(err.Error(), "WEB_SECURE_COOKIE") {
		t.Fatalf("bad value: %v", err)
	}
}
