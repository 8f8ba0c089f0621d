package container

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// full is steps 3 to 6 of issue 17 on one compose project: the hardening
// as the container runs, the stack healthy, a partner's round trip through
// the published ports, and restarts that keep everything. The stack is left
// running, with partner acme and its files, for cluster.
func (s *stack) full() {
	t := s.t
	s.up()
	s.waitHealthy("ferry", 4*time.Minute)
	id := s.container("ferry")

	// The compose file's hardening, as the daemon applied it.
	hc := s.d.run(s.ctx, "inspect", "--format",
		"{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.CapDrop}} {{json .HostConfig.SecurityOpt}} {{.Config.User}}", id)
	if hc != `true ["ALL"] ["no-new-privileges:true"] 65532:65532` {
		t.Errorf("ferry container: read-only, cap_drop, security_opt, user = %s", hc)
	}
	env := s.d.run(s.ctx, "inspect", "--format", "{{json .Config.Env}}", id)
	for name, secret := range map[string]string{"admin token": s.token, "database password": strings.TrimSpace(mustRead(t, filepath.Join(s.secrets, "db_password")))} {
		if strings.Contains(env, secret) {
			t.Errorf("the %s is in the container's environment", name)
		}
	}
	s.probe()

	// A partner and its login, through the API.
	if code, body := s.api("POST", "/api/v1/partners", map[string]any{"slug": "acme", "name": "ACME Corp", "contacts": []string{"ops@acme.example"}}); code/100 != 2 {
		t.Fatalf("create partner: %d %v", code, body)
	}
	if code, body := s.api("POST", "/api/v1/partners/acme/accounts", map[string]any{"username": "alice", "password": s.password,
		"permissions": []string{"list", "download", "upload", "mail"}}); code/100 != 2 {
		t.Fatalf("create account: %d %v", code, body)
	}

	// Uploads and downloads with curl: passive mode and explicit FTPS; the
	// upload alert of each in the partner's mailbox, over IMAP.
	files := map[string][]byte{}
	files["passive.bin"] = writeRandom(t, s.workdir, "passive.bin", 1<<20)
	files["ftps.bin"] = writeRandom(t, s.workdir, "ftps.bin", 1<<20)
	for _, name := range []string{"passive.bin", "ftps.bin"} {
		if err := s.upload(filepath.Join(s.workdir, name), name, name == "ftps.bin"); err != nil {
			t.Fatal(err)
		}
		s.waitAlert(name)
		s.download(name, files[name], false)
		s.download(name, files[name], true)
	}
	metrics := s.get("/metrics")
	for _, want := range []string{`ferry_transfers_total{`, `operation="upload"`, `operation="download"`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %s:\n%s", want, lastLines(metrics, 40))
		}
	}

	// 6. What a restart, and down + up, must keep: every file, the
	// account, every audit row, every alert (and none sent again).
	audit, auditAt := s.auditIDs(), time.Now().UTC()
	if len(audit) < 6 {
		t.Errorf("%d audit rows after 2 uploads and 4 downloads", len(audit))
	}
	check := func(when string) {
		t.Helper()
		now := s.auditIDs()
		for id := range audit {
			if now[id] == "" {
				t.Errorf("after %s: audit row %s is gone", when, id)
			}
		}
		for id, row := range now {
			if audit[id] == "" {
				// Not an error: Ferry writes audit rows in the background
				// within milliseconds (store.AuditWriter), and a stop
				// writes what is queued; a row that started before the
				// snapshot was still queued when it was taken.
				t.Logf("after %s: audit row not in the snapshot of %s: %s", when, auditAt.Format("15:04:05.000"), row)
			}
		}
		if code, body := s.api("GET", "/api/v1/partners/acme/accounts/alice", nil); code != 200 {
			t.Errorf("after %s: account alice: %d %v", when, code, body)
		}
		for name, data := range files {
			uids, err := s.alerts(name)
			if err != nil || len(uids) != 1 {
				t.Errorf("after %s: alerts for %s: %v %v, want exactly one", when, name, uids, err)
			}
			s.download(name, data, false)
		}
		audit, auditAt = s.auditIDs(), time.Now().UTC()
	}
	s.run("restart", "ferry")
	s.waitHealthy("ferry", 3*time.Minute)
	check("docker compose restart ferry")

	s.run("down")
	s.up()
	s.waitHealthy("ferry", 4*time.Minute)
	check("docker compose down + up")

	// docker compose stop during a large upload: the upload finishes
	// within the grace period, and is there after the start.
	files["big.bin"] = writeRandom(t, s.workdir, "big.bin", 32<<20)
	upload := exec.CommandContext(s.ctx, "curl", "-sS", "--disable-epsv", "--limit-rate", "2M", "-T", filepath.Join(s.workdir, "big.bin"), s.ftpURL("big.bin"))
	upload.WaitDelay = 5 * time.Second
	var uploadOut strings.Builder
	upload.Stdout, upload.Stderr = &uploadOut, &uploadOut
	if err := upload.Start(); err != nil {
		t.Fatal(err)
	}
	uploadDone := make(chan error, 1)
	go func() { uploadDone <- upload.Wait() }()
	if err := poll(s.ctx, time.Minute, 200*time.Millisecond, func() (bool, error) {
		select {
		case err := <-uploadDone:
			return false, fmt.Errorf("the upload ended before the stop: %v %s", err, uploadOut.String())
		default:
		}
		return s.transferRunning("big.bin"), nil
	}); err != nil {
		_ = upload.Process.Kill()
		t.Fatal(err)
	}
	stopStart := time.Now()
	s.run("stop", "ferry")
	if err := <-uploadDone; err != nil {
		t.Fatalf("upload during docker compose stop: %v %s", err, uploadOut.String())
	}
	t.Logf("docker compose stop during a 32 MB upload at 2 MB/s took %v; the upload finished", time.Since(stopStart).Round(time.Second))
	s.run("start", "ferry")
	s.waitHealthy("ferry", 3*time.Minute)
	s.waitAlert("big.bin")
	s.download("big.bin", files["big.bin"], false)
}

