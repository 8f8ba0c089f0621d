package container

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
)

// cluster is step 7 of issue 17 on a stack that full left running: a
// second Ferry node on the same PostgreSQL and the same data volume.
//
// Node B is the compose service's container as Docker applied it (its
// image, environment, volumes and secrets, read-only root, no capability,
// no-new-privileges), started with docker run beside it, with published
// ports and a passive range of its own. The compose file stays as users
// have it; the only difference is B's networks: its ports are published on
// a network of its own ("front") and it reaches PostgreSQL over the compose
// network, so that docker network disconnect takes the database from it
// and nothing else.
func (s *stack) cluster() {
	t := s.t
	a := s
	b := s.startNode("ferry-b")
	for _, n := range []*stack{a, b} {
		if code, _ := n.getStatus("/readyz"); code != 200 {
			t.Fatalf("node %s: /readyz %d before the test", n.node, code)
		}
	}

	// A file uploaded through one node is downloaded through the other,
	// both ways.
	uploaded := []string{"passive.bin", "ftps.bin", "big.bin"} // full's
	for _, x := range []struct {
		up, down *stack
		name     string
	}{{a, b, "from-a.bin"}, {b, a, "from-b.bin"}} {
		data := writeRandom(t, s.workdir, x.name, 1<<20)
		if err := x.up.upload(filepath.Join(s.workdir, x.name), x.name, false); err != nil {
			t.Fatalf("upload through node %s: %v", x.up.node, err)
		}
		x.down.download(x.name, data, false)
		x.down.download(x.name, data, true)
		uploaded = append(uploaded, x.name)
	}

	// Their alerts are out before B is killed: a node killed between
	// claiming an alert and settling it leaves it to another node when
	// the claim's lease (2 minutes) ends, later than this test waits.
	// (The two may be one mail: uploads of a partner that wait for the
	// notifier together go out together.)
	for _, name := range []string{"from-a.bin", "from-b.bin"} {
		a.waitMention(name)
	}

	// docker kill of B during a large upload through it: no partial file
	// is visible through A, nor in the API; A serves on.
	writeRandom(t, s.workdir, "killed.bin", 32<<20)
	upload := exec.CommandContext(s.ctx, "curl", "-sS", "--disable-epsv", "--limit-rate", "2M", "-T", filepath.Join(s.workdir, "killed.bin"), b.ftpURL("killed.bin"))
	upload.WaitDelay = 5 * time.Second
	if err := upload.Start(); err != nil {
		t.Fatal(err)
	}
	uploadDone := make(chan error, 1)
	go func() { uploadDone <- upload.Wait() }()
	if err := poll(s.ctx, time.Minute, 200*time.Millisecond, func() (bool, error) {
		select {
		case err := <-uploadDone:
			return false, fmt.Errorf("the upload through B ended before the kill: %v", err)
		default:
		}
		return b.transferRunning("killed.bin"), nil
	}); err != nil {
		_ = upload.Process.Kill()
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // some megabytes on the volume
	s.d.run(s.ctx, "kill", b.nodeID)
	if err := <-uploadDone; err == nil {
		t.Fatalf("the upload through B succeeded although B was killed during it")
	}
	listing := a.list()
	for _, name := range uploaded {
		if !listing[name] {
			t.Errorf("listing through A after B was killed: no %s in %v", name, listing)
		}
	}
	if len(listing) != len(uploaded) {
		t.Errorf("listing through A after B was killed during an upload: %v, want exactly %v", listing, uploaded)
	}
	for _, row := range a.transfers() {
		if row.Operation == "upload" && path.Base(row.Path) == "killed.bin" && row.Status == "ok" {
			t.Errorf("the API lists the killed upload as done: %+v", row)
		}
	}
	// A serves on, alerts included.
	data := writeRandom(t, s.workdir, "while-b-dead.bin", 1<<20)
	if err := a.upload(filepath.Join(s.workdir, "while-b-dead.bin"), "while-b-dead.bin", true); err != nil {
		t.Fatalf("upload through A while B is dead: %v", err)
	}
	a.download("while-b-dead.bin", data, false)
	uploaded = append(uploaded, "while-b-dead.bin")
	s.d.run(s.ctx, "start", b.nodeID)
	b.waitNodeHealthy(3 * time.Minute)

	// B loses the database: /readyz false, new logins 421; A serves on.
	s.d.run(s.ctx, "network", "disconnect", s.project+"_default", b.nodeID)
	if err := poll(s.ctx, time.Minute, time.Second, func() (bool, error) {
		code, _ := b.getStatus("/readyz")
		return code == 503, nil
	}); err != nil {
		t.Errorf("node B without the database: /readyz not 503: %v", err)
	}
	loginStart := time.Now()
	if code, msg := b.rawLogin(); code != 421 {
		t.Errorf("login on node B without the database: %d %s, want 421", code, msg)
	} else {
		t.Logf("login on node B without its database: %d %s (after %v)", code, msg, time.Since(loginStart).Round(100*time.Millisecond))
	}
	a.download("from-b.bin", []byte(mustRead(t, filepath.Join(s.workdir, "from-b.bin"))), false)
	s.d.run(s.ctx, "network", "connect", s.project+"_default", b.nodeID)
	if err := poll(s.ctx, 2*time.Minute, time.Second, func() (bool, error) {
		code, _ := b.getStatus("/readyz")
		return code == 200, nil
	}); err != nil {
		t.Fatalf("node B reconnected to the database: /readyz not 200: %v", err)
	}
	if code, msg := b.rawLogin(); code != 230 {
		t.Errorf("login on node B after reconnecting: %d %s, want 230", code, msg)
	}
	data = writeRandom(t, s.workdir, "after-reconnect.bin", 1<<20)
	if err := b.upload(filepath.Join(s.workdir, "after-reconnect.bin"), "after-reconnect.bin", false); err != nil {
		t.Fatalf("upload through B after reconnecting: %v", err)
	}
	a.download("after-reconnect.bin", data, false)
	uploaded = append(uploaded, "after-reconnect.bin")

	// Every upload announced exactly once: one mail in the partner mailbox
	// names it (read through either node), and it has one notification
	// row, sent; the killed upload has neither.
	for _, name := range uploaded {
		a.waitMention(name)
		if uids, err := b.mentions(name); err != nil || len(uids) != 1 {
			t.Errorf("alerts naming %s through node B's IMAP: %v %v, want exactly one", name, uids, err)
		}
	}
	if uids, err := a.mentions("killed.bin"); err != nil || len(uids) != 0 {
		t.Errorf("alerts naming the killed upload: %v %v, want none", uids, err)
	}
	perFile := map[string][]string{}
	for _, n := range a.notifications() {
		perFile[n.file] = append(perFile[n.file], n.status)
	}
	for _, name := range uploaded {
		if st := perFile[name]; len(st) != 1 || st[0] != "sent" {
			t.Errorf("upload notifications for %s: %v, want one, sent", name, st)
		}
	}
	if st := perFile["killed.bin"]; len(st) != 0 {
		t.Errorf("upload notifications for the killed upload: %v, want none", st)
	}
	t.Logf("two nodes: %d uploads, each announced once; node B killed during an upload and cut from its database, and back", len(uploaded))

	// B goes before the compose project, whose network and volume it uses.
	s.d.run(s.ctx, "rm", "-f", b.nodeID)
	s.d.run(s.ctx, "network", "rm", s.project+"-front")
}

// startNode starts a second node of the stack's ferry service, the way
// cluster describes, and returns the stack as seen through its ports.
func (s *stack) startNode(name string) *stack {
	t := s.t
	a := s.container("ferry")
	var env []string
	if err := json.Unmarshal([]byte(s.d.run(s.ctx, "inspect", "--format", "{{json .Config.Env}}", a)), &env); err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(s.workdir, name+".env")
	if err := os.WriteFile(envFile, []byte(strings.Join(env, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	image := s.d.run(s.ctx, "inspect", "--format", "{{.Config.Image}}", a)
	n := *s
	n.node = "B"
	n.ports = map[string]int{}
	for _, p := range []string{"FTP_PORT", "HTTP_PORT", "IMAP_PORT"} {
		_, port, _ := strings.Cut(testenv.FreePort(t), ":")
		n.ports[p], _ = strconv.Atoi(port)
	}
	n.passive = testenv.PortRange(t, 8)
	// "-" sorts before "_": the front network comes first, so it is the
	// one of B's published ports and its default route.
	front := s.project + "-front"
	s.d.run(s.ctx, "network", "create", front)
	container := s.project + "-" + name
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if t.Failed() {
			out, _ := s.d.command(ctx, "docker", "logs", "--tail", "60", container).CombinedOutput()
			t.Logf("%s logs:\n%s", container, out)
		}
		_, _ = s.d.try(ctx, "rm", "-f", "-v", container)
		_, _ = s.d.try(ctx, "network", "rm", front)
	})
	n.nodeID = s.d.run(s.ctx, "create", "--name", container, "--network", front,
		"--volumes-from", a, "--env-file", envFile, "-e", "FERRY_FTP_PASSIVE_PORTS="+n.passive,
		"--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
		"--stop-timeout", "40", "--health-interval", "5s", "--health-timeout", "10s", "--health-start-period", "30s",
		"-p", fmt.Sprintf("127.0.0.1:%d:2121", n.ports["FTP_PORT"]),
		"-p", fmt.Sprintf("127.0.0.1:%d:8080", n.ports["HTTP_PORT"]),
		"-p", fmt.Sprintf("127.0.0.1:%d:1143", n.ports["IMAP_PORT"]),
		"-p", fmt.Sprintf("127.0.0.1:%s:%s", n.passive, n.passive),
		image)
	s.d.run(s.ctx, "network", "connect", s.project+"_default", n.nodeID)
	s.d.run(s.ctx, "start", n.nodeID)
	n.waitNodeHealthy(3 * time.Minute)
	return &n
}

// waitNodeHealthy is waitHealthy for a container started with docker run.
func (s *stack) waitNodeHealthy(timeout time.Duration) {
	s.t.Helper()
	err := poll(s.ctx, timeout, time.Second, func() (bool, error) {
		st, err := s.d.try(s.ctx, "inspect", "--format", "{{.State.Status}} {{.State.Health.Status}}", s.nodeID)
		if err != nil {
			return false, err
		}
		switch st {
		case "running healthy":
			return true, nil
		case "running starting":
			return false, nil
		}
		return false, fmt.Errorf("node %s is %q", s.node, st)
	})
	if err != nil {
		out, _ := s.d.command(s.ctx, "docker", "logs", "--tail", "60", s.nodeID).CombinedOutput()
		s.t.Fatalf("node %s not healthy: %v\n%s", s.node, err, out)
	}
}

// getStatus reads an unauthenticated HTTP path and returns its status.
func (s *stack) getStatus(p string) (int, string) {
	out, err := s.curl("-o", "/dev/null", "-w", "%{http_code}", "--max-time", "15", s.httpURL(p))
	code, _ := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		return code, err.Error()
	}
	return code, ""
}

// rawLogin logs alice in on the node's FTP port and returns the reply to
// the first of USER and PASS that is not 331.
func (s *stack) rawLogin() (int, string) {
	s.t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.ports["FTP_PORT"]), 10*time.Second)
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close()
	// A login waits for the database at most 30s (ftpd's authTimeout).
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	tp := textproto.NewConn(conn)
	if _, _, err := tp.ReadResponse(220); err != nil {
		s.t.Fatalf("greeting of node %s: %v", s.node, err)
	}
	for _, cmd := range []string{"USER alice", "PASS " + s.password} {
		if err := tp.PrintfLine("%s", cmd); err != nil {
			s.t.Fatal(err)
		}
		code, msg, err := tp.ReadResponse(0)
		if code == 0 {
			s.t.Fatalf("%s on node %s: %v", strings.Fields(cmd)[0], s.node, err)
		}
		if code != 331 {
			return code, msg
		}
	}
	return 0, "no reply to PASS"
}

