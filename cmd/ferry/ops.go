package main

import (
	"context"
	"fmt"
	"net/netip"
	"text/tabwriter"

	"github.com/ferryhq/ferry/bans"
	"github.com/ferryhq/ferry/store"
)

// quota: `ferry quota recalc [SLUG...]` recounts usage from disk.
func (a *app) quota(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "recalc" {
		return usagef("quota needs a subcommand: recalc [SLUG...]")
	}
	c := newCommand("quota recalc", a.stderr)
	cfg, err := c.parse(args[1:])
	if err != nil {
		return err
	}
	svc, done, err := a.service(ctx, cfg)
	if err != nil {
		return err
	}
	defer done()
	slugs := c.pos
	if len(slugs) == 0 {
		list, err := svc.Store.ListPartners(ctx, store.PartnerFilter{})
		if err != nil {
			return err
		}
		for _, p := range list {
			slugs = append(slugs, p.Slug)
		}
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTNER\tBYTES\tFILES\tQUOTA BYTES\tQUOTA FILES")
	for _, slug := range slugs {
		p, err := svc.RecalcUsage(ctx, slug)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", p.Slug, p.UsedBytes, p.UsedFiles, p.QuotaBytes, p.QuotaFiles)
	}
	return tw.Flush()
}

// ban: `ferry ban list` and `ferry ban lift IP`.
func (a *app) ban(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("ban needs a subcommand: list, lift IP")
	}
	sub := args[0]
	c := newCommand("ban "+sub, a.stderr)
	cfg, err := c.parse(args[1:])
	if err != nil {
		return err
	}
	svc, done, err := a.service(ctx, cfg)
	if err != nil {
		return err
	}
	defer done()
	g := &bans.Guard{Store: svc.Store, MaxFailures: cfg.BanMaxFailures, Window: cfg.BanWindow, BanTime: cfg.BanTime}
	switch sub {
	case "list":
		list, err := g.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ADDRESS\tUNTIL\tFAILURES\tREASON")
		for _, b := range list {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", b.IP, b.BannedUntil.Format("2006-01-02 15:04:05Z07:00"), b.Failures, b.Reason)
		}
		return tw.Flush()
	case "lift":
		if len(c.pos) != 1 {
			return usagef("ban lift needs exactly one address")
		}
		ip, err := netip.ParseAddr(c.pos[0])
		if err != nil {
			return usagef("%q is not an IP address", c.pos[0])
		}
		if err := g.Lift(ctx, ip); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "ban on %s lifted\n", ip)
		return nil
	}
	return usagef("unknown ban subcommand %q", sub)
}
