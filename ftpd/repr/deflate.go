package repr

import (
	"bufio"
	"compress/flate"
	"compress/zlib"
	"errors"
	"io"
)

// MODE Z: the stream-mode bytes of the transfer (with STRU R's control
// codes), compressed as one zlib stream (RFC 1950) per transfer, which is
// what lftp (ftp:use-mode-z) and FileZilla send and expect.

// deflateEncoder compresses the stream-mode encoding.
type deflateEncoder struct {
	streamEncoder
	zw *zlib.Writer
}

func newDeflateEncoder(wire io.Writer, records bool, level int) (*deflateEncoder, error) {
	zw, err := zlib.NewWriterLevel(wire, level)
	if err != nil {
		return nil, err
	}
	return &deflateEncoder{streamEncoder: streamEncoder{wire: zw, records: records}, zw: zw}, nil
}

func (e *deflateEncoder) Close() error {
	if err := e.streamEncoder.Close(); err != nil {
		return err
	}
	return e.zw.Close()
}

// deflateDecoder inflates the wire into a stream decoder. compress/zlib
// only pulls, and an Upload is pushed, so the inflating runs in a goroutine
// reading from a pipe; Close joins it.
type deflateDecoder struct {
	pw   *io.PipeWriter
	done chan error
}

func newDeflateDecoder(next *streamDecoder) *deflateDecoder {
	pr, pw := io.Pipe()
	d := &deflateDecoder{pw: pw, done: make(chan error, 1)}
	go func() {
		err := inflate(pr, next)
		pr.CloseWithError(err) // unblocks Write; nil makes it return io.ErrClosedPipe
		d.done <- err
	}()
	return d
}

// inflate decodes one zlib stream from r into next, then checks that nothing
// follows it.
func inflate(r io.Reader, next *streamDecoder) error {
	br := bufio.NewReader(r) // a flate.Reader: zlib reads no further than its stream
	zr, err := zlib.NewReader(br)
	if err != nil {
		return zlibError(err)
	}
	buf := make([]byte, chunkSize)
	for {
		n, err := zr.Read(buf)
		if n > 0 {
			if _, werr := next.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return zlibError(err)
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return formatError(Deflate, -1, ErrAfterEOF, "data after the end of the zlib stream")
	}
	return next.Close()
}

func zlibError(err error) error {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return formatError(Deflate, -1, ErrTruncated, "the zlib stream ended early")
	case errors.Is(err, zlib.ErrHeader), errors.Is(err, zlib.ErrDictionary):
		return formatError(Deflate, -1, ErrMalformed, "not a zlib stream (RFC 1950 header)")
	case errors.Is(err, zlib.ErrChecksum):
		return formatError(Deflate, -1, ErrMalformed, "zlib checksum mismatch")
	case errors.As(err, &corrupt):
		return formatError(Deflate, -1, ErrMalformed, "corrupt deflate data")
	}
	return err
}

func (d *deflateDecoder) Write(p []byte) (int, error) {
	n, err := d.pw.Write(p)
	if errors.Is(err, io.ErrClosedPipe) {
		// The stream ended before the data did; Close reports why.
		err = formatError(Deflate, -1, ErrAfterEOF, "data after the end of the zlib stream")
	}
	return n, err
}

func (d *deflateDecoder) Close() error {
	d.pw.Close()
	return <-d.done
}