// list is the names in alice's directory, through the node's FTP port.
func (s *stack) list() map[string]bool {
	s.t.Helper()
	out, err := s.curl("--disable-epsv", "--list-only", s.ftpURL(""))
	if err != nil {
		s.t.Fatal(err)
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			names[l] = true
		}
	}
	return names
}

type transferRow struct {
	Operation string `json:"operation"`
	Path      string `json:"path"`
	Status    string `json:"status"`
}

// transfers is acme's transfer log, through the API.
func (s *stack) transfers() []transferRow {
	s.t.Helper()
	var page struct {
		Items []transferRow `json:"items"`
	}
	s.apiInto("/api/v1/transfers?partner=acme&limit=500", &page)
	return page.Items
}

type notification struct{ file, status string }

// notifications is acme's upload notifications (each uploaded file's name
// and its row's status: uploads finished together share a row), through
// the API.
func (s *stack) notifications() []notification {
	s.t.Helper()
	type upload struct {
		Path string `json:"path"`
	}
	var page struct {
		Items []struct {
			Status  string `json:"status"`
			Payload struct {
				upload
				Uploads []upload `json:"uploads"`
			} `json:"payload"`
		} `json:"items"`
	}
	s.apiInto("/api/v1/notifications?partner=acme&kind=upload&limit=500", &page)
	var out []notification
	for _, it := range page.Items {
		for _, u := range append(it.Payload.Uploads, it.Payload.upload) {
			if u.Path != "" {
				out = append(out, notification{path.Base(u.Path), it.Status})
			}
		}
	}
	return out
}

// waitMention waits until a mail in the partner mailbox names file, and
// fails unless exactly one does.
func (s *stack) waitMention(file string) {
	s.t.Helper()
	var last []string
	err := poll(s.ctx, time.Minute, 500*time.Millisecond, func() (bool, error) {
		uids, err := s.mentions(file)
		last = uids
		return err == nil && len(uids) > 0, nil
	})
	if err != nil || len(last) != 1 {
		s.t.Fatalf("upload alert naming %s in the partner mailbox (node %s): %v, UIDs %v", file, s.node, err, last)
	}
}

func (s *stack) apiInto(p string, v any) {
	s.t.Helper()
	out, err := s.curl("-f", "-H", "Authorization: Bearer "+s.token, s.httpURL(p))
	if err != nil {
		s.t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		s.t.Fatalf("%s: %v\n%s", p, err, out)
	}
}
