//go:build !linux

package imap

import "net"

// cork does nothing where TCP_CORK does not exist.
func cork(net.Conn) (uncork func()) { return func() {} }
