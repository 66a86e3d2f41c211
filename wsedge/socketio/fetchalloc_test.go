package socketio

import (
	"context"
	"runtime"
	"testing"

	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
)

// A fetch (what every recovery asks, to find its session live on another
// node) allocates a few KiB, not SubscribeSync's 65,536-slot channel
// (512 KiB allocated and cleared): a reconnect storm makes thousands at
// once. The bound leaves room for the embedded server in this process.
func TestFetchSocketsAllocatesLittle(t *testing.T) {
	srv, _, url := startIO(t, Config{})
	n := srv.Of("/f")
	c := siotest.Dial(t, url, "/socket.io/")
	id := c.ConnectID(t, "/f", "")
	eventually.True(t, wait, "socket registered", func() bool { return n.Socket(id) != nil })
	fetch := func() {
		socks, err := n.In(id).FetchSockets(context.Background())
		if err != nil || len(socks) != 1 {
			t.Fatalf("FetchSockets: %v, %v", socks, err)
		}
	}
	fetch() // warm
	const fetches = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range fetches {
		fetch()
	}
	runtime.ReadMemStats(&after)
	per := (after.TotalAlloc - before.TotalAlloc) / fetches
	t.Logf("%d B allocated per fetch", per)
	if per > 128<<10 {
		t.Fatalf("a fetch allocates %d B, want ≤ 128 KiB", per)
	}
}
