package container

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
)

// cacheDir keeps what a second run reuses: the dockerd data root (the base
// images, labelled with the hash of their inputs, and the build cache).
func cacheDir() string {
	if d := os.Getenv("FERRY_CONTAINER_CACHE"); d != "" {
		return d
	}
	return "/var/cache/ferry-container-test"
}

// docker is a dockerd this test started, on its own socket, with its data
// root in cacheDir and its exec root in a folder of the test's own.
type docker struct {
	t    *testing.T
	host string   // unix:///.../docker.sock
	env  []string // the environment of docker and docker-compose
}

// startDocker takes the cache's lock (one container test at a time on a
// machine: they share the data root), starts dockerd and waits until it
// answers. Cleanup removes every container, network and volume, stops the
// daemon and releases the lock, also when the test failed.
func startDocker(t *testing.T, ctx context.Context) *docker {
	t.Helper()
	dockerd := testenv.Need(t, "dockerd")
	testenv.Need(t, "docker")
	cache := cacheDir()
	if err := os.MkdirAll(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(cache, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })
	if err := waitLock(ctx, lock); err != nil {
		t.Fatalf("lock %s (another container test running?): %v", cache, err)
	}

	// Socket paths are limited to 108 bytes: a short folder of our own.
	run, err := os.MkdirTemp("/tmp", "ferry-dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(run) })
	sock := filepath.Join(run, "docker.sock")
	d := &docker{t: t, host: "unix://" + sock}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "DOCKER_") || strings.HasPrefix(k, "COMPOSE_") || strings.HasPrefix(k, "FERRY_") || strings.HasPrefix(k, "POSTGRES_") {
			continue
		}
		d.env = append(d.env, kv)
	}
	// The legacy builder: BuildKit needs the buildx plugin, which Debian's
	// docker.io does not ship.
	d.env = append(d.env, "DOCKER_HOST="+d.host, "DOCKER_BUILDKIT=0", "COMPOSE_DOCKER_CLI_BUILD=0", "DOCKER_CONFIG="+filepath.Join(run, "config"))

	// The pid file lives beside the data root: a dockerd left running by a
	// run that was killed before its cleanup (go test's timeout) is found
	// and stopped, and dockerd refuses to start while one lives.
	pidfile := filepath.Join(cache, "dockerd.pid")
	stopStale(t, pidfile, filepath.Join(cache, "docker"))
	cmd := exec.Command(dockerd, "--host", d.host, "--data-root", filepath.Join(cache, "docker"),
		"--exec-root", filepath.Join(run, "exec"), "--pidfile", pidfile,
		"--log-level", "warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := testenv.Start(t, "dockerd", cmd)
	// Runs before testenv's cleanup (which kills it): a clean stop first.
	t.Cleanup(func() {
		d.cleanup()
		if !p.Exited() {
			_ = p.Cmd().Process.Signal(syscall.SIGTERM)
			select {
			case <-p.Done():
			case <-time.After(60 * time.Second):
				t.Errorf("dockerd did not stop within 60s of SIGTERM")
			}
		}
	})
	p.WaitReady(60*time.Second, func() error {
		_, err := d.try(ctx, "version", "--format", "{{.Server.Version}}")
		return err
	})
	// A run killed before its cleanup left containers behind: they would
	// start again with the daemon (restart: unless-stopped) and hold ports.
	d.cleanup()
	return d
}

// stopStale stops the dockerd of an earlier run of this test (its pid file
// names it, and its command line our data root).
func stopStale(t *testing.T, pidfile, dataRoot string) {
	t.Helper()
	raw, err := os.ReadFile(pidfile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 1 {
		return
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), "dockerd") || !strings.Contains(string(cmdline), dataRoot) {
		return
	}
	t.Logf("stopping dockerd %d left running by an earlier run", pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

func waitLock(ctx context.Context, f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
}

// cleanup removes every container, network and volume of the daemon (it is
// ours alone), and images left untagged by rebuilds; tagged images stay as
// the cache.
func (d *docker) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if ids, err := d.try(ctx, "ps", "-aq"); err == nil && ids != "" {
		if out, err := d.try(ctx, append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)...); err != nil {
			d.t.Errorf("remove containers: %v\n%s", err, out)
		}
	}
	for _, args := range [][]string{{"network", "prune", "-f"}, {"volume", "prune", "-f"}, {"image", "prune", "-f"}} {
		if out, err := d.try(ctx, args...); err != nil {
			d.t.Errorf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// command is docker (or docker-compose) talking to this daemon.
func (d *docker) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = d.env
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// try runs docker and returns its trimmed standard output, or its error
// with both outputs.
func (d *docker) try(ctx context.Context, args ...string) (string, error) {
	cmd := d.command(ctx, "docker", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(stdout.String() + stderr.String()), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, lastLines(stderr.String(), 30))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// run is try that fails the test.
func (d *docker) run(ctx context.Context, args ...string) string {
	d.t.Helper()
	out, err := d.try(ctx, args...)
	if err != nil {
		d.t.Fatal(err)
	}
	return out
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
