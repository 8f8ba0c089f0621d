package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/ferryhq/ferry/internal/benchkit"
)

type bench struct {
	o   *options
	res *results
}

func (b *bench) settle() {
	if b.o.syncBetween {
		syscall.Sync()
	}
	time.Sleep(200 * time.Millisecond)
}

func (b *bench) verbose(round int, t *target, format string, args ...any) {
	if b.o.verbose {
		benchkit.Logf("round %d %-8s "+format, append([]any{round, t.name}, args...)...)
	}
}

func (b *bench) runOne(w string, t *target, round int) error {
	switch w {
	case "smtp":
		return b.smtp(t, round)
	case "imap":
		return b.imap(t, round)
	case "pop3":
		return b.pop3(t, round)
	}
	return fmt.Errorf("unknown workload %q", w)
}

// message builds an RFC 5322 message of about size bytes (CRLF lines).
func message(i int, to string, size int64) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "From: Mail Bench <bench@example.org>\r\nTo: <%s>\r\nSubject: mailbench message %d\r\n"+
		"Date: %s\r\nMessage-ID: <mailbench.%d.%d@example.org>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=us-ascii\r\n\r\n",
		to, i, time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Second).Format(time.RFC1123Z),
		time.Now().UnixNano(), i)
	line := []byte(strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 2)[:76] + "\r\n")
	for int64(buf.Len()+len(line)) <= size {
		buf.Write(line)
	}
	if pad := size - int64(buf.Len()); pad > 2 {
		buf.Write(bytes.Repeat([]byte("x"), int(pad-2)))
		buf.WriteString("\r\n")
	}
	return buf.Bytes()
}

// ---- SMTP ----

func countDir(dir string) (int, error) {
	f, err := os.Open(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	return len(names), err
}

func (b *bench) smtp(t *target, round int) error {
	o := b.o
	to := sinkBox + "@" + mailDomain
	msgs := make([][]byte, o.messages)
	for i := range msgs {
		msgs[i] = message(round*1_000_000+i, to, o.msgSize)
	}
	before := 0
	if t.sinkDir != "" {
		n, err := countDir(t.sinkDir)
		if err != nil {
			return err
		}
		before = n
	}
	b.settle()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan []byte, len(msgs))
	)
	for _, m := range msgs {
		next <- m
	}
	close(next)
	start := time.Now()
	for range o.senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fail := func(err error) {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
			c, err := gosmtp.Dial(t.smtpAddr)
			if err != nil {
				fail(err)
				return
			}
			defer c.Close()
			if err := c.Hello("client.example.org"); err != nil {
				fail(err)
				return
			}
			for m := range next {
				if err := c.SendMail("bench@example.org", []string{to}, bytes.NewReader(m)); err != nil {
					fail(err)
					return
				}
			}
			if err := c.Quit(); err != nil {
				fail(err)
			}
		}()
	}
	wg.Wait()
	accepted := time.Since(start)
	if first != nil {
		return first
	}
	rate := float64(o.messages) / accepted.Seconds()
	b.res.add(mSMTPAccept, t.name, rate)
	delivered := accepted
	if t.sinkDir != "" {
		// Postfix queued them durably before 250; now wait until virtual(8)
		// has put every one into the Maildir.
		deadline := time.Now().Add(10 * time.Minute)
		for {
			n, err := countDir(t.sinkDir)
			if err != nil {
				return err
			}
			if n-before >= o.messages {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("only %d of %d messages delivered to %s after 10 minutes", n-before, o.messages, t.sinkDir)
			}
			time.Sleep(5 * time.Millisecond)
		}
		delivered = time.Since(start)
	}
	b.res.add(mSMTPDeliver, t.name, float64(o.messages)/delivered.Seconds())
	b.verbose(round, t, "SMTP %d x %s: accepted in %v (%.0f msg/s), delivered in %v", o.messages, benchkit.FormatSize(o.msgSize),
		accepted.Round(time.Millisecond), rate, delivered.Round(time.Millisecond))
	return nil
}

// ---- IMAP ----

// imapConn is a minimal IMAP4rev1 client: tagged commands, literals read
// whole, untagged responses counted, nothing parsed beyond that.
type imapConn struct {
	c   net.Conn
	r   *bufio.Reader
	tag int
}

