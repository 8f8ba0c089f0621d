package mailbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// blobPath spreads blobs over 256 folders by the last two characters of
// their key (the random end of a UUIDv7).
func (s *Store) blobPath(key string) (string, error) {
	if len(key) < 8 || strings.ContainsAny(key, `/\.`) {
		return "", fmt.Errorf("mailbox: bad blob key %q", key)
	}
	return filepath.Join(s.Dir, key[len(key)-2:], key+".eml"), nil
}

// writeBlob stores r as blob key with CRLF line endings, synced to disk
// (file and folder) before it returns. It returns the stored size and a
// copy of the header block.
func (s *Store) writeBlob(ctx context.Context, key string, r io.Reader) (int64, []byte, error) {
	path, err := s.blobPath(key)
	if err != nil {
		return 0, nil, err
	}
	dir := filepath.Dir(path)
	if err := s.blobDir(dir); err != nil {
		return 0, nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if errors.Is(err, fs.ErrNotExist) {
		// The folder went away since blobDir saw it (removed by hand).
		s.forgetBlobDir(dir)
		if err = s.blobDir(dir); err == nil {
			f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		}
	}
	if err != nil {
		return 0, nil, fmt.Errorf("mailbox: create blob: %w", err)
	}
	fail := func(err error) (int64, []byte, error) {
		f.Close()
		os.Remove(path)
		return 0, nil, err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	cw := &crlfWriter{w: bw, limit: s.MaxMessageBytes}
	if _, err := io.Copy(cw, ctxReader{ctx, r}); err != nil {
		if errors.Is(err, ErrTooBig) {
			return fail(err)
		}
		return fail(fmt.Errorf("mailbox: write blob: %w", err))
	}
	if err := cw.finish(); err != nil {
		return fail(err)
	}
	if err := bw.Flush(); err != nil {
		return fail(fmt.Errorf("mailbox: write blob: %w", err))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("mailbox: sync blob: %w", err))
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return 0, nil, fmt.Errorf("mailbox: close blob: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return 0, nil, err
	}
	return cw.n, cw.header(), nil
}

// blobDir makes sure one of the blob folders exists, its own entry synced
// to disk, once per Store and folder.
func (s *Store) blobDir(dir string) error {
	s.mu.Lock()
	known := s.dirs[dir]
	s.mu.Unlock()
	if known {
		return nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("mailbox: create blob folder: %w", err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	s.mu.Lock()
	if s.dirs == nil {
		s.dirs = map[string]bool{}
	}
	s.dirs[dir] = true
	s.mu.Unlock()
	return nil
}

func (s *Store) forgetBlobDir(dir string) {
	s.mu.Lock()
	delete(s.dirs, dir)
	s.mu.Unlock()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("mailbox: sync blob folder: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("mailbox: sync blob folder: %w", err)
	}
	return nil
}

func (s *Store) openBlob(key string) (*os.File, error) {
	path, err := s.blobPath(key)
	if err != nil {
		return nil, err
	}
	return os.Open(path)
}

func (s *Store) removeBlob(key string) error {
	path, err := s.blobPath(key)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Sweep removes blobs no message uses: recorded blobs whose last message
// was deleted, and files without a record (a delivery that crashed or
// failed between the blob and the transaction). Only blobs older than
// grace are touched, so deliveries in flight are safe. It returns how many
// blobs it removed.
func (s *Store) Sweep(ctx context.Context, grace time.Duration) (int, error) {
	cutoff := time.Now().Add(-grace)
	removed := 0
	for {
		keys, err := s.DB.UnreferencedMailBlobs(ctx, cutoff, 500)
		if err != nil {
			return removed, fmt.Errorf("mailbox: sweep: %w", err)
		}
		n := 0
		for _, key := range keys {
			gone, err := s.DB.DeleteMailBlob(ctx, key)
			if err != nil {
				return removed, fmt.Errorf("mailbox: sweep: %w", err)
			}
			if gone {
				n++
				if err := s.removeBlob(key); err != nil {
					return removed, fmt.Errorf("mailbox: sweep: %w", err)
				}
			}
		}
		removed += n
		if len(keys) < 500 || n == 0 {
			break
		}
	}
	err := filepath.WalkDir(s.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".eml") {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.ModTime().After(cutoff) {
			return nil
		}
		key := strings.TrimSuffix(d.Name(), ".eml")
		known, err := s.DB.MailBlobExists(ctx, key)
		if err != nil {
			return err
		}
		if !known {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			removed++
		}
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("mailbox: sweep: %w", err)
	}
	return removed, nil
}

// crlfWriter turns bare LF into CRLF, counts the octets written, keeps a
// copy of the header block (up to and including the first empty line) and
// enforces limit (0: none).
type crlfWriter struct {
	w       io.Writer
	limit   int64
	n       int64
	prevCR  bool
	hdr     []byte
	hdrDone bool
	buf     []byte
}

func (c *crlfWriter) Write(p []byte) (int, error) {
	c.buf = c.buf[:0]
	for _, b := range p {
		if b == '\n' && !c.prevCR {
			c.buf = append(c.buf, '\r')
		}
		c.buf = append(c.buf, b)
		c.prevCR = b == '\r'
	}
	if c.limit > 0 && c.n+int64(len(c.buf)) > c.limit {
		return 0, ErrTooBig
	}
	if !c.hdrDone {
		from := max(len(c.hdr)-3, 0)
		c.hdr = append(c.hdr, c.buf...)
		if i := headerEnd(c.hdr, from); i >= 0 {
			c.hdr, c.hdrDone = c.hdr[:i], true
		} else if len(c.hdr) > maxCachedHeader {
			// Not cached: readers fall back to the blob.
			c.hdr, c.hdrDone = nil, true
		}
	}
	if _, err := c.w.Write(c.buf); err != nil {
		return 0, err
	}
	c.n += int64(len(c.buf))
	return len(p), nil
}

// finish is called at the end of the message.
func (c *crlfWriter) finish() error { return nil }

// maxCachedHeader bounds the header copy kept in the database.
const maxCachedHeader = 256 << 10

// header returns the header block (a message without an empty line is all
// header), or nil if it was too big to cache.
func (c *crlfWriter) header() []byte { return c.hdr }

// headerEnd returns the length of the header block including the empty
// line, or -1 if it is not complete yet; the search starts at from.
func headerEnd(b []byte, from int) int {
	if len(b) >= 2 && b[0] == '\r' && b[1] == '\n' {
		return 2 // no header fields at all
	}
	for i := from; i+3 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' && b[i+2] == '\r' && b[i+3] == '\n' {
			return i + 4
		}
	}
	return -1
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
