package engine

import (
	"context"
	"errors"
	"github.com/sockbus/sockbus/internal/eventually"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/wsedge/internal/outq"
)

func TestPollingHandshake(t *testing.T) {
	e := newEnv(t, Config{}, false)
	code, body, hdr := e.do("GET", e.url("EIO=4&transport=polling&t=abc&token=x"), "", "Origin", "https://a.example")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	if ct := hdr.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", hdr.Get("Cache-Control"))
	}
	if hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Error("CORS header without CORS config")
	}
	const prefix = `0{"sid":"`
	const suffix = `","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`
	if !strings.HasPrefix(body, prefix) || !strings.HasSuffix(body, suffix) {
		t.Fatalf("open packet %q", body)
	}
	sid := body[len(prefix) : len(body)-len(suffix)]
	if len(sid) != 20 {
		t.Errorf("sid %q", sid)
	}
	r := e.rec(sid)
	if r == nil {
		t.Fatal("onSession not called")
	}
	hs := r.s.Handshake()
	if hs.Query().Get("token") != "x" || hs.Header().Get("Origin") != "https://a.example" || !hs.XDomain ||
		hs.Secure || hs.Address != "127.0.0.1" || !strings.HasPrefix(hs.URL, "/engine.io/?EIO=4") || hs.Time.IsZero() {
		t.Errorf("handshake %+v", hs)
	}
	if r.s.Transport() != TransportPolling || r.s.ID() != sid {
		t.Errorf("transport %q id %q", r.s.Transport(), r.s.ID())
	}
}

func TestPollingOpenPacketOptions(t *testing.T) {
	e := newEnv(t, Config{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond,
		MaxPayload: 1234, DisableUpgrades: true}, false)
	_, body, _ := e.do("GET", e.url("EIO=4&transport=polling"), "")
	if !strings.HasSuffix(body, `","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1234}`) {
		t.Fatalf("open packet %q", body)
	}
}

func TestPollingMessages(t *testing.T) {
	e := newEnv(t, Config{}, true)
	sid, r := e.handshake()

	if code, body := e.post(sid, "4hello\x1ebAQIDBA==\x1e4€"); code != 200 || body != "ok" {
		t.Fatalf("POST: %d %q", code, body)
	}
	want := []msg{{"hello", false}, {"\x01\x02\x03\x04", true}, {"€", false}}
	for _, w := range want {
		if got := r.next(t); got != w {
			t.Fatalf("got %+v, want %+v", got, w)
		}
	}
	// Everything buffered goes out in one response.
	if code, body := e.poll(sid); code != 200 || body != "4hello\x1ebAQIDBA==\x1e4€" {
		t.Fatalf("GET: %d %q", code, body)
	}
}

func TestPollingLongPollWakes(t *testing.T) {
	e := newEnv(t, Config{}, false)
	sid, r := e.handshake()
	got := e.pendingPoll(sid, r)
	bin := outq.NewFrame(true, []byte{0xff, 0})
	if err := r.s.Send(frame(`2["ev",{"_placeholder":true,"num":0}]`), bin); err != nil {
		t.Fatal(err)
	}
	if body := <-got; body != "42[\"ev\",{\"_placeholder\":true,\"num\":0}]\x1eb/wA=" {
		t.Fatalf("poll body %q", body)
	}
}

func TestPollingDuplicateGet(t *testing.T) {
	e := newEnv(t, Config{}, false)
	sid, r := e.handshake()
	first := e.pendingPoll(sid, r)
	if code, _ := e.poll(sid); code != 400 {
		t.Fatalf("second GET: %d", code)
	}
	if body := <-first; body != "1" {
		t.Fatalf("first GET got %q, want close packet", body)
	}
	if reason := r.waitClosed(t); reason != ReasonTransportError {
		t.Fatalf("reason %q", reason)
	}
	if code, body := e.poll(sid); code != 400 || body != `{"code":1,"message":"Session ID unknown"}` {
		t.Fatalf("GET after close: %d %q", code, body)
	}
}

func TestPollingDuplicatePost(t *testing.T) {
	e := newEnv(t, Config{}, false)
	sid, r := e.handshake()
	// Hold a POST open by sending its body slowly.
	pr, pw := ioPipe()
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", e.url("EIO=4&transport=polling&sid="+sid), pr)
		resp, err := e.client.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	_, _ = pw.Write([]byte("4a"))
	eventually.True(t, 5*time.Second, "POST in progress", func() bool { r.s.mu.Lock(); defer r.s.mu.Unlock(); return r.s.posting })
	if code, _ := e.post(sid, "4b"); code != 400 {
		t.Fatalf("second POST: %d", code)
	}
	if reason := r.waitClosed(t); reason != ReasonTransportError {
		t.Fatalf("reason %q", reason)
	}
	pw.Close()
	<-done
}

