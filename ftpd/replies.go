package ftpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/ferryhq/ferry/vfs"
)

// replyError is an error the engine may put in a reply: its text is fixed
// and written for partners (no server path, no internal error chain). It
// still unwraps to the engine's sentinel that picks the reply code (552
// for ErrStorageExceeded, 553 for ErrFileNameNotAllowed) and to the cause,
// so errors.Is keeps working on it.
type replyError struct {
	msg   string
	code  error // an ftpserverlib sentinel, or nil for the engine's default (550)
	cause error
}

func (e *replyError) Error() string { return e.msg }

func (e *replyError) Unwrap() []error {
	out := make([]error, 0, 2)
	if e.code != nil {
		out = append(out, e.code)
	}
	if e.cause != nil {
		out = append(out, e.cause)
	}
	return out
}

// errNoQuota answers AVBL for a partner without a quota when the operator
// does not let Ferry report the data volume's free space.
var errNoQuota = &replyError{msg: "No quota set: the space available is not reported"}

// partnerError is the one place where the driver's errors become what a
// partner is told. The internal chain is logged here, once, with what the
// session was doing; the engine only ever sees a replyError (or io.EOF,
// which ends a download normally, or nil).
func (s *Server) partnerError(sess *session, op string, err error) error {
	if err == nil || err == io.EOF { //nolint:errorlint // only the bare io.EOF ends a read normally
		return err
	}
	var re *replyError
	if errors.As(err, &re) {
		return re
	}
	msg, level, code := classify(err)
	log := s.logger()
	if sess != nil {
		log = log.With("session", sess.cc.ID())
		if l := sess.loginInfo(); l != nil {
			log = log.With("user", l.Username, "partner", l.PartnerSlug)
		}
	}
	log.Log(context.Background(), level, "FTP request refused", "op", op, "reply", msg, "err", err)
	return &replyError{msg: msg, code: code, cause: err}
}

// classify maps an internal error to a partner's message, how loudly to
// log it and the engine's code sentinel.
func classify(err error) (string, slog.Level, error) {
	var denied *vfs.DeniedError
	var netErr net.Error
	switch {
	case errors.Is(err, vfs.ErrQuotaExceeded), errors.Is(err, ftpserver.ErrStorageExceeded):
		return "Quota exceeded", slog.LevelInfo, ftpserver.ErrStorageExceeded
	case errors.As(err, &denied):
		return "Permission denied: " + denied.Reason(), slog.LevelInfo, nil
	case errors.Is(err, vfs.ErrStaging), errors.Is(err, vfs.ErrBadName):
		return "File name not allowed", slog.LevelInfo, ftpserver.ErrFileNameNotAllowed
	case errors.Is(err, vfs.ErrInvalidOffset):
		return "Restart position is outside the file: send REST with a value from 0 to its SIZE", slog.LevelInfo, nil
	case errors.Is(err, fs.ErrNotExist):
		return "No such file or directory", slog.LevelDebug, nil
	case errors.Is(err, syscall.ENOTEMPTY): // before ErrExist, which it matches
		return "Folder is not empty", slog.LevelDebug, nil
	case errors.Is(err, fs.ErrExist):
		return "File or folder already exists", slog.LevelDebug, nil
	case errors.Is(err, syscall.EISDIR):
		return "Is a folder", slog.LevelDebug, nil
	case errors.Is(err, syscall.ENOTDIR):
		return "Not a folder", slog.LevelDebug, nil
	case errors.Is(err, fs.ErrPermission), escapes(err):
		return "Permission denied", slog.LevelInfo, nil
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return "Insufficient storage space on the server", slog.LevelError, nil
	case errors.Is(err, syscall.ENAMETOOLONG):
		return "File name too long", slog.LevelInfo, ftpserver.ErrFileNameNotAllowed
	case errors.As(err, &netErr), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed), errors.Is(err, io.ErrUnexpectedEOF),
		// The engine's data connection failed to open (it answered 425
		// itself), e.g. a passive connection from another address than
		// the client's: refused as FTP bounce protection.
		errors.As(err, new(ftpserver.NetworkError)):
		return "Data connection broken", slog.LevelInfo, nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "Request interrupted", slog.LevelWarn, nil
	}
	return "Requested action failed on the server", slog.LevelError, nil
}

// escapes reports os.Root's refusal of a name that leads out of the tree
// (a symlink or ".."); Go does not export that error.
func escapes(err error) bool { return strings.Contains(err.Error(), "path escapes from parent") }

// statListing answers STAT of a folder. The engine writes each entry of a
// folder's STAT with a stray "%s" in front (ftpserverlib handle_files.go,
// handleSTATFile: `c.writeLine(" %s" + c.fileStat(f))`), and offers no hook
// to change it; the one-line reply it writes for a file is right. So the
// driver hands STAT of a folder to the engine as one entry that is not a
// folder: the engine formats it as "drwx... 1 ftp ftp size date ." and its
// name carries the folder's entries, each on its own reply line, formatted
// as the engine formats LIST lines. The reply is then 213 (file status)
// instead of 212 (directory status); its lines are those of LIST.
type statListing struct {
	fs.FileInfo
	entries []fs.FileInfo
	now     time.Time // the session's start, which the engine's LIST dates use
}

func (s *statListing) IsDir() bool { return false }

func (s *statListing) Name() string {
	var b strings.Builder
	b.WriteString(".")
	for _, e := range s.entries {
		b.WriteString("\r\n ")
		b.WriteString(listLine(e, s.now))
	}
	return b.String()
}

// listLine formats an entry as the engine's LIST does (fileStat).
func listLine(fi fs.FileInfo, now time.Time) string {
	layout := "Jan _2 15:04"
	if now.Sub(fi.ModTime()) > 6*30*24*time.Hour {
		layout = "Jan _2  2006"
	}
	name := strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return '?'
		}
		return r
	}, fi.Name())
	return fmt.Sprintf("%s 1 ftp ftp %12d %s %s", fi.Mode(), fi.Size(), fi.ModTime().Format(layout), name)
}
