package tunnel

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// natsConns runs an in-process NATS server and returns two connections to it
// (the two nodes' sides).
func natsConns(t *testing.T) (*nats.Conn, *nats.Conn) {
	t.Helper()
	ns, err := server.NewServer(&server.Options{DontListen: true, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats not ready")
	}
	a, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	b, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Close()
		b.Close()
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return a, b
}

// pair dials a listener and returns both ends.
func pair(t *testing.T, cfg Config) (dialed, accepted net.Conn) {
	t.Helper()
	a, b := natsConns(t)
	l, err := Listen(b, "tun.test", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := Dial(ctx, a, "tun.test", "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(); acc.Close() })
	return d, acc
}

// Bytes arrive in order and complete, in both directions, across many
// chunks and windows; a close reads as EOF after the last byte.
func TestStreamInOrderThenEOF(t *testing.T) {
	d, acc := pair(t, Config{Window: 64 << 10, Chunk: 4 << 10})
	want := make([]byte, 1<<20)
	_, _ = rand.Read(want)
	for _, dir := range [][2]net.Conn{{d, acc}, {acc, d}} {
		w, r := dir[0], dir[1]
		errc := make(chan error, 1)
		go func() {
			_, err := w.Write(want)
			errc <- err
		}()
		got := make([]byte, len(want))
		if _, err := io.ReadFull(r, got); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatal("stream corrupted")
		}
	}
	if _, err := d.Write([]byte("last")); err != nil {
		t.Fatal(err)
	}
	d.Close()
	got, err := io.ReadAll(acc)
	if err != nil || string(got) != "last" {
		t.Fatalf("after close: %q, %v; want \"last\" then EOF", got, err)
	}
	if _, err := acc.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write to a closed peer: %v, want net.ErrClosed", err)
	}
}

// A reader that does not read stops the writer at the window: the write
// blocks until its deadline instead of growing a buffer.
func TestWindowBlocksWriterUntilDeadline(t *testing.T) {
	d, acc := pair(t, Config{Window: 8 << 10, Chunk: 1 << 10})
	_ = d.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	n, err := d.Write(make([]byte, 64<<10))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write past the window: %d, %v; want a deadline error", n, err)
	}
	if n != 8<<10 {
		t.Fatalf("wrote %d bytes before blocking, want the window (8192)", n)
	}
	// Reading opens the window again.
	_ = d.SetWriteDeadline(time.Time{})
	go func() { _, _ = io.CopyN(io.Discard, acc, 8<<10+16<<10) }()
	if _, err := d.Write(make([]byte, 16<<10)); err != nil {
		t.Fatal(err)
	}
}

func TestReadDeadline(t *testing.T) {
	d, _ := pair(t, Config{})
	_ = d.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := d.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want a deadline error", err)
	}
}

func TestDialNoListener(t *testing.T) {
	a, _ := natsConns(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Dial(ctx, a, "tun.nobody", "", Config{}); !errors.Is(err, ErrNoListener) {
		t.Fatalf("dial: %v, want ErrNoListener", err)
	}
}

// A burst of dials far above the backlog is queued, not refused: every
// dial opens while the accept loop takes them.
func TestBurstAboveBacklogOpens(t *testing.T) {
	a, b := natsConns(t)
	l, err := Listen(b, "tun.burst", Config{Backlog: 4})
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 300)
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, 300)
	conns := make(chan net.Conn, 300)
	for range 300 {
		go func() {
			c, err := Dial(ctx, a, "tun.burst", "", Config{})
			if err == nil {
				conns <- c
			}
			errs <- err
		}()
	}
	failed := 0
	for range 300 {
		if err := <-errs; err != nil {
			failed++
			t.Log(err)
		}
	}
	l.Close()
	<-loopDone
	close(conns)
	for c := range conns {
		c.Close()
	}
	close(accepted)
	for c := range accepted {
		c.Close()
	}
	if failed > 0 {
		t.Fatalf("%d of 300 dials failed with a backlog of 4, want none", failed)
	}
}

// A listener that stops accepting refuses what waits after AcceptTimeout.
func TestStuckListenerRefuses(t *testing.T) {
	a, b := natsConns(t)
	l, err := Listen(b, "tun.full", Config{Backlog: 1, AcceptTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, a, "tun.full", "", Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := Dial(ctx, a, "tun.full", "", Config{}); !errors.Is(err, ErrRefused) {
		t.Fatalf("second dial: %v, want ErrRefused", err)
	}
}

// Admit judges each open by the dialler's from: a refusal is ErrLimited,
// an accepted conn's RemoteAddr is from and its Close releases the count.
func TestAdmitByFrom(t *testing.T) {
	a, b := natsConns(t)
	var mu sync.Mutex
	open := map[string]int{}
	l, err := Listen(b, "tun.admit", Config{Admit: func(from string) (func(), bool) {
		mu.Lock()
		defer mu.Unlock()
		if open[from] >= 1 {
			return nil, false
		}
		open[from]++
		return func() { mu.Lock(); open[from]--; mu.Unlock() }, true
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := Dial(ctx, a, "tun.admit", "192.0.2.1:1234", Config{})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if got := acc.RemoteAddr().String(); got != "192.0.2.1:1234" {
		t.Errorf("accepted conn's RemoteAddr %q, want the dialler's from", got)
	}
	if _, err := Dial(ctx, a, "tun.admit", "192.0.2.1:1234", Config{}); !errors.Is(err, ErrLimited) {
		t.Fatalf("second dial from one address: %v, want ErrLimited", err)
	}
	d2, err := Dial(ctx, a, "tun.admit", "192.0.2.2:1", Config{})
	if err != nil {
		t.Fatalf("dial from another address: %v", err)
	}
	acc2, _ := l.Accept()
	acc2.Close()
	d2.Close()
	acc.Close()
	acc.Close()
	d.Close()
	mu.Lock()
	defer mu.Unlock()
	for from, n := range open {
		if n != 0 {
			t.Errorf("%s still counts %d after its conns closed", from, n)
		}
	}
}