func TestPollingClientClose(t *testing.T) {
	e := newEnv(t, Config{}, false)
	sid, r := e.handshake()
	got := e.pendingPoll(sid, r)
	if code, body := e.post(sid, "4bye\x1e1\x1e4ignored"); code != 200 || body != "ok" {
		t.Fatalf("POST: %d %q", code, body)
	}
	if body := <-got; body != "6" {
		t.Fatalf("pending GET got %q, want noop", body)
	}
	if m := r.next(t); m.data != "bye" {
		t.Fatalf("message %q", m.data)
	}
	if reason := r.waitClosed(t); reason != ReasonTransportClose {
		t.Fatalf("reason %q", reason)
	}
	select {
	case m := <-r.msgs:
		t.Fatalf("message after close packet: %+v", m)
	default:
	}
	if err := r.s.Send(frame("x")); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("Send after close: %v", err)
	}
}

func TestPollingAbortedPoll(t *testing.T) {
	e := newEnv(t, Config{}, false)
	sid, r := e.handshake()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, "GET", e.url("EIO=4&transport=polling&sid="+sid), nil)
		if resp, err := e.client.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	e.waitPollHeld(r)
	cancel()
	<-done
	if reason := r.waitClosed(t); reason != ReasonTransportError {
		t.Fatalf("reason %q", reason)
	}
	if code, _ := e.poll(sid); code != 400 {
		t.Fatalf("GET after abort: %d", code)
	}
}

func TestPollingBadPayload(t *testing.T) {
	for _, body := range []string{"abc", "", "4ok\x1e9", "b!!", "4\xff"} {
		e := newEnv(t, Config{}, false)
		sid, r := e.handshake()
		if code, _ := e.post(sid, body); code != 400 {
			t.Fatalf("POST %q: %d", body, code)
		}
		if reason := r.waitClosed(t); reason != ReasonParseError {
			t.Fatalf("POST %q: reason %q", body, reason)
		}
		if code, _ := e.poll(sid); code != 400 {
			t.Fatalf("GET after %q: %d", body, code)
		}
	}
}

func TestPollingClientPingIsError(t *testing.T) {
	e := newEnv(t, Config{}, false)
	sid, r := e.handshake()
	if code, _ := e.post(sid, "2"); code != 400 {
		t.Fatalf("POST ping: %d", code)
	}
	if reason := r.waitClosed(t); reason != ReasonTransportError {
		t.Fatalf("reason %q", reason)
	}
}

func TestPollingBinaryContentType(t *testing.T) {
	e := newEnv(t, Config{}, false)
	sid, r := e.handshake()
	code, _, _ := e.do("POST", e.url("EIO=4&transport=polling&sid="+sid), "4x", "Content-Type", "application/octet-stream")
	if code != 400 {
		t.Fatalf("binary POST: %d", code)
	}
	r.waitClosed(t)
}

func TestPollingPostTooLarge(t *testing.T) {
	e := newEnv(t, Config{MaxPayload: 100}, false)
	sid, r := e.handshake()
	if code, _ := e.post(sid, "4"+strings.Repeat("x", 100)); code != 413 {
		t.Fatalf("oversized POST: %d", code)
	}
	if reason := r.waitClosed(t); reason != ReasonTransportError {
		t.Fatalf("reason %q", reason)
	}

	sid, r = e.handshake()
	if code, _ := e.post(sid, "4"+strings.Repeat("x", 99)); code != 200 {
		t.Fatalf("POST at the limit: %d", code)
	}
	if m := r.next(t); len(m.data) != 99 {
		t.Fatalf("message length %d", len(m.data))
	}
}

