package loopback

import (
	"net"
	"testing"
)

// FreeAddrs returns n distinct 127.0.0.1:port addresses that were free a
// moment ago: each is bound, read and released, all n held at once so none
// repeats. Another process could take one before the caller binds it; on a
// test machine that is rare enough, and the caller's bind error says so.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	lns := make([]net.Listener, n)
	defer func() {
		for _, ln := range lns {
			if ln != nil {
				ln.Close()
			}
		}
	}()
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("failed to find a free loopback port: %v", err)
		}
		lns[i], addrs[i] = ln, ln.Addr().String()
	}
	return addrs
}

// Pair returns both ends of one loopback TCP connection. Both close when
// the test ends (the server's first); closing either earlier is fine.
func Pair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("failed to listen on loopback: %v", err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("failed to dial loopback: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatalf("failed to accept on loopback: %v", err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}
