package config

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testenv"
)

// composeEnv renders docker-compose.yml with .env.example the way
// `docker compose up` would (Debian's docker-compose) and returns the
// environment the ferry service gets, and its published ports.
func composeEnv(t *testing.T) (map[string]string, []string) {
	t.Helper()
	testenv.Need(t, "docker-compose")
	root, _ := filepath.Abs("..")
	cmd := exec.Command("docker-compose", "--project-directory", root, "-f", filepath.Join(root, "docker-compose.yml"),
		"--env-file", filepath.Join(root, ".env.example"), "config")
	// Only .env.example may feed the interpolation.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "FERRY_") && !strings.HasPrefix(k, "POSTGRES_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	rendered, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("docker-compose config: %v\n%s", err, stderr)
	}
	// python3-yaml comes with Debian's docker-compose.
	py := exec.Command("python3", "-c", `
import json, sys, yaml
f = yaml.safe_load(sys.stdin)["services"]["ferry"]
ports = ["%s:%s" % (p.get("published"), p.get("target")) if isinstance(p, dict) else str(p).split("/")[0] for p in f.get("ports", [])]
json.dump({"env": f["environment"], "ports": ports}, sys.stdout)`)
	py.Stdin = strings.NewReader(string(rendered))
	out, err := py.Output()
	if err != nil {
		t.Fatalf("read rendered compose file: %v\n%s", err, rendered)
	}
	var got struct {
		Env   map[string]*string `json:"env"`
		Ports []string           `json:"ports"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for k, v := range got.Env {
		if v != nil {
			env[k] = *v
		} else {
			env[k] = ""
		}
	}
	return env, got.Ports
}

// docker-compose.yml passes every setting to Ferry, .env.example documents
// every one, and what they render to is a configuration Ferry accepts: the
// compose file starts a server, not a config error.
func TestComposeFile(t *testing.T) {
	env, ports := composeEnv(t)
	example, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	// Secrets come from files, not from the environment (or .env).
	secrets := map[string]string{"FERRY_ADMIN_TOKEN": "/run/secrets/admin_token"}
	for k, path := range secrets {
		if _, ok := env[k]; ok {
			t.Errorf("docker-compose.yml passes %s in the environment; want %s_FILE", k, k)
		}
		if env[k+"_FILE"] != path {
			t.Errorf("docker-compose.yml: %s_FILE=%q, want %s", k, env[k+"_FILE"], path)
		}
	}
	if env[DatabasePasswordFileEnv] != "/run/secrets/db_password" || strings.Contains(env["FERRY_DATABASE_URL"], ":${") {
		t.Errorf("docker-compose.yml: the database password is not read from /run/secrets/db_password: %q, %q",
			env[DatabasePasswordFileEnv], env["FERRY_DATABASE_URL"])
	}
	for _, s := range settings() {
		key := Env(s.key)
		if _, ok := env[key]; !ok && secrets[key] == "" {
			t.Errorf("docker-compose.yml does not pass %s to the ferry service", key)
		}
		if key != "FERRY_DATA_DIR" && key != "FERRY_DATABASE_URL" && secrets[key] == "" && !strings.Contains(string(example), key+"=") {
			t.Errorf(".env.example does not mention %s", key)
		}
	}
	for k := range env {
		if _, ok := byEnvName(strings.TrimSuffix(k, "_FILE")); !ok && k != DatabasePasswordFileEnv {
			t.Errorf("docker-compose.yml sets %s, which is no Ferry setting", k)
		}
	}

	// The secret files as the containers see them.
	dir := t.TempDir()
	files := map[string]string{"/run/secrets/db_password": "0123456789abcdef\n", "/run/secrets/admin_token": "\n"}
	l := Loader{LookupEnv: func(k string) (string, bool) {
		v, ok := env[k]
		if content, secret := files[v]; secret && strings.HasSuffix(k, "_FILE") {
			v = filepath.Join(dir, filepath.Base(v))
			if err := os.WriteFile(v, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return v, ok
	}}
	cfg, err := l.Load(nil)
	if err != nil {
		t.Fatalf("the compose environment is not a valid configuration: %v", err)
	}
	if cfg.DataDir != "/data" || !strings.HasPrefix(cfg.DatabaseURL, "postgres://ferry:0123456789abcdef@postgres:5432/ferry") ||
		cfg.AdminToken != "" || cfg.HTTPAddr != "0.0.0.0:8080" ||
		cfg.FTPAddr != "0.0.0.0:2121" || cfg.FTPPublicHost != "127.0.0.1" || cfg.FTPSAddr != "" {
		t.Errorf("compose configuration: %+v", cfg)
	}

	// The defaults bind loopback; in the container every listener that is
	// on takes all interfaces, or the published ports would reach nothing.
	for _, s := range settings() {
		if v := s.get(&cfg); strings.HasSuffix(s.key, "-addr") && v != "" && !strings.HasPrefix(v, "0.0.0.0:") {
			t.Errorf("compose: %s=%q does not listen on 0.0.0.0", Env(s.key), v)
		}
	}

	// FTP on 21 outside, 2121 inside; the passive range 1:1.
	published := map[string]bool{}
	for _, p := range ports {
		published[strings.TrimPrefix(p, "0.0.0.0:")] = true
	}
	for _, want := range []string{"21:2121", "990:9990", "2525:2525", "1143:1143", "1110:1110", "127.0.0.1:8080:8080"} {
		if !published[want] {
			t.Errorf("port %s not published: %v", want, ports)
		}
	}
	for port := cfg.FTPPassivePorts.Start; port <= cfg.FTPPassivePorts.End; port++ {
		if p := strconv.Itoa(port) + ":" + strconv.Itoa(port); !published[p] {
			t.Errorf("passive port %d not published 1:1: %v", port, ports)
			break
		}
	}
}

// The image's own ENV (docker run without compose) sets every listener
// that is on by default to 0.0.0.0 too.
func TestDockerfileListeners(t *testing.T) {
	df, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	inEnv := false
	for _, line := range strings.Split(string(df), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "ENV ") {
			inEnv, line = true, strings.TrimPrefix(line, "ENV ")
		} else if !inEnv {
			continue
		}
		cont := strings.HasSuffix(line, "\\")
		for _, kv := range strings.Fields(strings.TrimSuffix(line, "\\")) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
		inEnv = cont
	}
	def := Default()
	for _, s := range settings() {
		if !strings.HasSuffix(s.key, "-addr") || s.get(&def) == "" {
			continue
		}
		if v, ok := env[Env(s.key)]; !ok || !strings.HasPrefix(v, "0.0.0.0:") {
			t.Errorf("Dockerfile: ENV %s=%q, want 0.0.0.0:<port>", Env(s.key), v)
		}
	}
}

func byEnvName(k string) (setting, bool) {
	for _, s := range settings() {
		if Env(s.key) == k {
			return s, true
		}
	}
	return setting{}, false
}
