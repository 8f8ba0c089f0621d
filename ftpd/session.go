package ftpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
	"golang.org/x/sys/unix"

	"github.com/ferryhq/ferry/files"
	"github.com/ferryhq/ferry/ftpd/repr"
	"github.com/ferryhq/ferry/internal/stack"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/vfs"
)

// session is Ferry's state for one control connection.
type session struct {
	kicked atomic.Bool // closed by Kick, KickAccount, revalidation or shutdown

	cc   ftpserver.ClientContext
	conn net.Conn // the control connection's socket
	// ctl is the control layer's connection in front of the engine; nil
	// only when the engine serves the socket itself (bareEngine).
	ctl       *controlConn
	started   time.Time
	ctx       context.Context // ends with the connection
	cancel    context.CancelFunc
	transfers atomic.Int64
	bytes     atomic.Int64

	mu      sync.Mutex
	login   *partners.Login
	tree    *files.Tree
	current string
	// rnfr is the outcome of the session's last RNFR: the engine keeps
	// the source of an earlier, successful RNFR after a failed one.
	rnfr rnfrState
}

type rnfrState struct {
	name string // the name RNFR was given (engine path)
	ok   bool
}

func (s *session) setLogin(l *partners.Login, tree *files.Tree) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.login, s.tree = l, tree
}

// renamePending reports whether the last RNFR named an existing file that
// no RNTO has used yet.
func (s *session) renamePending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rnfr.ok
}

func (s *session) loginInfo() *partners.Login {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.login
}

func (s *session) setCurrent(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current = name
}

// controlTLS reports whether the control connection is protected by TLS.
// The control layer terminates TLS, so the engine's HasTLSForControl is
// false on an AUTH TLS connection: the layer's state is the one that counts.
func (s *session) controlTLS() bool {
	if s.ctl != nil {
		return s.ctl.tls.Load()
	}
	return s.cc.HasTLSForControl()
}

// busy reports whether the session is in the middle of something Shutdown
// lets it finish: a transfer, or a command (a finished transfer's included)
// whose final reply has not reached the client yet.
func (s *session) busy() bool {
	if s.transfers.Load() > 0 {
		return true
	}
	return s.ctl != nil && s.ctl.answering()
}

// kick ends the session from outside by closing its connection; the
// engine then ends the session on its own goroutine. It reports whether
// this call kicked it: a session is kicked once, and is no longer listed
// from then on.
func (s *session) kick() bool {
	if !s.kicked.CompareAndSwap(false, true) {
		return false
	}
	if s.conn != nil {
		_ = s.conn.Close()
		return true
	}
	_ = s.cc.Close()
	return true
}

func (s *session) close() {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tree != nil {
		s.tree.Close()
		s.tree = nil
	}
}

