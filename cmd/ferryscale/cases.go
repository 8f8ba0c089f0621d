package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/internal/benchkit"
	"github.com/ferryhq/ferry/store"
)

// measurer runs the measurements and collects their results.
type measurer struct {
	o          *options
	w          *world
	f          *ferryProc
	db         *sql.DB
	pg         *pgx.Conn // nil on SQLite: no EXPLAIN
	dbURL      string
	out        io.Writer
	explainLog io.Writer
	results    []result
	api, web   *client
}

const pageSize = 50 // the API's default limit and the web pages' page size

// rebind turns $1, $2, ... into ? on SQLite.
var dollar = regexp.MustCompile(`\$[0-9]+`)

func (m *measurer) rebind(q string) string {
	if m.pg != nil {
		return q
	}
	return dollar.ReplaceAllString(q, "?")
}

// emit prints r as a JSON line and keeps it for the table.
func (m *measurer) emit(r result) {
	b, _ := json.Marshal(r)
	fmt.Fprintln(m.out, string(b))
	m.results = append(m.results, r)
}

// measure times f and, when query is set, explains it.
func (m *measurer) measure(ctx context.Context, name, note string, f func() error, query string, args ...any) error {
	if !onlyMatches(m.o.only, name) {
		return nil
	}
	if err := f(); err != nil { // a warm-up, and a check that it works
		return fmt.Errorf("%s: %w", name, err)
	}
	p50, p99, err := timeIt(m.o.samples, f)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	r := result{Endpoint: name, Samples: m.o.samples, P50MS: round(p50), P99MS: round(p99), RowsScanned: -1, Note: note}
	if query != "" && m.pg != nil {
		if r.RowsScanned, r.Buffers, r.SeqScan, err = m.explain(ctx, query, args...); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	m.emit(r)
	return nil
}

func round(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

// list is a keyset-paged list: its rows in page order, the filter, and how
// a page after a cursor is asked for.
type list struct {
	name    string
	table   string
	where   string // SQL filter, "" for none; $1... are args
	args    []any
	key     string // the cursor column
	desc    bool   // newest (highest key) first
	path    string // URL path and query without the cursor
	cursorQ string // the query parameter that carries the cursor
	web     bool
	// explain is the query the store runs for a page; "%s" is replaced by
	// the cursor condition (or TRUE on the first page).
	explain string
}

// pages measures l at its first, a middle and its last page.
func (m *measurer) pages(ctx context.Context, l list) error {
	if !onlyMatches(m.o.only, l.name) {
		return nil
	}
	where := l.where
	if where == "" {
		where = "TRUE"
	}
	var n int64
	if err := m.db.QueryRowContext(ctx, m.rebind("SELECT COUNT(*) FROM "+l.table+" WHERE "+where), l.args...).Scan(&n); err != nil {
		return fmt.Errorf("%s: count: %w", l.name, err)
	}
	order := l.key
	if l.desc {
		order += " DESC"
	}
	cursorAt := func(off int64) (string, error) {
		var v string
		q := fmt.Sprintf("SELECT CAST(%s AS TEXT) FROM %s WHERE %s ORDER BY %s LIMIT 1 OFFSET %d", l.key, l.table, where, order, off)
		err := m.db.QueryRowContext(ctx, m.rebind(q), l.args...).Scan(&v)
		return v, err
	}
	type pg struct {
		label  string
		offset int64 // rows before the page; -1 for the first
	}
	list := []pg{{"first", -1}}
	if n > 2*pageSize {
		list = append(list, pg{"middle", n/2 - 1}, pg{"last", n - pageSize - 1})
	}
	c := m.api
	if l.web {
		c = m.web
	}
	for _, p := range list {
		path, cond := l.path, "TRUE"
		var args []any
		args = append(args, l.args...)
		if p.offset >= 0 {
			cur, err := cursorAt(p.offset)
			if err != nil {
				return fmt.Errorf("%s: cursor: %w", l.name, err)
			}
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			path += sep + l.cursorQ + "=" + url.QueryEscape(cur)
			op := ">"
			if l.desc {
				op = "<"
			}
			cond = fmt.Sprintf("%s %s $%d", l.key, op, len(args)+1)
			args = append(args, cur)
		}
		var q string
		if l.explain != "" {
			q = fmt.Sprintf(l.explain, cond)
		}
		if err := m.measure(ctx, fmt.Sprintf("%s [%s]", l.name, p.label), fmt.Sprintf("%d rows", n),
			func() error { return c.get(path) }, q, args...); err != nil {
			return err
		}
	}
	return nil
}

func (m *measurer) all(ctx context.Context) error {
	w := m.w
	m.api = &client{base: "http://" + m.f.http, token: w.token, http: newHTTPClient()}
	var err error
	if m.web, err = webClient("http://"+m.f.http, w.token); err != nil {
		return err
	}
	big, small := w.big, w.small
	since := time.Now().UTC().Add(-7 * 24 * time.Hour).Format(time.RFC3339)

	// Transfers (the audit log): the API and the web page.
	tsel := "SELECT * FROM transfers WHERE %s"
	transferLists := []struct {
		name, q, where string
		args           []any
	}{
		{"all", "", "", nil},
		{"partner=big", "partner=" + big.slug, "partner_id = $1", []any{big.id}},
		{"partner=small", "partner=" + small.slug, "partner_id = $1", []any{small.id}},
		{"account", "account=" + big.users[0], "account_id = (SELECT id FROM accounts WHERE username = $1)", []any{big.users[0]}},
		{"operation=upload", "operation=upload", "operation = $1", []any{"upload"}},
		{"operation=mkdir&status=failed", "operation=mkdir&status=failed", "operation = $1 AND status = $2", []any{"mkdir", "failed"}},
		{"status=failed", "status=failed", "status = $1", []any{"failed"}},
		{"since=7d", "since=" + since, "started_at >= $1 AND id >= $2", []any{time.Now().UTC().Add(-7 * 24 * time.Hour),
			store.IDFloor(time.Now().UTC().Add(-7*24*time.Hour - time.Minute))}},
		{"path_prefix=/in/f00001", "path_prefix=/in/f00001", "path LIKE $1", []any{"/in/f00001%"}},
	}
	for _, t := range transferLists {
		where := t.where
		if where == "" {
			where = "TRUE"
		}
		for _, web := range []bool{false, true} {
			path, name, cq := "/api/v1/transfers?limit=50&"+t.q, "API GET /transfers "+t.name, "cursor"
			if web {
				q := strings.Replace(t.q, "operation=", "op=", 1)
				q = strings.Replace(q, "path_prefix=", "path=", 1)
				if strings.HasPrefix(q, "since=") {
					continue // the web page has no time filter
				}
				path, name, cq = "/transfers?"+q, "web /transfers "+t.name, "before"
			}
			if err := m.pages(ctx, list{name: name, table: "transfers", where: t.where, args: t.args, key: "id", desc: true,
				path: strings.TrimSuffix(path, "&"), cursorQ: cq, web: web,
				explain: fmt.Sprintf(tsel, where) + " AND %s ORDER BY id DESC LIMIT 51"}); err != nil {
				return err
			}
		}
	}

	// Outbox.
	nsel := "SELECT * FROM notifications WHERE %s"
	for _, t := range []struct {
		name, q, where string
		args           []any
	}{
		{"all", "", "", nil},
		{"status=dead", "status=dead", "status = $1", []any{"dead"}},
		{"kind=test", "kind=test", "kind = $1", []any{"test"}},
		{"partner=big", "partner=" + big.slug, "partner_id = $1", []any{big.id}},
		{"partner=big&status=dead", "partner=" + big.slug + "&status=dead", "partner_id = $1 AND status = $2", []any{big.id, "dead"}},
	} {
		where := t.where
		if where == "" {
			where = "TRUE"
		}
		if err := m.pages(ctx, list{name: "API GET /notifications " + t.name, table: "notifications", where: t.where, args: t.args,
			key: "id", desc: true, path: strings.TrimSuffix("/api/v1/notifications?limit=50&"+t.q, "&"), cursorQ: "cursor",
			explain: fmt.Sprintf(nsel, where) + " AND %s ORDER BY id DESC LIMIT 52"}); err != nil {
			return err
		}
		if t.name == "all" || t.name == "status=dead" {
			if err := m.pages(ctx, list{name: "web /notifications " + t.name, table: "notifications", where: t.where, args: t.args,
				key: "id", desc: true, path: strings.TrimSuffix("/notifications?"+t.q, "?"), cursorQ: "before", web: true,
				explain: fmt.Sprintf(nsel, where) + " AND %s ORDER BY id DESC LIMIT 52"}); err != nil {
				return err
			}
		}
	}

	// Partners, accounts, admin audit, mailbox.
	if err := m.pages(ctx, list{name: "API GET /partners", table: "partners", key: "slug", path: "/api/v1/partners?limit=50",
		cursorQ: "cursor", explain: "SELECT * FROM partners WHERE %s ORDER BY slug LIMIT 51"}); err != nil {
		return err
	}
	if err := m.pages(ctx, list{name: "API GET /partners?q=9", table: "partners", where: "(LOWER(name) LIKE $1 OR slug LIKE $2)", args: []any{"%9%", "%9%"},
		key: "slug", path: "/api/v1/partners?limit=50&q=9", cursorQ: "cursor",
		explain: "SELECT * FROM partners WHERE (LOWER(name) LIKE $1 OR slug LIKE $2) AND %s ORDER BY slug LIMIT 51"}); err != nil {
		return err
	}
	if err := m.webPartners(ctx); err != nil {
		return err
	}
	if err := m.accounts(ctx); err != nil {
		return err
	}
	if err := m.pages(ctx, list{name: "API GET /admin-audit", table: "admin_audit", key: "id", desc: true, path: "/api/v1/admin-audit?limit=50",
		cursorQ: "cursor", explain: "SELECT * FROM admin_audit WHERE %s ORDER BY id DESC LIMIT 51"}); err != nil {
		return err
	}
	var folder string
	if err := m.db.QueryRowContext(ctx, m.rebind(`SELECT id FROM mail_folders WHERE partner_id = $1 AND name = 'INBOX'`), big.id).Scan(&folder); err == nil {
		if err := m.pages(ctx, list{name: "API GET /partners/{big}/mailbox/messages", table: "mail_messages", where: "folder_id = $1",
			args: []any{folder}, key: "uid", desc: true, path: "/api/v1/partners/" + big.slug + "/mailbox/messages?limit=50", cursorQ: "cursor",
			explain: "SELECT * FROM mail_messages WHERE folder_id = $1 AND %s ORDER BY uid DESC LIMIT 51"}); err != nil {
			return err
		}
		if err := m.pages(ctx, list{name: "web /partners/{big}/mailbox", table: "mail_messages", where: "folder_id = $1",
			args: []any{folder}, key: "uid", desc: true, path: "/partners/" + big.slug + "/mailbox", cursorQ: "before", web: true,
			explain: "SELECT * FROM mail_messages WHERE folder_id = $1 AND %s ORDER BY uid DESC LIMIT 51"}); err != nil {
			return err
		}
		if err := m.measure(ctx, "API GET /partners/{big}/mailbox", "folder counts", func() error {
			return m.api.get("/api/v1/partners/" + big.slug + "/mailbox")
		}, ""); err != nil {
			return err
		}
	}

	// Single pages and small lists.
	for _, p := range []struct{ name, path string }{
		{"API GET /partners/{big}", "/api/v1/partners/" + big.slug},
		{"API GET /sessions", "/api/v1/sessions"},
		{"API GET /bans", "/api/v1/bans"},
		{"API GET /partners/{big}/subscribers", "/api/v1/partners/" + big.slug + "/subscribers"},
	} {
		if err := m.measure(ctx, p.name, "", func() error { return m.api.get(p.path) }, ""); err != nil {
			return err
		}
	}
	for _, p := range []struct{ name, path, note string }{
		{"web /partners/{small}", "/partners/" + small.slug, ""},
		{"web /partners/{big}/files", "/partners/" + big.slug + "/files", ""},
		{"web /sessions", "/sessions", ""},
		{"web /partners/new", "/partners/new", ""},
	} {
		if err := m.measure(ctx, p.name, p.note, func() error { return m.web.get(p.path) }, ""); err != nil {
			return err
		}
	}
	// The chart reads the last two hours (older ones are cached after the
	// warm-up request).
	live := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	if err := m.measure(ctx, "web / (dashboard)", "7-day upload chart (past hours cached), failed logins today, queue",
		func() error { return m.web.get("/") }, m.hourQuery(), "upload", "ok", live, store.IDFloor(live.Add(-time.Minute))); err != nil {
		return err
	}
	if err := m.measure(ctx, "GET /metrics", "", func() error { return m.api.get("/metrics") }, ""); err != nil {
		return err
	}
	if err := m.logins(ctx); err != nil {
		return err
	}
	if err := m.publish(ctx); err != nil {
		return err
	}
	return m.housekeeping(ctx)
}

// hourQuery is the dashboard chart's query (store.TransfersPerHour).
func (m *measurer) hourQuery() string {
	return `SELECT to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24') AS hour, COUNT(*), COALESCE(SUM(bytes), 0)
		FROM transfers WHERE operation = $1 AND status = $2 AND started_at >= $3 AND id >= $4 GROUP BY hour ORDER BY hour`
}

// webPartners measures the web partner list's pages.
func (m *measurer) webPartners(ctx context.Context) error {
	return m.pages(ctx, list{name: "web /partners", table: "partners", key: "slug", path: "/partners", cursorQ: "after", web: true,
		explain: "SELECT * FROM partners WHERE %s ORDER BY slug LIMIT 51"})
}

// accounts measures the biggest partner's accounts, in the API and on
// the web partner page, by pages.
func (m *measurer) accounts(ctx context.Context) error {
	q := "SELECT * FROM accounts WHERE partner_id = $1 AND %s ORDER BY username LIMIT 51"
	if err := m.pages(ctx, list{name: "API GET /partners/{big}/accounts", table: "accounts", where: "partner_id = $1",
		args: []any{m.w.big.id}, key: "username", path: "/api/v1/partners/" + m.w.big.slug + "/accounts?limit=50",
		cursorQ: "cursor", explain: q}); err != nil {
		return err
	}
	return m.pages(ctx, list{name: "web /partners/{big}", table: "accounts", where: "partner_id = $1",
		args: []any{m.w.big.id}, key: "username", path: "/partners/" + m.w.big.slug, cursorQ: "accounts_after", web: true,
		explain: q})
}

// logins measures FTP and IMAP logins: cold (an account's first login,
// argon2id) and warm (the same account again: the verified-credentials
// cache).
func (m *measurer) logins(ctx context.Context) error {
	w := m.w
	users := w.big.users
	if len(users) < 2 {
		users = append(users, w.small.users...)
	}
	for _, proto := range []struct {
		name  string
		login func(addr, user, pass string) (time.Duration, error)
		addr  string
	}{{"FTP", ftpLoginTime, m.f.ftp}, {"IMAP", imapLoginTime, m.f.imap}} {
		name := proto.name + " login cold"
		if onlyMatches(m.o.only, name) {
			var d []float64
			for i := 0; i < min(len(users), m.o.samples); i++ {
				u := users[len(users)-1-i] // not logged in yet by this run's other measurements
				if proto.name == "IMAP" {
					u = users[i]
				}
				t, err := proto.login(proto.addr, u, w.password)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				d = append(d, benchkit.MS(t))
			}
			m.emitSamples(name, "USER/PASS or LOGIN of an account's first login: argon2id", d)
		}
		name = proto.name + " login warm"
		if onlyMatches(m.o.only, name) {
			var d []float64
			for range m.o.samples {
				t, err := proto.login(proto.addr, users[0], w.password)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				d = append(d, benchkit.MS(t))
			}
			m.emitSamples(name, "the same account again", d)
		}
	}
	return m.measure(ctx, "account lookup (login query)", "the query behind a login",
		func() error { return nil }, "SELECT * FROM accounts WHERE username = $1", users[0])
}

func (m *measurer) emitSamples(name, note string, d []float64) {
	sorted := append([]float64(nil), d...)
	sortFloats(sorted)
	m.emit(result{Endpoint: name, Samples: len(d), P50MS: round(percentile(sorted, 0.5)), P99MS: round(percentile(sorted, 0.99)),
		RowsScanned: -1, Note: note})
}

// publish times STOR of a 4 KiB file until 226: quota reservation, audit
// row, publish and outbox row.
func (m *measurer) publish(ctx context.Context) error {
	for _, p := range []partnerRef{m.w.big, m.w.small} {
		name := "FTP STOR 4 KiB (publish) partner=" + map[bool]string{true: "big", false: "small"}[p.id == m.w.big.id]
		if !onlyMatches(m.o.only, name) {
			continue
		}
		c, err := ftp.Dial(m.f.ftp, ftp.DialWithTimeout(10*time.Second))
		if err != nil {
			return err
		}
		if err := c.Login(p.users[0], m.w.password); err != nil {
			c.Quit()
			return fmt.Errorf("%s: login: %w", name, err)
		}
		data := bytes.Repeat([]byte("ferryscale\n"), 373)
		i := 0
		err = m.measure(ctx, name, "", func() error {
			i++
			return c.Stor(fmt.Sprintf("scale-%d-%d.txt", time.Now().UnixNano(), i), bytes.NewReader(data))
		}, "")
		c.Quit()
		if err != nil {
			return err
		}
	}
	return nil
}

// housekeeping times one pass of each maintenance query, through the
// store functions the maintenance loop calls.
func (m *measurer) housekeeping(ctx context.Context) error {
	st, err := store.Open(ctx, m.dbURL, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	var oldest time.Time
	var oldestS sql.NullString
	if err := m.db.QueryRowContext(ctx, "SELECT CAST(MIN(started_at) AS TEXT) FROM transfers").Scan(&oldestS); err != nil {
		return err
	}
	if oldestS.Valid {
		oldest, _ = parseDBTime(oldestS.String)
	}
	type job struct {
		name, note string
		f          func() error
		q          string
		args       []any
	}
	jobs := []job{
		{"housekeeping: committing uploads (recovery)", "", func() error { _, err := st.CommittingUploads(ctx); return err },
			"SELECT * FROM upload_intents ORDER BY id", nil},
		{"housekeeping: partners for the partial-upload sweep", "a page of 500", func() error {
			_, err := st.ListPartners(ctx, store.PartnerFilter{Limit: 500})
			return err
		}, "SELECT * FROM partners ORDER BY slug LIMIT 500", nil},
		{"housekeeping: notification retention pass", "nothing past a year", func() error {
			_, err := st.DeleteNotificationsBefore(ctx, time.Now().Add(-365*24*time.Hour), store.RetentionBatch)
			return err
		}, "SELECT id FROM notifications WHERE status IN ('sent', 'dead') AND id < $1 AND created_at < $2 LIMIT 10000",
			[]any{store.IDFloor(time.Now().Add(-365 * 24 * time.Hour)), time.Now().Add(-365 * 24 * time.Hour)}},
		{"housekeeping: prune failed logins", "", func() error { return st.PruneAuthFailures(ctx, time.Now().Add(-time.Hour)) },
			"SELECT * FROM auth_failures WHERE created_at < $1", []any{time.Now().Add(-time.Hour)}},
		{"housekeeping: unreferenced mail blobs", "", func() error {
			_, err := st.UnreferencedMailBlobs(ctx, time.Now().Add(-time.Hour), 500)
			return err
		}, "", nil},
	}
	for _, j := range jobs {
		if err := m.measure(ctx, j.name, j.note, j.f, j.q, j.args...); err != nil {
			return err
		}
	}
	if err := m.batchDeletes(ctx, "housekeeping: notification retention, one batch of <= 5,000 rows",
		"SELECT CAST(created_at AS TEXT) FROM notifications WHERE status IN ('sent', 'dead') ORDER BY created_at LIMIT 1 OFFSET 5000",
		func(cut time.Time) error {
			_, err := st.DeleteNotificationsBefore(ctx, cut, store.RetentionBatch)
			return err
		}); err != nil {
		return err
	}
	if !oldest.IsZero() {
		// Each sample deletes the oldest 5,000 rows: one batch.
		cutoff := func() (time.Time, error) {
			var s string
			err := m.db.QueryRowContext(ctx, "SELECT CAST(started_at AS TEXT) FROM transfers ORDER BY started_at LIMIT 1 OFFSET 5000").Scan(&s)
			if err != nil {
				return time.Time{}, err
			}
			return parseDBTime(s)
		}
		name := "housekeeping: audit retention, one batch of 5,000 rows"
		if onlyMatches(m.o.only, name) {
			var d []float64
			for range min(m.o.samples, 5) {
				cut, err := cutoff()
				if err != nil {
					break // fewer than 5,000 rows left
				}
				t0 := time.Now()
				if _, err := st.DeleteTransfersBefore(ctx, cut, store.AuditRetentionBatch); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				d = append(d, benchkit.MS(time.Since(t0)))
			}
			if len(d) > 0 {
				m.emitSamples(name, "DeleteTransfersBefore", d)
			}
		}
	}
	return nil
}

// batchDeletes times del with the cutoff cutoffQ reads before each sample
// (up to 5 samples, fewer when the rows run out).
func (m *measurer) batchDeletes(ctx context.Context, name, cutoffQ string, del func(time.Time) error) error {
	if !onlyMatches(m.o.only, name) {
		return nil
	}
	var d []float64
	for range min(m.o.samples, 5) {
		var s string
		if err := m.db.QueryRowContext(ctx, cutoffQ).Scan(&s); err != nil {
			break
		}
		cut, err := parseDBTime(s)
		if err != nil {
			return err
		}
		t0 := time.Now()
		if err := del(cut); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		d = append(d, benchkit.MS(time.Since(t0)))
	}
	if len(d) > 0 {
		m.emitSamples(name, "", d)
	}
	return nil
}

func parseDBTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07", "2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unreadable time %q", s)
}

// table prints the results as a table.
func (m *measurer) table() {
	fmt.Fprintln(m.out)
	tw := tabwriter.NewWriter(m.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "endpoint\tp50 ms\tp99 ms\trows scanned\tbuffers\tnote")
	for _, r := range m.results {
		rows := "-"
		if r.RowsScanned >= 0 {
			rows = fmt.Sprint(r.RowsScanned)
			if r.SeqScan {
				rows += " (seq)"
			}
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%s\t%d\t%s\n", r.Endpoint, r.P50MS, r.P99MS, rows, r.Buffers, r.Note)
	}
	tw.Flush()
}

func newHTTPClient() *http.Client { return &http.Client{Timeout: 5 * time.Minute} }

func sortFloats(v []float64) { slices.Sort(v) }
