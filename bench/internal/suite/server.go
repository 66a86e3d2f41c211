package suite

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"github.com/sockbus/sockbus/bench/internal/scenario"
)

// Servers says how to start each kind.
type Servers struct {
	// Sockbus is the sockbus binary.
	Sockbus string
	// SockbusEnv is added to sockbus's environment (the pprof address).
	SockbusEnv []string
	// SockbusFlags are added to sockbus's command line after --addr,
	// --data-dir and --log-level. Nil: DefaultSockbusFlags. An older
	// binary may need fewer (e.g. none, before --max-events-per-second;
	// no --max-events-per-address before it existed).
	SockbusFlags []string
	// GWSRelay is the gwsrelay binary.
	GWSRelay string
	// NodeDir holds relay.js and its node_modules.
	NodeDir string
	// Node is the node binary. Default "node".
	Node string
	// Redis is the redis-server binary for socket.io's cluster. Default
	// "redis-server" from PATH; the cluster scenario skips socket.io
	// without it.
	Redis string
}

// server is one running server process.
type server struct {
	kind    string
	cmd     *exec.Cmd
	url     string
	natsURL string
	dataDir string
	log     *os.File
	exited  chan struct{}
}

// DefaultSockbusFlags turn off the inbound rate limits (per connection and
// per address: every client is on loopback): the saturation scenario sends
// as fast as it can.
var DefaultSockbusFlags = []string{"--max-events-per-second", "0", "--max-events-per-address", "0"}

var urlLine = regexp.MustCompile(`http://(127\.0\.0\.1:[0-9]+)`)

// start runs a server of kind on a random loopback port and waits until its
// /healthz answers 200. Its output goes to logPath. withNATS gives sockbus
// a NATS listener on a free loopback port.
func (s Servers) start(ctx context.Context, kind, logPath string, withNATS bool) (*server, error) {
	srv := &server{kind: kind, exited: make(chan struct{})}
	var cmd *exec.Cmd
	switch kind {
	case scenario.KindSockbus:
		dir, err := os.MkdirTemp("", "sockbus-bench-data-")
		if err != nil {
			return nil, err
		}
		srv.dataDir = dir
		// Info: the start-up line names the port.
		args := []string{"--addr", "127.0.0.1:0", "--data-dir", dir, "--log-level", "info"}
		args = append(args, s.sockbusFlags()...)
		if withNATS {
			addr, err := freeLoopbackAddr()
			if err != nil {
				return nil, err
			}
			args = append(args, "--nats-addr", addr)
			srv.natsURL = "nats://" + addr
		}
		cmd = exec.Command(s.Sockbus, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), s.SockbusEnv...)
	case scenario.KindGWS:
		// The same 1 KiB read buffer sockbus uses: the floor with equal buffers.
		cmd = exec.Command(s.GWSRelay, "--addr", "127.0.0.1:0", "--read-buffer", "1024")
	case scenario.KindSocketIO:
		cmd = s.nodeRelay()
	default:
		return nil, fmt.Errorf("unknown server kind %q", kind)
	}
	urls, err := srv.spawn(cmd, logPath)
	if err != nil {
		return nil, err
	}
	if err := srv.await(ctx, urls, "/healthz", 30*time.Second, logPath); err != nil {
		return nil, err
	}
	return srv, nil
}

func (s Servers) sockbusFlags() []string {
	if s.SockbusFlags == nil {
		return DefaultSockbusFlags
	}
	return s.SockbusFlags
}

// nodeRelay is the command of the socket.io relay; extra is added to its
// environment.
func (s Servers) nodeRelay(extra ...string) *exec.Cmd {
	node := s.Node
	if node == "" {
		node = "node"
	}
	cmd := exec.Command(node, filepath.Join(s.NodeDir, "relay.js"))
	cmd.Dir = s.NodeDir
	cmd.Env = append(append(os.Environ(), "PORT=0", "HOST=127.0.0.1", "NODE_ENV=production"), extra...)
	return cmd
}

// spawn starts cmd as srv's process, its output going to logPath; the
// channel gets the first http://127.0.0.1:<port> URL it prints.
func (srv *server) spawn(cmd *exec.Cmd, logPath string) (<-chan string, error) {
	kind := srv.kind
	lf, err := os.Create(logPath)
	if err != nil {
		srv.cleanup()
		return nil, err
	}
	srv.log = lf
	// The URL line: sockbus logs it (stderr; builds before 0e78f80 printed
	// it on stdout, so both are read), the relays print it (stdout).
	var out io.ReadCloser
	var pw *os.File
	if kind == scenario.KindSockbus {
		var pr *os.File
		if pr, pw, err = os.Pipe(); err == nil {
			cmd.Stdout, cmd.Stderr, out = pw, pw, pr
		}
	} else {
		cmd.Stderr = lf
		out, err = cmd.StdoutPipe()
	}
	if err != nil {
		srv.cleanup()
		return nil, err
	}
	err = cmd.Start()
	if pw != nil {
		pw.Close() // the child has its copy: EOF when it exits
	}
	if err != nil {
		if out != nil {
			out.Close()
		}
		srv.cleanup()
		return nil, fmt.Errorf("failed to start %s: %w", kind, err)
	}
	srv.cmd = cmd
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		found := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(lf, line)
			if m := urlLine.FindStringSubmatch(line); m != nil && !found {
				found = true
				urls <- "http://" + m[1]
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = out.Close()
		_ = cmd.Wait()
		close(srv.exited)
	}()
	return urls, nil
}

// await waits for srv's URL line, then for path to answer 200 (both within
// d); it stops srv on failure.
func (srv *server) await(ctx context.Context, urls <-chan string, path string, d time.Duration, logPath string) error {
	kind := srv.kind
	select {
	case srv.url = <-urls:
	case <-srv.exited:
		srv.stop()
		return fmt.Errorf("%s exited at start (see %s)", kind, logPath)
	case <-time.After(d):
		srv.stop()
		return fmt.Errorf("%s printed no URL in %v (see %s)", kind, d, logPath)
	case <-ctx.Done():
		srv.stop()
		return ctx.Err()
	}
	if err := waitHealthy(ctx, srv.url+path, d); err != nil {
		srv.stop()
		return fmt.Errorf("%s: %w (see %s)", kind, err, logPath)
	}
	return nil
}

// freeLoopbackAddr returns a loopback address whose port is free right now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitHealthy polls url until it answers 200, for at most d.
func waitHealthy(ctx context.Context, url string, d time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(d)
	for {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready in %v", url, d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (srv *server) pid() int { return srv.cmd.Process.Pid }

// stop sends SIGTERM, waits up to 10 s, then kills; it removes the data dir.
func (srv *server) stop() {
	if srv.cmd != nil && srv.cmd.Process != nil {
		_ = srv.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-srv.exited:
		case <-time.After(10 * time.Second):
			_ = srv.cmd.Process.Kill()
			<-srv.exited
		}
	}
	srv.cleanup()
}

func (srv *server) cleanup() {
	if srv.log != nil {
		_ = srv.log.Close()
	}
	if srv.dataDir != "" {
		_ = os.RemoveAll(srv.dataDir)
	}
}
