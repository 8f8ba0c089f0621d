package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferryhq/ferry/mailsec"
)

// key manages the register of contacts' public keys, through the same
// mailsec.Registry as the API and the web admin.
func (a *app) key(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("key needs a subcommand: add EMAIL [FILE], list [EMAIL], delete ID")
	}
	sub := args[0]
	c := newCommand("key "+sub, a.stderr)
	cfg, err := c.parse(args[1:])
	if err != nil {
		return err
	}
	switch sub {
	case "add", "list", "delete":
	default:
		return usagef("unknown key subcommand %q", sub)
	}
	svc, done, err := a.service(ctx, cfg)
	if err != nil {
		return err
	}
	defer done()
	reg := &mailsec.Registry{Store: svc.Store}
	switch sub {
	case "add":
		if len(c.pos) < 1 || len(c.pos) > 2 {
			return usagef("key add needs EMAIL and a FILE (or the key on stdin)")
		}
		var text []byte
		if len(c.pos) == 2 && c.pos[1] != "-" {
			text, err = os.ReadFile(c.pos[1])
		} else {
			text, err = io.ReadAll(io.LimitReader(a.stdin, 1<<20))
		}
		if err != nil {
			return fmt.Errorf("read the key: %w", err)
		}
		kind := ""
		switch s := string(text); {
		case strings.Contains(s, "-----BEGIN PGP"):
			kind = mailsec.KindOpenPGP
		case strings.Contains(s, "-----BEGIN CERTIFICATE-----"):
			kind = mailsec.KindSMIME
		default:
			return usagef("no armored OpenPGP public key (gpg --armor --export) nor PEM certificate in the input")
		}
		k, err := reg.Add(ctx, kind, c.pos[0], string(text))
		var ke *mailsec.KeyError
		if errors.As(err, &ke) {
			return usagef("key refused: %s", ke.Reason)
		}
		if err != nil && k == nil {
			return err
		}
		fmt.Fprintf(a.stdout, "added %s key %s for %s (id %s, expires %s)\n", k.Kind, k.Fingerprint, k.Email, k.ID, expiry(k.ExpiresAt))
		return nil
	case "list":
		var emails []string
		if len(c.pos) > 0 {
			emails = c.pos
		}
		keys, err := reg.List(ctx, emails)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "EMAIL\tTYPE\tFINGERPRINT\tEXPIRES\tID")
		for _, k := range keys {
			exp := expiry(k.ExpiresAt)
			if k.ExpiresAt != nil && !time.Now().Before(*k.ExpiresAt) {
				exp += " (expired)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Email, k.Kind, k.Fingerprint, exp, k.ID)
		}
		return tw.Flush()
	default: // delete
		if len(c.pos) != 1 {
			return usagef("key delete needs exactly one ID (ferry key list shows them)")
		}
		if err := reg.Delete(ctx, c.pos[0]); err != nil {
			return fmt.Errorf("key %s: %w", c.pos[0], err)
		}
		fmt.Fprintf(a.stdout, "key %s deleted\n", c.pos[0])
		return nil
	}
}

func expiry(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format("2006-01-02")
}