func (s *session) info() SessionInfo {
	i := SessionInfo{ID: s.cc.ID(), RemoteAddr: s.cc.RemoteAddr().String(), Started: s.started,
		TLS: s.controlTLS(), Transfers: s.transfers.Load(), Bytes: s.bytes.Load()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.login != nil {
		i.Username, i.PartnerSlug, i.AccountID = s.login.Username, s.login.PartnerSlug, s.login.AccountID
	}
	i.Current = s.current
	return i
}

// clientDriver is the afero.Fs ftpserverlib drives for a logged-in session,
// plus the engine's optional extensions: an adapter over the session's
// tree in the file core, which records every change to the tree in the
// audit log and keeps the partner's usage exact. What stays here is FTP's:
// replies, RNFR/RNTO and REST bookkeeping, the data protection policy.
type clientDriver struct {
	afero.Fs // tree.Fs()
	tree     *files.Tree
	sess     *session
	srv      *Server
}

var (
	_ ftpserver.ClientDriver                        = (*clientDriver)(nil)
	_ ftpserver.ClientDriverExtentionFileTransfer   = (*clientDriver)(nil)
	_ ftpserver.ClientDriverExtensionAvailableSpace = (*clientDriver)(nil)
	_ ftpserver.ClientDriverExtensionRemoveDir      = (*clientDriver)(nil)
	_ ftpserver.ClientDriverExtensionFileList       = (*clientDriver)(nil)
)

// safe is what every error returned to the engine goes through.
func (c *clientDriver) safe(op string, err error) error { return c.srv.partnerError(c.sess, op, err) }

// GetHandle opens a file for RETR, STOR, APPE and resumed transfers.
func (c *clientDriver) GetHandle(name string, flags int, offset int64) (ftpserver.FileTransfer, error) {
	write := flags&(os.O_WRONLY|os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_TRUNC) != 0
	op := store.OpDownload
	if write {
		op = store.OpUpload
		// The engine's goroutine for this transfer is new; the publish
		// goes deep into the store.
		stack.Grow()
	}
	if c.sess.ctl != nil {
		if req := c.sess.ctl.takeListing(name); req != nil && !write {
			return c.listing(req, path.Dir(name))
		}
	}
	row := c.tree.Record(op, name)
	err := c.checkProtection()
	if err == nil {
		err = c.checkRestart(name, write, offset)
	}
	var f afero.File
	if err == nil {
		f, err = c.Fs.OpenFile(name, flags, 0o640)
	}
	if err == nil && !write {
		// A folder opens for reading; refuse it before the engine's 150.
		if fi, serr := f.Stat(); serr == nil && fi.IsDir() {
			f.Close()
			err = &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
		}
	}
	if err != nil {
		if write {
			c.tree.Finished(row, 0, err)
		}
		err = c.safe(op, err)
		if errors.Is(err, vfs.ErrInvalidOffset) && c.sess.ctl != nil {
			// RFC 3659 5.3: a REST that cannot be honoured gets 554 at
			// the transfer (the engine would answer 550).
			c.sess.ctl.failTransfer(554, err.Error())
		}
		return nil, err
	}
	c.sess.transfers.Add(1)
	c.sess.setCurrent(row.Path)
	t := &transferFile{File: f, tree: c.tree, sess: c.sess, srv: c.srv, row: row, write: write}
	if c.sess.ctl != nil {
		// The engine sends and stores bytes as they are; the session's
		// representation is converted here, between the engine's copy
		// and the file (staging, quota and publish stay underneath).
		if r := c.sess.ctl.representation(); !r.IsIdentity() {
			t.rep = &r
		}
	}
	return t, nil
}

// errProtRequired refuses a transfer of an account that requires TLS when
// the client did not ask for protected data connections. The engine
// answers PROT itself (200 for any level, C, S, E and X alike; only P
// turns on TLS for data) and offers no hook there; without this check it
// refuses the transfer later with "421 unable to open transfer", which
// clients take for the server closing the session.
var errProtRequired = &replyError{msg: "This account requires protected data connections: send PBSZ 0 and PROT P"}

// checkProtection applies the account's TLS policy to a data transfer.
func (c *clientDriver) checkProtection() error {
	if l := c.sess.loginInfo(); l != nil && l.TLSRequired && !c.sess.cc.HasTLSForTransfers() {
		return errProtRequired
	}
	return nil
}

// checkRestart refuses a restart position (REST) outside the data a
// transfer can start from: the file, or for an upload the file or its
// interrupted upload (0 when there is none). The engine accepts any integer
// at REST; refused here, nothing is opened, published or recorded as done.
func (c *clientDriver) checkRestart(name string, write bool, offset int64) error {
	if offset == 0 {
		return nil
	}
	var size int64
	fi, err := c.Fs.Stat(name)
	switch {
	case err == nil && fi.IsDir():
		return &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	case err == nil:
		size = fi.Size()
	case !write || !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if offset < 0 || offset > size {
		return fmt.Errorf("restart at %d of %d bytes: %w", offset, size, vfs.ErrInvalidOffset)
	}
	return nil
}

// Remove deletes a file (DELE) and gives its space back to the quota.
func (c *clientDriver) Remove(name string) error {
	err := c.tree.Remove(name)
	if errors.Is(err, files.ErrIsFolder) {
		return &replyError{msg: "Is a folder: use RMD", cause: syscall.EISDIR}
	}
	return c.safe("delete", err)
}

// RemoveDir removes an empty folder (RMD).
func (c *clientDriver) RemoveDir(name string) error { return c.safe("rmdir", c.tree.RemoveDir(name)) }

// Mkdir creates a folder (MKD).
func (c *clientDriver) Mkdir(name string, perm os.FileMode) error {
	return c.safe("mkdir", c.tree.Mkdir(name, perm))
}

// errNoRename answers RNTO when the RNFR before it failed. The control
// layer answers such an RNTO with 503 before the engine sees it (see
// controlConn.cmdRNTO); this is the driver's own guard, since the engine
// keeps the source of an earlier RNFR: it never renames a file the client
// did not name last.
var errNoRename = &replyError{msg: "No file to rename: the last RNFR failed; send RNFR again"}

// Rename moves a file or folder (RNFR/RNTO); a replaced file's space is
// given back.
func (c *clientDriver) Rename(from, to string) error {
	if c.sess.cc.GetLastCommand() == "RNTO" {
		c.sess.mu.Lock()
		last := c.sess.rnfr
		c.sess.rnfr = rnfrState{}
		c.sess.mu.Unlock()
		if !last.ok || last.name != from {
			return errNoRename
		}
	}
	return c.safe("rename", c.tree.Rename(from, to))
}

// Stat describes a file or folder. It notes the outcome of RNFR for the
// RNTO that follows, and answers STAT of a folder (see statListing).
func (c *clientDriver) Stat(name string) (os.FileInfo, error) {
	fi, err := c.Fs.Stat(name)
	switch c.sess.cc.GetLastCommand() {
	case "RNFR":
		c.sess.mu.Lock()
		c.sess.rnfr = rnfrState{name: name, ok: err == nil}
		c.sess.mu.Unlock()
	case "STAT":
		if err == nil && fi.IsDir() {
			if infos, lerr := vfs.ReadDir(c.Fs, name); lerr == nil {
				return &statListing{FileInfo: fi, entries: infos, now: c.sess.started}, nil
			}
		}
	}
	return fi, c.safe("stat", err)
}

// ReadDir lists a folder (LIST, NLST, MLSD, STAT): symlinks appear as
// their targets, or not at all (vfs.ReadDir).
func (c *clientDriver) ReadDir(name string) ([]os.FileInfo, error) {
	if c.sess.cc.GetLastCommand() != "STAT" { // STAT answers on the control connection
		if err := c.checkProtection(); err != nil {
			return nil, err
		}
	}
	infos, err := vfs.ReadDir(c.Fs, name)
	return infos, c.safe("list", err)
}

// The other afero.Fs methods, so that no error reaches the engine unmapped.

// Open implements afero.Fs.
func (c *clientDriver) Open(name string) (afero.File, error) {
	f, err := c.Fs.Open(name)
	return f, c.safe("open", err)
}

// OpenFile implements afero.Fs.
func (c *clientDriver) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	f, err := c.Fs.OpenFile(name, flag, perm)
	return f, c.safe("open", err)
}

// Create implements afero.Fs.
func (c *clientDriver) Create(name string) (afero.File, error) {
	f, err := c.Fs.Create(name)
	return f, c.safe("create", err)
}

// MkdirAll implements afero.Fs.
func (c *clientDriver) MkdirAll(name string, perm os.FileMode) error {
	return c.safe("mkdir", c.Fs.MkdirAll(name, perm))
}

// RemoveAll implements afero.Fs.
func (c *clientDriver) RemoveAll(name string) error { return c.safe("remove", c.Fs.RemoveAll(name)) }

// Chmod implements afero.Fs (SITE CHMOD).
func (c *clientDriver) Chmod(name string, mode os.FileMode) error {
	return c.safe("chmod", c.Fs.Chmod(name, mode))
}

// Chown implements afero.Fs (SITE CHOWN).
func (c *clientDriver) Chown(name string, uid, gid int) error {
	return c.safe("chown", c.Fs.Chown(name, uid, gid))
}

// Chtimes implements afero.Fs (MFMT).
func (c *clientDriver) Chtimes(name string, atime, mtime time.Time) error {
	return c.safe("chtimes", c.Fs.Chtimes(name, atime, mtime))
}

// GetAvailableSpace answers AVBL with what the partner's byte quota leaves
// free (interrupted uploads kept for a resume count as used, as they do
// for uploads). Without a quota it is refused, unless the operator lets
// Ferry report the data volume's free space (AVBLDiskSpace): that figure
// describes the server's disk, not anything the partner was given.
func (c *clientDriver) GetAvailableSpace(string) (int64, error) {
	free, err := c.availableSpace()
	return free, c.safe("avbl", err)
}

func (c *clientDriver) availableSpace() (int64, error) {
	free, limited, err := c.tree.Free()
	if err != nil || limited {
		return free, err
	}
	if !c.srv.AVBLDiskSpace {
		return 0, errNoQuota
	}
	var st unix.Statfs_t
	if err := unix.Statfs(c.srv.FilesDir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil //nolint:unconvert // field types differ by OS
}

// transferFile is the engine's handle on one transfer. It counts running
// transfers for graceful shutdown, finishes the transfer's audit row in the
// file core (which records downloads and failed uploads; complete uploads
// are recorded when it publishes them), and lets io.Copy reach the *os.File
// underneath a download, so downloads keep sendfile.
type transferFile struct {
	afero.File
	tree  *files.Tree
	sess  *session
	srv   *Server
	row   *store.Transfer
	write bool
	// rep is the representation the transfer converts, nil for the
	// identity (TYPE I or L 8, STRU F, MODE S): the file's bytes as they
	// are, with sendfile and splice.
	rep    *repr.Representation
	n      int64
	failed error
	closed atomic.Bool
	// The last failure mapped for the engine and its reply: the same
	// failure coming back (Close after a failed Write) is not logged twice.
	reported error
	reply    *replyError
}

// copyBuffer is big enough for a copy loop to keep up with a fast network
// (pure-ftpd, the fastest peer at storing, reads uploads 512 KiB at a
// time).
const copyBuffer = 512 << 10

// copy is io.CopyBuffer with a buffer of the server's pool: a transfer of
// a small file does not allocate half a megabyte.
func (s *Server) copy(dst io.Writer, src io.Reader) (int64, error) {
	buf, _ := s.bufs.Get().(*[]byte)
	if buf == nil {
		b := make([]byte, copyBuffer)
		buf = &b
	}
	defer s.bufs.Put(buf)
	return io.CopyBuffer(dst, src, *buf)
}

func (t *transferFile) WriteTo(w io.Writer) (int64, error) {
	if t.rep != nil {
		return t.convertDownload(w)
	}
	var (
		n   int64
		err error
	)
	if wt, ok := t.File.(io.WriterTo); ok {
		n, err = wt.WriteTo(w)
	} else {
		n, err = t.srv.copy(w, onlyReader{t.File})
	}
	t.n += n
	t.sess.bytes.Add(n)
	return n, t.safe(err)
}

// safe maps an error of the transfer for the engine (see partnerError),
// logging each distinct failure once.
func (t *transferFile) safe(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	if t.reported != nil && errors.Is(err, t.reported) {
		return &replyError{msg: t.reply.Error(), code: t.reply.code, cause: err}
	}
	op := "download"
	if t.write {
		op = "upload"
	}
	re := t.srv.partnerError(t.sess, op, err)
	if r, ok := re.(*replyError); ok {
		t.reported, t.reply = err, r
	}
	return re
}

func (t *transferFile) ReadFrom(r io.Reader) (int64, error) {
	if t.rep != nil {
		return t.convertUpload(r)
	}
	var (
		n   int64
		err error
	)
	if rf, ok := t.File.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = t.srv.copy(onlyWriter{t.File}, r)
	}
	t.n += n
	t.sess.bytes.Add(n)
	return n, t.safe(err)
}

func (t *transferFile) Read(p []byte) (int, error) {
	n, err := t.File.Read(p)
	t.n += int64(n)
	t.sess.bytes.Add(int64(n))
	return n, t.safe(err)
}

func (t *transferFile) Write(p []byte) (int, error) {
	n, err := t.File.Write(p)
	t.n += int64(n)
	t.sess.bytes.Add(int64(n))
	return n, t.safe(err)
}

// Seek is the engine's REST (checked against the file in GetHandle).
func (t *transferFile) Seek(offset int64, whence int) (int64, error) {
	n, err := t.File.Seek(offset, whence)
	return n, t.safe(err)
}

// TransferError is called by the engine when the data connection broke.
func (t *transferFile) TransferError(err error) {
	t.failed = err
	if te, ok := t.File.(interface{ TransferError(error) }); ok {
		te.TransferError(err)
	}
}

func (t *transferFile) Close() error {
	err := t.File.Close()
	if !t.closed.CompareAndSwap(false, true) {
		return t.safe(err)
	}
	t.sess.transfers.Add(-1)
	if h := t.srv.transferClosed; h != nil {
		h()
	}
	t.sess.setCurrent("")
	if !t.write {
		t.row.Bytes = t.n
		if t.failed == nil && err == nil {
			t.sess.logTransfer(t.srv, t.row)
		}
		t.tree.Finished(t.row, t.n, t.failed)
		return t.safe(err)
	}
	if err == nil {
		err = t.failed
	}
	t.tree.Finished(t.row, t.n, err) // a complete upload was recorded when published
	return t.safe(err)
}

// convertDownload sends the file in the transfer's representation; it
// returns the bytes sent on the wire (t.n counts the file's).
func (t *transferFile) convertDownload(w io.Writer) (int64, error) {
	src, err := repr.NewDownload(fileReader{t}, *t.rep)
	if err != nil {
		return 0, t.safe(err)
	}
	n, err := t.srv.copy(w, onlyReader{src})
	return n, t.safe(err)
}

// convertUpload stores the wire data of the transfer's representation as
// the file's bytes. Data that does not decode (a malformed MODE B, C or Z
// stream, STRU R escapes, a stream cut before its end-of-file marker)
// fails the upload with the code repr gives it (451 or 426): the engine
// then reports the failure to the file (TransferError), so nothing is
// published.
func (t *transferFile) convertUpload(r io.Reader) (int64, error) {
	u, err := repr.NewUpload(fileWriter{t}, *t.rep)
	if err != nil {
		return 0, t.safe(err)
	}
	n, err := t.srv.copy(u, onlyReader{r})
	if cerr := u.Close(); err == nil {
		err = cerr
	}
	var fe *repr.FormatError
	if errors.As(err, &fe) {
		msg := fe.Error() + "; nothing was stored"
		t.srv.logger().Info("FTP upload refused: undecodable data", "session", t.sess.cc.ID(),
			"path", t.row.Path, "representation", t.rep.String(), "err", err)
		if t.sess.ctl != nil {
			t.sess.ctl.failTransfer(fe.Code(), msg)
		}
		re := &replyError{msg: msg, cause: err}
		t.reported, t.reply = err, re
		return n, re
	}
	return n, t.safe(err)
}

// fileReader and fileWriter are the file side of a converted transfer:
// they count the file's bytes.
type fileReader struct{ t *transferFile }

func (f fileReader) Read(p []byte) (int, error) {
	n, err := f.t.File.Read(p)
	f.t.n += int64(n)
	f.t.sess.bytes.Add(int64(n))
	return n, err
}

type fileWriter struct{ t *transferFile }

func (f fileWriter) Write(p []byte) (int, error) {
	n, err := f.t.File.Write(p)
	f.t.n += int64(n)
	f.t.sess.bytes.Add(int64(n))
	return n, err
}

type onlyReader struct{ io.Reader }
type onlyWriter struct{ io.Writer }
