package ftpd

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"syscall"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/ferryhq/ferry/ftpd/repr"
	"github.com/ferryhq/ferry/vfs"
)

// Listings in a converted representation. The engine writes LIST, NLST and
// MLSD to the data connection itself, in stream mode and ASCII, and offers
// no hook on that stream. In MODE B, C or Z, or in TYPE E, the control
// layer hands the engine a RETR of a one-time name in the listed folder
// instead: the engine opens the data connection (passive or active, clear
// or TLS) exactly as for LIST and replies 150 and 226 as it does for LIST;
// the driver recognizes the name and sends the listing, formatted as the
// engine formats it, through the same conversion as a file download.

// listingPrefix starts the one-time name; its random token is never a
// name a client can have guessed.
const listingPrefix = ".ferry-listing-"

// listingReq is a listing the control layer handed to the engine as RETR.
type listingReq struct {
	verb  string // LIST, NLST or MLSD
	arg   string // the folder or file as the client gave it; "" for the current folder
	token string
	rep   repr.Representation
}

// cmdListing hands a listing in a converted representation to the engine
// as RETR of the one-time name.
func (c *controlConn) cmdListing(verb, arg string) answer {
	arg = strings.TrimSpace(arg)
	if verb != "MLSD" {
		// Options (LIST -la) are dropped, as the engine drops those it
		// knows.
		for strings.HasPrefix(arg, "-") {
			_, rest, _ := strings.Cut(arg, " ")
			arg = strings.TrimSpace(rest)
		}
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	req := &listingReq{verb: verb, arg: arg, token: listingPrefix + hex.EncodeToString(b[:])}
	// Listings are text: ASCII, or EBCDIC in TYPE E; lines, in file
	// structure; in the session's mode.
	req.rep = repr.Representation{Type: repr.ASCII, Mode: c.cur.Mode, Level: c.cur.Level}
	if c.cur.Type == repr.EBCDIC {
		req.rep.Type, req.rep.CodePage = repr.EBCDIC, c.cur.CodePage
	}
	name := req.token
	if arg != "" {
		name = strings.TrimSuffix(arg, "/") + "/" + req.token
	}
	c.mu.Lock()
	c.listing = req
	c.mu.Unlock()
	c.forward([]byte("RETR " + name + "\r\n"))
	return nil
}

// takeListing returns the listing whose one-time name the engine opened,
// once; nil for any other name. A download or upload also drops a listing
// still pending (one whose RETR failed before it was opened).
func (c *controlConn) takeListing(name string) *listingReq {
	c.mu.Lock()
	defer c.mu.Unlock()
	req := c.listing
	c.listing = nil
	if req == nil || path.Base(name) != req.token {
		return nil
	}
	return req
}

// listing builds the listing of req for the folder (or file) dir.
func (c *clientDriver) listing(req *listingReq, dir string) (ftpserver.FileTransfer, error) {
	if err := c.checkProtection(); err != nil {
		return nil, err
	}
	fi, err := c.Fs.Stat(dir)
	if err != nil {
		return nil, c.safe("list", err)
	}
	entries := []fs.FileInfo{fi}
	if fi.IsDir() {
		if entries, err = vfs.ReadDir(c.Fs, dir); err != nil {
			return nil, c.safe("list", err)
		}
	} else if req.verb == "MLSD" {
		return nil, c.safe("list", &fs.PathError{Op: "mlsd", Path: dir, Err: syscall.ENOTDIR})
	}
	var b bytes.Buffer
	for _, e := range entries {
		name := strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return '?'
			}
			return r
		}, e.Name())
		switch req.verb {
		case "LIST":
			b.WriteString(listLine(e, c.sess.started))
		case "NLST":
			if req.arg != "" && fi.IsDir() {
				name = path.Join(req.arg, name)
			} else if req.arg != "" {
				name = req.arg
			}
			b.WriteString(name)
		case "MLSD":
			typ := "file"
			if e.IsDir() {
				typ = "dir"
			}
			fmt.Fprintf(&b, "Type=%s;Size=%d;Modify=%s; %s", typ, e.Size(), e.ModTime().UTC().Format("20060102150405"), name)
		}
		b.WriteByte('\n')
	}
	wire, err := repr.NewDownload(bytes.NewReader(b.Bytes()), req.rep)
	if err != nil {
		return nil, c.safe("list", err)
	}
	return &listingFile{wire: wire}, nil
}

// listingFile is the engine's handle on a listing sent as RETR.
type listingFile struct{ wire io.Reader }

func (l *listingFile) Read(p []byte) (int, error) { return l.wire.Read(p) }

func (l *listingFile) WriteTo(w io.Writer) (int64, error) {
	return io.CopyBuffer(w, onlyReader{l.wire}, make([]byte, 32<<10))
}

var errListingWrite = errors.New("a listing is not written to")

func (l *listingFile) Write([]byte) (int, error) { return 0, errListingWrite }

// Seek refuses a restart position (REST before LIST): a listing is sent whole.
func (l *listingFile) Seek(offset int64, whence int) (int64, error) {
	if offset == 0 && whence == io.SeekStart {
		return 0, nil
	}
	return 0, &replyError{msg: "A listing cannot be restarted: send it without REST"}
}

func (l *listingFile) Close() error { return nil }
