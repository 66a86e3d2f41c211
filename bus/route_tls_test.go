package bus

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/testcert"
)

// loggedRouteNode is routeNode with its log kept.
func loggedRouteNode(t *testing.T, c ClusterConfig) (*server.Server, *logBuffer) {
	t.Helper()
	opts := &server.Options{NoSigs: true, DontListen: true}
	if err := clusterOptions(opts, &Config{Cluster: c}); err != nil {
		t.Fatal(err)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	var log logBuffer
	ns.SetLoggerV2(slogAdapter{slog.New(slog.NewTextHandler(&log, nil))}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns, &log
}

// With --cluster-tls-*, a node refuses a plain route and a route whose
// certificate another CA signed, and a node with a certificate of the
// same CA joins; the half-set flags are an error.
func TestRoutesRequireTLS(t *testing.T) {
	ca, other := testcert.NewCA(t, "cluster"), testcert.NewCA(t, "other")
	tlsNode := func(ca *testcert.CA, name string, routes ...string) ClusterConfig {
		cert, key := ca.Issue(t, name)
		return ClusterConfig{Name: "c", Listen: "127.0.0.1:0", NodeName: name, Routes: routes,
			TLSCert: cert, TLSKey: key, TLSCA: ca.File}
	}
	half := tlsNode(ca, "half")
	half.TLSCA = ""
	if err := clusterOptions(&server.Options{}, &Config{Cluster: half}); err == nil || !strings.Contains(err.Error(), "together") {
		t.Fatalf("cert and key without a CA: %v", err)
	}

	nodeA, logA := loggedRouteNode(t, tlsNode(ca, "a"))
	url := "nats-route://" + nodeA.ClusterAddr().String()

	stranger(t, url)
	eventually.True(t, 10*time.Second, "the plain route to be refused", func() bool {
		return strings.Contains(logA.String(), "TLS route handshake error: tls: first record does not look like a TLS handshake")
	})
	// The intruder trusts the cluster's CA, but its own certificate comes
	// from another: node A refuses it itself.
	intruder := tlsNode(other, "intruder", url)
	intruder.TLSCA = ca.File
	loggedRouteNode(t, intruder)
	eventually.True(t, 10*time.Second, "the route with another CA's certificate to be refused", func() bool {
		// Go's TLS client offers no certificate the server's CA list does
		// not name; had it offered this one, verification would fail.
		a := logA.String()
		return strings.Contains(a, "TLS route handshake error: tls: client didn't provide a certificate") ||
			strings.Contains(a, "x509: certificate signed by unknown authority")
	})

	nodeB, _ := loggedRouteNode(t, tlsNode(ca, "b", url))
	eventually.True(t, 10*time.Second, "the node with a certificate of the cluster's CA to join", func() bool {
		return nodeB.NumRoutes() > 0
	})
	rz, err := nodeA.Routez(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rz.Routes {
		if r.RemoteName != "b" {
			t.Fatalf("node A holds a route to %q", r.RemoteName)
		}
	}
	t.Logf("node A refused:\n%s", lastLogLines(logA.String(), 6))
}

func lastLogLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
