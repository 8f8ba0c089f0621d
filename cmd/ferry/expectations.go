package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferryhq/ferry/expect"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/store"
)

// expectation: `ferry expectation create|set|list|show|delete|evaluations`,
// the rules of package expect as the API applies them.
func (a *app) expectation(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("expectation needs a subcommand: create, set, list, show, delete, evaluations")
	}
	sub, args := args[0], args[1:]
	c := newCommand("expectation "+sub, a.stderr)
	var (
		partner                                      = new(string)
		name, folder, pattern, schedule, zone, grace = new(string), new(string), new(string), new(string), new(string), new(string)
		count                                        = new(int)
		emails                                       = &listFlag{}
		contacts, webhooks, disabled                 = new(bool), new(bool), new(bool)
		limit                                        = new(int)
	)
	c.fs.StringVar(partner, "partner", "", "the partner's slug or ID")
	switch sub {
	case "create", "set":
		c.fs.StringVar(name, "name", "", "a name for people (optional)")
		c.fs.StringVar(folder, "folder", "", "folder in the partner's tree, e.g. /in")
		c.fs.StringVar(pattern, "pattern", "", "file name glob, e.g. *.csv")
		c.fs.IntVar(count, "count", 1, "how many files by each deadline")
		c.fs.StringVar(schedule, "schedule", "", `deadlines: five cron fields ("0 6 * * 1-5") or "every weekday by 06:00"`)
		c.fs.StringVar(zone, "time-zone", "", "IANA time zone of the schedule, e.g. Europe/Berlin")
		c.fs.StringVar(grace, "grace", "0s", "how late files may come and count as late, not missed (e.g. 30m)")
		c.fs.BoolVar(contacts, "notify-contacts", true, "mail a miss to the partner's contacts")
		c.fs.Var(emails, "notify-email", "operator address told of a miss (repeatable)")
		c.fs.BoolVar(webhooks, "notify-webhooks", true, "send expectation.missed and expectation.late to webhooks")
		c.fs.BoolVar(disabled, "disabled", false, "do not evaluate it")
	case "evaluations":
		c.fs.IntVar(limit, "limit", 20, "how many, latest first")
	}
	cfg, err := c.parse(args)
	if err != nil {
		return err
	}
	if *partner == "" {
		return usagef("expectation %s needs --partner SLUG", sub)
	}
	svc, done, err := a.service(ctx, cfg)
	if err != nil {
		return err
	}
	defer done()
	p, err := svc.Partner(ctx, *partner)
	if err != nil {
		return err
	}
	xs := &expect.Service{Store: svc.Store}
	one := func() (string, error) {
		if len(c.pos) != 1 {
			return "", usagef("expectation %s needs exactly one ID", sub)
		}
		return c.pos[0], nil
	}
	switch sub {
	case "create", "set":
		var in expect.Input
		c.fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "name":
				in.Name = name
			case "folder":
				in.Folder = folder
			case "pattern":
				in.Pattern = pattern
			case "count":
				in.Count = count
			case "schedule":
				in.Schedule = schedule
			case "time-zone":
				in.TimeZone = zone
			case "grace":
				in.Grace = grace
			case "notify-contacts":
				in.NotifyContacts = contacts
			case "notify-email":
				in.NotifyEmails = *emails
			case "notify-webhooks":
				in.NotifyWebhooks = webhooks
			case "disabled":
				enabled := !*disabled
				in.Enabled = &enabled
			}
		})
		var x *store.Expectation
		if sub == "create" {
			if len(c.pos) != 0 {
				return usagef("expectation create takes flags only")
			}
			x, err = xs.Create(ctx, p.ID, in)
		} else {
			id, err2 := one()
			if err2 != nil {
				return err2
			}
			x, err = xs.Update(ctx, p.ID, id, in)
		}
		if err != nil {
			return err
		}
		verb := "created"
		if sub == "set" {
			verb = "updated"
		}
		fmt.Fprintf(a.stdout, "%s expectation %s of %s: %d × %s in %s by %q (%s), grace %s; next deadline %s\n",
			verb, x.ID, p.Slug, x.FileCount, x.Pattern, x.Folder, x.Schedule, x.TimeZone, expect.Grace(x), nextDeadline(x))
	case "list":
		list, err := xs.List(ctx, p.ID)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tFOLDER\tPATTERN\tCOUNT\tSCHEDULE\tTIME ZONE\tGRACE\tENABLED\tNEXT DEADLINE")
		for i := range list {
			x := &list[i]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%v\t%s\n", x.ID, x.Folder, x.Pattern, x.FileCount, x.Schedule,
				x.TimeZone, expect.Grace(x), x.Enabled, nextDeadline(x))
		}
		return tw.Flush()
	case "show":
		id, err := one()
		if err != nil {
			return err
		}
		x, err := xs.Get(ctx, p.ID, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "id: %s\npartner: %s\nname: %s\nfolder: %s\npattern: %s\ncount: %d\nschedule: %s\ntime zone: %s\n"+
			"grace: %s\nnotify contacts: %v\nnotify emails: %s\nnotify webhooks: %v\nenabled: %v\nnext deadline: %s\n",
			x.ID, p.Slug, x.Name, x.Folder, x.Pattern, x.FileCount, x.Schedule, x.TimeZone, expect.Grace(x), x.NotifyContacts,
			strings.Join(expect.Emails(x), ", "), x.NotifyWebhooks, x.Enabled, nextDeadline(x))
	case "delete":
		id, err := one()
		if err != nil {
			return err
		}
		if err := xs.Delete(ctx, p.ID, id); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "deleted expectation %s of %s\n", id, p.Slug)
	case "evaluations":
		f := store.EvaluationFilter{PartnerID: p.ID, Limit: *limit}
		if len(c.pos) == 1 {
			if _, err := xs.Get(ctx, p.ID, c.pos[0]); err != nil {
				return err
			}
			f.ExpectationID = c.pos[0]
		}
		list, err := svc.Store.ListEvaluations(ctx, f)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DEADLINE\tOUTCOME\tFILES\tLATE DELIVERY\tEXPECTATION")
		for _, e := range list {
			late := ""
			if e.LateDeliveryAt != nil {
				late = e.LateDeliveryAt.UTC().Format(time.RFC3339) + " " + e.LatePath
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", e.Deadline.UTC().Format(time.RFC3339), e.Outcome, e.Files, late, e.ExpectationID)
		}
		return tw.Flush()
	default:
		return usagef("unknown expectation subcommand %q", sub)
	}
	return nil
}

