package pop3

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// handleTransaction executes a command in the TRANSACTION state.
func (c *conn) handleTransaction(cmd string, args []string) error {
	switch cmd {
	case "STAT":
		return c.cmdSTAT(args)
	case "LIST":
		return c.cmdLIST(args)
	case "UIDL":
		return c.cmdUIDL(args)
	case "RETR":
		return c.cmdRETR(args)
	case "TOP":
		return c.cmdTOP(args)
	case "DELE":
		return c.cmdDELE(args)
	case "RSET":
		return c.cmdRSET(args)
	case "NOOP":
		if len(args) != 0 {
			return c.replyErr(errSyntax)
		}
		c.replyOK("")
		return nil
	case "CAPA":
		return c.cmdCAPA(args)
	case "QUIT":
		return c.cmdQUIT(args)
	}
	if isAuthorizationCommand(cmd) {
		return c.replyErr(errWrongState)
	}
	return c.replyErr(errUnknownCommand)
}

// isTransactionCommand reports whether cmd is only valid in the
// TRANSACTION state.
func isTransactionCommand(cmd string) bool {
	switch cmd {
	case "STAT", "LIST", "UIDL", "RETR", "TOP", "DELE", "RSET", "NOOP":
		return true
	}
	return false
}

// stat returns the number and total size of the messages not marked as
// deleted.
func (c *conn) stat() (count int, size int64) {
	for i, m := range c.msgs {
		if !c.deleted[i] {
			count++
			size += m.Size
		}
	}
	return count, size
}

