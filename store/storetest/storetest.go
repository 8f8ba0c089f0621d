// Package storetest opens real databases for tests: a fresh SQLite file, and
// a throw-away PostgreSQL database on the server named by
// FERRY_TEST_DATABASE_URL (default: the local server on 127.0.0.1:5432).
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for creating databases

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/store"
)

// Backend names a database a test runs on.
type Backend struct {
	Name string
	// URL opens a new, empty database and returns its URL ("" plus a path
	// for SQLite: see Open).
	Open func(t testing.TB) (url, sqlitePath string)
}

// Backends returns SQLite and, when FERRY_TEST_DATABASE_URL is set, PostgreSQL.
func Backends() []Backend {
	return []Backend{
		{Name: "sqlite", Open: func(t testing.TB) (string, string) {
			return "", filepath.Join(t.TempDir(), "ferry.db")
		}},
		{Name: "postgres", Open: func(t testing.TB) (string, string) {
			return NewPostgresDB(t), ""
		}},
	}
}

// NewPostgresDB creates an empty database, dropped when the test ends, and
// returns its URL. Without a PostgreSQL server it skips (fails under CI).
func NewPostgresDB(t testing.TB) string {
	t.Helper()
	base := testenv.PostgresURL(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", base, err)
	}
	defer admin.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "ferry_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer admin.Close()
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse FERRY_TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	if !strings.Contains(u.RawQuery, "sslmode") {
		q := u.Query()
		q.Set("sslmode", "disable")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Open returns a migrated store on a fresh database of backend b.
func Open(t testing.TB, b Backend) *store.Store {
	t.Helper()
	u, path := b.Open(t)
	s, err := store.Open(context.Background(), u, store.Options{SQLitePath: path, Migrate: true})
	if err != nil {
		t.Fatalf("open %s store: %v", b.Name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Each runs fn once per backend as subtests.
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) {
			fn(t, Open(t, b))
		})
	}
}
