package engine

import (
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/connlimit"
	"github.com/sockbus/sockbus/internal/eventually"
)

// Handshakes with huge headers (net/http's default allows 1 MiB), never
// polled again: each session keeps a bounded copy of its headers, not the
// request's, so 40 of 256 KiB hold well under 40 × 256 KiB of heap.
func TestHandshakeKeepsBoundedHeaders(t *testing.T) {
	e := newEnv(t, Config{}, false)
	const n, big = 40, 256 << 10
	var last *rec
	// open returns how much the heap grew for n sessions with header
	// values of size bytes: a session of the test's env costs ~100 KiB
	// whatever its headers (its recorder's channel), so compare two runs.
	open := func(size int) int64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range n {
			code, body, _ := e.do("GET", e.url("EIO=4&transport=polling"), "",
				"X-Big", strings.Repeat("b", size), "X-Small", "kept", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			if code != 200 || !strings.HasPrefix(body, "0{") {
				t.Fatalf("handshake %d: %d %q", i, code, body)
			}
			last = <-e.newSess
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		return int64(after.HeapAlloc) - int64(before.HeapAlloc)
	}
	small := open(1)
	grown := open(big) - small
	t.Logf("%d sessions with %d KiB of headers each: heap grew %d KiB more than with tiny headers", n, big>>10, grown>>10)
	if grown > n*MaxHandshakeHeaderBytes*2 {
		t.Errorf("heap grew %d KiB more for %d sessions, want under %d KiB (a bounded copy each)", grown>>10, n, n*MaxHandshakeHeaderBytes*2>>10)
	}
	h := last.s.Handshake().Header()
	if h.Get("X-Small") != "kept" || h.Get("X-Big") != "" || h.Get("Sec-Websocket-Key") != "" {
		t.Errorf("kept headers %v: want X-Small, not X-Big (over the bound) nor Sec-WebSocket-Key", keys(h))
	}
	size := 0
	for k, vs := range h {
		size += len(k)
		for _, v := range vs {
			size += len(v)
		}
	}
	if size > MaxHandshakeHeaderBytes {
		t.Errorf("kept %d bytes of headers, want at most %d", size, MaxHandshakeHeaderBytes)
	}
	runtime.KeepAlive(e)
}

func keys(h http.Header) []string {
	var out []string
	for k := range h {
		out = append(out, k)
	}
	return out
}

// A polling session counts as a connection from its address while it
// lives: past the per-address bound a handshake gets 503; a closed session
// and an upgraded one (its WebSocket counts itself) free their slots.
func TestPollingSessionsCountPerAddress(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	limits := connlimit.Listen(tcp, connlimit.Config{PerIP: 2})
	t.Cleanup(func() { limits.Close() })
	e := newEnv(t, Config{Limits: limits}, false)
	sid1, r1 := e.handshake()
	_, _ = e.handshake()
	code, body, _ := e.do("GET", e.url("EIO=4&transport=polling"), "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "Too many connections") {
		t.Fatalf("third polling session from one address: %d %s, want 503", code, body)
	}
	if code, _ := e.post(sid1, "1"); code != 200 { // the client closes it
		t.Fatalf("close POST: %d", code)
	}
	r1.waitClosed(t)
	sid3, r3 := e.handshake()
	ws := e.dial("EIO=4&transport=websocket&sid=" + sid3)
	ws.send(t, "2probe")
	if m := ws.next(t); m.data != "3probe" {
		t.Fatalf("probe answer %q", m.data)
	}
	ws.send(t, "5")
	eventually.True(t, 5*time.Second, "upgraded", func() bool { return r3.s.Transport() == TransportWebSocket })
	_, _ = e.handshake() // the upgraded session's slot is free
}

// A session keeps its handshake's headers and query as bytes; Header and
// Query parse them back whole: repeated headers in order, Host included,
// the WebSocket handshake's own left out, every query parameter, and each
// call a copy of its own.
func TestHandshakeHeaderAndQueryRoundTrip(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/engine.io/?EIO=4&transport=websocket&token=a%20b&x=1&x=2", nil)
	r.Header.Add("X-Multi", "one")
	r.Header.Add("X-Multi", "two: with a colon")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	r.Header.Set("Origin", "https://a.example")
	hs := newHandshake(r)
	h := hs.Header()
	if got := h["X-Multi"]; len(got) != 2 || got[0] != "one" || got[1] != "two: with a colon" {
		t.Fatalf("X-Multi = %q", got)
	}
	if h.Get("Host") != "example.com" || h.Get("Origin") != "https://a.example" || h.Get("Sec-WebSocket-Key") != "" {
		t.Fatalf("headers = %v", h)
	}
	h.Set("Origin", "changed")
	if hs.Header().Get("Origin") != "https://a.example" {
		t.Fatal("Header returned the kept headers themselves, not a copy")
	}
	q := hs.Query()
	if q.Get("EIO") != "4" || q.Get("transport") != "websocket" || q.Get("token") != "a b" || len(q["x"]) != 2 {
		t.Fatalf("query = %v", q)
	}
}
