package socketio

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/siotest"
)

// A node-local namespace: its emits reach its sockets without the bus, and
// what is published on the bus for its name (another node's emit, a NATS
// client) never reaches them; its clients' events are not on the bus.
func TestLocalNamespaceNeverTouchesTheBus(t *testing.T) {
	srv, b, url := startIO(t, Config{})
	local := srv.OfLocal("/private")
	local.OnConnection(func(s *Socket) {
		s.On("ping", func(*Event) { _ = local.Volatile().Emit("pong") })
	})
	if b.HasInterest("sockbus.in.private.ping") {
		t.Fatal("interest before any subscriber")
	}
	c := siotest.Dial(t, url, "/socket.io/")
	c.ConnectID(t, "/private", "")
	if b.HasInterest("sockbus.live.io.private.>") {
		t.Fatal("a local namespace subscribed to the bus")
	}
	// What a relay on another node would publish for the same name.
	remote := newNamespace(srv, "/private", nil)
	if err := (Operator{ns: remote, volatile: true}).Emit("forged"); err != nil {
		t.Fatal(err)
	}
	c.Emit(t, "/private", "ping", "")
	if got := c.NextText(t, wait); !strings.HasPrefix(got, `2/private,["pong"`) {
		t.Fatalf("got %q, want the local pong (and never the forged event)", got)
	}
	c.Quiet(t, 200*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := local.FetchSockets(ctx); !errors.Is(err, ErrLocalNamespace) {
		t.Fatalf("FetchSockets on a local namespace: %v", err)
	}
	if _, err := local.Volatile().EmitWithAck(ctx, "x"); !errors.Is(err, ErrLocalNamespace) {
		t.Fatalf("EmitWithAck on a local namespace: %v", err)
	}
}
