// Package config holds Ferry's settings: one typed struct, filled from
// defaults, then an optional file, then FERRY_* environment variables, then
// command-line flags, and validated with errors that name the bad key.
package config

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is every setting Ferry knows. The zero value is not useful; start
// from Default().
type Config struct {
	DataDir     string // FERRY_DATA_DIR
	DatabaseURL string // FERRY_DATABASE_URL; empty means SQLite at <data dir>/ferry.db
	LogLevel    string // FERRY_LOG_LEVEL: debug, info, warn, error
	LogFormat   string // FERRY_LOG_FORMAT: text or json

	FTPAddr         string    // FERRY_FTP_ADDR; empty disables the FTP listener
	FTPSAddr        string    // FERRY_FTPS_ADDR: implicit FTPS; empty (default) disables it
	FTPPassivePorts PortRange // FERRY_FTP_PASSIVE_PORTS
	FTPPublicHost   string    // FERRY_FTP_PUBLIC_HOST: IPv4 address announced in PASV replies
	FTPBanner       string    // FERRY_FTP_BANNER
	FTPIdleTimeout  time.Duration
	FTPDeflateLevel int // FERRY_FTP_DEFLATE_LEVEL: MODE Z (zlib) compression level of downloads, 0 disables MODE Z

	FTPMaxSessions           int           // FERRY_FTP_MAX_SESSIONS per listener; 0: no limit
	FTPMaxSessionsPerIP      int           // FERRY_FTP_MAX_SESSIONS_PER_IP; 0: no limit
	FTPMaxSessionsPerAccount int           // FERRY_FTP_MAX_SESSIONS_PER_ACCOUNT; 0: no limit
	PartialRetention         time.Duration // FERRY_PARTIAL_RETENTION: interrupted uploads are kept this long for a resume
	UploadSync               bool          // FERRY_UPLOAD_SYNC: sync each upload to disk before 226
	FTPAVBLDiskSpace         bool          // FERRY_FTP_AVBL_DISK_SPACE: AVBL reports the data volume's free space to partners without a quota

	// LoginTimeout (FERRY_LOGIN_TIMEOUT) closes FTP, FTPS, IMAP and POP3
	// connections that have not logged in this long after connecting, and
	// SMTP senders that have not started a message this long after
	// connecting or after their last delivered one; 0: no bound.
	LoginTimeout            time.Duration
	MailMaxConnections      int // FERRY_MAIL_MAX_CONNECTIONS per SMTP, IMAP and POP3 listener; 0: no limit
	MailMaxConnectionsPerIP int // FERRY_MAIL_MAX_CONNECTIONS_PER_IP per listener; 0: no limit

	BanMaxFailures int           // FERRY_BAN_MAX_FAILURES: failed logins that ban an address; 0: never ban
	BanWindow      time.Duration // FERRY_BAN_WINDOW
	BanTime        time.Duration // FERRY_BAN_TIME

	TLSCert string // FERRY_TLS_CERT: PEM certificate (chain); empty means self-signed in the data dir
	TLSKey  string // FERRY_TLS_KEY

	HTTPAddr string // FERRY_HTTP_ADDR
	// HTTPSAddr (FERRY_HTTPS_ADDR) serves the same as HTTPAddr over TLS
	// with Ferry's certificate; empty: off.
	HTTPSAddr  string
	AdminToken string // FERRY_ADMIN_TOKEN: accepted by the admin API as an admin token; empty: only tokens from `ferry token create`
	SMTPAddr   string // FERRY_SMTP_ADDR
	IMAPAddr   string // FERRY_IMAP_ADDR
	POP3Addr   string // FERRY_POP3_ADDR
	MailDomain string // FERRY_MAIL_DOMAIN
	// MailOutboundDomains (FERRY_MAIL_OUTBOUND_DOMAINS) are the outside
	// domains partners may write to from the portal and authenticated
	// SMTP; such mail leaves through the relay from the outbox. Empty: none.
	MailOutboundDomains []string

	// WebSecureCookie (FERRY_WEB_SECURE_COOKIE) marks the web admin's
	// cookies Secure on every request, for a TLS-terminating proxy in
	// front; false: Secure only on TLS requests.
	WebSecureCookie bool

	// Upload alerts by email (notify/).
	SMTPRelay       string        // FERRY_SMTP_RELAY: smtp://user:pass@host:587?tls=starttls; empty: partner mailbox only
	MailFrom        string        // FERRY_MAIL_FROM: From of alerts; empty: Ferry <ferry@<mail domain>>
	NotifyDigest    time.Duration // FERRY_NOTIFY_DIGEST: fold a partner's uploads of this window into one mail; 0: one mail each
	NotifyTemplates string        // FERRY_NOTIFY_TEMPLATES: folder of template overrides
	QuotaAlerts     []int         // FERRY_QUOTA_ALERTS: quota percentages that alert, e.g. 80,95
	OperatorEmails  []string      // FERRY_OPERATOR_EMAILS: get every quota alert

	// Webhooks (notify.WebhookSender).
	WebhookAllowPrivate bool   // FERRY_WEBHOOK_ALLOW_PRIVATE: webhooks may reach loopback, link-local and private addresses
	WebhookCACerts      string // FERRY_WEBHOOK_CA_CERTS: PEM CA certificates trusted for HTTPS webhooks besides the system's
	// E-mail security (mailsec/): how alerts are signed, and Ferry's own
	// keys; empty key files mean keys generated in <data dir>/mailsec.
	MailSign  string // FERRY_MAIL_SIGN: openpgp, smime or none
	PGPKey    string // FERRY_PGP_KEY: armored OpenPGP secret key file
	SMIMECert string // FERRY_SMIME_CERT: PEM certificate of the alert sender address
	SMIMEKey  string // FERRY_SMIME_KEY: its PEM private key

	// ProxyProtocol names the listeners (ftp, ftps, smtp, imap, pop3) that
	// sit behind a load balancer sending PROXY protocol headers:
	// FERRY_PROXY_PROTOCOL. TrustedProxies (FERRY_TRUSTED_PROXIES) are the
	// only addresses those listeners accept connections from; on the HTTP
	// listener, a request from one of them names its client in
	// X-Forwarded-For (the header is ignored from any other peer).
	ProxyProtocol  []string
	TrustedProxies []netip.Prefix

	ShutdownGrace time.Duration // FERRY_SHUTDOWN_GRACE

	// AuditRetention (FERRY_AUDIT_RETENTION): housekeeping deletes audit
	// rows of operations started longer ago than this, in batches; 0 keeps
	// every row.
	AuditRetention time.Duration
	// NotificationRetention (FERRY_NOTIFICATION_RETENTION): housekeeping
	// deletes sent and dead outbox rows created longer ago than this, in
	// batches; 0 keeps every row.
	NotificationRetention time.Duration
}

