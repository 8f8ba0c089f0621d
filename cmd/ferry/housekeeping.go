package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/vfs"
)

// maintain runs Ferry's housekeeping until ctx ends: completing uploads a
// crash left half-published, deleting interrupted uploads past their
// retention, and pruning old failed-login records. Every node may run it:
// each step is safe to run concurrently.
func maintain(ctx context.Context, d *deps) {
	log := d.log.With("component", "maintenance")
	go revalidate(ctx, d, log)
	run := func() {
		for _, srv := range d.ftp[:min(1, len(d.ftp))] { // one pass covers every partner
			finished, aborted, err := srv.RecoverUploads(ctx, time.Minute)
			if err != nil && ctx.Err() == nil {
				log.Error("recover uploads", "err", err)
			} else if finished+aborted > 0 {
				log.Warn("recovered interrupted upload commits", "finished", finished, "aborted", aborted)
			}
		}
		partners, err := d.store.ListPartners(ctx, store.PartnerFilter{})
		if err != nil {
			if ctx.Err() == nil {
				log.Error("list partners for the partial-upload sweep", "err", err)
			}
		}
		for _, p := range partners {
			root, err := vfs.OpenRoot(d.partners.PartnerDir(p.Slug))
			if err != nil {
				continue
			}
			n, err := vfs.NewAtomic(ctx, root, nil).SweepStaging(d.cfg.PartialRetention)
			root.Close()
			if err != nil {
				log.Warn("sweep interrupted uploads", "partner", p.Slug, "err", err)
			} else if n > 0 {
				log.Info("deleted interrupted uploads past retention", "partner", p.Slug, "count", n)
			}
		}
		if err := d.guard.Prune(ctx); err != nil && ctx.Err() == nil {
			log.Warn("prune failed logins", "err", err)
		}
	}
	// First pass shortly after start, when the listeners are up.
	select {
	case <-ctx.Done():
		return
	case <-time.After(5 * time.Second):
	}
	for {
		run()
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Hour):
		}
	}
}

// revalidateEvery is how soon a node closes the live FTP, IMAP and POP3
// sessions of an account or partner that another node (or the CLI)
// disabled, deleted or otherwise changed.
const revalidateEvery = 10 * time.Second

func revalidate(ctx context.Context, d *deps, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(revalidateEvery):
		}
		for _, srv := range d.ftp {
			if _, err := srv.RevalidateSessions(ctx); err != nil && ctx.Err() == nil {
				log.Warn("revalidate FTP sessions", "err", err)
			}
		}
		for _, srv := range d.mailSessions {
			if _, err := srv.RevalidateSessions(ctx); err != nil && ctx.Err() == nil {
				log.Warn("revalidate mail sessions", "err", err)
			}
		}
	}
}
