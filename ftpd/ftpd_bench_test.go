package ftpd_test

// Benchmarks of a loopback transfer through a whole ftpd.Server (SQLite
// store, audit log, bans, quota, atomic uploads), each beside a reference
// measured in the same run: the same bytes moved over loopback TCP by plain
// Go code with no FTP at all. Compare the "ferry" line with the "reference"
// line of the same benchmark; cmd/ferrybench compares Ferry with vsftpd.
//
//	go test -run '^$' -bench . -benchtime 2s ./ftpd
//	go test -run '^$' -bench 'Download/4KiB' -cpuprofile cpu.out ./ftpd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/bans"
	"github.com/ferryhq/ferry/ftpd"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store/storetest"
)

// benchEnv is one Ferry FTP server configured as `ferry serve` configures
// it, with one account whose password has the default argon2id cost.
type benchEnv struct {
	addr string
	root string // the partner's tree on disk
}

const benchPassword = "bench password 1"

func newBenchEnv(b *testing.B) *benchEnv { return newBenchEnvStore(b, true) }

// newBenchEnvStore with withStore false gives the server no Store: no audit
// rows, no quota, no upload records. Beside the full server it shows what
// the database costs per transfer.
func newBenchEnvStore(b *testing.B, withStore bool, configure ...func(*ftpd.Server)) *benchEnv {
	b.Helper()
	st := storetest.Open(b, storetest.Backends()[0]) // SQLite, as the embedded default
	dir := b.TempDir()
	files := filepath.Join(dir, "files")
	svc := &partners.Service{Store: st, FilesDir: files}
	ctx := context.Background()
	if _, err := svc.CreatePartner(ctx, partners.PartnerInput{Slug: "bench", Enabled: true}); err != nil {
		b.Fatal(err)
	}
	if _, _, err := svc.CreateAccount(ctx, partners.AccountInput{Partner: "bench", Username: "bench", Password: benchPassword}); err != nil {
		b.Fatal(err)
	}
	srv := &ftpd.Server{Auth: svc, FilesDir: files, Store: st, Guard: &bans.Guard{Store: st, MaxFailures: 10},
		Banner: "bench", IdleTimeout: time.Minute, MaxSessionsPerIP: 0, KeepPassivePorts: true}
	if !withStore {
		srv.Store, srv.Guard = nil, nil
	}
	for _, f := range configure {
		f(srv)
	}
	// A passive port range of 100, as `ferry serve` has by default (the
	// engine takes a path of its own for a range).
	srv.PassivePorts = freeRange(b, 100)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	root := filepath.Join(files, "bench")
	if err := os.MkdirAll(root, 0o750); err != nil {
		b.Fatal(err)
	}
	return &benchEnv{addr: ln.Addr().String(), root: root}
}

func (e *benchEnv) dial(b *testing.B) *ftp.ServerConn {
	b.Helper()
	c, err := ftp.Dial(e.addr, ftp.DialWithTimeout(30*time.Second), ftp.DialWithDisabledMLSD(true))
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Login("bench", benchPassword); err != nil {
		b.Fatal(err)
	}
	return c
}

func writeBenchFile(b *testing.B, path string, size int) []byte {
	b.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>10)
	}
	if err := os.WriteFile(path, data, 0o640); err != nil {
		b.Fatal(err)
	}
	return data
}

// drain reads r to the end with a large buffer.
func drain(r io.Reader, buf []byte) (int64, error) {
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

// refServer accepts loopback connections and runs serve on each: the
// reference for one data connection of FTP.
func refServer(b *testing.B, serve func(c *net.TCPConn)) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c.(*net.TCPConn))
			}()
		}
	}()
	return ln.Addr().String()
}

var benchSizes = []struct {
	name string
	size int
}{{"4KiB", 4 << 10}, {"1MiB", 1 << 20}, {"64MiB", 64 << 20}}

// BenchmarkDownload: RETR of one file. Reference: a new TCP connection per
// file and io.Copy from the *os.File (sendfile), as a data connection does.
// ferry-without-store: the server without its database (no audit row).
func BenchmarkDownload(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name+"/reference", func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "f")
			writeBenchFile(b, path, sz.size)
			addr := refServer(b, func(c *net.TCPConn) {
				f, err := os.Open(path)
				if err != nil {
					return
				}
				defer f.Close()
				_, _ = io.Copy(c, f)
			})
			buf := make([]byte, 1<<20)
			b.SetBytes(int64(sz.size))
			b.ResetTimer()
			for b.Loop() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				if n, err := drain(c, buf); err != nil || n != int64(sz.size) {
					b.Fatalf("read %d bytes: %v", n, err)
				}
				c.Close()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "files/s")
		})
		for _, store := range []bool{true, false} {
			name := "/ferry"
			if !store {
				name = "/ferry-without-store"
			}
			b.Run(sz.name+name, func(b *testing.B) {
				e := newBenchEnvStore(b, store)
				writeBenchFile(b, filepath.Join(e.root, "f"), sz.size)
				c := e.dial(b)
				defer c.Quit()
				buf := make([]byte, 1<<20)
				b.SetBytes(int64(sz.size))
				b.ResetTimer()
				for b.Loop() {
					r, err := c.Retr("f")
					if err != nil {
						b.Fatal(err)
					}
					n, err := drain(r, buf)
					if cerr := r.Close(); err == nil {
						err = cerr
					}
					if err != nil || n != int64(sz.size) {
						b.Fatalf("RETR: %d bytes, %v", n, err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "files/s")
			})
		}
	}
}