// PortRange is an inclusive range of TCP ports, written "50000-50099".
type PortRange struct{ Start, End int }

func (r PortRange) String() string {
	if r.Start == 0 && r.End == 0 {
		return ""
	}
	return fmt.Sprintf("%d-%d", r.Start, r.End)
}

// ParsePortRange parses "start-end" or a single port; "" is the empty range.
func ParsePortRange(s string) (PortRange, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return PortRange{}, nil
	}
	lo, hi, found := strings.Cut(s, "-")
	if !found {
		hi = lo
	}
	start, err1 := strconv.Atoi(strings.TrimSpace(lo))
	end, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil {
		return PortRange{}, fmt.Errorf("%q is not a port range like 50000-50099", s)
	}
	if start < 1 || end > 65535 || start > end {
		return PortRange{}, fmt.Errorf("%q: ports must satisfy 1 <= start <= end <= 65535", s)
	}
	return PortRange{start, end}, nil
}

// Default returns the embedded-default configuration: SQLite and files under
// ./data, unprivileged ports, every listener on the loopback interface (the
// container image sets 0.0.0.0 for each).
func Default() Config {
	return Config{
		DataDir:         "data",
		LogLevel:        "info",
		LogFormat:       "text",
		FTPAddr:         "127.0.0.1:2121",
		FTPPassivePorts: PortRange{50000, 50099},
		FTPBanner:       "Ferry FTP server ready",
		FTPIdleTimeout:  15 * time.Minute,
		FTPDeflateLevel: 6,

		FTPMaxSessions:          2000,
		FTPMaxSessionsPerIP:     64,
		LoginTimeout:            time.Minute,
		MailMaxConnections:      1000,
		MailMaxConnectionsPerIP: 32,
		PartialRetention:        7 * 24 * time.Hour,
		UploadSync:              true,
		BanMaxFailures:          10,
		BanWindow:               10 * time.Minute,
		BanTime:                 30 * time.Minute,
		HTTPAddr:                "127.0.0.1:8080",
		SMTPAddr:                "127.0.0.1:2525",
		IMAPAddr:                "127.0.0.1:1143",
		POP3Addr:                "127.0.0.1:1110",
		MailDomain:              "ferry.localhost",
		QuotaAlerts:             []int{80, 95},
		MailSign:                "smime",
		ShutdownGrace:           30 * time.Second,
	}
}

// setting describes one key once; file, environment and flag names derive
// from it so they can never drift apart.
type setting struct {
	key  string // file and flag name, e.g. "ftp-addr"; env is FERRY_FTP_ADDR
	help string
	get  func(*Config) string
	set  func(*Config, string) error
}

