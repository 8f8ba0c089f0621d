package ftpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
	"golang.org/x/sys/unix"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/vfs"
)

// session is Ferry's state for one control connection.
type session struct {
	cc        ftpserver.ClientContext
	conn      net.Conn // the control connection's socket
	started   time.Time
	ctx       context.Context // ends with the connection
	cancel    context.CancelFunc
	transfers atomic.Int64
	bytes     atomic.Int64

	mu      sync.Mutex
	login   *partners.Login
	root    *vfs.Root
	current string
}

func (s *session) setLogin(l *partners.Login, root *vfs.Root) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.login, s.root = l, root
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

// kick ends the session from outside by closing its socket.
func (s *session) kick() {
	if s.conn != nil {
		_ = s.conn.Close()
		return
	}
	_ = s.cc.Close()
}

func (s *session) close() {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.root != nil {
		s.root.Close()
		s.root = nil
	}
}

func (s *session) info() SessionInfo {
	i := SessionInfo{ID: s.cc.ID(), RemoteAddr: s.cc.RemoteAddr().String(), Started: s.started,
		TLS: s.cc.HasTLSForControl(), Transfers: s.transfers.Load(), Bytes: s.bytes.Load()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.login != nil {
		i.Username, i.PartnerSlug, i.AccountID = s.login.Username, s.login.PartnerSlug, s.login.AccountID
	}
	i.Current = s.current
	return i
}

// clientDriver is the afero.Fs ftpserverlib drives for a logged-in session,
// plus the engine's optional extensions. It records every change to the
// tree in the audit log and keeps the partner's usage exact.
type clientDriver struct {
	afero.Fs
	sess *session
	srv  *Server
}

var (
	_ ftpserver.ClientDriver                        = (*clientDriver)(nil)
	_ ftpserver.ClientDriverExtentionFileTransfer   = (*clientDriver)(nil)
	_ ftpserver.ClientDriverExtensionAvailableSpace = (*clientDriver)(nil)
	_ ftpserver.ClientDriverExtensionRemoveDir      = (*clientDriver)(nil)
)

func (c *clientDriver) home() string {
	if l := c.sess.loginInfo(); l != nil {
		return l.HomeDir
	}
	return "/"
}

// engineError maps Ferry's errors to the replies the engine knows: quota
// to 552.
func engineError(err error) error {
	if errors.Is(err, vfs.ErrQuotaExceeded) {
		return fmt.Errorf("%w: %w", ftpserver.ErrStorageExceeded, err)
	}
	return err
}

// GetHandle opens a file for RETR, STOR, APPE and resumed transfers.
func (c *clientDriver) GetHandle(name string, flags int, offset int64) (ftpserver.FileTransfer, error) {
	write := flags&(os.O_WRONLY|os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_TRUNC) != 0
	op := store.OpDownload
	if write {
		op = store.OpUpload
	}
	row := c.sess.record(op, treePath(c.home(), name))
	f, err := c.Fs.OpenFile(name, flags, 0o640)
	if err != nil {
		if write {
			c.srv.audit(row, err)
		}
		return nil, engineError(err)
	}
	c.sess.transfers.Add(1)
	c.sess.setCurrent(row.Path)
	return &transferFile{File: f, sess: c.sess, srv: c.srv, row: row, write: write}, nil
}

// Remove deletes a file (DELE) and gives its space back to the quota.
func (c *clientDriver) Remove(name string) error {
	row := c.sess.record(store.OpDelete, treePath(c.home(), name))
	fi, statErr := c.Fs.Stat(name)
	if statErr == nil && fi.IsDir() {
		err := &fs.PathError{Op: "remove", Path: name, Err: errors.New("is a folder: use RMD")}
		c.srv.audit(row, err)
		return err
	}
	err := c.Fs.Remove(name)
	if err == nil && statErr == nil && !vfs.IsPartial(fi) {
		row.Bytes, row.UsageBytes, row.UsageFiles = fi.Size(), -fi.Size(), -1
		c.addUsage(-fi.Size(), -1)
	}
	c.srv.audit(row, err)
	return err
}

// RemoveDir removes an empty folder (RMD).
func (c *clientDriver) RemoveDir(name string) error {
	row := c.sess.record(store.OpRmdir, treePath(c.home(), name))
	err := c.Fs.Remove(name)
	c.srv.audit(row, err)
	return err
}

// Mkdir creates a folder (MKD).
func (c *clientDriver) Mkdir(name string, perm os.FileMode) error {
	row := c.sess.record(store.OpMkdir, treePath(c.home(), name))
	err := c.Fs.Mkdir(name, perm)
	c.srv.audit(row, err)
	return err
}

// Rename moves a file or folder (RNFR/RNTO); a replaced file's space is
// given back.
func (c *clientDriver) Rename(from, to string) error {
	row := c.sess.record(store.OpRename, treePath(c.home(), from))
	row.TargetPath = treePath(c.home(), to)
	replaced, statErr := c.Fs.Stat(to)
	err := c.Fs.Rename(from, to)
	if err == nil && statErr == nil && !replaced.IsDir() && !vfs.IsPartial(replaced) {
		row.UsageBytes, row.UsageFiles = -replaced.Size(), -1
		c.addUsage(-replaced.Size(), -1)
	}
	c.srv.audit(row, err)
	return err
}

func (c *clientDriver) addUsage(dBytes, dFiles int64) {
	l := c.sess.loginInfo()
	if c.srv.Store == nil || l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.sess.ctx), 10*time.Second)
	defer cancel()
	if err := c.srv.Store.AddUsage(ctx, l.PartnerID, dBytes, dFiles); err != nil {
		c.srv.logger().Error("update quota usage; run `ferry quota recalc`", "partner", l.PartnerSlug, "err", err)
	}
}

