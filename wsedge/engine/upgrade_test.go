package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
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
	// Polling stays writable during the upgrade (as in engine.io): a GET
	// gets what is buffered, or a noop at once, so the client can pause
	// without waiting (its own writes wait for the upgrade).
	if err := r.s.Send(frame("first")); err != nil {
		t.Fatal(err)
	}
	if code, body := e.poll(sid); code != 200 || body != "4first" {
		t.Fatalf("GET with a frame while probing: %d %q", code, body)
	}
	if code, body := e.poll(sid); code != 200 || body != "6" {
		t.Fatalf("empty GET while probing: %d %q", code, body)
	}
	if r.s.Transport() != TransportPolling {
		t.Fatal("upgraded before the upgrade packet")
	}
	// Frames with no GET to take them go to the WebSocket on upgrade.
	if err := r.s.Send(frame("during")); err != nil {
		t.Fatal(err)
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

// A poll arriving after the probe was answered is never held for the
// upgrade: the frames pushed while it is on its way reach it, in order, and
// an empty one gets a noop at once (it used to wait 100 ms, delaying the
// client's upgrade and, with it, its first emits).
func TestUpgradePollAfterProbeNotHeld(t *testing.T) {
	e := newEnv(t, Config{}, false)
	sid, r := e.handshake()
	ws := e.dial("EIO=4&transport=websocket&sid=" + sid)
	ws.send(t, "2probe")
	ws.next(t)
	const rounds = 20
	for i := range rounds {
		start := time.Now()
		code, body := e.poll(sid)
		if code != 200 || body != "6" {
			t.Fatalf("empty GET %d after probe: %d %q", i, code, body)
		}
		if time.Since(start) < 90*time.Millisecond {
			break // answered without the old hold
		}
		if i == rounds-1 {
			t.Fatalf("every empty GET after the probe took over 90 ms (the old 100 ms hold)")
		}
	}
	if err := r.s.Send(frame("a"), frame("b")); err != nil {
		t.Fatal(err)
	}
	if code, body := e.poll(sid); code != 200 || body != "4a\x1e4b" {
		t.Fatalf("GET after probe with frames: %d %q", code, body)
	}
	ws.send(t, "5")
	eventually.True(t, 5*time.Second, "transport websocket", func() bool { return r.s.Transport() == TransportWebSocket })
	if code, _ := e.poll(sid); code != 400 {
		t.Fatalf("GET after upgrade: %d", code)
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

// A WaitRoom waiting on a full polling buffer when the session upgrades
// moves to the WebSocket queue, which the client reads: it returns, and
// the buffered frames arrive over the WebSocket in order.
func TestWaitRoomFollowsAnUpgrade(t *testing.T) {
	e := newEnv(t, Config{Queue: outq.Config{MaxFrames: 8, MaxBytes: 1 << 20}}, false)
	sid, r := e.handshake()
	ws := e.dial("EIO=4&transport=websocket&sid=" + sid)
	ws.send(t, "2probe")
	if m := ws.next(t); m.data != "3probe" {
		t.Fatalf("probe answer %q", m.data)
	}
	for i := range 5 { // 5 of 8 frames, no GET to take them
		if err := r.s.Send(frame(itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	waited := make(chan error, 1)
	go func() { waited <- r.s.WaitRoom(context.Background()) }()
	ws.send(t, "5")
	for i := range 5 {
		if m := ws.next(t); m.data != "4"+itoa(i) {
			t.Fatalf("frame %d over the WebSocket: %q", i, m.data)
		}
	}
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("WaitRoom across the upgrade = %v", err)
		}
	case <-time.After(10 * time.Second): // a deadline, not a synchronisation
		t.Fatal("WaitRoom still waiting after the upgrade drained the buffer")
	}
	if n := e.srv.rooms.n.Load(); n != 0 {
		t.Fatalf("%d room waits left on the server", n)
	}
}
