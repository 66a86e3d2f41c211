package channels

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/testutil"
)

// The test binary plays three parts, told apart by these variables: the
// test (it starts the measuring process), the measuring process (the
// server, with GODEBUG=adaptivestackstart=0) and the client process.
const (
	idleServerEnv = "SOCKBUS_CHANNELS_IDLE_SERVER"
	idleClientEnv = "SOCKBUS_CHANNELS_IDLE_CLIENTS"
	idleConns     = 1000
)

// maxIdleStackPerConn bounds the goroutine stack an idle channel
// connection keeps after it sent a message: gws's read loop on the
// runtime's smallest stack, 2 KiB (plus the noise of the bus's goroutines).
// Measured 2,097-2,261 B; with its messages handled on the read loop, as
// before wsconn.Handlers served the channels too: 4,260 B (a loop that
// handled a message grew to 4 KiB and kept it).
const maxIdleStackPerConn = 2048 + 512

// TestIdleChannelMemory opens idleConns plain WebSocket connections from a
// child process, each sends one message, and checks the goroutine stack
// each costs the server once idle. The server runs in a child process with
// GODEBUG adaptivestackstart=0: by default the runtime starts goroutines on
// a stack the size of the average it last saw, so the figure would depend
// on when the GC ran.
func TestIdleChannelMemory(t *testing.T) {
	if spec := os.Getenv(idleClientEnv); spec != "" {
		runIdleClients(t, spec)
		return
	}
	if os.Getenv(idleServerEnv) == "" {
		godebug := os.Getenv("GODEBUG")
		if godebug != "" {
			godebug += ","
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestIdleChannelMemory$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), idleServerEnv+"=1", "GODEBUG="+godebug+"adaptivestackstart=0")
		out, err := cmd.CombinedOutput()
		t.Logf("measuring process:\n%s", out)
		if err != nil {
			t.Fatalf("the measuring process failed: %v", err)
		}
		return
	}
	stackMax := maxIdleStackPerConn
	if raceEnabled {
		stackMax = 8192 // the race detector's stacks are larger
	}
	b := testutil.StartBus(t, bus.Config{})
	ch := New(b, Config{PingInterval: time.Hour, PingTimeout: time.Hour})
	var got atomic.Int64
	stop := ch.Observe(Observer{Message: func(Conn, []byte, bool) { got.Add(1) }})
	defer stop()
	addr := testutil.Serve(t, ch, ch.Close)

	before := idleMemStats()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleChannelMemory$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", idleClientEnv, addr, idleConns))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("failed to start the client process: %v", err)
	}
	t.Cleanup(func() {
		_ = stdin.Close() // the clients hang up and exit
		_ = cmd.Wait()
	})
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-ready:
		if strings.TrimSpace(line) != "ready" {
			t.Fatalf("client process: %q", line)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("client process not ready after 2 minutes")
	}
	eventually.True(t, 30*time.Second, "every message handled", func() bool { return got.Load() == idleConns })
	// The handler goroutines parked for the next message are the node's,
	// not the connections' (at most 128): let them go first.
	ch.handlers.Close()
	after := idleMemStats()
	stack := float64(after.StackInuse-before.StackInuse) / idleConns
	heap := float64(after.HeapAlloc-before.HeapAlloc) / idleConns
	t.Logf("per idle channel connection: %.0f B stack, %.0f B heap (%d connections, race=%v)", stack, heap, idleConns, raceEnabled)
	if stack > float64(stackMax) {
		t.Errorf("idle connection holds %.0f B of stack, want ≤ %d", stack, stackMax)
	}
}

// idleMemStats reads the runtime's figures once garbage and pooled buffers
// are gone (sync.Pool keeps its contents for one GC).
func idleMemStats() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

// runIdleClients is the client process: n connections to /ws/idle on
// addr from bare sockets (no goroutine per connection), each sends one
// masked text frame; it prints "ready" and holds them until stdin closes.
func runIdleClients(t *testing.T, spec string) {
	addr, nStr, _ := strings.Cut(spec, ",")
	n, err := strconv.Atoi(nStr)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	req := "GET /ws/idle HTTP/1.1\r\nHost: " + addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	for range n {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatalf("write: %v", err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %v %v", resp, err)
		}
		// "hi", a masked text frame (zero mask).
		if _, err := c.Write([]byte{0x81, 0x82, 0, 0, 0, 0, 'h', 'i'}); err != nil {
			t.Fatalf("write: %v", err)
		}
		_ = c.SetDeadline(time.Time{})
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
}