// BenchmarkUpload: STOR of one file (new name each time). Reference: a new
// TCP connection per file whose bytes the server writes to a new file
// (write, close; no fsync, no hash), as a plain FTP server does.
// ferry-without-store: the server without its database (no quota check, no
// upload record); the staged write, SHA-256, fsync and rename remain.
func BenchmarkUpload(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name+"/reference", func(b *testing.B) {
			dir := b.TempDir()
			data := make([]byte, sz.size)
			seq := 0
			names := make(chan string, 1)
			addr := refServer(b, func(c *net.TCPConn) {
				f, err := os.Create(<-names)
				if err != nil {
					return
				}
				_, _ = io.Copy(f, c)
				f.Close()
				_, _ = c.Write([]byte{0}) // acknowledged once stored
			})
			b.SetBytes(int64(sz.size))
			b.ResetTimer()
			for b.Loop() {
				seq++
				names <- filepath.Join(dir, fmt.Sprintf("f%d", seq))
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Write(data); err != nil {
					b.Fatal(err)
				}
				_ = c.(*net.TCPConn).CloseWrite()
				var ack [1]byte
				if _, err := io.ReadFull(c, ack[:]); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "files/s")
		})
		for _, store := range []bool{true, false} {
			name := "/ferry"
			if !store {
				name = "/ferry-without-store"
			}
			b.Run(sz.name+name, func(b *testing.B) {
				e := newBenchEnvStore(b, store)
				c := e.dial(b)
				defer c.Quit()
				data := make([]byte, sz.size)
				seq := 0
				b.SetBytes(int64(sz.size))
				b.ResetTimer()
				for b.Loop() {
					seq++
					if err := c.Stor(fmt.Sprintf("f%d", seq), bytes.NewReader(data)); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "files/s")
			})
		}
	}
}

// BenchmarkSession: what each of cmd/ferrybench's parallel sessions does
// (login, PWD, LIST of a folder of one file, RETR 1 MiB, QUIT), with 8 at
// a time. The credentials cache is warm after the first login, as in a
// burst. Reference: connect and read 1 MiB sent with sendfile, twice per
// session (control and data), with the same parallelism.
func BenchmarkSession(b *testing.B) {
	const size = 1 << 20
	b.Run("reference", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "f")
		writeBenchFile(b, path, size)
		addr := refServer(b, func(c *net.TCPConn) {
			f, err := os.Open(path)
			if err != nil {
				return
			}
			defer f.Close()
			_, _ = io.Copy(c, f)
		})
		b.SetParallelism(4) // x GOMAXPROCS (2 here): 8 at a time
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			buf := make([]byte, 256<<10)
			for pb.Next() {
				for range 2 {
					c, err := net.Dial("tcp", addr)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = drain(c, buf)
					c.Close()
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
	})
	b.Run("ferry", func(b *testing.B) {
		e := newBenchEnv(b)
		if err := os.MkdirAll(filepath.Join(e.root, "sess"), 0o750); err != nil {
			b.Fatal(err)
		}
		writeBenchFile(b, filepath.Join(e.root, "sess", "f"), size)
		e.dial(b).Quit() // the first login pays argon2id and fills the cache
		lat := make(chan time.Duration, 1<<16)
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			buf := make([]byte, 256<<10)
			for pb.Next() {
				start := time.Now()
				c := e.dial(b)
				if _, err := c.CurrentDir(); err != nil {
					b.Error(err)
					return
				}
				if _, err := c.List("sess"); err != nil {
					b.Error(err)
					return
				}
				r, err := c.Retr("sess/f")
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = drain(r, buf)
				if err := r.Close(); err != nil {
					b.Error(err)
					return
				}
				_ = c.Quit()
				select {
				case lat <- time.Since(start):
				default:
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
		close(lat)
		var all []time.Duration
		for d := range lat {
			all = append(all, d)
		}
		if len(all) > 0 {
			slices.Sort(all)
			b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		}
	})
}

// BenchmarkList: LIST and MLSD of a folder of 1,000 and 10,000 entries,
// read raw (no client-side parsing). Reference:
// os.ReadDir plus Lstat of each entry, formatted as ls -l lines into a
// buffered writer on a loopback connection.
func BenchmarkList(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		fill := func(b *testing.B, dir string) {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				b.Fatal(err)
			}
			for i := range n {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("report-%06d.csv", i)), []byte("x"), 0o640); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.Run(fmt.Sprintf("%d/reference", n), func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "list")
			fill(b, dir)
			addr := refServer(b, func(c *net.TCPConn) {
				ents, err := os.ReadDir(dir)
				if err != nil {
					return
				}
				w := newLineWriter(c)
				for _, e := range ents {
					fi, err := e.Info()
					if err != nil {
						continue
					}
					fmt.Fprintf(w, "%s 1 ftp ftp %12d %s %s\r\n", fi.Mode(), fi.Size(), fi.ModTime().Format("Jan _2 15:04"), fi.Name())
				}
				w.flush()
			})
			buf := make([]byte, 256<<10)
			b.ResetTimer()
			for b.Loop() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = drain(c, buf)
				c.Close()
			}
		})
		for _, cmd := range []string{"LIST", "MLSD"} {
			b.Run(fmt.Sprintf("%d/ferry-%s", n, cmd), func(b *testing.B) {
				e := newBenchEnv(b)
				fill(b, filepath.Join(e.root, "list"))
				rc := dialRaw(b, e.addr)
				defer rc.close()
				b.ResetTimer()
				for b.Loop() {
					if got := rc.listing(b, cmd+" list"); got == 0 {
						b.Fatalf("%s: nothing listed", cmd)
					}
				}
			})
		}
	}
}