func imapLogin(t *target) (*imapConn, error) {
	nc, err := net.DialTimeout("tcp", t.imapAddr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := &imapConn{c: nc, r: bufio.NewReaderSize(nc, 64<<10)}
	if line, err := c.r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "* OK") {
		nc.Close()
		return nil, fmt.Errorf("greeting %q: %v", line, err)
	}
	if _, err := c.cmd("STARTTLS"); err != nil {
		nc.Close()
		return nil, err
	}
	tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		nc.Close()
		return nil, err
	}
	c.c, c.r = tc, bufio.NewReaderSize(tc, 64<<10)
	if _, err := c.cmd(fmt.Sprintf("LOGIN %s %s", t.user, t.pass)); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *imapConn) close() {
	_, _ = c.cmd("LOGOUT")
	c.c.Close()
}

// readResponse reads one response line with its literals; it returns the
// line without the literals' contents and the literal bytes read.
func (c *imapConn) readResponse() (string, int, error) {
	var sb strings.Builder
	lit := 0
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return "", lit, err
		}
		line = strings.TrimRight(line, "\r\n")
		sb.WriteString(line)
		if !strings.HasSuffix(line, "}") {
			return sb.String(), lit, nil
		}
		i := strings.LastIndexByte(line, '{')
		if i < 0 {
			return sb.String(), lit, nil
		}
		n, err := strconv.Atoi(strings.TrimSuffix(line[i+1:len(line)-1], "+"))
		if err != nil {
			return sb.String(), lit, nil
		}
		if _, err := io.CopyN(io.Discard, c.r, int64(n)); err != nil {
			return "", lit, err
		}
		lit += n
	}
}

// cmd sends a command and reads up to its tagged completion; it returns
// the untagged responses.
func (c *imapConn) cmd(command string) ([]string, error) {
	tag, err := c.send(command)
	if err != nil {
		return nil, err
	}
	return c.wait(tag, command)
}

// send writes command under the next tag and returns the tag.
func (c *imapConn) send(command string) (string, error) {
	c.tag++
	tag := "a" + strconv.Itoa(c.tag)
	_, err := io.WriteString(c.c, tag+" "+command+"\r\n")
	return tag, err
}

func (c *imapConn) wait(tag, command string) ([]string, error) {
	var untagged []string
	err := c.each(tag, command, func(line string, _ int) { untagged = append(untagged, line) })
	return untagged, err
}

// each reads the responses up to the completion of the command tagged
// tag, handing f every untagged one with the bytes of its literals.
func (c *imapConn) each(tag, command string, f func(line string, literal int)) error {
	for {
		line, lit, err := c.readResponse()
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, tag+" ") {
			if !strings.HasPrefix(line[len(tag)+1:], "OK") {
				name, _, _ := strings.Cut(command, " ")
				return fmt.Errorf("%s: %s", name, line)
			}
			return nil
		}
		f(line, lit)
	}
}

// appendMsg APPENDs with a synchronizing literal (both servers take it).
func (c *imapConn) appendMsg(mailbox string, msg []byte) error {
	tag, err := c.send(fmt.Sprintf("APPEND %s {%d}", mailbox, len(msg)))
	if err != nil {
		return err
	}
	line, _, err := c.readResponse()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+") {
		return fmt.Errorf("APPEND: %s", line)
	}
	if _, err := c.c.Write(append(slices.Clip(msg), '\r', '\n')); err != nil {
		return err
	}
	_, err = c.wait(tag, "APPEND")
	return err
}

// load APPENDs the -fetch messages to the INBOX in one session (timed once).
func (b *bench) load(t *target) error {
	c, err := imapLogin(t)
	if err != nil {
		return err
	}
	defer c.close()
	u, err := c.cmd("STATUS INBOX (MESSAGES)")
	if err != nil {
		return err
	}
	if len(u) == 0 || !strings.Contains(u[0], "(MESSAGES 0)") {
		return fmt.Errorf("INBOX is not empty: %q", u)
	}
	msgs := make([][]byte, b.o.fetch)
	for i := range msgs {
		msgs[i] = message(i, benchUser+"@"+mailDomain, b.o.msgSize)
	}
	b.settle()
	start := time.Now()
	for _, m := range msgs {
		if err := c.appendMsg("INBOX", m); err != nil {
			return err
		}
	}
	d := time.Since(start)
	b.res.add(mAppend, t.name, float64(len(msgs))/d.Seconds())
	benchkit.Logf("%s: APPENDed %d messages in %v", t.name, len(msgs), d.Round(time.Millisecond))
	// One untimed FETCH so that both start from warmed caches (Dovecot
	// fills dovecot.index.cache on the first one).
	if _, err := c.cmd("EXAMINE INBOX"); err != nil {
		return err
	}
	_, err = c.cmd(fmt.Sprintf("FETCH 1:%d (BODY.PEEK[HEADER])", b.o.fetch))
	return err
}