func TestPollingSlowConsumer(t *testing.T) {
	e := newEnv(t, Config{Queue: outq.Config{MaxFrames: 4}}, false)
	sid, r := e.handshake()
	for i := 0; i < 4; i++ {
		if err := r.s.Send(frame("x")); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if err := r.s.Send(frame("x")); !errors.Is(err, ErrSlowConsumer) || !errors.Is(err, outq.ErrFull) {
		t.Fatalf("Send past the bound: %v", err)
	}
	if reason := r.waitClosed(t); reason != ReasonSlowConsumer {
		t.Fatalf("reason %q", reason)
	}
	if code, _ := e.poll(sid); code != 400 {
		t.Fatalf("GET after cut-off: %d", code)
	}
}

func TestPollingGracefulClose(t *testing.T) {
	e := newEnv(t, Config{}, false)
	sid, r := e.handshake()
	if err := r.s.Send(frame("a"), frame("b")); err != nil {
		t.Fatal(err)
	}
	r.s.Close(ReasonForcedClose)
	if err := r.s.Send(frame("c")); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	if code, body := e.poll(sid); code != 200 || body != "4a\x1e4b\x1e1" {
		t.Fatalf("drain GET: %d %q", code, body)
	}
	if reason := r.waitClosed(t); reason != ReasonForcedClose {
		t.Fatalf("reason %q", reason)
	}
	if code, _ := e.poll(sid); code != 400 {
		t.Fatalf("GET after close: %d", code)
	}

	// With a poll pending, Close answers it right away.
	sid, r = e.handshake()
	got := e.pendingPoll(sid, r)
	r.s.Close("bye")
	if body := <-got; body != "1" {
		t.Fatalf("pending GET got %q", body)
	}
	if reason := r.waitClosed(t); reason != "bye" {
		t.Fatalf("reason %q", reason)
	}
}

func TestSendInvalidFrame(t *testing.T) {
	e := newEnv(t, Config{}, false)
	_, r := e.handshake()
	for _, f := range []*outq.Frame{nil, outq.NewFrame(false, nil), outq.NewFrame(false, []byte("2"))} {
		if err := r.s.Send(frame("ok"), f); !errors.Is(err, ErrInvalidFrame) {
			t.Fatalf("Send(%v): %v", f, err)
		}
	}
	if err := r.s.Send(outq.NewFrame(true, nil)); err != nil {
		t.Fatalf("empty binary frame: %v", err)
	}
}

func TestMessageOrder(t *testing.T) {
	e := newEnv(t, Config{}, false)
	sid, r := e.handshake()
	var sb strings.Builder
	const n = 3000 // more than the inbox holds: the POST waits for room
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteByte(0x1e)
		}
		sb.WriteString("4")
		sb.WriteString(itoa(i))
	}
	if code, _ := e.post(sid, sb.String()); code != 200 {
		t.Fatalf("POST: %d", code)
	}
	for i := 0; i < n; i++ {
		if m := r.next(t); m.data != itoa(i) {
			t.Fatalf("message %d = %q", i, m.data)
		}
	}
}

// A GET racing the client's close POST (arriving just after it) gets noop,
// as if it had been pending; later ones get 400.
func TestPollingClientCloseRacingGet(t *testing.T) {
	e := newEnv(t, Config{}, false)
	sid, r := e.handshake()
	if code, _ := e.post(sid, "1"); code != 200 {
		t.Fatalf("POST close: %d", code)
	}
	if reason := r.waitClosed(t); reason != ReasonTransportClose {
		t.Fatalf("reason %q", reason)
	}
	if code, body := e.poll(sid); code != 200 || body != "6" {
		t.Fatalf("racing GET: %d %q", code, body)
	}
	if code, _ := e.poll(sid); code != 400 {
		t.Fatalf("later GET: %d", code)
	}
	if code, _ := e.post(sid, "4x"); code != 400 {
		t.Fatalf("later POST: %d", code)
	}
}

// A poll arriving after the pong deadline finds the session gone even if
// the timeout timer has not run yet.
func TestPollingLatePollAfterDeadline(t *testing.T) {
	e := newEnv(t, Config{PingInterval: time.Hour, PingTimeout: time.Hour}, false)
	sid, r := e.handshake()
	r.s.mu.Lock()
	r.s.beatAt = time.Now().Add(-3 * time.Hour) // as if both timers were late
	r.s.mu.Unlock()
	if code, _ := e.poll(sid); code != 400 {
		t.Fatalf("late GET: %d", code)
	}
	if reason := r.waitClosed(t); reason != ReasonPingTimeout {
		t.Fatalf("reason %q", reason)
	}
}

// WaitRoom over polling waits while more than half of the buffer's bound
// is taken, until the client's GET takes the buffer; on a session that
// closes meanwhile it returns ErrSessionClosed, and the server keeps
// nothing of the wait. Before, it returned at
// once over polling and a replay ran the buffer past its bound.
func TestPollingWaitRoomWaitsForAPoll(t *testing.T) {
	e := newEnv(t, Config{Queue: outq.Config{MaxFrames: 8, MaxBytes: 1 << 20}}, false)
	sid, r := e.handshake()
	for i := range 5 { // 5 of 8 frames: past half
		if err := r.s.Send(frame(itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	waited := make(chan error, 1)
	go func() { waited <- r.s.WaitRoom(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := r.s.WaitRoom(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitRoom with 5 of 8 frames buffered = %v, want the deadline", err)
	}
	select {
	case err := <-waited:
		t.Fatalf("WaitRoom returned %v before a poll", err)
	default:
	}
	if code, body := e.poll(sid); code != 200 || !strings.HasPrefix(body, "40\x1e41") {
		t.Fatalf("poll: %d %q", code, body)
	}
	if err := <-waited; err != nil {
		t.Fatalf("WaitRoom once polled = %v", err)
	}
	for i := range 5 {
		_ = r.s.Send(frame(itoa(i)))
	}
	go func() { waited <- r.s.WaitRoom(context.Background()) }()
	r.s.closeWith(ReasonForcedClose, closeAbort)
	if err := <-waited; !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("WaitRoom on a closed session = %v, want ErrSessionClosed", err)
	}
	if n := e.srv.rooms.n.Load(); n != 0 { // nothing of the session's wait outlives it
		t.Fatalf("%d room waits left on the server", n)
	}
}
