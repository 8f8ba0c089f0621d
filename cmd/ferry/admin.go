package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// listFlag collects a repeatable flag (--contact a --contact b) and also
// accepts comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func (a *app) partner(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("partner needs a subcommand: create, set, list, show, enable, disable, delete")
	}
	sub, args := args[0], args[1:]
	c := newCommand("partner "+sub, a.stderr)
	// Each subcommand registers only the flags it reads, so a flag given
	// to the wrong one (partner list --purge) is refused by name.
	var (
		name, contacts, allow             = new(string), &listFlag{}, &listFlag{}
		quotaBytes, quotaFiles, mailQuota = new(int64), new(int64), new(int64)
		tlsRequired, disabled, purge      = new(bool), new(bool), new(bool)
		totpRequired                      = new(bool)
		codePage, encryptAlerts           = new(string), new(string)
		encryptUploads, verifyUploads     = &listFlag{}, new(bool)
	)
	switch sub {
	case "create", "set":
		c.fs.StringVar(name, "name", "", "display name (defaults to the slug)")
		c.fs.Int64Var(quotaBytes, "quota-bytes", 0, "storage quota in bytes (0: unlimited)")
		c.fs.Int64Var(quotaFiles, "quota-files", 0, "file count quota (0: unlimited)")
		c.fs.Int64Var(mailQuota, "mail-quota-bytes", 0, "mailbox quota in bytes (0: unlimited)")
		c.fs.BoolVar(tlsRequired, "tls-required", false, "accounts must use FTPS")
		c.fs.BoolVar(totpRequired, "totp-required", false, "accounts must sign in to the partner portal with a second factor (TOTP)")
		c.fs.StringVar(codePage, "ebcdic-code-page", "IBM-1047", "EBCDIC code page of FTP TYPE E: IBM-1047 or IBM-037")
		c.fs.StringVar(encryptAlerts, "encrypt-alerts", "optional", "optional: alerts encrypted to recipients with a key; required: alerts wait until every recipient has one")
		c.fs.Var(encryptUploads, "encrypt-uploads", "address whose registered OpenPGP key every upload is encrypted to (repeatable; --encrypt-uploads= turns it off)")
		c.fs.BoolVar(verifyUploads, "verify-uploads", false, "check a detached .sig/.asc beside a file against the contacts' registered keys")
		c.fs.BoolVar(disabled, "disabled", false, "create the partner disabled")
		c.fs.Var(contacts, "contact", "email address for upload alerts (repeatable)")
		c.fs.Var(allow, "allow", "client address range allowed to log in, e.g. 203.0.113.0/24 (repeatable; none: any)")
	case "delete":
		c.fs.BoolVar(purge, "purge", false, "also remove the partner's files")
	}
	cfg, err := c.parse(args)
	if err != nil {
		return err
	}
	svc, done, err := a.service(ctx, cfg)
	if err != nil {
		return err
	}
	defer done()
	one := func() (string, error) {
		if len(c.pos) != 1 {
			return "", usagef("partner %s needs exactly one SLUG", sub)
		}
		return c.pos[0], nil
	}
	switch sub {
	case "set":
		slug, err := one()
		if err != nil {
			return err
		}
		// Only the flags given change; --contact and --allow replace the
		// whole list (--contact= empties it).
		var patch partners.PartnerPatch
		c.fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "name":
				patch.Name = name
			case "contact":
				patch.Contacts = (*[]string)(contacts)
			case "allow":
				patch.AllowedCIDRs = (*[]string)(allow)
			case "quota-bytes":
				patch.QuotaBytes = quotaBytes
			case "quota-files":
				patch.QuotaFiles = quotaFiles
			case "mail-quota-bytes":
				patch.MailQuotaBytes = mailQuota
			case "tls-required":
				patch.TLSRequired = tlsRequired
			case "totp-required":
				patch.TOTPRequired = totpRequired
			case "ebcdic-code-page":
				patch.EBCDICCodePage = codePage
			case "encrypt-alerts":
				patch.EncryptAlerts = encryptAlerts
			case "encrypt-uploads":
				patch.EncryptUploads = (*[]string)(encryptUploads)
			case "verify-uploads":
				patch.VerifyUploads = verifyUploads
			case "disabled":
				enabled := !*disabled
				patch.Enabled = &enabled
			}
		})
		p, err := svc.UpdatePartner(ctx, slug, patch, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "partner %s updated: enabled %v, tls required %v, quota %d bytes / %d files, mail quota %d bytes, contacts %s\n",
			p.Slug, p.Enabled, p.TLSRequired, p.QuotaBytes, p.QuotaFiles, p.MailQuotaBytes, strings.Join(p.ContactEmails(), ","))
	case "create":
		slug, err := one()
		if err != nil {
			return err
		}
		p, err := svc.CreatePartner(ctx, partners.PartnerInput{
			Slug: slug, Name: *name, Contacts: *contacts, QuotaBytes: *quotaBytes, QuotaFiles: *quotaFiles,
			MailQuotaBytes: *mailQuota, TLSRequired: *tlsRequired, AllowedCIDRs: *allow, Enabled: !*disabled,
			TOTPRequired:   *totpRequired,
			EBCDICCodePage: *codePage, EncryptAlerts: *encryptAlerts, EncryptUploads: *encryptUploads, VerifyUploads: *verifyUploads,
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "created partner %s (%s), files in %s\n", p.Slug, p.ID, svc.PartnerDir(p.Slug))
	case "list":
		list, err := svc.Store.ListPartners(ctx, store.PartnerFilter{})
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SLUG\tNAME\tENABLED\tTLS\tCONTACTS\tID")
		for _, p := range list {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%s\t%s\n", p.Slug, p.Name, p.Enabled, p.TLSRequired,
				strings.Join(p.ContactEmails(), ","), p.ID)
		}
		return tw.Flush()
	case "show":
		slug, err := one()
		if err != nil {
			return err
		}
		p, err := svc.Partner(ctx, slug)
		if err != nil {
			return err
		}
		accts, err := svc.Store.AccountsByPartner(ctx, p.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "id: %s\nslug: %s\nname: %s\nenabled: %v\ntls required: %v\nallowed ranges: %s\n"+
			"EBCDIC code page: %s\nencrypt alerts: %s\nencrypt uploads to: %s\nverify uploads: %v\ncontacts: %s\nfiles used / quota: %s bytes, %s files\nmailbox used / quota: %s bytes\nfolder: %s\naccounts:",
			p.ID, p.Slug, p.Name, p.Enabled, p.TLSRequired, orAny(p.AllowedCIDRs), cmp.Or(p.EBCDICCodePage, "IBM-1047"),
			cmp.Or(p.EncryptAlerts, store.EncryptAlertsOptional), cmp.Or(p.EncryptUploads, "(off)"), p.VerifyUploads,
			strings.Join(p.ContactEmails(), ", "), usedOf(p.UsedBytes, p.QuotaBytes), usedOf(p.UsedFiles, p.QuotaFiles),
			usedOf(p.MailUsedBytes, p.MailQuotaBytes), svc.PartnerDir(p.Slug))
		for _, ac := range accts {
			fmt.Fprintf(a.stdout, " %s", ac.Username)
		}
		fmt.Fprintln(a.stdout)
	case "enable", "disable":
		slug, err := one()
		if err != nil {
			return err
		}
		p, err := svc.SetPartnerEnabled(ctx, slug, sub == "enable")
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "partner %s %sd\n", p.Slug, sub)
	case "delete":
		slug, err := one()
		if err != nil {
			return err
		}
		if err := svc.DeletePartner(ctx, slug, *purge); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "deleted partner %s\n", slug)
	default:
		return usagef("unknown partner subcommand %q", sub)
	}
	return nil
}

