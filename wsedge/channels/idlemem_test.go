package channels

import (
	"bufio"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/idlemem"
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
	if idlemem.InChild(t, "TestIdleChannelMemory", idleServerEnv) {
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

	before := idlemem.Stats()
	idlemem.StartClients(t, "TestIdleChannelMemory", idleClientEnv, addr, idleConns)
	eventually.True(t, 30*time.Second, "every message handled", func() bool { return got.Load() == idleConns })
	// The handler goroutines parked for the next message are the node's,
	// not the connections' (at most 128): let them go first.
	ch.handlers.Close()
	after := idlemem.Stats()
	stack := float64(after.StackInuse-before.StackInuse) / idleConns
	heap := float64(after.HeapAlloc-before.HeapAlloc) / idleConns
	t.Logf("per idle channel connection: %.0f B stack, %.0f B heap (%d connections, race=%v)", stack, heap, idleConns, raceEnabled)
	if stack > float64(stackMax) {
		t.Errorf("idle connection holds %.0f B of stack, want ≤ %d", stack, stackMax)
	}
}

// runIdleClients is the client process: n connections to /ws/idle, each
// sends one masked text frame.
func runIdleClients(t *testing.T, spec string) {
	idlemem.Clients(t, spec, "/ws/idle", func(c net.Conn, _ *bufio.Reader) {
		// "hi", a masked text frame (zero mask).
		if _, err := c.Write([]byte{0x81, 0x82, 0, 0, 0, 0, 'h', 'i'}); err != nil {
			t.Fatalf("write: %v", err)
		}
	})
}