// Env returns the environment variable name of a setting key.
func Env(key string) string {
	return "FERRY_" + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

func strSetting(key, help string, field func(*Config) *string) setting {
	return setting{key: key, help: help,
		get: func(c *Config) string { return *field(c) },
		set: func(c *Config, v string) error { *field(c) = v; return nil }}
}

func boolSetting(key, help string, field func(*Config) *bool) setting {
	return setting{key: key, help: help,
		get: func(c *Config) string { return strconv.FormatBool(*field(c)) },
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%q is not true or false", v)
			}
			*field(c) = b
			return nil
		}}
}

func durSetting(key, help string, field func(*Config) *time.Duration) setting {
	return setting{key: key, help: help,
		get: func(c *Config) string { return field(c).String() },
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%q is not a duration like 30s or 15m", v)
			}
			if d < 0 {
				return fmt.Errorf("%q must not be negative", v)
			}
			*field(c) = d
			return nil
		}}
}

func intSetting(key, help string, lo, hi int, field func(*Config) *int) setting {
	return setting{key: key, help: help,
		get: func(c *Config) string { return strconv.Itoa(*field(c)) },
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < lo || n > hi {
				return fmt.Errorf("%q is not a whole number from %d to %d", v, lo, hi)
			}
			*field(c) = n
			return nil
		}}
}

