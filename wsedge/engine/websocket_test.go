package engine

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/wstest"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
)

// wsHandshake opens a WebSocket-only session.
func (e *env) wsHandshake() (*wsClient, *rec) {
	e.t.Helper()
	c := e.dial("EIO=4&transport=websocket")
	m := c.next(e.t)
	if m.binary || !strings.HasPrefix(m.data, `0{"sid":"`) {
		e.t.Fatalf("open packet %+v", m)
	}
	sid := m.data[len(`0{"sid":"`):strings.Index(m.data, `","`)]
	// The open packet may arrive while onSession still runs.
	eventually.True(e.t, 5*time.Second, "onSession called", func() bool { return e.rec(sid) != nil })
	return c, e.rec(sid)
}

func TestWebSocketHandshake(t *testing.T) {
	e := newEnv(t, Config{}, false)
	c := e.dial("EIO=4&transport=websocket")
	m := c.next(t)
	if !strings.HasSuffix(m.data, `","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`) {
		t.Fatalf("open packet %q", m.data)
	}
	r := <-e.newSess
	if r.s.Transport() != TransportWebSocket {
		t.Fatalf("transport %q", r.s.Transport())
	}
}

func TestWebSocketMessages(t *testing.T) {
	e := newEnv(t, Config{}, true)
	c, r := e.wsHandshake()
	c.send(t, "4hello")
	if err := c.conn.WriteMessage(gws.OpcodeBinary, []byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	c.send(t, "bBQY=") // base64 binary in a text frame, as engine.io accepts
	if m := r.next(t); m != (msg{"hello", false}) {
		t.Fatalf("got %+v", m)
	}
	if m := r.next(t); m != (msg{"\x01\x02\x03\x04", true}) {
		t.Fatalf("got %+v", m)
	}
	if m := r.next(t); m != (msg{"\x05\x06", true}) {
		t.Fatalf("got %+v", m)
	}
	if m := c.next(t); m != (msg{"4hello", false}) {
		t.Fatalf("echo %+v", m)
	}
	if m := c.next(t); m != (msg{"\x01\x02\x03\x04", true}) {
		t.Fatalf("echo %+v", m)
	}
	// A packet group stays contiguous and in order.
	if err := r.s.Send(frame(`51-["ev",{"_placeholder":true,"num":0}]`), outq.NewFrame(true, []byte{9})); err != nil {
		t.Fatal(err)
	}
	c.next(t) // echo of the third message
	if m := c.next(t); m.data != `451-["ev",{"_placeholder":true,"num":0}]` {
		t.Fatalf("got %+v", m)
	}
	if m := c.next(t); m != (msg{"\x09", true}) {
		t.Fatalf("got %+v", m)
	}
}

func TestWebSocketBadPackets(t *testing.T) {
	tests := []struct {
		send, reason string
	}{
		{"abc", ReasonParseError},
		{"", ReasonParseError},
		{"2", ReasonTransportError}, // v4 clients never ping
		{"1", ReasonTransportClose},
	}
	for _, tt := range tests {
		e := newEnv(t, Config{}, false)
		c, r := e.wsHandshake()
		c.send(t, tt.send)
		if reason := r.waitClosed(t); reason != tt.reason {
			t.Fatalf("%q: reason %q, want %q", tt.send, reason, tt.reason)
		}
		c.waitClosed(t)
	}
}

func TestWebSocketClientCloses(t *testing.T) {
	e := newEnv(t, Config{}, false)
	c, r := e.wsHandshake()
	_ = c.conn.WriteClose(1000, nil)
	if reason := r.waitClosed(t); reason != ReasonTransportClose {
		t.Fatalf("reason %q", reason)
	}
}

func TestWebSocketOversizedFrame(t *testing.T) {
	e := newEnv(t, Config{MaxPayload: 1000}, false)
	c, r := e.wsHandshake()
	c.send(t, "4"+strings.Repeat("x", 999))
	if m := r.next(t); len(m.data) != 998+1 {
		t.Fatalf("message at the limit: %d bytes", len(m.data))
	}
	c.send(t, "4"+strings.Repeat("x", 1000))
	err := c.waitClosed(t)
	var ce *gws.CloseError
	if !errors.As(err, &ce) || ce.Code != 1009 {
		t.Fatalf("close error %v, want code 1009", err)
	}
	if reason := r.waitClosed(t); reason != ReasonTransportError {
		t.Fatalf("reason %q", reason)
	}
}

func TestWebSocketGracefulClose(t *testing.T) {
	e := newEnv(t, Config{}, false)
	c, r := e.wsHandshake()
	for i := 0; i < 100; i++ {
		if err := r.s.Send(frame(itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	r.s.Close(ReasonForcedClose)
	for i := 0; i < 100; i++ {
		if m := c.next(t); m.data != "4"+itoa(i) {
			t.Fatalf("frame %d = %q", i, m.data)
		}
	}
	var ce *gws.CloseError
	if err := c.waitClosed(t); !errors.As(err, &ce) || ce.Code != 1000 {
		t.Fatalf("close error %v", err)
	}
	if reason := r.waitClosed(t); reason != ReasonForcedClose {
		t.Fatalf("reason %q", reason)
	}
}

// rawWS does a WebSocket handshake by hand, with a small receive buffer,
// and then reads nothing until the test does (through the reader).
func rawWS(t *testing.T, e *env, query string) (net.Conn, *bufio.Reader) {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(e.hs.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_, _ = conn.Write([]byte("GET /engine.io/?" + query + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n" +
		"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("raw upgrade: %v %v", resp, err)
	}
	return conn, br
}

// closeAfterData reads server frames until the close frame and returns its
// code and reason; the stream must stay whole up to it.
func closeAfterData(t *testing.T, conn net.Conn, br *bufio.Reader) (int, string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		op, p, err := wstest.ReadServerFrame(br)
		if err != nil {
			t.Fatalf("the stream ended without a close frame: %v", err)
		}
		if op == 8 {
			if len(p) < 2 {
				return 1005, ""
			}
			return int(binary.BigEndian.Uint16(p)), string(p[2:])
		}
	}
}

// A WebSocket transport whose client stops reading is closed as a slow
// consumer, counted, and, reading again, finds whole frames and then close
// 1008 "slow consumer" (socket.io-client reconnects on any transport
// close): when its queue overflows, and when a write times out.
func TestWebSocketSlowConsumer(t *testing.T) {
	for name, q := range map[string]outq.Config{
		"queue full":    {MaxBytes: 256 << 10},
		"write timeout": {MaxBytes: 64 << 20, WriteTimeout: 300 * time.Millisecond}, // 8 MiB sent fit in the queue
	} {
		t.Run(name, func(t *testing.T) {
			counters := new(metrics.Set)
			e := newEnv(t, Config{Queue: q, Metrics: counters}, false)
			conn, br := rawWS(t, e, "EIO=4&transport=websocket")
			r := <-e.newSess
			big := outq.NewFrame(false, []byte("4"+strings.Repeat("x", 64<<10)))
			start := time.Now()
			var err error
			for i := 0; err == nil && i < 128; i++ {
				err = r.s.Send(big)
			}
			if q.MaxBytes < 8<<20 && !errors.Is(err, ErrSlowConsumer) {
				t.Fatalf("Send past the queue: %v", err)
			}
			if reason := r.waitClosed(t); reason != ReasonSlowConsumer {
				t.Fatalf("reason %q", reason)
			}
			if q.MaxBytes > 8<<20 && time.Since(start) < q.WriteTimeout {
				t.Fatalf("closed after %v, before the write timeout", time.Since(start))
			}
			if code, reason := closeAfterData(t, conn, br); code != 1008 || reason != "slow consumer" {
				t.Fatalf("closed with %d %q, want 1008 \"slow consumer\"", code, reason)
			}
			if n := counters.Snapshot().Refused[metrics.ReasonSlowConsumer]; n != 1 {
				t.Fatalf("%d slow consumers counted, want 1", n)
			}
		})
	}
}

func TestWebSocketPingAnswered(t *testing.T) {
	e := newEnv(t, Config{}, false)
	c, conn := e.dialPongClient(t)
	_ = conn.WritePing([]byte("hi"))
	select {
	case p := <-c.pong:
		if p != "hi" {
			t.Fatalf("pong %q", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}
}

// dialPongClient opens a WebSocket session whose client records pongs; it
// is closed when the test ends.
func (e *env) dialPongClient(t *testing.T) (*pongClient, *gws.Conn) {
	t.Helper()
	c := &pongClient{wsClient: wsClient{msgs: make(chan msg, 16), closed: make(chan error, 1)}, pong: make(chan string, 1)}
	conn, _, err := gws.NewClient(c, &gws.ClientOption{Addr: e.wsURL("EIO=4&transport=websocket")})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); conn.ReadLoop() }()
	t.Cleanup(func() { conn.NetConn().Close(); <-done })
	return c, conn
}

type pongClient struct {
	wsClient
	pong chan string
}

func (c *pongClient) OnPong(_ *gws.Conn, p []byte) { c.pong <- string(p) }

// A message InlineMessage declines runs off the read loop: while its
// callback blocks, the loop still reads (a WebSocket ping is answered), and
// an inline-eligible message behind it waits its turn, in order.
func TestWebSocketHandedOffMessageLeavesReadLoopFree(t *testing.T) {
	e := newEnv(t, Config{InlineMessage: func(data []byte, _ bool) bool { return string(data) != "block" }}, false)
	pc, conn := e.dialPongClient(t)
	r := <-e.newSess
	release, got := make(chan struct{}), make(chan string, 2)
	r.s.OnMessage(func(data []byte, _ bool) {
		if string(data) == "block" {
			<-release
		}
		got <- string(data)
	})
	for _, m := range []string{"4block", "4after"} {
		if err := conn.WriteString(m); err != nil {
			t.Fatal(err)
		}
	}
	_ = conn.WritePing([]byte("free"))
	select {
	case p := <-pc.pong:
		if p != "free" {
			t.Fatalf("pong %q", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read loop blocked behind a handed-off callback: no pong")
	}
	close(release)
	for _, want := range []string{"block", "after"} {
		select {
		case m := <-got:
			if m != want {
				t.Fatalf("got %q, want %q", m, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %q", want)
		}
	}
}