// rawConn is a bare control connection: it times a listing without any
// client-side parsing.
type rawConn struct {
	conn net.Conn
	tp   *textproto.Conn
	buf  []byte
}

func dialRaw(b *testing.B, addr string) *rawConn {
	b.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	rc := &rawConn{conn: conn, tp: textproto.NewConn(conn), buf: make([]byte, 256<<10)}
	rc.expect(b, 220, "")
	rc.expect(b, 331, "USER bench")
	rc.expect(b, 230, "PASS "+benchPassword)
	return rc
}

func (rc *rawConn) close() { rc.tp.Close() }

func (rc *rawConn) expect(b *testing.B, code int, cmd string) string {
	b.Helper()
	if cmd != "" {
		if err := rc.tp.PrintfLine("%s", cmd); err != nil {
			b.Fatal(err)
		}
	}
	_, msg, err := rc.tp.ReadResponse(code)
	if err != nil {
		b.Fatalf("%s: %v", cmd, err)
	}
	return msg
}

// listing runs EPSV and cmd and returns the bytes listed.
func (rc *rawConn) listing(b *testing.B, cmd string) int64 {
	b.Helper()
	msg := rc.expect(b, 229, "EPSV")
	i, j := strings.Index(msg, "(|||"), strings.LastIndex(msg, "|)")
	if i < 0 || j < i {
		b.Fatalf("EPSV reply %q", msg)
	}
	data, err := net.Dial("tcp", "127.0.0.1:"+msg[i+4:j])
	if err != nil {
		b.Fatal(err)
	}
	if err := rc.tp.PrintfLine("%s", cmd); err != nil {
		b.Fatal(err)
	}
	n, err := drain(data, rc.buf)
	data.Close()
	if err != nil {
		b.Fatal(err)
	}
	rc.expect(b, 150, "")
	rc.expect(b, 226, "")
	return n
}

// lineWriter is a minimal buffered writer (the reference's).
type lineWriter struct {
	w   io.Writer
	buf []byte
}

func newLineWriter(w io.Writer) *lineWriter { return &lineWriter{w: w, buf: make([]byte, 0, 64<<10)} }

func (l *lineWriter) Write(p []byte) (int, error) {
	if len(l.buf)+len(p) > cap(l.buf) {
		l.flush()
	}
	l.buf = append(l.buf, p...)
	return len(p), nil
}

func (l *lineWriter) flush() {
	_, _ = l.w.Write(l.buf)
	l.buf = l.buf[:0]
}

