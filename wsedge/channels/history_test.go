package channels

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/testutil"
	"github.com/sockbus/sockbus/internal/wstest"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/replay"
	"github.com/sockbus/sockbus/wsedge"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
)

// Live messages arriving while a ?history replay waits for a stalled
// client are held only up to the queue's bound: past it the connection is
// closed at once as a slow consumer (not after the 30 s write timeout),
// and the client, reading again, gets its replay up to a whole frame, then
// 1008, and none of the dropped live messages.
func TestHeldLiveMessagesAreBounded(t *testing.T) {
	counters := new(metrics.Set)
	q := outq.Config{MaxBytes: 256 << 10, WriteTimeout: 30 * time.Second}
	b := testutil.StartBus(t, bus.Config{})
	ch := New(b, Config{Metrics: counters, Queue: q, History: replay.NewReader(b), MessagesPerSecond: -1})
	url := "ws://" + testutil.Serve(t, ch, ch.Close)
	payload := strings.Repeat("h", 32<<10)
	publish := func(text string) {
		t.Helper()
		stored := make(chan error, 1)
		if err := b.PublishStored(&bus.Msg{Subject: bus.ChannelSubject("held"), Data: []byte(text)}, func(err error) { stored <- err }); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-stored:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("not stored in time")
		}
	}
	for i := range 256 { // 8 MiB: more than the socket buffers and the queue take
		publish("h" + strconv.Itoa(i) + payload)
	}

	conn, br := stalledUpgrade(t, strings.TrimPrefix(url, "ws://"), "/ws/held?history=256")
	var cc *channelConn
	eventually.True(t, 30*time.Second, "the replay to wait for the stalled client", func() bool {
		ch.mu.Lock()
		defer ch.mu.Unlock()
		for c := range ch.conns {
			holding := c.hold.Holding()
			if holding && c.q != nil && c.q.Len() > q.MaxBytes/2 {
				cc = c
				return true
			}
		}
		return false
	})
	for i := range 16 { // 512 KiB live, over the 256 KiB bound
		publish("live" + strconv.Itoa(i) + payload)
	}
	eventually.True(t, 5*time.Second, "the stalled client to be cut off", func() bool {
		ch.mu.Lock()
		defer ch.mu.Unlock()
		_, open := ch.conns[cc]
		return !open
	})
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		op, p := readFrame(t, br)
		if op == 8 {
			if code := binary.BigEndian.Uint16(p); code != uint16(wsedge.CloseSlowConsumer) || string(p[2:]) != wsedge.ReasonSlowConsumer {
				t.Fatalf("closed with %d %q, want 1008 slow consumer", code, p[2:])
			}
			break
		}
		if strings.HasPrefix(string(p), "live") {
			t.Fatal("a live message held past the bound was sent")
		}
	}
	eventually.True(t, 5*time.Second, "the slow consumer counted", func() bool {
		return counters.Snapshot().Refused[metrics.ReasonSlowConsumer] == 1
	})
	// Everyone else is still served.
	other := wstest.Dial(t, url+"/ws/held")
	other.SendText(t, "after")
	if got := other.NextText(t, 10*time.Second); got != "after" {
		t.Fatalf("a new client got %.20q", got)
	}
}

// stalledUpgrade opens a WebSocket with a 4 KiB receive buffer and reads
// nothing but the handshake answer.
func stalledUpgrade(t *testing.T, addr, path string) (net.Conn, *bufio.Reader) {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_, _ = io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := br.ReadString('\n')
	if err != nil || !strings.Contains(line, " 101 ") {
		t.Fatalf("upgrade: %q %v", line, err)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\r\n" {
			return conn, br
		}
	}
}

// readFrame reads one unmasked, unfragmented server frame.
func readFrame(t *testing.T, br *bufio.Reader) (opcode byte, payload []byte) {
	t.Helper()
	opcode, payload, err := wstest.ReadServerFrame(br)
	if err != nil {
		t.Fatal(err)
	}
	return opcode, payload
}