func settings() []setting {
	return []setting{
		strSetting("data-dir", "folder for the SQLite database, partner files, mail blobs and the generated TLS certificate",
			func(c *Config) *string { return &c.DataDir }),
		{key: "database-url", help: "postgres://user:pass@host/db for PostgreSQL; empty for SQLite in the data dir (or sqlite:///path/file.db)",
			get: func(c *Config) string { return redactURL(c.DatabaseURL) },
			set: func(c *Config, v string) error { c.DatabaseURL = v; return nil }},
		strSetting("log-level", "debug, info, warn or error", func(c *Config) *string { return &c.LogLevel }),
		strSetting("log-format", "text or json", func(c *Config) *string { return &c.LogFormat }),
		strSetting("ftp-addr", "FTP (and explicit FTPS) listen address; empty disables it",
			func(c *Config) *string { return &c.FTPAddr }),
		strSetting("ftps-addr", "implicit FTPS listen address (e.g. :990); empty disables it",
			func(c *Config) *string { return &c.FTPSAddr }),
		{key: "ftp-passive-ports", help: "passive data port range, e.g. 50000-50099",
			get: func(c *Config) string { return c.FTPPassivePorts.String() },
			set: func(c *Config, v string) error {
				r, err := ParsePortRange(v)
				if err != nil {
					return err
				}
				c.FTPPassivePorts = r
				return nil
			}},
		strSetting("ftp-public-host", "IPv4 address announced in PASV replies (the NAT's public address); empty: the address the client connected to",
			func(c *Config) *string { return &c.FTPPublicHost }),
		strSetting("ftp-banner", "greeting sent with 220", func(c *Config) *string { return &c.FTPBanner }),
		durSetting("ftp-idle-timeout", "close FTP sessions idle for this long", func(c *Config) *time.Duration { return &c.FTPIdleTimeout }),
		intSetting("ftp-deflate-level", "MODE Z (a zlib stream, as lftp and FileZilla speak it) compression level of downloads, 1-9; 0 disables MODE Z", 0, 9, func(c *Config) *int { return &c.FTPDeflateLevel }),
		intSetting("ftp-max-sessions", "FTP sessions per listener at once; 0: no limit", 0, 1_000_000,
			func(c *Config) *int { return &c.FTPMaxSessions }),
		intSetting("ftp-max-sessions-per-ip", "FTP sessions from one client address at once (421 past it); 0: no limit", 0, 1_000_000,
			func(c *Config) *int { return &c.FTPMaxSessionsPerIP }),
		intSetting("ftp-max-sessions-per-account", "FTP sessions of one account at once; 0: no limit", 0, 1_000_000,
			func(c *Config) *int { return &c.FTPMaxSessionsPerAccount }),
		durSetting("partial-retention", "how long an interrupted upload is kept for a resume before it is deleted",
			func(c *Config) *time.Duration { return &c.PartialRetention }),
		boolSetting("upload-sync", "true: an upload's data and folder are synced to disk before 226, so it survives a power cut; "+
			"false: writing it to disk is left to the operating system, as vsftpd, ProFTPD and Pure-FTPd do (faster; after a power cut a recent file may be lost or empty while its audit row and alert say it arrived)",
			func(c *Config) *bool { return &c.UploadSync }),
		boolSetting("ftp-avbl-disk-space", "true: FTP AVBL tells a partner without a quota the free space of the data volume; "+
			"false (default): AVBL is refused without a quota (partners with one are told what it leaves free)",
			func(c *Config) *bool { return &c.FTPAVBLDiskSpace }),
		durSetting("login-timeout", "close FTP, FTPS, IMAP and POP3 connections not logged in this long after connecting (sending commands does not extend it), "+
			"and SMTP senders that start no message this long after connecting or after their last delivered one; 0: no bound",
			func(c *Config) *time.Duration { return &c.LoginTimeout }),
		intSetting("mail-max-connections", "SMTP, IMAP and POP3 connections per listener at once (refused past it); 0: no limit", 0, 1_000_000,
			func(c *Config) *int { return &c.MailMaxConnections }),
		intSetting("mail-max-connections-per-ip", "SMTP, IMAP and POP3 connections per listener from one client address at once (refused past it); 0: no limit", 0, 1_000_000,
			func(c *Config) *int { return &c.MailMaxConnectionsPerIP }),
		intSetting("ban-max-failures", "failed logins (any protocol) within ban-window that ban the client address; 0: never ban", 0, 1_000_000,
			func(c *Config) *int { return &c.BanMaxFailures }),
		durSetting("ban-window", "the window in which failed logins are counted", func(c *Config) *time.Duration { return &c.BanWindow }),
		durSetting("ban-time", "how long a ban lasts (421 at connect)", func(c *Config) *time.Duration { return &c.BanTime }),
		strSetting("tls-cert", "PEM certificate file for FTPS/STARTTLS; empty generates a self-signed one in the data dir",
			func(c *Config) *string { return &c.TLSCert }),
		strSetting("tls-key", "PEM private key file matching tls-cert", func(c *Config) *string { return &c.TLSKey }),
		strSetting("http-addr", "admin API and web listen address", func(c *Config) *string { return &c.HTTPAddr }),
		strSetting("https-addr", "the same over HTTPS with Ferry's certificate (tls-cert, or the self-signed one); empty: off",
			func(c *Config) *string { return &c.HTTPSAddr }),
		strSetting("admin-token", "a secret the admin API accepts as an admin bearer token (at least 16 characters); empty: only tokens made by `ferry token create`",
			func(c *Config) *string { return &c.AdminToken }),
		boolSetting("web-secure-cookie", "true: the web admin's cookies are always Secure (behind a TLS-terminating proxy); false: Secure only on TLS requests",
			func(c *Config) *bool { return &c.WebSecureCookie }),
		strSetting("smtp-addr", "inbound SMTP listen address for partner mailboxes", func(c *Config) *string { return &c.SMTPAddr }),
		strSetting("imap-addr", "IMAP4 listen address", func(c *Config) *string { return &c.IMAPAddr }),
		strSetting("pop3-addr", "POP3 listen address", func(c *Config) *string { return &c.POP3Addr }),
		strSetting("mail-domain", "domain of partner mailboxes (<partner-slug>@<mail-domain>)", func(c *Config) *string { return &c.MailDomain }),
		{key: "mail-outbound-domains", help: "outside domains partners may write to (portal, authenticated SMTP), comma-separated (example.com,example.org); such mail leaves through smtp-relay from the outbox. Empty (default): partners write only to partner mailboxes",
			get: func(c *Config) string { return strings.Join(c.MailOutboundDomains, ",") },
			set: func(c *Config, v string) error {
				var out []string
				for _, d := range strings.Split(v, ",") {
					if d = strings.ToLower(strings.TrimSpace(d)); d == "" {
						continue
					}
					if strings.ContainsAny(d, "@ /*") || !strings.Contains(d, ".") {
						return fmt.Errorf("%q is not a domain like example.com", d)
					}
					out = append(out, d)
				}
				c.MailOutboundDomains = out
				return nil
			}},
		{key: "smtp-relay", help: "SMTP relay for upload alerts: smtp://user:pass@host:587?tls=starttls (tls=none|starttls|implicit; insecure_auth=true allows AUTH without TLS); empty: alerts go only to the partner mailbox",
			get: func(c *Config) string { return redactURL(c.SMTPRelay) },
			set: func(c *Config, v string) error { c.SMTPRelay = strings.TrimSpace(v); return nil }},
		strSetting("mail-from", "From address of alert mails, e.g. Ferry <ferry@example.com>; empty: Ferry <ferry@<mail-domain>>",
			func(c *Config) *string { return &c.MailFrom }),
		durSetting("notify-digest", "fold each partner's upload alerts of this window into one mail; 0: one mail per upload within a second or two (a burst of uploads goes out together in a few mails)",
			func(c *Config) *time.Duration { return &c.NotifyDigest }),
		strSetting("notify-templates", "folder with alert template overrides (upload.subject.tmpl, upload.text.tmpl, upload.html.tmpl, quota.*, test.*, expectation.*)",
			func(c *Config) *string { return &c.NotifyTemplates }),
		boolSetting("webhook-allow-private", "true: webhooks may be sent to loopback, link-local and private addresses (checked at each connection, after DNS); false (default): refused, so a webhook cannot reach internal services",
			func(c *Config) *bool { return &c.WebhookAllowPrivate }),
		strSetting("webhook-ca-certs", "PEM file of CA certificates trusted for HTTPS webhooks besides the system's roots",
			func(c *Config) *string { return &c.WebhookCACerts }),
		strSetting("mail-sign", "how alert mails are signed: smime (S/MIME, RFC 8551), openpgp (PGP/MIME, RFC 3156) or none; a recipient with a registered key gets the mail encrypted to it either way",
			func(c *Config) *string { return &c.MailSign }),
		strSetting("pgp-key", "armored OpenPGP secret key file (no passphrase) that signs alerts; empty: one generated in <data-dir>/mailsec",
			func(c *Config) *string { return &c.PGPKey }),
		strSetting("smime-cert", "PEM S/MIME certificate of the alert sender address; empty: a self-signed one generated in <data-dir>/mailsec",
			func(c *Config) *string { return &c.SMIMECert }),
		strSetting("smime-key", "PEM private key file matching smime-cert", func(c *Config) *string { return &c.SMIMEKey }),
		{key: "quota-alerts", help: "quota percentages whose crossing mails the partner and the operators, e.g. 80,95; empty: none",
			get: func(c *Config) string {
				parts := make([]string, len(c.QuotaAlerts))
				for i, p := range c.QuotaAlerts {
					parts[i] = strconv.Itoa(p)
				}
				return strings.Join(parts, ",")
			},
			set: func(c *Config, v string) error {
				var out []int
				for _, f := range strings.Split(v, ",") {
					if f = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(f), "%")); f == "" {
						continue
					}
					n, err := strconv.Atoi(f)
					if err != nil || n < 1 || n > 100 {
						return fmt.Errorf("%q is not a list of percentages from 1 to 100 like 80,95", v)
					}
					if !slices.Contains(out, n) {
						out = append(out, n)
					}
				}
				slices.Sort(out)
				c.QuotaAlerts = out
				return nil
			}},
		{key: "operator-emails", help: "comma-separated addresses that get every partner's quota alerts, and a warning when an alert went unencrypted because a recipient's key expired",
			get: func(c *Config) string { return strings.Join(c.OperatorEmails, ",") },
			set: func(c *Config, v string) error {
				var out []string
				for _, f := range strings.Split(v, ",") {
					if f = strings.TrimSpace(f); f == "" {
						continue
					}
					if _, err := mail.ParseAddress(f); err != nil {
						return fmt.Errorf("%q is not an email address: %v", f, err)
					}
					out = append(out, f)
				}
				c.OperatorEmails = out
				return nil
			}},
		{key: "proxy-protocol", help: "listeners behind a load balancer that sends PROXY protocol v1/v2 headers, comma-separated from ftp, ftps, smtp, imap, pop3; they then accept connections only from trusted-proxies, each opening with a header. Empty (default): none",
			get: func(c *Config) string { return strings.Join(c.ProxyProtocol, ",") },
			set: func(c *Config, v string) error {
				names, err := parseProxyListeners(v)
				if err != nil {
					return err
				}
				c.ProxyProtocol = names
				return nil
			}},
		{key: "trusted-proxies", help: "addresses and CIDR ranges of the load balancers allowed to connect to proxy-protocol listeners, comma-separated (10.0.0.0/8,192.0.2.7)",
			get: func(c *Config) string {
				out := make([]string, len(c.TrustedProxies))
				for i, p := range c.TrustedProxies {
					out[i] = p.String()
				}
				return strings.Join(out, ",")
			},
			set: func(c *Config, v string) error {
				ps, err := parsePrefixes(v)
				if err != nil {
					return err
				}
				c.TrustedProxies = ps
				return nil
			}},
		durSetting("shutdown-grace", "on SIGTERM, how long running transfers may take to finish",
			func(c *Config) *time.Duration { return &c.ShutdownGrace }),
		durSetting("audit-retention", "how long audit rows (logins, uploads, downloads, deletes, ...) are kept; "+
			"older ones are deleted hourly, in batches; 0 keeps every row",
			func(c *Config) *time.Duration { return &c.AuditRetention }),
		durSetting("notification-retention", "how long sent and dead notifications are kept; "+
			"older ones are deleted hourly, in batches; 0 keeps every row",
			func(c *Config) *time.Duration { return &c.NotificationRetention }),
	}
}

