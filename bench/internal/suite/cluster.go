package suite

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sockbus/sockbus/bench/internal/scenario"
)

// ClusterNodes is the size of both clusters: the smallest JetStream
// cluster that survives losing a node.
const ClusterNodes = 3

// errNoRedis: socket.io's cluster cannot start.
var errNoRedis = errors.New("redis-server not found (Debian: apt-get install redis-server)")

// cluster is ClusterNodes servers of one kind, plus Redis for socket.io.
type cluster struct {
	nodes []*server
	redis *server
}

// RedisPath is the redis-server binary the cluster scenario would run.
func (s Servers) RedisPath() (string, error) {
	p := s.Redis
	if p == "" {
		p = "redis-server"
	}
	path, err := exec.LookPath(p)
	if err != nil {
		return "", errNoRedis
	}
	return path, nil
}

// startCluster starts a cluster of kind on loopback; logs go to
// logBase-node<i>.log (and logBase-redis.log).
func (s Servers) startCluster(ctx context.Context, kind, logBase string) (*cluster, error) {
	c := &cluster{}
	var err error
	switch kind {
	case scenario.KindSockbus:
		err = s.startSockbusCluster(ctx, c, logBase)
	case scenario.KindSocketIO:
		err = s.startSocketIOCluster(ctx, c, logBase)
	default:
		err = fmt.Errorf("no cluster of %s", kind)
	}
	if err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// startSockbusCluster: the nodes embed the NATS cluster (routes between
// them) and keep every stream and the session bucket on all three
// (--replicas 3), as examples/cluster/run.sh does.
func (s Servers) startSockbusCluster(ctx context.Context, c *cluster, logBase string) error {
	routeAddrs := make([]string, ClusterNodes)
	routes := make([]string, ClusterNodes)
	for i := range routeAddrs {
		addr, err := freeLoopbackAddr()
		if err != nil {
			return err
		}
		routeAddrs[i], routes[i] = addr, "nats-route://"+addr
	}
	urls := make([]<-chan string, ClusterNodes)
	logs := make([]string, ClusterNodes)
	for i := range ClusterNodes {
		dir, err := os.MkdirTemp("", "sockbus-bench-data-")
		if err != nil {
			return err
		}
		srv := &server{kind: scenario.KindSockbus, exited: make(chan struct{}), dataDir: dir}
		args := []string{"--addr", "127.0.0.1:0", "--data-dir", dir, "--log-level", "info"}
		args = append(args, s.sockbusFlags()...)
		args = append(args, "--cluster-name", "sockbus-bench", "--cluster-addr", routeAddrs[i],
			"--routes", strings.Join(routes, ","), "--node-name", fmt.Sprintf("node%d", i+1), "--replicas", "3")
		cmd := exec.Command(s.Sockbus, args...)
		cmd.Dir = dir // no SockbusEnv: a pprof listener per node would clash
		logs[i] = fmt.Sprintf("%s-node%d.log", logBase, i+1)
		if urls[i], err = srv.spawn(cmd, logs[i]); err != nil {
			return err
		}
		c.nodes = append(c.nodes, srv)
	}
	// /readyz turns 200 once the cluster has elected its leaders: all three
	// run before any is waited for.
	for i, srv := range c.nodes {
		if err := srv.await(ctx, urls[i], "/readyz", 2*time.Minute, logs[i]); err != nil {
			return err
		}
	}
	return nil
}

// startSocketIOCluster: redis-server (no persistence, a temp dir) and
// three relays with @socket.io/redis-streams-adapter.
func (s Servers) startSocketIOCluster(ctx context.Context, c *cluster, logBase string) error {
	path, err := s.RedisPath()
	if err != nil {
		return err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(addr)
	dir, err := os.MkdirTemp("", "sockbus-bench-redis-")
	if err != nil {
		return err
	}
	c.redis = &server{kind: "redis", exited: make(chan struct{}), dataDir: dir}
	cmd := exec.Command(path, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--protected-mode", "yes")
	cmd.Dir = dir
	if _, err := c.redis.spawn(cmd, logBase+"-redis.log"); err != nil {
		c.redis = nil
		return err
	}
	if err := waitRedis(ctx, addr, c.redis.exited, 30*time.Second); err != nil {
		return fmt.Errorf("redis-server: %w (see %s-redis.log)", err, logBase)
	}
	urls := make([]<-chan string, ClusterNodes)
	logs := make([]string, ClusterNodes)
	for i := range ClusterNodes {
		srv := &server{kind: scenario.KindSocketIO, exited: make(chan struct{})}
		logs[i] = fmt.Sprintf("%s-node%d.log", logBase, i+1)
		cmd := s.nodeRelay("REDIS_URL=redis://"+addr, fmt.Sprintf("NODE_ID=node%d", i+1))
		if urls[i], err = srv.spawn(cmd, logs[i]); err != nil {
			return err
		}
		c.nodes = append(c.nodes, srv)
	}
	for i, srv := range c.nodes {
		if err := srv.await(ctx, urls[i], "/healthz", 30*time.Second, logs[i]); err != nil {
			return err
		}
	}
	return nil
}

// waitRedis waits until Redis at addr answers PING.
func waitRedis(ctx context.Context, addr string, exited <-chan struct{}, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if ping(addr) == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG on %s in %v", addr, d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("exited at start")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

func (c *cluster) urls() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.url)
	}
	return out
}

// pids are every process of the cluster (nodes, then Redis).
func (c *cluster) pids() []int {
	var out []int
	for _, n := range c.nodes {
		out = append(out, n.pid())
	}
	if c.redis != nil {
		out = append(out, c.redis.pid())
	}
	return out
}

// kill SIGKILLs node i (a process this harness started).
func (c *cluster) kill(i int) error {
	if i < 0 || i >= len(c.nodes) {
		return fmt.Errorf("no node %d", i)
	}
	return c.nodes[i].cmd.Process.Signal(syscall.SIGKILL)
}

// exitedExcept lists the nodes that ended, other than the one killed.
func (c *cluster) exitedExcept(killed int) []string {
	var out []string
	for i, n := range c.nodes {
		select {
		case <-n.exited:
			if i != killed {
				out = append(out, fmt.Sprintf("node%d", i+1))
			}
		default:
		}
	}
	if c.redis != nil {
		select {
		case <-c.redis.exited:
			out = append(out, "redis")
		default:
		}
	}
	return out
}

// stop stops the nodes (at once, each bounded by server.stop), then Redis.
func (c *cluster) stop() {
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.stop()
		}()
	}
	wg.Wait()
	if c.redis != nil {
		c.redis.stop()
	}
}

// logBase is where a cluster run's logs go.
func logBase(out string, round int, kind string) string {
	return filepath.Join(out, "logs", fmt.Sprintf("r%d-cluster-%s", round, kind))
}
