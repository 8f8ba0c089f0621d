//go:build !linux

package ftpd

import (
	"errors"
	"net"
)

// stopListening is Linux only: elsewhere passive listeners stay on all
// interfaces.
func stopListening(*net.TCPListener) error { return errors.ErrUnsupported }

// canStopListening reports whether stopListening works here.
const canStopListening = false
