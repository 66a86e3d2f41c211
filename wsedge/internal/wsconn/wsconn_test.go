package wsconn

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"go.uber.org/goleak"

	"github.com/sockbus/sockbus/internal/loopback"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type nopEvents struct{ gws.BuiltinEventHandler }

// A client still sending a huge frame when the server refuses it must read
// the 1009 close frame, not a connection reset.
func TestOversizedFrameCloseCodeSurvivesUnreadInput(t *testing.T) {
	up := gws.NewUpgrader(nopEvents{}, &gws.ServerOption{ReadMaxPayloadSize: 1024})
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		ws, _, err := Upgrade(up, w, r, 1024)
		if err != nil {
			t.Error(err)
			return
		}
		ws.ReadLoop()
	}))
	defer srv.Close()

	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	// A masked 512 KiB binary frame (over the limit, under the drain bound).
	const n = 512 << 10
	hdr := []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}
	binary.BigEndian.PutUint64(hdr[2:10], n)
	// The client keeps writing its frame as browsers and ws do: with a plain
	// close the server's reset fails this write (ws then reports 1006).
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(append(hdr, make([]byte, n)...)); err != nil {
		t.Fatalf("client write failed: %v (the server reset the connection)", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var h [4]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatalf("no close frame, got %v (a reset loses the close code)", err)
	}
	if h[0] != 0x88 || binary.BigEndian.Uint16(h[2:]) != 1009 {
		t.Fatalf("close frame % x, want 0x88 with code 1009", h)
	}
	conn.Close()
	<-done
}

// A write gws makes itself (a close frame) to a client that reads nothing
// gives up after ControlWriteTimeout instead of holding the socket's write
// lock, which the shared outq flushers also need, for as long as the client
// stalls.
func TestGwsOwnWritesAreBounded(t *testing.T) {
	_, server := loopback.Pair(t) // the client never reads: the server's send buffer fills up
	lc := &lingerConn{Conn: server}
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		chunk := make([]byte, 1<<20)
		for {
			if _, err := lc.Write(chunk); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("write ended with %v, want a timeout", err)
		}
		if waited := time.Since(start); waited < ControlWriteTimeout {
			t.Fatalf("gave up after %v, before the %v bound", waited, ControlWriteTimeout)
		}
	case <-time.After(10 * ControlWriteTimeout):
		t.Fatal("a write to a client that does not read never gave up")
	}
}