// Error names the setting that is wrong and where its value came from.
type Error struct {
	Key    string // e.g. FERRY_FTP_PASSIVE_PORTS
	Source string // "default", "file <path>", "environment", "flag"
	Err    error
}

func (e *Error) Error() string {
	return fmt.Sprintf("config: %s (from %s): %v", e.Key, e.Source, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Loader fills a Config. Register adds the flags to a FlagSet; Load applies
// defaults, the file named by --config or FERRY_CONFIG, the environment, and
// the flags that were set, in that order.
type Loader struct {
	// LookupEnv reads the environment; nil means os.LookupEnv. A variable
	// set to the empty string counts: FERRY_FTP_ADDR= switches FTP off.
	LookupEnv func(string) (string, bool)

	flagVals   map[string]*string
	configFlag *string
}

// Register adds one flag per setting, plus --config, to fs.
func (l *Loader) Register(fs *flag.FlagSet) {
	l.flagVals = map[string]*string{}
	def := Default()
	for _, s := range settings() {
		l.flagVals[s.key] = fs.String(s.key, "", fmt.Sprintf("%s (env %s, default %q)", s.help, Env(s.key), s.get(&def)))
	}
	l.configFlag = fs.String("config", "", "settings file of KEY=VALUE lines (FERRY_DATA_DIR=/srv/ferry); env FERRY_CONFIG")
}

// Load builds the configuration. fs must have been parsed after Register.
func (l *Loader) Load(fs *flag.FlagSet) (Config, error) {
	lookupEnv := l.LookupEnv
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	cfg := Default()
	byKey := map[string]setting{}
	byEnv := map[string]setting{}
	for _, s := range settings() {
		byKey[s.key] = s
		byEnv[Env(s.key)] = s
	}

	path, _ := lookupEnv("FERRY_CONFIG")
	if l.configFlag != nil && *l.configFlag != "" {
		path = *l.configFlag
	}
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return cfg, &Error{Key: "FERRY_CONFIG", Source: "flag or environment", Err: err}
		}
		defer f.Close()
		if err := applyFile(&cfg, f, path, byEnv); err != nil {
			return cfg, err
		}
	}

	for _, s := range settings() {
		name := Env(s.key)
		if v, ok := lookupEnv(name); ok {
			if err := s.set(&cfg, v); err != nil {
				return cfg, &Error{Key: name, Source: "environment", Err: err}
			}
		}
	}

	if err := applySecretFiles(&cfg, lookupEnv); err != nil {
		return cfg, err
	}

	if fs != nil && l.flagVals != nil {
		var ferr error
		fs.Visit(func(f *flag.Flag) {
			s, ok := byKey[f.Name]
			if !ok || ferr != nil {
				return
			}
			if err := s.set(&cfg, f.Value.String()); err != nil {
				ferr = &Error{Key: "--" + f.Name, Source: "flag", Err: err}
			}
		})
		if ferr != nil {
			return cfg, ferr
		}
	}
	if err := applyDatabasePassword(&cfg, lookupEnv); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// SecretFileKeys are the settings whose value may instead come from a file
// named by <ENV>_FILE (FERRY_DATABASE_URL_FILE, FERRY_ADMIN_TOKEN_FILE,
// FERRY_SMTP_RELAY_FILE), as Docker and Kubernetes mount secrets, so that
// the secret is in no environment `docker inspect` shows. One trailing line
// break is dropped.
func SecretFileKeys() []string { return []string{"database-url", "admin-token", "smtp-relay"} }

// DatabasePasswordFileEnv names a file holding the PostgreSQL password, which
// Load puts into FERRY_DATABASE_URL (a URL without one): the compose file
// shares one secret between PostgreSQL (POSTGRES_PASSWORD_FILE) and Ferry.
const DatabasePasswordFileEnv = "FERRY_DATABASE_PASSWORD_FILE"

// readSecretFile reads a secret file, dropping one trailing line break.
func readSecretFile(key, path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", &Error{Key: key, Source: "environment", Err: err}
	}
	v := strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r")
	if strings.ContainsAny(v, "\r\n") {
		return "", &Error{Key: key, Source: "environment", Err: fmt.Errorf("%s holds more than one line", path)}
	}
	return v, nil
}

