package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/internal/benchkit"
)

// Files every round reads, created on disk before the rounds (not timed).
const (
	sessDir  = "sess"
	retrName = "sess/retr.bin"
	listDir  = "list"
)

type bench struct {
	o   *options
	res *results
	src string // the big file's source on the client side
}

func dial(t *target, opts ...ftp.DialOption) (*ftp.ServerConn, error) {
	opts = append([]ftp.DialOption{ftp.DialWithTimeout(60 * time.Second), ftp.DialWithDisabledMLSD(true)}, opts...)
	c, err := ftp.Dial(t.addr, opts...)
	if err != nil {
		return nil, err
	}
	if err := c.Login(t.user, t.pass); err != nil {
		c.Quit()
		return nil, fmt.Errorf("login: %w", err)
	}
	return c, nil
}

// prepare creates the fixtures the selected workloads read, directly on
// disk.
func prepare(t *target, o *options) error {
	if o.only["sessions"] {
		if err := os.MkdirAll(filepath.Join(t.root, sessDir), 0o755); err != nil {
			return err
		}
		if err := writeRandomFile(filepath.Join(t.root, retrName), o.retrSize); err != nil {
			return err
		}
	}
	ld := filepath.Join(t.root, listDir)
	if err := os.MkdirAll(ld, 0o755); err != nil {
		return err
	}
	for i := range o.entries {
		if !o.only["list"] {
			break
		}
		// Sizes vary so that the size column has varying widths, as in life.
		if err := os.WriteFile(filepath.Join(ld, fmt.Sprintf("report-%06d.csv", i)), bytes.Repeat([]byte("x"), i%97), 0o644); err != nil {
			return err
		}
	}
	if t.uid >= 0 {
		return filepath.Walk(t.root, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, t.uid, t.gid)
		})
	}
	return nil
}

func writeRandomFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	r := mrand.NewChaCha8([32]byte{1, 2, 3})
	_, _ = r.Read(buf)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
		left -= n
		buf[0]++ // not one repeated block
	}
	return f.Close()
}

// settle lets the server end what it does in the background (a big
// upload's SHA-256 after its 226, audit rows, alerts) before the next step
// starts or its CPU is read: at least 100 ms, and until its CPU time moved
// by at most one tick (10 ms) over the last 100 ms, for at most 5 s. A
// fixed 100 ms had Ferry's download of a 512 MiB file race the hash of its
// upload on the machine's two cores. t nil: the disk reference, no server.
func (b *bench) settle(t *target) {
	if b.o.syncBetween {
		syscall.Sync()
	}
	time.Sleep(100 * time.Millisecond)
	if t == nil || t.pid == 0 {
		return
	}
	last, err := cpuTime(t)
	for deadline := time.Now().Add(5 * time.Second); err == nil && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		var now time.Duration
		if now, err = cpuTime(t); err == nil && now-last <= time.Second/userHZ {
			return
		}
		last = now
	}
}

// addCPU records the server's CPU per operation of the step that just
// ended (n operations), if it could be read.
func (b *bench) addCPU(metric string, t *target, m *cpuMeter, n int) {
	if v, ok := m.per(n); ok {
		b.res.add(metric, t.name, v)
	}
}

func (b *bench) runOne(ctx context.Context, w string, t *target, round int) error {
	switch w {
	case "big":
		return b.big(t, round)
	case "small":
		return b.small(t, round)
	case "steps":
		return b.steps(t, round)
	case "sessions":
		return b.sessions(ctx, t, round)
	case "list":
		return b.list(t, round)
	}
	return fmt.Errorf("unknown workload %q", w)
}

