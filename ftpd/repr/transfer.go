package repr

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// chunkSize is how many file bytes a download converts at a time, and the
// size of an upload's write buffer in front of the file.
const chunkSize = 32 << 10

// A structuredWriter receives a transfer as RFC 959 3.4 models it: the data
// bytes of the current record, the end of each record (EOR) and the end of
// the file (EOF). The file side and the wire side of every conversion meet
// at this interface: a download's file layer writes into a mode encoder, an
// upload's mode decoder writes into a file layer. In file structure
// EndRecord is not called by encoders and is ignored by decoders.
type structuredWriter interface {
	io.Writer
	// EndRecord marks the end of the current record.
	EndRecord() error
	// Close marks the end of the file.
	Close() error
}

// NewDownload returns a reader of the bytes to send on the data connection
// for the file read from file, in representation r. It reads file as it is
// read and holds a bounded amount of data whatever the file's size. For an
// identity representation (see IsIdentity) it returns file itself.
func NewDownload(file io.Reader, r Representation) (io.Reader, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	if r.IsIdentity() {
		return file, nil
	}
	d := &download{file: file, chunk: make([]byte, chunkSize)}
	wire, err := newModeEncoder(&d.wire, r)
	if err != nil {
		return nil, err
	}
	d.enc = newFileEncoder(wire, r)
	return d, nil
}

// download pulls file bytes through an encoder chain that pushes wire bytes
// into a buffer, and serves that buffer.
type download struct {
	file  io.Reader
	enc   structuredWriter
	chunk []byte
	wire  bytes.Buffer
	err   error // set once the file is done or failed; io.EOF after a complete encoding
}

func (d *download) Read(p []byte) (int, error) {
	for d.wire.Len() == 0 {
		if d.err != nil {
			return 0, d.err
		}
		d.fill()
	}
	return d.wire.Read(p)
}

func (d *download) fill() {
	n, err := d.file.Read(d.chunk)
	if n > 0 {
		if _, werr := d.enc.Write(d.chunk[:n]); werr != nil {
			d.err = werr
			return
		}
	}
	switch {
	case err == io.EOF:
		d.err = d.enc.Close()
		if d.err == nil {
			d.err = io.EOF
		}
	case err != nil:
		d.err = err
	}
}

// A Marker is a restart marker received in a block- or compressed-mode
// upload (RFC 959 3.5).
type Marker struct {
	// Sender is the sender's marker, the data of the restart-marker block.
	Sender string
	// Offset is the number of file bytes stored before the marker: the
	// server's marker, for "110 MARK Sender = Offset" and a later REST.
	Offset int64
}

// An Upload converts the bytes received on the data connection, in a
// representation, to the bytes of the file. Write it the wire bytes, then
// Close it: Close reports an upload that ended before its end-of-file marker
// and flushes the file. Close does not close the file.
type Upload struct {
	// OnRestartMarker, if set before the first Write, is called during
	// Write for each restart marker received (MODE B and C only).
	OnRestartMarker func(Marker)

	wire   io.WriteCloser // the mode decoder
	file   *bufio.Writer
	stored int64
	closed bool
	err    error
}

// NewUpload returns an Upload that writes the file bytes of a transfer in
// representation r to file. It holds a bounded amount of data whatever the
// file's size. Close must be called once the transfer ends, failed or not:
// in MODE Z it joins the goroutine that inflates the stream.
func NewUpload(file io.Writer, r Representation) (*Upload, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	u := &Upload{}
	u.file = bufio.NewWriterSize(countingWriter{file, &u.stored}, chunkSize)
	u.wire = newModeDecoder(newFileDecoder(u.file, r), r, u.marker)
	return u, nil
}

func (u *Upload) marker(sender string) {
	if u.OnRestartMarker != nil {
		u.OnRestartMarker(Marker{Sender: sender, Offset: u.stored + int64(u.file.Buffered())})
	}
}

// Write decodes wire bytes. After an error, every Write returns it.
func (u *Upload) Write(p []byte) (int, error) {
	if u.err != nil {
		return 0, u.err
	}
	if u.closed {
		return 0, errors.New("repr: write to a closed Upload")
	}
	n, err := u.wire.Write(p)
	if err != nil {
		u.err = err
	}
	return n, err
}

// Close ends the upload: it returns an error if the data was incomplete or
// malformed, and otherwise writes the last file bytes.
func (u *Upload) Close() error {
	if u.closed {
		return u.err
	}
	u.closed = true
	err := u.wire.Close()
	if u.err == nil {
		u.err = err
	}
	if u.err == nil {
		u.err = u.file.Flush()
	}
	return u.err
}

type countingWriter struct {
	w io.Writer
	n *int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}
