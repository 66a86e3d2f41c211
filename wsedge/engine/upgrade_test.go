package engine

import (
	"github.com/sockbus/sockbus/internal/eventually"
	"strings"
	"testing"
	"time"
)

func TestUpgrade(t *testing.T) {
	e := newEnv(t, Config{}, true)
	sid, r := e.handshake()

	// A long-poll is pending when the probe arrives.
	pending := e.pendingPoll(sid, r)

	ws := e.dial("EIO=4&transport=websocket&sid=" + sid)
	ws.send(t, "2probe")
	if m := ws.next(t); m.data != "3probe" {
		t.Fatalf("probe answer %q", m.data)
	}
	if body := <-pending; body != "6" {
		t.Fatalf("pending GET got %q, want noop", body)
	}
	// Frames sent during the upgrade wait for the WebSocket.
	if err := r.s.Send(frame("during")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if code, body := e.poll(sid); code != 200 || body != "6" {
		t.Fatalf("GET while probing: %d %q", code, body)
	}
	if time.Since(start) < probeNoopDelay/2 {
		t.Fatal("GET while probing answered without waiting for the upgrade")
	}
	if r.s.Transport() != TransportPolling {
		t.Fatal("upgraded before the upgrade packet")
	}
	ws.send(t, "5")
	if m := ws.next(t); m.data != "4during" {
		t.Fatalf("buffered frame %q", m.data)
	}
	eventually.True(t, 5*time.Second, "transport websocket", func() bool { return r.s.Transport() == TransportWebSocket })

	ws.send(t, "4hello")
	if m := ws.next(t); m.data != "4hello" {
		t.Fatalf("echo %q", m.data)
	}
	if code, body := e.poll(sid); code != 400 || body != `{"code":3,"message":"Bad request"}` {
		t.Fatalf("GET after upgrade: %d %q", code, body)
	}
	if code, _ := e.post(sid, "4x"); code != 400 {
		t.Fatalf("POST after upgrade: %d", code)
	}

	// A second WebSocket for the same session is accepted and closed.
	ws2 := e.dial("EIO=4&transport=websocket&sid=" + sid)
	ws2.waitClosed(t)
	ws.send(t, "4still")
	if m := ws.next(t); m.data != "4still" {
		t.Fatalf("echo %q", m.data)
	}
}

// A poll sent after the upgrade packet may overtake it; it still gets 400.
func TestUpgradePollOvertakingUpgradePacket(t *testing.T) {
	e := newEnv(t, Config{}, false)
	sid, r := e.handshake()
	ws := e.dial("EIO=4&transport=websocket&sid=" + sid)
	ws.send(t, "2probe")
	ws.next(t)
	got := make(chan int, 1)
	go func() {
		code, _ := e.poll(sid)
		got <- code
	}()
	eventually.True(t, 5*time.Second, "poll held", func() bool { r.s.mu.Lock(); defer r.s.mu.Unlock(); return r.s.get != nil })
	ws.send(t, "5")
	if code := <-got; code != 400 {
		t.Fatalf("overtaking poll: %d", code)
	}
}

func TestUpgradeSecondProbeRefused(t *testing.T) {
	e := newEnv(t, Config{}, false)
	sid, _ := e.handshake()
	ws := e.dial("EIO=4&transport=websocket&sid=" + sid)
	ws.send(t, "2probe")
	ws.next(t)
	ws2 := e.dial("EIO=4&transport=websocket&sid=" + sid)
	ws2.waitClosed(t)
}

func TestUpgradeTimeout(t *testing.T) {
	e := newEnv(t, Config{UpgradeTimeout: 100 * time.Millisecond}, false)
	sid, r := e.handshake()
	ws := e.dial("EIO=4&transport=websocket&sid=" + sid)
	ws.send(t, "2probe")
	ws.next(t)
	if err := r.s.Send(frame("held")); err != nil {
		t.Fatal(err)
	}
	ws.waitClosed(t)
	// Back on polling: the held frame comes by GET.
	if code, body := e.poll(sid); code != 200 || body != "4held" {
		t.Fatalf("GET after failed upgrade: %d %q", code, body)
	}
}

func TestUpgradeAbortedByOtherPacket(t *testing.T) {
	e := newEnv(t, Config{}, false)
	sid, r := e.handshake()
	ws := e.dial("EIO=4&transport=websocket&sid=" + sid)
	ws.send(t, "4not-a-probe")
	ws.waitClosed(t)
	if r.s.Transport() != TransportPolling {
		t.Fatal("transport changed")
	}
	if code, _ := e.post(sid, "4x"); code != 200 {
		t.Fatalf("POST after aborted upgrade: %d", code)
	}
}

func TestUpgradeDisabled(t *testing.T) {
	e := newEnv(t, Config{DisableUpgrades: true}, false)
	sid, _ := e.handshake()
	ws := e.dial("EIO=4&transport=websocket&sid=" + sid)
	ws.waitClosed(t)
	if code, _ := e.post(sid, "4x"); code != 200 {
		t.Fatalf("session hurt by refused upgrade: %d", code)
	}
}

func TestUpgradeUnknownSID(t *testing.T) {
	e := newEnv(t, Config{}, false)
	code, body, _ := e.do("GET", e.url("EIO=4&transport=websocket&sid=nope"), "",
		"Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version", "13")
	if code != 400 || !strings.Contains(body, `"code":1`) {
		t.Fatalf("%d %q", code, body)
	}
}
