package app

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"sync"
	"testing"

	"github.com/sockbus/sockbus/internal/testcert"
	"github.com/sockbus/sockbus/internal/wstest"
)

// TestClusterRoutesOverTLS: three nodes given --cluster-tls-* (and route
// credentials) form a cluster whose route listeners require TLS; a message
// sent on one node reaches a client on another. bus/TestRoutesRequireTLS
// shows that a plain route and another CA's certificate are refused.
func TestClusterRoutesOverTLS(t *testing.T) {
	ca := testcert.NewCA(t, "cluster")
	cert, key := ca.Issue(t, "node") // every node's routes dial 127.0.0.1
	var mu sync.Mutex
	var routeAddrs []string
	nodes := startCluster(t, 3, func(c *config) {
		c.ClusterTLSCert, c.ClusterTLSKey, c.ClusterTLSCA = cert, key, ca.File
		c.ClusterUser, c.ClusterPassword = "route", "s3cret"
		mu.Lock()
		routeAddrs = append(routeAddrs, c.ClusterAddr)
		mu.Unlock()
	})
	a := wstest.Dial(t, nodes[0].ws("/ws/over-tls"))
	c := wstest.Dial(t, nodes[2].ws("/ws/over-tls"))
	a.SendText(t, "across")
	if got := c.NextText(t, wait); got != "across" {
		t.Fatalf("node 2 got %q, want the message sent on node 0", got)
	}
	// Each route listener speaks TLS at once and takes a node's certificate
	// (a plain listener would answer with a text INFO line instead).
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	for _, addr := range routeAddrs {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: wait}, "tcp", addr,
			&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}})
		if err != nil {
			t.Fatalf("TLS handshake with route listener %s: %v", addr, err)
		}
		conn.Close()
	}
}
