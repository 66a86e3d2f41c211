package bus

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/sockbus/sockbus/internal/eventually"
)

// logBuffer is a slog destination that tests read while servers write.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// routeNode starts nats-server with the cluster options Start derives
// from c (clusterOptions).
func routeNode(t *testing.T, c ClusterConfig) *server.Server {
	t.Helper()
	opts := &server.Options{NoSigs: true, DontListen: true}
	if err := clusterOptions(opts, &Config{Cluster: c}); err != nil {
		t.Fatal(err)
	}
	return startServer(t, opts)
}

func startServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// stranger starts a bare nats-server that dials route as a cluster peer
// would, with whatever credentials the URL carries.
func stranger(t *testing.T, route string) (*server.Server, *logBuffer) {
	t.Helper()
	opts := &server.Options{
		ServerName: "stranger", Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true,
		Cluster: server.ClusterOpts{Name: "c", Host: "127.0.0.1", Port: server.RANDOM_PORT},
		Routes:  server.RoutesFromStr(route),
	}
	var log logBuffer
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.SetLoggerV2(slogAdapter{slog.New(slog.NewTextHandler(&log, nil))}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("stranger not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns, &log
}

// A node with route credentials refuses routes without them or with a
// wrong password, and a node given them joins with a bare route URL.
func TestRoutesRequireCredentials(t *testing.T) {
	_, err := Start(context.Background(), Config{DataDir: t.TempDir(),
		Cluster: ClusterConfig{Name: "c", Listen: "0.0.0.0:0", NodeName: "x"}})
	if !errors.Is(err, ErrRouteAuthRequired) {
		t.Fatalf("a route listener off loopback without credentials: %v", err)
	}

	// The nodes run the route options Start gives nats-server, without
	// JetStream: a lone clustered JetStream node waits for its peers.
	creds := ClusterConfig{Name: "c", Listen: "127.0.0.1:0", User: "route", Password: "s3cret"}
	a := creds
	a.NodeName = "a"
	nodeA := routeNode(t, a)
	addr := nodeA.ClusterAddr().String()

	_, noCreds := stranger(t, "nats-route://"+addr)
	_, wrong := stranger(t, "nats-route://route:wrong@"+addr)
	for name, log := range map[string]*logBuffer{"no credentials": noCreds, "wrong password": wrong} {
		eventually.True(t, 10*time.Second, "the route with "+name+" to be refused", func() bool {
			return strings.Contains(log.String(), "Authorization Violation")
		})
	}

	b := creds
	b.NodeName, b.Routes = "b", []string{"nats-route://" + addr}
	nodeB := routeNode(t, b)
	eventually.True(t, 10*time.Second, "the credentialed node to join", func() bool {
		return nodeB.NumRoutes() > 0
	})
	// Every route node A holds is node B's (B may open several, pooled).
	rz, err := nodeA.Routez(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rz.Routes {
		if r.RemoteName != "b" {
			t.Fatalf("node A holds a route to %q", r.RemoteName)
		}
	}
}
