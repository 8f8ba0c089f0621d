package repr

import (
	"errors"
	"fmt"
)

// Kinds of FormatError, for errors.Is.
var (
	// ErrMalformed: the wire data breaks the rules of its mode or structure.
	ErrMalformed = errors.New("malformed data")
	// ErrTruncated: the data ended before the end-of-file marker of its mode
	// or structure (the sender closed the connection early).
	ErrTruncated = errors.New("data ended before the end-of-file marker")
	// ErrAfterEOF: data followed the end-of-file marker.
	ErrAfterEOF = errors.New("data after the end-of-file marker")
)

// A FormatError reports an upload whose wire data cannot be decoded in the
// session's representation. Nothing in it comes from the file system: its
// text is safe to show to the partner. The file holds the bytes decoded
// before the error; the control layer discards the upload and replies
// Code().
type FormatError struct {
	Mode   Mode  // the mode whose decoder failed (Stream for the 0xFF escapes of STRU R, also inside MODE Z)
	Offset int64 // bytes of the decoder's input consumed before the error, -1 if unknown
	Kind   error // ErrMalformed, ErrTruncated or ErrAfterEOF
	Detail string
}

func (e *FormatError) Error() string {
	if e.Offset < 0 {
		return fmt.Sprintf("MODE %s data: %s", e.Mode, e.Detail)
	}
	return fmt.Sprintf("MODE %s data at byte %d: %s", e.Mode, e.Offset, e.Detail)
}

func (e *FormatError) Unwrap() error { return e.Kind }

// Code is the FTP reply for the failed transfer: 426 when the data stopped
// before its end-of-file marker (connection closed; transfer aborted), 451
// when it could not be decoded.
func (e *FormatError) Code() int {
	if e.Kind == ErrTruncated {
		return 426
	}
	return 451
}

func formatError(m Mode, off int64, kind error, detail string) *FormatError {
	return &FormatError{Mode: m, Offset: off, Kind: kind, Detail: detail}
}