// readAll drains a download with a large buffer, as a client writing to a
// fast disk would, without paying for the disk.
func readAll(r io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		m, err := r.Read(buf)
		n += int64(m)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (b *bench) big(t *target, round int) error {
	c, err := dial(t)
	if err != nil {
		return err
	}
	defer c.Quit()
	name := fmt.Sprintf("big-r%d.bin", round)
	src, err := os.Open(b.src)
	if err != nil {
		return err
	}
	defer src.Close()
	b.settle(t)
	start := time.Now()
	if err := c.Stor(name, src); err != nil {
		return fmt.Errorf("STOR: %w", err)
	}
	up := time.Since(start)

	b.settle(t)
	buf := make([]byte, 1<<20)
	start = time.Now()
	resp, err := c.Retr(name)
	if err != nil {
		return fmt.Errorf("RETR: %w", err)
	}
	n, err := readAll(resp, buf)
	if cerr := resp.Close(); err == nil {
		err = cerr
	}
	down := time.Since(start)
	if err != nil {
		return fmt.Errorf("RETR: %w", err)
	}
	if n != b.o.big {
		return fmt.Errorf("RETR: got %d bytes, want %d", n, b.o.big)
	}
	if err := c.Delete(name); err != nil {
		return fmt.Errorf("DELE: %w", err)
	}
	b.res.add(mBigUp, t.name, float64(b.o.big)/up.Seconds()/1e6)
	b.res.add(mBigDown, t.name, float64(b.o.big)/down.Seconds()/1e6)
	b.verbose(round, t, "big: up %.0f MB/s, down %.0f MB/s", float64(b.o.big)/up.Seconds()/1e6, float64(b.o.big)/down.Seconds()/1e6)
	return nil
}

func (b *bench) small(t *target, round int) error {
	c, err := dial(t)
	if err != nil {
		return err
	}
	defer c.Quit()
	dir := fmt.Sprintf("small-r%d", round)
	if err := c.MakeDir(dir); err != nil {
		return fmt.Errorf("MKD: %w", err)
	}
	data := make([]byte, b.o.fileSize)
	r := mrand.NewChaCha8([32]byte{4, 5, 6})
	_, _ = r.Read(data)
	names := make([]string, b.o.files)
	for i := range names {
		names[i] = fmt.Sprintf("%s/f-%05d.dat", dir, i)
	}
	b.settle(t)
	cpu := newCPUMeter(t)
	start := time.Now()
	for _, n := range names {
		if err := c.Stor(n, bytes.NewReader(data)); err != nil {
			return fmt.Errorf("STOR %s: %w", n, err)
		}
	}
	up := time.Since(start)

	// The settle after each step lets the server end what it does in the
	// background (audit rows, alerts) before its CPU is read.
	b.settle(t)
	b.addCPU(mSmallUpCPU, t, cpu, len(names))
	buf := make([]byte, 64<<10)
	start = time.Now()
	for _, n := range names {
		resp, err := c.Retr(n)
		if err != nil {
			return fmt.Errorf("RETR %s: %w", n, err)
		}
		got, err := readAll(resp, buf)
		if cerr := resp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("RETR %s: %w", n, err)
		}
		if got != b.o.fileSize {
			return fmt.Errorf("RETR %s: %d bytes, want %d", n, got, b.o.fileSize)
		}
	}
	down := time.Since(start)

	b.settle(t)
	b.addCPU(mSmallDownCPU, t, cpu, len(names))
	start = time.Now()
	for _, n := range names {
		if err := c.Delete(n); err != nil {
			return fmt.Errorf("DELE %s: %w", n, err)
		}
	}
	del := time.Since(start)
	b.settle(t)
	b.addCPU(mDeleteCPU, t, cpu, len(names))
	upRate, downRate, delRate := float64(b.o.files)/up.Seconds(), float64(b.o.files)/down.Seconds(), float64(b.o.files)/del.Seconds()
	b.res.add(mSmallUp, t.name, upRate)
	b.res.add(mSmallDown, t.name, downRate)
	b.res.add(mDelete, t.name, delRate)
	b.verbose(round, t, "small files: up %.0f files/s, down %.0f files/s, delete %.0f files/s", upRate, downRate, delRate)
	return c.RemoveDir(dir)
}

// disk measures what the disk's own sync costs, in the folder the servers
// write to: the big file written and fsynced (dd conv=fsync), and as many
// small files as the small test, each created, written and fsynced, the
// floor under a server that syncs every upload before 226; then the same
// published whole (written in a staging folder, fsynced, renamed into
// place, its folder fsynced), the floor under Ferry's default.
func (b *bench) disk(dir, workload string) error {
	stage := filepath.Join(dir, "disk-staging")
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	for _, publish := range []bool{false, true} {
		name := nameDisk
		if publish {
			name = nameDiskPublish
		}
		b.settle(nil)
		switch workload {
		case "big":
			src, err := os.Open(b.src)
			if err != nil {
				return err
			}
			dst := filepath.Join(dir, "disk-big.bin")
			start := time.Now()
			err = writeSynced(stage, dst, src, publish)
			elapsed := time.Since(start)
			src.Close()
			os.Remove(dst)
			if err != nil {
				return err
			}
			b.res.add(mBigUp, name, float64(b.o.big)/elapsed.Seconds()/1e6)
		case "small":
			data := make([]byte, b.o.fileSize)
			sub := filepath.Join(dir, "disk-small")
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return err
			}
			start := time.Now()
			for i := range b.o.files {
				if err := writeSynced(stage, filepath.Join(sub, fmt.Sprintf("f-%05d.dat", i)), bytes.NewReader(data), publish); err != nil {
					os.RemoveAll(sub)
					return err
				}
			}
			elapsed := time.Since(start)
			if err := os.RemoveAll(sub); err != nil {
				return err
			}
			b.res.add(mSmallUp, name, float64(b.o.files)/elapsed.Seconds())
		}
	}
	return nil
}

