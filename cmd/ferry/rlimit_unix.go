//go:build unix

package main

import (
	"fmt"
	"syscall"
)

// raiseFileLimit sets RLIMIT_NOFILE's soft limit to its hard limit and
// returns both.
func raiseFileLimit() (soft, hard uint64, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, fmt.Errorf("getrlimit: %w", err)
	}
	if rl.Cur < rl.Max {
		want := rl
		want.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return uint64(rl.Cur), uint64(rl.Max), fmt.Errorf("setrlimit: %w", err)
		}
		rl = want
	}
	return uint64(rl.Cur), uint64(rl.Max), nil
}
