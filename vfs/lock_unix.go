//go:build unix

package vfs

import (
	"golang.org/x/sys/unix"
)

type fder interface{ Fd() uintptr }

// lockFile takes an exclusive lock on an upload's staged file for as long
// as the file is open. Backends without file descriptors are not locked.
func lockFile(f any) {
	if fd, ok := f.(fder); ok {
		_ = unix.Flock(int(fd.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
}

// tryLock takes the lock if no live writer holds it. known is false for
// backends without file locks.
func tryLock(f any) (free, known bool) {
	fd, ok := f.(fder)
	if !ok {
		return false, false
	}
	return unix.Flock(int(fd.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil, true
}
