package web

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/sessions"
	"github.com/ferryhq/ferry/store"
)

type dashboardData struct {
	Sessions      []sessions.Info
	UploadsToday  int
	BytesToday    int64
	FailedToday   int64
	Bans          []store.Ban
	Pending, Dead int
	PendingMore   bool
	DeadMore      bool
	Chart         template.HTML
	ChartTotal    int
	ChartTable    []hourCount // the busiest hours, as text for screen readers and phones
	Partners      store.EnabledCount
	// Week is the last seven days of expected deliveries: met, late, missed.
	Week []dayOutcomes
}

type hourCount struct {
	Hour  time.Time
	Count int
}

func (s *Server) liveSessions() []sessions.Info {
	if s.Sessions == nil {
		return nil
	}
	list := s.Sessions.Sessions()
	sort.Slice(list, func(i, j int) bool { return list[i].StartedAt.Before(list[j].StartedAt) })
	return list
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	now := s.now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	d := dashboardData{Sessions: s.liveSessions()}

	start := now.Truncate(time.Hour).Add(-7*24*time.Hour + time.Hour)
	hours, err := s.uploadHours(ctx, start, now)
	if err != nil {
		return err
	}
	counts := make([]int, 7*24)
	for _, h := range hours {
		i := int(h.Hour.Sub(start) / time.Hour)
		if i >= 0 && i < len(counts) {
			counts[i] += int(h.Count)
			d.ChartTotal += int(h.Count)
		}
		if !h.Hour.Before(today) {
			d.UploadsToday += int(h.Count)
			d.BytesToday += h.Bytes
		}
	}
	d.Chart = chartSVG(start, counts)
	for i, c := range counts {
		if c > 0 {
			d.ChartTable = append(d.ChartTable, hourCount{Hour: start.Add(time.Duration(i) * time.Hour), Count: c})
		}
	}
	sort.SliceStable(d.ChartTable, func(i, j int) bool { return d.ChartTable[i].Count > d.ChartTable[j].Count })
	if len(d.ChartTable) > 5 {
		d.ChartTable = d.ChartTable[:5]
	}

	if d.FailedToday, err = s.Store.CountTransfers(ctx, store.TransferFilter{Operation: store.OpLogin,
		Status: store.StatusFailed, Since: today}); err != nil {
		return err
	}
	if s.Guard != nil {
		if d.Bans, err = s.Guard.List(ctx); err != nil {
			return err
		}
	} else if d.Bans, err = s.Store.ListBans(ctx, now); err != nil {
		return err
	}
	if d.Partners, err = s.Store.CountPartners(ctx); err != nil {
		return err
	}
	if s.Outbox != nil {
		if d.Pending, d.PendingMore, err = s.countNotifications(ctx, store.NotifyPending); err != nil {
			return err
		}
		if d.Dead, d.DeadMore, err = s.countNotifications(ctx, store.NotifyDead); err != nil {
			return err
		}
	}
	if d.Week, err = s.weekStrip(ctx, ""); err != nil {
		return err
	}
	s.renderPage(w, r, http.StatusOK, "dashboard", &page{Title: "Dashboard", User: p, Data: d})
	return nil
}

// chartCache keeps the chart's upload counts of hours that are over, so
// that a dashboard reads only the last hours from the database: the cost
// stays the same however many uploads the week had.
type chartCache struct {
	mu    sync.Mutex
	hours map[time.Time]store.HourCount // by the hour's start; zero counts included
}

// chartLive is how far back the chart's counts are read at every request:
// an upload is counted in the hour it started, once it has finished, so
// the last hours still change; older ones are cached. An upload that takes
// longer than this and finished after its hour was cached is missing from
// the chart of this node until it restarts (the audit log has it).
const chartLive = 2 * time.Hour

