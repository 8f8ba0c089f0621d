// Package testenv is what integration tests share: it finds what they need
// on the machine, client programs (curl, lftp, python3) and the PostgreSQL
// server (outside CI a missing piece skips the test with a message saying
// how to get it and is counted in the package's summary line, see Main;
// under CI, CI=true as .ci/run runs, it fails the test, so CI never skips);
// it hands out free ports for listeners (FreePort, FreePortRange); it waits
// on conditions (Eventually) and on child processes that may exit (Start).
package testenv

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// DefaultPostgresURL is the server every development and CI machine of this
// project runs (trust auth on loopback).
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// missing fails the test under CI and skips it elsewhere; a skip is
// recorded under what (a program, "PostgreSQL") for Main's summary line.
func missing(t testing.TB, what, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI: "+format, args...)
	}
	recordSkip(what)
	t.Skipf(format, args...)
}

// Need returns the path of a program, or skips (fails under CI).
func Need(t testing.TB, bin string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		missing(t, bin, "%s is not installed: run .ci/run once, or apt-get install %s", bin, bin)
	}
	return p
}

// PostgresURL returns FERRY_TEST_DATABASE_URL, or the default local server,
// after checking that it answers.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("FERRY_TEST_DATABASE_URL")
	if u == "" {
		u = DefaultPostgresURL
	}
	db, err := sql.Open("pgx", u)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
		db.Close()
	}
	if err != nil {
		missing(t, "PostgreSQL", "PostgreSQL at %s does not answer (%v): start it (.ci/run does) or set FERRY_TEST_DATABASE_URL", u, err)
	}
	return u
}
