package loopback

import (
	"io"
	"net"
	"testing"
)

// TestFreeAddrsAreDistinctAndFree: each address is on loopback, none
// repeats, and each can be bound again once FreeAddrs returns.
func TestFreeAddrsAreDistinctAndFree(t *testing.T) {
	addrs := FreeAddrs(t, 8)
	seen := map[string]bool{}
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("address %q: want 127.0.0.1:port (%v)", a, err)
		}
		if seen[a] {
			t.Fatalf("address %s returned twice in %v", a, addrs)
		}
		seen[a] = true
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("address %s is not free after FreeAddrs: %v", a, err)
		}
		ln.Close()
	}
}

// TestPairIsOneConnection: what one end writes the other reads, both ways,
// and the ends are closed once the test that made them ends.
func TestPairIsOneConnection(t *testing.T) {
	var client, server net.Conn
	t.Run("use", func(t *testing.T) {
		client, server = Pair(t)
		for _, ends := range [][2]net.Conn{{client, server}, {server, client}} {
			if _, err := ends[0].Write([]byte("hi")); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 2)
			if _, err := io.ReadFull(ends[1], b); err != nil || string(b) != "hi" {
				t.Fatalf("read %q, %v; want hi", b, err)
			}
		}
	})
	for _, c := range []net.Conn{client, server} {
		if _, err := c.Write([]byte("x")); err == nil {
			t.Fatalf("%v still open after its test ended", c.LocalAddr())
		}
	}
}
