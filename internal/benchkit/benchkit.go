// Package benchkit holds what Ferry's side-by-side benchmark commands
// (cmd/ferrybench, cmd/mailbench) share: medians and figures for the
// report, sizes and -only on the command line, free loopback ports, running
// helper commands and the servers under test (proc.go), and finding the
// module to build Ferry from.
package benchkit

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/freeport"
)

// Median of v; 0 for none.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// FormatValue writes a figure with about three significant digits.
func FormatValue(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// JoinValues writes the figures of every round, or n/a.
func JoinValues(v []float64) string {
	if len(v) == 0 {
		return "n/a"
	}
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = FormatValue(x)
	}
	return strings.Join(s, " ")
}

// ParseSize reads a size such as 512MiB, 10KiB, 1GB or 1048576.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("bad size %q (e.g. 512MiB, 10KiB, 1048576)", s)
	}
	return n * mult, nil
}

// FormatSize writes a size in the largest whole binary unit.
func FormatSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// MS is d in milliseconds.
func MS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Tail returns the last n bytes of a log file, for error messages.
func Tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// FreePort returns a loopback TCP port nobody listens on, outside the
// kernel's ephemeral range (see package freeport).
func FreePort() (int, error) { return freeport.Port() }

// RandomPassword returns a fresh password with a recognisable prefix.
func RandomPassword(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Run runs a helper command and returns its output in the error.
func Run(stdin io.Reader, env []string, dir, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Stdin, cmd.Env, cmd.Dir = stdin, env, dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// ModuleRoot is the folder of the Ferry module the command runs in.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the Ferry module: run from its folder or pass -ferry-bin")
	}
	return filepath.Dir(mod), nil
}

// FerryBinary returns the ferry binary a bench runs: bin made absolute,
// or when bin is "", ./cmd/ferry of this module built as out.
func FerryBinary(bin, out string) (string, error) {
	if bin != "" {
		return filepath.Abs(bin)
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	Logf("building ferry (go build ./cmd/ferry in %s)", root)
	if err := Run(nil, nil, root, "go", "build", "-o", out, "./cmd/ferry"); err != nil {
		return "", err
	}
	return filepath.Abs(out)
}

// Logf writes a time-stamped progress line to standard error.
func Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// WorkDir returns dir (created if needed) or a new temporary folder named
// after prefix; cleanup removes a temporary one unless keep is set. The
// folder is opened to every user, since the reference servers' own
// unprivileged users must reach their folders inside it.
func WorkDir(dir, prefix string, keep bool) (string, func(), error) {
	cleanup := func() {}
	if dir == "" {
		d, err := os.MkdirTemp("", prefix)
		if err != nil {
			return "", cleanup, err
		}
		dir = d
		if !keep {
			cleanup = func() { os.RemoveAll(d) }
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", cleanup, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		cleanup()
		return "", func() {}, err
	}
	return dir, cleanup, nil
}

// ParseOnly reads an -only flag: a comma-separated subset of valid.
func ParseOnly(list string, valid []string) (map[string]bool, error) {
	only := map[string]bool{}
	for _, w := range strings.Split(list, ",") {
		w = strings.TrimSpace(w)
		if w == "" {
			continue
		}
		if !slices.Contains(valid, w) {
			return nil, fmt.Errorf("-only: unknown workload %q (valid: %s)", w, strings.Join(valid, ","))
		}
		only[w] = true
	}
	return only, nil
}
