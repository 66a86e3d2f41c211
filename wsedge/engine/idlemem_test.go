package engine

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
)

// idleClientEnv makes the test binary a client process (see runIdleClients):
// the clients live outside the process whose memory the test reads.
const idleClientEnv = "SOCKBUS_ENGINE_IDLE_CLIENTS"

// idleConns is how many idle WebSocket sessions the memory test opens.
const idleConns = 1000

// Bounds on what one idle WebSocket session costs the server, after a GC
// and after each client sent a pong and a message: live heap (the session
// and its handshake, gws's connection, the queue, the socket, the read
// loop's goroutine descriptor) and goroutine stack (gws's read loop, which
// must keep the runtime's smallest stack, 2 KiB: see wsConn). Measured
// 2,689-2,693 B of heap and 2,130-2,163 B of stack. Before: 2,840-2,850 B
// with a done channel per session (96 B) and a chan per connection for the
// read loop's turn (96 B), 2,945-2,953 with the latter, 3,080-3,085 B with
// the heartbeat on time.Timers of each session's own (a runtime timer held
// for the connection's life; now the server's wheel), 4,028 B with the
// handshake's headers and query kept parsed (maps), 4,708 B with a read
// buffer held per idle connection (before the lazy reader of
// wsedge/internal/wsconn), and 4,129 B of stack with the messages handled
// on the read loop (a parked read loop that grew to 4 KiB never shrinks
// back). The heap figure is the same under -race; stacks are larger there.
const (
	maxIdleHeapPerConn  = 2800
	maxIdleStackPerConn = 2048 + 256
)

// idleServerEnv marks the test binary that measures (see
// TestIdleWebSocketMemory).
const idleServerEnv = "SOCKBUS_ENGINE_IDLE_SERVER"

// TestIdleWebSocketMemory opens idleConns Engine.IO WebSocket sessions from
// a child process and checks what each costs the server once idle.
//
// The server runs in a child process too, with GODEBUG
// adaptivestackstart=0: by default the runtime starts a goroutine on a
// stack the size of the average use it last saw, so how many read loops
// start at 4 KiB (and keep it) depends on when the GC ran; with every
// goroutine starting at 2 KiB the test sees only what a read loop grows to.
func TestIdleWebSocketMemory(t *testing.T) {
	if spec := os.Getenv(idleClientEnv); spec != "" {
		runIdleClients(t, spec)
		return
	}
	if os.Getenv(idleServerEnv) == "" {
		godebug := os.Getenv("GODEBUG")
		if godebug != "" {
			godebug += ","
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestIdleWebSocketMemory$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), idleServerEnv+"=1", "GODEBUG="+godebug+"adaptivestackstart=0")
		out, err := cmd.CombinedOutput()
		t.Logf("measuring process:\n%s", out)
		if err != nil {
			t.Fatalf("the measuring process failed: %v", err)
		}
		return
	}
	heapMax, stackMax := maxIdleHeapPerConn, maxIdleStackPerConn
	if raceEnabled {
		stackMax = raceIdleStackPerConn
	}
	var opened, got atomic.Int64
	srv := NewServer(Config{PingInterval: time.Hour, PingTimeout: time.Hour, Transports: []string{TransportWebSocket}},
		func(s *Session) {
			opened.Add(1)
			s.OnMessage(func([]byte, bool) { got.Add(1) })
		})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("Server.Close: %v", err)
		}
		hs.Close()
	})

	before := idleMemStats()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleWebSocketMemory$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", idleClientEnv, hs.Listener.Addr(), idleConns))
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
	eventually.True(t, 30*time.Second, "every session opened",
		func() bool { return opened.Load() == idleConns })
	eventually.True(t, 30*time.Second, "every message received",
		func() bool { return got.Load() == idleConns })

	// The handler goroutines parked for the next message are the node's,
	// not the sessions' (at most maxIdleHandlers): let them go first.
	srv.handlers.Close()
	after := idleMemStats()
	heap := float64(after.HeapAlloc-before.HeapAlloc) / idleConns
	stack := float64(after.StackInuse-before.StackInuse) / idleConns
	t.Logf("per idle WebSocket session: %.0f B heap, %.0f B stack (%d sessions, race=%v)", heap, stack, idleConns, raceEnabled)
	if heap > float64(heapMax) {
		t.Errorf("idle session holds %.0f B of heap, want ≤ %d", heap, heapMax)
	}
	if stack > float64(stackMax) {
		t.Errorf("idle session holds %.0f B of stack, want ≤ %d", stack, stackMax)
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

// runIdleClients is the child process: it opens n WebSocket sessions on
// addr with bare sockets (no goroutine per connection), reads each open
// packet, sends a pong and a message, prints "ready" and holds them until
// its stdin closes.
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
	req := "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: " + addr +
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
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %v %v", resp, err)
		}
		// The open packet: an unmasked text frame, "0{...}".
		hdr := make([]byte, 2)
		if _, err := io.ReadFull(br, hdr); err != nil || hdr[0] != 0x81 {
			t.Fatalf("open frame: %x %v", hdr, err)
		}
		size := int(hdr[1] & 0x7f)
		if size == 126 {
			ext := make([]byte, 2)
			if _, err := io.ReadFull(br, ext); err != nil {
				t.Fatal(err)
			}
			size = int(ext[0])<<8 | int(ext[1])
		}
		if _, err := io.ReadFull(br, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
		// A pong and a message (masked text frames, zero mask): the server
		// handles both and must then be as small as if it had not.
		if _, err := c.Write([]byte{0x81, 0x81, 0, 0, 0, 0, '3', 0x81, 0x83, 0, 0, 0, 0, '4', 'h', 'i'}); err != nil {
			t.Fatalf("write: %v", err)
		}
		_ = c.SetDeadline(time.Time{})
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
}
