package channels

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/wstest"
)

// recorder is an Observer that records its calls as strings.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *recorder) observer() Observer {
	return Observer{
		Connected:    func(c Conn) { r.add(fmt.Sprintf("connect %s %s", c.Channel, c.ID)) },
		Disconnected: func(c Conn, reason string) { r.add(fmt.Sprintf("disconnect %s %s", c.ID, reason)) },
		Message:      func(c Conn, data []byte, binary bool) { r.add(fmt.Sprintf("message %s %q %v", c.ID, data, binary)) },
	}
}

// TestObserverHearsEachConnectionInOrder: Connected, then the frames the
// client sent, then Disconnected with the cause (the server's shutdown
// here), nothing after; an observer removed hears nothing more.
func TestObserverHearsEachConnectionInOrder(t *testing.T) {
	ch, _, url := startChannels(t, Config{})
	var r, gone recorder
	ch.Observe(r.observer())
	stop := ch.Observe(gone.observer())
	c := wstest.Dial(t, url+"/ws/lobby")
	c.SendText(t, "hi")
	c.SendBinary(t, []byte{1, 2})
	eventually.True(t, 5*time.Second, "both frames observed", func() bool { return len(r.list()) == 3 })
	stop()
	c.SendText(t, "after stop")
	eventually.True(t, 5*time.Second, "the third frame observed", func() bool { return len(r.list()) == 4 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ch.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := r.list()
	if len(got) != 5 {
		t.Fatalf("observed %q, want connect, 3 messages, disconnect", got)
	}
	var id string
	if _, err := fmt.Sscanf(got[0], "connect lobby %s", &id); err != nil {
		t.Fatalf("first call %q, want the connect", got[0])
	}
	want := []string{"connect lobby " + id, fmt.Sprintf("message %s %q false", id, "hi"), fmt.Sprintf("message %s %q true", id, "\x01\x02"),
		fmt.Sprintf("message %s %q false", id, "after stop"), "disconnect " + id + " shutdown"}
	if !slices.Equal(got, want) {
		t.Fatalf("observed %q, want %q", got, want)
	}
	if g := gone.list(); len(g) != 3 {
		t.Fatalf("the removed observer heard %q, want only what came before its stop", g)
	}
}
