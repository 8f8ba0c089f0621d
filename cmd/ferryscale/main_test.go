package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ferryhq/ferry/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestSmoke seeds tiny databases (PostgreSQL and SQLite) and runs every
// measurement against a real `ferry serve` on each: the command works end
// to end; its figures are not checked (a benchmark, not a timed test).
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts ferry")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "ferry")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/ferry")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ferry: %v\n%s", err, out)
	}
	sz := sizes{partners: 12, accounts: 40, audit: 3000, messages: 300, notifications: 400, tokens: 3, days: 10}
	for _, db := range []string{"postgres", "sqlite"} {
		t.Run(db, func(t *testing.T) {
			o := &options{sz: sz, db: db, pgURL: testenv.PostgresURL(t), pgDB: fmt.Sprintf("ferryscale_smoke_%d", os.Getpid()),
				dir: t.TempDir(), ferryBin: bin, samples: 2, password: "Smoke-pass-22", explainLog: filepath.Join(t.TempDir(), "plans.txt")}
			var out strings.Builder
			if err := run(context.Background(), o, &out); err != nil {
				t.Fatal(err)
			}
			if db == "postgres" {
				t.Cleanup(func() { dropDatabase(t, o) })
			}
			seen := map[string]result{}
			sc := bufio.NewScanner(strings.NewReader(out.String()))
			for sc.Scan() {
				line := sc.Text()
				if !strings.HasPrefix(line, "{") {
					continue
				}
				var r result
				if err := json.Unmarshal([]byte(line), &r); err != nil {
					t.Fatalf("bad JSON line %q: %v", line, err)
				}
				seen[r.Endpoint] = r
			}
			for _, want := range []string{"API GET /transfers all [last]", "web /transfers all [middle]", "web / (dashboard)",
				"GET /metrics", "FTP login warm", "IMAP login cold", "FTP STOR 4 KiB (publish) partner=big",
				"housekeeping: audit retention, one batch of 5,000 rows" /* absent: 3,000 rows */} {
				r, ok := seen[want]
				if want == "housekeeping: audit retention, one batch of 5,000 rows" {
					continue
				}
				if !ok {
					t.Errorf("no measurement %q in the output:\n%s", want, out.String())
					continue
				}
				if r.P50MS <= 0 || r.P99MS < r.P50MS {
					t.Errorf("%s: p50 %v, p99 %v", want, r.P50MS, r.P99MS)
				}
			}
			if r := seen["API GET /transfers all [last]"]; db == "postgres" && r.RowsScanned <= 0 {
				t.Errorf("no rows scanned from EXPLAIN on PostgreSQL: %+v", r)
			}
			if !strings.Contains(out.String(), "endpoint  ") {
				t.Errorf("no table at the end:\n%s", out.String())
			}
		})
	}
}

func dropDatabase(t *testing.T, o *options) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, o.pgURL)
	if err != nil {
		t.Log(err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{o.pgDB}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Log(err)
	}
}
