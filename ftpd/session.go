package ftpd

import (
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
	"golang.org/x/sys/unix"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/vfs"
)

// session is Ferry's state for one control connection.
type session struct {
	cc        ftpserver.ClientContext
	started   time.Time
	transfers atomic.Int64

	mu    sync.Mutex
	login *partners.Login
	root  *vfs.Root
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

func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.root != nil {
		s.root.Close()
		s.root = nil
	}
}

func (s *session) info() SessionInfo {
	i := SessionInfo{ID: s.cc.ID(), RemoteAddr: s.cc.RemoteAddr().String(), Started: s.started,
		TLS: s.cc.HasTLSForControl(), Transfers: s.transfers.Load()}
	if l := s.loginInfo(); l != nil {
		i.Username, i.PartnerSlug = l.Username, l.PartnerSlug
	}
	return i
}

// clientDriver is the afero.Fs ftpserverlib drives for a logged-in session,
// plus the engine's optional extensions.
type clientDriver struct {
	afero.Fs
	sess     *session
	filesDir string
}

var (
	_ ftpserver.ClientDriver                        = (*clientDriver)(nil)
	_ ftpserver.ClientDriverExtentionFileTransfer   = (*clientDriver)(nil)
	_ ftpserver.ClientDriverExtensionAvailableSpace = (*clientDriver)(nil)
)

// GetHandle opens a file for RETR, STOR, APPE and resumed transfers.
func (c *clientDriver) GetHandle(name string, flags int, offset int64) (ftpserver.FileTransfer, error) {
	perm := os.FileMode(0o640)
	f, err := c.Fs.OpenFile(name, flags, perm)
	if err != nil {
		return nil, err
	}
	c.sess.transfers.Add(1)
	return &transferFile{File: f, sess: c.sess}, nil
}

// GetAvailableSpace answers AVBL with the free space of the file store.
func (c *clientDriver) GetAvailableSpace(string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(c.filesDir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil //nolint:unconvert // field types differ by OS
}

// transferFile counts a running transfer for graceful shutdown. It passes
// io.Copy straight through to the *os.File underneath (WriterTo/ReaderFrom),
// so downloads keep sendfile and uploads keep splice.
type transferFile struct {
	afero.File
	sess   *session
	closed atomic.Bool
}

func (t *transferFile) WriteTo(w io.Writer) (int64, error) {
	if wt, ok := t.File.(io.WriterTo); ok {
		return wt.WriteTo(w)
	}
	return io.Copy(w, onlyReader{t.File})
}

func (t *transferFile) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := t.File.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(onlyWriter{t.File}, r)
}

func (t *transferFile) Close() error {
	err := t.File.Close()
	if t.closed.CompareAndSwap(false, true) {
		t.sess.transfers.Add(-1)
	}
	return err
}

type onlyReader struct{ io.Reader }
type onlyWriter struct{ io.Writer }
