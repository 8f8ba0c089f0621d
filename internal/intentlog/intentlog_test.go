package intentlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func rec(n int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)) }

func ids(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

func size(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// What a process left open is what the next one finds, in the order it
// was added, with its data; what it marked done is gone.
func TestReopenFindsOpenRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "intents.log")
	l, recs, err := Open(path, 0)
	if err != nil || len(recs) != 0 {
		t.Fatalf("new log: %v %v", recs, err)
	}
	for i := range 5 {
		if err := l.Add(fmt.Sprintf("id-%d", i), rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Done("id-1", "id-3", "unknown"); err != nil {
		t.Fatal(err)
	}
	if l.Len() != 3 {
		t.Fatalf("Len = %d, want 3", l.Len())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Add("late", rec(9)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Add after Close: %v", err)
	}

	l, recs, err = Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := fmt.Sprint(ids(recs)); got != "[id-0 id-2 id-4]" {
		t.Fatalf("open records = %s", got)
	}
	if string(recs[1].Data) != `{"n":2}` {
		t.Fatalf("data of id-2 = %s", recs[1].Data)
	}
	// Still open until Done.
	if l.Len() != 3 {
		t.Fatalf("Len after Open = %d", l.Len())
	}
}

// A crash during a write leaves a line cut short at the end: it is
// skipped (and cut off), and the lines before it count.
func TestTornLastLineIsSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "intents.log")
	l, _, err := Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Add("a", rec(1)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"add":"b","data":{"n"`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	l, recs, err := Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(ids(recs)); got != "[a]" {
		t.Fatalf("open records = %s", got)
	}
	// The cut line is gone: the next record does not run into it.
	if err := l.Add("c", rec(3)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l, recs, err = Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := fmt.Sprint(ids(recs)); got != "[a c]" {
		t.Fatalf("open records after one more = %s", got)
	}
}

// The file is emptied when nothing is open, and rewritten with the open
// records only when it outgrows its limit; either way what is open
// survives a reopen.
func TestFileStaysSmall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "intents.log")
	l, _, err := Open(path, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := l.Add(fmt.Sprint(i), rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Done("0", "1", "2"); err != nil {
		t.Fatal(err)
	}
	if n := size(t, path); n != 0 {
		t.Fatalf("size with nothing open = %d", n)
	}
	// One record stays open while thousands come and go.
	if err := l.Add("keep", rec(-1)); err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		id := fmt.Sprint("r", i)
		if err := l.Add(id, rec(i)); err != nil {
			t.Fatal(err)
		}
		if err := l.Done(id); err != nil {
			t.Fatal(err)
		}
	}
	if n := size(t, path); n > 64<<10+1024 {
		t.Fatalf("size after 5000 records done = %d, want within the limit", n)
	}
	if _, err := os.Stat(path + ".new"); !os.IsNotExist(err) {
		t.Fatalf("rewrite left its temporary file: %v", err)
	}
	l.Close()
	l, recs, err := Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := fmt.Sprint(ids(recs)); got != "[keep]" {
		t.Fatalf("open records = %s", got)
	}
}

// One process at a time: a second Open fails while the first has the
// file, also after a rewrite replaced it.
func TestOneProcessAtATime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "intents.log")
	l, _, err := Open(path, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(path, 0); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if err := l.Add("keep", rec(0)); err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		id := fmt.Sprint("r", i)
		if err := l.Add(id, rec(i)); err != nil {
			t.Fatal(err)
		}
		if err := l.Done(id); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := Open(path, 0); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open after rewrites: %v, want ErrLocked", err)
	}
	l.Close()
	l2, recs, err := Open(path, 0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("Open after Close: %v %v", recs, err)
	}
	l2.Close()
}

// A record longer than a line may be is refused, and the log goes on.
func TestLongRecordRefused(t *testing.T) {
	l, _, err := Open(filepath.Join(t.TempDir(), "intents.log"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	big := json.RawMessage(`"` + strings.Repeat("x", maxLine) + `"`)
	if err := l.Add("big", big); err == nil {
		t.Fatal("a record over maxLine was taken")
	}
	if err := l.Add("small", rec(1)); err != nil || l.Len() != 1 {
		t.Fatalf("Add after a refused record: %v, Len %d", err, l.Len())
	}
}