// uploadHours returns the successful uploads per hour since start (an
// hour boundary): the database counts them per hour (168 rows however many
// uploads), once for the hours older than chartLive, which are then
// cached, and at every call for the last ones.
func (s *Server) uploadHours(ctx context.Context, start, now time.Time) ([]store.HourCount, error) {
	f := store.TransferFilter{Operation: store.OpUpload, Status: store.StatusOK}
	live := now.UTC().Truncate(time.Hour).Add(-chartLive + time.Hour)
	c := &s.chart
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hours == nil {
		c.hours = map[time.Time]store.HourCount{}
	}
	for h := range c.hours {
		if h.Before(start) {
			delete(c.hours, h)
		}
	}
	first := live
	for h := start; h.Before(live); h = h.Add(time.Hour) {
		if _, ok := c.hours[h]; !ok {
			first = h
			break
		}
	}
	if first.Before(live) {
		f.Since, f.Until = first, live
		past, err := s.Store.TransfersPerHour(ctx, f)
		if err != nil {
			return nil, err
		}
		for h := first; h.Before(live); h = h.Add(time.Hour) {
			c.hours[h] = store.HourCount{Hour: h}
		}
		for _, hc := range past {
			c.hours[hc.Hour] = hc
		}
	}
	f.Since, f.Until = live, time.Time{}
	recent, err := s.Store.TransfersPerHour(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]store.HourCount, 0, len(c.hours)+len(recent))
	for _, hc := range c.hours {
		if hc.Count > 0 {
			out = append(out, hc)
		}
	}
	return append(out, recent...), nil
}

func (s *Server) countNotifications(ctx context.Context, status string) (int, bool, error) {
	rows, next, err := s.Outbox.List(ctx, notify.Filter{Status: status, Limit: 500})
	return len(rows), next != "", err
}

// chartSVG draws uploads per hour as bars, one per hour, with a label per
// day. It is drawn on the server: no script, and it scales with the page.
func chartSVG(start time.Time, counts []int) template.HTML {
	const (
		w, h        = 840.0, 220.0
		left, right = 36.0, 8.0
		top, bottom = 12.0, 28.0
	)
	maxc := 0
	for _, c := range counts {
		maxc = max(maxc, c)
	}
	scale := niceMax(maxc)
	plotW, plotH := w-left-right, h-top-bottom
	bw := plotW / float64(len(counts))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="chart-title chart-desc">`, w, h)
	total := 0
	for _, c := range counts {
		total += c
	}
	fmt.Fprintf(&b, `<title id="chart-title">Uploads per hour, last 7 days (UTC)</title><desc id="chart-desc">%d %s in total; the busiest hour had %d.</desc>`, total, plural(total, "upload", "uploads"), maxc)
	for _, frac := range []float64{0, 0.5, 1} {
		y := top + plotH*(1-frac)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, left, y, w-right, y)
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="end">%d</text>`, left-4, y+4, int(float64(scale)*frac))
	}
	for i, c := range counts {
		if c == 0 {
			continue
		}
		bh := plotH * float64(c) / float64(scale)
		x := left + float64(i)*bw
		hour := start.Add(time.Duration(i) * time.Hour)
		fmt.Fprintf(&b, `<rect class="bar" x="%.2f" y="%.2f" width="%.2f" height="%.2f"><title>%s: %d</title></rect>`,
			x, top+plotH-bh, max(bw-0.6, 0.6), bh, hour.Format("Mon 02 Jan 15:00"), c)
	}
	for d := 0; d <= 7; d++ {
		// a tick at each midnight inside the window
		mid := time.Date(start.Year(), start.Month(), start.Day()+d, 0, 0, 0, 0, time.UTC)
		i := mid.Sub(start).Hours()
		if i < 0 || i >= float64(len(counts)) {
			continue
		}
		x := left + i*bw
		fmt.Fprintf(&b, `<line class="tick" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, x, top, x, top+plotH+4)
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f">%s</text>`, x+3, h-8, mid.Format("Mon 02"))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built above from numbers and fixed formats only
}

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten.
func niceMax(n int) int {
	if n <= 4 {
		return 4
	}
	p := 1
	for p*10 < n {
		p *= 10
	}
	for _, m := range []int{1, 2, 5, 10} {
		if m*p >= n {
			return m * p
		}
	}
	return 10 * p
}
