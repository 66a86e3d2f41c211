package socketio

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/wsedge/engine"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
)

// A recovery replay longer than the client's queue holds frames is paced
// on the frame bound as on the byte bound: 4,000 events of 2 KiB (8 MB, more
// than the loopback buffers take) to a client whose queue holds 64 frames
// and which starts reading only after a pause all arrive, before the
// CONNECT reply, each whole and in order (a replay writes its packets
// into shared arrays: none may overwrite another). Paced on bytes only,
// the queue passed 64 frames while the client paused and the connection
// was closed as a slow consumer.
func TestReplayPacesOnTheFrameBound(t *testing.T) {
	const missed, frames = 4000, 64
	e := newRecoveryEnv(t, Config{Engine: engine.Config{Queue: outq.Config{MaxFrames: frames}}})
	_, pid, offset := e.dropped(t)
	pad := strings.Repeat("x", 2<<10)
	storeAll(t, Operator{ns: e.srv.Of("/m")}, "r", missed, func(i int) []byte { return fmt.Appendf(nil, `[%d,%q]`, i, pad) })
	c := dialRaw(t, strings.TrimPrefix(e.url, "http://"), 16<<10)
	c.send(t, fmt.Sprintf(`40/m,{"token":"alice","pid":%q,"offset":%q}`, pid, offset))
	// A slow reader: nothing read while the replay fills the loopback
	// buffers and the queue behind them. A sleep, not a poll: the stall is
	// the attack, and the session's queue is not visible from here.
	time.Sleep(500 * time.Millisecond)
	next := 0
	events, reply := c.untilConnected(t, "/m", func(p []byte) {
		if want := fmt.Sprintf(`42/m,["r",%d,"%s",`, next, pad); !strings.HasPrefix(string(p), want) {
			t.Fatalf("event %d: %.60q…, want %.60q…", next, p, want)
		}
		next++
	})
	if events != missed || !strings.Contains(reply, pid) {
		t.Fatalf("%d events before the CONNECT reply %q, want %d and pid %s", events, reply, missed, pid)
	}
}
