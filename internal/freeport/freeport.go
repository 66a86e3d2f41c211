package freeport

import (
	"net"
	"testing"
)

// Addrs returns n distinct 127.0.0.1:port addresses that were free a moment
// ago: each is bound, read and released, all n held at once so none
// repeats. Another process could take one before the caller binds it; on a
// test machine that is rare enough, and the caller's bind error says so.
func Addrs(t testing.TB, n int) []string {
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
