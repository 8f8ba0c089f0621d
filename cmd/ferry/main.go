// Command ferry is Ferry's one binary: `ferry` (or `ferry serve`) runs the
// servers; the other subcommands manage partners and accounts in the same
// database, with the same settings.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ferryhq/ferry/config"
	"github.com/ferryhq/ferry/internal/tlsutil"
	"github.com/ferryhq/ferry/migrations"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// commands are ferry's subcommands with their one-line summaries, in the
// order `ferry --help` lists them.
var commands = []struct{ name, summary string }{
	{"serve", "run the servers: FTP, FTPS, SMTP, IMAP, POP3, admin API and web admin (the default)"},
	{"migrate", "apply the database migrations and exit"},
	{"partner", "manage partners: create, set, list, show, enable, disable, delete"},
	{"account", "manage a partner's FTP and mailbox accounts: create, list, passwd, enable, disable, delete"},
	{"token", "admin API tokens: create, list, revoke"},
	{"admin", "web admin users: create, list, passwd, enable, disable, delete"},
	{"quota", "recount partners' storage usage from disk"},
	{"ban", "addresses banned after failed logins: list, lift"},
	{"expectation", "expected deliveries: create, set, list, show, delete, evaluations"},
	{"webhook", "webhooks: create, set, list, show, delete, deliveries, retry"},
	{"key", "contacts' OpenPGP keys and S/MIME certificates for encrypted alerts: add, list, delete"},
	{"config", "print the effective settings and the TLS certificate's fingerprint"},
	{"healthcheck", "exit 0 when the running server answers"},
	{"version", "print the version, the source revision and the Go version"},
	{"help", "print this help"},
}

func usageText() string {
	var b strings.Builder
	b.WriteString("Ferry: managed FTP file exchange with business partners.\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-12s %s\n", c.name, c.summary)
	}
	b.WriteString("\n" + synopsis)
	return b.String()
}

