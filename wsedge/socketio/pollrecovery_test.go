package socketio

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/testutil"
	"github.com/sockbus/sockbus/metrics"
	"github.com/sockbus/sockbus/replay"
	"github.com/sockbus/sockbus/wsedge/engine"
	"github.com/sockbus/sockbus/wsedge/internal/outq"
)

// pollClient is an Engine.IO v4 long-polling client for tests: one GET or
// POST at a time, no keep-alive (no idle connection outlives the test).
type pollClient struct {
	url  string
	web  *http.Client
	resp []int // the size of each poll response, in bytes
}

func dialPolling(t testing.TB, base string) *pollClient {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	c := &pollClient{url: base + "/socket.io/?EIO=4&transport=polling", web: &http.Client{Transport: tr, Timeout: time.Minute}}
	packets := c.get(t)
	var open struct{ Sid string }
	if len(packets) == 0 || !strings.HasPrefix(packets[0], "0{") || json.Unmarshal([]byte(packets[0][1:]), &open) != nil {
		t.Fatalf("open packet %q", packets)
	}
	c.url += "&sid=" + open.Sid
	return c
}

// get polls once and returns the packets of the response.
func (c *pollClient) get(t testing.TB) []string {
	t.Helper()
	res, err := c.web.Get(c.url)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("poll: %d %q %v", res.StatusCode, body, err)
	}
	c.resp = append(c.resp, len(body))
	return strings.Split(string(body), "\x1e")
}

func (c *pollClient) post(t testing.TB, body string) {
	t.Helper()
	res, err := c.web.Post(c.url, "text/plain;charset=UTF-8", strings.NewReader(body))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("post %.40q: %d", body, res.StatusCode)
	}
}

