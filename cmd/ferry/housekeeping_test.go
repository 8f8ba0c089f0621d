package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/ferryhq/ferry/bans"
	"github.com/ferryhq/ferry/config"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/vfs"
)

// housekeepingLoops are the functions of the background loops serve
// starts; each shows in a goroutine's stack while its loop runs.
var housekeepingLoops = []string{
	".(*housekeeping).maintain",
	".(*housekeeping).revalidate",
	".(*housekeeping).sweepMail",
	"notify.(*Notifier).Run",
}

// goroutineStacks returns the stacks of every goroutine.
func goroutineStacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// When serve returns, every background loop it started has returned: the
// check runs at once (no loop may still be on its way out), and then goleak
// checks that serve left no goroutine at all behind.
func TestShutdownJoinsHousekeeping(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	for _, key := range []string{"FERRY_DATABASE_URL", "FERRY_CONFIG", "FERRY_SMTP_RELAY"} {
		t.Setenv(key, "")
	}
	// POP3 is the mail server here: its sessions are revalidated too. (IMAP
	// would do as well, but mailbox/imap has a data race between Serve and
	// Shutdown that -race reports, left to its owner.)
	httpAddr, pop3Addr := testenv.FreePort(t), testenv.FreePort(t)
	var logs testenv.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &logs}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- a.serve(ctx, []string{"--data-dir", t.TempDir(), "--ftp-addr=", "--ftps-addr=", "--http-addr", httpAddr,
			"--smtp-addr=", "--imap-addr=", "--pop3-addr", pop3Addr, "--shutdown-grace", "5s"})
	}()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	testenv.Eventually(t, 30*time.Second, func() error {
		select {
		case err := <-errc:
			t.Fatalf("serve returned early: %v\n%s", err, logs.String())
		default:
		}
		resp, err := client.Get("http://" + httpAddr + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthz: %s", resp.Status)
		}
		// Every loop has started.
		stacks := goroutineStacks()
		for _, fn := range housekeepingLoops {
			if !strings.Contains(stacks, fn) {
				return fmt.Errorf("%s is not running", fn)
			}
		}
		return nil
	})
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("serve: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not return after its context ended\n%s", logs.String())
	}
	stacks := goroutineStacks()
	for _, fn := range housekeepingLoops {
		if strings.Contains(stacks, fn) {
			t.Errorf("%s still runs after serve returned", fn)
		}
	}
	if t.Failed() {
		t.Fatalf("goroutines:\n%s", stacks)
	}
	goleak.VerifyNone(t, leaks)
}

// uuidAt returns a time-ordered ID (UUIDv7) for a moment in the past, as
// a row written then would have.
func uuidAt(at time.Time) string {
	id := uuid.Must(uuid.NewV7())
	ms := uint64(at.UnixMilli())
	for i := 0; i < 6; i++ {
		id[i] = byte(ms >> (40 - 8*i))
	}
	return id.String()
}

