package connlimit

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/ratelog"
	"github.com/sockbus/sockbus/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const wait = 5 * time.Second

// serve accepts on a limited loopback listener and hands out what it
// accepts; the listener closes with the test.
func serve(t *testing.T, cfg Config) (*Listener, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Listen(ln, cfg)
	accepted := make(chan net.Conn, 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		close(accepted)
		for c := range accepted {
			c.Close()
		}
	})
	return l, accepted
}

// dial connects from local IP (loopback: 127.0.0.1, 127.0.0.2, ...).
func dial(t *testing.T, l *Listener, local string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func accept(t *testing.T, accepted <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-accepted:
		return c
	case <-time.After(wait):
		t.Fatal("a connection within the bounds was not accepted")
	}
	return nil
}

// refused checks that c reads a 503 and then the end of the stream.
func refused(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("refused connection read %v, want a 503", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || string(body) != "too many connections\n" {
		t.Fatalf("refused with %d %q", resp.StatusCode, body)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the 503: %v, want EOF", err)
	}
}

func TestMaxConnections(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	warn := ratelog.New(slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil)), time.Hour)
	l, accepted := serve(t, Config{Max: 2, Warn: warn})
	dial(t, l, "127.0.0.1")
	first := accept(t, accepted)
	dial(t, l, "127.0.0.2")
	accept(t, accepted)
	if n := l.Open(); n != 2 {
		t.Fatalf("Open() = %d, want 2", n)
	}
	refused(t, dial(t, l, "127.0.0.3"))
	if n := l.Open(); n != 2 {
		t.Fatalf("Open() = %d after a refusal, want 2", n)
	}
	mu.Lock()
	logged := logs.String()
	mu.Unlock()
	if !bytes.Contains([]byte(logged), []byte("connection refused: too many connections")) {
		t.Fatalf("no warning logged: %q", logged)
	}

	// A slot freed (Close twice counts once) is taken again.
	first.Close()
	first.Close()
	if n := l.Open(); n != 1 {
		t.Fatalf("Open() = %d after one close, want 1", n)
	}
	dial(t, l, "127.0.0.3")
	accept(t, accepted)
	refused(t, dial(t, l, "127.0.0.4"))
}

func TestMaxConnectionsPerIP(t *testing.T) {
	l, accepted := serve(t, Config{PerIP: 1})
	dial(t, l, "127.0.0.1")
	a := accept(t, accepted)
	refused(t, dial(t, l, "127.0.0.1"))
	dial(t, l, "127.0.0.2") // another address has its own count
	accept(t, accepted)
	a.Close()
	dial(t, l, "127.0.0.1")
	accept(t, accepted)
	eventually.True(t, wait, "two open", func() bool { return l.Open() == 2 })
}

func TestZeroConfigBoundsNothing(t *testing.T) {
	l, accepted := serve(t, Config{})
	for range 10 {
		dial(t, l, "127.0.0.1")
		accept(t, accepted)
	}
	if n := l.Open(); n != 10 {
		t.Fatalf("Open() = %d, want 10", n)
	}
}

// The accepted connection keeps what the layers above use on TCP: the raw
// socket (outq's writev) and CloseWrite (wsconn's lingering close).
func TestConnKeepsTCPAbilities(t *testing.T) {
	l, accepted := serve(t, Config{Max: 1})
	c := dial(t, l, "127.0.0.1")
	s := accept(t, accepted)
	if _, ok := s.(syscall.Conn); !ok {
		t.Fatal("no SyscallConn")
	}
	if rc, err := s.(syscall.Conn).SyscallConn(); err != nil || rc == nil {
		t.Fatalf("SyscallConn: %v", err)
	}
	cw, ok := s.(interface{ CloseWrite() error })
	if !ok {
		t.Fatal("no CloseWrite")
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after CloseWrite the client read %v, want EOF", err)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// Connections counted without being accepted here (forwarded by another
// node) share the bounds with accepted ones; a per-address hold (a polling
// session) counts against the per-address bound only. Releases count once.
func TestAdmitSharesTheBounds(t *testing.T) {
	counters := new(metrics.Set)
	l, _ := serve(t, Config{Max: 3, PerIP: 2, Metrics: counters})
	defer func() {
		if got := counters.Snapshot().Refused[metrics.ReasonConnLimit]; got != 3 {
			t.Errorf("conn_limit refusals counted %d, want 3", got)
		}
	}()
	relA, ok := l.Admit("10.0.0.1")
	if !ok {
		t.Fatal("first forwarded connection refused")
	}
	if _, ok := l.AdmitPerIP("10.0.0.1"); !ok {
		t.Fatal("a session under the per-address bound refused")
	}
	if _, ok := l.Admit("10.0.0.1"); ok {
		t.Fatal("third hold from one address admitted past PerIP 2")
	}
	if _, ok := l.AdmitPerIP("10.0.0.1"); ok {
		t.Fatal("session admitted past PerIP 2")
	}
	if l.Open() != 1 {
		t.Fatalf("open %d, want 1 (a per-address hold is not a connection in all)", l.Open())
	}
	relA()
	relA() // once only
	if _, ok := l.Admit("10.0.0.1"); !ok {
		t.Fatal("released slot not reusable")
	}
	for _, ip := range []string{"10.0.0.2", "10.0.0.3"} {
		if _, ok := l.Admit(ip); !ok {
			t.Fatalf("%s refused under Max", ip)
		}
	}
	if _, ok := l.Admit("10.0.0.4"); ok {
		t.Fatal("admitted past Max 3")
	}
	if _, ok := l.AdmitPerIP("10.0.0.4"); !ok {
		t.Fatal("a session refused for Max, which does not bound sessions")
	}
}
