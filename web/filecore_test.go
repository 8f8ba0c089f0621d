package web_test

import (
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// fileOp is one change to a partner's tree, done through either front end.
type fileOp struct {
	name string
	ftp  func(c *ftp.ServerConn) error
	web  func(c *client, slug string) resp
	// webStatus is the web's answer (FTP's is in the error ftp returns).
	webStatus int
	fails     bool
}

// auditView is what an audit row says about a file operation, leaving out
// who did it and how (account, protocol, address, times).
type auditView struct {
	Op, Path, Target, SHA256, Status, Error string
	Bytes, FileSize, UsageBytes, UsageFiles int64
}

type usage struct{ Bytes, Files int64 }

// TestFileOpsSameThroughFTPAndWeb does the same uploads, folder, renames
// and deletes, and two that fail, once over FTP (jlaffaye/ftp) and once
// through the web admin's forms, each on a partner of its own with a quota,
// and compares the partners' audit rows and usage after every step: they
// must be identical, because both front ends are adapters over the one file
// core (TestFrontEndsKeepNoFileRules checks there is no second copy).
func TestFileOpsSameThroughFTPAndWeb(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { testFileOpsSame(t, b) })
	}
}

func testFileOpsSame(t *testing.T, b storetest.Backend) {
	e := newEnv(t, b)
	ctx := context.Background()
	for _, slug := range []string{"viaftp", "viaweb"} {
		if _, err := e.svc.CreatePartner(ctx, partners.PartnerInput{Slug: slug, Enabled: true, QuotaBytes: 1 << 20, QuotaFiles: 100}); err != nil {
			t.Fatal(err)
		}
	}
	const pw = "correct horse battery"
	if _, _, err := e.svc.CreateAccount(ctx, partners.AccountInput{Partner: "viaftp", Username: "alice", Password: pw}); err != nil {
		t.Fatal(err)
	}
	fc, err := ftp.Dial(e.ftpAddr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Quit()
	if err := fc.Login("alice", pw); err != nil {
		t.Fatal(err)
	}
	wc := e.client()
	wc.signIn(e.admin)

	report := bytes.Repeat([]byte("ferry "), 1000)
	old := bytes.Repeat([]byte("o"), 100)
	inbox := bytes.Repeat([]byte("b"), 300)
	again := bytes.Repeat([]byte("d"), 400)
	upload := func(dir, name string, data []byte) fileOp {
		full := strings.TrimSuffix(dir, "/") + "/" + name
		return fileOp{name: "upload " + full, webStatus: http.StatusSeeOther,
			ftp: func(c *ftp.ServerConn) error { return c.Stor(full, bytes.NewReader(data)) },
			web: func(c *client, slug string) resp { return c.upload(slug, dir, name, data) }}
	}
	form := func(action string, status int, fields ...string) func(c *client, slug string) resp {
		return func(c *client, slug string) resp {
			v := url.Values{}
			for i := 0; i < len(fields); i += 2 {
				v.Set(fields[i], fields[i+1])
			}
			return c.post("/partners/"+slug+"/files", "/partners/"+slug+"/files/"+action, v)
		}
	}
	ops := []fileOp{
		upload("/", "report.csv", report),
		upload("/", "old.txt", old),
		{name: "mkdir /inbox", webStatus: http.StatusSeeOther,
			ftp: func(c *ftp.ServerConn) error { return c.MakeDir("/inbox") },
			web: form("mkdir", 0, "path", "/", "name", "inbox")},
		upload("/inbox", "b.txt", inbox),
		{name: "rename over a file", webStatus: http.StatusSeeOther,
			ftp: func(c *ftp.ServerConn) error { return c.Rename("/report.csv", "/old.txt") },
			web: form("rename", 0, "path", "/report.csv", "to", "/old.txt")},
		{name: "rename in a folder", webStatus: http.StatusSeeOther,
			ftp: func(c *ftp.ServerConn) error { return c.Rename("/inbox/b.txt", "/inbox/c.txt") },
			web: form("rename", 0, "path", "/inbox/b.txt", "to", "c.txt")},
		upload("/inbox", "c.txt", again), // replaces: only the difference counts
		{name: "delete", webStatus: http.StatusSeeOther,
			ftp: func(c *ftp.ServerConn) error { return c.Delete("/old.txt") },
			web: form("delete", 0, "path", "/old.txt")},
		{name: "delete a missing file", webStatus: http.StatusNotFound, fails: true,
			ftp: func(c *ftp.ServerConn) error { return c.Delete("/nope.txt") },
			web: form("delete", 0, "path", "/nope.txt")},
		{name: "mkdir an existing folder", webStatus: http.StatusConflict, fails: true,
			ftp: func(c *ftp.ServerConn) error { return c.MakeDir("/inbox") },
			web: form("mkdir", 0, "path", "/", "name", "inbox")},
	}
	for _, op := range ops {
		ftpErr := op.ftp(fc)
		if (ftpErr != nil) != op.fails {
			t.Fatalf("%s over FTP: %v", op.name, ftpErr)
		}
		r := op.web(wc, "viaweb")
		if r.status != op.webStatus {
			t.Fatalf("%s through the web: %d\n%s", op.name, r.status, r.body)
		}
		// Usage is exact once each front end has answered and written its
		// rows: the web at once, FTP in the background (a delete's refund
		// goes with its audit row, within the writer's linger).
		deadline := time.Now().Add(5 * time.Second)
		for {
			f, w := usageOf(t, e, "viaftp"), usageOf(t, e, "viaweb")
			if f == w {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %s: usage over FTP %+v, through the web %+v", op.name, f, w)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if u := usageOf(t, e, "viaweb"); u != (usage{Bytes: int64(len(again)), Files: 1}) {
		t.Errorf("usage at the end: %+v, want %d bytes in 1 file", u, len(again))
	}

	// FTP's rows of changes are written in the background: wait for all.
	var viaFTP, viaWeb []auditView
	testenv.Eventually(t, 5*time.Second, func() error {
		viaFTP, viaWeb = auditOf(t, e, "viaftp"), auditOf(t, e, "viaweb")
		if len(viaFTP) != len(ops) || len(viaWeb) != len(ops) {
			return fmt.Errorf("%d rows over FTP, %d through the web, want %d each", len(viaFTP), len(viaWeb), len(ops))
		}
		return nil
	})
	for i := range ops {
		if viaFTP[i] != viaWeb[i] {
			t.Errorf("%s: row over FTP\n  %+v\nthrough the web\n  %+v", ops[i].name, viaFTP[i], viaWeb[i])
		}
	}
	for i, want := range []auditView{
		{Op: store.OpUpload, Path: "/report.csv", Status: store.StatusOK, Bytes: 6000, FileSize: 6000, UsageBytes: 6000, UsageFiles: 1},
		{Op: store.OpUpload, Path: "/old.txt", Status: store.StatusOK, Bytes: 100, FileSize: 100, UsageBytes: 100, UsageFiles: 1},
		{Op: store.OpMkdir, Path: "/inbox", Status: store.StatusOK},
		{Op: store.OpUpload, Path: "/inbox/b.txt", Status: store.StatusOK, Bytes: 300, FileSize: 300, UsageBytes: 300, UsageFiles: 1},
		{Op: store.OpRename, Path: "/report.csv", Target: "/old.txt", Status: store.StatusOK, UsageBytes: -100, UsageFiles: -1},
		{Op: store.OpRename, Path: "/inbox/b.txt", Target: "/inbox/c.txt", Status: store.StatusOK},
		{Op: store.OpUpload, Path: "/inbox/c.txt", Status: store.StatusOK, Bytes: 400, FileSize: 400, UsageBytes: 100},
		{Op: store.OpDelete, Path: "/old.txt", Status: store.StatusOK, Bytes: 6000, UsageBytes: -6000, UsageFiles: -1},
		{Op: store.OpDelete, Path: "/nope.txt", Status: store.StatusFailed},
		{Op: store.OpMkdir, Path: "/inbox", Status: store.StatusFailed},
	} {
		got := viaWeb[i]
		got.SHA256, got.Error = "", ""
		if got != want {
			t.Errorf("row %d (%s): %+v, want %+v", i, ops[i].name, got, want)
		}
	}
	for _, fails := range []int{8, 9} {
		if viaWeb[fails].Error == "" {
			t.Errorf("%s: failed row without its error", ops[fails].name)
		}
	}
}

func usageOf(t *testing.T, e *env, slug string) usage {
	t.Helper()
	p := mustPartner(t, e, slug)
	return usage{p.UsedBytes, p.UsedFiles}
}

// auditOf is a partner's file-change rows, oldest first.
func auditOf(t *testing.T, e *env, slug string) []auditView {
	t.Helper()
	rows, err := e.st.ListTransfers(context.Background(), store.TransferFilter{PartnerID: mustPartner(t, e, slug).ID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []auditView
	for _, r := range slices.Backward(rows) {
		if r.Operation == store.OpLogin || r.Operation == store.OpDownload {
			continue
		}
		out = append(out, auditView{Op: r.Operation, Path: r.Path, Target: r.TargetPath, SHA256: r.SHA256, Status: r.Status,
			Error: r.Error, Bytes: r.Bytes, FileSize: r.FileSize, UsageBytes: r.UsageBytes, UsageFiles: r.UsageFiles})
	}
	return out
}

// upload posts data as the file name to the folder dir of the partner's
// file page, as a browser sends the page's upload form.
func (c *client) upload(slug, dir, name string, data []byte) resp {
	c.t.Helper()
	page := c.get("/partners/" + slug + "/files?path=" + url.QueryEscape(dir))
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("csrf", csrfOf(c.t, page.body))
	_ = mw.WriteField("path", dir)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		c.t.Fatal(err)
	}
	_, _ = fw.Write(data)
	_ = mw.Close()
	req, err := http.NewRequest(http.MethodPost, c.e.base+"/partners/"+slug+"/files/upload", &body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(res.Body)
	return resp{status: res.StatusCode, body: out.String(), header: res.Header}
}

// TestFrontEndsKeepNoFileRules: neither the FTP driver nor the web admin
// charges or refunds quota, writes an audit row of a file operation,
// publishes an upload or composes the tree's stack itself; those live in
// package files only, so the rows above come from one code path.
func TestFrontEndsKeepNoFileRules(t *testing.T) {
	rules := []string{"AddUsage", "RecordTransfer", "RecordTransfers", "BeginUpload", "FinishUpload", "AbortUpload",
		"CommittingUploads", "OpenRoot", "NewAtomic", "NewQuota", "NewJail", "NewPerms", "SweepStaging", "StagedUsage",
		"IsPartial", "StagingDir"}
	for _, dir := range []string{".", "../ftpd"} {
		names, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok && slices.Contains(rules, sel.Sel.Name) {
					t.Errorf("%s: %s is the file core's (package files)", fset.Position(sel.Pos()), sel.Sel.Name)
				}
				return true
			})
		}
	}
}
