package notify

import (
	"strings"
	"testing"
	"time"
)

func TestSafe(t *testing.T) {
	for in, want := range map[string]string{
		"report.csv":                   "report.csv",
		"a\r\nBcc: x@y":                "a\uFFFD\uFFFDBcc: x@y",
		"nul\x00esc\x1b[31m":           "nul\uFFFDesc\uFFFD[31m",
		"ls\u2028ps\u2029":             "ls\uFFFDps\uFFFD",
		"bidi\u202efdp.exe":            "bidi\uFFFDfdp.exe",
		"bad \xff utf8":                "bad \uFFFD utf8",
		"März":                         "März",
		strings.Repeat("é", 300):       strings.Repeat("é", 256) + "…",
		"\u0085next-line\u009b c1 csi": "\uFFFDnext-line\uFFFD c1 csi",
	} {
		if got := safe(in); got != want {
			t.Errorf("safe(%q) = %q, want %q", in, got, want)
		}
	}
	if got := oneLine("  a\r\n\tb   c \n"); got != "a b c" {
		t.Errorf("oneLine = %q", got)
	}
}

func TestLevel(t *testing.T) {
	th := []int{80, 95}
	for _, c := range []struct {
		used, quota int64
		want        int
	}{{0, 100, 0}, {79, 100, 0}, {80, 100, 80}, {94, 100, 80}, {95, 100, 95}, {200, 100, 95},
		{50, 0, 0}, {8, 10, 80}, {799, 1000, 0}, {-5, 100, 0}} {
		if got := level(c.used, c.quota, th); got != c.want {
			t.Errorf("level(%d, %d) = %d, want %d", c.used, c.quota, got, c.want)
		}
	}
}

func TestSizeText(t *testing.T) {
	for n, want := range map[int64]string{0: "0 bytes", 1023: "1023 bytes", 1024: "1.0 KiB (1024 bytes)",
		1536 * 1024: "1.5 MiB (1572864 bytes)", 5 << 30: "5.0 GiB (5368709120 bytes)"} {
		if got := SizeText(n); got != want {
			t.Errorf("SizeText(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	n := &Notifier{BackoffBase: 30 * time.Second, BackoffMax: time.Hour}
	for attempt, want := range map[int]time.Duration{1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute,
		8: time.Hour, 20: time.Hour} {
		for range 20 {
			if d := n.backoff(attempt); d < want/2 || d > want {
				t.Errorf("backoff(%d) = %v, want %v..%v", attempt, d, want/2, want)
			}
		}
	}
}
