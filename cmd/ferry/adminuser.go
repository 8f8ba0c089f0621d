package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/ferryhq/ferry/adminauth"
	"github.com/ferryhq/ferry/internal/password"
	"github.com/ferryhq/ferry/store"
)

// admin manages the web admin's users: people who sign in with a username
// and password instead of an API token.
func (a *app) admin(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("admin needs a subcommand: create, list, passwd, enable, disable, delete")
	}
	sub, args := args[0], args[1:]
	c := newCommand("admin "+sub, a.stderr)
	// Each subcommand registers only the flags it reads.
	role, pwStdin := new(string), new(bool)
	switch sub {
	case "create":
		c.fs.StringVar(role, "role", "", "admin (read and change) or auditor (read only)")
		fallthrough
	case "passwd":
		c.fs.BoolVar(pwStdin, "password-stdin", false, "read the password from the first line of standard input")
	}
	cfg, err := c.parse(args)
	if err != nil {
		return err
	}
	one := func() (string, error) {
		if len(c.pos) != 1 {
			return "", usagef("admin %s needs exactly one USERNAME", sub)
		}
		return c.pos[0], nil
	}
	// Check the arguments before opening (and migrating) the database.
	var user string
	switch sub {
	case "list":
		if len(c.pos) != 0 {
			return usagef("admin list takes no arguments, got %q", c.pos)
		}
	case "create", "passwd", "enable", "disable", "delete":
		if user, err = one(); err != nil {
			return err
		}
	default:
		return usagef("unknown admin subcommand %q", sub)
	}
	if sub == "create" {
		if err := adminauth.CheckUsername(user); err != nil {
			return usagef("%v", err)
		}
		if !adminauth.ValidRole(*role) {
			return usagef("admin create needs --role admin or --role auditor")
		}
	}
	svc, done, err := a.service(ctx, cfg)
	if err != nil {
		return err
	}
	defer done()
	notFound := func(err error) error {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no admin user %q (see ferry admin list)", user)
		}
		return err
	}
	// newPassword reads or generates a password and hashes it.
	newPassword := func(prompt string) (hash, generated string, err error) {
		pw, err := a.readPassword(*pwStdin, prompt)
		if err != nil {
			return "", "", err
		}
		if pw == "" {
			if pw, err = password.Generate(20); err != nil {
				return "", "", err
			}
			generated = pw
		} else if err := adminauth.CheckPassword(pw); err != nil {
			return "", "", usagef("%v", err)
		}
		hash, err = svc.HashPassword(ctx, pw)
		return hash, generated, err
	}
	switch sub {
	case "create":
		if _, err := svc.Store.AdminUserByUsername(ctx, user); err == nil {
			return fmt.Errorf("admin user %q: %w", user, store.ErrConflict)
		}
		hash, generated, err := newPassword("Password for " + user + " (empty: generate one): ")
		if err != nil {
			return err
		}
		u := &store.AdminUser{Username: user, PasswordHash: hash, Role: *role}
		if err := svc.Store.CreateAdminUser(ctx, u); err != nil {
			return fmt.Errorf("admin user %q: %w", user, err)
		}
		fmt.Fprintf(a.stdout, "created %s user %s (%s); sign in to the web admin with it\n", u.Role, u.Username, u.ID)
		if generated != "" {
			fmt.Fprintf(a.stdout, "generated password (shown once): %s\n", generated)
		}
	case "list":
		list, err := svc.Store.ListAdminUsers(ctx)
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
		fmt.Fprintln(tw, "USERNAME\tROLE\tENABLED\tCREATED\tLAST LOGIN")
		for _, u := range list {
			fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\n", u.Username, u.Role, !u.Disabled, when(&u.CreatedAt), when(u.LastLoginAt))
		}
		return tw.Flush()
	case "passwd":
		if _, err := svc.Store.AdminUserByUsername(ctx, user); err != nil {
			return notFound(err)
		}
		hash, generated, err := newPassword("New password for " + user + " (empty: generate one): ")
		if err != nil {
			return err
		}
		if err := svc.Store.SetAdminUserPassword(ctx, user, hash); err != nil {
			return notFound(err)
		}
		fmt.Fprintf(a.stdout, "password of %s changed; its web sessions have ended\n", user)
		if generated != "" {
			fmt.Fprintf(a.stdout, "generated password (shown once): %s\n", generated)
		}
	case "enable", "disable":
		if err := svc.Store.SetAdminUserDisabled(ctx, user, sub == "disable"); err != nil {
			return notFound(err)
		}
		fmt.Fprintf(a.stdout, "admin user %s %sd\n", user, sub)
	case "delete":
		if err := svc.Store.DeleteAdminUser(ctx, user); err != nil {
			return notFound(err)
		}
		fmt.Fprintf(a.stdout, "deleted admin user %s\n", user)
	}
	return nil
}