// GetAvailableSpace answers AVBL: the free space of the file store, or what
// is left of the partner's quota if that is less.
func (c *clientDriver) GetAvailableSpace(string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(c.srv.FilesDir, &st); err != nil {
		return 0, err
	}
	free := int64(st.Bavail) * int64(st.Bsize) //nolint:unconvert // field types differ by OS
	if l := c.sess.loginInfo(); l != nil && c.srv.Store != nil {
		if p, err := c.srv.Store.PartnerUsage(c.sess.ctx, l.PartnerID); err == nil && p.QuotaBytes > 0 {
			free = min(free, max(p.QuotaBytes-p.UsedBytes, 0))
		}
	}
	return free, nil
}

// transferFile is the engine's handle on one transfer. It counts running
// transfers for graceful shutdown, writes the audit row of downloads and of
// failed uploads (completed uploads are recorded by the committer), and
// lets io.Copy reach the *os.File underneath a download, so downloads keep
// sendfile.
type transferFile struct {
	afero.File
	sess   *session
	srv    *Server
	row    *store.Transfer
	write  bool
	n      int64
	failed error
	closed atomic.Bool
}

// copyBuffer is big enough for a copy loop to keep up with a fast network.
const copyBuffer = 256 << 10

func (t *transferFile) WriteTo(w io.Writer) (int64, error) {
	var (
		n   int64
		err error
	)
	if wt, ok := t.File.(io.WriterTo); ok {
		n, err = wt.WriteTo(w)
	} else {
		n, err = io.CopyBuffer(w, onlyReader{t.File}, make([]byte, copyBuffer))
	}
	t.n += n
	t.sess.bytes.Add(n)
	return n, err
}

func (t *transferFile) ReadFrom(r io.Reader) (int64, error) {
	var (
		n   int64
		err error
	)
	if rf, ok := t.File.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.CopyBuffer(onlyWriter{t.File}, r, make([]byte, copyBuffer))
	}
	t.n += n
	t.sess.bytes.Add(n)
	return n, engineError(err)
}

func (t *transferFile) Read(p []byte) (int, error) {
	n, err := t.File.Read(p)
	t.n += int64(n)
	t.sess.bytes.Add(int64(n))
	return n, err
}

func (t *transferFile) Write(p []byte) (int, error) {
	n, err := t.File.Write(p)
	t.n += int64(n)
	t.sess.bytes.Add(int64(n))
	return n, engineError(err)
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
		return engineError(err)
	}
	t.sess.transfers.Add(-1)
	t.sess.setCurrent("")
	t.row.Bytes = t.n
	switch {
	case !t.write:
		t.srv.audit(t.row, t.failed)
	case err != nil || t.failed != nil:
		if err == nil {
			err = t.failed
		}
		t.srv.audit(t.row, err)
	}
	return engineError(err)
}

type onlyReader struct{ io.Reader }
type onlyWriter struct{ io.Writer }
