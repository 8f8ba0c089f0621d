// Package files is Ferry's file core: the one place where the rules of a
// partner's file tree live, whatever front end asked. A front end (the FTP
// driver, the web admin's file pages, later the partner portal) opens a
// partner's tree for a principal and gets the composed afero stack
//
//	Perms(Jail(Quota(Atomic(Root))))
//
// together with the operations on it. The core decides what an upload,
// delete, rename or mkdir does to the partner's quota and which audit row
// it writes; it publishes uploads in two phases (quota reservation and the
// "committing" record, the rename into place, the record moved into the
// audit log with the upload hook that queues alerts, in one transaction),
// recovers publishes a crash interrupted (Recover) and deletes interrupted
// uploads past their retention (Sweep). Front ends keep only what is
// theirs: replies, their log lines, their own checks of the protocol.
package files

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"time"

	"github.com/spf13/afero"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/vfs"
)

// UploadHook runs inside the transaction that marks an upload done, so
// whatever it writes (the notification outbox) commits with it or not at all.
type UploadHook func(ctx context.Context, tx *store.Store, t *store.Transfer) error

// FileHook runs in the transaction that writes audit rows (in the
// background, many at a time: see store.AuditWriter), with those rows; it
// picks the finished downloads and deletes among them. Webhooks hear of
// them through it, so an event commits with the row it reports, and no
// reply waits for it. An error is logged.
type FileHook func(ctx context.Context, tx *store.Store, rows []*store.Transfer) error

// Service opens partners' trees. The zero value of each optional field is
// useful.
type Service struct {
	// Store records audit rows and keeps usage; nil records nothing and
	// enforces no quota (the file behaviour alone).
	Store *store.Store
	// FilesDir holds one folder per partner, named by its slug.
	FilesDir string
	// OnUpload runs in the transaction that completes each upload.
	OnUpload UploadHook
	// OnFile is told of each successful download and delete, with their
	// audit rows; nil: nobody. A started Rows writer must have it as its
	// OnWrite (see Writer).
	OnFile FileHook
	// NoSync publishes uploads without waiting for the disk (see
	// vfs.Atomic.NoSync).
	NoSync bool
	// Rows writes the audit rows of operations that commit with nothing
	// else (downloads, deletes, renames, folders, failed uploads) in the
	// background; nil writes each at once.
	Rows *store.AuditWriter
	// Logger gets what the core cannot hand back to a caller (a publish
	// whose last phase recovery will complete).
	Logger *slog.Logger
	// Keys applies each partner's encrypt_uploads and verify_uploads
	// (mailsec.Registry); nil: files are stored as uploaded, unchecked.
	Keys UploadKeys
}

// Principal is who works on a tree.
type Principal struct {
	PartnerID   string
	PartnerSlug string
	AccountID   string // "" for an administrator
	Username    string // as the audit log shows it
	Protocol    string // as audit rows name the front end: "ftp", "ftps", "web"
	// ProtocolNow, if set, is asked for the protocol at each row instead
	// (an FTP session can turn to TLS after its login).
	ProtocolNow func() string
	RemoteAddr  string
	// HomeDir confines the principal to a folder of the tree ("" or "/":
	// all of it); Open creates it.
	HomeDir string
	// Perms is what the principal may do (partners.Perm for an account).
	Perms vfs.Allowed
}

// PartnerDir is the folder of a partner's tree.
func (s *Service) PartnerDir(slug string) string { return filepath.Join(s.FilesDir, slug) }

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Tree is a partner's tree opened for one principal: its afero stack and
// the operations whose rules the core owns. It is safe for concurrent use
// by one front end session.
type Tree struct {
	svc  *Service
	who  Principal
	home string
	ctx  context.Context
	root *vfs.Root
	fs   afero.Fs
	lim  *partnerLimits // nil without a store
	// plain is the partner seen without file protection (encrypt_uploads,
	// verify_uploads) a moment ago: a burst of uploads reads the partner
	// row once, not before every publish.
	plain recently

	// Published, if set, is called when an upload has become visible, before
	// its row is marked done (the front end's log line).
	Published func(*store.Transfer)
}

