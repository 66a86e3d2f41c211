package wsedge

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/testutil"
	"github.com/sockbus/sockbus/internal/wstest"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/replay"
	"github.com/sockbus/sockbus/wsedge/engine"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
)

// The hold keeps what the queue would take, then drops everything and
// says so once; release sends the right messages in order, or nothing
// after an overflow.
func TestLiveHoldBound(t *testing.T) {
	var h liveHold[int]
	if held, _ := h.offer(1, 1, 1, 10); held {
		t.Fatal("a hold never started held a message")
	}
	h.start(outq.Config{MaxFrames: 3, MaxBytes: 100})
	for i, seq := range []uint64{5, 0, 7} { // 5 is covered by the replay; 0 was not stored
		if held, over := h.offer(seq, i, 1, 30); !held || over {
			t.Fatalf("offer %d: held %v overflow %v", i, held, over)
		}
	}
	var sent []int
	h.release(5, func(v int) { sent = append(sent, v) })
	if len(sent) != 2 || sent[0] != 1 || sent[1] != 2 {
		t.Fatalf("released %v, want [1 2]", sent)
	}

	for _, bound := range []struct{ frames, bytes int }{{4, 30}, {1, 101}} { // one frame too many, or bytes over
		h.start(outq.Config{MaxFrames: 3, MaxBytes: 100})
		for i := 0; i < bound.frames-1; i++ {
			h.offer(uint64(10+i), i, 1, 1)
		}
		if held, over := h.offer(20, 99, 1, bound.bytes-(bound.frames-1)); !held || !over {
			t.Fatalf("%+v: past the bound held %v overflow %v, want both", bound, held, over)
		}
		if held, over := h.offer(21, 100, 1, 1); !held || over {
			t.Fatalf("%+v: after the overflow held %v overflow %v, want held (dropped), told once", bound, held, over)
		}
		sent = nil
		h.release(0, func(v int) { sent = append(sent, v) })
		if len(sent) != 0 {
			t.Fatalf("%+v: an overflowed hold released %v", bound, sent)
		}
		if held, _ := h.offer(22, 1, 1, 1); held {
			t.Fatal("held after release")
		}
	}
}

// Live messages arriving while a ?history replay waits for a stalled
// client are held only up to the queue's bound: past it the connection is
// closed at once as a slow consumer (not after the 30 s write timeout),
// and the client, reading again, gets its replay up to a whole frame, then
// 1008, and none of the dropped live messages.
func TestHeldLiveMessagesAreBounded(t *testing.T) {
	counters := new(metrics.Set)
	q := outq.Config{MaxBytes: 256 << 10, WriteTimeout: 30 * time.Second}
	b := testutil.StartBus(t, bus.Config{})
	ch := NewChannels(b, ChannelsConfig{Metrics: counters, Queue: q, History: replay.NewReader(b), MessagesPerSecond: -1})
	url := "ws://" + testutil.Serve(t, ch, ch.Close)
	payload := strings.Repeat("h", 32<<10)
	publish := func(text string) {
		t.Helper()
		f, err := b.Publish(&nats.Msg{Subject: bus.ChannelSubject("held"), Data: []byte(text)})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
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
			c.hold.mu.Lock()
			holding := c.hold.held != nil
			c.hold.mu.Unlock()
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
			if code := binary.BigEndian.Uint16(p); code != uint16(CloseSlowConsumer) || string(p[2:]) != ReasonSlowConsumer {
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

// gatedHistory is the real reader whose Last, once it has read, waits for
// the test to open gate: the replay stays in progress, its live events
// held, for as long as the test needs.
type gatedHistory struct {
	*replay.Reader
	read chan struct{}
	gate chan struct{}
}

func (g gatedHistory) Last(ctx context.Context, l bus.Log, n int, keep func(bus.StoredMsg) bool, fn func(bus.StoredMsg) error) (uint64, error) {
	last, err := g.Reader.Last(ctx, l, n, keep, fn)
	g.read <- struct{}{}
	<-g.gate
	return last, err
}

// A Socket.IO socket whose history replay is in progress holds live
// events only up to its session's queue bound: past it the session is
// closed as a slow consumer (WebSocket close 1008) while the replay still
// runs, and counted.
func TestSocketIOHeldEventsAreBounded(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	counters := new(metrics.Set)
	g := gatedHistory{Reader: replay.NewReader(b), read: make(chan struct{}, 1), gate: make(chan struct{})}
	srv := NewServer(b, Config{History: g, Metrics: counters, Engine: engine.Config{Queue: outq.Config{MaxBytes: 64 << 10}}})
	url := "http://" + testutil.Serve(t, srv, srv.Close)
	opened := false
	defer func() {
		if !opened {
			close(g.gate)
		}
	}()
	ns := srv.Of("/g")
	c := siotest.Dial(t, url, "/socket.io/")
	c.Send(t, `0/g,{"history":5}`)
	select {
	case <-g.read:
	case <-time.After(wait):
		t.Fatal("the history replay never started")
	}
	payload := `["` + strings.Repeat("g", 8<<10) + `"]`
	for range 16 { // 128 KiB held: past the 64 KiB bound
		if err := ns.To().EmitRaw("live", []byte(payload), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	code, reason := c.WS.WaitClose(t, wait)
	close(g.gate)
	opened = true
	if code != 1008 || reason != "slow consumer" {
		t.Fatalf("closed with %d %q, want 1008 slow consumer", code, reason)
	}
	eventually.True(t, wait, "the slow consumer counted", func() bool {
		return counters.Snapshot().Refused[metrics.ReasonSlowConsumer] == 1
	})
}