// nextDeadline is an expectation's next deadline in its time zone, or "-".
func nextDeadline(x *store.Expectation) string {
	s, err := expect.ParseSchedule(x.Schedule, x.TimeZone)
	if err != nil || !x.Enabled {
		return "-"
	}
	return s.Next(time.Now()).Format("2006-01-02 15:04 MST")
}

// webhook: `ferry webhook create|set|list|show|delete|deliveries|retry`.
func (a *app) webhook(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("webhook needs a subcommand: create, set, list, show, delete, deliveries, retry")
	}
	sub, args := args[0], args[1:]
	c := newCommand("webhook "+sub, a.stderr)
	var (
		url, partner, status  = new(string), new(string), new(string)
		events                = &listFlag{}
		secretStdin, disabled = new(bool), new(bool)
		limit                 = new(int)
	)
	switch sub {
	case "create", "set":
		c.fs.StringVar(url, "url", "", "where events are POSTed (https://...)")
		c.fs.Var(events, "event", "an event to send: "+strings.Join(notify.Events(), ", ")+" (repeatable)")
		c.fs.StringVar(partner, "partner", "", "only this partner's events (slug or ID; \"\" on set: every partner's)")
		c.fs.BoolVar(secretStdin, "secret-stdin", false, "read the signing secret from standard input (default: a new one is made up and shown once)")
		c.fs.BoolVar(disabled, "disabled", false, "send nothing")
	case "deliveries":
		c.fs.StringVar(status, "status", "", "only deliveries with this status: pending, sending, sent, dead")
		c.fs.IntVar(limit, "limit", 20, "how many, newest first")
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
	ob := &notify.Outbox{Store: svc.Store, AllowPrivateWebhooks: cfg.WebhookAllowPrivate}
	one := func() (string, error) {
		if len(c.pos) != 1 {
			return "", usagef("webhook %s needs exactly one ID", sub)
		}
		return c.pos[0], nil
	}
	switch sub {
	case "create", "set":
		var in notify.WebhookInput
		var visitErr error
		c.fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "url":
				in.URL = url
			case "event":
				in.Events = *events
			case "partner":
				id := ""
				if *partner != "" {
					p, err := svc.Partner(ctx, *partner)
					if err != nil {
						visitErr = err
						return
					}
					id = p.ID
				}
				in.PartnerID = &id
			case "disabled":
				enabled := !*disabled
				in.Enabled = &enabled
			}
		})
		if visitErr != nil {
			return visitErr
		}
		if *secretStdin {
			s, err := a.readPassword(true, "")
			if err != nil {
				return err
			}
			in.Secret = &s
		}
		var w *store.Webhook
		if sub == "create" {
			if len(c.pos) != 0 {
				return usagef("webhook create takes flags only")
			}
			w, err = ob.CreateWebhook(ctx, in)
		} else {
			id, err2 := one()
			if err2 != nil {
				return err2
			}
			w, err = ob.UpdateWebhook(ctx, id, in)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "webhook %s: %s, events %s, enabled %v\n", w.ID, w.URL, w.Events, w.Enabled)
		if sub == "create" && !*secretStdin {
			fmt.Fprintf(a.stdout, "secret (shown once): %s\n", w.Secret)
		}
	case "list":
		list, err := svc.Store.ListWebhooks(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tURL\tEVENTS\tPARTNER\tENABLED")
		for _, w := range list {
			pid := "*"
			if w.PartnerID != nil {
				pid = *w.PartnerID
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", w.ID, w.URL, w.Events, pid, w.Enabled)
		}
		return tw.Flush()
	case "show":
		id, err := one()
		if err != nil {
			return err
		}
		w, err := ob.Webhook(ctx, id)
		if err != nil {
			return err
		}
		pid := "(every partner)"
		if w.PartnerID != nil {
			pid = *w.PartnerID
		}
		fmt.Fprintf(a.stdout, "id: %s\nurl: %s\nevents: %s\npartner: %s\nenabled: %v\n", w.ID, w.URL, w.Events, pid, w.Enabled)
	case "delete":
		id, err := one()
		if err != nil {
			return err
		}
		if err := ob.DeleteWebhook(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "deleted webhook %s\n", id)
	case "deliveries":
		id, err := one()
		if err != nil {
			return err
		}
		if _, err := ob.Webhook(ctx, id); err != nil {
			return err
		}
		list, _, err := ob.Deliveries(ctx, store.WebhookDeliveryFilter{WebhookID: id, Status: *status, Limit: *limit})
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEVENT\tSTATUS\tATTEMPTS\tCODE\tCREATED\tLAST ERROR")
		for _, d := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", d.ID, d.Event, d.Status, d.Attempts, d.ResponseCode,
				d.CreatedAt.UTC().Format(time.RFC3339), d.LastError)
		}
		return tw.Flush()
	case "retry":
		id, err := one()
		if err != nil {
			return err
		}
		d, err := ob.RetryDelivery(ctx, id)
		if errors.Is(err, notify.ErrNotDead) {
			return fmt.Errorf("delivery %s is not dead: only a dead delivery can be re-driven", id)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "delivery %s (%s, event %s) queued again\n", d.ID, d.Event, d.EventID)
	default:
		return usagef("unknown webhook subcommand %q", sub)
	}
	return nil
}