// A crash between the two phases of a publish, and Ferry started again
// with FTP switched off: housekeeping completes the upload whose file was
// published (and queues its alert, as the upload would have) and rolls back
// the one whose data was still staged (usage refunded, data kept for a
// resume), exactly as it does with FTP on.
func TestRecoverInterruptedPublishWithFTPOff(t *testing.T) {
	bin := buildFerry(t)
	dir := t.TempDir()
	f := &ferryCmd{t: t, bin: bin, dir: dir}
	f.ok("", "partner", "create", "acme")
	ctx := context.Background()
	st, err := store.Open(ctx, "", store.Options{SQLitePath: filepath.Join(dir, "data", "ferry.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acme, err := st.PartnerBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(dir, "data", "files", "acme")
	write := func(name, data string) {
		t.Helper()
		p := filepath.Join(tree, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	// What a crash leaves: both rows committing with their usage reserved;
	// one file renamed into place, the other's data still staged.
	crashed := time.Now().Add(-10 * time.Minute)
	write("done.bin", "12345")
	done := &store.Transfer{ID: uuidAt(crashed), PartnerID: &acme.ID, Protocol: "ftp", Operation: store.OpUpload,
		Path: "/done.bin", Bytes: 5, FileSize: 5, UsageBytes: 5, UsageFiles: 1,
		StagingPath: "/" + vfs.StagingDir + "/gone", StartedAt: crashed}
	write(vfs.StagingDir+"/waiting", "123")
	never := &store.Transfer{ID: uuidAt(crashed.Add(time.Second)), PartnerID: &acme.ID, Protocol: "ftp",
		Operation: store.OpUpload, Path: "/never.bin", Bytes: 3, FileSize: 3, UsageBytes: 3, UsageFiles: 1,
		StagingPath: "/" + vfs.StagingDir + "/waiting", StartedAt: crashed}
	for _, tr := range []*store.Transfer{done, never} {
		if err := st.BeginUpload(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}

	n := newNode(t, "noftp", bin, dir, "FERRY_FTP_ADDR=", "FERRY_FTPS_ADDR=")
	n.start()
	n.waitHealthy()
	testenv.Eventually(t, 30*time.Second, func() error {
		rows, err := st.CommittingUploads(ctx)
		if err != nil {
			return err
		}
		if len(rows) > 0 {
			return fmt.Errorf("%d uploads still committing", len(rows))
		}
		return nil
	})
	if got, err := st.TransferByID(ctx, done.ID); err != nil || got.Status != store.StatusOK || got.FinishedAt == nil {
		t.Fatalf("published upload after recovery: %+v %v", got, err)
	}
	if got, err := st.TransferByID(ctx, never.ID); err != nil || got.Status != store.StatusFailed {
		t.Fatalf("unpublished upload after recovery: %+v %v", got, err)
	}
	if p, err := st.PartnerBySlug(ctx, "acme"); err != nil || p.UsedBytes != 5 || p.UsedFiles != 1 {
		t.Fatalf("usage after recovery: %+v %v, want 5 bytes in 1 file", p, err)
	}
	if _, err := os.Stat(filepath.Join(tree, filepath.FromSlash(vfs.PartialPath("/never.bin")))); err != nil {
		t.Fatalf("the unpublished upload's data was not kept for a resume: %v", err)
	}
	alerts, err := st.ListNotifications(ctx, store.NotificationFilter{PartnerID: acme.ID, Kind: store.NotifyKindUpload})
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || !strings.Contains(alerts[0].Payload, done.ID) {
		t.Fatalf("upload alerts after recovery: %+v, want one for %s", alerts, done.ID)
	}
	if err := n.stop(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("stop: %v\n%s", err, n.logs())
	}
	if !strings.Contains(n.logs(), "recovered interrupted upload commits") {
		t.Errorf("no recovery line in the log:\n%s", n.logs())
	}
}

// blockingRevalidator is a mail server whose session check is in the
// middle of its work when housekeeping stops, and does not look at its
// context: stop must wait for it.
type blockingRevalidator struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *blockingRevalidator) RevalidateSessions(context.Context) (int, error) {
	b.once.Do(func() { close(b.entered) })
	<-b.release
	return 0, nil
}

// stop returns only when every loop has: a loop busy when housekeeping
// stops holds stop until it is done, and nothing of housekeeping runs
// after.
func TestHousekeepingStopWaitsForLoops(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // after the store is closed
	dir := t.TempDir()
	st, err := store.Open(context.Background(), "", store.Options{SQLitePath: filepath.Join(dir, "ferry.db"), Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := config.Default()
	cfg.DataDir = dir
	d := &deps{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil)), store: st,
		partners: &partners.Service{Store: st, FilesDir: cfg.FilesDir()}, guard: &bans.Guard{Store: st}}
	d.outbox = newOutbox(d)
	busy := &blockingRevalidator{entered: make(chan struct{}), release: make(chan struct{})}
	d.mailSessions = []sessionRevalidator{busy}

	h := newHousekeeping(d, nil)
	h.revalidateEvery = time.Millisecond
	h.start(context.Background())
	select {
	case <-busy.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the revalidation loop never ran")
	}
	stopped := make(chan struct{})
	go func() { h.stop(); close(stopped) }()
	// stop has cancelled the loops' context: the idle loops return, the
	// busy one cannot, and stop waits for it.
	testenv.Eventually(t, 30*time.Second, func() error {
		stacks := goroutineStacks()
		for _, fn := range []string{".(*housekeeping).maintain", ".(*housekeeping).sweepMail"} {
			if strings.Contains(stacks, fn) {
				return fmt.Errorf("%s still runs", fn)
			}
		}
		return nil
	})
	select {
	case <-stopped:
		t.Fatal("stop returned while a loop was still running")
	default:
	}
	close(busy.release)
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("stop did not return after the loop finished")
	}
	stacks := goroutineStacks()
	for _, fn := range housekeepingLoops {
		if strings.Contains(stacks, fn) {
			t.Errorf("%s still runs after stop returned", fn)
		}
	}
}

// With FERRY_AUDIT_RETENTION set, the maintenance pass deletes the audit
// rows older than it and keeps the rest; at 0 (the default) it keeps all.
// FERRY_NOTIFICATION_RETENTION does the same for sent and dead
// notifications, never for pending ones.
func TestMaintenanceAppliesAuditRetention(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, "", store.Options{SQLitePath: filepath.Join(dir, "ferry.db"), Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	rows := []*store.Transfer{
		{Operation: store.OpLogin, Status: store.StatusOK, Protocol: "ftp", StartedAt: now.Add(-100 * 24 * time.Hour)},
		{Operation: store.OpDownload, Status: store.StatusOK, Protocol: "ftp", StartedAt: now.Add(-91 * 24 * time.Hour)},
		{Operation: store.OpDownload, Status: store.StatusOK, Protocol: "ftp", StartedAt: now.Add(-89 * 24 * time.Hour)},
		{Operation: store.OpLogin, Status: store.StatusOK, Protocol: "ftp", StartedAt: now},
	}
	if err := st.RecordTransfers(ctx, rows, nil); err != nil {
		t.Fatal(err)
	}
	p := &store.Partner{Slug: "acme", Name: "Acme"}
	if err := st.CreatePartner(ctx, p); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", filepath.Join(dir, "ferry.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, n := range []struct {
		age    time.Duration
		status string
	}{{40 * 24 * time.Hour, store.NotifySent}, {40 * 24 * time.Hour, store.NotifyDead}, {40 * 24 * time.Hour, store.NotifyPending},
		{time.Hour, store.NotifySent}} {
		at := now.Add(-n.age)
		row := &store.Notification{ID: store.NewIDAt(at), PartnerID: p.ID, Kind: store.NotifyKindUpload, Payload: "{}", CreatedAt: at}
		row.MessageID = row.ID + "@test"
		if err := st.InsertNotification(ctx, row); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec("UPDATE notifications SET status = ? WHERE id = ?", n.status, row.ID); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int64 {
		t.Helper()
		n, err := st.CountTransfers(ctx, store.TransferFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	notifications := func() int64 {
		t.Helper()
		n, err := st.CountNotifications(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n[store.NotifySent] + n[store.NotifyDead] + n[store.NotifyPending]
	}
	for _, c := range []struct {
		retention, notify time.Duration
		left, notes       int64
	}{{0, 0, 4, 4}, {90 * 24 * time.Hour, 0, 2, 4}, {0, 30 * 24 * time.Hour, 2, 2}} {
		cfg := config.Default()
		cfg.DataDir = dir
		cfg.AuditRetention = c.retention
		cfg.NotificationRetention = c.notify
		d := &deps{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil)), store: st,
			partners: &partners.Service{Store: st, FilesDir: cfg.FilesDir()}, guard: &bans.Guard{Store: st}}
		d.outbox = newOutbox(d)
		newHousekeeping(d, nil).maintainOnce(ctx)
		if n := count(); n != c.left {
			t.Fatalf("retention %v: %d audit rows left, want %d", c.retention, n, c.left)
		}
		if n := notifications(); n != c.notes {
			t.Fatalf("notification retention %v: %d notifications left, want %d (the pending and the recent one)", c.notify, n, c.notes)
		}
	}
}
