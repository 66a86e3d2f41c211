package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/loopback"
)

// startCluster starts n nodes of one NATS cluster (replicas n) in this
// process, together: a cluster needs a quorum to come up.
func startCluster(t *testing.T, n int, mutate ...func(*config)) []*testServer {
	t.Helper()
	routes := loopback.FreeAddrs(t, n)
	servers := make([]*testServer, n)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Go(func() {
			servers[i] = startServer(t, append([]func(*config){clusterNode(routes, i)}, mutate...)...)
		})
	}
	wg.Wait()
	for _, s := range servers {
		if s == nil {
			t.FailNow()
		}
	}
	// Stop every node at once, as a whole cluster's shutdown does (this
	// cleanup runs before the nodes' own). Stopped one after the other,
	// the last ones lose their streams' quorum while they still flush
	// the writes of sockets closed just before: their shutdown then runs
	// out of time (1 run in ~10 of TestForwardedBurstsAreServed).
	t.Cleanup(func() {
		var stopping sync.WaitGroup
		for _, s := range servers {
			stopping.Go(func() { s.stop(t) })
		}
		stopping.Wait()
	})
	return servers
}

// clusterNode configures node i of the cluster whose route addresses are
// routes, with a copy of each stream on every node (replicas n).
func clusterNode(routes []string, i int) func(*config) {
	return func(c *config) {
		c.ClusterName, c.ClusterAddr, c.NodeName = "sbtest", routes[i], fmt.Sprintf("node-%d", i)
		c.Routes = nil
		for _, r := range routes {
			c.Routes = append(c.Routes, "nats-route://"+r)
		}
		c.Replicas = int64(len(routes))
	}
}

// roundRobin is a load balancer with no affinity at all: each HTTP request
// and each WebSocket upgrade goes to the next backend.
type roundRobin struct {
	backends []*url.URL
	next     atomic.Uint64
	hits     []atomic.Int64
}

func newRoundRobin(t *testing.T, addrs []string) (*roundRobin, string) {
	t.Helper()
	rr := &roundRobin{hits: make([]atomic.Int64, len(addrs))}
	for _, a := range addrs {
		rr.backends = append(rr.backends, &url.URL{Scheme: "http", Host: a})
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			i := int((rr.next.Add(1) - 1) % uint64(len(rr.backends)))
			rr.hits[i].Add(1)
			pr.SetURL(rr.backends[i])
		},
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	ln := listenLoopback(t)
	srv := &http.Server{Handler: proxy}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return rr, "http://" + ln.Addr().String()
}

// TestClusterBehindRoundRobin: the official client, with default transports,
// polling only and WebSocket only, works through a balancer that sends
// every request of a session to a different node than the last.
func TestClusterBehindRoundRobin(t *testing.T) {
	node := needNode(t)
	servers := startCluster(t, 3)
	var addrs []string
	for _, s := range servers {
		addrs = append(addrs, s.addr)
	}
	rr, lb := newRoundRobin(t, addrs)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-concurrency=1", "--test-reporter=spec", "test/cluster/")
	cmd.Env = append(os.Environ(), "SOCKBUS_URL="+lb)
	out, err := runNodeSuite(t, cmd)
	if err != nil {
		t.Fatalf("node cluster tests failed: %v\n%s", err, out)
	}
	for i := range rr.hits {
		if rr.hits[i].Load() == 0 {
			t.Errorf("node %d got no request through the balancer", i)
		}
	}
	t.Logf("node cluster tests passed:\n%s", lastLines(string(out), 12))
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func status(t *testing.T, u string) (int, bool) {
	t.Helper()
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return 0, false
	}
	resp.Body.Close()
	return resp.StatusCode, true
}

// TestHealthAndReadiness: /healthz answers 503 from the moment the port is
// bound while the node waits for its cluster, 200 once up; /readyz is 200
// only while the node can store events, and turns 503 when two of three
// nodes stop (no quorum) while /healthz stays 200 (the node is alive).
func TestHealthAndReadiness(t *testing.T) {
	ports := loopback.FreeAddrs(t, 4)
	routes, addr0 := ports[:3], ports[3]
	servers := make([]*testServer, 3)
	var wg sync.WaitGroup
	start := func(i int) {
		wg.Go(func() {
			servers[i] = startServer(t, clusterNode(routes, i), func(c *config) {
				c.ReadyInterval = 200 * time.Millisecond // --ready-interval
				if i == 0 {
					c.Addr = addr0
				}
			})
		})
	}
	start(0) // alone: no quorum, so it stays in start-up
	base := "http://" + addr0
	var code int
	eventually.True(t, 10*time.Second, "node 0 answers /healthz while starting", func() bool {
		var ok bool
		code, ok = status(t, base+"/healthz")
		return ok
	})
	if code != http.StatusServiceUnavailable {
		t.Fatalf("/healthz while starting = %d, want 503", code)
	}
	if code, _ := status(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while starting = %d, want 503", code)
	}
	if code, _ := status(t, base+"/socket.io/?EIO=4&transport=polling"); code != http.StatusServiceUnavailable {
		t.Fatalf("Socket.IO while starting = %d, want 503", code)
	}
	start(1)
	start(2)
	wg.Wait()
	for _, s := range servers {
		if s == nil {
			t.FailNow()
		}
	}
	for i, s := range servers {
		for _, p := range []string{"/healthz", "/readyz"} {
			eventually.True(t, 10*time.Second, fmt.Sprintf("node %d %s 200", i, p), func() bool {
				code, _ := status(t, "http://"+s.addr+p)
				return code == http.StatusOK
			})
		}
	}
	servers[1].stop(t)
	servers[2].stop(t)
	// A Raft leader steps down after 10 s without hearing a quorum
	// (nats-server's lostQuorumInterval); a busy machine adds to that.
	lost := time.Now()
	eventually.True(t, 60*time.Second, "node 0 /readyz 503 without quorum", func() bool {
		code, _ := status(t, base+"/readyz")
		return code == http.StatusServiceUnavailable
	})
	t.Logf("/readyz turned 503 %v after the second node stopped", time.Since(lost).Round(100*time.Millisecond))
	if code, _ := status(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz of a live node without quorum = %d, want 200", code)
	}
}
