//go:build !unix

package vfs

func lockFile(any) {}

func tryLock(any) (free, known bool) { return false, false }
