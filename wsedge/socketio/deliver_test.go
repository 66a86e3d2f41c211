package socketio

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
	"github.com/sockbus/sockbus/internal/testutil"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/replay"
	"github.com/sockbus/sockbus/wsedge/engine"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
)

// gatedHistory is the real reader whose Last, once it has read, waits for
// the test to open gate: the replay stays in progress, its live events
// held, for as long as the test needs.
type gatedHistory struct {
	*replay.Reader
	read chan struct{}
	gate chan struct{}
}

func (g gatedHistory) Last(ctx context.Context, l bus.Log, n int, keep func(bus.StoredMsg) bool, fn func(bus.StoredMsg) error) (uint64, error) {
	last, err := g.Reader.Last(ctx, l, n, keep, fn)
	g.read <- struct{}{}
	<-g.gate
	return last, err
}

// A Socket.IO socket whose history replay is in progress holds live
// events only up to its session's queue bound: past it the session is
// closed as a slow consumer (WebSocket close 1008) while the replay still
// runs, and counted.
func TestSocketIOHeldEventsAreBounded(t *testing.T) {
	b := testutil.StartBus(t, bus.Config{})
	counters := new(metrics.Set)
	g := gatedHistory{Reader: replay.NewReader(b), read: make(chan struct{}, 1), gate: make(chan struct{})}
	srv := NewServer(b, Config{History: g, Metrics: counters, Engine: engine.Config{Queue: outq.Config{MaxBytes: 64 << 10}}})
	url := "http://" + testutil.Serve(t, srv, srv.Close)
	opened := false
	defer func() {
		if !opened {
			close(g.gate)
		}
	}()
	ns := srv.Of("/g")
	c := siotest.Dial(t, url, "/socket.io/")
	c.Send(t, `0/g,{"history":5}`)
	select {
	case <-g.read:
	case <-time.After(wait):
		t.Fatal("the history replay never started")
	}
	payload := `["` + strings.Repeat("g", 8<<10) + `"]`
	for range 16 { // 128 KiB held: past the 64 KiB bound
		if err := ns.To().EmitRaw("live", []byte(payload), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	code, reason := c.WS.WaitClose(t, wait)
	close(g.gate)
	opened = true
	if code != 1008 || reason != "slow consumer" {
		t.Fatalf("closed with %d %q, want 1008 slow consumer", code, reason)
	}
	eventually.True(t, wait, "the slow consumer counted", func() bool {
		return counters.Snapshot().Refused[metrics.ReasonSlowConsumer] == 1
	})
}
