package engine

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/idlemem"
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
	if idlemem.InChild(t, "TestIdleWebSocketMemory", idleServerEnv) {
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

	before := idlemem.Stats()
	idlemem.StartClients(t, "TestIdleWebSocketMemory", idleClientEnv, hs.Listener.Addr().String(), idleConns)
	eventually.True(t, 30*time.Second, "every session opened",
		func() bool { return opened.Load() == idleConns })
	eventually.True(t, 30*time.Second, "every message received",
		func() bool { return got.Load() == idleConns })

	// The handler goroutines parked for the next message are the node's,
	// not the sessions' (at most maxIdleHandlers): let them go first.
	srv.handlers.Close()
	after := idlemem.Stats()
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

// runIdleClients is the child process: n WebSocket sessions, each reads
// its open packet and sends a pong and a message.
func runIdleClients(t *testing.T, spec string) {
	idlemem.Clients(t, spec, "/engine.io/?EIO=4&transport=websocket", func(c net.Conn, br *bufio.Reader) {
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
	})
}