// writeSynced writes r to name and fsyncs it; with publish, it writes in
// stage first, then renames the file to name and fsyncs name's folder.
func writeSynced(stage, name string, r io.Reader, publish bool) error {
	tmp := name
	if publish {
		tmp = filepath.Join(stage, filepath.Base(name))
	}
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil || !publish {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// oneSession is what each of the parallel sessions does.
func oneSession(t *target, buf []byte) error {
	c, err := dial(t)
	if err != nil {
		return err
	}
	if _, err := c.CurrentDir(); err != nil {
		c.Quit()
		return fmt.Errorf("PWD: %w", err)
	}
	entries, err := c.List(sessDir)
	if err != nil {
		c.Quit()
		return fmt.Errorf("LIST: %w", err)
	}
	if len(entries) != 1 {
		c.Quit()
		return fmt.Errorf("LIST %s: %d entries, want 1", sessDir, len(entries))
	}
	resp, err := c.Retr(retrName)
	if err != nil {
		c.Quit()
		return fmt.Errorf("RETR: %w", err)
	}
	_, err = readAll(resp, buf)
	if cerr := resp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		c.Quit()
		return fmt.Errorf("RETR: %w", err)
	}
	return c.Quit()
}

func (b *bench) sessions(ctx context.Context, t *target, round int) error {
	if b.o.warm {
		// One login before the burst, not timed: Ferry's credentials cache
		// then holds the account, as after a partner's first session.
		c, err := dial(t)
		if err != nil {
			return fmt.Errorf("warm-up login: %w", err)
		}
		_ = c.Quit()
	}
	b.settle(t)
	cpu := newCPUMeter(t)
	sampler := startSampler(t, b.o.sampleEvery)
	total := b.o.sessions * b.o.sessionRuns
	lat := make([]time.Duration, 0, total)
	var (
		mu       sync.Mutex
		firstErr error
		failed   int
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range b.o.sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for range b.o.sessionRuns {
				if ctx.Err() != nil {
					return
				}
				s := time.Now()
				err := oneSession(t, buf)
				d := time.Since(s)
				mu.Lock()
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	peak := sampler.stop()
	b.settle(t)
	b.addCPU(mSessCPU, t, cpu, total)
	if failed == total {
		return firstErr
	}
	if failed > 0 {
		benchkit.Logf("round %d %s: %d of %d sessions failed, the first with: %v", round, t.name, failed, total, firstErr)
	}
	slices.Sort(lat)
	rate := float64(total-failed) / elapsed.Seconds()
	b.res.add(mSessErr, t.name, float64(failed))
	p50, p99 := percentile(lat, 50), percentile(lat, 99)
	b.res.add(mSessRate, t.name, rate)
	b.res.add(mSessP50, t.name, benchkit.MS(p50))
	b.res.add(mSessP99, t.name, benchkit.MS(p99))
	b.res.add(mPeakRSS, t.name, float64(peak.bytes)/(1<<20))
	b.res.addProcs(t.name, peak.procs)
	b.verbose(round, t, "sessions: %d in %v, %.0f/s, p50 %.1f ms, p99 %.1f ms, peak RSS %.1f MiB (%s)",
		total, elapsed.Round(time.Millisecond), rate, benchkit.MS(p50), benchkit.MS(p99), float64(peak.bytes)/(1<<20), peak.how)
	return nil
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100 // nearest rank
	return sorted[max(0, min(len(sorted)-1, i-1))]
}

func (b *bench) list(t *target, round int) error {
	measure := func(opts []ftp.DialOption, f func(c *ftp.ServerConn) (int, error)) (float64, error) {
		c, err := dial(t, opts...)
		if err != nil {
			return 0, err
		}
		defer c.Quit()
		var times []float64
		for range b.o.listRepeat {
			start := time.Now()
			n, err := f(c)
			d := time.Since(start)
			if err != nil {
				return 0, err
			}
			if n != b.o.entries {
				return 0, fmt.Errorf("%d entries listed, want %d", n, b.o.entries)
			}
			times = append(times, benchkit.MS(d))
		}
		return benchkit.Median(times), nil
	}
	b.settle(t)
	list, err := measure(nil, countEntries)
	if err != nil {
		return fmt.Errorf("LIST: %w", err)
	}
	b.res.add(mList, t.name, list)
	raw, err := b.rawList(t, "LIST")
	if err != nil {
		return fmt.Errorf("raw LIST: %w", err)
	}
	b.res.add(mListRaw, t.name, raw)
	msg := fmt.Sprintf("LIST %d entries: %.1f ms (raw %.1f ms)", b.o.entries, list, raw)
	if t.mlsd {
		mlsd, err := measure([]ftp.DialOption{ftp.DialWithDisabledMLSD(false)}, countEntries)
		if err != nil {
			return fmt.Errorf("MLSD: %w", err)
		}
		b.res.add(mMLSD, t.name, mlsd)
		rawM, err := b.rawList(t, "MLSD")
		if err != nil {
			return fmt.Errorf("raw MLSD: %w", err)
		}
		b.res.add(mMLSDRaw, t.name, rawM)
		msg += fmt.Sprintf(", MLSD %.1f ms (raw %.1f ms)", mlsd, rawM)
	}
	b.verbose(round, t, "%s", msg)
	return nil
}

// countEntries lists the listed folder and counts its entries; the folder
// itself and its parent, which some servers' MLSD lists (type=cdir,
// type=pdir), do not count.
func countEntries(c *ftp.ServerConn) (int, error) {
	e, err := c.List(listDir)
	n := 0
	for _, x := range e {
		if x.Name != "." && x.Name != ".." {
			n++
		}
	}
	return n, err
}

// rawList times a listing without parsing it on the client side, with a
// minimal client: from sending the command to the 226 reply, the data read
// into a buffer. It shows the server's own cost, which the parsing of the
// Go client (the same for both servers) otherwise dilutes.
func (b *bench) rawList(t *target, cmd string) (float64, error) {
	conn, err := net.DialTimeout("tcp", t.addr, 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Minute))
	tp := textproto.NewConn(conn)
	expect := func(code int, format string, args ...any) (string, error) {
		if format != "" {
			if err := tp.PrintfLine(format, args...); err != nil {
				return "", err
			}
		}
		_, msg, err := tp.ReadResponse(code)
		return msg, err
	}
	if _, err := expect(220, ""); err != nil {
		return 0, err
	}
	if _, err := expect(331, "USER %s", t.user); err != nil {
		return 0, err
	}
	if _, err := expect(230, "PASS %s", t.pass); err != nil {
		return 0, err
	}
	var times []float64
	buf := make([]byte, 256<<10)
	for range b.o.listRepeat {
		start := time.Now()
		msg, err := expect(229, "EPSV")
		if err != nil {
			return 0, err
		}
		i, j := strings.Index(msg, "(|||"), strings.LastIndex(msg, "|)")
		if i < 0 || j < i {
			return 0, fmt.Errorf("EPSV reply %q", msg)
		}
		port, err := strconv.Atoi(msg[i+4 : j])
		if err != nil {
			return 0, fmt.Errorf("EPSV reply %q", msg)
		}
		data, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 10*time.Second)
		if err != nil {
			return 0, err
		}
		if err := tp.PrintfLine("%s %s", cmd, listDir); err != nil {
			data.Close()
			return 0, err
		}
		lines := 0
		br := bufio.NewReaderSize(data, len(buf))
		for {
			chunk, err := br.ReadSlice('\n')
			if len(chunk) > 0 && !bytes.Contains(bytes.ToLower(chunk), []byte("type=cdir")) &&
				!bytes.Contains(bytes.ToLower(chunk), []byte("type=pdir")) {
				lines++
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				if !errors.Is(err, bufio.ErrBufferFull) {
					data.Close()
					return 0, err
				}
				lines-- // a line longer than the buffer: counted once
			}
		}
		data.Close()
		code, _, err := tp.ReadResponse(0)
		if err != nil && code != 150 && code != 125 {
			return 0, err
		}
		if code == 150 || code == 125 {
			if _, _, err := tp.ReadResponse(226); err != nil {
				return 0, err
			}
		}
		d := time.Since(start)
		if lines != b.o.entries {
			return 0, fmt.Errorf("%s: %d lines, want %d", cmd, lines, b.o.entries)
		}
		times = append(times, benchkit.MS(d))
	}
	_, _ = expect(221, "QUIT")
	return benchkit.Median(times), nil
}

func (b *bench) verbose(round int, t *target, format string, args ...any) {
	if b.o.verbose {
		benchkit.Logf("round %d %-6s "+format, append([]any{round, t.name}, args...)...)
	}
}
