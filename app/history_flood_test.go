package app

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockbus/sockbus/bus"
	"github.com/sockbus/sockbus/bus/bustest"
	"github.com/sockbus/sockbus/internal/eventually"
	"github.com/sockbus/sockbus/internal/siotest"
)

// fillChannel stores n messages of size bytes on a plain channel.
func fillChannel(t *testing.T, s *testServer, channel string, n, size int) {
	t.Helper()
	tok, err := bus.EncodeToken(channel)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte(strings.Repeat("h", size))
	for i := 0; i < n; i++ {
		if err := s.bus.Publish(&bus.Msg{Subject: bus.ChannelSubject(tok), Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.bus.WaitStored(ctx); err != nil {
		t.Fatal(err)
	}
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// rss is the process's resident set size (0 where /proc is missing).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// bystanderWorks checks that a stored, acknowledged emit, a connect to a
// namespace nobody used before (on c's connection: a fresh client would
// count in the heap), a new Engine.IO session and a new channel connection
// succeed on s.
func bystanderWorks(t *testing.T, s *testServer, c *siotest.Client, round int) {
	t.Helper()
	c.Send(t, siotest.Event("/", round, "msg", fmt.Sprintf(`%d`, round)))
	if got := acksUntil(t, c, 1)[round]; got != "[]" {
		t.Fatalf("round %d: acked emit answered %q, want stored ([])", round, got)
	}
	nsp := fmt.Sprintf("/fresh-%d", round)
	if got := c.Connect(t, nsp, ""); !strings.HasPrefix(got, "0"+nsp+",") {
		t.Fatalf("round %d: connect to %s answered %q", round, nsp, got)
	}
	c.Send(t, "1"+nsp+",")
	pollingHandshake(t, s.addr)
	conn, _ := rawUpgrade(t, s.addr, fmt.Sprintf("/ws/fresh-%d", round), 0)
	conn.Close()
}

// Issue 15 item 1: four connections asking for a large channel's whole
// history and never reading must neither grow the heap past their queue
// bounds nor break the node's own bus connection. The channel holds 2,400
// messages of 16 KiB (37.5 MiB); each client's queue is bounded at 8 MiB.
func TestHistoryFloodLeavesBusAlone(t *testing.T) {
	s := startServer(t)
	const msgs, size, readers = 2400, 16 << 10, 4
	fillChannel(t, s, "flood", msgs, size)

	by := siotest.Dial(t, "http://"+s.addr, "/socket.io/")
	t.Cleanup(by.WS.Close)
	by.Connect(t, "/", "")
	bystanderWorks(t, s, by, 0)
	base, baseRSS := heapInUse(), rss()

	for i := 0; i < readers; i++ {
		// A small receive buffer: the client takes little and never reads.
		rawUpgrade(t, s.addr, "/ws/flood?history=99999999", 4096)
	}
	// While the readers hang on their history (the queue's write timeout
	// is 10 s), the bystander keeps working and the heap stays bounded.
	// Per reader: its queue (8 MiB; a replay fills half) and the batches
	// read ahead of it (two of at most 1 MiB, replay/pull.go); shared by
	// the readers of one stream: the store's cache of the blocks being read
	// (measured 37-47 MiB in all for the four, 50 under CI load; before the
	// fix they held 4 x 37.5 MiB).
	const queueBound, blockCache = 8 << 20, 16 << 20
	limit := base + readers*(queueBound+2<<20) + blockCache
	var peak, peakRSS uint64
	sample := func() {
		peak, peakRSS = max(peak, heapInUse()), max(peakRSS, rss())
	}
	// The replays' first second, when they read the most.
	eventually.Within(time.Second, func() bool { sample(); return false })
	t.Logf("first second of the replays: heap in use %d MiB (from %d), RSS %d MiB (from %d)", peak>>20, base>>20, peakRSS>>20, baseRSS>>20)
	start := time.Now()
	for round := 1; time.Since(start) < 4*time.Second; round++ {
		bystanderWorks(t, s, by, round)
		sample()
	}
	t.Logf("heap in use: %d MiB before the readers, peak %d MiB with them (limit %d MiB); RSS %d MiB before, peak %d MiB",
		base>>20, peak>>20, limit>>20, baseRSS>>20, peakRSS>>20)
	if peak > limit {
		t.Errorf("heap in use grew from %d to %d MiB, past %d MiB", base>>20, peak>>20, limit>>20)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _, body := httpGet(t, "http://"+s.addr+path); code != http.StatusOK {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
	// After the readers are gone, everything still works.
	eventually.True(t, 30*time.Second, "readers' replays end", func() bool {
		return heapInUse() < base+16<<20
	})
	bystanderWorks(t, s, by, 1000)
}

// A node whose bus connection is closed for good (nats.go gives up on it)
// answers /healthz 503, so that a supervisor restarts it; before, it said
// 200 while every stored emit failed.
func TestHealthzFailsWhenBusIsLostForGood(t *testing.T) {
	s := startServer(t)
	if code, _, body := httpGet(t, "http://"+s.addr+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz at start: %d %s", code, body)
	}
	bustest.LoseConn(s.bus)
	code, _, body := httpGet(t, "http://"+s.addr+"/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "closed") {
		t.Fatalf("/healthz with the bus connection closed: %d %s", code, body)
	}
}