// applySecretFiles sets each SecretFileKeys setting whose <ENV>_FILE is
// set from that file; the variable and its _FILE twin together are an
// error (which one wins would be a guess).
func applySecretFiles(cfg *Config, lookupEnv func(string) (string, bool)) error {
	for _, key := range SecretFileKeys() {
		name := Env(key)
		path, ok := lookupEnv(name + "_FILE")
		if !ok || path == "" {
			continue
		}
		if v, set := lookupEnv(name); set && v != "" {
			return &Error{Key: name + "_FILE", Source: "environment", Err: fmt.Errorf("set %s or %s_FILE, not both", name, name)}
		}
		v, err := readSecretFile(name+"_FILE", path)
		if err != nil {
			return err
		}
		for _, s := range settings() {
			if s.key == key {
				if err := s.set(cfg, v); err != nil {
					return &Error{Key: name + "_FILE", Source: "file " + path, Err: err}
				}
			}
		}
	}
	return nil
}

// applyDatabasePassword puts the password of FERRY_DATABASE_PASSWORD_FILE
// into the PostgreSQL URL, which must then have a user and no password.
func applyDatabasePassword(cfg *Config, lookupEnv func(string) (string, bool)) error {
	path, ok := lookupEnv(DatabasePasswordFileEnv)
	if !ok || path == "" {
		return nil
	}
	pw, err := readSecretFile(DatabasePasswordFileEnv, path)
	if err != nil {
		return err
	}
	if pw == "" {
		return &Error{Key: DatabasePasswordFileEnv, Source: "file " + path, Err: errors.New("the file is empty")}
	}
	u, err := url.Parse(cfg.DatabaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.User == nil || u.User.Username() == "" {
		return &Error{Key: DatabasePasswordFileEnv, Source: "environment",
			Err: fmt.Errorf("needs FERRY_DATABASE_URL to be a postgres:// URL with a user and no password, like postgres://ferry@db:5432/ferry, not %q", redactURL(cfg.DatabaseURL))}
	}
	if _, has := u.User.Password(); has {
		return &Error{Key: DatabasePasswordFileEnv, Source: "environment", Err: errors.New("FERRY_DATABASE_URL has a password already")}
	}
	u.User = url.UserPassword(u.User.Username(), pw)
	cfg.DatabaseURL = u.String()
	return nil
}

// applyFile reads KEY=VALUE lines, the same format as a docker-compose .env
// file or a systemd EnvironmentFile. Blank lines and # comments are skipped;
// values may be wrapped in single or double quotes.
func applyFile(cfg *Config, r io.Reader, path string, byEnv map[string]setting) error {
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		src := fmt.Sprintf("file %s line %d", path, n)
		if !ok {
			return &Error{Key: strings.TrimSpace(k), Source: src, Err: errors.New("expected KEY=VALUE")}
		}
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		s, known := byEnv[k]
		if !known {
			if k == "FERRY_CONFIG" || !strings.HasPrefix(k, "FERRY_") {
				return &Error{Key: k, Source: src, Err: fmt.Errorf("unknown setting; known: %s", strings.Join(knownEnv(byEnv), ", "))}
			}
			// FERRY_* keys of later features are read
			// from the environment by the parts that own them; in a file
			// they are an error until a part claims them.
			return &Error{Key: k, Source: src, Err: errors.New("unknown setting")}
		}
		if err := s.set(cfg, v); err != nil {
			return &Error{Key: k, Source: src, Err: err}
		}
	}
	if err := sc.Err(); err != nil {
		return &Error{Key: "FERRY_CONFIG", Source: path, Err: err}
	}
	return nil
}