const synopsis = `Usage:
  ferry [serve] [flags]                       run the servers (FTP, FTPS, ...)
  ferry migrate [flags]                       apply database migrations and exit
  ferry partner create SLUG [--name N] [--contact EMAIL]... [--quota-bytes N] [--quota-files N]
                            [--mail-quota-bytes N] [--tls-required] [--totp-required] [--allow CIDR]... [--disabled]
                            [--ebcdic-code-page IBM-1047|IBM-037] [--encrypt-alerts optional|required]
                            [--encrypt-uploads EMAIL]... [--verify-uploads]
  ferry partner set SLUG [the create flags to change; --tls-required=false, --disabled=false]
  ferry partner list | show SLUG | enable SLUG | disable SLUG | delete SLUG [--purge]
  ferry account create --partner SLUG USERNAME [--password-stdin] [--home DIR] [--perms LIST] [--tls-required]
  ferry account list --partner SLUG | passwd USERNAME [--password-stdin]
  ferry account enable USERNAME | disable USERNAME | totp-reset USERNAME | delete USERNAME
  ferry token create --role admin|auditor [--name N]   an admin API token, printed once
  ferry token list | revoke ID
  ferry admin create USERNAME --role admin|auditor [--password-stdin]   a web admin user (password prompted or generated)
  ferry admin list | passwd USERNAME [--password-stdin] | enable USERNAME | disable USERNAME | delete USERNAME
  ferry expectation create --partner SLUG --folder DIR --pattern GLOB --schedule CRON --time-zone ZONE
                            [--count N] [--grace 30m] [--name N] [--notify-email EMAIL]... [--notify-contacts=BOOL]
                            [--notify-webhooks=BOOL] [--disabled]
  ferry expectation set --partner SLUG ID [the create flags to change]
  ferry expectation list --partner SLUG | show --partner SLUG ID | delete --partner SLUG ID
  ferry expectation evaluations --partner SLUG [ID] [--limit N]   met, late and missed deadlines
  ferry webhook create --url URL --event EVENT... [--partner SLUG] [--secret-stdin] [--disabled]
  ferry webhook set ID [the create flags to change] | list | show ID | delete ID
  ferry webhook deliveries ID [--status dead] [--limit N] | retry DELIVERY-ID   re-drive a dead delivery
  ferry key add EMAIL [FILE]                  register a contact's OpenPGP public key or S/MIME certificate (FILE or stdin)
  ferry key list [EMAIL] | delete ID          registered keys
  ferry quota recalc [SLUG...]                recount partners' usage from disk
  ferry ban list | lift IP                    addresses banned after failed logins
  ferry config [flags]                        print the effective settings
  ferry healthcheck [--timeout 5s]            exit 0 when the running server answers (GET /healthz on FERRY_HTTP_ADDR)
  ferry version

Every command takes the settings flags (ferry serve --help lists them), reads
FERRY_* environment variables and an optional --config file of KEY=VALUE lines.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	if err := app.run(ctx, os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "ferry:", err)
		}
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(*usageError)), errors.As(err, new(*config.Error)), errors.As(err, new(*partners.ValidationError)):
		return 2
	}
	return 1
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// app carries the process's standard streams so tests can run commands in
// process.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func (a *app) run(ctx context.Context, args []string) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	} else if len(args) > 0 && isHelpFlag(args[0]) {
		// `ferry --help` is about ferry, not about serve's flags
		// (`ferry serve --help` lists those).
		cmd, args = "help", args[1:]
	}
	switch cmd {
	case "partner", "account", "token", "admin", "quota", "ban", "expectation", "webhook", "key":
		if len(args) > 0 && isHelpFlag(args[0]) {
			// The subcommands' synopsis, before any database is opened.
			for _, line := range strings.Split(synopsis, "\n") {
				if strings.HasPrefix(line, "  ferry "+cmd+" ") {
					fmt.Fprintln(a.stdout, line)
				}
			}
			return flag.ErrHelp
		}
	}
	switch cmd {
	case "serve":
		return a.serve(ctx, args)
	case "migrate":
		return a.migrate(ctx, args)
	case "partner":
		return a.partner(ctx, args)
	case "account":
		return a.account(ctx, args)
	case "token":
		return a.token(ctx, args)
	case "admin":
		return a.admin(ctx, args)
	case "quota":
		return a.quota(ctx, args)
	case "expectation":
		return a.expectation(ctx, args)
	case "webhook":
		return a.webhook(ctx, args)
	case "ban":
		return a.ban(ctx, args)
	case "key":
		return a.key(ctx, args)
	case "config":
		return a.printConfig(args)
	case "healthcheck":
		return a.healthcheck(ctx, args)
	case "version":
		return a.version(args)
	case "help":
		fmt.Fprint(a.stdout, usageText())
		return nil
	}
	fmt.Fprint(a.stderr, usageText())
	return usagef("unknown command %q", cmd)
}

func isHelpFlag(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "-?":
		return true
	}
	return false
}

// command is one subcommand's flags plus the settings flags.
type command struct {
	fs     *flag.FlagSet
	loader config.Loader
	pos    []string
	stderr io.Writer
}

func newCommand(name string, stderr io.Writer) *command {
	c := &command{fs: flag.NewFlagSet("ferry "+name, flag.ContinueOnError), stderr: stderr}
	// Parse errors are returned, not printed with the whole flag list;
	// --help prints it (see parse).
	c.fs.SetOutput(io.Discard)
	c.loader.Register(c.fs)
	return c
}

// parse accepts flags before and after positional arguments
// (`ferry partner create acme --contact ops@acme.example`). A flag the
// command does not take is a usage error that names it.
func (c *command) parse(args []string) (config.Config, error) {
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.fs.SetOutput(c.stderr)
				c.fs.Usage()
				return config.Config{}, err
			}
			return config.Config{}, usagef("%s: %v (%s --help lists its flags)", strings.TrimPrefix(c.fs.Name(), "ferry "), err, c.fs.Name())
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			c.pos = append(c.pos, rest...)
			break
		}
		c.pos = append(c.pos, rest[0])
		args = rest[1:]
	}
	return c.loader.Load(c.fs)
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openStore opens the configured database; migrate applies pending
// migrations first.
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger, migrate bool) (*store.Store, error) {
	return store.Open(ctx, cfg.DatabaseURL, store.Options{SQLitePath: cfg.SQLitePath(), Migrate: migrate, Logger: log})
}

func (a *app) service(ctx context.Context, cfg config.Config) (*partners.Service, func(), error) {
	// Administrative commands bring the schema up to date too, so a fresh
	// machine can create its first partner before the first `ferry serve`.
	st, err := openStore(ctx, cfg, newLogger(cfg, a.stderr).With("component", "migrate"), true)
	if err != nil {
		return nil, nil, err
	}
	return &partners.Service{Store: st, FilesDir: cfg.FilesDir()}, func() { st.Close() }, nil
}

func (a *app) migrate(ctx context.Context, args []string) error {
	c := newCommand("migrate", a.stderr)
	cfg, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(c.pos) > 0 {
		return usagef("migrate takes no arguments, got %q", c.pos)
	}
	st, err := openStore(ctx, cfg, newLogger(cfg, a.stderr), true)
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := st.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, migrateReport(st.Dialect(), st.Applied(), v))
	return nil
}

// migrateReport says what `ferry migrate` did.
func migrateReport(dialect migrations.Dialect, applied []int64, version int64) string {
	switch len(applied) {
	case 0:
		return fmt.Sprintf("%s database schema already up to date (version %d)", dialect, version)
	case 1:
		return fmt.Sprintf("applied migration %d to the %s database; schema now at version %d", applied[0], dialect, version)
	}
	return fmt.Sprintf("applied %d migrations (%d to %d) to the %s database; schema now at version %d",
		len(applied), applied[0], applied[len(applied)-1], dialect, version)
}

func (a *app) printConfig(args []string) error {
	c := newCommand("config", a.stderr)
	cfg, err := c.parse(args)
	if err != nil {
		return err
	}
	shown := cfg
	if shown.DatabaseURL != "" {
		shown.DatabaseURL = store.Redact(shown.DatabaseURL)
	}
	if shown.AdminToken != "" {
		shown.AdminToken = "***"
	}
	shown.Describe(a.stdout)
	fmt.Fprintln(a.stdout, certLine(cfg))
	return nil
}

// certLine names the TLS certificate and its SHA-256 fingerprint, as a
// comment line of `ferry config`.
func certLine(cfg config.Config) string {
	path := tlsutil.CertPath(cfg.TLSCert, cfg.DataDir)
	fp, err := tlsutil.FileFingerprint(path)
	switch {
	case err == nil:
		return fmt.Sprintf("# TLS certificate %s, SHA-256 fingerprint %s", path, fp)
	case cfg.TLSCert == "" && errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("# TLS certificate %s: not created yet; ferry serve creates a self-signed one", path)
	}
	return fmt.Sprintf("# TLS certificate: %v", err)
}
