package socketio

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/metrics"
)

// rawSocket connects a Socket.IO client to "/" over a bare TCP connection
// and returns it: reading it into a buffer of one's own allocates nothing
// on the client's behalf.
func rawSocket(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(wait))
	fmt.Fprintf(c, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"+
		"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	next := func() string {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatal(err)
		}
		n := int(h[1] & 0x7F)
		if n == 126 {
			var l [2]byte
			_, _ = io.ReadFull(br, l[:])
			n = int(binary.BigEndian.Uint16(l[:]))
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			t.Fatal(err)
		}
		return string(p)
	}
	if open := next(); !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet %q", open)
	}
	// "40", masked with a zero key (clients must mask; any key will do).
	if _, err := c.Write([]byte{0x81, 0x82, 0, 0, 0, 0, '4', '0'}); err != nil {
		t.Fatal(err)
	}
	if reply := next(); !strings.HasPrefix(reply, `40{"sid":`) {
		t.Fatalf("CONNECT reply %q", reply)
	}
	_ = c.SetDeadline(time.Time{})
	return c
}

// Delivering a broadcast costs the same allocations for 1 local socket as
// for 50: the event is encoded once, and each socket's share (hold check,
// queue, write) allocates nothing. Each client reads the frame before the
// next broadcast, as at any rate a client keeps up with. Metrics are on:
// counting a delivery allocates nothing either.
func TestBroadcastAllocationsDoNotGrowWithSockets(t *testing.T) {
	counters := new(metrics.Set)
	srv, _, url := startIO(t, Config{Metrics: counters})
	addr := strings.TrimPrefix(url, "http://")
	n := srv.Of("/")
	m := &bus.Msg{Subject: n.liveBase + "all.news", Header: bus.Header{bus.HeaderSequence: []string{"1"}}, Data: []byte(`["hello",1]`)}
	frame := []byte{0x81, byte(len(`42["news","hello",1]`))} // what each client gets, header included
	frame = append(frame, `42["news","hello",1]`...)
	var clients []net.Conn
	buf := make([]byte, len(frame))
	measure := func(sockets int) float64 {
		for len(clients) < sockets {
			clients = append(clients, rawSocket(t, addr))
		}
		eventually.True(t, wait, "sockets registered", func() bool { return n.Len() == sockets })
		return testing.AllocsPerRun(200, func() {
			n.deliver(m)
			for _, c := range clients {
				if _, err := io.ReadFull(c, buf); err != nil || string(buf) != string(frame) {
					t.Fatalf("client read %q, %v; want %q", buf, err, frame)
				}
			}
		})
	}
	one := measure(1)
	many := measure(50)
	// One allocation of slack for the embedded server's own background work;
	// a single allocation per socket would add 49.
	if many > one+1 {
		t.Fatalf("a broadcast to 50 sockets allocates %v times, to 1 socket %v: want the same", many, one)
	}
	if got := counters.Snapshot().Deliveries[metrics.KindSocketIO]; got < 200*50 {
		t.Fatalf("%d deliveries counted, want at least %d", got, 200*50)
	}
	t.Logf("allocations per broadcast: %v (1 socket), %v (50 sockets)", one, many)
}

// A client's broadcast (Broadcast: every socket of the namespace but its
// own) builds its Except and From header values once per socket: the bus
// message of an event allocates the Msg, its header map (two: the map and
// its group) and its subject, nothing per header (it was seven). Except on top of it still leaves out both.
func TestBroadcastHeadersBuiltOncePerSocket(t *testing.T) {
	srv, _, url := startIO(t, Config{})
	got := make(chan *Socket, 1)
	srv.Of("/").OnConnection(func(s *Socket) { got <- s })
	rawSocket(t, strings.TrimPrefix(url, "http://"))
	var s *Socket
	select {
	case s = <-got:
	case <-time.After(wait):
		t.Fatal("no connection")
	}
	args := []byte(`[1]`)
	var m *bus.Msg
	allocs := testing.AllocsPerRun(200, func() {
		var err error
		if m, err = s.Broadcast().message("ev", args, nil); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 4 {
		t.Fatalf("a broadcast's message allocates %v times, want at most 4", allocs)
	}
	if ex := bus.DecodeTokenList(m.Header.Get(HeaderExcept)); len(ex) != 1 || ex[0] != s.ID() || m.Header.Get(bus.HeaderFrom) != s.ID() {
		t.Fatalf("broadcast leaves out %q from %q, want %q", ex, m.Header.Get(bus.HeaderFrom), s.ID())
	}
	m, err := s.Broadcast().Except("room").message("ev", args, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ex := bus.DecodeTokenList(m.Header.Get(HeaderExcept)); len(ex) != 2 || ex[0] != s.ID() || ex[1] != "room" {
		t.Fatalf("Broadcast().Except(room) leaves out %q, want [%s room]", ex, s.ID())
	}
}