func knownEnv(m map[string]setting) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Validate checks values that parse but make no sense together.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.DataDir) == "" {
		return &Error{Key: "FERRY_DATA_DIR", Source: "configuration", Err: errors.New("must not be empty")}
	}
	for _, a := range []struct{ key, val string }{
		{"FERRY_FTP_ADDR", c.FTPAddr}, {"FERRY_FTPS_ADDR", c.FTPSAddr}, {"FERRY_HTTP_ADDR", c.HTTPAddr},
		{"FERRY_SMTP_ADDR", c.SMTPAddr}, {"FERRY_IMAP_ADDR", c.IMAPAddr}, {"FERRY_POP3_ADDR", c.POP3Addr},
	} {
		if a.val == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(a.val); err != nil {
			return &Error{Key: a.key, Source: "configuration", Err: fmt.Errorf("%q is not host:port: %w", a.val, err)}
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			return &Error{Key: a.key, Source: "configuration", Err: fmt.Errorf("%q has no valid port", a.val)}
		}
	}
	if c.FTPPublicHost != "" {
		ip := net.ParseIP(c.FTPPublicHost)
		if ip == nil || ip.To4() == nil {
			return &Error{Key: "FERRY_FTP_PUBLIC_HOST", Source: "configuration", Err: fmt.Errorf("%q is not an IPv4 address (PASV can only announce IPv4)", c.FTPPublicHost)}
		}
	}
	if c.AdminToken != "" && len(strings.TrimSpace(c.AdminToken)) < 16 {
		return &Error{Key: "FERRY_ADMIN_TOKEN", Source: "configuration", Err: errors.New("must be at least 16 characters (e.g. openssl rand -hex 32)")}
	}
	if c.SMTPRelay != "" {
		// notify.ParseRelay checks the rest when serve starts.
		u, err := url.Parse(c.SMTPRelay)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			return &Error{Key: "FERRY_SMTP_RELAY", Source: "configuration", Err: fmt.Errorf("%q is not a relay URL like smtp://user:pass@mail.example:587?tls=starttls", redactURL(c.SMTPRelay))}
		}
	}
	if c.MailFrom != "" {
		if _, err := mail.ParseAddress(c.MailFrom); err != nil {
			return &Error{Key: "FERRY_MAIL_FROM", Source: "configuration", Err: fmt.Errorf("%q is not an address like Ferry <ferry@example.com>: %v", c.MailFrom, err)}
		}
	}
	switch c.MailSign {
	case "openpgp", "smime", "none":
	default:
		return &Error{Key: "FERRY_MAIL_SIGN", Source: "configuration", Err: fmt.Errorf("%q is not one of openpgp, smime, none", c.MailSign)}
	}
	if (c.SMIMECert == "") != (c.SMIMEKey == "") {
		return &Error{Key: "FERRY_SMIME_CERT", Source: "configuration", Err: errors.New("FERRY_SMIME_CERT and FERRY_SMIME_KEY must be set together")}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return &Error{Key: "FERRY_TLS_CERT", Source: "configuration", Err: errors.New("FERRY_TLS_CERT and FERRY_TLS_KEY must be set together")}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return &Error{Key: "FERRY_LOG_LEVEL", Source: "configuration", Err: fmt.Errorf("%q is not one of debug, info, warn, error", c.LogLevel)}
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return &Error{Key: "FERRY_LOG_FORMAT", Source: "configuration", Err: fmt.Errorf("%q is not text or json", c.LogFormat)}
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") &&
		!strings.HasPrefix(c.DatabaseURL, "postgresql://") && !strings.HasPrefix(c.DatabaseURL, "sqlite://") {
		return &Error{Key: "FERRY_DATABASE_URL", Source: "configuration", Err: errors.New("must start with postgres://, postgresql:// or sqlite://")}
	}
	if len(c.ProxyProtocol) > 0 && len(c.TrustedProxies) == 0 {
		return &Error{Key: "FERRY_TRUSTED_PROXIES", Source: "configuration",
			Err: fmt.Errorf("must name the load balancers' addresses when FERRY_PROXY_PROTOCOL is set (%s)", strings.Join(c.ProxyProtocol, ","))}
	}
	if c.FTPPassivePorts.Start == 0 && c.FTPAddr != "" {
		return &Error{Key: "FERRY_FTP_PASSIVE_PORTS", Source: "configuration", Err: errors.New("a passive port range is required when FTP is on")}
	}
	return nil
}

