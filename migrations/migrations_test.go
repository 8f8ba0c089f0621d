package migrations

import (
	"io/fs"
	"slices"
	"testing"
)

// Both dialects must describe the same schema history: the same versions,
// the same file names.
func TestDialectsHaveTheSameVersions(t *testing.T) {
	names := func(d Dialect) []string {
		fsys, err := FS(d)
		if err != nil {
			t.Fatal(err)
		}
		m, err := fs.Glob(fsys, "*.sql")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	pg, lite := names(Postgres), names(SQLite)
	if len(pg) == 0 {
		t.Fatal("no migrations embedded")
	}
	if !slices.Equal(pg, lite) {
		t.Fatalf("postgres migrations %v differ from sqlite migrations %v", pg, lite)
	}
}