// usedOf shows usage beside its limit: "1200 / 5000", "1200 / unlimited".
func usedOf(used, limit int64) string {
	if limit <= 0 {
		return fmt.Sprintf("%d / unlimited", used)
	}
	return fmt.Sprintf("%d / %d", used, limit)
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

func (a *app) account(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("account needs a subcommand: create, list, passwd, enable, disable, totp-reset, delete")
	}
	sub, args := args[0], args[1:]
	c := newCommand("account "+sub, a.stderr)
	// Each subcommand registers only the flags it reads.
	var (
		partner, home, perms           = new(string), new(string), new(string)
		pwStdin, tlsRequired, disabled = new(bool), new(bool), new(bool)
	)
	switch sub {
	case "create":
		c.fs.StringVar(partner, "partner", "", "partner slug or ID")
		c.fs.BoolVar(pwStdin, "password-stdin", false, "read the password from the first line of standard input")
		c.fs.StringVar(home, "home", "/", "folder inside the partner's tree the account is confined to")
		c.fs.StringVar(perms, "perms", "all", "comma-separated: list,download,upload,overwrite,delete,rename,mkdir (or all)")
		c.fs.BoolVar(tlsRequired, "tls-required", false, "the account must use FTPS for control and data")
		c.fs.BoolVar(disabled, "disabled", false, "create the account disabled")
	case "list":
		c.fs.StringVar(partner, "partner", "", "partner slug or ID")
	case "passwd":
		c.fs.BoolVar(pwStdin, "password-stdin", false, "read the password from the first line of standard input")
	}
	cfg, err := c.parse(args)
	if err != nil {
		return err
	}
	one := func() (string, error) {
		if len(c.pos) != 1 {
			return "", usagef("account %s needs exactly one USERNAME", sub)
		}
		return c.pos[0], nil
	}
	svc, done, err := a.service(ctx, cfg)
	if err != nil {
		return err
	}
	defer done()
	switch sub {
	case "create":
		user, err := one()
		if err != nil {
			return err
		}
		if *partner == "" {
			return usagef("account create needs --partner")
		}
		pw, err := a.readPassword(*pwStdin, "Password for "+user+" (empty: generate one): ")
		if err != nil {
			return err
		}
		acct, generated, err := svc.CreateAccount(ctx, partners.AccountInput{
			Partner: *partner, Username: user, Password: pw, HomeDir: *home, Permissions: *perms,
			TLSRequired: *tlsRequired, Disabled: *disabled,
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "created account %s for partner %s (%s), home %s, permissions %s\n",
			acct.Username, acct.Partner.Slug, acct.ID, acct.HomeDir, acct.Permissions)
		if !acct.Enabled {
			fmt.Fprintf(a.stdout, "the account is disabled: it cannot log in until `ferry account enable %s`\n", acct.Username)
		}
		if generated != "" {
			fmt.Fprintf(a.stdout, "generated password (shown once): %s\n", generated)
		}
	case "list":
		if *partner == "" {
			return usagef("account list needs --partner")
		}
		p, err := svc.Partner(ctx, *partner)
		if err != nil {
			return err
		}
		accts, err := svc.Store.AccountsByPartner(ctx, p.ID)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tENABLED\tTLS\tHOME\tPERMISSIONS\tLAST LOGIN")
		for _, ac := range accts {
			last := "never"
			if ac.LastLoginAt != nil {
				last = ac.LastLoginAt.Format("2006-01-02 15:04:05Z07:00")
			}
			fmt.Fprintf(tw, "%s\t%v\t%v\t%s\t%s\t%s\n", ac.Username, ac.Enabled, ac.TLSRequired, ac.HomeDir, ac.Permissions, last)
		}
		return tw.Flush()
	case "passwd":
		user, err := one()
		if err != nil {
			return err
		}
		pw, err := a.readPassword(*pwStdin, "New password for "+user+" (empty: generate one): ")
		if err != nil {
			return err
		}
		generated, err := svc.SetPassword(ctx, user, pw)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "password of %s changed\n", user)
		if generated != "" {
			fmt.Fprintf(a.stdout, "generated password (shown once): %s\n", generated)
		}
	case "enable", "disable":
		user, err := one()
		if err != nil {
			return err
		}
		if _, err := svc.SetAccountEnabled(ctx, user, sub == "enable"); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "account %s %sd\n", user, sub)
	case "totp-reset":
		user, err := one()
		if err != nil {
			return err
		}
		if err := svc.ResetTOTP(ctx, user); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "second factor of %s removed; it signs in to the portal with its password (and sets up a new one if its partner requires it)\n", user)
	case "delete":
		user, err := one()
		if err != nil {
			return err
		}
		if err := svc.DeleteAccount(ctx, user); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "deleted account %s\n", user)
	default:
		return usagef("unknown account subcommand %q", sub)
	}
	return nil
}

// readPassword reads from stdin with --password-stdin, prompts without echo
// on a terminal, and otherwise returns "" so that one is generated.
func (a *app) readPassword(fromStdin bool, prompt string) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(a.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", usagef("--password-stdin: standard input is empty")
		}
		return pw, nil
	}
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", nil
	}
	fmt.Fprint(a.stderr, prompt)
	pw, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(a.stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if len(pw) == 0 {
		return "", nil
	}
	fmt.Fprint(a.stderr, "Repeat: ")
	again, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(a.stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if string(again) != string(pw) {
		return "", usagef("the passwords do not match")
	}
	return string(pw), nil
}