// BenchmarkControlLayer: what Ferry's control layer in front of the engine
// costs per command. Two servers run side by side: "ferry" as it serves,
// and "engine", the same server with the engine reading the socket itself
// (no control layer, as before it existed). Each iteration runs the
// command once on each, in alternating order, so that the load of a shared
// machine falls on both alike; the medians of the two series are reported
// with the layer's overhead in percent (negative: the layer was faster).
func BenchmarkControlLayer(b *testing.B) {
	const small = 4 << 10
	cmds := []struct {
		name  string
		run   func(b *testing.B, e *benchEnv, c *ftp.ServerConn, buf []byte, seq int)
		setup func(b *testing.B, e *benchEnv)
	}{
		{"NOOP", func(b *testing.B, _ *benchEnv, c *ftp.ServerConn, _ []byte, _ int) {
			if err := c.NoOp(); err != nil {
				b.Fatal(err)
			}
		}, nil},
		{"SIZE", func(b *testing.B, _ *benchEnv, c *ftp.ServerConn, _ []byte, _ int) {
			if _, err := c.FileSize("f"); err != nil {
				b.Fatal(err)
			}
		}, nil},
		{"DELE", func(b *testing.B, e *benchEnv, c *ftp.ServerConn, _ []byte, seq int) {
			if err := c.Delete(fmt.Sprintf("d%d", seq)); err != nil {
				b.Fatal(err)
			}
		}, nil},
		{"RETR-4KiB", func(b *testing.B, _ *benchEnv, c *ftp.ServerConn, buf []byte, _ int) {
			r, err := c.Retr("f")
			if err != nil {
				b.Fatal(err)
			}
			n, err := drain(r, buf)
			if cerr := r.Close(); err == nil {
				err = cerr
			}
			if err != nil || n != small {
				b.Fatalf("RETR: %d bytes, %v", n, err)
			}
		}, nil},
		{"STOR-4KiB", func(b *testing.B, _ *benchEnv, c *ftp.ServerConn, buf []byte, seq int) {
			if err := c.Stor(fmt.Sprintf("u%d", seq), bytes.NewReader(buf[:small])); err != nil {
				b.Fatal(err)
			}
		}, nil},
		{"LIST-1000", func(b *testing.B, _ *benchEnv, c *ftp.ServerConn, _ []byte, _ int) {
			if ents, err := c.List("l"); err != nil || len(ents) != 1000 {
				b.Fatalf("LIST: %d entries, %v", len(ents), err)
			}
		}, func(b *testing.B, e *benchEnv) {
			dir := filepath.Join(e.root, "l")
			if err := os.MkdirAll(dir, 0o750); err != nil {
				b.Fatal(err)
			}
			for i := range 1000 {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("report-%06d.csv", i)), []byte("x"), 0o640); err != nil {
					b.Fatal(err)
				}
			}
		}},
		// A whole short session: connect, log in (credentials cache warm),
		// PWD, QUIT.
		{"SESSION", func(b *testing.B, e *benchEnv, _ *ftp.ServerConn, _ []byte, _ int) {
			c := e.dial(b)
			if _, err := c.CurrentDir(); err != nil {
				b.Fatal(err)
			}
			if err := c.Quit(); err != nil {
				b.Fatal(err)
			}
		}, nil},
	}
	for _, cmd := range cmds {
		b.Run(cmd.name, func(b *testing.B) {
			type side struct {
				e    *benchEnv
				c    *ftp.ServerConn
				took []time.Duration
			}
			var sides [2]*side // ferry, engine
			for i := range sides {
				var configure []func(*ftpd.Server)
				if i == 1 {
					configure = append(configure, ftpd.BareEngine)
				}
				e := newBenchEnvStore(b, true, configure...)
				writeBenchFile(b, filepath.Join(e.root, "f"), small)
				if cmd.setup != nil {
					cmd.setup(b, e)
				}
				c := e.dial(b) // the first login pays argon2id and fills the cache
				defer c.Quit()
				if err := c.Type(ftp.TransferTypeBinary); err != nil {
					b.Fatal(err)
				}
				sides[i] = &side{e: e, c: c}
			}
			buf := make([]byte, 1<<20)
			seq := 0
			for b.Loop() {
				seq++
				if cmd.name == "DELE" {
					b.StopTimer()
					for _, s := range sides {
						if err := os.WriteFile(filepath.Join(s.e.root, fmt.Sprintf("d%d", seq)), buf[:small], 0o640); err != nil {
							b.Fatal(err)
						}
					}
					b.StartTimer()
				}
				for k := range 2 {
					s := sides[(seq+k)%2]
					start := time.Now()
					cmd.run(b, s.e, s.c, buf, seq)
					s.took = append(s.took, time.Since(start))
				}
			}
			median := func(d []time.Duration) float64 {
				slices.Sort(d)
				return float64(d[len(d)/2].Nanoseconds())
			}
			f, e := median(sides[0].took), median(sides[1].took)
			b.ReportMetric(f, "ferry-ns/cmd")
			b.ReportMetric(e, "engine-ns/cmd")
			b.ReportMetric((f/e-1)*100, "overhead-%")
		})
	}
}
