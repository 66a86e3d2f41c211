package freeport

import (
	"net"
	"testing"
)

// TestAddrsAreDistinctAndFree: each address is on loopback, none repeats,
// and each can be bound again once Addrs returns.
func TestAddrsAreDistinctAndFree(t *testing.T) {
	addrs := Addrs(t, 8)
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
			t.Fatalf("address %s is not free after Addrs: %v", a, err)
		}
		ln.Close()
	}
}
