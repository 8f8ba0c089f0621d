package main

import (
	"context"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/ferryhq/ferry/adminauth"
)

// token manages the admin API's bearer tokens.
func (a *app) token(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("token needs a subcommand: create, list, revoke")
	}
	sub, args := args[0], args[1:]
	if !slices.Contains([]string{"create", "list", "revoke"}, sub) {
		// Before the store is opened: a mistyped subcommand touches no data dir.
		return usagef("unknown token subcommand %q (create, list, revoke)", sub)
	}
	c := newCommand("token "+sub, a.stderr)
	// Only create takes flags of its own.
	role, name := new(string), new(string)
	if sub == "create" {
		c.fs.StringVar(role, "role", "", "admin (read and change) or auditor (read only)")
		c.fs.StringVar(name, "name", "", "what the token is for, shown in the admin audit log (default: the role)")
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
	switch sub {
	case "create":
		if len(c.pos) != 0 {
			return usagef("token create takes no arguments, got %q", c.pos)
		}
		if *role == "" {
			return usagef("token create needs --role admin or --role auditor")
		}
		token, t, err := adminauth.CreateToken(ctx, svc.Store, *name, *role)
		if err != nil {
			return err
		}
		// The token alone goes to standard output, so that
		// TOKEN=$(ferry token create --role admin) works.
		fmt.Fprintf(a.stderr, "created %s token %q (%s); it is shown once, store it now:\n", t.Role, t.Name, t.ID)
		fmt.Fprintln(a.stdout, token)
	case "list":
		if len(c.pos) != 0 {
			return usagef("token list takes no arguments, got %q", c.pos)
		}
		list, err := svc.Store.ListAPITokens(ctx)
		if err != nil {
			return err
		}
		when := func(t *time.Time) string {
			if t == nil {
				return "-"
			}
			return t.UTC().Format(time.RFC3339)
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED\tLAST USED\tREVOKED")
		for _, t := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, when(&t.CreatedAt), when(t.LastUsedAt), when(t.RevokedAt))
		}
		return tw.Flush()
	case "revoke":
		if len(c.pos) != 1 {
			return usagef("token revoke needs exactly one token ID (see ferry token list)")
		}
		if err := svc.Store.RevokeAPIToken(ctx, c.pos[0], time.Now()); err != nil {
			return fmt.Errorf("token %s: %w", c.pos[0], err)
		}
		fmt.Fprintf(a.stdout, "revoked token %s\n", c.pos[0])
	default:
		return usagef("unknown token subcommand %q", sub)
	}
	return nil
}
