package mailbox

import (
	"log/slog"
	"net"

	"github.com/ferryhq/ferry/bans"
)

// GuardListener turns away banned addresses with reject (see bans.Listener).
// Any failed check refuses the connection. With a nil guard it returns ln.
func GuardListener(ln net.Listener, g Guard, reject string, log *slog.Logger) net.Listener {
	if g == nil {
		return ln
	}
	return bans.Listener(ln, g.Check, reject, log)
}
