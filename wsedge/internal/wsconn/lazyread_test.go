package wsconn

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/sockbus/sockbus/internal/loopback"
)

// echoEvents echoes every message back on the connection.
type echoEvents struct{ gws.BuiltinEventHandler }

func (echoEvents) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

type collect struct {
	gws.BuiltinEventHandler
	got chan []byte
}

func (c collect) OnMessage(_ *gws.Conn, m *gws.Message) {
	c.got <- append([]byte(nil), m.Bytes()...)
	m.Close()
}

// Frames of every size, smaller and larger than the borrowed chunk and
// sent back to back, reach gws intact through the lazy reader.
func TestLazyReaderCarriesFramesOfEverySize(t *testing.T) {
	up := gws.NewUpgrader(echoEvents{}, &gws.ServerOption{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, _, err := Upgrade(up, w, r, 1024)
		if err != nil {
			t.Error(err)
			return
		}
		ws.ReadLoop()
	}))
	defer srv.Close()
	c := collect{got: make(chan []byte, 64)}
	client, _, err := gws.NewClient(c, &gws.ClientOption{Addr: "ws" + srv.URL[len("http"):]})
	if err != nil {
		t.Fatal(err)
	}
	go client.ReadLoop()
	defer client.NetConn().Close()
	sizes := []int{0, 1, 13, 125, 126, 1000, chunkSize - 3, chunkSize, chunkSize + 1, 3*chunkSize + 7, 200 << 10}
	var want [][]byte
	for i, n := range sizes {
		b := bytes.Repeat([]byte{byte('a' + i)}, n)
		want = append(want, b)
		if err := client.WriteMessage(gws.OpcodeBinary, b); err != nil {
			t.Fatal(err)
		}
	}
	for i, w := range want {
		select {
		case got := <-c.got:
			if !bytes.Equal(got, w) {
				t.Fatalf("message %d: got %d bytes, want %d", i, len(got), len(w))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d of %d bytes never came back", i, len(w))
		}
	}
}

// A read deadline that passes while the lazy reader waits is a timeout
// the close frame reports as IdleCloseCode.
func TestLazyReaderTimeoutIsMarked(t *testing.T) {
	client, server := loopback.Pair(t)
	lc := &lingerConn{Conn: server}
	lr := newLazyReader(lc)
	_ = lc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := lr.Read(make([]byte, 2)); err == nil {
		t.Fatal("read returned without data or deadline")
	}
	if !lc.readTimedOut.Load() {
		t.Fatal("the timeout was not marked")
	}
	if _, err := client.Write([]byte("xy")); err != nil {
		t.Fatal(err)
	}
	_ = lc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 2)
	if n, err := lr.Read(b); err != nil || string(b[:n]) != "x" && string(b[:n]) != "xy" {
		t.Fatalf("read %q %v", b[:n], err)
	}
}

// A read that reaches the socket allocates nothing of its own (it used to
// cost a closure and its captured variables, four allocations, per client
// frame). The bound of one leaves room for the race detector, which makes
// sync.Pool drop some chunks so that Get allocates a new one.
func TestLazyReaderReadDoesNotAllocate(t *testing.T) {
	client, server := loopback.Pair(t)
	lr := newLazyReader(&lingerConn{Conn: server})
	msg, buf := []byte("xy"), make([]byte, minBufio)
	read := func() {
		if _, err := client.Write(msg); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < len(msg); {
			n, err := lr.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	}
	read() // warm up the pool
	if n := testing.AllocsPerRun(200, read); n > 1 {
		t.Fatalf("%.1f allocations per read, want at most 1", n)
	}
}
