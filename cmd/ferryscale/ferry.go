package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/benchkit"
	"github.com/ferryhq/ferry/internal/freeport"
)

// ferryProc is the `ferry serve` the measurements run against.
type ferryProc struct {
	proc            *benchkit.Proc
	http, ftp, imap string // host:port
	log, bin, data  string
	environ         []string
}

func (f *ferryProc) stop() { f.proc.Stop(10 * time.Second) }

// startFerry builds (unless -ferry-bin) and starts `ferry serve` on dbURL
// with HTTP, FTP and IMAP (STARTTLS, a self-signed certificate) on free
// 127.0.0.1 ports.
func startFerry(o *options, dir, dbURL string) (*ferryProc, error) {
	bin, err := benchkit.FerryBinary(o.ferryBin, filepath.Join(dir, "ferry"))
	if err != nil {
		return nil, err
	}
	cert, key, err := selfSigned(dir)
	if err != nil {
		return nil, err
	}
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = freeport.Port(); err != nil {
			return nil, err
		}
	}
	pmin, pmax, err := freeport.Range(50)
	if err != nil {
		return nil, err
	}
	f := &ferryProc{http: fmt.Sprintf("127.0.0.1:%d", ports[0]), ftp: fmt.Sprintf("127.0.0.1:%d", ports[1]),
		imap: fmt.Sprintf("127.0.0.1:%d", ports[2]), log: filepath.Join(dir, "ferry.log"), bin: bin,
		data: filepath.Join(dir, "data")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FERRY_") {
			f.environ = append(f.environ, kv)
		}
	}
	f.environ = append(f.environ,
		"FERRY_DATABASE_URL="+dbURL,
		"FERRY_DATA_DIR="+f.data,
		"FERRY_HTTP_ADDR="+f.http,
		"FERRY_FTP_ADDR="+f.ftp,
		fmt.Sprintf("FERRY_FTP_PASSIVE_PORTS=%d-%d", pmin, pmax),
		"FERRY_IMAP_ADDR="+f.imap,
		"FERRY_TLS_CERT="+cert, "FERRY_TLS_KEY="+key,
		"FERRY_FTPS_ADDR=", "FERRY_SMTP_ADDR=", "FERRY_POP3_ADDR=",
		"FERRY_FTP_MAX_SESSIONS=0", "FERRY_FTP_MAX_SESSIONS_PER_IP=0", "FERRY_FTP_MAX_SESSIONS_PER_ACCOUNT=0",
		"FERRY_MAIL_MAX_CONNECTIONS=0", "FERRY_MAIL_MAX_CONNECTIONS_PER_IP=0",
		"FERRY_BAN_MAX_FAILURES=0",
		"FERRY_LOG_LEVEL=warn",
	)
	cmd := exec.Command(bin, "serve")
	cmd.Env, cmd.Dir = f.environ, dir
	if f.proc, err = benchkit.StartProc(cmd, f.log); err != nil {
		return nil, err
	}
	// Migrations on a big database (new indexes) take a while.
	if err := f.proc.Ready(30*time.Minute, func() error {
		resp, err := http.Get("http://" + f.http + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return benchkit.Greets(f.ftp, "220")
	}); err != nil {
		return nil, fmt.Errorf("ferry serve: %w\n%s", err, benchkit.Tail(f.log, 30))
	}
	benchkit.Logf("ferry %s: HTTP %s, FTP %s, IMAP %s, pid %d", bin, f.http, f.ftp, f.imap, f.proc.Pid())
	return f, nil
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(dir string) (certPath, keyPath string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ferryscale"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", err
	}
	return certPath, keyPath, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
}