// Open opens the tree of who's partner. ctx bounds the tree's use (the
// session or request); Close releases it.
func (s *Service) Open(ctx context.Context, who Principal) (*Tree, error) {
	root, err := vfs.OpenRoot(s.PartnerDir(who.PartnerSlug))
	if err != nil {
		return nil, fmt.Errorf("open partner tree: %w", err)
	}
	home := path.Clean("/" + who.HomeDir)
	if err := root.MkdirAll(home, 0o750); err != nil {
		root.Close()
		return nil, fmt.Errorf("create home folder %s: %w", home, err)
	}
	t := &Tree{svc: s, who: who, home: home, ctx: ctx, root: root}
	atomic := vfs.NewAtomic(ctx, root, committer{t})
	atomic.NoSync = s.NoSync
	var fs afero.Fs = atomic
	if s.Store != nil {
		t.lim = &partnerLimits{store: s.Store, rows: s.Rows, partnerID: who.PartnerID}
		fs = vfs.NewQuota(ctx, fs, t.lim)
	}
	t.fs = vfs.NewPerms(vfs.NewJail(fs, home), who.Perms)
	return t, nil
}

// Fs is the principal's view of the tree: names are relative to its home,
// permissions, quota and atomic uploads apply. Writing through it directly
// is what Record and Finished are for; the changes with their own rules
// (delete, rename, folders) go through the Tree's methods.
func (t *Tree) Fs() afero.Fs { return t.fs }

// Close releases the tree.
func (t *Tree) Close() error { return t.root.Close() }

// TreePath maps a principal's name to the path in the partner's tree (the
// path audit rows carry).
func (t *Tree) TreePath(name string) string { return path.Join("/", t.home, path.Clean("/"+name)) }

// Record starts the audit row of an operation on name (as the principal
// names it).
func (t *Tree) Record(op, name string) *store.Transfer { return t.record(op, t.TreePath(name)) }

func (t *Tree) record(op, treePath string) *store.Transfer {
	proto := t.who.Protocol
	if t.who.ProtocolNow != nil {
		proto = t.who.ProtocolNow()
	}
	return &store.Transfer{
		Protocol: proto, Operation: op, RemoteAddr: t.who.RemoteAddr, StartedAt: time.Now().UTC(),
		Path: treePath, PartnerID: store.StrPtr(t.who.PartnerID), AccountID: store.StrPtr(t.who.AccountID),
		Username: t.who.Username,
	}
}

// Audit finishes row with err and writes it (in the background when the
// service has a started writer); failures to write are logged, not fatal.
func (t *Tree) Audit(row *store.Transfer, err error) { t.svc.Audit(row, err) }

// Audit finishes row with err and writes it: see Tree.Audit. Front ends
// use it for the rows of what is no file operation (logins).
func (s *Service) Audit(row *store.Transfer, err error) {
	if s.Store == nil {
		return
	}
	row.Finish(time.Now().UTC(), err)
	rows := s.Rows
	if rows == nil {
		rows = s.Writer() // not started: writes at once
	}
	rows.Add(row)
}

// Writer is an audit writer for this service's rows, with OnFile as its
// OnWrite: a front end starts it, and sets it as Rows, to write them in the
// background.
func (s *Service) Writer() *store.AuditWriter {
	w := &store.AuditWriter{Store: s.Store, Logger: s.logger()}
	if s.OnFile != nil {
		w.OnWrite = s.OnFile
	}
	return w
}

// Finished records the end of a transfer whose row Record started: a
// download always, an upload only when it failed (a complete upload is
// recorded when it is published). n is the bytes moved.
func (t *Tree) Finished(row *store.Transfer, n int64, err error) {
	row.Bytes = n
	if row.Operation == store.OpUpload && err == nil {
		return
	}
	t.Audit(row, err)
}

// waitUsage waits until the usage changes of the partner's deletes still
// queued in the background writer are in the database, before the
// counters are read to decide (see store.AuditWriter.WaitUsage). A partner
// without a quota has nothing to decide.
func (t *Tree) waitUsage(ctx context.Context) error {
	if t.lim == nil || t.lim.none() {
		return nil
	}
	return t.lim.wait(ctx)
}