// probe runs testdata/probe in the ferry service with the compose file's
// settings (docker compose run): it must be user 65532 and able to write
// only in /data.
func (s *stack) probe() {
	t := s.t
	dir := t.TempDir()
	build := exec.CommandContext(s.ctx, "go", "build", "-o", filepath.Join(dir, "probe"), "./testdata/probe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build probe: %v\n%s", err, out)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dirs := []string{"/", "/tmp", "/etc", "/usr/local/bin", "/home/nonroot", "/run", "/data"}
	out := s.run(append([]string{"run", "--rm", "--no-deps", "-T", "-v", dir + ":/probe:ro", "--entrypoint", "/probe/probe", "ferry"}, dirs...)...)
	var got struct {
		UID      int             `json:"uid"`
		GID      int             `json:"gid"`
		Writable map[string]bool `json:"writable"`
	}
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "{") {
			line = l
		}
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	if got.UID != 65532 || got.GID != 65532 {
		t.Errorf("ferry runs as %d:%d, want 65532:65532", got.UID, got.GID)
	}
	for _, d := range dirs {
		if got.Writable[d] != (d == "/data") {
			t.Errorf("in the ferry container %s writable: %v (only /data may be)", d, got.Writable[d])
		}
	}
}

// get reads an HTTP path with the admin token.
func (s *stack) get(path string) string {
	s.t.Helper()
	out, err := s.curl("-f", "-H", "Authorization: Bearer "+s.token, s.httpURL(path))
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// auditIDs is acme's transfer log rows: ID to a summary.
func (s *stack) auditIDs() map[string]string {
	s.t.Helper()
	code, body := s.api("GET", "/api/v1/transfers?partner=acme&limit=500", nil)
	items, ok := body["items"].([]any)
	if code != 200 || !ok {
		s.t.Fatalf("transfers: %d %v", code, body)
	}
	ids := map[string]string{}
	for _, it := range items {
		m, _ := it.(map[string]any)
		ids[fmt.Sprint(m["id"])] = fmt.Sprintf("%v %v %v %v %v started %v finished %v", m["protocol"], m["operation"], m["path"], m["status"], m["error"], m["started_at"], m["finished_at"])
	}
	return ids
}

// transferRunning reports whether a live session is transferring name.
func (s *stack) transferRunning(name string) bool {
	code, body := s.api("GET", "/api/v1/sessions?partner=acme", nil)
	items, _ := body["items"].([]any)
	if code != 200 {
		return false
	}
	for _, it := range items {
		m, _ := it.(map[string]any)
		cur, _ := m["current_transfer"].(string)
		b, _ := m["bytes"].(float64)
		running, _ := m["transfers_running"].(float64)
		if strings.Contains(cur, name) || (running > 0 && b >= 0) {
			return true
		}
	}
	return false
}
