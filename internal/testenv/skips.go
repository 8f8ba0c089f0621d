package testenv

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// skipped counts, per missing program, the tests of this test process that
// skipped for it: process-wide because Main reports it after m.Run.
var skipped struct {
	mu     sync.Mutex
	counts map[string]int
}

func recordSkip(what string) {
	skipped.mu.Lock()
	defer skipped.mu.Unlock()
	if skipped.counts == nil {
		skipped.counts = map[string]int{}
	}
	skipped.counts[what]++
}

// SkipSummary is the line Main prints, or "" when no test skipped for a
// missing program: "SKIPPED for missing tools: curl (3 tests), lftp (1 test)".
func SkipSummary() string {
	skipped.mu.Lock()
	defer skipped.mu.Unlock()
	if len(skipped.counts) == 0 {
		return ""
	}
	names := make([]string, 0, len(skipped.counts))
	for n := range skipped.counts {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		unit := "tests"
		if skipped.counts[n] == 1 {
			unit = "test"
		}
		parts[i] = fmt.Sprintf("%s (%d %s)", n, skipped.counts[n], unit)
	}
	return "SKIPPED for missing tools: " + strings.Join(parts, ", ")
}

// Main is the TestMain of every package whose tests may skip for a missing
// program: it runs the tests (Run) and exits with their status.
func Main(m *testing.M) { os.Exit(run(m, callerPackage())) }

// Run runs the tests, then prints one line naming the package and the tests
// skipped for each missing program, if any, so that a local run never
// silently tests less; it returns m.Run's exit code. `go test ./...` shows a
// passing package's output only with -v, so the line goes to the go
// command's own output (its terminal or pipe) when that is not a regular
// file it would overwrite.
func Run(m *testing.M) int { return run(m, callerPackage()) }

func run(m *testing.M, pkg string) int {
	code := m.Run()
	if s := SkipSummary(); s != "" {
		line := pkg + ": " + s + "\n"
		if testing.Verbose() || !toGoCommand(line) { // -v and -json show the binary's own output
			fmt.Fprint(os.Stdout, line)
		}
	}
	return code
}

// callerPackage names the package of the TestMain that called Main or Run:
// "ferry/web" for github.com/ferryhq/ferry/web_test.TestMain.
func callerPackage() string {
	pc, _, _, ok := runtime.Caller(2)
	if !ok {
		return "tests"
	}
	name := strings.TrimSuffix(runtime.FuncForPC(pc).Name(), ".TestMain")
	return strings.TrimSuffix(strings.TrimPrefix(name, "github.com/ferryhq/"), "_test")
}

// toGoCommand writes line to the standard output of the process that ran
// this test binary (the go command), unless that is this binary's own
// standard output already or a regular file not opened for appending; it
// reports whether it wrote.
func toGoCommand(line string) bool {
	path := fmt.Sprintf("/proc/%d/fd/1", os.Getppid())
	var parent, self syscall.Stat_t
	if syscall.Stat(path, &parent) != nil || syscall.Fstat(int(os.Stdout.Fd()), &self) != nil {
		return false
	}
	if parent.Dev == self.Dev && parent.Ino == self.Ino {
		return false // the same terminal or pipe: os.Stdout reaches it
	}
	switch parent.Mode & syscall.S_IFMT {
	case syscall.S_IFCHR, syscall.S_IFIFO, syscall.S_IFSOCK:
	case syscall.S_IFREG:
		if !appending(fmt.Sprintf("/proc/%d/fdinfo/1", os.Getppid())) {
			return false // the go command writes at its own offset and would overwrite the line
		}
	default:
		return false
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = f.WriteString(line)
	return err == nil
}

// appending reports whether the descriptor an fdinfo file describes was
// opened with O_APPEND (a shell's >>), so that writes from elsewhere land
// after the go command's instead of under them.
func appending(fdinfo string) bool {
	raw, err := os.ReadFile(fdinfo)
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "flags:"); ok {
			flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return err == nil && flags&syscall.O_APPEND != 0
		}
	}
	return false
}
