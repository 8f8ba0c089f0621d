package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/internal/benchkit"
)

// result is one line of the output.
type result struct {
	Endpoint string  `json:"endpoint"`
	Samples  int     `json:"samples"`
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`
	// RowsScanned is what EXPLAIN (ANALYZE, BUFFERS) of the query behind
	// the endpoint reports: rows its scans read, those a filter removed
	// included; -1 where no single query stands behind it.
	RowsScanned int64  `json:"rows_scanned"`
	Buffers     int64  `json:"buffers,omitempty"` // shared blocks hit + read
	SeqScan     bool   `json:"seq_scan,omitempty"`
	Note        string `json:"note,omitempty"`
}

// timeIt runs f n times and returns p50 and p99 in milliseconds.
func timeIt(n int, f func() error) (p50, p99 float64, err error) {
	d := make([]float64, 0, n)
	for range n {
		t0 := time.Now()
		if err := f(); err != nil {
			return 0, 0, err
		}
		d = append(d, benchkit.MS(time.Since(t0)))
	}
	slices.Sort(d)
	return percentile(d, 0.50), percentile(d, 0.99), nil
}

// percentile of sorted v (nearest rank).
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	i := int(float64(len(v))*p+0.999999) - 1
	return v[max(0, min(i, len(v)-1))]
}

// client is an HTTP client of the API (bearer token) or the web admin
// (session cookie).
type client struct {
	base  string
	token string
	http  *http.Client
}

func (c *client) get(path string) error {
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %.300s", path, resp.Status, body)
	}
	return nil
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// webClient signs in to the web admin with the API token.
func webClient(base, token string) (*client, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: time.Minute}
	resp, err := hc.Get(base + "/login")
	if err != nil {
		return nil, err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(page)
	if m == nil {
		return nil, errors.New("web sign-in: no csrf field on /login")
	}
	form := url.Values{"csrf": {string(m[1])}, "token": {token}}
	req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err = hc.Do(req); err != nil {
		return nil, err
	}
	resp.Body.Close()
	u, _ := url.Parse(base)
	for _, c := range jar.Cookies(u) {
		if c.Name == "ferry_session" {
			return &client{base: base, http: hc}, nil
		}
	}
	return nil, fmt.Errorf("web sign-in failed: %s", resp.Status)
}

// ftpLoginTime is how long USER+PASS take on an open control connection.
func ftpLoginTime(addr, user, pass string) (time.Duration, error) {
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		return 0, err
	}
	defer c.Quit()
	t0 := time.Now()
	err = c.Login(user, pass)
	return time.Since(t0), err
}

// imapLoginTime is how long LOGIN takes after STARTTLS.
func imapLoginTime(addr, user, pass string) (time.Duration, error) {
	c, err := imapclient.DialStartTLS(addr, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}}) //nolint:gosec // the run's own self-signed certificate
	if err != nil {
		return 0, err
	}
	defer c.Close()
	t0 := time.Now()
	err = c.Login(user, pass).Wait()
	d := time.Since(t0)
	_ = c.Logout().Wait()
	return d, err
}

// explain runs EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) of query and sums
// the rows its scan nodes read (returned and filtered out) and the shared
// buffers.
func (m *measurer) explain(ctx context.Context, query string, args ...any) (rows, buffers int64, seq bool, err error) {
	if m.pg == nil {
		return -1, 0, false, nil
	}
	var out string
	if err := m.pg.QueryRow(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+query, args...).Scan(&out); err != nil {
		return 0, 0, false, fmt.Errorf("explain %q: %w", query, err)
	}
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal([]byte(out), &plans); err != nil {
		return 0, 0, false, err
	}
	var walk func(n *planNode)
	walk = func(n *planNode) {
		if strings.Contains(n.NodeType, "Scan") && n.NodeType != "Bitmap Index Scan" {
			rows += int64((n.ActualRows + n.RemovedByFilter + n.RemovedByRecheck) * max(n.ActualLoops, 1))
		}
		if n.NodeType == "Seq Scan" {
			seq = true
		}
		for i := range n.Plans {
			walk(&n.Plans[i])
		}
	}
	walk(&plans[0].Plan)
	if m.explainLog != nil {
		fmt.Fprintf(m.explainLog, "-- %s\n%s\n\n", query, m.textPlan(ctx, query, args...))
	}
	return rows, int64(plans[0].Plan.SharedHit + plans[0].Plan.SharedRead), seq, nil
}

// textPlan is the plan as psql prints it (for the explain log).
func (m *measurer) textPlan(ctx context.Context, query string, args ...any) string {
	rs, err := m.pg.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+query, args...)
	if err != nil {
		return err.Error()
	}
	defer rs.Close()
	var b strings.Builder
	for rs.Next() {
		var line string
		_ = rs.Scan(&line)
		b.WriteString(line + "\n")
	}
	return b.String()
}

type planNode struct {
	NodeType         string     `json:"Node Type"`
	ActualRows       float64    `json:"Actual Rows"`
	ActualLoops      float64    `json:"Actual Loops"`
	RemovedByFilter  float64    `json:"Rows Removed by Filter"`
	RemovedByRecheck float64    `json:"Rows Removed by Index Recheck"`
	SharedHit        float64    `json:"Shared Hit Blocks"`
	SharedRead       float64    `json:"Shared Read Blocks"`
	Plans            []planNode `json:"Plans"`
}
