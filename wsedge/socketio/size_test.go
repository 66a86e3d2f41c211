package socketio

import (
	"testing"
	"time"
	"unsafe"

	"github.com/sockbus/sockbus/internal/siotest"
)

// Every connected socket is one Socket for as long as it stays, idle or
// not, so its size class is per-connection memory: 576 B at 520 bytes (with
// a copy of the engine session's handshake, 96 B, and a room map made for
// sockets that join none), 448 B now. A field added past 448 costs every
// idle connection 64 B more: move a rarely used one behind a pointer.
func TestSocketFitsSizeClass448(t *testing.T) {
	if n := unsafe.Sizeof(Socket{}); n > 448 {
		t.Fatalf("Socket is %d bytes: over the 448-byte size class", n)
	}
}

// A socket that joins no room holds no room map; its first join makes one.
func TestSocketWithoutRoomsHoldsNoMap(t *testing.T) {
	srv, _, url := startIO(t, Config{})
	got := make(chan *Socket, 1)
	srv.Of("/").OnConnection(func(s *Socket) { got <- s })
	c := siotest.Dial(t, url, "/socket.io/")
	c.ConnectID(t, "/", "")
	var s *Socket
	select {
	case s = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no connection")
	}
	s.ns.mu.RLock()
	rooms := s.rooms
	s.ns.mu.RUnlock()
	if rooms != nil {
		t.Fatalf("a socket in no room holds a map of %d rooms", len(rooms))
	}
	if err := s.Join("r"); err != nil {
		t.Fatal(err)
	}
	if r := s.Rooms(); len(r) != 2 || r[1] != "r" { // its own id, then r
		t.Fatalf("rooms after the first join: %v", r)
	}
	if h := s.Handshake(); h.Time.IsZero() || h.Address == "" || string(h.Auth) == "" {
		t.Fatalf("handshake without the CONNECT's time, address or auth: %+v", h)
	}
}