// A polling client that missed far more than its buffer holds recovers it
// all: 20,000 events of 130 bytes (2.6 MB, 40 times the 64 KiB bound, and
// 80 times its 256 frames), plus 200 live events sent during the replay,
// each once and in order, its session recovered (the CONNECT reply carries
// its pid), and no poll response larger than the buffer's bound. Before the
// replay was paced over polling, it filled the buffer past its bound at
// once and the session was closed as a slow consumer (the client got a
// close packet), so a client asking again from the same offset never got
// through.
func TestPollingRecoveryIsPaced(t *testing.T) {
	const missed, live, maxBytes, maxFrames = 20_000, 100, 64 << 10, 256
	e := newRecoveryEnv(t, Config{Engine: engine.Config{Queue: outq.Config{MaxBytes: maxBytes, MaxFrames: maxFrames}}})
	_, pid, offset := e.dropped(t)
	pad := strings.Repeat("p", 100)
	op := Operator{ns: e.srv.Of("/m")}
	storeAll(t, op, "r", missed, func(i int) []byte { return fmt.Appendf(nil, `[%d,%q]`, i, pad) })

	// The process's heap in use, sampled, above what it was before the
	// recovery (measured, not asserted: the bus shares the process).
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	sampled := sampleHeap(t, &peak)
	start := time.Now()
	c := dialPolling(t, e.url)
	auth, _ := json.Marshal(map[string]string{"token": "alice", "pid": pid, "offset": offset})
	c.post(t, "40/m,"+string(auth))
	next, reply, liveSent := 0, "", false
	stored := make(chan error, live)
	var replayed time.Duration
	for next < missed+live {
		for _, p := range c.get(t) {
			switch {
			case p == "2":
				c.post(t, "3")
			case strings.HasPrefix(p, "40/m,"):
				reply, replayed = p, time.Since(start)
			case strings.HasPrefix(p, `42/m,["r",`):
				if want := fmt.Sprintf(`42/m,["r",%d,`, next); !strings.HasPrefix(p, want) {
					t.Fatalf("event %d: %.50q…, want %q…", next, p, want)
				}
				next++
			case p != "6": // noop
				t.Fatalf("after %d of %d events the session ended: %q", next, missed+live, p)
			}
		}
		if !liveSent && next > 0 { // the replay is under way: live events meanwhile are held, then sent
			liveSent = true
			for i := range live {
				if err := op.EmitRaw("r", fmt.Appendf(nil, `[%d,"live"]`, missed+i), nil, func(err error) { stored <- err }); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if !strings.Contains(reply, pid) {
		t.Fatalf("CONNECT reply %q, want the recovered pid %s", reply, pid)
	}
	for range live {
		if err := <-stored; err != nil {
			t.Fatalf("live event not stored: %v", err)
		}
	}
	for i, n := range c.resp {
		if n > maxBytes+maxBytes/8 { // the frames' Engine.IO framing adds a separator each
			t.Fatalf("poll response %d: %d bytes, past the %d-byte bound", i, n, maxBytes)
		}
	}
	close(sampled)
	t.Logf("%d events recovered over polling in %v (%d polls), all %d in %v; heap in use at most %.1f MiB above the %.1f MiB before",
		missed, replayed.Round(time.Millisecond), len(c.resp), missed+live, time.Since(start).Round(time.Millisecond),
		float64(peak.Load()-min(peak.Load(), base.HeapInuse))/(1<<20), float64(base.HeapInuse)/(1<<20))
}

// sampleHeap records the process's peak heap in use in peak every 10 ms
// until the returned channel is closed (or the test ends).
func sampleHeap(t testing.TB, peak *atomic.Uint64) chan struct{} {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	var once atomic.Bool
	t.Cleanup(func() {
		if once.CompareAndSwap(false, true) {
			select {
			case <-stop:
			default:
				close(stop)
			}
		}
		<-done
	})
	return stop
}

// A polling client that asks for a long recovery and then never polls
// again is cut by the heartbeat (ping timeout: the replay waits for its
// buffer to drain, so it is not a slow consumer), and the replay waiting
// for it ends with it: no goroutine of the session is left. Before the
// replay was paced over polling, it overflowed the buffer at once (closed
// as a slow consumer).
func TestPollingReplayEndsWithStuckClient(t *testing.T) {
	const missed = 5_000
	counters := new(metrics.Set)
	cfg := Config{Metrics: counters, Engine: engine.Config{PingInterval: 300 * time.Millisecond, PingTimeout: 300 * time.Millisecond,
		Queue: outq.Config{MaxBytes: 16 << 10, MaxFrames: 64}}}
	e := newRecoveryEnv(t, cfg)
	_, pid, offset := e.dropped(t)
	storeAll(t, Operator{ns: e.srv.Of("/m")}, "r", missed, func(i int) []byte { return fmt.Appendf(nil, `[%d]`, i) })
	// The namespace's bus subscriptions the recovery makes on first use
	// (asking the cluster whether the session is live) are the server's,
	// closed with it (TestMain checks that): not the session's.
	before := []goleak.Option{goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction("github.com/nats-io/nats%2ego.(*Conn).waitForMsgs")}
	c := dialPolling(t, e.url)
	auth, _ := json.Marshal(map[string]string{"token": "alice", "pid": pid, "offset": offset})
	c.post(t, "40/m,"+string(auth))
	if p := c.get(t); len(p) == 0 || !strings.HasPrefix(p[0], `42/m,["r",0,`) {
		t.Fatalf("first poll %.60q, want the replay's first events", p)
	}
	// The client stops polling (nothing here may poll: that would drain
	// it). Its session ends within the heartbeat's bounds, and every
	// goroutine it caused (the replay's) with it.
	var leak error
	if !eventually.Within(10*time.Second, func() bool { leak = goleak.Find(before...); return leak == nil }) {
		t.Fatalf("goroutines left from the stuck client's replay: %v", leak)
	}
	ends := counters.Snapshot().Disconnects[metrics.KindSocketIO]
	if ends[metrics.ReasonPingTimeout] != 1 || ends[metrics.ReasonSlowConsumer] != 0 {
		t.Fatalf("sessions ended by ping timeout %d, as slow consumers %d; want 1 and 0",
			ends[metrics.ReasonPingTimeout], ends[metrics.ReasonSlowConsumer])
	}
}

// Live events held during a replay, more than the polling buffer has room
// for behind the replay's end, reach a client that had not polled yet:
// 20 history events, then 240 live ones held (of a 256-frame bound) go
// out a part at a time as the client polls, each once, in order, and the
// session stays open. Before, the CONNECT reply and all 240 were pushed at
// once behind the 20 (261 frames) and the session was closed as a slow
// consumer.
func TestPollingHeldEventsAreReleasedPaced(t *testing.T) {
	const stored, live, maxFrames = 20, 240, 256
	b := testutil.StartBus(t, bus.Config{})
	g := gatedHistory{Reader: replay.NewReader(b), read: make(chan struct{}, 1), gate: make(chan struct{})}
	srv := NewServer(b, Config{History: g, Engine: engine.Config{Queue: outq.Config{MaxFrames: maxFrames}}})
	url := "http://" + testutil.Serve(t, srv, srv.Close)
	gated := true
	defer func() {
		if gated {
			close(g.gate)
		}
	}()
	ns := srv.Of("/g")
	op := Operator{ns: ns}
	storeAll(t, op, "e", stored, func(i int) []byte { return fmt.Appendf(nil, "[%d]", i) })
	c := dialPolling(t, url)
	c.post(t, fmt.Sprintf(`40/g,{"history":%d}`, stored))
	select {
	case <-g.read:
	case <-time.After(wait):
		t.Fatal("the history replay never started")
	}
	sockets := srv.liveSockets()
	if len(sockets) != 1 {
		t.Fatalf("%d sockets", len(sockets))
	}
	s := sockets[0]
	storeAll(t, op, "e", live, func(i int) []byte { return fmt.Appendf(nil, "[%d]", stored+i) })
	eventually.True(t, wait, "every live event held", func() bool { return s.hold.Held() == live })
	close(g.gate)
	gated = false
	// The client has not polled since its CONNECT: the server either waits
	// for it (no room in the buffer) or has cut it; then it polls.
	eventually.True(t, wait, "the server waiting for the client, or done with it", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		return s.conn.session.WaitRoom(ctx) != nil
	})
	next, connected := 0, false
	for next < stored+live {
		for _, p := range c.get(t) {
			switch {
			case p == "2":
				c.post(t, "3")
			case strings.HasPrefix(p, "40/g,"):
				connected = true
			case strings.HasPrefix(p, `42/g,["e",`):
				if want := fmt.Sprintf(`42/g,["e",%d`, next); !strings.HasPrefix(p, want) {
					t.Fatalf("event %d: %q, want %q…", next, p, want)
				}
				next++
			case p != "6":
				t.Fatalf("after %d of %d events the session ended: %q", next, stored+live, p)
			}
		}
	}
	if !connected {
		t.Fatal("no CONNECT reply")
	}
}
