package app

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// With --tls-cert/--tls-key the listener speaks https and wss only.
func TestTLSListener(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	s := startServer(t, func(c *config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: wait}).Get("https://" + s.addr + "/healthz")
	if err != nil {
		t.Fatalf("https: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("https /healthz: %d", resp.StatusCode)
	}

	conn, err := tls.Dial("tcp", s.addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatalf("wss: %v", err)
	}
	defer conn.Close()
	writeUpgrade(conn, s.addr, "/ws/secure", "")
	br := bufio.NewReader(conn)
	_ = conn.SetDeadline(time.Now().Add(wait))
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("wss upgrade: %v %v", resp, err)
	}
	_, _ = conn.Write([]byte{0x81, 0x80 | 2, 0, 0, 0, 0, 'h', 'i'}) // masked "hi", key 0
	if op, p := readServerFrame(t, br); op != 1 || string(p) != "hi" {
		t.Fatalf("wss echo: opcode %d %q", op, p)
	}

	plain, err := http.Get("http://" + s.addr + "/healthz")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP was served on the TLS listener")
		}
	}
}

// A route listener off loopback without route credentials does not start.
func TestClusterAddrOffLoopbackNeedsCredentials(t *testing.T) {
	cfg := defaultConfig()
	cfg.Addr, cfg.DataDir, cfg.LogLevel = "127.0.0.1:0", t.TempDir(), "error"
	cfg.ClusterName, cfg.ClusterAddr, cfg.NodeName = "c", "0.0.0.0:0", "n1"
	err := run(context.Background(), cfg)
	if !errors.Is(err, bus.ErrRouteAuthRequired) {
		t.Fatalf("run = %v, want %v", err, bus.ErrRouteAuthRequired)
	}
}