// ProxyListeners are the listener names FERRY_PROXY_PROTOCOL accepts.
var ProxyListeners = []string{"ftp", "ftps", "smtp", "imap", "pop3"}

func parseProxyListeners(v string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(v, ",") {
		name := strings.ToLower(strings.TrimSpace(f))
		if name == "" {
			continue
		}
		found := false
		for _, k := range ProxyListeners {
			found = found || k == name
		}
		if !found {
			return nil, fmt.Errorf("%q is not a listener that speaks the PROXY protocol; choose from %s", name, strings.Join(ProxyListeners, ", "))
		}
		for _, o := range out {
			if o == name {
				return nil, fmt.Errorf("%q is listed twice", name)
			}
		}
		out = append(out, name)
	}
	return out, nil
}

// parsePrefixes parses comma-separated addresses and CIDR ranges; a plain
// address is a range of one.
func parsePrefixes(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		s := strings.TrimSpace(f)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			if p.Addr().Is4In6() {
				return nil, fmt.Errorf("%q: write IPv4 ranges as a.b.c.d/n", s)
			}
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil || ip.Zone() != "" {
			return nil, fmt.Errorf("%q is not an IP address or CIDR range", s)
		}
		ip = ip.Unmap()
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}

// ProxyProtocolOn reports whether the listener named name (ftp, ftps,
// smtp, imap, pop3) expects PROXY protocol headers.
func (c *Config) ProxyProtocolOn(name string) bool {
	for _, n := range c.ProxyProtocol {
		if n == name {
			return true
		}
	}
	return false
}

// redactURL hides the password of a URL with credentials.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if at := strings.LastIndex(raw, "@"); at > 0 && strings.Contains(raw[:at], ":") {
			return "***" + raw[at:]
		}
		return raw
	}
	if _, ok := u.User.Password(); !ok {
		return u.String()
	}
	user := url.User(u.User.Username()).String()
	u.User = nil
	rest := strings.TrimPrefix(u.String(), u.Scheme+"://")
	return u.Scheme + "://" + user + ":***@" + rest
}

// SQLitePath is where the embedded database lives when no URL is set.
func (c *Config) SQLitePath() string {
	if strings.HasPrefix(c.DatabaseURL, "sqlite://") {
		return strings.TrimPrefix(c.DatabaseURL, "sqlite://")
	}
	return filepath.Join(c.DataDir, "ferry.db")
}

// FilesDir is the root of every partner's file tree.
func (c *Config) FilesDir() string { return filepath.Join(c.DataDir, "files") }

// Describe lists every setting with its environment name and current value,
// for `ferry config` and the README.
func (c *Config) Describe(w io.Writer) {
	for _, s := range settings() {
		fmt.Fprintf(w, "%s=%s\n\t# --%s: %s\n", Env(s.key), s.get(c), s.key, s.help)
	}
}
