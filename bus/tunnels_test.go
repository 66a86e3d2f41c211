package bus

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus/tunnel"
)

// A tunnel between two nodes' names carries bytes both ways; a name
// nobody listens as is ErrNoListener; the open request waits on the node's
// one reply multiplexer (full: refused with ErrBusy), not on a reply
// mechanism of its own.
func TestTunnelThroughTheBus(t *testing.T) {
	b := startBus(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ln, err := b.ListenTunnel("nodeA", tunnel.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c) // echo
	}()

	c, err := b.DialTunnel(ctx, "nodeA", "192.0.2.1:5000")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo %q, %v", buf, err)
	}

	if _, err := b.DialTunnel(ctx, "nobody", "192.0.2.1:5000"); !errors.Is(err, tunnel.ErrNoListener) {
		t.Fatalf("dial to nobody: %v, want ErrNoListener", err)
	}
	if _, err := b.DialTunnel(ctx, "bad.name", ""); !errors.Is(err, ErrBadToken) {
		t.Fatalf("dial to a name with a dot: %v, want ErrBadToken", err)
	}
	b.replies.mu.Lock()
	b.replies.maxReqs = 0
	b.replies.mu.Unlock()
	if _, err := b.DialTunnel(ctx, "nodeA", "192.0.2.1:5000"); !errors.Is(err, ErrBusy) {
		t.Fatalf("dial with the reply multiplexer full: %v, want ErrBusy", err)
	}
}