// message parses a message-number argument: a decimal number from 1 to the
// number of messages in the snapshot, not marked as deleted. It returns the
// 0-based index.
func (c *conn) message(arg string) (int, bool) {
	if arg == "" || len(arg) > 10 {
		return 0, false
	}
	for i := 0; i < len(arg); i++ {
		if arg[i] < '0' || arg[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(arg)
	if err != nil || n < 1 || n > len(c.msgs) || c.deleted[n-1] {
		return 0, false
	}
	return n - 1, true
}

func (c *conn) cmdSTAT(args []string) error {
	if len(args) != 0 {
		return c.replyErr(errSyntax)
	}
	n, size := c.stat()
	c.replyOK(fmt.Sprintf("%d %d", n, size))
	return nil
}

func (c *conn) cmdLIST(args []string) error {
	switch len(args) {
	case 0:
		n, size := c.stat()
		c.replyOK(fmt.Sprintf("%d messages (%d octets)", n, size))
		for i, m := range c.msgs {
			if !c.deleted[i] {
				c.writeLine(strconv.Itoa(i+1) + " " + strconv.FormatInt(m.Size, 10))
			}
		}
		c.writeLine(".")
		return nil
	case 1:
		i, ok := c.message(args[0])
		if !ok {
			return c.replyErr(errNoSuchMessage)
		}
		c.replyOK(strconv.Itoa(i+1) + " " + strconv.FormatInt(c.msgs[i].Size, 10))
		return nil
	}
	return c.replyErr(errSyntax)
}

func (c *conn) cmdUIDL(args []string) error {
	switch len(args) {
	case 0:
		c.replyOK("unique-id listing follows")
		for i, m := range c.msgs {
			if !c.deleted[i] {
				c.writeLine(strconv.Itoa(i+1) + " " + m.UID)
			}
		}
		c.writeLine(".")
		return nil
	case 1:
		i, ok := c.message(args[0])
		if !ok {
			return c.replyErr(errNoSuchMessage)
		}
		c.replyOK(strconv.Itoa(i+1) + " " + c.msgs[i].UID)
		return nil
	}
	return c.replyErr(errSyntax)
}

func (c *conn) cmdDELE(args []string) error {
	if len(args) != 1 {
		return c.replyErr(errSyntax)
	}
	i, ok := c.message(args[0])
	if !ok {
		return c.replyErr(errNoSuchMessage)
	}
	c.deleted[i] = true
	c.nDeleted++
	c.replyOK(fmt.Sprintf("message %d deleted", i+1))
	return nil
}

func (c *conn) cmdRSET(args []string) error {
	if len(args) != 0 {
		return c.replyErr(errSyntax)
	}
	clear(c.deleted)
	c.nDeleted = 0
	n, size := c.stat()
	c.replyOK(fmt.Sprintf("maildrop has %d messages (%d octets)", n, size))
	return nil
}

func (c *conn) cmdRETR(args []string) error {
	if len(args) != 1 {
		return c.replyErr(errSyntax)
	}
	i, ok := c.message(args[0])
	if !ok {
		return c.replyErr(errNoSuchMessage)
	}
	return c.sendMessage(i, -1, fmt.Sprintf("%d octets", c.msgs[i].Size))
}

func (c *conn) cmdTOP(args []string) error {
	if len(args) != 2 {
		return c.replyErr(errSyntax)
	}
	i, ok := c.message(args[0])
	if !ok {
		return c.replyErr(errNoSuchMessage)
	}
	lines, ok := parseLineCount(args[1])
	if !ok {
		return c.replyErr(errBadLineCount)
	}
	return c.sendMessage(i, lines, "top of message follows")
}

// parseLineCount parses TOP's non-negative decimal line count. Counts
// too large to represent mean "all lines".
func parseLineCount(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return math.MaxInt64, true
	}
	if err != nil {
		return 0, false
	}
	return n, true
}

// sendMessage streams message i as a multi-line response. bodyLines < 0
// sends the whole message; otherwise the header, the blank line and at
// most bodyLines lines of the body (TOP).
func (c *conn) sendMessage(i int, bodyLines int64, status string) error {
	rc, err := c.session.Open(c.ctx, i)
	if err == nil && rc == nil {
		err = errors.New("pop3: Session.Open returned neither a reader nor an error")
	}
	if err != nil {
		return c.replyErr(c.backendError("open", err))
	}
	defer func() {
		if err := rc.Close(); err != nil {
			c.log.Error("pop3: closing message", "message", i+1, "error", err)
		}
	}()

	if c.msgBuf == nil {
		c.msgBuf = bufio.NewReaderSize(rc, messageBufferSize)
	} else {
		c.msgBuf.Reset(rc)
	}
	defer c.msgBuf.Reset(nil)

	c.replyOK(status)
	rerr, werr := writeMessage(c.bw, c.msgBuf, bodyLines)
	if rerr != nil {
		// The +OK is already out and a -ERR cannot follow it: drop the
		// connection so that the client does not take a truncated
		// message for a complete one.
		c.log.Error("pop3: reading message", "message", i+1, "error", rerr)
		return fmt.Errorf("pop3: reading message %d: %w", i+1, rerr)
	}
	if werr != nil {
		return fmt.Errorf("pop3: writing message %d: %w", i+1, werr)
	}
	return nil
}

// writeMessage copies a message from r to w as the body of a multi-line
// response: bare LF line endings become CRLF, lines starting with "." get
// another "." (dot-stuffing), a final CRLF is added if missing and the
// terminating ".\r\n" is written. If bodyLines >= 0, copying stops after
// the header, the blank line that ends it and bodyLines lines of the body.
// Lines of any length are streamed without being buffered whole. It
// returns errors reading r and writing w separately.
func writeMessage(w *bufio.Writer, r *bufio.Reader, bodyLines int64) (rerr, werr error) {
	var (
		bol       = true  // at the beginning of a line
		inHeader  = true  // no blank line seen yet
		pendingCR = false // a chunk ended with CR that may start a CRLF
		body      int64   // body lines written
	)
	write := func(p []byte) {
		if werr == nil && len(p) > 0 {
			_, werr = w.Write(p)
		}
	}
	for werr == nil {
		if bodyLines >= 0 && !inHeader && bol && body >= bodyLines {
			break
		}
		chunk, err := r.ReadSlice('\n')
		if len(chunk) > 0 {
			complete := err == nil
			content := chunk
			if complete {
				content = content[:len(content)-1]
				if n := len(content); n > 0 && content[n-1] == '\r' {
					content = content[:n-1]
				}
			}
			if pendingCR {
				pendingCR = false
				if chunk[0] != '\n' {
					// The CR was not part of a CRLF.
					write([]byte{'\r'})
					bol = false
				}
			}
			if !complete && content[len(content)-1] == '\r' {
				content = content[:len(content)-1]
				pendingCR = true
			}
			if bol && len(content) > 0 && content[0] == '.' {
				write([]byte{'.'})
			}
			write(content)
			if complete {
				write([]byte("\r\n"))
				if inHeader {
					if bol && len(content) == 0 {
						inHeader = false
					}
				} else {
					body++
				}
				bol = true
			} else if len(content) > 0 {
				bol = false
			}
		}
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if errors.Is(err, io.EOF) {
				break
			}
			return err, werr
		}
	}
	if werr != nil {
		return nil, werr
	}
	if pendingCR || !bol {
		// A message that does not end with a line break gets one.
		write([]byte("\r\n"))
	}
	write([]byte(".\r\n"))
	return nil, werr
}

// cmdQUIT enters the UPDATE state: the marked messages are removed with
// Session.Commit and the connection is closed (RFC 1939 section 6).
func (c *conn) cmdQUIT(args []string) error {
	if len(args) != 0 {
		return c.replyErr(errSyntax)
	}
	c.state = stateUpdate
	deleted := make([]int, 0, c.nDeleted)
	for i, d := range c.deleted {
		if d {
			deleted = append(deleted, i)
		}
	}
	err := c.session.Commit(c.ctx, deleted)
	// Release the lock before replying, so that a client reconnecting
	// right after the reply does not find the maildrop in use.
	c.closeSession()
	if err != nil {
		c.log.Error("pop3: committing deletions", "deleted", len(deleted), "error", err)
		c.writeErr(errCommitFailed)
		return errCloseConn
	}
	switch len(deleted) {
	case 1:
		c.replyOK("bye (1 message deleted)")
	default:
		c.replyOK(fmt.Sprintf("bye (%d messages deleted)", len(deleted)))
	}
	return errCloseConn
}
