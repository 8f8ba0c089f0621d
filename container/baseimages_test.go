package container

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
)

// recipe changes when the way the base images are made changes, so that a
// cache made the old way is not taken for a new one.
const recipe = "ferry-container-test base images v1"

// keyLabel holds the hash of an image's inputs.
const keyLabel = "org.ferryhq.container-test.key"

// bases are the images the Dockerfile and docker-compose.yml name, read
// from them so that those files are used unchanged.
type bases struct {
	builder  string // golang:1.26
	runtime  string // gcr.io/distroless/static-debian13:nonroot
	postgres string // postgres:17
	suite    string // the Debian release the runtime names: trixie
	pgMajor  string // 17
}

var debianSuites = map[string]string{"11": "bullseye", "12": "bookworm", "13": "trixie", "14": "forky"}

func readBases(t *testing.T, root string) bases {
	t.Helper()
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	args := map[string]string{}
	var froms []string
	for _, line := range strings.Split(string(df), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "ARG":
			if k, v, ok := strings.Cut(f[1], "="); ok {
				args[k] = v
			}
		case len(f) >= 2 && f[0] == "FROM":
			img := f[1]
			for k, v := range args {
				img = strings.ReplaceAll(img, "${"+k+"}", v)
			}
			froms = append(froms, img)
		}
	}
	var b bases
	for _, img := range froms {
		switch {
		case strings.HasPrefix(img, "golang:"):
			b.builder = img
		case strings.HasPrefix(img, "gcr.io/distroless/static-debian"):
			b.runtime = img
		}
	}
	compose, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^\s+image:\s*(postgres:(\d+)\S*)\s*$`).FindStringSubmatch(string(compose)); m != nil {
		b.postgres, b.pgMajor = m[1], m[2]
	}
	if m := regexp.MustCompile(`static-debian(\d+)`).FindStringSubmatch(b.runtime); m != nil {
		b.suite = debianSuites[m[1]]
	}
	if b.builder == "" || b.runtime == "" || b.postgres == "" || b.suite == "" {
		t.Fatalf("base images: Dockerfile FROM %v, compose postgres %q: want golang:<version>, gcr.io/distroless/static-debian<N>:nonroot and postgres:<major>", froms, b.postgres)
	}
	return b
}

// ensureBases builds the stand-ins for the base images unless the daemon
// has them already, made from the same inputs (the label keyLabel).
func ensureBases(t *testing.T, ctx context.Context, d *docker, b bases) {
	t.Helper()
	entrypoint, err := os.ReadFile("testdata/postgres-entrypoint.sh")
	if err != nil {
		t.Fatal(err)
	}
	// This machine's Go toolchain (the one running this test's go command).
	out, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	goroot := strings.TrimSpace(string(out))
	goVersion, err := os.ReadFile(filepath.Join(goroot, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n%s\n%s\n", recipe, mirror(), b.suite, b.pgMajor, goroot, goVersion)
	h.Write(entrypoint)
	// The builder trusts what this machine trusts (its Go toolchain reaches
	// the module proxy through it, here possibly through an intercepting proxy).
	hostCAs := mustRead(t, "/etc/ssl/certs/ca-certificates.crt")
	h.Write([]byte(hostCAs))
	key := hex.EncodeToString(h.Sum(nil))[:24]

	missing := false
	for _, img := range []string{b.builder, b.runtime, b.postgres} {
		got, err := d.try(ctx, "image", "inspect", "--format", "{{index .Config.Labels \""+keyLabel+"\"}}", img)
		if err != nil || got != key {
			missing = true
		}
	}
	if !missing {
		t.Logf("base images %s, %s, %s: cached (key %s)", b.builder, b.runtime, b.postgres, key)
		return
	}
	testenv.Need(t, "debootstrap")
	start := time.Now()
	work := filepath.Join(cacheDir(), "work")
	if err := os.RemoveAll(work); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(work)

	// One Debian rootfs for all three.
	base := filepath.Join(work, "base")
	sh(t, ctx, "debootstrap", "--variant=minbase", "--include=ca-certificates,tzdata", b.suite, base, mirror())

	// Runtime: what distroless/static holds (passwd with nonroot 65532, CA
	// certificates, time zones), nothing else.
	rt := filepath.Join(work, "runtime")
	for _, dir := range []string{"etc/ssl/certs", "usr/share", "tmp", "home/nonroot", "root"} {
		if err := os.MkdirAll(filepath.Join(rt, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"etc/passwd":        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
		"etc/group":         "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n",
		"etc/nsswitch.conf": "hosts: files dns\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(rt, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sh(t, ctx, "cp", "-L", filepath.Join(base, "etc/ssl/certs/ca-certificates.crt"), filepath.Join(rt, "etc/ssl/certs/"))
	sh(t, ctx, "cp", "-a", filepath.Join(base, "usr/share/zoneinfo"), filepath.Join(rt, "usr/share/"))
	sh(t, ctx, "cp", "-L", filepath.Join(base, "etc/os-release"), filepath.Join(rt, "etc/os-release"))
	sh(t, ctx, "chmod", "1777", filepath.Join(rt, "tmp"))
	sh(t, ctx, "chown", "65532:65532", filepath.Join(rt, "home/nonroot"))
	d.importDir(ctx, rt, b.runtime, key,
		"USER 65532:65532", "WORKDIR /home/nonroot",
		"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")

	// PostgreSQL: Debian's package and an entrypoint that reads POSTGRES_*.
	pg := filepath.Join(work, "postgres")
	sh(t, ctx, "cp", "-a", base, pg)
	for name, content := range map[string]string{
		"usr/sbin/policy-rc.d":                     "#!/bin/sh\nexit 101\n",
		"etc/postgresql-common/createcluster.conf": "create_main_cluster = false\n",
		"etc/resolv.conf":                          mustRead(t, "/etc/resolv.conf"),
		"usr/local/bin/docker-entrypoint.sh":       string(entrypoint),
	} {
		p := filepath.Join(pg, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sh(t, ctx, "chroot", pg, "apt-get", "update", "-qq")
	sh(t, ctx, "chroot", pg, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql-"+b.pgMajor)
	sh(t, ctx, "chroot", pg, "apt-get", "clean")
	sh(t, ctx, "rm", "-rf", filepath.Join(pg, "var/lib/apt/lists"), filepath.Join(pg, "usr/sbin/policy-rc.d"))
	bin := "/usr/lib/postgresql/" + b.pgMajor + "/bin"
	d.importDir(ctx, pg, b.postgres, key,
		"ENV PATH="+bin+":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"ENV PGDATA=/var/lib/postgresql/data",
		`ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]`, "EXPOSE 5432")

	// Builder: the Debian rootfs and this machine's Go toolchain.
	sh(t, ctx, "cp", "-a", goroot, filepath.Join(base, "usr/local/go"))
	if err := os.MkdirAll(filepath.Join(base, "go"), 0o777); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"etc/resolv.conf": mustRead(t, "/etc/resolv.conf"), "etc/ssl/certs/ca-certificates.crt": hostCAs} {
		p := filepath.Join(base, name)
		_ = os.Remove(p)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d.importDir(ctx, base, b.builder, key,
		"ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"ENV GOPATH=/go", "ENV GOTOOLCHAIN=local", "WORKDIR /go")
	t.Logf("base images %s, %s, %s built in %v (key %s)", b.builder, b.runtime, b.postgres, time.Since(start).Round(time.Second), key)
}

// importDir makes an image of a folder: docker import of its tar stream.
func (d *docker) importDir(ctx context.Context, dir, name, key string, changes ...string) {
	d.t.Helper()
	start := time.Now()
	defer func() { d.t.Logf("%v: import %s", time.Since(start).Round(time.Second), name) }()
	args := []string{"import"}
	for _, c := range append(changes, "LABEL "+keyLabel+"="+key) {
		args = append(args, "--change", c)
	}
	args = append(args, "-", name)
	tar := exec.CommandContext(ctx, "tar", "-C", dir, "--numeric-owner", "--exclude=./proc/*", "--exclude=./sys/*", "-cf", "-", ".")
	imp := d.command(ctx, "docker", args...)
	r, w, err := os.Pipe()
	if err != nil {
		d.t.Fatal(err)
	}
	var tarErr, impOut strings.Builder
	tar.Stdout, tar.Stderr = w, &tarErr
	imp.Stdin, imp.Stdout, imp.Stderr = r, &impOut, &impOut
	err = tar.Start()
	if err == nil {
		err = imp.Start()
	}
	// Only the children hold the pipe now: when one exits, the other sees
	// EOF or EPIPE instead of waiting for ever.
	r.Close()
	w.Close()
	if err != nil {
		d.t.Fatal(err)
	}
	impErr := imp.Wait()
	tarWait := tar.Wait()
	if impErr != nil {
		d.t.Fatalf("docker import %s: %v\n%s", name, impErr, impOut.String())
	}
	if tarWait != nil {
		d.t.Fatalf("tar %s: %v\n%s", dir, tarWait, tarErr.String())
	}
}

func mirror() string {
	if m := os.Getenv("FERRY_DEBIAN_MIRROR"); m != "" {
		return m
	}
	return "http://deb.debian.org/debian"
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sh runs a host command and fails the test with its output.
func sh(t *testing.T, ctx context.Context, name string, args ...string) string {
	t.Helper()
	start := time.Now()
	defer func() {
		if d := time.Since(start); d > 5*time.Second {
			t.Logf("%v: %s %s", d.Round(time.Second), name, strings.Join(args, " "))
		}
	}()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, lastLines(string(out), 40))
	}
	return string(out)
}
