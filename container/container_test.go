package container

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// budget bounds the whole container test, first run (base images built)
// included.
const budget = 15 * time.Minute

// TestContainer builds Ferry's image with the project's Dockerfile, runs
// the project's docker-compose.yml on its own dockerd, and uses the stack
// the way an operator and a partner do: through the published ports only.
func TestContainer(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI: the container test starts dockerd and needs root")
		}
		t.Skip("the container test starts its own dockerd and needs root")
	}
	testenv.Need(t, "docker-compose")
	testenv.Need(t, "curl")
	start := time.Now()
	deadline := start.Add(budget)
	if td, ok := t.Deadline(); ok && td.Add(-2*time.Minute).Before(deadline) {
		deadline = td.Add(-2 * time.Minute) // room for the cleanup
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}

	// 1. Our own dockerd; 2. the base images.
	d := startDocker(t, ctx)
	b := readBases(t, root)
	ensureBases(t, ctx, d, b)

	// 3. Ferry's image, as the Dockerfile builds it.
	image := "ferry-container-test:latest"
	buildStart := time.Now()
	d.run(ctx, "build", "--build-arg", "VERSION=container-test", "-t", image, root)
	size, err := strconv.ParseInt(d.run(ctx, "image", "inspect", "--format", "{{.Size}}", image), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s built in %v: %.1f MB", image, time.Since(buildStart).Round(time.Second), float64(size)/1e6)
	if user := d.run(ctx, "image", "inspect", "--format", "{{.Config.User}}", image); user != "65532:65532" {
		t.Errorf("image runs as %q, want 65532:65532", user)
	}
	for _, l := range []string{"org.opencontainers.image.title", "org.opencontainers.image.source", "org.opencontainers.image.version"} {
		if v := d.run(ctx, "image", "inspect", "--format", "{{index .Config.Labels \""+l+"\"}}", image); v == "" || v == "<no value>" {
			t.Errorf("image has no label %s", l)
		}
	}

	composes := [][]string{{"docker-compose"}}
	if _, err := d.try(ctx, "compose", "version"); err == nil {
		composes = append(composes, []string{"docker", "compose"})
	} else {
		t.Logf("docker compose (v2) is not installed here (Debian 12 has no package of the plugin): only Debian's docker-compose %s runs", composeVersion(ctx, d))
	}
	for i, compose := range composes {
		s := newStack(t, ctx, d, root, image, compose, fmt.Sprintf("ferryct%d", i))
		if i == 0 {
			s.full()
			s.cluster()
			s.down(true)
		} else {
			s.up()
			s.waitHealthy("ferry", 3*time.Minute)
			s.down(true)
		}
	}
	t.Logf("container test done in %v", time.Since(start).Round(time.Second))
}

// stack is one docker-compose project of the repository's compose file.
type stack struct {
	t        *testing.T
	ctx      context.Context
	d        *docker
	compose  []string
	project  string
	root     string
	env      []string
	ports    map[string]int
	passive  string
	token    string
	secrets  string
	workdir  string
	password string // alice's
	envFile  string // empty: the test's environment is all compose reads
	// node names the Ferry container the ports above reach: "A", the
	// compose service, or a second node (see cluster) with nodeID.
	node, nodeID string
}

func newStack(t *testing.T, ctx context.Context, d *docker, root, image string, compose []string, project string) *stack {
	s := &stack{t: t, ctx: ctx, d: d, compose: compose, project: project, root: root, ports: map[string]int{}, workdir: t.TempDir(), node: "A"}
	s.token = randomHex(t, 32)
	s.password = "pw-" + randomHex(t, 8)
	s.secrets = t.TempDir()
	s.envFile = filepath.Join(s.workdir, "empty.env")
	if err := os.WriteFile(s.envFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"db_password": randomHex(t, 24) + "\n", "admin_token": s.token + "\n"} {
		p := filepath.Join(s.secrets, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Every host port chosen free now, on 127.0.0.1 only.
	for _, name := range []string{"FTP_PORT", "FTPS_PORT", "SMTP_PORT", "IMAP_PORT", "POP3_PORT", "HTTP_PORT"} {
		_, port, _ := strings.Cut(testenv.FreePort(t), ":")
		s.ports[name], _ = strconv.Atoi(port)
	}
	s.passive = testenv.PortRange(t, 8)
	s.env = append([]string{}, d.env...)
	for k, v := range s.ports {
		s.env = append(s.env, k+"="+strconv.Itoa(v))
	}
	s.env = append(s.env, "PUBLISH_BIND=127.0.0.1", "HTTP_BIND=127.0.0.1", "FERRY_IMAGE="+image,
		"FERRY_SECRETS_DIR="+s.secrets, "FERRY_FTP_PASSIVE_PORTS="+s.passive, "FERRY_FTP_PUBLIC_HOST=127.0.0.1",
		"FERRY_SHUTDOWN_GRACE=30s")
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := s.try(context.Background(), "logs", "--no-color", "--tail", "80")
			t.Logf("%s logs:\n%s", project, out)
		}
		s.down(false)
	})
	return s
}

func (s *stack) try(ctx context.Context, args ...string) (string, error) {
	full := append(append([]string{}, s.compose[1:]...), "--project-name", s.project, "--project-directory", s.root,
		"--file", filepath.Join(s.root, "docker-compose.yml"), "--env-file", s.envFile)
	full = append(full, args...)
	cmd := s.d.command(ctx, s.compose[0], full...)
	cmd.Env = s.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", strings.Join(s.compose, " "), strings.Join(args, " "), err, lastLines(out.String(), 40))
	}
	return out.String(), nil
}

