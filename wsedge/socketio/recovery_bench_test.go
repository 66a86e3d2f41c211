package socketio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
)

// BenchmarkRecoverReplay is bench/run.sh's replay scenario in process:
// 10,000 events (64-byte payloads) stored while alice was away, then each
// op is her recovery over a raw WebSocket on loopback, from the dial to
// the CONNECT reply, with every missed event read before it (checked).
// The store is a real JetStream on disk, the read goes through
// replay.Reader as in the binary. cpu-µs/op is the whole process's CPU
// (client, server, embedded NATS) during the timed part.
//
//	go test -run '^$' -bench RecoverReplay -count 6 ./wsedge/socketio
func BenchmarkRecoverReplay(b *testing.B) {
	const missed = 10_000
	e := newRecoveryEnv(b, Config{})
	sid, pid, offset := e.dropped(b)
	n := e.srv.Of("/m")
	pad := strings.Repeat("x", 64)
	storeAll(b, Operator{ns: n}, "r", missed, func(i int) []byte {
		return fmt.Appendf(nil, `[%d,%d,%q]`, time.Now().UnixNano(), i, pad)
	})
	auth := fmt.Sprintf(`{"token":"alice","pid":%q,"offset":%q}`, pid, offset)
	addr := strings.TrimPrefix(e.url, "http://")
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		cpu0 := cpuTime()
		c, events, reply := recoverRaw(b, addr, "/m", auth)
		cpu += cpuTime() - cpu0
		b.StopTimer()
		if events != missed || !strings.Contains(reply, pid) {
			b.Fatalf("%d events before the CONNECT reply %q, want %d and pid %s", events, reply, missed, pid)
		}
		<-e.conns
		c.Close()
		waitGone(b, n, sid)
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}

// waitGone waits until the namespace no longer holds socket sid.
func waitGone(tb testing.TB, n *Namespace, sid string) {
	tb.Helper()
	eventually.True(tb, wait, "the recovered socket to leave", func() bool { return n.Socket(sid) == nil })
}

// recoverRaw opens an Engine.IO WebSocket to addr, sends a CONNECT to nsp
// with auth, and reads until the CONNECT reply; it returns the connection,
// how many events came before the reply, and the reply.
func recoverRaw(tb testing.TB, addr, nsp, auth string) (net.Conn, int, string) {
	tb.Helper()
	c := dialRaw(tb, addr, 0)
	c.send(tb, "40"+nsp+","+auth)
	events, reply := c.untilConnected(tb, nsp, nil)
	return c.conn, events, reply
}

// rawConn is an Engine.IO WebSocket client over a bare TCP connection: it
// reads frames with one reused buffer, so what it costs stays out of the
// server's profile.
type rawConn struct {
	conn net.Conn
	br   *bufio.Reader
	buf  []byte
}

// dialRaw opens an Engine.IO WebSocket to addr and reads the open packet;
// rcvbuf > 0 sets the socket's receive buffer (before the upgrade).
func dialRaw(tb testing.TB, addr string, rcvbuf int) *rawConn {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	if rcvbuf > 0 {
		if err := conn.(*net.TCPConn).SetReadBuffer(rcvbuf); err != nil {
			tb.Fatal(err)
		}
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"+
		"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	c := &rawConn{conn: conn, br: bufio.NewReaderSize(conn, 64<<10)}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		tb.Fatalf("upgrade: %v %v", resp, err)
	}
	if open := c.next(tb); !strings.HasPrefix(string(open), "0{") {
		tb.Fatalf("open packet %q", open)
	}
	return c
}

// send writes one text frame, masked with a zero key (clients must mask;
// any key will do, and this one leaves the payload as is).
func (c *rawConn) send(tb testing.TB, payload string) {
	tb.Helper()
	frame := []byte{0x81}
	if len(payload) < 126 {
		frame = append(frame, 0x80|byte(len(payload)))
	} else {
		frame = append(frame, 0x80|126, byte(len(payload)>>8), byte(len(payload)))
	}
	frame = append(append(frame, 0, 0, 0, 0), payload...)
	if _, err := c.conn.Write(frame); err != nil {
		tb.Fatal(err)
	}
}

// next reads one frame's payload (valid until the next call).
func (c *rawConn) next(tb testing.TB) []byte {
	tb.Helper()
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		tb.Fatalf("read: %v", err)
	}
	size := int(h[1] & 0x7F)
	switch size {
	case 126:
		var l [2]byte
		_, _ = io.ReadFull(c.br, l[:])
		size = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		_, _ = io.ReadFull(c.br, l[:])
		size = int(binary.BigEndian.Uint64(l[:]))
	}
	if cap(c.buf) < size {
		c.buf = make([]byte, size)
	}
	c.buf = c.buf[:size]
	if _, err := io.ReadFull(c.br, c.buf); err != nil {
		tb.Fatalf("read: %v", err)
	}
	return c.buf
}

// untilConnected reads until nsp's CONNECT reply and returns how many
// events of nsp came before it, and the reply. each, if not nil, is called
// with every event's packet (valid until it returns).
func (c *rawConn) untilConnected(tb testing.TB, nsp string, each func(p []byte)) (int, string) {
	tb.Helper()
	events, event, reply := 0, []byte("42"+nsp+","), []byte("40"+nsp+",")
	for {
		p := c.next(tb)
		switch {
		case bytes.HasPrefix(p, event):
			if each != nil {
				each(p)
			}
			events++
		case bytes.HasPrefix(p, reply):
			return events, string(p)
		case len(p) == 1 && p[0] == '2': // a ping
		default:
			tb.Fatalf("unexpected frame %q", p)
		}
	}
}
