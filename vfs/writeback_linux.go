package vfs

import "golang.org/x/sys/unix"

// startWriteback asks the kernel to start writing a range of f to disk now,
// without waiting for it (sync_file_range SYNC_FILE_RANGE_WRITE). Backends
// without file descriptors are left alone.
func startWriteback(f any, off, n int64) {
	if fd, ok := f.(fder); ok {
		_ = unix.SyncFileRange(int(fd.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
	}
}