func (b *bench) imap(t *target, round int) error {
	c, err := imapLogin(t)
	if err != nil {
		return err
	}
	defer c.close()
	u, err := c.cmd("EXAMINE INBOX")
	if err != nil {
		return err
	}
	want := fmt.Sprintf("* %d EXISTS", b.o.fetch)
	if !slices.Contains(u, want) {
		return fmt.Errorf("EXAMINE: no %q in %q", want, u)
	}
	b.settle()
	for _, f := range []struct{ metric, item, what string }{
		{mFetch, "BODY.PEEK[HEADER]", "headers"},
		{mFetchBodies, "BODY.PEEK[]", "bodies"},
	} {
		m, err := c.timeFetch(fmt.Sprintf("FETCH 1:%d (%s)", b.o.fetch, f.item), b.o.fetch, b.o.fetchRepeat)
		if err != nil {
			return err
		}
		b.res.add(f.metric, t.name, benchkit.Median(m))
		b.verbose(round, t, "FETCH 1:%d %s: %v ms (median %.1f)", b.o.fetch, f.what, benchkit.JoinValues(m), benchkit.Median(m))
	}
	return nil
}

// timeFetch runs a FETCH of n messages repeat times in the session and
// returns each one's time in ms; each must return n messages, with their
// literals read to the end.
func (c *imapConn) timeFetch(cmd string, n, repeat int) ([]float64, error) {
	var times []float64
	for range repeat {
		start := time.Now()
		tag, err := c.send(cmd)
		if err != nil {
			return nil, err
		}
		got := 0
		if err := c.each(tag, cmd, func(line string, lit int) {
			if strings.Contains(line, " FETCH ") && lit > 0 {
				got++
			}
		}); err != nil {
			return nil, err
		}
		d := time.Since(start)
		if got != n {
			return nil, fmt.Errorf("%s returned %d messages with content, want %d", cmd, got, n)
		}
		times = append(times, benchkit.MS(d))
	}
	return times, nil
}

// ---- POP3 ----

func (b *bench) pop3(t *target, round int) error {
	nc, err := net.DialTimeout("tcp", t.pop3Addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	r := bufio.NewReaderSize(nc, 64<<10)
	var conn net.Conn = nc
	cmd := func(line string) (string, error) {
		if line != "" {
			if _, err := io.WriteString(conn, line+"\r\n"); err != nil {
				return "", err
			}
		}
		resp, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if !strings.HasPrefix(resp, "+OK") {
			name, _, _ := strings.Cut(line, " ")
			return "", fmt.Errorf("%s: %s", name, strings.TrimSpace(resp))
		}
		return strings.TrimSpace(resp), nil
	}
	if _, err := cmd(""); err != nil {
		return err
	}
	if _, err := cmd("STLS"); err != nil {
		return err
	}
	tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		return err
	}
	conn, r = tc, bufio.NewReaderSize(tc, 64<<10)
	if _, err := cmd("USER " + t.user); err != nil {
		return err
	}
	if _, err := cmd("PASS " + t.pass); err != nil {
		return err
	}
	stat, err := cmd("STAT")
	if err != nil {
		return err
	}
	if f := strings.Fields(stat); len(f) < 2 || f[1] != strconv.Itoa(b.o.fetch) {
		return fmt.Errorf("STAT %q, want %d messages", stat, b.o.fetch)
	}
	b.settle()
	start := time.Now()
	var total int64
	for i := 1; i <= b.o.fetch; i++ {
		if _, err := cmd("RETR " + strconv.Itoa(i)); err != nil {
			return err
		}
		for {
			line, err := r.ReadSlice('\n')
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				return err
			}
			total += int64(len(line))
			if string(line) == ".\r\n" {
				break
			}
		}
	}
	d := time.Since(start)
	// QUIT without DELE: keep mode, nothing changes.
	if _, err := cmd("QUIT"); err != nil {
		return err
	}
	b.res.add(mRetr, t.name, benchkit.MS(d))
	b.verbose(round, t, "RETR %d: %v (%s)", b.o.fetch, d.Round(time.Millisecond), benchkit.FormatSize(total))
	return nil
}
