package engine

import (
	"testing"
	"time"
)

var fastBeat = Config{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond}

// slowClientBeat leaves a loaded test machine time to answer pings.
var slowClientBeat = Config{PingInterval: 300 * time.Millisecond, PingTimeout: time.Second}

func TestHeartbeatPolling(t *testing.T) {
	e := newEnv(t, slowClientBeat, false)
	sid, r := e.handshake()
	for i := 0; i < 3; i++ {
		if code, body := e.poll(sid); code != 200 || body != "2" {
			t.Fatalf("poll %d: %d %q", i, code, body)
		}
		if code, _ := e.post(sid, "3"); code != 200 {
			t.Fatalf("pong %d: %d", i, code)
		}
	}
	start := time.Now()
	if code, body := e.poll(sid); code != 200 || body != "2" {
		t.Fatalf("last ping: %d %q", code, body)
	}
	if reason := r.waitClosed(t); reason != ReasonPingTimeout {
		t.Fatalf("reason %q", reason)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed %v after the ping", d)
	}
}

// With 300/200 the session is gone 500 ms after the handshake without pong.
func TestHeartbeatTimeoutAfterHandshake(t *testing.T) {
	e := newEnv(t, fastBeat, false)
	start := time.Now()
	sid, r := e.handshake()
	if reason := r.waitClosed(t); reason != ReasonPingTimeout {
		t.Fatalf("reason %q", reason)
	}
	if d := time.Since(start); d < 450*time.Millisecond || d > 1500*time.Millisecond {
		t.Fatalf("closed after %v", d)
	}
	if code, _ := e.poll(sid); code != 400 {
		t.Fatalf("GET after timeout: %d", code)
	}
}

func TestHeartbeatWebSocket(t *testing.T) {
	e := newEnv(t, slowClientBeat, false)
	c, r := e.wsHandshake()
	for i := 0; i < 3; i++ {
		if m := c.next(t); m.data != "2" {
			t.Fatalf("ping %d: %q", i, m.data)
		}
		c.send(t, "3")
	}
	if m := c.next(t); m.data != "2" {
		t.Fatalf("last ping %q", m.data)
	}
	if reason := r.waitClosed(t); reason != ReasonPingTimeout {
		t.Fatalf("reason %q", reason)
	}
	c.waitClosed(t)
}

// A WebSocket client that never answers is closed pingInterval+pingTimeout
// after the handshake (the heartbeat runs on the server's wheel: at most a
// tick late, never early), and the wheel's goroutine ends with the server
// (goleak in TestMain).
func TestHeartbeatSilentWebSocketClosedOnTime(t *testing.T) {
	e := newEnv(t, fastBeat, false)
	start := time.Now()
	c, r := e.wsHandshake()
	if reason := r.waitClosed(t); reason != ReasonPingTimeout {
		t.Fatalf("reason %q", reason)
	}
	if d := time.Since(start); d < 500*time.Millisecond || d > 1500*time.Millisecond {
		t.Fatalf("closed after %v, want 500 ms (+ a tick)", d)
	}
	c.waitClosed(t)
}