func (s *stack) run(args ...string) string {
	s.t.Helper()
	out, err := s.try(s.ctx, args...)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

func (s *stack) up() { s.t.Helper(); s.run("up", "-d", "--no-build") }

// down removes the project's containers and networks, and with volumes
// its volumes.
func (s *stack) down(volumes bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"down", "--timeout", "40"}
	if volumes {
		args = append(args, "--volumes")
	}
	if _, err := s.try(ctx, args...); err != nil {
		s.t.Errorf("%v", err)
	}
}

func (s *stack) container(service string) string {
	s.t.Helper()
	id := strings.TrimSpace(s.run("ps", "-q", service))
	if id == "" {
		s.t.Fatalf("no container for %s", service)
	}
	return id
}

// waitHealthy waits for the health check of service to report healthy;
// a container that exits or turns unhealthy fails at once.
func (s *stack) waitHealthy(service string, timeout time.Duration) {
	s.t.Helper()
	id := s.container(service)
	err := poll(s.ctx, timeout, time.Second, func() (bool, error) {
		st, err := s.d.try(s.ctx, "inspect", "--format", "{{.State.Status}} {{.State.Health.Status}}", id)
		if err != nil {
			return false, err
		}
		switch st {
		case "running healthy":
			return true, nil
		case "running starting":
			return false, nil
		}
		return false, fmt.Errorf("%s is %q", service, st)
	})
	if err != nil {
		out, _ := s.try(s.ctx, "logs", "--no-color", "--tail", "60", service)
		s.t.Fatalf("%s not healthy: %v\n%s", service, err, out)
	}
}

// poll calls cond every interval until it reports done or an error, or
// timeout (or ctx) ends first.
func poll(ctx context.Context, timeout, interval time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		done, err := cond()
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not within %v", timeout)
		case <-time.After(interval):
		}
	}
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// api calls the admin API on the published HTTP port.
func (s *stack) api(method, path string, body any) (int, map[string]any) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.httpURL(path), rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	if out == nil {
		out = map[string]any{"raw": string(raw)}
	}
	return resp.StatusCode, out
}

func (s *stack) httpURL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", s.ports["HTTP_PORT"], path)
}

// curl runs curl against the published ports.
func (s *stack) curl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", append([]string{"-sS", "--connect-timeout", "10"}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("curl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (s *stack) ftpURL(name string) string {
	return fmt.Sprintf("ftp://alice:%s@127.0.0.1:%d/%s", s.password, s.ports["FTP_PORT"], name)
}

func (s *stack) imapURL(rest string) string {
	return fmt.Sprintf("imap://127.0.0.1:%d/%s", s.ports["IMAP_PORT"], rest)
}

// upload sends a file with curl: plain FTP in passive mode (PASV, so the
// announced address and the 1:1 published range are what is used) or
// explicit FTPS (AUTH TLS on the FTP port, EPSV).
func (s *stack) upload(local, name string, tls bool) error {
	args := []string{"--disable-epsv", "-T", local, s.ftpURL(name)}
	if tls {
		args = []string{"--ssl-reqd", "-k", "-T", local, s.ftpURL(name)}
	}
	_, err := s.curl(args...)
	return err
}

// download fetches a file and compares it with want.
func (s *stack) download(name string, want []byte, tls bool) {
	s.t.Helper()
	out := filepath.Join(s.workdir, "dl-"+name)
	args := []string{"--disable-epsv", "-o", out, s.ftpURL(name)}
	if tls {
		args = []string{"--ssl-reqd", "-k", "-o", out, s.ftpURL(name)}
	}
	if _, err := s.curl(args...); err != nil {
		s.t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		s.t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		s.t.Fatalf("download %s (tls %v): %d bytes, want the %d uploaded", name, tls, len(got), len(want))
	}
}

var searchRE = regexp.MustCompile(`\* SEARCH([ 0-9]*)`)

// alerts returns the UIDs of INBOX messages whose subject names file.
func (s *stack) alerts(file string) ([]string, error) { return s.search("SUBJECT", file) }

// mentions returns the UIDs of INBOX messages whose body names file: an
// alert for several uploads names the first in its subject and every one
// in its body.
func (s *stack) mentions(file string) ([]string, error) { return s.search("BODY", file) }

// search returns the UIDs of INBOX messages where key (an IMAP SEARCH key
// taking a string) matches s.
func (s *stack) search(key, str string) ([]string, error) {
	out, err := s.curl("--ssl-reqd", "-k", "--user", "alice:"+s.password, s.imapURL("INBOX"), "-X", "UID SEARCH "+key+` "`+str+`"`)
	if err != nil {
		return nil, err
	}
	m := searchRE.FindStringSubmatch(out)
	if m == nil {
		return nil, fmt.Errorf("no SEARCH reply: %q", out)
	}
	return strings.Fields(m[1]), nil
}

// waitAlert waits until exactly one alert names file.
func (s *stack) waitAlert(file string) {
	s.t.Helper()
	var last []string
	err := poll(s.ctx, time.Minute, 500*time.Millisecond, func() (bool, error) {
		uids, err := s.alerts(file)
		last = uids
		return err == nil && len(uids) > 0, nil
	})
	if err != nil || len(last) != 1 {
		s.t.Fatalf("upload alert for %s in the partner mailbox: %v, UIDs %v", file, err, last)
	}
}

func writeRandom(t *testing.T, dir, name string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// composeVersion is docker-compose's version, for the log.
func composeVersion(ctx context.Context, d *docker) string {
	out, err := d.command(ctx, "docker-compose", "version", "--short").Output()
	if err != nil {
		return "(version unknown)"
	}
	return strings.TrimSpace(string(out))
}
