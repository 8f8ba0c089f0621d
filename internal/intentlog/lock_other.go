//go:build !unix

package intentlog

import (
	"errors"
	"os"
)

var errWouldBlock = errors.New("would block")

// lock is a no-op where flock is missing: one process per file is then
// the operator's to keep.
func lock(*os.File) error { return nil }
